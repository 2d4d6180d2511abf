"""Low light (photon-starved images): the exposure is known and told; the gain, or the VST.

The spec's model, in counts: ``y * photons = Poisson(photons * exposure * x) + N(0, (read_noise *
photons)^2)`` (then clipped to [0, 1] in ``y``). In ``y`` units this is the Poisson-Gaussian model
``var(y) = a E[y] + b`` with ``a = 1 / photons`` and ``b = read_noise^2``.

Input: ``noisy / exposure`` (the gain that restores the brightness); target: the well-exposed
clean image. Trained with ``exposure`` log-uniform in [0.05, 0.3], ``photons`` log-uniform in
[300, 5000] (the photon count is not given to the model) and ``read_noise ~ U(0, 0.004)``. Every
method is told the exposure; ``photons`` and ``read_noise`` are estimated from the image by
:func:`noise_level_function` unless given. A model with the input transform ``vst`` sees the
image through the generalized Anscombe transform (:class:`VarianceStabilised`) instead of the
gain. The classical low-light methods (:mod:`enhance.baselines.lowlight`) use the same
estimate and transform.
"""

from __future__ import annotations

import math

import numpy as np

from .. import degrade
from ..errors import EnhanceError
from .base import Task

__all__ = ["TASK", "POISSON_ESTIMATOR", "noise_level_function", "gat_forward",
           "gat_inverse_closed_form", "gat_inverse_exact", "VarianceStabilised"]

#: How ``photons`` and ``read_noise`` are estimated when not told (recorded in manifests, cards).
POISSON_ESTIMATOR = (
    "estimated by enhance.tasks.lowlight.noise_level_function (as VST+BM3D when not told)"
)

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
    from scipy import ndimage as ndi
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




class VarianceStabilised:
    """Low light through the generalized Anscombe transform (Makitalo & Foi 2013).

    The dark image ``y`` (``y * photons = Poisson(photons exposure x) + N(0, (read_noise
    photons)^2)``) becomes ``D = GAT(y * photons)``, whose noise is Gaussian with std 1; ``D`` is
    scaled by the GAT value of a full-brightness pixel so that the Gaussian denoiser sees an
    image in about [0, 1] with noise std ``1 / scale`` (a constant noise-level map); the
    denoised ``D`` goes back through the exact unbiased inverse (which accounts for the clip of
    ``y`` to [0, 1]) and the gain. ``condition``: ``exposure``, ``photons``, ``read_noise``.
    """

    def __init__(self, condition):
        self.exposure = condition["exposure"]
        self.a = 1.0 / condition["photons"]
        self.s = condition["read_noise"] / self.a
        self.scale = float(gat_forward(self.exposure / self.a, self.s))

    def forward(self, plane):
        return (gat_forward(plane / self.a, self.s) / self.scale).astype(np.float32)

    @property
    def sigma(self):
        return 1.0 / self.scale

    def constant_level(self, condition):
        return float(self.sigma)

    def inverse(self, output):
        counts = gat_inverse_exact(np.asarray(output, np.float64) * self.scale, self.s,
                                   upper=1.0 / self.a)
        return (counts * self.a / self.exposure).astype(np.float32)


def check_exposure(exposure):
    """``exposure`` as a float in (0, 1]; :class:`~enhance.errors.EnhanceError` when missing."""
    if exposure is None:
        raise EnhanceError(
            "a lowlight model must be told the exposure (e.g. --exposure 0.1, exposure=0.1)"
        )
    exposure = float(exposure)
    if not 0.0 < exposure <= 1.0:
        raise EnhanceError(f"exposure must be in (0, 1], got {exposure}")
    return exposure


