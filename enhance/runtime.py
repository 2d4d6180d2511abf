"""Inference runtimes: where an enhancer's network runs when it restores images.

``keras``
    The Keras model on its backend (TensorFlow by default): what training builds, and the only
    runtime of the GANs' generators. Importing TensorFlow costs about 4.8 s of each process on
    two CPU cores, more than the network spends on a folder of forty 256 x 256 images.
``openvino``
    The same network converted once, by Keras' own ``model.export(format="openvino")``, to an
    OpenVINO IR that is cached per weights (:func:`cache_root`, a folder named by the SHA-256 of
    the weights' SHA-256 and the config) and run by OpenVINO's CPU plugin: a run on a cached
    model imports neither TensorFlow nor Keras (OpenVINO itself: 0.3 s). A small window
    shape's first call runs on one dynamic-shape compile, its later calls (and every call of a
    large window) on a static compile of that shape (about 5-8% faster per call; at most
    :data:`COMPILED_SHAPES` stay compiled). float32 outputs equal Keras' to about 1e-7;
    ``bfloat16`` is OpenVINO's bf16 inference precision on CPUs that have it (AVX512-BF16, AMX;
    elsewhere the plugin computes in float32). Converting needs the Keras model, so the first
    run of a model on a machine imports TensorFlow and takes a few seconds more.
``auto`` (the default)
    ``openvino`` when it is installed and no NVIDIA GPU is visible (OpenVINO's CPU plugin does
    not use one; Keras on a GPU is much faster), else ``keras``; also ``keras`` when the
    conversion fails. The manifest of ``enhance run`` records the runtime each file ran on.

Measured on this project's 2-core CPU (``benchmarks/throughput.py``; the README gives the
figures): per network call OpenVINO is 0.95x Keras in float32 and about 0.9x Keras'
``mixed_bfloat16`` in bfloat16, so whole commands gain the start-up and lose a little per
megapixel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .errors import EnhanceError, ModelError
from .names import RUNTIMES

__all__ = [
    "RUNTIMES",
    "CACHE_ENV",
    "THREADS_ENV",
    "COMPILED_SHAPES",
    "cache_root",
    "choose_runtime",
    "openvino_ir",
    "write_openvino_ir",
    "OpenVINONetwork",
    "load_enhancer",
]

#: Environment variable naming the cache folder (default: ``$XDG_CACHE_HOME/enhance`` or
#: ``~/.cache/enhance``).
CACHE_ENV = "ENHANCE_CACHE_DIR"
#: Environment variable bounding the threads of the OpenVINO runtime (the Ray engine sets it
#: to each actor's CPUs); unset: every core.
THREADS_ENV = "ENHANCE_NUM_THREADS"
#: Window shapes kept compiled by one :class:`OpenVINONetwork` (least recently used dropped).
COMPILED_SHAPES = 2
#: Window shapes remembered as called once (their next call compiles them statically).
SEEN_SHAPES = 64
#: Largest window (batch x height x width) whose first call runs on the dynamic compile.
DYNAMIC_MAX_PIXELS = 512 * 512
#: The description written beside a cached IR (its presence marks a complete folder).
IR_INFO = "enhance_ir.json"
#: Format tag of :data:`IR_INFO`; a new tag makes every cached IR stale.
IR_FORMAT = "enhance-openvino-ir/1"


def cache_root():
    """The folder of the package's caches: ``$ENHANCE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/enhance``, else ``~/.cache/enhance``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "enhance"


def _openvino_installed():
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def _nvidia_gpu_visible():
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia/version")


def choose_runtime(runtime="auto"):
    """The runtime that ``runtime`` means on this machine: ``"openvino"`` or ``"keras"``.

    Raises
    ------
    EnhanceError
        An unknown name, or ``openvino`` asked for where it is not installed.
    """
    if runtime not in RUNTIMES:
        raise EnhanceError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    if runtime == "openvino" and not _openvino_installed():
        raise EnhanceError("the openvino runtime needs OpenVINO: pip install openvino")
    if runtime != "auto":
        return runtime
    return "openvino" if _openvino_installed() and not _nvidia_gpu_visible() else "keras"


