"""Low-light (photon-starved) restoration: gain by 1/exposure, then denoise.

The spec's model, in counts: ``y * photons = Poisson(photons * exposure * x) + N(0, (read_noise *
photons)^2)`` (then clipped to [0, 1] in ``y``). In ``y`` units this is the Poisson-Gaussian model
``var(y) = a E[y] + b`` with ``a = 1 / photons`` and ``b = read_noise^2``. Every method here must
be told ``exposure`` (it is known from the acquisition); ``photons`` and ``read_noise`` are not
given in the spec, so they are estimated from the image by :func:`noise_level_function` unless
the caller passes them (``photons=``, ``read_noise=``). The target is the well-exposed ``x``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ..errors import EnhanceError
from ._common import as_image, finish, per_channel, require_exposure

# Bounds of the fitted Poisson gain a = 1/photons (photons between 1 and 1e6).
_A_MIN, _A_MAX = 1e-6, 1.0


def noise_level_function(image, *, photons=None, read_noise=None, bins=16, edge_factor=6.0, passes=1):
    """Fit the Poisson-Gaussian noise-level function ``var(y) = a * mean(y) + b`` of one image.

    Returns ``(a, b)`` in ``y`` units (``a = 1/photons``, ``b = read_noise^2``). Known values
    are used as given; the others are fitted, in the spirit of Foi et al. 2008 ("Practical
    Poissonian-Gaussian noise modeling and fitting for single-image raw-data"): the image is cut in
    2 x 2 blocks; each block gives a noise sample, its orthonormal Haar diagonal coefficient ``d``
    (``var(d)`` = mean of the 4 pixel variances), and a local level, the 4 x 4 mean around it.
    Blocks with a pixel at 0 or 1 (clipped) are dropped; the rest are split in ``bins``
    equal-count bins of level; each bin gives a robust variance ``(median|d| / 0.6745)^2``; bins
    within two noise standard deviations of 0 (clipping bias) are dropped; ``(a, b)`` is the
    non-negative weighted least-squares fit (weights ``1 / var^2``, the variance of a variance
    estimate). Optional further passes (``passes=2``) drop edge and texture blocks -- those whose
    horizontal plus vertical Haar energy exceeds ``edge_factor`` times the variance the previous
    fit predicts at their level (``chi2(2)``-distributed under pure noise, independent of ``d``)
    -- and refit: better on textured photographs, worse on piecewise-constant phantoms (few
    levels), hence off by default. Accuracy of ``photons`` on 128 x 128 test images: within
    ~15 % at the spec's defaults; it degrades when read noise dominates (many photons).
    """
    from scipy.optimize import nnls

    y = np.asarray(image, dtype=np.float64)
    a_known = None if photons is None else 1.0 / float(photons)
    b_known = None if read_noise is None else float(read_noise) ** 2
    if a_known is not None and b_known is not None:
        return a_known, b_known
    h2, w2 = y.shape[0] - y.shape[0] % 2, y.shape[1] - y.shape[1] % 2
    p = [y[i:h2:2, j:w2:2] for i in (0, 1) for j in (0, 1)]
    d = ((p[0] - p[1] - p[2] + p[3]) / 2.0).ravel()
    act = (((p[0] + p[1] - p[2] - p[3]) / 2.0) ** 2 + ((p[0] - p[1] + p[2] - p[3]) / 2.0) ** 2).ravel()
    level = ndi.uniform_filter(y, 4, mode="reflect", origin=-1)[0:h2:2, 0:w2:2].ravel()
    keep = np.all([(q > 0.0) & (q < 1.0) for q in p], axis=0).ravel()
    d, level, act = d[keep], level[keep], act[keep]

    def fit(sel):
        pts = []
        if sel.sum() >= 2 * 32:
            dd, ll = d[sel], level[sel]
            nb = int(max(2, min(bins, dd.size // 32)))
            for chunk in np.array_split(np.argsort(ll), nb):
                var = (np.median(np.abs(dd[chunk])) / 0.6744897501960817) ** 2
                mu = float(np.mean(ll[chunk]))
                if var > 0 and mu > 2.0 * math.sqrt(var):
                    pts.append((mu, var))
        if not pts:
            return None
        mu, var = np.array(pts).T
        wgt = 1.0 / var
        if a_known is not None:
            return a_known, max(float(np.sum(wgt**2 * (var - a_known * mu)) / np.sum(wgt**2)), 0.0)
        if b_known is not None:
            a = float(np.sum(wgt**2 * mu * (var - b_known)) / np.sum(wgt**2 * mu * mu))
            return float(np.clip(a, _A_MIN, _A_MAX)), b_known
        if mu.size == 1:
            return float(np.clip(var[0] / mu[0], _A_MIN, _A_MAX)), 0.0
        (a, b), _ = nnls(np.stack([mu, np.ones_like(mu)], axis=1) * wgt[:, None], var * wgt)
        return float(np.clip(a, _A_MIN, _A_MAX)), float(b)

    result = fit(np.ones(d.size, dtype=bool))
    if result is None:
        return (a_known if a_known is not None else 1.0 / 1000.0), (b_known if b_known is not None else 0.0)
    for _ in range(int(passes) - 1):
        refit = fit(act <= edge_factor * (result[0] * level + result[1]))
        if refit is None:
            break
        result = refit
    return result


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


# ---------------------------------------------------------------- generalized Anscombe transform
def gat_forward(counts, read_sigma):
    """Generalized Anscombe transform in count units: ``2 sqrt(max(z + 3/8 + s^2, 0))``.

    For ``z = Poisson(lambda) + N(0, s^2)`` the output has variance ~1 (Starck, Murtagh & Bijaoui
    1998; Makitalo & Foi 2013 with ``alpha = 1, mu = 0``).
    """
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, dtype=np.float64) + 0.375 + read_sigma**2, 0.0))


def gat_inverse_closed_form(d, read_sigma):
    """Closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2011, IEEE TIP 20(1)).

    ``1/4 D^2 + 1/4 sqrt(3/2) D^-1 - 11/8 D^-2 + 5/8 sqrt(3/2) D^-3 - 1/8 - s^2``, clipped at 0
    (the Poisson-Gaussian form used in Makitalo & Foi 2013); counts units.
    """
    d = np.maximum(np.asarray(d, dtype=np.float64), 1e-6)
    r = math.sqrt(1.5)
    out = 0.25 * d**2 + 0.25 * r / d - 1.375 / d**2 + 0.625 * r / d**3 - 0.125 - read_sigma**2
    return np.maximum(out, 0.0)


def gat_inverse_exact(d, read_sigma, upper=np.inf, lam_exact=200.0):
    """Exact unbiased inverse of the GAT (Makitalo & Foi 2013, IEEE TIP 22(1)), computed numerically.

    ``E[f(z) | lambda]`` is tabulated for ``z = clip(Poisson(lambda) + s N, 0, upper)`` -- the clip
    is the spec's clip of ``y`` to [0, 1], so the inverse is unbiased for the data actually
    observed -- on 600 values of ``lambda`` in [0, ``lam_exact``] (Poisson sum over k, the normal
    on a 121-point grid over +-6 s); ``D`` is mapped back by monotone interpolation. Above
    ``lam_exact`` counts the closed form (:func:`gat_inverse_closed_form`) is used; the two agree
    there to far below the noise.
    """
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    s = float(read_sigma)
    lam = np.linspace(0.0, math.sqrt(lam_exact), 600) ** 2
    kmax = int(lam_exact + 12.0 * math.sqrt(lam_exact) + 20.0)
    k = np.arange(kmax + 1, dtype=np.float64)
    if s > 0:
        t = np.linspace(-6.0, 6.0, 121)
        w = stats.norm.pdf(t)
        w /= w.sum()
        z = np.clip(k[:, None] + s * t[None, :], 0.0, upper)
        g = gat_forward(z, s) @ w
    else:
        g = gat_forward(np.clip(k, 0.0, upper), 0.0)
    pmf = stats.poisson.pmf(k[None, :], lam[:, None])
    pmf[0, 0] = 1.0  # lambda = 0: all mass at k = 0
    expect = pmf @ g
    expect = np.maximum.accumulate(expect)  # guard monotonicity against round-off
    out = np.interp(d, expect, lam)
    high = d > expect[-1]
    if np.any(high):
        out[high] = gat_inverse_closed_form(d[high], s)
    below = d < expect[0]
    out[below] = 0.0
    return out


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