class LowlightTask(Task):
    def describe_degradation(self, params):
        return (f"low light: exposure {params['exposure']:g}, {params['photons']:g} photons at "
                f"full scale, read noise {params['read_noise']:g} (every method told the exposure)")

    def prepare_input(self, noisy, *, exposure=None):
        noisy = np.asarray(noisy, dtype=np.float32)
        return (noisy / check_exposure(exposure)).astype(np.float32)

    def noise_condition(self, image, *, sigma=None, exposure=None, photons=None,
                        read_noise=None):
        given = {"exposure": check_exposure(exposure)}
        if photons is not None and read_noise is not None:
            return {**given, "photons": float(photons), "read_noise": float(read_noise),
                    "source": "given"}
        planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]
        fits = np.array(
            [noise_level_function(p, photons=photons, read_noise=read_noise) for p in planes]
        )
        a, b = np.median(fits, axis=0)
        return {
            **given,
            "photons": float(photons) if photons is not None else float(1.0 / a),
            "read_noise": float(read_noise) if read_noise is not None else float(np.sqrt(b)),
            "source": POISSON_ESTIMATOR if photons is None and read_noise is None
            else "partly given, the rest " + POISSON_ESTIMATOR,
        }

    def noise_level_map(self, model_input, params):
        """``sqrt(x / (exposure photons) + (read_noise / exposure)^2)`` with ``x`` the input
        (``noisy / exposure``) smoothed by a 5 x 5 mean and clipped at 0 (the clean level is not
        known at inference, so training uses the same estimate)."""
        from scipy import ndimage as ndi

        model_input = np.asarray(model_input, dtype=np.float32)
        exposure, photons = float(params["exposure"]), float(params["photons"])
        level = np.maximum(ndi.uniform_filter(model_input, 5, mode="reflect"), 0.0)
        variance = level / (exposure * photons) + (float(params.get("read_noise", 0.0)) / exposure) ** 2
        return np.sqrt(variance).astype(np.float32)

    def export_io(self, transform=None):
        if transform == "vst":
            return {
                "image": ("the dark image y (float in [0, 1]) through the generalized Anscombe "
                          "transform: 2 sqrt(y photons + 3/8 + (read_noise photons)^2), divided by "
                          "the same transform of a full-brightness pixel (y = exposure)"),
                "noise_level": "the constant 1 / that scale (the transformed noise std)",
                "pre": "generalized Anscombe transform and scale (see channels)",
                "post": ("exact unbiased inverse of the generalized Anscombe transform (Makitalo & "
                         "Foi 2013), times 1 / (photons exposure), then clip to [0, 1]; not in the "
                         "graph"),
            }
        return {
            "image": "the dark image divided by the acquisition's exposure (the gain applied), float",
            "noise_level": ("the noise std of each pixel in the same units: sqrt(x / (exposure "
                            "photons) + (read_noise / exposure)^2), x the 5 x 5 mean of the image "
                            "channel clipped at 0"),
            "pre": "divide the dark image (float in [0, 1]) by the exposure",
            "post": "clip to [0, 1]",
        }


TASK = LowlightTask(
    name="lowlight",
    degradation=degrade.lowlight,
    presets={"lowlight": {}},
    validation_preset="lowlight",
    benchmark_presets=("lowlight",),
    jitter={
        "exposure": ("log-uniform", 0.05, 0.3),
        "photons": ("log-uniform", 300.0, 5000.0),
        "read_noise": ("uniform", 0.0, 0.004),
    },
    baselines=("identity", "gain", "gain_bm3d", "clahe", "vst_bm3d", "vst_nlm", "vst_tv",
               "vst_wavelet", "vst_bilateral", "vst_median", "vst_gaussian_filter"),
    told=("exposure",),
    needs_exposure=True,
    model_input="noisy / exposure (the exposure must be given)",
    words="low-light (Poisson-Gaussian) noise",
    default_model="dae-lowlight-sigma-20k",
    noise_map=True,
    noisy_training_data=False,
    grid_modalities=("microscopy", "fundus"),
    grid_rank=1,
    input_transforms={"vst": VarianceStabilised},
)
