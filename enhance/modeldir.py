"""A model directory: the unit users pass around (``enhance train`` writes one, ``enhance run``
reads one, ``trained_weights/`` ships some).

One format for the three kinds of model (:data:`KINDS`): an image **enhancer** (this module),
a synthesis **generator** (:mod:`enhance.synth.modeldir`) and the synthesis metrics' **features**
network (:mod:`enhance.synth.features`)::

    <dir>/config.json        "format" and "kind", then what rebuilds the network; for an
                             enhancer: arch, arch_params, task, task_params, channels,
                             size_factor, receptive_field (checked by :func:`check_config`)
    <dir>/<weights file>     Keras weights of that network (per kind: model.weights.h5 -- for a
                             GAN, the generator --, generator.weights.h5, features.weights.h5)
    <dir>/card.json          the model card (training data, command, scores, ...), including
                             the SHA-256 of the weights file (per kind: weights_sha256, or
                             generator_sha256 for a generator)

:func:`read_model_dir` is the one reader of the three (JSON only, Keras not imported): it checks
that the format and kind are known and agree (a config without ``kind`` -- written before the
field -- takes its format's; one without ``format`` is an enhancer), that the kind is the one the
caller wants, that the card exists and that the weights' SHA-256 is the card's.
:func:`write_model_files` is the one writer. Loading rebuilds the network from ``config.json``
(weights never decide the architecture), then loads the checked weights. Keras is imported only
when a model is saved or loaded.
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
from .io.atomic import atomic_save, atomic_write_json, replace_folder

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "CARD_FILE",
    "KINDS",
    "FORMATS",
    "Kind",
    "ModelDir",
    "read_json",
    "config_kind",
    "read_model_dir",
    "write_model_files",
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


@dataclass(frozen=True)
class Kind:
    """One kind of model directory: its ``format`` string, weights file and card key.

    Attributes
    ----------
    name : str
        ``enhancer``, ``generator`` or ``features`` (the ``kind`` of ``config.json``).
    format : str
        The ``format`` of ``config.json``.
    weights_file : str
        The weights' file name inside the directory.
    sha_key : str
        The card's key holding the weights' SHA-256.
    noun : str
        For messages: ``an image enhancer``, ...
    """

    name: str
    format: str
    weights_file: str
    sha_key: str
    noun: str


#: The kinds of model directory, by name.
KINDS = {kind.name: kind for kind in (
    Kind("enhancer", FORMAT, WEIGHTS_FILE, "weights_sha256", "an image enhancer"),
    Kind("generator", "enhance-synth-generator/1", "generator.weights.h5", "generator_sha256",
         "an image generator"),
    Kind("features", "enhance-synth-features/1", "features.weights.h5", "weights_sha256",
         "a feature network"),
)}
#: ``config.json`` "format" -> kind name.
FORMATS = {kind.format: name for name, kind in KINDS.items()}


@dataclass
class ModelDir:
    """What :func:`read_model_dir` found: the checked JSON of a model directory.

    Attributes
    ----------
    path : pathlib.Path
    kind : str
        A key of :data:`KINDS`.
    config : dict
    card : dict
    weights : pathlib.Path
        The weights file (checked against the card unless read with ``verify=False``).
    sha256 : str
        The card's SHA-256 of the weights.
    """

    path: Path
    kind: str
    config: dict
    card: dict
    weights: Path
    sha256: str


#: A model directory's JSON files nest a few levels; deeper nesting is refused (Python's
#: parser and every later walk of the dict would otherwise recurse until RecursionError).
MAX_JSON_DEPTH = 32


def _json_depth(value):
    """How deeply lists and dicts nest in ``value`` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def read_json(path):
    """A JSON file's contents; :class:`ModelError` naming the file if missing or unreadable
    (also when lists and objects nest more than :data:`MAX_JSON_DEPTH` levels)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: missing file")
    try:
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except RecursionError:
        raise ModelError(f"{path}: unreadable JSON (nested more than {MAX_JSON_DEPTH} levels "
                         "deep)") from None
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: unreadable JSON ({error})") from error
    if _json_depth(value) > MAX_JSON_DEPTH:
        raise ModelError(f"{path}: unreadable JSON (nested more than {MAX_JSON_DEPTH} levels deep)")
    return value


def config_kind(config, where=CONFIG_FILE):
    """The kind (a key of :data:`KINDS`) of a ``config.json`` dict.

    From ``kind`` and ``format``, which must be known and agree; a config without ``kind``
    (written before the field) takes its format's, one without ``format`` is an enhancer.

    Raises
    ------
    ModelError
        One line naming ``where``: not an object, an unknown format or kind, or a mismatch.
    """
    if not isinstance(config, dict):
        raise ModelError(f"{where}: expected a JSON object, not {type(config).__name__}")
    fmt = config.get("format", FORMAT)
    if fmt not in FORMATS:
        raise ModelError(f"{where}: unknown format {fmt!r} (known: {', '.join(sorted(FORMATS))})")
    kind = config.get("kind", FORMATS[fmt])
    if kind != FORMATS[fmt]:
        known = kind in KINDS
        raise ModelError(f"{where}: kind {kind!r} " + (
            f"does not match format {fmt!r} ({FORMATS[fmt]})" if known
            else f"is unknown (known: {', '.join(KINDS)})"))
    return kind


def read_model_dir(path, *, kind=None, verify=True):
    """Read and check a model directory of any kind: the one reader (no Keras).

    Parameters
    ----------
    path : str or Path
    kind : str, optional
        ``enhancer``, ``generator`` or ``features``: refuse a directory of another kind.
    verify : bool, optional
        Check that the weights file exists and that its SHA-256 is the card's. ``False``
        reads the two JSON files only (listings; the card must still name the SHA-256).

    Returns
    -------
    ModelDir

    Raises
    ------
    ModelError
        One line naming the path and the cause: no such folder, a missing or unreadable
        ``config.json`` or ``card.json``, an unknown format or kind, another kind than
        ``kind``, no SHA-256 in the card, a missing weights file or one whose SHA-256 differs.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: not a model directory (no such folder)")
    config = read_json(path / CONFIG_FILE)
    found = config_kind(config, path / CONFIG_FILE)
    spec = KINDS[found]
    if kind is not None and found != kind:
        raise ModelError(f"{path}: {spec.noun} ({CONFIG_FILE} kind {found!r}), "
                         f"not {KINDS[kind].noun}")
    card = read_json(path / CARD_FILE)
    if not isinstance(card, dict):
        raise ModelError(f"{path / CARD_FILE}: expected a JSON object, not {type(card).__name__}")
    expected = card.get(spec.sha_key)
    if not expected or not isinstance(expected, str):
        raise ModelError(f"{path / CARD_FILE}: no {spec.sha_key}")
    weights = path / spec.weights_file
    if verify:
        if not weights.is_file():
            raise ModelError(f"{weights}: missing file")
        actual = file_sha256(weights)
        if actual != expected:
            raise ModelError(f"{weights}: SHA-256 {actual[:12]}... does not match {CARD_FILE} "
                             f"({expected[:12]}...): corrupt or replaced weights")
    return ModelDir(path, found, config, card, weights, expected)


