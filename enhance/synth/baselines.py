"""Trivial image generators that a GAN must beat to be worth its training.

* :func:`gaussian_images` -- draws from a Gaussian with the training set's per-pixel mean and
  covariance. With N training images the sample covariance has rank N - 1 and is sampled exactly
  as ``mean + (X - mean)^T g / sqrt(N - 1)``, ``g ~ N(0, I_N)`` (a PCA Gaussian keeping every
  component); pixels are clipped to [0, 1].
* :func:`shifted_copies` -- training images themselves, each shifted by up to 1/8 of the side in
  each direction (zero filled) and flipped left-right with probability 1/2: as realistic as the
  data and no new content at all (the copy check should flag many of them).
"""

from __future__ import annotations

import numpy as np

from ..errors import EnhanceError

__all__ = ["gaussian_images", "shifted_copies", "BASELINES"]


def gaussian_images(real, n, *, seed=0):
    """``n`` images from the Gaussian fitted to ``real`` (N, H, W); see the module docstring."""
    real = np.asarray(real, np.float64)
    if len(real) < 2:
        raise EnhanceError("the Gaussian baseline needs at least two training images")
    flat = real.reshape(len(real), -1)
    mean = flat.mean(0)
    centred = flat - mean
    g = np.random.default_rng(seed).standard_normal((n, len(real)))
    out = mean + g @ centred / np.sqrt(len(real) - 1)
    return np.clip(out, 0.0, 1.0).reshape((n,) + real.shape[1:]).astype(np.float32)


def _shift(image, dy, dx):
    out = np.zeros_like(image)
    h, w = image.shape
    src = image[max(0, -dy): h - max(0, dy), max(0, -dx): w - max(0, dx)]
    out[max(0, dy): max(0, dy) + src.shape[0], max(0, dx): max(0, dx) + src.shape[1]] = src
    return out


def shifted_copies(real, n, *, seed=0, max_shift=None):
    """``n`` randomly chosen training images, shifted (up to ``max_shift``, default side/8) and
    flipped; returns (images (n, H, W), list of {"index", "dy", "dx", "flip"})."""
    real = np.asarray(real, np.float32)
    rng = np.random.default_rng(seed)
    side = min(real.shape[1:])
    max_shift = side // 8 if max_shift is None else int(max_shift)
    images, params = [], []
    for _ in range(n):
        k = int(rng.integers(len(real)))
        dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, 2))
        flip = bool(rng.random() < 0.5)
        img = real[k][:, ::-1] if flip else real[k]
        images.append(_shift(img, dy, dx))
        params.append({"index": k, "dy": dy, "dx": dx, "flip": flip})
    return np.stack(images), params


BASELINES = {
    "gaussian": "Gaussian with the training pixels' mean and (rank N-1) covariance",
    "shifted_copies": "training images shifted by up to 1/8 of the side and flipped",
}
