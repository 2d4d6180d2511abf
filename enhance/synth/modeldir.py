"""A generator directory: what ``enhance synth train`` writes and ``generate``/``evaluate`` read.

::

    <dir>/config.json                 architecture (size, classes, latent_dim, width, ...),
                                      class names, bit depth of the training data
    <dir>/generator.weights.h5        the (EMA) generator's Keras weights
    <dir>/discriminator.weights.h5    the discriminator (to continue training)
    <dir>/card.json                   the model card, with generator_sha256: the SHA-256 of
                                      generator.weights.h5, checked on every load
    <dir>/checkpoint/                 training state for resume (see :mod:`.training`)
    <dir>/samples/                    sample grids written during training

The generator is rebuilt from ``config.json`` (weights never decide the architecture).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..io.atomic import atomic_save, atomic_write_json
from ..modeldir import file_sha256

__all__ = [
    "CONFIG_FILE", "GENERATOR_FILE", "DISCRIMINATOR_FILE", "CARD_FILE", "FORMAT",
    "file_sha256", "write_json", "read_json", "save_generator_dir", "load_generator", "Generator",
]

CONFIG_FILE = "config.json"
GENERATOR_FILE = "generator.weights.h5"
DISCRIMINATOR_FILE = "discriminator.weights.h5"
CARD_FILE = "card.json"
FORMAT = "enhance-synth-generator/1"


def write_json(path, data):
    """Write JSON atomically (:func:`enhance.io.atomic.atomic_write_json`; other objects as text)."""
    atomic_write_json(path, data, default=str)


def read_json(path):
    """Read a JSON file; :class:`ModelError` if it is missing or corrupt."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from None


def save_weights_atomic(model, path):
    """``model.save_weights`` to a temporary name in the same folder, then rename into place."""
    atomic_save(path, lambda tmp: model.save_weights(str(tmp)), suffix=".weights.h5")


def build_from_config(config):
    """Rebuild the generator described by a ``config.json`` dict (untrained weights)."""
    from .models import build_generator

    return build_generator(
        config["size"], len(config["class_names"]), latent_dim=config["latent_dim"],
        width=config["width"], embed_dim=config["embed_dim"], channels=config["channels"],
        max_width=config["max_width"],
    )


def save_generator_dir(out_dir, generator, config, card, *, discriminator=None):
    """Write config, generator (and discriminator) weights and the card with the sha256.

    Parameters
    ----------
    out_dir : str or Path
    generator : keras.Model
    config : dict
    card : dict
        Extra card fields (training data, steps, command ...).
    discriminator : keras.Model, optional

    Returns
    -------
    str
        The generator weights' sha256.
    """
    out_dir = Path(out_dir)
    write_json(out_dir / CONFIG_FILE, {"format": FORMAT, **config})
    save_weights_atomic(generator, out_dir / GENERATOR_FILE)
    if discriminator is not None:
        save_weights_atomic(discriminator, out_dir / DISCRIMINATOR_FILE)
    sha = file_sha256(out_dir / GENERATOR_FILE)
    write_json(out_dir / CARD_FILE, {**card, "generator_sha256": sha})
    return sha


@dataclass
class Generator:
    """A loaded generator: the Keras model, its config, card and weights' sha256."""

    model: object
    config: dict
    card: dict
    sha256: str
    path: Path

    @property
    def class_names(self):
        return list(self.config["class_names"])

    @property
    def size(self):
        return int(self.config["size"])

    def class_index(self, name):
        """Index of a class by name; :class:`~enhance.errors.EnhanceError` naming the classes."""
        from ..errors import UnknownName

        names = self.class_names
        if name is None:
            return None
        if name not in names:
            known = ", ".join(repr(n) for n in names) if names != [""] else "none (unconditional)"
            raise UnknownName(f"unknown class {name!r} for the generator in {self.path}; "
                              f"classes: {known}")
        return names.index(name)


def load_generator(model_dir):
    """Load a generator directory, checking its weights against the card's sha256.

    Raises
    ------
    ModelError
        A missing file, or weights whose sha256 differs from the card's.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: not a generator directory (no such folder)")
    config = read_json(model_dir / CONFIG_FILE)
    if config.get("format") != FORMAT:
        raise ModelError(f"{model_dir}: config.json is not a synthesis generator ({FORMAT})")
    card = read_json(model_dir / CARD_FILE)
    weights = model_dir / GENERATOR_FILE
    if not weights.is_file():
        raise ModelError(f"{weights}: missing")
    sha = file_sha256(weights)
    if sha != card.get("generator_sha256"):
        raise ModelError(
            f"{weights}: sha256 {sha[:12]}... does not match the card's "
            f"{str(card.get('generator_sha256'))[:12]}... (corrupt or replaced weights)"
        )
    model = build_from_config(config)
    model.load_weights(str(weights))
    return Generator(model, config, card, sha, model_dir)
