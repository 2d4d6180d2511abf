"""Memorisation check: the nearest training image of every generated image, by SSIM.

SSIM is the spec's (Wang et al. 2004 as scikit-image computes it: Gaussian window sigma 1.5,
population covariance, ``data_range=1``), computed here for one image against a whole stack at
once with the same filters (the same numbers as :func:`enhance.metrics.ssim`). Training used
left-right flips, so each training image is also compared flipped.

A generated image whose nearest training image has SSIM >= :data:`COPY_THRESHOLD` (0.9) is
flagged as a near-copy. 0.9 is well above the SSIM between different slices of one brain volume
in the shipped data (neighbouring held-out slices reach about 0.8 against the training slices, see
the evaluation report's calibration line) and well below the ~0.98+ of a copy with a little noise.
The cost is one SSIM per (generated, training) pair: O(N M) filters of the image size.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeMismatch

__all__ = ["COPY_THRESHOLD", "ssim_against", "nearest_training", "NearestMatch"]

COPY_THRESHOLD = 0.9
_SIGMA, _TRUNCATE, _K1, _K2 = 1.5, 3.5, 0.01, 0.03


class NearestMatch:
    """Per generated image: the best SSIM, the index of that training image, whether flipped."""

    def __init__(self, ssim, index, flipped):
        self.ssim = ssim
        self.index = index
        self.flipped = flipped

    def flagged(self, threshold=COPY_THRESHOLD):
        """Boolean mask of near-copies (SSIM >= threshold)."""
        return self.ssim >= threshold


def _filter(x):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, (0, _SIGMA, _SIGMA), truncate=_TRUNCATE, mode="reflect")


def _prepare(stack):
    stack = np.asarray(stack, np.float64)
    return stack, _filter(stack), _filter(stack * stack)


def ssim_against(image, stack, *, data_range=1.0, _prepared=None):
    """SSIM of one (H, W) image against every image of a stack (M, H, W); returns (M,)."""
    image = np.asarray(image, np.float64)
    stack, mu_s, ss = _prepared if _prepared is not None else _prepare(stack)
    if stack.shape[1:] != image.shape:
        raise ShapeMismatch(f"copy check: image {image.shape} vs training images {stack.shape[1:]}")
    pad = (2 * int(_TRUNCATE * _SIGMA + 0.5) + 1 - 1) // 2
    if min(image.shape) < 2 * pad + 1:
        raise ShapeMismatch(f"copy check: images must be at least 11 x 11, got {image.shape}")
    mu_i = _filter(image[None])
    ii = _filter((image * image)[None])
    si = _filter(stack * image[None])
    vi = ii - mu_i * mu_i
    vs = ss - mu_s * mu_s
    cov = si - mu_i * mu_s
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mu_i * mu_s + c1) * (2 * cov + c2)) / ((mu_i ** 2 + mu_s ** 2 + c1) * (vi + vs + c2))
    return s[:, pad:-pad, pad:-pad].mean(axis=(1, 2))


def nearest_training(generated, training, *, flips=True):
    """For each generated image, its nearest training image by SSIM (flipped copies included).

    Parameters
    ----------
    generated : ndarray (N, H, W) in [0, 1]
    training : ndarray (M, H, W) in [0, 1]
    flips : bool
        Also compare with left-right flipped training images.

    Returns
    -------
    NearestMatch
    """
    training = np.asarray(training, np.float64)
    m = len(training)
    stack = np.concatenate([training, training[:, :, ::-1]]) if flips else training
    prepared = _prepare(stack)
    best = np.empty(len(generated))
    index = np.empty(len(generated), np.int64)
    flipped = np.zeros(len(generated), bool)
    for n, image in enumerate(np.asarray(generated, np.float64)):
        values = ssim_against(image, stack, _prepared=prepared)
        k = int(np.argmax(values))
        best[n], index[n], flipped[n] = values[k], k % m, k >= m
    return NearestMatch(best, index, flipped)