def write_model_files(path, kind, config, card, save_weights, *, default=None):
    """Write a model directory's three files: the one writer of the three kinds.

    ``config.json`` (with the kind's ``format`` and ``kind``), then the weights
    (``save_weights(temporary_path)`` writes them; :func:`enhance.io.atomic.atomic_save` renames
    them into place), then ``card.json`` with the weights' SHA-256 under the kind's key: each
    file atomic, and the card, written last, always describes the weights beside it.

    Parameters
    ----------
    path : str or Path
        The directory (created if missing; other files in it are left alone).
    kind : str
        A key of :data:`KINDS`.
    config, card : dict
    save_weights : callable
        ``save_weights(path)`` writes the weights file at ``path`` (e.g.
        ``lambda p: model.save_weights(str(p))``).
    default : callable, optional
        Converts objects JSON does not know (see :func:`enhance.io.atomic.atomic_write_json`).

    Returns
    -------
    str
        The weights' SHA-256.
    """
    spec = KINDS[kind]
    path = Path(path)
    atomic_write_json(path / CONFIG_FILE, {**config, "format": spec.format, "kind": kind},
                      default=default)
    weights = path / spec.weights_file
    atomic_save(weights, save_weights, suffix=".weights.h5")
    sha = file_sha256(weights)
    atomic_write_json(path / CARD_FILE, {**card, spec.sha_key: sha}, default=default)
    return sha


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
        "kind": "enhancer",
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
    ("format", "kind", "arch", "arch_params", "task", "task_params", "channels", "size_factor",
     "receptive_field")
)
#: Inclusive bounds of the integer builder parameters (and ``channels``).
PARAM_BOUNDS = {"width": (1, 1024), "levels": (0, 8), "depth": (2, 256), "channels": (1, 4),
                "blocks": (0, 64), "middle_blocks": (0, 64)}
