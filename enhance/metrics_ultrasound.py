"""Ultrasound image quality without a reference: speckle suppression, contrast, edges, the ratio image.

A despeckler's output is judged against its own input (a real B-mode frame has no clean
reference). Every function takes the image first, options keyword-only; pixels are float arrays
(the package's [0, 1] images), 2-D.

Speckle suppression is measured in *homogeneous regions*: areas of uniform tissue where the
pixel variation is speckle only. :func:`homogeneous_regions` finds them on the input (or a mask
is given) and returns a label image; the same regions are then measured on the input and on every
output, so that the numbers compare. In small regions the ENL of a strongly smoothed output
reads high (its pixels are correlated over the filter's width, so their variance about the
region's mean is underestimated: a 5 x 5 box on independent speckle reads a gain of ~37 in
16 x 16 tiles, not 25): compare methods on the same regions, not against a formula.

* :func:`enl` -- equivalent number of looks ``mean^2 / variance`` per region, averaged over the
  regions (``L`` for ``L``-look intensity speckle; ``1 / Cu^2`` in general).
* :func:`speckle_snr` -- ``mean / std`` per region (1.91 for a fully developed Rayleigh envelope;
  Burckhardt 1978), averaged.
* :func:`cnr` and :func:`gcnr` -- contrast of a target region against a background:
  ``|mu_t - mu_b| / sqrt(var_t + var_b)``, and the generalized CNR of Rodriguez-Molares et al.
  (2020, IEEE TUFFC 67(4)): ``1 - OVL``, the overlap of the two regions' histograms (1 for
  disjoint histograms, 0 for identical distributions).
* :func:`edge_keeping` -- correlation of the Laplacians of input and output after a Gaussian of
  ``sigma = 1`` px; :func:`sattar_beta` -- Sattar et al. (1997, IEEE TIP 6(6))'s ``beta``: the
  same correlation with the plain 3 x 3 Laplacian (no smoothing). 1 when the output is the input.
* :func:`ssi` -- speckle suppression index (Sheng & Xia 1996): ``(std_o / mean_o) / (std_i /
  mean_i)``; :func:`smpi` -- speckle suppression and mean preservation index (Shamsoddini &
  Trinder 2010): ``(1 + |mean_i - mean_o|) std_o / std_i``. Lower is better for both.
* :func:`mean_ratio` -- brightness preservation, ``mean(output) / mean(input)``.
* :func:`ratio_image` and :func:`ratio_image_score` -- Gomez, Ospina & Frery (2017, Remote
  Sensing 9(4):389): for multiplicative speckle the ratio ``input / output`` of an ideal filter
  is pure speckle -- mean 1, the input's ENL in homogeneous regions, and no structure.
* :func:`speckle_grain` -- the speckle's first- and second-order statistics in homogeneous
  regions: coefficient of variation, skewness and the half-widths of its autocorrelation along
  rows (axial) and columns (lateral) -- what a B-mode simulation is fitted to
  (``benchmarks/ultrasound_fit.py``).
* :func:`despeckling_report` -- all of them for one (input, output) pair.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from .errors import EnhanceError, ShapeMismatch

__all__ = [
    "homogeneous_regions",
    "enl",
    "speckle_snr",
    "cnr",
    "gcnr",
    "edge_keeping",
    "sattar_beta",
    "ssi",
    "smpi",
    "mean_ratio",
    "ratio_image",
    "ratio_image_score",
    "contrast_regions",
    "speckle_grain",
    "despeckling_report",
]

_TINY = 1e-12


def _image(image, name):
    image = np.asarray(image)
    if image.dtype == bool or not np.issubdtype(image.dtype, np.number):
        raise EnhanceError(f"{name}: expected a numeric image, got dtype {image.dtype}")
    image = image.astype(np.float64)
    if image.ndim != 2 or min(image.shape) < 3:
        raise ShapeMismatch(f"{name}: expected a 2-D image, got shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise EnhanceError(f"{name}: the image contains NaN or infinite values")
    return image


def _pair(image, output, name):
    image, output = _image(image, name), _image(output, name)
    if image.shape != output.shape:
        raise ShapeMismatch(f"{name}: shapes differ: input {image.shape}, output {output.shape}")
    return image, output


def _labels(regions, shape, name):
    """A label image from ``regions``: a label image (int, 0 = none) or a boolean mask (its
    connected components become the regions)."""
    regions = np.asarray(regions)
    if regions.shape != shape:
        raise ShapeMismatch(f"{name}: regions of shape {regions.shape} for an image of shape {shape}")
    if regions.dtype == bool:
        labels, _ = ndi.label(regions)
        return labels
    if not np.issubdtype(regions.dtype, np.integer):
        raise EnhanceError(f"{name}: regions must be a boolean mask or an integer label image")
    return regions


def _region_stats(image, labels, name, *, min_pixels=16):
    """Mean and variance (population) of ``image`` in each region of ``labels`` with at least
    ``min_pixels`` pixels; a (k,) array each. No region: :class:`EnhanceError`."""
    index = np.unique(labels[labels > 0])
    if index.size == 0:
        raise EnhanceError(f"{name}: no homogeneous region to measure")
    counts = ndi.sum_labels(np.ones_like(image), labels, index)
    keep = counts >= min_pixels
    if not keep.any():
        raise EnhanceError(f"{name}: every region has fewer than {min_pixels} pixels")
    index = index[keep]
    mean = np.asarray(ndi.mean(image, labels, index))
    var = np.asarray(ndi.variance(image, labels, index))
    return mean, var


def homogeneous_regions(image, *, size=16, count=8, smoothing=2.0, min_mean=0.05, max_value=0.99):
    """Find homogeneous regions of a B-mode image: the ``count`` most uniform ``size`` x ``size``
    tiles.

    The image is cut into non-overlapping tiles (a grid anchored at the top left). A tile's
    heterogeneity is the coefficient of variation of the image *after* a Gaussian of
    ``smoothing`` px, inside the tile: the smoothing averages the speckle grain away (equally in
    every tile of the same speckle), so what is left ranks the tiles by structure (edges, slopes,
    echoes), not by the speckle each holds. Tiles with a mean below ``min_mean`` (black
    background, outside the sector) or with more than 1% of their pixels at or above ``max_value``
    (saturated echoes, burned-in text) are never chosen.

    Parameters
    ----------
    image : (H, W) array
        The input frame (regions are found on the input and measured on every output).
    size : int, keyword-only
        Tile side in pixels (16: 256 pixels per region, several speckle grains across).
    count : int, keyword-only
        How many tiles (8).
    smoothing : float, keyword-only
        Width of the Gaussian that removes the grain before ranking (2 px).
    min_mean, max_value : float, keyword-only
        Background and saturation limits, in the image's units.

    Returns
    -------
    (H, W) int array
        Label image: 0 outside the regions, 1..k the chosen tiles (most uniform first).
        :class:`~enhance.errors.EnhanceError` when no tile qualifies.
    """
    image = _image(image, "homogeneous_regions")
    size, count = int(size), int(count)
    if size < 4 or count < 1:
        raise EnhanceError(f"homogeneous_regions: size must be >= 4 and count >= 1, got {size}, {count}")
    h, w = image.shape
    rows, cols = h // size, w // size
    if rows == 0 or cols == 0:
        raise ShapeMismatch(f"homogeneous_regions: image {image.shape} smaller than one {size}x{size} tile")
    smooth = ndi.gaussian_filter(image, float(smoothing), mode="reflect")

    def tiles(a):
        return a[: rows * size, : cols * size].reshape(rows, size, cols, size).swapaxes(1, 2)

    raw, sm = tiles(image), tiles(smooth)
    mean = raw.mean(axis=(2, 3))
    hetero = sm.std(axis=(2, 3)) / np.maximum(sm.mean(axis=(2, 3)), _TINY)
    ok = (mean >= float(min_mean)) & ((raw >= float(max_value)).mean(axis=(2, 3)) <= 0.01)
    if not ok.any():
        raise EnhanceError(
            f"homogeneous_regions: no {size}x{size} tile has a mean >= {min_mean} and at most 1% "
            f"of its pixels at or above {max_value}; give a mask"
        )
    order = np.argsort(np.where(ok, hetero, np.inf), axis=None, kind="stable")[: min(count, int(ok.sum()))]
    labels = np.zeros(image.shape, np.int32)
    for k, flat in enumerate(order, start=1):
        r, c = divmod(int(flat), cols)
        labels[r * size : (r + 1) * size, c * size : (c + 1) * size] = k
    return labels


def _half_width(profile):
    """Lag (px, linearly interpolated) where a normalised autocorrelation profile first drops
    below 0.5; NaN when it never does within the profile."""
    below = np.flatnonzero(profile < 0.5)
    if below.size == 0 or below[0] == 0:
        return math.nan
    k = int(below[0])
    return float(k - 1 + (profile[k - 1] - 0.5) / (profile[k - 1] - profile[k]))


def speckle_grain(image, regions):
    """The speckle's statistics in homogeneous regions, median over the regions.

    Parameters
    ----------
    image : (H, W) array
        A B-mode frame (rows = depth, the axial direction; columns = lateral).
    regions : (H, W) int label image
        From :func:`homogeneous_regions` (rectangular tiles).

    Returns
    -------
    dict
        ``cv`` (std / mean: ``sqrt(Gamma(L + 1) Gamma(L) / Gamma(L + 1/2)^2 - 1)`` for an
        ``L``-look envelope, 0.52 for ``L = 1``, 0.25 for ``L = 4``), ``skew`` (of the pixels
        about the region's mean), ``axial`` and ``lateral`` (lags in px where the region's
        autocovariance, zero-padded, falls to half its peak: the grain's half-widths along rows
        and columns), and ``regions`` (how many were measured).

    Notes
    -----
    On a log-compressed display the std would not grow with the mean; on the envelope it is
    proportional to it: ``cv`` constant over regions of different brightness says which.
    """
    image = _image(image, "speckle_grain")
    labels = _labels(regions, image.shape, "speckle_grain")
    rows = []
    for k in range(1, int(labels.max()) + 1):
        where = np.nonzero(labels == k)
        if where[0].size < 16:
            continue
        r0, r1, c0, c1 = where[0].min(), where[0].max() + 1, where[1].min(), where[1].max() + 1
        tile = image[r0:r1, c0:c1]
        mean = float(tile.mean())
        dev = tile - mean
        std = float(dev.std())
        if std <= _TINY or mean <= _TINY:
            continue
        h, w = tile.shape
        power = np.abs(np.fft.rfft2(dev, s=(2 * h, 2 * w))) ** 2
        auto = np.fft.irfft2(power, s=(2 * h, 2 * w))
        auto /= auto[0, 0]
        rows.append((std / mean, float(np.mean(dev**3)) / std**3,
                     _half_width(auto[: h // 2, 0]), _half_width(auto[0, : w // 2])))
    if not rows:
        raise EnhanceError("speckle_grain: no region has 16 pixels and a positive mean and std")
    values = np.asarray(rows)
    with np.errstate(all="ignore"):
        med = [float(np.nanmedian(values[:, j])) for j in range(4)]
    return {"cv": med[0], "skew": med[1], "axial": med[2], "lateral": med[3], "regions": len(rows)}


def enl(image, regions):
    """Equivalent number of looks: ``mean^2 / variance`` in each region, averaged over regions.

    Parameters
    ----------
    image : (H, W) array
    regions : (H, W) int label image or bool mask
        From :func:`homogeneous_regions`, or a mask (each connected component is a region).

    Returns
    -------
    float
        ``inf`` when a region is constant.
    """
    image = _image(image, "enl")
    mean, var = _region_stats(image, _labels(regions, image.shape, "enl"), "enl")
    with np.errstate(divide="ignore"):
        values = np.where(var > _TINY * np.maximum(mean * mean, _TINY), mean * mean / var, np.inf)
    return float(np.mean(values))


def speckle_snr(image, regions):
    """Speckle signal-to-noise ratio ``mean / std`` in each region, averaged over regions
    (``sqrt`` of the ENL region by region; 1.91 for a Rayleigh-distributed envelope)."""
    image = _image(image, "speckle_snr")
    mean, var = _region_stats(image, _labels(regions, image.shape, "speckle_snr"), "speckle_snr")
    std = np.sqrt(var)
    with np.errstate(divide="ignore"):
        values = np.where(std > _TINY * np.maximum(np.abs(mean), _TINY), mean / std, np.inf)
    return float(np.mean(values))


def _two_regions(image, target, background, name):
    image = _image(image, name)
    t = np.asarray(target, bool)
    b = np.asarray(background, bool)
    if t.shape != image.shape or b.shape != image.shape:
        raise ShapeMismatch(f"{name}: masks must have the image's shape {image.shape}")
    if t.sum() < 2 or b.sum() < 2:
        raise EnhanceError(f"{name}: target and background need at least 2 pixels each")
    return image[t], image[b]


def cnr(image, target, background):
    """Contrast-to-noise ratio ``|mu_t - mu_b| / sqrt(var_t + var_b)`` of two masked regions.

    Parameters
    ----------
    image : (H, W) array
    target, background : (H, W) bool arrays
        The two regions (e.g. a lesion and the tissue around it).

    Returns
    -------
    float
        Linear (not in dB); ``inf`` when both regions are constant and differ.
    """
    t, b = _two_regions(image, target, background, "cnr")
    spread = math.sqrt(t.var() + b.var())
    diff = abs(t.mean() - b.mean())
    if spread <= _TINY:
        return math.inf if diff > _TINY else 0.0
    return float(diff / spread)


def gcnr(image, target, background, *, bins=256):
    """Generalized contrast-to-noise ratio (Rodriguez-Molares et al. 2020): ``1 - OVL``.

    ``OVL = sum_k min(p_t(k), p_b(k))`` is the overlap of the two regions' normalised histograms
    on a common set of ``bins`` equal bins spanning both regions' values; gCNR is the success rate
    of the ideal observer telling a pixel of one region from one of the other: 1 for disjoint
    distributions, 0 for identical ones (up to the histograms' sampling noise, which shrinks as
    the regions grow). It does not change under a monotonic grey-level map (log compression,
    dynamic range), unlike the CNR.

    Returns
    -------
    float
        In [0, 1].
    """
    t, b = _two_regions(image, target, background, "gcnr")
    lo, hi = min(t.min(), b.min()), max(t.max(), b.max())
    if hi <= lo:
        return 0.0
    edges = np.linspace(lo, hi, int(bins) + 1)
    pt, _ = np.histogram(t, edges)
    pb, _ = np.histogram(b, edges)
    overlap = np.minimum(pt / t.size, pb / b.size).sum()
    return float(np.clip(1.0 - overlap, 0.0, 1.0))


def _correlation(a, b, mask):
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != a.shape:
            raise ShapeMismatch(f"mask of shape {mask.shape} for an image of shape {a.shape}")
        a, b = a[mask], b[mask]
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    if den <= _TINY:
        return 1.0 if np.allclose(a, b) else 0.0
    return float((a * b).sum() / den)


def edge_keeping(image, output, *, sigma=1.0, mask=None):
    """Edge keeping: correlation of the Laplacians of input and output after a Gaussian of ``sigma``.

    ``corr(LoG_sigma(input), LoG_sigma(output))`` (``scipy.ndimage.gaussian_laplace``, reflect
    boundary), over the whole image or ``mask``: 1 when the output keeps every edge and fine echo
    of the input (the output is the input), lower as the filter blurs them. The ``sigma = 1`` px
    Gaussian keeps the single-pixel noise of the Laplacian from dominating.
    """
    image, output = _pair(image, output, "edge_keeping")
    s = float(sigma)
    return _correlation(ndi.gaussian_laplace(image, s, mode="reflect"),
                        ndi.gaussian_laplace(output, s, mode="reflect"), mask)


def sattar_beta(image, output, *, mask=None):
    """Sattar's edge-preservation ``beta`` (Sattar et al. 1997): the correlation of the 3 x 3
    Laplacians (``scipy.ndimage.laplace``) of input and output, their means removed; 1 when the
    output is the input."""
    image, output = _pair(image, output, "sattar_beta")
    return _correlation(ndi.laplace(image, mode="reflect"), ndi.laplace(output, mode="reflect"), mask)


def _masked(image, output, mask, name):
    image, output = _pair(image, output, name)
    if mask is None:
        return image.ravel(), output.ravel()
    mask = np.asarray(mask, bool) if np.asarray(mask).dtype == bool else np.asarray(mask) > 0
    if mask.shape != image.shape:
        raise ShapeMismatch(f"{name}: mask of shape {mask.shape} for an image of shape {image.shape}")
    if mask.sum() < 2:
        raise EnhanceError(f"{name}: the mask selects fewer than 2 pixels")
    return image[mask], output[mask]


def ssi(image, output, *, mask=None):
    """Speckle suppression index (Sheng & Xia 1996): ``(std_o / mean_o) / (std_i / mean_i)``
    over the image or ``mask`` (a bool mask or a label image: its non-zero pixels); 1 for the
    identity, lower for more suppression."""
    i, o = _masked(image, output, mask, "ssi")
    ci = i.std() / max(abs(i.mean()), _TINY)
    co = o.std() / max(abs(o.mean()), _TINY)
    return float(co / max(ci, _TINY))


def smpi(image, output, *, mask=None):
    """Speckle suppression and mean preservation index (Shamsoddini & Trinder 2010):
    ``(1 + |mean_i - mean_o|) std_o / std_i`` over the image or ``mask``; 1 for the identity,
    lower is better (the mean term penalises a filter that shifts brightness; the image's
    units, [0, 1] here)."""
    i, o = _masked(image, output, mask, "smpi")
    return float((1.0 + abs(i.mean() - o.mean())) * o.std() / max(i.std(), _TINY))


def mean_ratio(image, output, *, mask=None):
    """Brightness preservation: ``mean(output) / mean(input)`` over the image or ``mask``."""
    i, o = _masked(image, output, mask, "mean_ratio")
    if abs(i.mean()) <= _TINY:
        raise EnhanceError("mean_ratio: the input's mean is zero")
    return float(o.mean() / i.mean())


def ratio_image(image, output, *, floor=1e-3):
    """The ratio image ``input / output`` of a multiplicative despeckler (Gomez et al. 2017).

    Pixels where both are below ``floor`` (black background) are 1; elsewhere the output is
    floored at ``floor`` so the ratio stays finite. For the identity filter it is 1 everywhere.
    """
    image, output = _pair(image, output, "ratio_image")
    floor = float(floor)
    ratio = image / np.maximum(output, floor)
    ratio[(image < floor) & (output < floor)] = 1.0
    return ratio


def _glcm_homogeneity(quantised, levels):
    from skimage.feature import graycomatrix, graycoprops

    glcm = graycomatrix(quantised, distances=[1], angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4],
                        levels=levels, symmetric=True, normed=True)
    return float(graycoprops(glcm, "homogeneity").mean())


def ratio_image_score(image, output, regions, *, levels=32, permutations=10, seed=0):
    """Gomez, Ospina & Frery (2017)'s measure of a despeckler from its ratio image; 0 is ideal.

    ``M = r_ENL,mu + delta_h``:

    * first order, in the homogeneous ``regions`` (found on the input): ``r_ENL,mu = 1 / (2n)
      sum_i (|ENL_i(input) - ENL_i(ratio)| / ENL_i(input) + |1 - mean_i(ratio)|)`` -- the ratio of
      an ideal filter holds the input's speckle there (same ENL, mean 1). Where the ratio is
      constant (a filter that left a region as it was) its ENL is infinite and the term is
      capped at 1 (so the first-order part lies in [0, 1] for mean-preserving filters);
    * second order: ``delta_h = 100 |h_0 - h_g| / h_0``, with ``h_0`` the GLCM homogeneity of the
      ratio image and ``h_g`` the mean over ``permutations`` random shuffles of its pixels (which
      destroy any structure): a structureless ratio has ``h_0 ~ h_g``, edges and shapes left in
      the ratio raise ``h_0``.

    Simplifications, documented: the GLCM is computed over the whole ratio image, with the ratio
    clipped to its 1st..99th percentiles and quantised to ``levels`` grey levels, distance 1, the
    four directions averaged (the paper computes it on 32 levels too); the ENL term is capped at 1
    as said.

    Returns
    -------
    dict
        ``{"score": M, "first_order": r_ENL,mu, "delta_h": delta_h}``.
    """
    image, output = _pair(image, output, "ratio_image_score")
    labels = _labels(regions, image.shape, "ratio_image_score")
    ratio = ratio_image(image, output)
    mi, vi = _region_stats(image, labels, "ratio_image_score")
    mr, vr = _region_stats(ratio, labels, "ratio_image_score")
    enl_i = mi * mi / np.maximum(vi, _TINY)
    with np.errstate(divide="ignore", invalid="ignore"):
        enl_r = np.where(vr > _TINY, mr * mr / vr, np.inf)
        r_enl = np.minimum(np.abs(enl_i - enl_r) / enl_i, 1.0)
    first = float(np.mean(r_enl + np.abs(1.0 - mr)) / 2.0)
    lo, hi = np.percentile(ratio, [1, 99])
    if hi - lo <= _TINY:
        delta_h = 0.0  # a constant ratio has no structure (it fails the first-order test instead)
    else:
        q = np.clip((ratio - lo) / (hi - lo) * (levels - 1) + 0.5, 0, levels - 1).astype(np.uint8)
        h0 = _glcm_homogeneity(q, levels)
        rng = np.random.default_rng(seed)
        hg = np.mean([_glcm_homogeneity(rng.permutation(q.ravel()).reshape(q.shape), levels)
                      for _ in range(int(permutations))])
        delta_h = float(100.0 * abs(h0 - hg) / max(h0, _TINY))
    return {"score": first + delta_h, "first_order": first, "delta_h": delta_h}


def contrast_regions(image, regions):
    """Target and background for :func:`cnr` / :func:`gcnr` without a user's choice: the
    brightest and the darkest of the homogeneous ``regions`` (by their mean on ``image``, the
    input). Returns two bool masks; fewer than two regions: :class:`EnhanceError`."""
    image = _image(image, "contrast_regions")
    labels = _labels(regions, image.shape, "contrast_regions")
    index = np.unique(labels[labels > 0])
    if index.size < 2:
        raise EnhanceError("contrast_regions: need at least two regions")
    means = np.asarray(ndi.mean(image, labels, index))
    return labels == index[int(np.argmax(means))], labels == index[int(np.argmin(means))]


#: The keys of :func:`despeckling_report`, in presentation order.
REPORT_KEYS = ("enl", "enl_gain", "snr", "cnr", "gcnr", "edge_keeping", "beta", "ssi", "smpi",
               "mean_ratio", "ratio_score")


def despeckling_report(image, output=None, *, regions=None, target=None, background=None):
    """Every no-reference number of one frame, or of one (input, output) pair.

    Parameters
    ----------
    image : (H, W) array
        The input (noisy) frame; regions are found on it.
    output : (H, W) array, optional
        The despeckled frame. Without it, the numbers of the input alone (``enl``, ``snr``,
        ``cnr``, ``gcnr``).
    regions : label image or bool mask, optional, keyword-only
        Homogeneous regions (default :func:`homogeneous_regions` of ``image``).
    target, background : bool masks, optional, keyword-only
        For CNR / gCNR (default :func:`contrast_regions`).

    Returns
    -------
    dict
        Keys of :data:`REPORT_KEYS` (those that apply): ``enl`` and ``snr`` of the output (of
        the input without one), ``enl_gain`` = output ENL / input ENL, ``cnr`` / ``gcnr`` of the
        output, ``edge_keeping``, ``beta``, ``ssi`` and ``smpi`` (in the regions), ``mean_ratio``
        (whole image), ``ratio_score`` (:func:`ratio_image_score`'s ``score``).
    """
    image = _image(image, "despeckling_report")
    labels = homogeneous_regions(image) if regions is None else _labels(regions, image.shape, "despeckling_report")
    if target is None or background is None:
        try:
            target, background = contrast_regions(image, labels)
        except EnhanceError:
            target = background = None
    frame = image if output is None else _image(output, "despeckling_report")
    out = {"enl": enl(frame, labels), "snr": speckle_snr(frame, labels)}
    if target is not None:
        out["cnr"] = cnr(frame, target, background)
        out["gcnr"] = gcnr(frame, target, background)
    if output is None:
        return out
    out["enl_gain"] = out["enl"] / enl(image, labels)
    out["edge_keeping"] = edge_keeping(image, frame)
    out["beta"] = sattar_beta(image, frame)
    out["ssi"] = ssi(image, frame, mask=labels > 0)
    out["smpi"] = smpi(image, frame, mask=labels > 0)
    out["mean_ratio"] = mean_ratio(image, frame)
    out["ratio_score"] = ratio_image_score(image, frame, labels)["score"]
    return {k: out[k] for k in REPORT_KEYS if k in out}
