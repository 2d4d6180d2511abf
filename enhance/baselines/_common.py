"""Helpers shared by the baseline families: input checks, per-channel application, noise level."""

from __future__ import annotations

import functools

import numpy as np

from ..errors import EnhanceError, ShapeMismatch


def as_image(image, name: str) -> np.ndarray:
    """Return ``image`` as a float64 (H, W) or (H, W, C) array; reject other shapes and dtypes."""
    image = np.asarray(image)
    if image.dtype == bool or not (
        np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)
    ):
        raise EnhanceError(f"{name}: expected a numeric image, got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.integer):
        raise EnhanceError(
            f"{name}: expected a float image in [0, 1], got dtype {image.dtype}; "
            "read files with enhance.io.read_image"
        )
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 2:
        raise ShapeMismatch(f"{name}: expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    image = image.astype(np.float64)
    if not np.all(np.isfinite(image)):
        raise EnhanceError(f"{name}: the image contains NaN or infinite values")
    return image


def finish(image) -> np.ndarray:
    """The baselines' output convention: float32, clipped to [0, 1]."""
    return np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0).astype(np.float32)


def per_channel(func):
    """Make a 2-D baseline accept (H, W, C) images by denoising each channel independently.

    Options (noise level included) are resolved per channel by the wrapped 2-D function, so a
    ``sigma=None`` is estimated channel by channel.
    """

    @functools.wraps(func)
    def wrapper(image, **options):
        image = as_image(image, func.__name__)
        if image.ndim == 2:
            return finish(func(image, **options))
        return np.stack(
            [finish(func(image[..., k], **options)) for k in range(image.shape[-1])], axis=-1
        )

    return wrapper


def resolve_sigma(image: np.ndarray, sigma) -> float:
    """``sigma`` if given (in [0, 1] units), else :func:`enhance.metrics.estimate_noise` of ``image``."""
    from ..metrics import estimate_noise

    if sigma is None:
        sigma = estimate_noise(image)
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma < 0:
        raise EnhanceError(f"sigma must be a non-negative number in [0, 1] units, got {sigma}")
    return max(sigma, 1e-6)


def require_exposure(exposure, name: str) -> float:
    """Check the exposure a low-light method must be told (spec: it is known from the acquisition)."""
    if exposure is None:
        raise EnhanceError(
            f"{name} restores low-light images and must be told the exposure "
            "(exposure=0.1, or --exposure 0.1 on the command line)"
        )
    exposure = float(exposure)
    if not np.isfinite(exposure) or not 0.0 < exposure <= 1.0:
        raise EnhanceError(f"{name}: exposure must be in (0, 1], got {exposure}")
    return exposure
