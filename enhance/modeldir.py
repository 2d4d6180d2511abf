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
from .io.atomic import atomic_write_json, replace_folder

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "CARD_FILE",
    "LoadedModel",
    "make_config",
    "check_config",
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
    config = {
        "format": FORMAT,
        "arch": arch,
        "arch_params": params,
        "task": task,
        "task_params": dict(task_params or {}),
        "channels": int(channels),
        "size_factor": registry.size_factor(resolved),
        "receptive_field": registry.receptive_field(resolved),
    }
    check_config(config)
    return config


#: The keys of ``config.json`` (anything else is refused: a config is rebuilt, never trusted).
CONFIG_KEYS = frozenset(
    ("format", "arch", "arch_params", "task", "task_params", "channels", "size_factor",
     "receptive_field")
)
#: Inclusive bounds of the integer builder parameters (and ``channels``).
PARAM_BOUNDS = {"width": (1, 1024), "levels": (0, 8), "depth": (2, 256), "channels": (1, 4)}
#: The most weights a network may have (about 800 MB of float32), estimated before building.
MAX_WEIGHTS = 200_000_000


def _estimated_weights(params):
    """A generous estimate of a network's weight count from its builder parameters."""
    width = int(params.get("width", 1))
    if "levels" in params:  # encoder-decoders: about 8 3x3 convolutions per level of width w 2**l
        return 9 * 8 * width**2 * sum(4**level for level in range(int(params["levels"]) + 1))
    return 9 * width**2 * int(params.get("depth", 1))


def _check_value(name, value, default):
    if isinstance(default, bool):
        if not isinstance(value, bool):
            return f"{name} must be true or false, not {value!r}"
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer, not {value!r}"
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return f"{name} must be a number, not {value!r}"
    elif isinstance(default, str) and not isinstance(value, str):
        return f"{name} must be a string, not {value!r}"
    low, high = PARAM_BOUNDS.get(name, (None, None))
    if low is not None and not low <= value <= high:
        return f"{name} must be in {low}..{high}, not {value}"
    return None


def check_config(config, where=CONFIG_FILE):
    """Validate a model directory's ``config.json`` before anything is built from it.

    Known keys only (:data:`CONFIG_KEYS`), a known architecture and task, builder parameters
    the builder takes, of the right type and within :data:`PARAM_BOUNDS`, a network of at
    most :data:`MAX_WEIGHTS` weights, and ``size_factor`` and ``receptive_field`` equal to
    what the architecture computes from the parameters (the tiling relies on them).

    Parameters
    ----------
    config : dict
    where : str or Path, optional
        The file, for the message.

    Raises
    ------
    ModelError
        One line naming `where` and the first problem found.
    """
    from .models import registry
    from .tasks import check_task

    def bad(problem):
        raise ModelError(f"{where}: invalid model config: {problem}")

    if not isinstance(config, dict):
        bad(f"expected a JSON object, not {type(config).__name__}")
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        bad(f"unknown keys {unknown} (known: {sorted(CONFIG_KEYS)})")
    missing = sorted({"arch", "task", "receptive_field"} - set(config))
    if missing:
        bad(f"missing keys {missing}")
    if config.get("format", FORMAT) != FORMAT:
        bad(f"format {config['format']!r} is not {FORMAT!r}")
    arch = config["arch"]
    if not isinstance(arch, str) or arch not in registry.ARCHITECTURES:
        bad(f"unknown architecture {arch!r} (known: {sorted(registry.ARCHITECTURES)})")
    try:
        check_task(config["task"])
    except (EnhanceError, TypeError) as error:
        bad(str(error))
    for key in ("arch_params", "task_params"):
        if not isinstance(config.get(key) or {}, dict):
            bad(f"{key} must be an object, not {config[key]!r}")
    channels = config.get("channels", 1)
    problem = _check_value("channels", channels, 1)
    if problem:
        bad(problem)
    defaults = registry.get_architecture(arch).defaults()
    given = dict(config.get("arch_params") or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        bad(f"architecture {arch!r} takes {sorted(defaults)}, not {unknown}")
    for name, value in given.items():
        problem = _check_value(name, value, defaults[name])
        if problem:
            bad(problem)
    params = {**defaults, **given, "channels": channels}
    weights = _estimated_weights(params)
    if weights > MAX_WEIGHTS:
        bad(f"a network of about {weights:,} weights (the limit is {MAX_WEIGHTS:,})")
    try:
        expected = {"size_factor": registry.size_factor(config),
                    "receptive_field": registry.receptive_field(config)}
    except (EnhanceError, TypeError, ValueError, ArithmeticError) as error:
        bad(f"cannot compute the network's geometry ({error})")
    for key, value in expected.items():
        if key not in config and key == "size_factor":
            continue
        if isinstance(config[key], bool) or config[key] != value:
            bad(f"{key} is {config[key]!r}, but the architecture gives {value}")


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


def save_model_dir(path, model, config, card=None, *, weights_file=None):
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
    weights_file : str or Path, optional
        Copy this weights file (that of ``model``, e.g. another model directory's) instead of
        saving ``model``'s weights anew: the bytes, hence the sha256, stay those of the source.

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
        atomic_write_json(staging / CONFIG_FILE, config)
        if weights_file is not None:  # the same bytes, so the same sha256 as the source
            shutil.copyfile(weights_file, staging / WEIGHTS_FILE)
        else:
            network.save_weights(str(staging / WEIGHTS_FILE))
        card = dict(card or {})
        card["weights_sha256"] = file_sha256(staging / WEIGHTS_FILE)
        atomic_write_json(staging / CARD_FILE, card)
        replace_folder(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_card(path, card):
    """Replace the card of an existing model directory (atomically), keeping the weights' hash."""
    path = Path(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{weights}: missing weights file")
    card = dict(card)
    card["weights_sha256"] = file_sha256(weights)
    atomic_write_json(path / CARD_FILE, card)


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
        A file is missing or unreadable, the config is invalid (:func:`check_config`: checked
        before anything is built), or the weights' SHA-256 differs from the card's
        ``weights_sha256`` (the message names the file).
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory")
    config = _read_json(path / CONFIG_FILE)
    check_config(config, path / CONFIG_FILE)
    card = _read_json(path / CARD_FILE)
    if not isinstance(card, dict):
        raise ModelError(f"{path / CARD_FILE}: expected a JSON object, not {type(card).__name__}")
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
