"""The training data: resolve ``data`` to images, and draw the training batches.

Training patches are random crops of the clean training images (flipped and rotated), degraded
on the fly by :func:`enhance.tasks.make_training_pair` with jittered parameters.

``mode="noise2void"`` trains without clean targets (Krull et al. 2019): the network sees a
degraded patch with a few pixels replaced by neighbours and must predict the degraded values
there (:func:`enhance.tasks.blind_spot_batch`, :func:`enhance.models.layers.noise2void_loss`).
Blind-spot training assumes pixel-wise independent noise: it suits ``gaussian`` and
``lowlight``, not the spatially correlated ``speckle``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import EnhanceError
from ..tasks import blind_spot_batch, context_margin, make_training_pair


def resolve_data(data):
    """Training data from a recipe name, a folder, or a dict with ``train`` (and ``validation``)."""
    from .. import datasets

    if isinstance(data, dict):
        resolved = {"name": "in-memory", "validation": [], "provenance": [], **data}
        resolved["train"] = [np.asarray(x, dtype=np.float32) for x in resolved["train"]]
        return resolved
    if isinstance(data, str) and data in datasets.RECIPES:
        return datasets.load_recipe(data)
    if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
        return datasets.load_folder(data)
    if isinstance(data, (str, os.PathLike)) and str(data).endswith(".npz") and Path(data).is_file():
        return datasets.load_recipe_snapshot(data)
    raise EnhanceError(
        f"data must be a recipe ({', '.join(datasets.RECIPES)}), a folder, a recipe snapshot "
        f"(.npz) or a dict; got {data!r}"
    )


def _training_batch(sampler, rng, config):
    margin = 0 if config.noisy_data else context_margin(config.task)
    inputs, targets = [], []
    for _ in range(config.batch):
        crop = sampler.crop()
        if config.noisy_data:
            x = y = crop
        else:
            x, y = make_training_pair(crop, rng, config.task, jitter=config.jitter)
        if margin:
            x, y = x[margin:-margin, margin:-margin], y[margin:-margin, margin:-margin]
        inputs.append(x)
        targets.append(y)
    x = np.stack(inputs)[..., None]
    y = np.stack(targets)[..., None]
    if config.mode == "noise2void":
        return blind_spot_batch(x, rng, fraction=config.n2v_fraction)
    return x, y
