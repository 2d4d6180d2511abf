"""The OpenVINO IR cache: each enhancer converted once per weights, checked at every load.

A model directory's IR lives in ``cache_root()/openvino/KEY/`` (``KEY``: a hash of
:data:`IR_FORMAT`, the weights' SHA-256 and the config), beside :data:`IR_INFO`, which records
the SHA-256 of ``model.xml`` and ``model.bin`` written at conversion. :func:`openvino_ir`
checks both at every load: a folder whose files differ from what was converted (tampered
constants, a damaged or truncated file, a missing description) is converted again and replaced
atomically, so it never runs and never ends a later run in a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ModelError, one_line
from ..io.atomic import replace_folder
from ..io.capture import captured_warnings
from ..modeldir import file_sha256, load_model_dir
from ..quiet import tensorflow_quietly
from .keras import activation_bytes_per_pixel

__all__ = ["CACHE_ENV", "IR_INFO", "IR_FORMAT", "IR_FILES", "cache_root", "write_openvino_ir",
           "openvino_ir"]

#: Environment variable naming the cache folder (default: ``$XDG_CACHE_HOME/enhance`` or
#: ``~/.cache/enhance``).
CACHE_ENV = "ENHANCE_CACHE_DIR"
#: The description written beside a cached IR (its presence marks a complete folder).
IR_INFO = "enhance_ir.json"
#: Format tag of :data:`IR_INFO`; a new tag makes every cached IR stale (2: the files' SHA-256).
IR_FORMAT = "enhance-openvino-ir/2"
#: The IR's files, whose SHA-256 :data:`IR_INFO` records.
IR_FILES = ("model.xml", "model.bin")


def cache_root():
    """The folder of the package's caches: ``$ENHANCE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/enhance``, else ``~/.cache/enhance``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "enhance"


def _ir_key(found):
    text = json.dumps({"format": IR_FORMAT, "weights_sha256": found.card["weights_sha256"],
                       "config": found.config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _files_sha256(folder):
    """``{file: sha256}`` of the IR's files in ``folder``; None when one cannot be read."""
    try:
        return {name: file_sha256(folder / name) for name in IR_FILES}
    except OSError:
        return None


def _read_info(folder):
    """:data:`IR_INFO` of a complete folder whose files are the ones converted, else None."""
    try:
        info = json.loads((folder / IR_INFO).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(info, dict) or info.get("format") != IR_FORMAT:
        return None
    expected = info.get("sha256")
    return info if isinstance(expected, dict) and _files_sha256(folder) == expected else None


def write_openvino_ir(keras_model, xml_path):
    """Convert a Keras network to OpenVINO IR at ``xml_path`` (``.xml``, with its ``.bin``):
    Keras' own exporter, float32 weights, dynamic batch, height and width."""
    try:
        with captured_warnings(fd=True):
            keras_model.export(str(xml_path), format="openvino", verbose=False)
    except Exception as error:  # the converter raises many kinds
        raise ModelError(f"OpenVINO conversion failed ({type(error).__name__}: {one_line(error)})") \
            from error


def _convert(found, folder):
    """Write ``found``'s IR and its description into the new folder ``folder``."""
    with tensorflow_quietly():  # the conversion imports Keras (TensorFlow): no banner
        model = load_model_dir(found)  # checks the config and builds the network
    write_openvino_ir(model.keras_model, folder / "model.xml")
    import keras
    import openvino

    info = {
        "format": IR_FORMAT,
        "weights_sha256": found.card["weights_sha256"],
        "model": str(found.path),
        "sha256": _files_sha256(folder),
        # the memory plan without Keras (enhance.predict.plan_windows)
        "activation_bytes_per_pixel": activation_bytes_per_pixel(model.keras_model),
        "keras": keras.__version__,
        "openvino": openvino.__version__,
    }
    (folder / IR_INFO).write_text(json.dumps(info, indent=2))
    return info


def openvino_ir(found):
    """The cached OpenVINO IR of a model directory, converted first when it is not cached or
    when its files are not the ones converted (their SHA-256 against :data:`IR_INFO`'s).

    Parameters
    ----------
    found : enhance.modeldir.ModelDir
        :func:`enhance.modeldir.read_model_dir`'s result (weights verified).

    Returns
    -------
    folder : Path
        Holds ``model.xml``, ``model.bin`` and :data:`IR_INFO`.
    info : dict
        :data:`IR_INFO`'s contents.
    keep : object or None
        A temporary folder to keep alive while the IR is used, when the cache could not be
        written (the IR was converted for this process only).
    """
    root = cache_root() / "openvino"
    folder = root / _ir_key(found)
    info = _read_info(folder)
    if info is not None:
        return folder, info, None
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    except OSError:  # a read-only home: convert for this process only
        keep = tempfile.TemporaryDirectory(prefix="enhance-ir-")
        return Path(keep.name), _convert(found, Path(keep.name)), keep
    try:
        info = _convert(found, staging)
        if _read_info(folder) is None:  # another process may have finished it meanwhile
            try:
                replace_folder(staging, folder)
            except OSError:
                if _read_info(folder) is None:  # not a concurrent conversion that won
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder, _read_info(folder) or info, None
