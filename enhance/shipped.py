"""The shipped models: where they live, how a name resolves, which one is each task's default.

Shipped models are model directories under ``trained_weights/`` at the root of the source
checkout (``pip install -e .`` keeps it there); ``ENHANCE_WEIGHTS`` points elsewhere. Reading
this module imports no Keras: it reads JSON only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import ModelError

#: The model ``enhance run`` uses per task when ``--model`` is not given (best on validation).
DEFAULT_MODELS = {"gaussian": "dae-gaussian", "lowlight": "dae-lowlight", "speckle": "dae-speckle"}
DEFAULT_TASK = "gaussian"


def weights_dir():
    """The folder of shipped models: ``$ENHANCE_WEIGHTS`` or ``trained_weights/`` beside the package."""
    env = os.environ.get("ENHANCE_WEIGHTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "trained_weights"


def shipped_model_dirs(root=None):
    """Every folder under ``root`` (default :func:`weights_dir`) with a ``config.json``, sorted."""
    root = Path(root) if root is not None else weights_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file())


def read_model_info(path):
    """``config.json`` and ``card.json`` of a model directory as one dict (no Keras).

    Keys: ``name``, ``path``, ``arch``, ``task``, ``config``, ``card``, ``weights_bytes``.
    """
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{path / 'config.json'}: {error}") from None
    card = {}
    if (path / "card.json").is_file():
        try:
            card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ModelError(f"{path / 'card.json'}: {error}") from None
    weights = [p for p in path.glob("*.weights.h5")]
    return {
        "name": path.name,
        "path": path,
        "arch": config.get("arch"),
        "task": config.get("task"),
        "config": config,
        "card": card,
        "weights_bytes": sum(p.stat().st_size for p in weights),
    }


def resolve_model(name_or_dir=None, *, task=None):
    """The model directory for a shipped model's name, a path, or the default of ``task``.

    Raises
    ------
    ModelError
        When the name is neither a model directory nor a shipped model.
    """
    if name_or_dir is None:
        name_or_dir = DEFAULT_MODELS[task or DEFAULT_TASK]
    candidate = Path(name_or_dir)
    if (candidate / "config.json").is_file():
        return candidate
    shipped = weights_dir() / str(name_or_dir)
    if (shipped / "config.json").is_file():
        return shipped
    names = ", ".join(p.name for p in shipped_model_dirs()) or "none found"
    raise ModelError(
        f"{name_or_dir}: not a model directory nor a shipped model (shipped in {weights_dir()}: {names})"
    )
