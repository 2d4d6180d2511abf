"""Degradation models of the project's degradation spec (v1): the definitions used everywhere.

Every function takes a clean image ``x`` (float array in [0, 1]) and a
:class:`numpy.random.Generator` ``rng`` and returns a float32 image in [0, 1]. The random draws
are made in the order the spec fixes, so that one seed gives one noisy image everywhere.

The named presets (``gaussian15``, ``gaussian25``, ``gaussian50``, ``lowlight``, ``speckle``,
``rician``, ``lowdose_ct``) belong to the restoration tasks that own them: see
:func:`enhance.tasks.resolve` and :func:`enhance.tasks.degrade`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import EnhanceError

__all__ = [
    "gaussian",
    "lowlight",
    "speckle",
    "rician",
    "lowdose_ct",
    "speckle_mean_correction",
    "Degradation",
    "benchmark_seed",
]


def _as_float(x):
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise EnhanceError(
            f"degradations take float images in [0, 1], got dtype {x.dtype}; "
            "read files with enhance.io.read_image"
        )
    return x.astype(np.float64, copy=False)


def _require_2d(x, name):
    if x.ndim != 2:
        raise EnhanceError(f"{name} takes a 2-D grayscale image, got shape {x.shape}")


def gaussian(x, rng, sigma=25 / 255):
    """Additive white Gaussian noise, clipped to [0, 1].

    ``y = clip(x + sigma * N, 0, 1)`` with ``N = rng.standard_normal(x.shape)``.

    Parameters
    ----------
    x : ndarray
        Clean image, float in [0, 1], any shape.
    rng : numpy.random.Generator
        Source of randomness.
    sigma : float, optional
        Noise standard deviation in [0, 1] units (25/255 by default).

    Returns
    -------
    ndarray of float32
    """
    x = _as_float(x)
    noise = rng.standard_normal(x.shape)
    return np.clip(x + sigma * noise, 0.0, 1.0).astype(np.float32)


def lowlight(x, rng, exposure=0.1, photons=1000, read_noise=0.002):
    """A photon-starved acquisition: Poisson shot noise at a short exposure, plus read noise.

    ``y = clip(Poisson(photons * exposure * x) / photons + read_noise * N, 0, 1)``; the Poisson
    field is drawn first, then the standard normal one. The output is dark (about ``exposure``
    times the clean brightness); the restoration target is the well-exposed ``x``.

    Parameters
    ----------
    x : ndarray
        Clean, well-exposed image, float in [0, 1], any shape.
    rng : numpy.random.Generator
    exposure : float, optional
        Fraction of the light the sensor sees (0.1).
    photons : float, optional
        Expected photon count of a full-scale pixel at full exposure (1000).
    read_noise : float, optional
        Standard deviation of the additive read noise, in output units (0.002).

    Returns
    -------
    ndarray of float32
    """
    x = _as_float(x)
    counts = rng.poisson(photons * exposure * np.clip(x, 0.0, None))
    noise = rng.standard_normal(x.shape)
    return np.clip(counts / photons + read_noise * noise, 0.0, 1.0).astype(np.float32)


def _gaussian_kernel1d(sigma, truncate=4.0):
    """The normalised 1-D kernel scipy.ndimage.gaussian_filter uses (same radius rule)."""
    if sigma <= 0:
        return np.ones(1)
    radius = int(truncate * float(sigma) + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (t / sigma) ** 2)
    return phi / phi.sum()


def speckle_mean_correction(looks):
    """``c(L) = Gamma(L) sqrt(L) / Gamma(L + 1/2)``: keeps the envelope's mean at the echogenicity."""
    from scipy.special import gammaln

    return math.exp(gammaln(looks) - gammaln(looks + 0.5)) * math.sqrt(looks)


def speckle(x, rng, looks=2, psf_sigma=(1.0, 1.5), thermal=0.02):
    """A portable-ultrasound B-mode image: PSF-blurred, compounded speckle plus thermal noise.

    For each look ``l``: ``s_l = (N + i N') / sqrt(2)``; ``e_l = G_psf * (x s_l) / sqrt(sum h^2)``;
    then ``env = sqrt(mean_l |e_l|^2) c(looks)`` and ``y = clip(env + thermal N, 0, 1)``.
    Draw order: per look the real then the imaginary field, then the thermal field.

    Parameters
    ----------
    x : ndarray, shape (H, W)
        Echogenicity (clean image), float in [0, 1].
    rng : numpy.random.Generator
    looks : int, optional
        Number of independent looks compounded (2).
    psf_sigma : (float, float), optional
        Gaussian PSF sigma in pixels, (axial = rows, lateral = columns).
    thermal : float, optional
        Standard deviation of the additive thermal noise (0.02).

    Returns
    -------
    ndarray of float32, shape (H, W)
    """
    from scipy.ndimage import gaussian_filter

    x = _as_float(x)
    _require_2d(x, "speckle")
    looks = int(looks)
    if looks < 1:
        raise EnhanceError(f"speckle needs looks >= 1, got {looks}")
    sig = tuple(float(s) for s in np.broadcast_to(np.asarray(psf_sigma, float), (2,)))
    h_norm = math.sqrt(
        float(np.sum(_gaussian_kernel1d(sig[0]) ** 2) * np.sum(_gaussian_kernel1d(sig[1]) ** 2))
    )
    power = np.zeros(x.shape)
    for _ in range(looks):
        real = rng.standard_normal(x.shape)
        imag = rng.standard_normal(x.shape)
        scale = x / math.sqrt(2.0)
        e_re = gaussian_filter(scale * real, sig, mode="reflect", truncate=4.0)
        e_im = gaussian_filter(scale * imag, sig, mode="reflect", truncate=4.0)
        power += (e_re**2 + e_im**2) / h_norm**2
    env = np.sqrt(power / looks) * speckle_mean_correction(looks)
    noise = rng.standard_normal(x.shape)
    return np.clip(env + thermal * noise, 0.0, 1.0).astype(np.float32)