#: The most weights a network may have (about 800 MB of float32), estimated before building.
MAX_WEIGHTS = 200_000_000


def _estimated_weights(params):
    """A generous estimate of a network's weight count from its builder parameters."""
    width = int(params.get("width", 1))
    if "levels" in params:  # encoder-decoders: about 8 3x3 convolutions per level of width w 2**l
        # (NAFNet-style: about 6 w**2 per block, fewer than eight 3x3 convolutions per block)
        blocks = max(1, int(params.get("blocks", 1)), int(params.get("middle_blocks", 1)))
        return 9 * 8 * blocks * width**2 * sum(4**level for level in range(int(params["levels"]) + 1))
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
    if config.get("kind", "enhancer") != "enhancer":
        bad(f"kind {config['kind']!r} is not 'enhancer'")
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
    network : keras.Model or enhance.runtime.Network
        What the predict path calls (:func:`enhance.runtime.load_enhancer` says which).
    config : dict
        Contents of ``config.json``.
    card : dict
        Contents of ``card.json``.
    path : pathlib.Path or None
        The model directory it was loaded from.
    """

    network: object
    config: dict
    card: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def runtime(self):
        """``"keras"``, or the runtime the network was loaded on (:mod:`enhance.runtime`)."""
        return getattr(self.network, "runtime", "keras")

    @property
    def keras_model(self):
        """The Keras network (training, export); refused for a network on another runtime."""
        if self.runtime != "keras":
            raise ModelError(
                f"{self.name} runs on {self.runtime}, not Keras: load it with runtime='keras'"
            )
        return self.network

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
    if weights_file is not None:  # the same bytes, so the same sha256 as the source
        def save(target):
            shutil.copyfile(weights_file, target)
    else:
        def save(target):
            network.save_weights(str(target))
    try:
        write_model_files(staging, "enhancer", config, card or {}, save)
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


def load_model_dir(path):
    """Load a model directory written by :func:`save_model_dir`.

    Parameters
    ----------
    path : str or Path or ModelDir
        A model directory, or what :func:`read_model_dir` read of one (not read again).

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelError
        Anything :func:`read_model_dir` refuses (a missing or unreadable file, another kind of
        model, weights whose SHA-256 differs from the card's ``weights_sha256``), or an invalid
        config (:func:`check_config`: checked before anything is built).
    """
    found = path if isinstance(path, ModelDir) else read_model_dir(path, kind="enhancer")
    path, config, weights = found.path, found.config, found.weights
    check_config(config, path / CONFIG_FILE)
    from .models import registry

    try:
        model = registry.build_model(config)
    except (KeyError, EnhanceError, TypeError, ValueError) as error:
        raise ModelError(f"{path / CONFIG_FILE}: cannot build the network ({error})") from error
    try:
        model.load_weights(str(weights))
    except Exception as error:  # h5py / Keras raise many kinds on a mismatched file
        raise ModelError(f"{weights}: weights do not fit the network ({error})") from error
    return LoadedModel(model, config, found.card, path)
