"""Training checkpoints, one format and one writer for both trainers.

Used by :func:`enhance.training.train` (``OUT/state/``) and :func:`enhance.synth.training.train`
(``OUT/checkpoint/``). A checkpoint is a folder of two files:

``checkpoint.npz``
    the weights of every network (``{name}_{index}``, in ``get_weights`` order), every
    optimizer's variables (``optimizer{i}_{j}``) and the state of the model's
    ``keras.random.SeedGenerator`` (``seed_generator``), if it has one;
``state.json``
    the step, the state of the run's NumPy generator (``rng``) and whatever else the trainer
    keeps (configuration, scores, wall time).

It is written whole into a staging folder beside it (``.NAME.tmp``) and then swapped in: the
current checkpoint is renamed ``.NAME.old``, the staging folder takes its name, the old one is
removed. A kill at any moment leaves one complete checkpoint: :meth:`Checkpoint.exists` puts the
old one back if the kill came between the two renames.

NumPy is imported with this module; Keras only by :meth:`Checkpoint.save`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import EnhanceError
from ..io.atomic import recover_folder, replace_folder

__all__ = ["Checkpoint", "ARRAYS_FILE", "STATE_FILE"]

#: The arrays of a checkpoint: weights, optimizer variables, seed-generator state.
ARRAYS_FILE = "checkpoint.npz"
#: The rest of a checkpoint: step, NumPy generator state, the trainer's own entries.
STATE_FILE = "state.json"


class Checkpoint:
    """The checkpoint folder at ``path``, replaced whole or not at all.

    Parameters
    ----------
    path : str or Path
        The checkpoint folder; its staging and previous folders are hidden siblings.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.staging = self.path.with_name(f".{self.path.name}.tmp")
        self.previous = self.path.with_name(f".{self.path.name}.old")

    def exists(self):
        """Whether a complete checkpoint is there (one that a kill left mid-swap is put back)."""
        return recover_folder(self.path, marker=STATE_FILE)

    def read_state(self):
        """The contents of ``state.json`` (a dict)."""
        with open(self.path / STATE_FILE, encoding="utf-8") as stream:
            return json.load(stream)

    def remove(self):
        """Delete the checkpoint (and any staging or previous folder)."""
        for folder in (self.path, self.staging, self.previous):
            shutil.rmtree(folder, ignore_errors=True)

    def save(self, *, networks, optimizers, rng, state, seed_generator=None):
        """Write a new checkpoint and swap it in for the current one.

        Parameters
        ----------
        networks : dict of str to keras.Model
            The networks whose weights are saved, by name.
        optimizers : list of (keras.optimizers.Optimizer, list of keras.Variable)
            Each optimizer with the variables it updates (only the optimizer's own variables are
            saved; the pairs' order is the order of :meth:`restore`).
        rng : numpy.random.Generator
            The run's NumPy generator (its state is saved).
        state : dict
            JSON-serialisable entries of ``state.json`` (``step`` and the trainer's own).
        seed_generator : keras.random.SeedGenerator, optional
        """
        from keras import ops

        arrays = {}
        for name, network in networks.items():
            for index, weight in enumerate(network.get_weights()):
                arrays[f"{name}_{index}"] = weight
        for i, (optimizer, _) in enumerate(optimizers):
            for j, variable in enumerate(optimizer.variables):
                arrays[f"optimizer{i}_{j}"] = ops.convert_to_numpy(variable)
        if seed_generator is not None:
            arrays["seed_generator"] = ops.convert_to_numpy(seed_generator.state)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        np.savez(self.staging / ARRAYS_FILE, **arrays)
        with open(self.staging / STATE_FILE, "w", encoding="utf-8") as stream:
            json.dump({**state, "rng": rng.bit_generator.state}, stream, indent=2, default=str)
        replace_folder(self.staging, self.path)

    def restore(self, *, networks, optimizers, rng, seed_generator=None):
        """Load the checkpoint into the networks, optimizers, ``rng`` and seed generator.

        Parameters
        ----------
        networks, optimizers, rng, seed_generator
            As given to :meth:`save` (built, with the same architecture); ``rng``'s state is set
            in place. The seed generator is restored if the checkpoint has its state.

        Returns
        -------
        dict
            The contents of ``state.json``.

        Raises
        ------
        EnhanceError
            The checkpoint's arrays are missing or do not fit the networks or optimizers.
        """
        if not (self.path / ARRAYS_FILE).is_file():
            raise EnhanceError(
                f"{self.path}: no {ARRAYS_FILE} (a checkpoint of an older version of enhance?); "
                f"delete {self.path} to start over"
            )
        state = self.read_state()
        with np.load(self.path / ARRAYS_FILE) as arrays:
            for name, network in networks.items():
                network.set_weights(
                    [self._array(arrays, f"{name}_{index}", weight.shape)
                     for index, weight in enumerate(network.weights)]
                )
            for i, (optimizer, variables) in enumerate(optimizers):
                if not optimizer.built:
                    optimizer.build(variables)
                for j, variable in enumerate(optimizer.variables):
                    variable.assign(self._array(arrays, f"optimizer{i}_{j}", variable.shape))
            if seed_generator is not None and "seed_generator" in arrays:
                seed_generator.state.assign(arrays["seed_generator"])
        rng.bit_generator.state = state["rng"]
        return state

    def _array(self, arrays, key, shape):
        value = arrays[key] if key in arrays else None
        if value is None or tuple(value.shape) != tuple(shape):
            raise EnhanceError(f"{self.path}: the checkpoint does not fit the model ({key})")
        return value
