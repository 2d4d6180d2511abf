"""Classical restoration baselines: one registry, one signature.

>>> from enhance.baselines import denoise, list_baselines
>>> clean = denoise(noisy, "bm3d", sigma=25 / 255)                   # doctest: +SKIP
>>> bright = denoise(dark, "vst_bm3d", exposure=0.1)                  # doctest: +SKIP
>>> [b.name for b in list_baselines("speckle")]                       # doctest: +SKIP

Every baseline is ``f(image, *, sigma=None, ...) -> float32 array in [0, 1]`` (same shape as
the input): ``image`` is a float (H, W) or (H, W, C) array in [0, 1]; ``sigma`` is the noise
standard deviation in [0, 1] units, estimated with :func:`enhance.metrics.estimate_noise` when
None (each docstring says how the method uses it); other options are keyword-only. Colour images
are processed channel by channel. The parameters of each method follow a standard rule of the
noise level, cited in its docstring. Families: :mod:`.gaussian` (additive white Gaussian noise),
:mod:`.speckle` (ultrasound despeckling), :mod:`.lowlight` (photon-starved images; these need
``exposure``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import EnhanceError, UnknownName
from ..tasks import all_tasks, get_task
from . import gaussian as _g
from . import lowlight as _l
from . import speckle as _s
from ._common import as_image, finish, require_exposure

__all__ = ["Baseline", "BASELINES", "denoise", "list_baselines", "tuning_baselines"]


@dataclass(frozen=True)
class Baseline:
    """A registry entry: ``name``, ``function``, a one-line ``description``.

    ``needs_exposure`` marks the low-light methods, which must be told the exposure. The tasks
    it suits are those that list it (:attr:`enhance.tasks.Task.baselines`). ``sweep`` is the
    method's parameter range for tuning: option sets (keyword arguments of ``function``) ordered
    from the weakest smoothing to the strongest; the trade-off curves of ``enhance bench
    --no-reference`` and the tuned baselines of ``benchmarks/ultrasound_real.py`` run each of
    them. Empty: the method is not tuned.
    """

    name: str
    function: Callable
    description: str
    needs_exposure: bool = False
    sweep: tuple = ()

    @property
    def tasks(self):
        """The names of the tasks this method suits, in the tasks' order."""
        return tuple(t.name for t in all_tasks() if self.name in t.baselines)

    def __call__(self, image, **options):
        return self.function(image, **options)


def _sweep(name, values, **fixed):
    return tuple({name: v, **fixed} for v in values)


def _entries():
    return [
        Baseline("identity", _g.identity, "the noisy input, unchanged (the floor to beat)"),
        Baseline("gaussian_filter", _g.gaussian_filter, "Gaussian smoothing, width chosen by SURE",
                 sweep=_sweep("width", (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.5))),
        Baseline("median", _g.median, "median filter, window from the noise level and grain",
                 sweep=_sweep("size", (3, 5, 7, 9, 11))),
        Baseline("bilateral", _g.bilateral, "bilateral filter (OpenCV), range 2 sigma, space 2 px",
                 sweep=_sweep("sigma_color", (0.03, 0.05, 0.08, 0.12, 0.2, 0.3), sigma_space=2.0)
                 + ({"sigma_color": 0.3, "sigma_space": 3.0}, {"sigma_color": 0.3, "sigma_space": 4.0})),
        Baseline("nlm", _g.nlm, "non-local means (scikit-image, fast mode, h = 0.6 sigma)",
                 sweep=_sweep("h", (0.02, 0.04, 0.06, 0.1, 0.15, 0.22, 0.35, 0.5), sigma=0.0)),
        Baseline("wavelet", _g.wavelet, "BayesShrink wavelet soft thresholding (db2)"),
        Baseline("tv", _g.tv, "total-variation denoising (Chambolle), weight 0.75 sigma"),
        Baseline("bm3d", _g.bm3d, "BM3D, reference implementation, sigma_psd = sigma"),
        Baseline("box", _s.box, "box (moving-average) filter, 5x5",
                 sweep=_sweep("size", (3, 5, 7, 9, 11, 13))),
        Baseline("lee", _s.lee, "Lee local-statistics speckle filter, 7x7",
                 sweep=_sweep("window", (3, 5, 7, 9, 11, 13))),
        Baseline("frost", _s.frost, "Frost adaptive exponential speckle filter, 7x7, damping 2",
                 sweep=_sweep("window", (3, 5, 7, 9, 11, 13))),
        Baseline("srad", _s.srad, "speckle reducing anisotropic diffusion (Yu & Acton 2002)",
                 sweep=({"iterations": 10}, {"iterations": 20}, {"iterations": 50},
                        {"iterations": 50, "rho": 0.05}, {"iterations": 100, "rho": 0.02},
                        {"iterations": 100, "rho": 0.0})),
        Baseline("nlm_log", _s.nlm_log, "homomorphic non-local means: log, NLM at the fitted level, exp",
                 sweep=_sweep("h", (0.3, 0.5, 0.7, 1.0, 1.5, 2.2, 3.0, 4.0))),
        Baseline("obnlm", _s.obnlm, "optimized Bayesian NLM, Pearson patch distance (Coupe et al. 2009)",
                 sweep=_sweep("h", (0.4, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0))),
        Baseline("bm3d_log", _s.bm3d_log, "homomorphic BM3D: log, BM3D, exp, bias-corrected",
                 sweep=_sweep("sigma_scale", (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5))),
        Baseline("gain", _l.gain, "gain by 1/exposure only", True),
        Baseline("gain_bm3d", _l.gain_bm3d, "gain by 1/exposure, then BM3D at the fitted noise level", True),
        Baseline("clahe", _l.clahe, "gain by 1/exposure, then CLAHE (OpenCV, clip 2, 8x8 tiles)", True),
        Baseline("vst_bm3d", _l.vst_bm3d, "generalized Anscombe + BM3D + exact unbiased inverse, / exposure", True),
        Baseline("vst_nlm", _l.vst_nlm, "generalized Anscombe + NLM told the stabilised level + exact inverse, / exposure", True),
        Baseline("vst_tv", _l.vst_tv, "generalized Anscombe + TV (Chambolle) + exact inverse, / exposure", True),
        Baseline("vst_wavelet", _l.vst_wavelet, "generalized Anscombe + BayesShrink wavelet + exact inverse, / exposure", True),
        Baseline("vst_bilateral", _l.vst_bilateral, "generalized Anscombe + bilateral + exact inverse, / exposure", True),
        Baseline("vst_median", _l.vst_median, "generalized Anscombe + median + exact inverse, / exposure", True),
        Baseline("vst_gaussian_filter", _l.vst_gaussian_filter, "generalized Anscombe + Gaussian filter (SURE) + exact inverse, / exposure", True),
    ]


