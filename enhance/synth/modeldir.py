"""A generator directory: what ``enhance synth train`` writes and ``generate``/``evaluate`` read.

A model directory of kind ``generator`` (:mod:`enhance.modeldir`: the one format, reader and
writer of the three kinds)::

    <dir>/config.json                 format, kind, architecture (size, classes, latent_dim,
                                      width, ...), class names, bit depth of the training data
    <dir>/generator.weights.h5        the (EMA) generator's Keras weights
    <dir>/discriminator.weights.h5    the discriminator (to continue training)
    <dir>/card.json                   the model card, with generator_sha256: the SHA-256 of
                                      generator.weights.h5, checked on every load
    <dir>/checkpoint/                 training state for resume (see :mod:`.training`)
    <dir>/samples/                    sample grids written during training

The generator is rebuilt from ``config.json`` (weights never decide the architecture).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io.atomic import atomic_save, atomic_write_json
from ..modeldir import CARD_FILE, CONFIG_FILE, KINDS, file_sha256, read_model_dir, write_model_files

__all__ = [
    "CONFIG_FILE", "GENERATOR_FILE", "DISCRIMINATOR_FILE", "CARD_FILE", "FORMAT",
    "file_sha256", "write_json", "save_generator_dir", "load_generator", "Generator",
]

GENERATOR_FILE = KINDS["generator"].weights_file
DISCRIMINATOR_FILE = "discriminator.weights.h5"
FORMAT = KINDS["generator"].format


def write_json(path, data):
    """Write JSON atomically (:func:`enhance.io.atomic.atomic_write_json`; other objects as text).

    The synthesis reports' and settings' writer (``evaluate``, :mod:`enhance.augment`)."""
    atomic_write_json(path, data, default=str)


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
    if discriminator is not None:
        atomic_save(out_dir / DISCRIMINATOR_FILE, lambda tmp: discriminator.save_weights(str(tmp)),
                    suffix=".weights.h5")
    return write_model_files(out_dir, "generator", config, card,
                             lambda tmp: generator.save_weights(str(tmp)), default=str)


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
        What :func:`enhance.modeldir.read_model_dir` refuses: a missing file, another kind of
        model, or weights whose SHA-256 differs from the card's.
    """
    found = read_model_dir(model_dir, kind="generator")
    model = build_from_config(found.config)
    model.load_weights(str(found.weights))
    return Generator(model, found.config, found.card, found.sha256, found.path)
