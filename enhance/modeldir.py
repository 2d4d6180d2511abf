"""A model directory: the unit users pass around (``enhance train`` writes one, ``enhance run``
reads one, ``trained_weights/`` ships some).

::

    <dir>/config.json        arch, arch_params, task, task_params, channels, size_factor,
                             receptive_field: enough to rebuild the network with the registry
    <dir>/model.weights.h5   Keras weights of that network (for a GAN: the generator)
    <dir>/card.json          the model card (training data, command, scores, ...), including
                             weights_sha256, the SHA-256 of model.weights.h5

Loading rebuilds the network from ``config.json`` (weights never decide the architecture),
checks the weights' SHA-256 against the card, then loads them. Keras is imported only when a
model is saved or loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EnhanceError, ModelError

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "CARD_FILE",
    "LoadedModel",
    "make_config",
    "save_model_dir",
    "load_model_dir",
    "write_card",
    "file_sha256",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
CARD_FILE = "card.json"
FORMAT = "enhance-model-dir/1"


def file_sha256(path):
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_config(arch, task, *, arch_params=None, task_params=None, channels=1):
    """A complete ``config.json`` dict: the registry's resolved parameters, size factor, field.

    Parameters
    ----------
    arch : str
        Key of :data:`enhance.models.ARCHITECTURES`.
    task : str
        One of :data:`enhance.tasks.TASKS`.
    arch_params : dict, optional
        Builder keyword arguments; missing ones take the builder's defaults.
    task_params : dict, optional
        Task details (training jitter, input convention) recorded for the user.
    channels : int, optional

    Returns
    -------
    dict
    """
    from .models import registry
    from .tasks import check_task

    check_task(task)
    base = {"arch": arch, "arch_params": dict(arch_params or {}), "channels": int(channels)}
    params = registry.resolve_params(base)
    params.pop("channels", None)
    resolved = {**base, "arch_params": params}
    return {
        "format": FORMAT,
        "arch": arch,
        "arch_params": params,
        "task": task,
        "task_params": dict(task_params or {}),
        "channels": int(channels),
        "size_factor": registry.size_factor(resolved),
        "receptive_field": registry.receptive_field(resolved),
    }


@dataclass
class LoadedModel:
    """A network ready for :func:`enhance.predict.enhance_image`.

    Attributes
    ----------
    keras_model : keras.Model
    config : dict
        Contents of ``config.json``.
    card : dict
        Contents of ``card.json``.
    path : pathlib.Path or None
        The model directory it was loaded from.
    """

    keras_model: object
    config: dict
    card: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def task(self):
        return self.config["task"]

    @property
    def channels(self):
        return int(self.config.get("channels", 1))

    @property
    def size_factor(self):
        return int(self.config.get("size_factor", 1))

    @property
    def receptive_field(self):
        return int(self.config["receptive_field"])

    @property
    def name(self):
        return self.card.get("name") or (self.path.name if self.path else self.config["arch"])

    @property
    def noise_map(self):
        """Whether the network takes a noise-level map beside the image (non-blind)."""
        return bool((self.config.get("arch_params") or {}).get("noise_map", False))

    @property
    def input_transform(self):
        """How the task's input is made: ``"gain"`` (low light: ``noisy / exposure``; the
        identity for the other tasks) or ``"vst"`` (low light through the generalized Anscombe
        transform into a noise-conditioned Gaussian denoiser; see :mod:`enhance.predict`)."""
        return (self.config.get("task_params") or {}).get("input_transform", "gain")


def _write_json(path, payload):
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(payload, stream, indent=2, sort_keys=True, default=_json_default)
        stream.write("\n")


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_model_dir(path, model, config, card=None):
    """Write a model directory atomically.

    The three files are written into a temporary sibling directory which then replaces
    ``path`` (an existing directory of that name is swapped out and removed), so a reader
    never sees a half-written model.

    Parameters
    ----------
    path : str or Path
    model : keras.Model
        The enhancement network (for a GAN, the generator); its weights are copied into a
        network freshly built from ``config``, so the file never holds optimizer state and a
        model that does not match its config is refused (:class:`ModelError`).
    config : dict
        From :func:`make_config`.
    card : dict, optional
        Model card; ``weights_sha256`` is added (and overwritten if present).

    Returns
    -------
    pathlib.Path
    """
    from .models import registry

    path = Path(path)
    try:  # a fresh network: the file then holds the layers' weights only (no optimizer state)
        network = registry.build_model(config)
        network.set_weights(model.get_weights())
    except (ValueError, EnhanceError) as error:
        raise ModelError(f"the model does not match its config ({error})") from error
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private
    try:
        _write_json(staging / CONFIG_FILE, config)
        network.save_weights(str(staging / WEIGHTS_FILE))
        card = dict(card or {})
        card["weights_sha256"] = file_sha256(staging / WEIGHTS_FILE)
        _write_json(staging / CARD_FILE, card)
        _swap_into_place(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(staging, path):
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
        os.replace(path, old / path.name)
    os.replace(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_card(path, card):
    """Replace the card of an existing model directory (atomically), keeping the weights' hash."""
    path = Path(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{weights}: missing weights file")
    card = dict(card)
    card["weights_sha256"] = file_sha256(weights)
    handle, temporary = tempfile.mkstemp(prefix=".card.", suffix=".json", dir=path)
    os.close(handle)
    try:
        _write_json(temporary, card)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private
        os.replace(temporary, path / CARD_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_json(path):
    if not path.is_file():
        raise ModelError(f"{path}: missing file")
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: unreadable JSON ({error})") from error


def load_model_dir(path):
    """Load a model directory written by :func:`save_model_dir`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelError
        A file is missing or unreadable, the architecture is unknown, or the weights'
        SHA-256 differs from the card's ``weights_sha256`` (the message names the file).
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory")
    config = _read_json(path / CONFIG_FILE)
    card = _read_json(path / CARD_FILE)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{weights}: missing file")
    expected = card.get("weights_sha256")
    if not expected:
        raise ModelError(f"{path / CARD_FILE}: no weights_sha256")
    actual = file_sha256(weights)
    if actual != expected:
        raise ModelError(
            f"{weights}: SHA-256 {actual[:12]}... does not match {CARD_FILE} ({expected[:12]}...)"
        )
    from .models import registry

    try:
        model = registry.build_model(config)
    except (KeyError, EnhanceError, TypeError, ValueError) as error:
        raise ModelError(f"{path / CONFIG_FILE}: cannot build the network ({error})") from error
    try:
        model.load_weights(str(weights))
    except Exception as error:  # h5py / Keras raise many kinds on a mismatched file
        raise ModelError(f"{weights}: weights do not fit the network ({error})") from error
    return LoadedModel(model, config, card, path)
