"""Low-light (photon-starved) restoration: gain by 1/exposure, then denoise.

The spec's model, in counts: ``y * photons = Poisson(photons * exposure * x) + N(0, (read_noise *
photons)^2)`` (then clipped to [0, 1] in ``y``). In ``y`` units this is the Poisson-Gaussian model
``var(y) = a E[y] + b`` with ``a = 1 / photons`` and ``b = read_noise^2``. Every method here must
be told ``exposure`` (it is known from the acquisition); ``photons`` and ``read_noise`` are not
given in the spec, so they are estimated from the image by :func:`noise_level_function` unless
the caller passes them (``photons=``, ``read_noise=``). The target is the well-exposed ``x``.
The noise-level fit and the generalized Anscombe transform belong to the low-light task
(:mod:`enhance.tasks.lowlight`; a model's ``vst`` input transform uses them too).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import EnhanceError
from ..tasks.lowlight import (  # noqa: F401 - the low-light task's estimate and transform
    gat_forward,
    gat_inverse_closed_form,
    gat_inverse_exact,
    noise_level_function,
)
from . import gaussian as _gaussian
from ._common import as_image, finish, per_channel, require_exposure


def gained_noise_level(image, exposure, *, photons=None, read_noise=None) -> float:
    """Root-mean-square noise std of ``y / exposure``: ``sqrt(a mean(y) + b) / exposure``.

    The single noise level to hand a Gaussian denoiser after the gain ("the right noise level"):
    the Poisson-Gaussian variance averaged over the image, with ``(a, b)`` from
    :func:`noise_level_function`.
    """
    y = np.asarray(image, dtype=np.float64)
    a, b = noise_level_function(y, photons=photons, read_noise=read_noise)
    return math.sqrt(max(a * float(np.mean(y)) + b, 1e-12)) / float(exposure)


def _lowlight_input(image, exposure, name):
    return as_image(image, name), require_exposure(exposure, name)


def gain(image, *, sigma=None, exposure=None, **_ignored):
    """Gain only: ``clip(y / exposure, 0, 1)`` -- restores the brightness, keeps all the noise."""
    y, e = _lowlight_input(image, exposure, "gain")
    return finish(y / e)


def gain_bm3d(image, *, sigma=None, exposure=None, photons=None, read_noise=None):
    """Gain by ``1/exposure``, then BM3D (``bm3d.bm3d``) with the right noise level.

    ``sigma`` (noise std of the gained image, [0, 1] units) if given, else
    :func:`gained_noise_level`: the rms Poisson-Gaussian noise of ``y / exposure`` from the fitted
    noise-level function. Colour: per channel.
    """
    import bm3d as _bm3d

    y, e = _lowlight_input(image, exposure, "gain_bm3d")

    def one(ch):
        s = gained_noise_level(ch, e, photons=photons, read_noise=read_noise) if sigma is None else float(sigma)
        return finish(_bm3d.bm3d(np.clip(ch / e, 0.0, 1.0), sigma_psd=max(s, 1e-6)))

    return finish(one(y)) if y.ndim == 2 else np.stack([one(y[..., k]) for k in range(y.shape[-1])], -1)


def clahe(image, *, sigma=None, exposure=None, clip_limit=2.0, tile_grid=(8, 8)):
    """Gain by ``1/exposure``, then contrast-limited adaptive histogram equalisation (Zuiderveld 1994).

    ``cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))`` (the common clinical setting) on the
    gained image quantised to 16 bits; no denoising. Colour: per channel.
    """
    import cv2

    y, e = _lowlight_input(image, exposure, "clahe")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tuple(int(t) for t in tile_grid))

    def one(ch):
        q = np.round(np.clip(ch / e, 0.0, 1.0) * 65535.0).astype(np.uint16)
        return op.apply(q).astype(np.float64) / 65535.0

    return finish(one(y)) if y.ndim == 2 else np.stack([finish(one(y[..., k])) for k in range(y.shape[-1])], -1)


@per_channel
def vst_bm3d(image, *, sigma=None, exposure=None, photons=None, read_noise=None, inverse="exact"):
    """Generalized Anscombe transform + BM3D + exact unbiased inverse, then divided by exposure.

    The strongest classical recipe for Poisson-Gaussian data (Makitalo & Foi 2013). Steps:
    (1) ``(a, b)`` = (1/photons, read_noise^2) as given or fitted by :func:`noise_level_function`
    on the dark input; (2) counts ``z = y / a``, read noise ``s = sqrt(b) / a`` counts;
    (3) ``D = GAT(z)``, BM3D with ``sigma_psd = 1`` (the GAT's stabilised noise level);
    (4) ``lambda = exact unbiased inverse(D)`` (:func:`gat_inverse_exact`, which accounts for the
    clip at 0 and 1; ``inverse="closed_form"`` uses Makitalo & Foi's 2011 closed form instead);
    (5) ``x = lambda * a / exposure``, clipped to [0, 1]. ``sigma`` is not used: the noise level in
    the VST domain is 1 by construction. Colour: per channel.
    """
    import bm3d as _bm3d

    e = require_exposure(exposure, "vst_bm3d")
    a, b = noise_level_function(image, photons=photons, read_noise=read_noise)
    s = math.sqrt(b) / a
    dom = gat_forward(image / a, s)
    den = _bm3d.bm3d(dom, sigma_psd=1.0)
    if inverse == "exact":
        lam = gat_inverse_exact(den, s, upper=1.0 / a)
    elif inverse == "closed_form":
        lam = gat_inverse_closed_form(den, s)
    else:
        raise EnhanceError(f"vst_bm3d: inverse must be 'exact' or 'closed_form', got {inverse!r}")
    return lam * a / e


def vst_filter(image, method, *, exposure=None, photons=None, read_noise=None, **options):
    """Any Gaussian-noise method of :mod:`.gaussian` in the variance-stabilised domain.

    The recipe of :func:`vst_bm3d` with another denoiser in BM3D's place: the generalized
    Anscombe transform makes the Poisson-Gaussian noise unit-variance Gaussian; the transformed
    image is divided by the transform of the largest possible value (a full-scale pixel,
    ``1/a`` counts: a bound of the model, not of the image), so that it lies in [0, 1] with noise
    std ``1 / scale``, which the method is told as its ``sigma``; its output is scaled back,
    inverted exactly (:func:`gat_inverse_exact`) and divided by the exposure. ``method`` is a
    function of :mod:`.gaussian` (``nlm``, ``tv``, ``wavelet``, ``bilateral``, ``median``,
    ``gaussian_filter``, ``bm3d``); ``options`` are passed to it. Colour: per channel.
    """
    e = require_exposure(exposure, f"vst_{method.__name__}")
    y = as_image(image, f"vst_{method.__name__}")

    def one(channel):
        a, b = noise_level_function(channel, photons=photons, read_noise=read_noise)
        s = math.sqrt(b) / a
        scale = float(gat_forward(np.asarray(1.0 / a), s))
        dom = gat_forward(channel / a, s) / scale
        den = np.asarray(method(dom, sigma=1.0 / scale, **options), np.float64) * scale
        return finish(gat_inverse_exact(den, s, upper=1.0 / a) * a / e)

    return one(y) if y.ndim == 2 else np.stack([one(y[..., k]) for k in range(y.shape[-1])], -1)


def _vst(method):
    def restore(image, *, sigma=None, exposure=None, photons=None, read_noise=None):
        return vst_filter(image, method, exposure=exposure, photons=photons, read_noise=read_noise)

    restore.__name__ = f"vst_{method.__name__}"
    restore.__doc__ = (f"Generalized Anscombe transform, :func:`.gaussian.{method.__name__}` told the "
                       f"stabilised noise level, exact unbiased inverse, / exposure "
                       f"(:func:`vst_filter`). ``sigma`` is not used.")
    return restore


vst_gaussian_filter = _vst(_gaussian.gaussian_filter)
vst_median = _vst(_gaussian.median)
vst_bilateral = _vst(_gaussian.bilateral)
vst_nlm = _vst(_gaussian.nlm)
vst_wavelet = _vst(_gaussian.wavelet)
vst_tv = _vst(_gaussian.tv)
