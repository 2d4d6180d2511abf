"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) in NumPy, and the diversity of a set.

At each of ``levels`` scales the contrast-structure term ``cs`` of SSIM is averaged; at the
coarsest the luminance term ``l`` too; ``MS-SSIM = l_M^w_M * prod_j cs_j^w_j`` with Wang's weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333) -- the first ``levels`` of them, renormalised to sum
to 1 when fewer than five scales fit. Between scales the images are averaged over 2 x 2 blocks.
Local statistics use the spec's SSIM window (Gaussian, sigma 1.5, truncated at 3.5 sigma,
``K1 = 0.01``, ``K2 = 0.03``, population covariance, reflect padding); the maps are averaged over
the whole image at every scale (no border crop: coarse scales are small). Negative ``cs`` values
are clipped to 0 before the power. The number of scales defaults to as many as keep the
coarsest side at least 8 pixels (4 for 64 x 64, 5 from 128 x 128). Identical images give 1.
"""

from __future__ import annotations

import numpy as np

from ..errors import EnhanceError, ShapeMismatch

__all__ = ["ms_ssim", "ms_ssim_pairs", "diversity", "WEIGHTS", "default_levels"]

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2, SIGMA, TRUNCATE = 0.01, 0.03, 1.5, 3.5


def default_levels(shape):
    """Scales that keep the coarsest side >= 8 pixels (at most 5)."""
    side = min(shape[-2:])
    levels = 1
    while levels < 5 and side // 2 ** levels >= 8:
        levels += 1
    return levels


def _stats(a, b, data_range):
    from scipy.ndimage import gaussian_filter

    sig = (0,) * (a.ndim - 2) + (SIGMA, SIGMA)

    def f(x):
        return gaussian_filter(x, sig, truncate=TRUNCATE, mode="reflect")

    ua, ub = f(a), f(b)
    va = f(a * a) - ua * ua
    vb = f(b * b) - ub * ub
    vab = f(a * b) - ua * ub
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    lum = (2 * ua * ub + c1) / (ua * ua + ub * ub + c1)
    cs = (2 * vab + c2) / (va + vb + c2)
    axes = (-2, -1)
    return lum.mean(axis=axes), cs.mean(axis=axes)


def _halve(x):
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    return 0.25 * (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2])


def ms_ssim_pairs(a, b, *, data_range, levels=None):
    """MS-SSIM of image pairs: ``a`` and ``b`` are (H, W) or stacks (N, H, W) of the same shape.

    Returns
    -------
    float or ndarray (N,)
    """
    if data_range is None or float(data_range) <= 0:
        raise EnhanceError("ms_ssim: data_range must be a positive number (1.0 for [0, 1] images)")
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ShapeMismatch(f"ms_ssim: need two (H, W) or (N, H, W) arrays of one shape, got "
                            f"{a.shape} and {b.shape}")
    levels = default_levels(a.shape) if levels is None else int(levels)
    if not 1 <= levels <= 5 or min(a.shape[-2:]) // 2 ** (levels - 1) < 1:
        raise EnhanceError(f"ms_ssim: {levels} scales do not fit images of shape {a.shape}")
    weights = np.asarray(WEIGHTS[:levels])
    weights = weights / weights.sum()
    result = np.ones(a.shape[:-2])
    for j in range(levels):
        lum, cs = _stats(a, b, float(data_range))
        result = result * np.clip(cs, 0.0, None) ** weights[j]
        if j == levels - 1:
            result = result * np.clip(lum, 0.0, None) ** weights[j]
        else:
            a, b = _halve(a), _halve(b)
    return float(result) if result.ndim == 0 else result


def ms_ssim(a, b, *, data_range, levels=None):
    """MS-SSIM of two (H, W) images (1.0 for identical images)."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ShapeMismatch(f"ms_ssim: expected (H, W) images, got {a.shape}")
    return ms_ssim_pairs(a, b, data_range=data_range, levels=levels)


def diversity(images, *, pairs=500, seed=0):
    """Mean MS-SSIM over random pairs of distinct images of a set (lower = more diverse).

    Parameters
    ----------
    images : ndarray (N, H, W) in [0, 1], N >= 2
    pairs : int
    seed : int

    Returns
    -------
    float
    """
    images = np.asarray(images, np.float64)
    if len(images) < 2:
        raise EnhanceError("diversity needs at least two images")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(images), pairs)
    j = (i + rng.integers(1, len(images), pairs)) % len(images)
    return float(np.mean(ms_ssim_pairs(images[i], images[j], data_range=1.0)))
