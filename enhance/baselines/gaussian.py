"""Classical denoisers for additive white Gaussian noise (``sigma`` in [0, 1] units).

Every function takes ``(image, *, sigma=None, ...)`` and returns float32 in [0, 1]. When
``sigma`` is None it is estimated from the image with :func:`enhance.metrics.estimate_noise`.
Colour images are denoised channel by channel (see :func:`._common.per_channel`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._common import as_image, finish, per_channel, resolve_sigma


def identity(image, *, sigma=None, **_ignored):
    """The noisy input itself (clipped to [0, 1], float32): the reference every method must beat."""
    return finish(as_image(image, "identity"))


# Candidate widths for the SURE search of the Gaussian filter (pixels).
_GAUSS_WIDTHS = np.geomspace(0.3, 5.0, 25)


@per_channel
def gaussian_filter(image, *, sigma=None, width=None):
    """Isotropic Gaussian smoothing whose width minimises Stein's unbiased risk estimate.

    For a linear filter ``H`` and white noise of std ``sigma`` the MSE is estimated without the
    clean image by SURE (Stein 1981): ``|y - Hy|^2 / N - sigma^2 + 2 sigma^2 tr(H) / N``, with
    ``tr(H) / N`` the kernel's central tap. The width (standard deviation of the kernel, pixels) is
    the minimiser over 25 widths from 0.3 to 5 px (``scipy.ndimage.gaussian_filter``, reflect
    boundary). ``width=`` fixes it instead.
    """
    if width is not None:
        return ndi.gaussian_filter(image, float(width), mode="reflect")
    s = resolve_sigma(image, sigma)
    best, best_risk = image, np.inf
    for w in _GAUSS_WIDTHS:
        out = ndi.gaussian_filter(image, w, mode="reflect")
        impulse = np.zeros(2 * int(4.0 * w + 0.5) + 1)
        impulse[impulse.size // 2] = 1.0
        centre = ndi.gaussian_filter1d(impulse, w, mode="constant")[impulse.size // 2] ** 2
        risk = np.mean((image - out) ** 2) - s * s + 2.0 * s * s * centre
        if risk < best_risk:
            best, best_risk = out, risk
    return best


@per_channel
def median(image, *, sigma=None, size=None):
    """Median filter over a square window (reflect boundary).

    Size rule (usual practice, e.g. Gonzalez & Woods): 3 x 3 for moderate noise
    (``sigma <= 0.2``), 5 x 5 for strong noise (``sigma <= 0.3``), 7 x 7 beyond. When ``sigma`` is
    not given it is estimated, and the noise is also checked for spatial correlation (speckle
    grain spanning several pixels): if the median 5 x 5 local standard deviation exceeds twice
    the finest-scale wavelet estimate (:func:`enhance.metrics.estimate_noise`), the finest
    scale misses most of the noise, and the window is at least 5 x 5 so that it covers a grain.
    ``size=`` fixes the window.
    """
    from ..metrics import estimate_noise

    if size is None:
        if sigma is not None:
            s, correlated = resolve_sigma(image, sigma), False
        else:
            fine = estimate_noise(image)
            m = ndi.uniform_filter(image, 5, mode="reflect")
            local = float(np.median(np.sqrt(np.maximum(
                ndi.uniform_filter(image * image, 5, mode="reflect") - m * m, 0.0))))
            s, correlated = max(fine, local), local > 2.0 * fine
        size = 3 if s <= 0.2 else (5 if s <= 0.3 else 7)
        if correlated:
            size = max(size, 5)
    return ndi.median_filter(image, size=int(size), mode="reflect")


@per_channel
def bilateral(image, *, sigma=None, sigma_color=None, sigma_space=2.0):
    """Bilateral filter (Tomasi & Manduchi 1998), ``cv2.bilateralFilter`` on float32.

    Parameters from Zhang & Gunturk (2008, "Multiresolution bilateral filtering for image
    denoising"): the optimal range parameter is about twice the noise level,
    ``sigma_color = 2 sigma``, and the optimal spatial parameter is nearly independent of it,
    1.5 - 2.1 px (``sigma_space = 2``). Window diameter ``2 ceil(2 sigma_space) + 1``.
    """
    import cv2

    s = resolve_sigma(image, sigma)
    sc = 2.0 * s if sigma_color is None else float(sigma_color)
    d = 2 * int(np.ceil(2.0 * sigma_space)) + 1
    return cv2.bilateralFilter(image.astype(np.float32), d, sc, float(sigma_space))


@per_channel
def nlm(image, *, sigma=None, h=None, patch_size=5, patch_distance=6):
    """Non-local means (Buades, Coll & Morel 2005), ``skimage.restoration.denoise_nl_means``.

    Fast mode with the noise level given (``sigma=sigma``, so patch distances are reduced by
    ``2 sigma^2``) and ``h = 0.6 sigma``, 5 x 5 patches, 13 x 13 search window: scikit-image's
    documented setting for ``fast_mode=True`` with ``sigma`` provided.
    """
    from skimage.restoration import denoise_nl_means

    s = resolve_sigma(image, sigma)
    return denoise_nl_means(
        image,
        h=0.6 * s if h is None else float(h),
        sigma=s,
        fast_mode=True,
        patch_size=int(patch_size),
        patch_distance=int(patch_distance),
    )


@per_channel
def wavelet(image, *, sigma=None, wavelet="db2"):
    """Wavelet soft thresholding with BayesShrink (Chang, Yu & Vetterli 2000).

    ``skimage.restoration.denoise_wavelet(method="BayesShrink", mode="soft")``: one threshold per
    subband, ``sigma^2 / sigma_x`` with ``sigma_x`` the subband's estimated signal std; Daubechies-2
    wavelet, scikit-image's default number of levels.
    """
    from skimage.restoration import denoise_wavelet

    s = resolve_sigma(image, sigma)
    return denoise_wavelet(
        image, sigma=s, wavelet=wavelet, method="BayesShrink", mode="soft", rescale_sigma=True
    )


@per_channel
def tv(image, *, sigma=None, weight=None):
    """Total-variation denoising (Rudin, Osher & Fatemi 1992), Chambolle's 2004 projection algorithm.

    ``skimage.restoration.denoise_tv_chambolle`` with the regularisation weight proportional to the
    noise level, ``weight = 0.75 sigma`` (the ROF weight scales linearly with sigma; the constant
    is calibrated on the Shepp-Logan phantom and ``camera`` at sigma 15 - 50/255; the
    discrepancy principle ``|u - y| = sigma sqrt(N)`` over-smooths clipped [0, 1] images).
    """
    from skimage.restoration import denoise_tv_chambolle

    s = resolve_sigma(image, sigma)
    return denoise_tv_chambolle(image, weight=0.75 * s if weight is None else float(weight))


@per_channel
def bm3d(image, *, sigma=None, profile="np"):
    """BM3D (Dabov et al. 2007), the reference implementation: ``bm3d.bm3d(image, sigma_psd=sigma)``.

    Both stages (hard thresholding, then Wiener), the package's default "np" profile.
    """
    import bm3d as _bm3d

    s = resolve_sigma(image, sigma)
    return _bm3d.bm3d(image, sigma_psd=s, profile=profile)
