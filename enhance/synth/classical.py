"""Classical augmentation: the control that synthetic images have to beat.

:func:`classical_augment` transforms each image of a batch independently (numpy/scipy on the CPU,
every draw from one ``numpy.random.Generator``, so a seed gives the same batch again):

======================  =========================================================================
flip                    left-right, probability 1/2
rotation and shift      with probability 1/2: angle ~ U(-10, 10) degrees about the image centre,
                        (dy, dx) ~ U(-1/16, 1/16) of the side each (+-4 px at 64 x 64)
elastic deformation     with probability 1/2: a displacement field of white noise smoothed by a
                        Gaussian (sigma = side / 8), scaled to an RMS of 1.5 px (Simard et al.
                        2003, at a gentle strength)
intensity               ``gain * x ** gamma`` with gain ~ U(0.9, 1.1), gamma ~ logU(0.8, 1.25),
                        clipped to [0, 1]
======================  =========================================================================

The geometric part is one resampling (bilinear, ``mode="nearest"`` at the borders) of the
composed rotation, shift and elastic field. These are the usual settings for small medical-image
classifiers: each keeps the anatomy recognisable and the class (the label) unchanged, so
:func:`augment_batch` returns the labels as given. :data:`POLICY` holds the numbers.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeMismatch

__all__ = ["POLICY", "classical_augment", "augment_batch"]

POLICY = {
    "flip_probability": 0.5,
    "rotation_degrees": 10.0,
    "shift_fraction": 1.0 / 16.0,
    "elastic_rms_px": 1.5,
    "elastic_sigma_fraction": 1.0 / 8.0,
    "gain": (0.9, 1.1),
    "gamma": (0.8, 1.25),
    "affine_probability": 0.5,
    "elastic_probability": 0.5,
}


def _augment(batch, rng, policy):
    """All images of a (N, H, W) batch at once; the draws in a fixed order."""
    from scipy import ndimage

    n, h, w = batch.shape
    flip = rng.random(n) < policy["flip_probability"]
    angle = np.radians(rng.uniform(-policy["rotation_degrees"], policy["rotation_degrees"], n))
    shift = rng.uniform(-policy["shift_fraction"], policy["shift_fraction"], (n, 2)) * (h, w)
    affine = rng.random(n) < policy["affine_probability"]
    angle, shift = np.where(affine, angle, 0.0), np.where(affine[:, None], shift, 0.0)
    sigma = policy["elastic_sigma_fraction"] * min(h, w)
    field = ndimage.gaussian_filter(rng.standard_normal((n, 2, h, w)), (0, 0, sigma, sigma),
                                    mode="wrap", truncate=3.0)
    rms = np.sqrt(np.mean(field ** 2, axis=(1, 2, 3), keepdims=True))
    field *= policy["elastic_rms_px"] / np.where(rms > 0, rms, np.inf)
    field *= (rng.random(n) < policy["elastic_probability"])[:, None, None, None]
    gain = rng.uniform(*policy["gain"], n)[:, None, None]
    gamma = np.exp(rng.uniform(math.log(policy["gamma"][0]), math.log(policy["gamma"][1]), n))

    x = np.where(flip[:, None, None], batch[:, :, ::-1], batch).astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # output pixel (y, x) samples the input at the inverse rotation of (y, x) - shift, displaced
    ry = yy[None] - cy - shift[:, 0, None, None]
    rx = xx[None] - cx - shift[:, 1, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    src_y = cos * ry - sin * rx + cy + field[:, 0]
    src_x = sin * ry + cos * rx + cx + field[:, 1]
    index = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], (n, h, w))
    # the image index is a whole number: bilinear in (y, x) only, never across images; an image
    # left in place is returned exactly
    out = ndimage.map_coordinates(x, [index, src_y, src_x], order=1, mode="nearest")
    return np.clip(gain * np.clip(out, 0.0, 1.0) ** gamma[:, None, None], 0.0, 1.0)


def classical_augment(images, *, seed=0, policy=None):
    """Flip, rotate, shift, deform elastically and jitter the intensity of each image.

    Parameters
    ----------
    images : ndarray (N, H, W) or (H, W)
        Images in [0, 1] (not modified).
    seed : int, sequence of int or numpy.random.Generator
        The draws (``numpy.random.default_rng(seed)``); the same seed gives the same output.
    policy : dict, optional
        Overrides of :data:`POLICY`'s entries.

    Returns
    -------
    ndarray
        float32, the shape of ``images``, in [0, 1].
    """
    images = np.asarray(images)
    if images.ndim not in (2, 3):
        raise ShapeMismatch(f"classical_augment: expected (N, H, W) or (H, W) images, got "
                            f"{images.shape}")
    policy = {**POLICY, **(policy or {})}
    rng = np.random.default_rng(seed)
    batch = images[None] if images.ndim == 2 else images
    out = (_augment(batch, rng, policy) if len(batch) else batch).astype(np.float32)
    return out[0] if images.ndim == 2 else out


def augment_batch(images, labels, *, seed=0, policy=None):
    """:func:`classical_augment` of a training batch; returns ``(images, labels)``, the labels
    as given (each transform keeps the class)."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ShapeMismatch(f"augment_batch: {len(images)} images but {len(labels)} labels")
    return classical_augment(images, seed=seed, policy=policy), labels
