"""Despeckling filters for ultrasound B-mode images (the spec's ``speckle`` model).

Speckle is multiplicative: ``y ~ x u`` with ``E[u] = 1`` and coefficient of variation ``Cu``
(about 0.36 for the spec's 2-look amplitude envelope: ``Cu^2 = c(L)^2 - 1``). The local-statistics
filters take ``cu=`` or ``looks=`` when it is known; otherwise ``Cu`` is estimated from the image
as the median of the local coefficient of variation (std / mean over the filter's window, windows
with mean > 0.05), following Aja-Fernandez & Alberola-Lopez (2006, "On the estimation of the
coefficient of variation for anisotropic diffusion speckle filtering"): most windows are
homogeneous, and using the filter's own window makes the estimate consistent with the local
statistics the filter compares it with. ``sigma`` (additive Gaussian level) is not used by
Lee, Frost and SRAD; for :func:`bm3d_log` it is the noise level in the log domain.
All filters are vectorised numpy / scipy; colour images are filtered per channel.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ..errors import EnhanceError
from ._common import per_channel

_TINY = 1e-12


def _local_stats(image, window):
    m = ndi.uniform_filter(image, window, mode="reflect")
    v = np.maximum(ndi.uniform_filter(image * image, window, mode="reflect") - m * m, 0.0)
    return m, v


def looks_to_cu(looks) -> float:
    """Coefficient of variation of an L-look amplitude envelope normalised as in the spec."""
    from scipy.special import gammaln

    looks = float(looks)
    if looks <= 0:
        raise EnhanceError(f"looks must be positive, got {looks}")
    c = math.exp(gammaln(looks) - gammaln(looks + 0.5)) * math.sqrt(looks)
    return math.sqrt(max(c * c - 1.0, 0.0))


def _median_over_tissue(image, window, statistic):
    """Median of ``statistic(mean, variance)`` over ``window`` x ``window`` windows with mean > 0.05
    (any mean > 0 when fewer than 16 such windows); 0 for a black image."""
    m, v = _local_stats(np.asarray(image, dtype=np.float64), int(window))
    ok = m > 0.05
    if ok.sum() < 16:
        ok = m > _TINY
    if not ok.any():
        return 0.0
    return float(np.median(statistic(m[ok], v[ok])))


def estimate_cu(image, window=7) -> float:
    """Median local coefficient of variation over ``window`` x ``window`` windows with mean > 0.05."""
    return _median_over_tissue(image, window, lambda m, v: np.sqrt(v) / m)


def _resolve_cu(image, cu, looks, window):
    if cu is not None:
        return float(cu)
    if looks is not None:
        return looks_to_cu(looks)
    return estimate_cu(image, window)


@per_channel
def lee(image, *, sigma=None, cu=None, looks=None, window=7):
    """Lee filter (Lee 1980, "Digital image enhancement and noise filtering by use of local statistics").

    ``x = m + k (y - m)`` with the local mean ``m`` and variance ``v`` over a ``window`` x
    ``window`` box (7 x 7, the usual size for ultrasound) and ``k = clip(1 - Cu^2 / Ci^2, 0, 1)``,
    ``Ci^2 = v / m^2``: homogeneous areas (``Ci ~ Cu``) are averaged, edges (``Ci >> Cu``) kept.
    This is the weight of the usual simplified form (as in Lopes, Touzi & Nezry 1990); Lee's
    multiplicative-noise weight has a further factor ``1 / (1 + Cu^2)`` (0.67 for 2 looks), which
    keeps more of the noisy pixel everywhere.
    """
    window = int(window)
    c2 = _resolve_cu(image, cu, looks, window) ** 2
    m, v = _local_stats(image, window)
    ci2 = v / np.maximum(m * m, _TINY)
    k = np.clip(1.0 - c2 / np.maximum(ci2, _TINY), 0.0, 1.0)
    return m + k * (image - m)


@per_channel
def frost(image, *, sigma=None, damping=2.0, window=7):
    """Frost filter (Frost et al. 1982), vectorised.

    Each output pixel is the average of its ``window`` x ``window`` neighbourhood with weights
    ``exp(-damping * Ci^2 * |t|)`` (``|t|`` the Euclidean distance to the centre, ``Ci^2 = v / m^2``
    the local squared coefficient of variation): near-uniform weights in homogeneous speckle,
    a sharp kernel at edges. Damping factor 2, 7 x 7 window. The sum is evaluated ring by ring
    (one box convolution per distinct distance), so the cost is a few array operations.
    """
    window = int(window)
    r = window // 2
    m, v = _local_stats(image, window)
    alpha = float(damping) * v / np.maximum(m * m, _TINY)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    dist = np.hypot(dy, dx)
    num = np.zeros_like(image)
    den = np.zeros_like(image)
    for d in np.unique(dist):
        ring = (dist == d).astype(np.float64)
        weight = np.exp(-alpha * d)
        num += weight * ndi.correlate(image, ring, mode="reflect")
        den += weight * ring.sum()
    return num / den


@per_channel
def srad(image, *, sigma=None, cu=None, looks=None, iterations=50, time_step=0.2, rho=1.0 / 6.0):
    """Speckle reducing anisotropic diffusion (Yu & Acton 2002, IEEE TIP 11(11)).

    Explicit scheme of the paper (eqs. 26-33): instantaneous coefficient of variation
    ``q^2 = (|grad I|^2 / (2 I^2) - (lap I)^2 / (16 I^2)) / (1 + lap I / (4 I))^2`` from 4-neighbour
    differences, diffusion ``c(q) = 1 / (1 + (q^2 - q0^2) / (q0^2 (1 + q0^2)))`` clipped to [0, 1],
    update ``I += dt/4 div(c grad I)``. Speckle scale ``q0(t) = q0 exp(-rho t)`` with the paper's
    ``rho = 1/6``; ``q0`` = ``cu`` / from ``looks`` / the median local coefficient of variation
    (5 x 5). Fixed 50 iterations with ``dt = 0.2`` (stable for ``dt <= 0.25``; diffusion time 10).
    """
    offset = 1e-3  # keeps I > 0 where the image is black
    q0 = _resolve_cu(image, cu, looks, 5)
    if q0 <= 0:
        return image
    img = image + offset
    dt = float(time_step)
    for it in range(int(iterations)):
        q0s = (q0 * math.exp(-rho * it * dt)) ** 2
        p = np.pad(img, 1, mode="edge")
        dn = p[:-2, 1:-1] - img
        ds = p[2:, 1:-1] - img
        dw = p[1:-1, :-2] - img
        de = p[1:-1, 2:] - img
        g2 = (dn * dn + ds * ds + dw * dw + de * de) / (img * img)
        lap = (dn + ds + dw + de) / img
        q2 = (0.5 * g2 - lap * lap / 16.0) / (1.0 + 0.25 * lap) ** 2
        c = np.clip(1.0 / (1.0 + (q2 - q0s) / (q0s * (1.0 + q0s))), 0.0, 1.0)
        cp = np.pad(c, 1, mode="edge")
        div = c * dn + cp[2:, 1:-1] * ds + c * dw + cp[1:-1, 2:] * de
        img = np.maximum(img + dt / 4.0 * div, offset * 1e-3)
    return img - offset


def _log_noise(image, looks):
    """Log-domain noise level and (with ``looks``) the analytic log-mean bias of L-look speckle.

    ``sigma = sqrt(psi'(L)) / 2`` and ``bias = (psi(L) - ln L) / 2 + ln c(L)`` (Xie, Pierce &
    Ulaby 2002); without ``looks``, ``L`` is solved from the estimated ``Cu`` (clipped to
    0.2..64 looks) and the bias is None (the caller restores the input's mean instead).
    """
    from scipy.optimize import brentq
    from scipy.special import polygamma, psi

    bias = None
    if looks is None:
        cu = estimate_cu(image, 7)
        if cu <= looks_to_cu(64.0):
            eq_looks = 64.0
        elif cu >= looks_to_cu(0.2):
            eq_looks = 0.2
        else:
            eq_looks = brentq(lambda L: looks_to_cu(L) - cu, 0.2, 64.0)
    else:
        eq_looks = float(looks)
        cu_l = looks_to_cu(eq_looks)
        bias = 0.5 * (psi(eq_looks) - math.log(eq_looks)) + math.log(1.0 + cu_l * cu_l) / 2.0
    return 0.5 * math.sqrt(float(polygamma(1, eq_looks))), bias


def _from_log(d, image, bias, offset):
    if bias is not None:
        return np.exp(d - bias) - offset
    out = np.exp(d)
    return out * (image.mean() + offset) / max(out.mean(), _TINY) - offset


@per_channel
def bm3d_log(image, *, sigma=None, looks=None, offset=0.01, sigma_scale=1.0):
    """Homomorphic BM3D: BM3D on ``log(y + offset)``, exponentiated back and bias-corrected.

    In the log domain L-look speckle is additive with standard deviation
    ``sqrt(psi'(L)) / 2`` (psi' the trigamma function; 0.40 for L = 2) and mean
    ``(psi(L) - ln L) / 2 + ln c(L)`` (Xie, Pierce & Ulaby 2002). The noise level is ``sigma`` if
    given (log units), else derived from ``looks`` if given, else fitted to the image: from the
    estimated ``Cu``, solved for the equivalent number of looks. ``sigma_scale`` multiplies the
    level BM3D is told (the tuning range: below 1 keeps more texture, above 1 smooths more).
    Bias correction: with ``looks`` the analytic log-mean is subtracted; otherwise the output is
    scaled to the input's mean (the spec's envelope is mean-preserving, ``E[y] = x``). ``offset``
    keeps black pixels finite. Noise is treated as white (the package's ``bm3d`` cannot take a
    PSD under numpy 2).
    """
    import bm3d as _bm3d

    offset = float(offset)
    z = np.log(image + offset)
    s, bias = _log_noise(image, looks)
    if sigma is not None:
        s = float(sigma)
    d = _bm3d.bm3d(z, sigma_psd=max(s * float(sigma_scale), 1e-6))
    return _from_log(d, image, bias, offset)


@per_channel
def box(image, *, sigma=None, size=5):
    """Box (moving-average) filter over ``size`` x ``size`` pixels, reflect boundary: the
    simplest despeckler (ENL gain up to ``size^2`` on independent speckle, edges spread over
    ``size`` pixels); ``sigma`` is not used."""
    return ndi.uniform_filter(image, int(size), mode="reflect")


@per_channel
def nlm_log(image, *, sigma=None, looks=None, h=1.0, patch_size=5, patch_distance=6, offset=0.01):
    """Homomorphic non-local means: NLM (scikit-image, fast mode) on ``log(y + offset)``.

    The log makes speckle additive with a level independent of the echo strength, which NLM's
    Euclidean patch distance assumes. The log-domain level ``s`` is ``sigma`` if given, else
    fitted as for :func:`bm3d_log` (``looks``, or the estimated ``Cu``); NLM filters with
    ``h s`` and is not told ``s`` (scikit-image would subtract ``2 s^2`` from every patch
    distance: with the strong, spatially correlated log-domain speckle of real frames every
    weight is then near 1 whatever ``h``, measured: ENL gain 3.8-5.6 for ``h`` 0.3-1.5 on
    ``samples/echo_frame00.png``, against 1.3-4.7 without, at more edge keeping). Exponentiated
    back with the same bias correction as :func:`bm3d_log`.
    """
    from skimage.restoration import denoise_nl_means

    offset = float(offset)
    z = np.log(image + offset)
    s, bias = _log_noise(image, looks)
    if sigma is not None:
        s = float(sigma)
    d = denoise_nl_means(z, h=float(h) * s, sigma=0.0, fast_mode=True,
                         patch_size=int(patch_size), patch_distance=int(patch_distance))
    return _from_log(d, image, bias, offset)


def estimate_pearson_level(image, window=7, *, gamma=0.5):
    """The level ``sigma^2`` of the model ``u = v + v^gamma eta``: the median of local
    ``variance / mean^(2 gamma)`` over ``window`` x ``window`` windows with mean > 0.05 (most
    windows are homogeneous, where that ratio is ``sigma^2``)."""
    return _median_over_tissue(image, window, lambda m, v: v / m ** (2.0 * float(gamma)))


def _shifted(padded, pad, dy, dx, shape):
    h, w = shape
    return padded[pad + dy : pad + dy + h, pad + dx : pad + dx + w]


def nonlocal_means(image, *, h2, patch_radius=2, search_radius=5, distance="pearson", gamma=0.5,
                   block_step=1, block_radius=0):
    """Non-local means with a Euclidean or Pearson patch distance, pixelwise or blockwise.

    The core of :func:`obnlm`, vectorised over the image: one pass per search offset
    ``delta`` (``(2 search_radius + 1)^2`` of them), each a few array operations and one box
    filter. For pixel (or block centre) ``i`` and ``j = i + delta``, the patch distance is the
    mean over the ``(2 patch_radius + 1)^2`` patch of ``(u(i + k) - u(j + k))^2``, divided by
    ``max(m(i + k, j + k), 0.001)^(2 gamma)`` for the Pearson distance, where ``m`` is the mean
    of the 3 x 3 local means of ``u`` at the two pixels (see :func:`obnlm` for why); the weight is ``exp(-d / h2)`` (the centre
    weighs ``max_j w_j``, as in Buades et al. 2005 and Coupe et al. 2009, so it does not
    dominate). ``block_step > 1`` is the blockwise variant: weights are computed at block centres
    every ``block_step`` pixels only; each centre restores its whole ``(2 block_radius + 1)^2``
    block, and a pixel is the mean of the estimates of the blocks covering it
    (``block_radius >= block_step / 2`` so that blocks cover the image).
    """
    u = np.asarray(image, dtype=np.float64)
    hh, ww = u.shape
    p, t, a = int(patch_radius), int(search_radius), int(block_radius)
    step = int(block_step)
    if step > 1 and 2 * a + 1 < step:
        raise EnhanceError(f"nonlocal_means: blocks of radius {a} do not cover a grid of step {step}")
    pad = t + p + a
    padded = np.pad(u, pad, mode="reflect")
    level = ndi.uniform_filter(padded, 3, mode="reflect") if distance == "pearson" else None
    if distance not in ("pearson", "euclidean"):
        raise EnhanceError(f"nonlocal_means: distance must be pearson or euclidean, got {distance!r}")
    size = 2 * p + 1
    centres = np.zeros((hh, ww), bool)
    centres[::step, ::step] = True
    offsets = [(dy, dx) for dy in range(-t, t + 1) for dx in range(-t, t + 1) if (dy, dx) != (0, 0)]
    weights = []
    for dy, dx in offsets:
        other = _shifted(padded, pad, dy, dx, (hh, ww))
        diff = (u - other) ** 2
        if level is not None:
            local = 0.5 * (_shifted(level, pad, 0, 0, (hh, ww)) + _shifted(level, pad, dy, dx, (hh, ww)))
            diff = diff / np.maximum(local, 1e-3) ** (2.0 * float(gamma))
        d = ndi.uniform_filter(diff, size, mode="reflect")
        weights.append(np.exp(-d[::step, ::step] / float(h2)))
    weights = np.stack(weights)  # (offsets, centres_y, centres_x)
    # where every neighbour's weight underflows (an isolated echo), the pixel keeps its value
    w_centre = np.maximum(weights.max(axis=0), 1e-300)
    total = weights.sum(axis=0) + w_centre
    if step == 1 and a == 0:
        num = w_centre * u
        for k, (dy, dx) in enumerate(offsets):
            num += weights[k] * _shifted(padded, pad, dy, dx, (hh, ww))
        return num / total
    # blockwise: pixel x = sum over covering blocks i of sum_delta w_delta(i) u(x + delta) / W(i),
    # divided by how many blocks cover x; the block sums are box filters of the centre grid.
    grid = np.zeros((hh, ww))
    bsize = 2 * a + 1

    def spread(values):
        grid[:] = 0.0
        grid[::step, ::step] = values
        return ndi.uniform_filter(grid, bsize, mode="constant") * bsize * bsize

    cover = spread(np.ones_like(total))
    num = spread(w_centre / total) * u
    for k, (dy, dx) in enumerate(offsets):
        num += spread(weights[k] / total) * _shifted(padded, pad, dy, dx, (hh, ww))
    return num / np.maximum(cover, _TINY)


@per_channel
def obnlm(image, *, sigma=None, h=1.0, patch_radius=2, search_radius=5, gamma=0.5, blockwise=False):
    """Optimized Bayesian non-local means for ultrasound (Coupe, Hellier, Kervrann & Barillot 2009,
    IEEE TIP 18(10)).

    Non-local means whose patch distance is the Pearson distance of the speckle model
    ``u = v + v^gamma eta`` (``eta`` zero-mean Gaussian of variance ``sigma^2``; ``gamma = 0.5``
    fits log-compressed, interpolated B-mode images, the paper's choice):
    ``d(i, j) = sum_k (u(i + k) - u(j + k))^2 / u(j + k)^(2 gamma)``, the likelihood of patch
    ``i`` given the noise-free patch ``j``. One deviation, measured: the paper divides by the
    noisy candidate ``u(j + k)`` itself, which favours candidates that are brighter by chance
    and brightened real echo frames by 4-7% (mean ratio 1.04-1.07 on ``samples/echo_frame00.png``
    for ``h`` 0.6-1.4); dividing by the mean of the 3 x 3 local means at ``i + k`` and ``j + k``
    (symmetric, less noisy) keeps the mean within 1% (0.99) at the same ENL gain and slightly
    more edge keeping. Weights ``exp(-d / (2 h^2 sigma^2 |N|))`` with
    ``sigma^2`` estimated from the image (:func:`estimate_pearson_level`; ``sigma=`` is taken as
    that ``sigma^2`` when given) and the smoothing parameter ``h`` (the paper tunes it; 1 by
    default). 5 x 5 patches (``patch_radius`` 2), 11 x 11 search (``search_radius`` 5).
    ``blockwise=True`` is the paper's blockwise variant (centres every 2 pixels, 3 x 3 blocks,
    each pixel the mean of the 4-9 block estimates covering it; about 4x fewer weights).
    Constant images are returned unchanged.
    """
    level = estimate_pearson_level(image, gamma=gamma) if sigma is None else float(sigma)
    if level <= 0 or float(h) <= 0:
        return image
    h2 = 2.0 * float(h) ** 2 * level  # a pair of like patches has mean Pearson distance 2 sigma^2
    step, radius = (2, 1) if blockwise else (1, 0)
    return nonlocal_means(image, h2=h2, patch_radius=patch_radius, search_radius=search_radius,
                          distance="pearson", gamma=gamma, block_step=step, block_radius=radius)
