"""The shipped models: where they live, how a name resolves, which one is each task's default.

Shipped models are model directories inside the installed package (``enhance/trained_weights/``
of the wheel, found with :mod:`importlib.resources`; the repository keeps them in its top-level
``trained_weights/``, which the build maps into the package, and a source checkout or an editable
install reads that folder directly). ``$ENHANCE_WEIGHTS`` points to another folder instead.

A model is given either as a **bare name** -- always a shipped model, never a folder of that name
in the working directory -- or as a **path** (``./dir``, ``/abs/dir``, ``~/dir``, anything with a
path separator, or a :class:`pathlib.Path`), which is always a directory (see
:func:`is_path_like`, :func:`resolve_model`). Model directories are read with
:func:`enhance.modeldir.read_model_dir`, the one reader of the three kinds. Reading this module
imports no Keras: JSON only.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from .errors import ModelError
from .modeldir import CONFIG_FILE, read_model_dir
from .tasks import DEFAULT_TASK, all_tasks, get_task

#: The model ``enhance run`` uses per task when ``--model`` is not given (best on validation):
#: each task's :attr:`~enhance.tasks.Task.default_model`, for the tasks that have one.
DEFAULT_MODELS = {t.name: t.default_model for t in all_tasks() if t.default_model}


#: How each kind (:data:`enhance.modeldir.KINDS`) is used (``enhance models``, error messages);
#: ``{name}`` is the model.
KIND_USE = {
    "enhancer": "an image enhancer: enhance run IN OUT --model {name}",
    "generator": "an image generator: enhance synth generate {name} OUT",
    "features": "a feature network: enhance synth evaluate SOURCE --real DIR --features {name}",
}
PACKAGE_FOLDER = "trained_weights"


def weights_dir():
    """The folder of shipped models.

    ``$ENHANCE_WEIGHTS`` when set; else ``trained_weights/`` inside the installed package (a
    wheel install, found with :func:`importlib.resources.files`); else the repository's
    top-level ``trained_weights/`` (a source checkout or an editable install).
    """
    env = os.environ.get("ENHANCE_WEIGHTS")
    if env:
        return Path(env).expanduser()
    packaged = importlib.resources.files(__package__) / PACKAGE_FOLDER
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / PACKAGE_FOLDER


def is_path_like(model):
    """Whether ``model`` names a directory by path rather than a shipped model by name.

    A :class:`os.PathLike` (e.g. :class:`pathlib.Path`), or a string that starts with ``.``
    or ``~``, is absolute, or contains a path separator. ``"dae-gaussian"`` is a name;
    ``"./dae-gaussian"``, ``"runs/x/model"`` and ``"/abs/model"`` are paths.
    """
    if isinstance(model, os.PathLike):
        return True
    text = str(model)
    separators = [os.sep] + ([os.altsep] if os.altsep else [])
    return (text.startswith((".", "~")) or os.path.isabs(text)
            or any(sep in text for sep in separators))


def model_kind(path):
    """``enhancer``, ``generator`` or ``features``: the kind of a model directory.

    Read by :func:`enhance.modeldir.read_model_dir` (JSON only; the weights are checked when the
    model is loaded); a config without ``kind`` or ``format`` is an enhancer (model directories
    written before the fields).
    """
    return read_model_dir(path, verify=False).kind


def shipped_model_dirs(root=None):
    """Every folder under ``root`` (default :func:`weights_dir`) with a ``config.json``, sorted."""
    root = Path(root) if root is not None else weights_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file())


def read_model_info(path):
    """``config.json`` and ``card.json`` of a model directory as one dict (no Keras).

    Read by :func:`enhance.modeldir.read_model_dir` without hashing the weights (a listing; the
    weights are checked when the model is loaded). Keys: ``name``, ``path``, ``kind`` (a key of
    :data:`enhance.modeldir.KINDS`), ``arch``, ``task``, ``config``, ``card``, ``weights_bytes``.

    Raises
    ------
    ModelError
        As :func:`enhance.modeldir.read_model_dir`: a missing card, an unknown format, ...
    """
    found = read_model_dir(path, verify=False)
    weights = [p for p in found.path.glob("*.weights.h5")]
    return {
        "name": found.path.name,
        "path": found.path,
        "kind": found.kind,
        "arch": found.config.get("arch"),
        "task": found.config.get("task"),
        "config": found.config,
        "card": found.card,
        "weights_bytes": sum(p.stat().st_size for p in weights),
    }


def locate_model(name_or_dir=None, *, task=None, kind=None, root=None):
    """The model directory a name, a path or the default of ``task`` means, without reading it.

    Parameters are :func:`resolve_model`'s; ``kind`` only words the errors (an unknown name
    lists the shipped models of that kind, the closest first). The directory's kind is not
    checked (:func:`check_kind`).

    Raises
    ------
    ModelError
        When a name is not a shipped model or a path is not a model directory.
    """
    if name_or_dir is None:
        default = get_task(task or DEFAULT_TASK)
        if default.default_model is None:
            raise ModelError(f"no model is shipped for the {default.name} task; give one (--model)")
        name_or_dir = default.default_model
    root = Path(root) if root is not None else weights_dir()
    if is_path_like(name_or_dir):
        path = Path(name_or_dir).expanduser()
        noun = {"generator": "a generator", "features": "a feature network"}.get(kind, "a model")
        if not path.is_dir():
            raise ModelError(f"{name_or_dir}: not {noun} directory (no such folder)")
        if not (path / CONFIG_FILE).is_file():
            raise ModelError(f"{name_or_dir}: not {noun} directory (no config.json)")
        return path
    name = str(name_or_dir)
    path = root / name
    if not name or not (path / CONFIG_FILE).is_file():
        raise ModelError(_not_shipped(name, root, kind))
    return path


def _not_shipped(name, root, kind):
    """One line for a bare name that is not a shipped model: the closest shipped models of
    ``kind`` first ("did you mean"), then the others of that kind."""
    import difflib

    def of_kind(path):
        try:
            return kind is None or model_kind(path) == kind
        except ModelError:
            return False

    names = [p.name for p in shipped_model_dirs(root) if of_kind(p)]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6) if name else []
    noun = {"enhancer": "enhancers", "generator": "generators",
            "features": "feature networks"}.get(kind, "models")
    text = f"{name}: not a shipped model"
    if close:
        text += f"; did you mean {' or '.join(close)}?"
    text += f" (shipped {noun} in {root}: {', '.join(names) or 'none found'})"
    if name and Path(name).is_dir():
        text += f"; to use the folder {name}, give it as a path: ./{name}"
    return text


def check_kind(name_or_dir, found, kind):
    """Refuse a model of kind ``found`` where ``kind`` is needed (:class:`ModelError`, one line
    saying what the model is for)."""
    if found != kind:
        use = KIND_USE[found].format(name=name_or_dir)
        raise ModelError(f"{name_or_dir} is {use}; this needs {KIND_USE[kind].split(':')[0]}")


def resolve_model(name_or_dir=None, *, task=None, kind=None, root=None):
    """The model directory for a shipped model's name, a path, or the default of ``task``.

    Parameters
    ----------
    name_or_dir : str or Path, optional
        A bare name is a shipped model (never a folder of that name in the working directory);
        a path (see :func:`is_path_like`) is a model directory. Default: the shipped default
        model of ``task`` (:data:`DEFAULT_MODELS`).
    task : str, optional
        Picks the default when ``name_or_dir`` is not given (``gaussian`` by default).
    kind : str, optional
        ``enhancer``, ``generator`` or ``features``: refuse a model of another kind (and list
        only this kind's shipped models for an unknown name).
    root : str or Path, optional
        Where shipped models live (default :func:`weights_dir`).

    Raises
    ------
    ModelError
        When a name is not a shipped model (with the closest names of ``kind``), a path is not
        a model directory, or the model is not of ``kind``.
    """
    path = locate_model(name_or_dir, task=task, kind=kind, root=root)
    if kind is not None:
        check_kind(name_or_dir, model_kind(path), kind)
    return path


def describe_model(name_or_dir, path):
    """How a resolved model was chosen, for manifests: ``{"model_source", "model_path"}``.

    ``model_source`` is ``"shipped"`` for a bare name (or the task's default) and ``"path"``
    for a directory given by path; ``model_path`` is the directory, absolute.
    """
    source = "path" if name_or_dir is not None and is_path_like(name_or_dir) else "shipped"
    return {"model_source": source, "model_path": str(Path(path).resolve())}