def rician(x, rng, sigma=0.05):
    """Magnitude MR noise ``|x + sigma N + i sigma N'|`` (N drawn first), clipped to [0, 1].

    Parameters
    ----------
    x : ndarray
        Clean magnitude image, float in [0, 1].
    rng : numpy.random.Generator
    sigma : float, optional
        Standard deviation of the noise in each of the real and imaginary channels.

    Returns
    -------
    ndarray of float32
    """
    x = _as_float(x)
    real = x + sigma * rng.standard_normal(x.shape)
    imag = sigma * rng.standard_normal(x.shape)
    return np.clip(np.hypot(real, imag), 0.0, 1.0).astype(np.float32)


#: Line integrals are taken as if the image spanned 20 cm and x = 1 were an attenuation of
#: 0.2 / cm (about water at 70 keV): the longest ray through a full image attenuates by ~e^-4.
_CT_ATTENUATION_PER_IMAGE_WIDTH = 4.0


def lowdose_ct(x, rng, i0=1e4, angles=360):
    """Low-dose CT: Poisson noise on the transmitted counts, reconstructed by filtered back-projection.

    ``p = radon(x) * mu``; counts ``~ Poisson(i0 exp(-p))`` (zero counts clamped to 1);
    ``p' = -log(counts / i0)``; ``y = clip(iradon(p') / mu, 0, 1)`` with a ramp filter. ``mu``
    scales pixel sums to line integrals as if the image were 20 cm wide with x = 1 meaning
    0.2 / cm (water). Non-square images are zero-padded to a square and cropped back.

    Parameters
    ----------
    x : ndarray, shape (H, W)
        Attenuation image, float in [0, 1].
    rng : numpy.random.Generator
    i0 : float, optional
        Incident photons per detector bin (1e4; lower is noisier).
    angles : int, optional
        Number of projection angles over 180 degrees (360).

    Returns
    -------
    ndarray of float32, shape (H, W)
    """
    from skimage.transform import iradon, radon

    x = _as_float(x)
    _require_2d(x, "lowdose_ct")
    h, w = x.shape
    n = max(h, w)
    square = np.zeros((n, n))
    top, left = (n - h) // 2, (n - w) // 2
    square[top : top + h, left : left + w] = x
    mu = _CT_ATTENUATION_PER_IMAGE_WIDTH / n
    theta = np.linspace(0.0, 180.0, int(angles), endpoint=False)
    sinogram = radon(square, theta=theta, circle=False) * mu
    counts = rng.poisson(i0 * np.exp(-sinogram))
    measured = -np.log(np.maximum(counts, 1) / i0)
    recon = iradon(measured, theta=theta, circle=False, filter_name="ramp", output_size=n) / mu
    return np.clip(recon[top : top + h, left : left + w], 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Degradation:
    """A named degradation: a function of the spec (or a task's own) and its parameters.

    ``task`` is the restoration task it belongs to (:mod:`enhance.tasks`, which makes these:
    :func:`enhance.tasks.resolve`); ``function`` is applied as ``function(x, rng, **params)``.
    """

    name: str
    task: str
    params: dict = field(default_factory=dict)
    function: Callable = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not callable(self.function):
            raise EnhanceError(f"degradation {self.name!r} has no function; make it with "
                               "enhance.tasks.resolve")

    @property
    def resolved_params(self):
        """Every parameter the function is called with: ``params`` over the function's defaults
        (tuples as lists), e.g. for a manifest: ``lowlight`` gives exposure, photons, read_noise."""
        import inspect

        defaults = {
            name: p.default
            for name, p in inspect.signature(self.function).parameters.items()
            if name not in ("x", "rng") and p.default is not inspect.Parameter.empty
        }
        merged = {**defaults, **self.params}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}

    def __call__(self, x, rng):
        return self.function(x, rng, **self.params)


def benchmark_seed(degradation_index, image_index):
    """The spec's seed for the i-th image (sorted by relative path) under the d-th degradation."""
    return 1000 * int(degradation_index) + int(image_index)