#: name -> :class:`Baseline`, in presentation order.
BASELINES = {b.name: b for b in _entries()}


def list_baselines(task=None):
    """The registry entries (in order), all or only those suited to ``task``."""
    if task is None:
        return list(BASELINES.values())
    suited = get_task(task).baselines
    return [b for b in BASELINES.values() if b.name in suited]


def tuning_baselines(task="speckle"):
    """The entries of ``task`` that have a parameter range (:attr:`Baseline.sweep`), in order."""
    return [b for b in list_baselines(task) if b.sweep]


def get_baseline(method) -> Baseline:
    """The registry entry of ``method``; :class:`~enhance.errors.UnknownName` lists the known ones."""
    try:
        return BASELINES[method]
    except (KeyError, TypeError):
        raise UnknownName(
            f"unknown baseline {method!r}; known: {', '.join(BASELINES)}"
        ) from None


def _check_options(entry, options):
    import inspect

    params = inspect.signature(entry.function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    if not entry.needs_exposure:
        accepted |= {"photons", "read_noise"}  # used by the gain-then-denoise path
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise EnhanceError(
            f"baseline {entry.name!r} takes no option {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(accepted - {'sigma', 'exposure'}))}"
        )


def denoise(image, method, *, sigma=None, exposure=None, **options):
    """Run baseline ``method`` on ``image`` and return float32 in [0, 1].

    * Low-light methods (``gain``, ``gain_bm3d``, ``clahe``, ``vst_bm3d``) receive ``exposure``
      and raise :class:`~enhance.errors.EnhanceError` without it.
    * Any other method given an ``exposure`` runs as the spec's "gain by 1/exposure, then
      denoise": it denoises ``clip(image / exposure, 0, 1)``; its ``sigma`` is then the noise
      level of the gained image, by default the rms Poisson-Gaussian level from the fitted
      noise-level function (:func:`.lowlight.gained_noise_level`; ``photons=`` / ``read_noise=``
      may be passed when known). ``identity`` with an exposure is the gained image.
    * Otherwise ``sigma`` and ``options`` are passed through.
    """
    entry = get_baseline(method)
    _check_options(entry, options)
    if entry.needs_exposure:
        return entry.function(image, sigma=sigma, exposure=exposure, **options)
    if exposure is None:
        return entry.function(image, sigma=sigma, **options)
    e = require_exposure(exposure, method)
    y = as_image(image, method)
    photons = options.pop("photons", None)
    read_noise = options.pop("read_noise", None)
    gained = finish(y / e).astype(np.float64)
    if method == "identity":
        return gained.astype(np.float32)
    if sigma is None:
        if y.ndim == 2:
            sigma = _l.gained_noise_level(y, e, photons=photons, read_noise=read_noise)
        else:
            return np.stack(
                [
                    denoise(y[..., k], method, exposure=e, photons=photons, read_noise=read_noise, **options)
                    for k in range(y.shape[-1])
                ],
                axis=-1,
            )
    return entry.function(gained, sigma=sigma, **options)
