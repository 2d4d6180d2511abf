"""Which methods and degradations a benchmark runs, and each cell's seed.

This module turns ``--methods`` / ``--degradations`` values into :class:`Method` rows and
:class:`~enhance.degrade.Degradation` objects, and says which seed a cell uses; it imports
nothing heavy. Methods are the ``noisy`` row (the degraded input, unchanged; always present), classical baselines (:mod:`enhance.baselines`) and model directories
(:func:`enhance.modeldir.load_model_dir`; Keras is imported only in the process that runs a
model cell). A method runs only on degradations of its task(s). What every method is told is
the task's (:meth:`enhance.tasks.Task.told_params`), per the spec: low light -- the known
exposure (the degradation's ``exposure``, 0.1 by default); Gaussian -- the true sigma (blind
models ignore it); speckle -- nothing (baselines estimate their own level).

Seeds: the ``i``-th image (sorted by relative path, counting every discovered file, so an
unreadable file does not shift the others) under degradation ``d`` uses
``default_rng(1000 * d + i)``, or ``default_rng([S, d, i])`` with a user seed ``S``, where
``d`` is the degradation's position in the spec's benchmark list
(:data:`enhance.tasks.BENCHMARK_DEGRADATIONS`), whatever subset is run: a subset makes the
same noisy images as the full benchmark (and as ``enhance degrade``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnhanceError, ModelError, UnknownName
from .. import shipped as shipped_models

__all__ = [
    "Method",
    "NOISY",
    "METHOD_SETS",
    "SLOW_BASELINES",
    "DEFAULT_METHODS",
    "model_method",
    "resolve_methods",
    "resolve_degradations",
    "cell_seed",
]

#: Classical methods left out of the ``fast`` set: the BM3D variants, by far the slowest (seconds
#: per image on a CPU core, where the others take a fraction of a second), and the two
#: despecklers of the non-local family (log-domain NLM, OBNLM: about a second per image). ``vst_bm3d`` stays in:
#: it is the spec's strongest classical low-light recipe and runs on one degradation only.
SLOW_BASELINES = ("bm3d", "gain_bm3d", "bm3d_log", "nlm_log", "obnlm")

#: Names accepted by ``methods`` that stand for sets of methods.
METHOD_SETS = ("all", "classical", "fast", "shipped")

#: The default method set: every shipped model and the fast classical methods.
DEFAULT_METHODS = "fast"


@dataclass(frozen=True)
class Method:
    """A row of the benchmark.

    Attributes
    ----------
    name : str
        Row label: ``noisy``, a baseline name, or a model's name (its card's ``name``; two
        models of one name are told apart by their paths, see :func:`resolve_methods`).
    kind : str
        ``noisy``, ``classical`` or ``model``.
    tasks : tuple of str or None
        The restoration tasks it runs on (:mod:`enhance.tasks`); None: every task (``noisy``).
    identity : str
        What the cache key records of the method: changes when its code or weights change.
    path : str or None
        The model directory (models only).
    runtime : str or None
        Where a model's network runs (:mod:`enhance.runtime`: ``openvino`` or ``keras``, as
        :func:`enhance.runtime.choose_runtime` resolved it); None: Keras (models only).
    """

    name: str
    kind: str
    tasks: tuple | None
    identity: str
    path: str | None = None
    runtime: str | None = None

    def suits(self, task):
        return self.tasks is None or task in self.tasks


def _sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def _classical_method(entry):
    try:
        source = inspect.getsource(entry.function)
    except (OSError, TypeError):
        source = entry.function.__qualname__
    digest = _sha256_bytes(source.encode())[:16]
    return Method(entry.name, "classical", tuple(entry.tasks), f"classical:{entry.name}:{digest}")


def model_method(path):
    """A :class:`Method` for a model directory, read from its JSON files (Keras is not imported)."""
    from ..modeldir import CONFIG_FILE, read_model_dir
    from ..tasks import task_names

    found = read_model_dir(path, kind="enhancer", verify=False)  # weights checked when loaded
    path, config, card, weights = found.path, found.config, found.card, found.sha256
    task = config.get("task")
    if task not in task_names():
        raise ModelError(
            f"{path / CONFIG_FILE}: task {task!r} is not one of {', '.join(task_names())}"
        )
    config_bytes = (path / CONFIG_FILE).read_bytes()
    identity = f"model:{weights}:{_sha256_bytes(config_bytes)[:16]}"
    # the card's name (enhance train writes the run folder's: runs/my-dae/model is "my-dae"),
    # not the directory's, which is "model" for every trained run
    name = str(card.get("name") or (path.parent.name if path.name == "model" else path.name))
    return Method(name, "model", (task,), identity, str(path.resolve()))


def _short_path(path):
    """``path`` relative to the working directory when it is inside it, else as it is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


NOISY = Method("noisy", "noisy", None, "noisy")