def _ir_key(found):
    text = json.dumps({"format": IR_FORMAT, "weights_sha256": found.card["weights_sha256"],
                       "config": found.config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_info(folder):
    try:
        info = json.loads((folder / IR_INFO).read_text())
    except (OSError, ValueError):
        return None
    complete = (folder / "model.xml").is_file() and (folder / "model.bin").is_file()
    return info if complete and isinstance(info, dict) and info.get("format") == IR_FORMAT else None


def write_openvino_ir(keras_model, xml_path):
    """Convert a Keras network to OpenVINO IR at ``xml_path`` (``.xml``, with its ``.bin``):
    Keras' own exporter, float32 weights, dynamic batch, height and width."""
    from .io.capture import captured_warnings

    try:
        with captured_warnings(fd=True):
            keras_model.export(str(xml_path), format="openvino", verbose=False)
    except Exception as error:  # the converter raises many kinds
        raise ModelError(f"OpenVINO conversion failed ({type(error).__name__}: {error})") from error


def _convert(found, folder):
    """Write ``found``'s IR and its description into the new folder ``folder``."""
    from .modeldir import load_model_dir
    from .predict import activation_bytes_per_pixel

    model = load_model_dir(found)  # checks the config and builds the network (Keras)
    write_openvino_ir(model.keras_model, folder / "model.xml")
    import keras
    import openvino

    info = {
        "format": IR_FORMAT,
        "weights_sha256": found.card["weights_sha256"],
        "model": str(found.path),
        # the memory plan without Keras (enhance.predict.plan_windows)
        "activation_bytes_per_pixel": activation_bytes_per_pixel(model.keras_model),
        "keras": keras.__version__,
        "openvino": openvino.__version__,
    }
    (folder / IR_INFO).write_text(json.dumps(info, indent=2))
    return info


def openvino_ir(found):
    """The cached OpenVINO IR of a model directory, converted first when it is not cached.

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
    from .io.atomic import replace_folder

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


class OpenVINONetwork:
    """An enhancer's network on OpenVINO's CPU plugin, called like the predict path calls a
    Keras model: ``network(batch) -> ndarray`` for a float32 ``(B, h, w, C)`` batch.

    Parameters
    ----------
    xml : str or Path
        The IR (:func:`openvino_ir`).
    precision : {"float32", "bfloat16"}
    bytes_per_pixel : float
        :func:`enhance.predict.activation_bytes_per_pixel` of the float32 network.
    keep : object, optional
        Kept referenced while the network lives (a temporary IR folder).
    """

    runtime = "openvino"

    def __init__(self, xml, *, precision="float32", bytes_per_pixel, keep=None):
        import openvino as ov

        from .predict import check_precision

        check_precision(precision)
        self.xml, self.precision, self._keep = Path(xml), precision, keep
        self._float32_bytes_per_pixel = float(bytes_per_pixel)
        self._core = ov.Core()
        self._model = self._core.read_model(str(self.xml))
        self._options = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32",
                         "PERFORMANCE_HINT": "LATENCY"}
        threads = os.environ.get(THREADS_ENV, "").strip()
        if threads.isdigit() and int(threads) > 0:
            self._options["INFERENCE_NUM_THREADS"] = int(threads)
        self._requests = OrderedDict()  # window shape -> infer request of a static compile
        self._dynamic = None  # the infer request of the dynamic-shape compile
        self._seen = OrderedDict()  # window shapes called once (run on the dynamic compile)

    @property
    def bytes_per_pixel(self):
        """Activation bytes per window pixel in this precision (bfloat16: half of float32's)."""
        return self._float32_bytes_per_pixel / (2 if self.precision == "bfloat16" else 1)

    def with_precision(self, precision):
        """The same IR computing in ``precision`` (``self`` when it already does)."""
        if precision == self.precision:
            return self
        return OpenVINONetwork(self.xml, precision=precision, keep=self._keep,
                               bytes_per_pixel=self._float32_bytes_per_pixel)

    def _request(self, shape):
        """A small shape's first call runs on the dynamic compile (compiling a static one costs
        ~0.06 s, 60% of a 256 x 256 call, wasted on a shape seen once: images of varied sizes);
        from its second call on, a static compile (~5% faster per call: tiles, equal images).
        Windows of more than :data:`DYNAMIC_MAX_PIXELS` are compiled statically at once: the
        compile is a few percent of their call, and the dynamic compile's buffers, sized for
        the largest shape it ran, would stay beside the static one's (measured on a 2048 x 2048
        image: peak 749 MB instead of 549)."""
        request = self._requests.pop(shape, None)
        if (request is None and shape not in self._seen
                and int(np.prod(shape[:-1])) <= DYNAMIC_MAX_PIXELS):
            self._seen[shape] = None
            while len(self._seen) > SEEN_SHAPES:
                self._seen.popitem(last=False)
            if self._dynamic is None:
                self._dynamic = self._core.compile_model(
                    self._model, "CPU", self._options).create_infer_request()
            return self._dynamic
        if request is None:
            while len(self._requests) >= COMPILED_SHAPES:
                self._requests.popitem(last=False)  # frees its buffers
            model = self._model.clone()
            model.reshape(list(shape))
            request = self._core.compile_model(model, "CPU", self._options).create_infer_request()
        self._requests[shape] = request
        return request

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        result = self._request(tuple(batch.shape)).infer({0: batch})
        return np.array(result[0], dtype=np.float32, copy=True)  # its buffer is reused


def load_enhancer(path, *, precision="float32", runtime="auto"):
    """Load an enhancer's model directory for inference on a runtime.

    Parameters
    ----------
    path : str or Path or enhance.modeldir.ModelDir
        A model directory (weights verified against the card), or what
        :func:`enhance.modeldir.read_model_dir` read of one (not read again).
    precision : {"float32", "bfloat16"}, keyword-only
    runtime : {"auto", "openvino", "keras"}, keyword-only
        See the module's description.

    Returns
    -------
    enhance.modeldir.LoadedModel
        Its ``runtime`` says which runtime it runs on.

    Raises
    ------
    ModelError
        What :func:`enhance.modeldir.load_model_dir` refuses; for ``openvino`` (not ``auto``) a
        failed conversion.
    """
    from .modeldir import LoadedModel, ModelDir, read_model_dir
    from .predict import check_precision

    check_precision(precision)  # before any conversion
    chosen = choose_runtime(runtime)
    found = path if isinstance(path, ModelDir) else None  # read once by the caller (ModelRef)
    if chosen == "openvino":
        found = found or read_model_dir(path, kind="enhancer")
        try:
            folder, info, keep = openvino_ir(found)
        except ModelError:
            if runtime == "openvino":
                raise
        else:
            network = OpenVINONetwork(folder / "model.xml", precision=precision, keep=keep,
                                      bytes_per_pixel=info["activation_bytes_per_pixel"])
            return LoadedModel(network, found.config, found.card, found.path)
    from .modeldir import load_model_dir
    from .predict import with_precision

    return with_precision(load_model_dir(found or path), precision)
