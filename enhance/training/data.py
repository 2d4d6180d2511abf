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
    if isinstance(data, (str, os.PathLike)):
        text, path = str(data), Path(data)
        if text.endswith(".npz"):
            raise EnhanceError(f"{text}: no such recipe snapshot (file not found)")
        if path.is_file():
            raise EnhanceError(f"{text}: is a file; --data takes a folder of clean images, a recipe "
                               f"({', '.join(datasets.RECIPES)}) or a recipe snapshot (.npz)")
        if isinstance(data, os.PathLike) or os.sep in text or "/" in text or text.startswith("."):
            raise EnhanceError(f"{text}: no such folder")
        raise EnhanceError(f"{text}: not a recipe ({', '.join(datasets.RECIPES)}) nor a folder "
                           "(no such folder here); give a folder of clean images as a path")
    raise EnhanceError(
        f"data must be a recipe ({', '.join(datasets.RECIPES)}), a folder, a recipe snapshot "
        f"(.npz) or a dict; got {data!r}"
    )


#: Floor of the per-patch noise power in :func:`relative_mse_weights` ((5/255)^2): noise-free
#: patches (sigma 0, black background at low light) would otherwise take all the weight.
RELATIVE_MSE_FLOOR = (5.0 / 255.0) ** 2


def relative_mse_weights(inputs, targets, *, floor=RELATIVE_MSE_FLOOR):
    """Per-patch weights ``1 / (mean((input - target)^2) + floor)``, scaled to mean 1.

    With these as ``sample_weight`` the MSE loss becomes the mean of each patch's error relative
    to its noise power (the ``relative_mse`` loss): a patch at sigma 10/255 counts as much as one
    at 50/255 when both are restored by the same number of dB. Shaped ``(batch, 1, ..., 1)`` to
    broadcast over Keras's per-pixel MSE (channels reduced).
    """
    x = np.asarray(inputs, np.float64)
    x = x[..., : np.shape(targets)[-1]].reshape(len(inputs), -1)  # the image, not a noise map
    y = np.asarray(targets, np.float64).reshape(len(targets), -1)
    weights = 1.0 / (np.mean((x - y) ** 2, axis=1) + floor)
    weights = (weights / weights.mean()).astype(np.float32)
    return weights.reshape((len(weights),) + (1,) * max(np.ndim(inputs) - 2, 0))


def conditioned(config):
    """Whether the run's network takes a noise-level map (``arch_params.noise_map``)."""
    from ..models import registry

    params = registry.resolve_params({"arch": config.arch, "arch_params": config.arch_params})
    return bool(params.get("noise_map", False))


def training_batch(sampler, rng, config):
    """One batch ``(x, y)`` of a run: crops from ``sampler`` degraded by the task (jittered),
    with the noise-level map behind the image for a conditioned network, or blind-spot masked
    for Noise2Void. Shapes ``(batch, patch, patch, channels)``."""
    margin = 0 if config.noisy_data else context_margin(config.task)
    noise_map = conditioned(config)
    inputs, targets = [], []
    for _ in range(config.batch):
        crop = sampler.crop()
        if config.noisy_data:
            x = y = crop
        else:
            x, y = make_training_pair(
                crop, rng, config.task, jitter=config.jitter, noise_map=noise_map,
                table=config.jitter_table, target_realizations=config.target_realizations,
            )
        if margin:
            x, y = x[margin:-margin, margin:-margin], y[margin:-margin, margin:-margin]
        inputs.append(x)
        targets.append(y)
    x = np.stack(inputs)
    x = x if noise_map else x[..., None]
    y = np.stack(targets)[..., None]
    if config.mode == "noise2void":
        return blind_spot_batch(
            x, rng, fraction=config.n2v_fraction, struct=config.n2v_block
        )
    return x, y