def resolve_methods(methods=DEFAULT_METHODS, models=(), *, weights_dir=None, notes=None):
    """Turn a ``--methods`` value and extra model directories into a list of :class:`Method`.

    Parameters
    ----------
    methods : str or iterable of str
        Comma-separated tokens: ``all`` (classical + shipped), ``classical`` (every baseline;
        each runs on the degradations of its tasks), ``fast`` (the classical methods not in
        :data:`SLOW_BASELINES`, plus shipped models; the default), ``shipped`` (every model directory under
        ``trained_weights/``), a baseline name, a shipped model's name, or a model directory
        given as a path (``./dir``; a bare name never means a folder in the working directory).
    models : iterable of str or Path
        More models: shipped names or directories (same rule).
    weights_dir : str or Path, optional
        Where shipped models live (default :func:`enhance.shipped.weights_dir`).
    notes : list, optional
        Receives human-readable notes (e.g. that no shipped model exists).

    Returns
    -------
    list of Method
        ``noisy`` first, then classical methods in registry order, then models; no duplicates.
    """
    from ..baselines import BASELINES

    if isinstance(methods, str):
        tokens = [t.strip() for t in methods.split(",") if t.strip()]
    else:
        tokens = [str(t).strip() for t in methods if str(t).strip()]
    if not tokens and not models:
        tokens = [DEFAULT_METHODS]
    notes = notes if notes is not None else []
    root = Path(weights_dir) if weights_dir is not None else shipped_models.weights_dir()

    classical, model_paths, shipped = [], [], []

    def add_shipped():
        if shipped:
            return
        for path in shipped_models.shipped_model_dirs(root):
            try:
                if shipped_models.model_kind(path) != "enhancer":
                    continue  # the synthesis generators and their feature network
                shipped.append(model_method(path))
            except ModelError as error:  # an unreadable directory, or one without a task
                notes.append(f"left out {path.name}: {error}")
        if not shipped:
            shipped.append(None)
            notes.append(f"no shipped models under {root} (no model directory with a config.json "
                         "and a task): classical methods only")

    for token in tokens:
        if token == "noisy":
            continue
        if token in ("all", "classical", "fast"):
            classical.extend(
                n for n in BASELINES
                if n != "identity" and (token != "fast" or n not in SLOW_BASELINES)
            )
            if token in ("all", "fast"):
                add_shipped()
        elif token == "shipped":
            add_shipped()
        elif token in BASELINES:
            if token == "identity":
                continue  # the noisy row
            classical.append(token)
        elif shipped_models.is_path_like(token) or (root / token / "config.json").is_file():
            # a bare name is a shipped model, a directory only when given as a path
            model_paths.append(shipped_models.resolve_model(token, root=root, kind="enhancer"))
        else:
            raise UnknownName(
                f"unknown method {token!r}: not a method set ({', '.join(METHOD_SETS)}), a "
                f"baseline ({', '.join(n for n in BASELINES if n != 'identity')}), a shipped "
                "model or a model directory given as a path (./dir)"
            )
    for path in models:
        if str(path).strip():
            model = path if shipped_models.is_path_like(path) else str(path).strip()
            model_paths.append(shipped_models.resolve_model(model, root=root, kind="enhancer"))

    out = [NOISY]
    seen = {"noisy"}
    for name in BASELINES:  # registry order
        if name in classical and name not in seen:
            out.append(_classical_method(BASELINES[name]))
            seen.add(name)
    seen_paths = set()
    model_methods = [m for m in shipped if m is not None] + [model_method(p) for p in model_paths]
    for method in model_methods:
        if method.path in seen_paths:
            continue
        seen_paths.add(method.path)
        if method.name in seen:  # e.g. a retrained dae-gaussian beside the shipped one
            method = dataclasses.replace(method, name=f"{method.name} ({_short_path(method.path)})")
        if method.name in seen:
            raise EnhanceError(
                f"two methods are named {method.name!r} ({method.path}); rename a model directory"
            )
        seen.add(method.name)
        out.append(method)
    return out


def resolve_degradations(names=None):
    """The :class:`~enhance.degrade.Degradation` objects of a comma-separated list (default: the spec's)."""
    from ..tasks import BENCHMARK_DEGRADATIONS, PRESETS

    if names is None:
        names = list(BENCHMARK_DEGRADATIONS)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out = []
    for name in names:
        if name not in PRESETS:
            raise UnknownName(
                f"unknown benchmark degradation {name!r}; known: {', '.join(PRESETS)}"
            )
        if name not in [d.name for d in out]:
            out.append(PRESETS[name])
    if not out:
        raise EnhanceError("no degradation to benchmark")
    return out


def cell_seed(degradation, index, seed=None):
    """The spec's seed (an int, or ``[S, d, i]`` with a user seed); ``d`` as in :func:`enhance.jobs.file_seed`."""
    from ..jobs import file_seed

    return file_seed(degradation.name, index, seed=seed)
