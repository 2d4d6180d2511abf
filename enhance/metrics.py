"""Scores of a restored image against its reference, noise estimation, and the statistics of a benchmark.

Everything here follows the degradation spec's "Scores" section:

* :func:`psnr` -- ``10 log10(data_range**2 / MSE)``; identical images score ``inf``.
* :func:`ssim` -- Wang et al. 2004 exactly as scikit-image computes it with a Gaussian window
  (sigma 1.5), K1 = 0.01, K2 = 0.03 and population covariance.
* ``data_range`` is a required keyword for both: the range of a float image is never guessed
  (``data_range=1.0`` for the package's [0, 1] images).
* :func:`mean_ci` -- mean over images with a Student-t confidence interval;
  :func:`paired_difference` -- mean paired difference of two methods over the same images with a
  bootstrap interval.

:func:`estimate_noise` is the reference-free Gaussian noise estimate used by the classical
baselines when they are not told the noise level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import EnhanceError, ShapeMismatch

__all__ = [
    "psnr",
    "ssim",
    "estimate_noise",
    "mean_ci",
    "paired_difference",
    "Interval",
]

# Wang et al. 2004, as in the spec.
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


class Interval(NamedTuple):
    """A mean (or mean difference) and the bounds of its confidence interval."""

    mean: float
    low: float
    high: float


def _pair(reference, test, data_range, name):
    """Validate a (reference, test) pair and return both as float64 arrays and the range."""
    if data_range is None:
        raise EnhanceError(
            f"{name}: data_range is required (1.0 for images in [0, 1]); the range of a float image "
            "is never guessed"
        )
    try:
        data_range = float(data_range)
    except (TypeError, ValueError):
        raise EnhanceError(f"{name}: data_range must be a positive number, got {data_range!r}") from None
    if not np.isfinite(data_range) or data_range <= 0:
        raise EnhanceError(f"{name}: data_range must be a positive number, got {data_range!r}")
    reference = np.asarray(reference)
    test = np.asarray(test)
    if reference.shape != test.shape:
        raise ShapeMismatch(
            f"{name}: reference has shape {reference.shape} but test has shape {test.shape}"
        )
    if reference.ndim not in (2, 3):
        raise ShapeMismatch(
            f"{name}: expected an (H, W) or (H, W, C) image, got shape {reference.shape}"
        )
    return reference.astype(np.float64), test.astype(np.float64), data_range


def psnr(reference, test, *, data_range) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``.

    ``data_range`` is required (keyword-only): 1.0 for images in [0, 1]. The MSE is taken over all
    pixels (and channels). Identical images give ``inf``. Shapes must match exactly
    (:class:`~enhance.errors.ShapeMismatch` otherwise, naming both shapes).
    """
    reference, test, data_range = _pair(reference, test, data_range, "psnr")
    mse = float(np.mean((reference - test) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(reference, test, *, data_range, channel_axis=None) -> float:
    """Structural similarity (Wang et al. 2004) as specified.

    Exactly ``skimage.metrics.structural_similarity(reference, test, data_range=data_range,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03)``.
    An (H, W, C) image whose last axis has 3 or 4 channels is treated as colour
    (``channel_axis=-1``, mean SSIM over channels) unless ``channel_axis`` is given. Images must be
    at least 11 x 11 (the Gaussian window).
    """
    from skimage.metrics import structural_similarity

    reference, test, data_range = _pair(reference, test, data_range, "ssim")
    if channel_axis is None and reference.ndim == 3:
        if reference.shape[-1] in (3, 4):
            channel_axis = -1
        else:
            raise ShapeMismatch(
                f"ssim: cannot tell the channel axis of an image of shape {reference.shape}; "
                "pass channel_axis="
            )
    spatial = [n for i, n in enumerate(reference.shape)
               if channel_axis is None or i != channel_axis % reference.ndim]
    if min(spatial) < 11:
        raise ShapeMismatch(f"ssim: images must be at least 11 x 11, got shape {reference.shape}")
    return float(
        structural_similarity(
            reference,
            test,
            data_range=data_range,
            channel_axis=channel_axis,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            K1=SSIM_K1,
            K2=SSIM_K2,
        )
    )


#: :func:`estimate_noise` with ``mid_range=True`` uses the blocks whose 8 x 8 mean is in this range.
MID_RANGE = (0.25, 0.75)


def _estimate_noise_2d(image: np.ndarray, mid_range=False) -> float:
    h, w = image.shape
    h2, w2 = h - h % 2, w - w % 2
    if h2 < 2 or w2 < 2:
        raise ShapeMismatch(f"estimate_noise: image of shape {image.shape} is too small")
    quarters = [image[i:h2:2, j:w2:2] for i in (0, 1) for j in (0, 1)]  # views a, b, c, d
    # orthonormal Haar diagonal detail (a - b - c + d) / 2, std sigma for white noise; built in
    # place in float64 (a quarter-size array at a time, for large images' memory)
    hh = quarters[0].astype(np.float64)
    np.subtract(hh, quarters[1], out=hh)
    np.subtract(hh, quarters[2], out=hh)
    np.add(hh, quarters[3], out=hh)
    np.divide(hh, 2.0, out=hh)
    unclipped = np.ones(hh.shape, bool)
    for quarter in quarters:
        unclipped &= quarter > 0.0
        unclipped &= quarter < 1.0
    if mid_range:
        from scipy.ndimage import uniform_filter

        level = uniform_filter(image, 8, mode="reflect")[0:h2:2, 0:w2:2]
        middle = unclipped & (level > MID_RANGE[0]) & (level < MID_RANGE[1])
        if middle.sum() >= 256:
            unclipped = middle
    coeffs = hh[unclipped] if unclipped.sum() >= max(64, hh.size // 10) else hh.ravel()
    del hh, unclipped
    return float(_median_abs(np.abs(coeffs, out=coeffs)) / 0.6744897501960817)


def _median_abs(values: np.ndarray) -> float:
    """Median of ``|d|``; for quantised pixels, the grouped-data median of the lattice bins.

    The Haar coefficients of an 8- or 16-bit image lie on a lattice (multiples of half the
    quantisation step). When the noise is about one grey level, most coefficients are exactly 0
    and the plain median is 0 (skimage's ``estimate_sigma`` has the same failure). Treating each
    lattice value ``k step`` as the bin ``[(k - 1/2) step, (k + 1/2) step)`` (``[0, step / 2)``
    for ``k = 0``) and interpolating linearly inside the bin that holds the median gives the
    median of the unquantised ``|d|`` to within the bin's resolution.
    """
    median = float(np.median(values))
    # sums of k / 255 stored as float32 (how images are read) leave up to ~1e-7 where 0 is meant
    # and put lattice values off by as much: the smallest step considered is 1e-6 (16-bit data's
    # is 1 / 131070 = 7.6e-6), and a value counts as on the lattice within 5% of a step
    # (continuous data, whose offsets from any lattice spread over +-50%, never pass)
    step = float(np.min(values, where=values > 1e-6, initial=np.inf))
    if not np.isfinite(step) or values.size < 16:
        return median
    ranks = values / step
    lattice = np.rint(ranks)
    np.subtract(ranks, lattice, out=ranks)  # in place: large images' memory
    if np.abs(ranks, out=ranks).max() > 0.05 or lattice.max() > 1e6:
        return median
    del ranks
    counts = np.bincount(lattice.astype(np.int64))
    cumulative = np.cumsum(counts) / values.size
    bin_ = int(np.searchsorted(cumulative, 0.5))
    below = float(cumulative[bin_ - 1]) if bin_ else 0.0
    lower, width = (0.0, step / 2) if bin_ == 0 else ((bin_ - 0.5) * step, step)
    return lower + (0.5 - below) / (counts[bin_] / values.size) * width


def estimate_noise(image, *, mid_range=False) -> float:
    """Reference-free estimate of the standard deviation of additive white Gaussian noise.

    Donoho & Johnstone's wavelet rule (1994; also what ``skimage.restoration.estimate_sigma``
    uses): ``sigma = median(|d|) / 0.6745`` over the finest diagonal (HH) coefficients ``d`` of an
    orthonormal Haar transform, which are pure noise except near edges (the median ignores those).
    One change for this package's [0, 1] images, where ``clip(x + sigma N, 0, 1)`` removes noise
    in black or white regions: 2 x 2 blocks containing a pixel at exactly 0 or 1 are left out
    (unless fewer than a tenth of the blocks remain), so a black background does not pull the
    estimate down. Colour (H, W, C): the mean of the per-channel estimates.

    ``mid_range=True`` keeps only the blocks whose 8 x 8 mean lies in :data:`MID_RANGE` (when at
    least 256 do): next to the clip the surviving blocks' noise is truncated and the estimate
    low -- at sigma 50/255 on the recipe's validation images 40-47/255 without, 46-50/255 with
    (15 and 25 within 1/255 either way). What a noise-conditioned model is told when it is not
    given sigma (:func:`enhance.predict.noise_parameters`), where an underestimate costs most.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return _estimate_noise_2d(image, mid_range)
    if image.ndim == 3:
        return float(np.mean([_estimate_noise_2d(image[..., k], mid_range)
                              for k in range(image.shape[-1])]))
    raise ShapeMismatch(f"estimate_noise: expected an (H, W) or (H, W, C) image, got {image.shape}")


def _check_confidence(confidence):
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise EnhanceError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


def mean_ci(values, *, confidence=0.95) -> Interval:
    """Mean and Student-t confidence interval of the mean: ``m +- t_{(1+c)/2, n-1} s / sqrt(n)``.

    ``s`` is the sample standard deviation (ddof=1). With one value the bounds are NaN; with
    identical values the interval collapses to the mean. Returns ``Interval(mean, low, high)``
    (a named tuple, unpacks as ``mean, low, high``). Non-finite values (an ``inf`` PSNR) make the
    mean ``inf`` and the bounds NaN; filter them first if that is not wanted.
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise EnhanceError("mean_ci: no values")
    m = float(np.mean(v))
    if v.size < 2 or not np.all(np.isfinite(v)):
        return Interval(m, float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, v.size - 1) * np.std(v, ddof=1) / np.sqrt(v.size))
    return Interval(m, m - half, m + half)


def paired_difference(a, b, *, confidence=0.95, n_boot=10000, seed=0) -> Interval:
    """Mean of the paired differences ``a[i] - b[i]`` with a percentile bootstrap interval.

    ``a`` and ``b`` are scores of two methods on the same images in the same order. The interval
    resamples the ``n`` differences with replacement ``n_boot`` times
    (``numpy.random.default_rng(seed)``, so it is reproducible) and takes the
    ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of the resampled means (Efron & Tibshirani 1993).
    With one pair the bounds are NaN. Returns ``Interval(mean, low, high)``.
    """
    confidence = _check_confidence(confidence)
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ShapeMismatch(f"paired_difference: a has shape {a.shape} but b has shape {b.shape}")
    if a.size == 0:
        raise EnhanceError("paired_difference: no values")
    n_boot = int(n_boot)
    if n_boot < 1:
        raise EnhanceError(f"paired_difference: n_boot must be positive, got {n_boot}")
    d = a - b
    m = float(np.mean(d))
    if d.size < 2 or not np.all(np.isfinite(d)):
        return Interval(m, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // d.size)  # bound the memory of the index array
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    low, high = np.quantile(means, [0.5 - confidence / 2.0, 0.5 + confidence / 2.0])
    return Interval(m, float(low), float(high))
