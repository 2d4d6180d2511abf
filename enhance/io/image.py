"""The in-memory image (:class:`Image`, :class:`ImageMeta`) and the one dtype/range policy.

Every reader turns the stored values ``raw`` of a file into float32 ``pixels`` in [0, 1]
through one affine map, recorded in the image's :class:`ImageMeta` so that a writer can
invert it exactly::

    raw = lo + pixels * (hi - lo)          (inverted images: raw = hi - pixels * (hi - lo))

How ``lo`` and ``hi`` are chosen (:func:`value_range`):

* integer data of at most 16 bits map the full range of their dtype: uint8 0..255,
  uint16 0..65535, int8 -128..127, int16 -32768..32767 (bool 0..1);
* grayscale scanner data — DICOM and NIfTI — map their own min..max instead: a CT stored as
  signed 16-bit with values 128..2191 would otherwise fill 3% of [0, 1], and every noise level,
  model and baseline would see a flat image. The range is recorded, so writing back is exact.
  Colour DICOM (e.g. ultrasound RGB) maps the range of its stored bits (``BitsStored``,
  ``PixelRepresentation``); data outside that range fall back to the full dtype range;
* integers wider than 16 bits map their own min..max (recorded; a constant image has
  lo == hi and reads as all zeros, written back as that constant);
* float data must be finite: a NaN or infinity is refused (:class:`NonFinitePixels`; nothing
  says what such a pixel should hold). Float data within [0, 1] are the pixels themselves
  (lo = 0, hi = 1: the spec's scale, never stretched); float data outside [0, 1] map a *robust* range (:func:`float_range`): their own min..max unless
  some values lie far outside the bulk of the data (beyond ten times the spread of its
  0.1-99.9 percentiles), which are then clipped to the nearest value that does not. One pixel of
  1e38 in a CT stored in Hounsfield units cannot squeeze the other pixels into a few
  millionths of [0, 1]. The map and the number of clipped values are recorded
  (``meta.extra['value_map']``), and written outputs are in the input's own scale.

Pixels that hold no measurement — float NoData values, a DICOM's ``PixelPaddingValue``, a CT's
padding, an extreme value far from all others (:func:`find_padding`) — are kept apart
(:class:`Padding`, ``meta.extra['padding']``): left out of ``lo..hi``, read as the image mirrored
into them, written back exactly by writers of the source's format and dtype.

Integer values of up to 24 bits survive float32 exactly, so read -> write -> read is
bit-exact for 8- and 16-bit integer data (PNG, TIFF, DICOM, NIfTI, .npy). Float data and
wider integers round-trip to float32 precision (relative error ~6e-8 of hi - lo).

When writing (:func:`to_raw`), pixels are first cleaned (NaN -> 0) and clipped to [0, 1],
then mapped to ``raw`` in float64 and, for integer dtypes, rounded half to even
(:func:`numpy.rint`) and clipped to the dtype's range.

DICOM ``MONOCHROME1`` (and TIFF ``MINISWHITE``) images are stored inverted (bright = low);
their meta has ``invert=True`` so that in ``pixels`` bright is always high.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from enhance.errors import ShapeMismatch

__all__ = [
    "Image", "ImageMeta", "WritePlan", "value_range", "value_map", "float_range", "to_unit",
    "to_raw", "dtype_range", "NonFinitePixels", "Padding", "find_padding", "measured_map",
]

#: Integer data with at most this many bits map their dtype's (or stored bits') full range.
MAX_FULL_RANGE_BITS = 16

_COLOR_NAMES = {1: "gray", 3: "rgb", 4: "rgba"}


def dtype_range(dtype, bits=None, signed=None):
    """Return the full value range ``(lo, hi)`` of an integer dtype or of a number of bits.

    Parameters
    ----------
    dtype : dtype-like
        An integer or bool dtype.
    bits : int, optional
        Number of significant bits (DICOM ``BitsStored``); default: all bits of `dtype`.
    signed : bool, optional
        Whether the values are two's complement; default: the signedness of `dtype`.

    Returns
    -------
    lo, hi : float
    """
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return 0.0, 1.0
    if bits is None:
        bits = dtype.itemsize * 8
    if signed is None:
        signed = dtype.kind == "i"
    if signed:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def value_range(raw, *, bits=None, signed=None, own=False):
    """Return ``(lo, hi)`` such that ``pixels = (raw - lo) / (hi - lo)`` (the module's policy).

    Parameters
    ----------
    raw : ndarray
        Stored values as read from a file.
    bits : int, optional
        Stored bits (DICOM ``BitsStored``) for integer data; default: the dtype's bits.
    signed : bool, optional
        Whether the stored bits are signed; default: the dtype's signedness.
    own : bool, optional
        Map the data's own min..max whatever the dtype (grayscale DICOM and NIfTI).

    Returns
    -------
    lo, hi : float
    """
    raw = np.asarray(raw)
    kind = raw.dtype.kind
    if kind == "b":
        return 0.0, 1.0
    if kind in "iu" and own:
        finite = raw
    elif kind in "iu":
        nbits = bits if bits is not None else raw.dtype.itemsize * 8
        if nbits <= MAX_FULL_RANGE_BITS:
            lo, hi = dtype_range(raw.dtype, nbits, signed)
            if raw.size and (raw.min() < lo or raw.max() > hi):
                lo, hi = dtype_range(raw.dtype)
            return lo, hi
        finite = raw
    elif kind == "f":
        mapped = float_range(raw)
        return mapped.lo, mapped.hi
    else:
        raise TypeError(f"unsupported pixel dtype {raw.dtype}")
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def value_map(raw, *, bits=None, signed=None, own=False):
    """:func:`value_range` and, for float data, a record of the map for the manifest.

    Parameters
    ----------
    raw : ndarray
    bits, signed, own
        As for :func:`value_range`.

    Returns
    -------
    lo, hi : float
    note : dict or None
        For float data :meth:`FloatRange.as_dict` (``lo``, ``hi``, the data's ``min`` and
        ``max``, the number of ``clipped`` values); None for integer data.

    Raises
    ------
    NonFinitePixels
        Float data holding NaN or infinity.
    """
    raw = np.asarray(raw)
    if raw.dtype.kind == "f":
        mapped = float_range(raw)
        return mapped.lo, mapped.hi, mapped.as_dict()
    lo, hi = value_range(raw, bits=bits, signed=signed, own=own)
    return lo, hi, None


class NonFinitePixels(ValueError):
    """Float pixel data hold NaN or infinite values (:func:`enhance.io.read_image` refuses them)."""


#: The robust range of float data outside [0, 1] starts from these quantiles of the data ...
OUTLIER_QUANTILE = 0.001
#: ... and values farther than this many times their spread beyond them are outliers.
OUTLIER_FENCE = 10.0
#: With no spread (99.8% of the values equal), only values farther than this many times the
#: data's magnitude (at least 1) are outliers.
FLAT_FENCE = 1e6
#: The quantiles are taken from at most this many evenly spaced values.
RANGE_SAMPLE = 1 << 20


@dataclass(frozen=True)
class FloatRange:
    """How float data map to [0, 1]: ``pixels = clip((raw - lo) / (hi - lo), 0, 1)``.

    Attributes
    ----------
    lo, hi : float
        The mapped range.
    min, max : float
        The data's own extremes.
    clipped : int
        Values outside ``lo..hi`` (outliers), which read as 0 or 1.
    """

    lo: float
    hi: float
    min: float
    max: float
    clipped: int = 0

    def as_dict(self):
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


def _flat_chunks(flat):
    for start in range(0, flat.size, CONVERT_STRIP_ELEMENTS):
        yield flat[start : start + CONVERT_STRIP_ELEMENTS]


def float_range(raw):
    """The range float data map to [0, 1], robust to a few absurd values (see the module).

    Parameters
    ----------
    raw : ndarray of float

    Returns
    -------
    FloatRange
        Data within [0, 1] map 0..1 (the pixels are the values: never a stretch of their own
        range); data without outliers map their own min..max (nothing clipped). Outliers are values beyond ``q_lo - w`` or ``q_hi + w``, with ``q_lo`` and
        ``q_hi`` the :data:`OUTLIER_QUANTILE` and ``1 - OUTLIER_QUANTILE`` quantiles and
        ``w = OUTLIER_FENCE * (q_hi - q_lo)`` (``FLAT_FENCE * max(|q|, 1)`` when they are
        equal); the range is then the min..max of the other values.

    Raises
    ------
    NonFinitePixels
        Some value is NaN or infinite.
    """
    flat = np.asarray(raw).reshape(-1)
    if flat.size == 0:
        return FloatRange(0.0, 0.0, 0.0, 0.0)
    bad = sum(int(c.size - np.count_nonzero(np.isfinite(c))) for c in _flat_chunks(flat))
    if bad:
        raise NonFinitePixels(
            f"{bad:,} of {flat.size:,} values are not finite (NaN or infinity): refused, since "
            "nothing says what they should hold"
        )
    data_min, data_max = float(flat.min()), float(flat.max())
    if data_min >= 0.0 and data_max <= 1.0:  # the spec's scale: read as they are, not stretched
        return FloatRange(0.0, 1.0, data_min, data_max)
    sample = flat[:: max(1, flat.size // RANGE_SAMPLE)].astype(np.float64)
    n = sample.size
    m = min(max(int(n * OUTLIER_QUANTILE), 1), (n - 1) // 2)
    part = np.partition(sample, (m, n - 1 - m))
    q_lo, q_hi = float(part[m]), float(part[n - 1 - m])
    spread = q_hi - q_lo
    width = OUTLIER_FENCE * spread if spread > 0 else FLAT_FENCE * max(abs(q_lo), abs(q_hi), 1.0)
    fence_lo, fence_hi = q_lo - width, q_hi + width
    if data_min >= fence_lo and data_max <= fence_hi:
        return FloatRange(data_min, data_max, data_min, data_max)
    lo, hi, clipped = math.inf, -math.inf, 0
    for chunk in _flat_chunks(flat):
        inside = (chunk >= fence_lo) & (chunk <= fence_hi)
        kept = chunk[inside]
        clipped += chunk.size - kept.size
        if kept.size:
            lo, hi = min(lo, float(kept.min())), max(hi, float(kept.max()))
    return FloatRange(lo, hi, data_min, data_max, clipped)


#: Finite float values of at least this magnitude are NoData sentinels (-3.4e38, the most
#: negative float32, marks "no data" in GIS rasters and float CT exports; 1e30 and -1e30 too):
#: no measured quantity is that large.
NODATA_MAGNITUDE = 1e30
#: In a CT (DICOM Modality CT, values in Hounsfield units through the rescale), values at or
#: below this are padding outside the field of view (-2000, -3024, -32768): air is -1000.
CT_PADDING_HU = -1500.0
#: ... when held by at least this many pixels (noisy air may reach it pixel by pixel).
PADDING_MIN_PIXELS = 16
#: An extreme value (the minimum or the maximum of a grayscale image whose range is its own)
#: farther from every other value than this many times their span is padding (-32768 around
#: a CT in HU: a gap of ~31,000 beside a span of ~4,000).
PLATEAU_GAP = 4.0


@dataclass(eq=False)
class Padding:
    """Pixels that hold no measurement: padding outside a scanner's field of view, NoData
    sentinels. They are left out of the value range, read as the nearest measured pixel
    (:meth:`fill_pixels`: a network sees neither their value nor an edge), and written back
    exactly (:meth:`restore`).

    Attributes
    ----------
    mask : ndarray of bool
        Where they are, in the layout of the stored values (and of the pixels).
    values : ndarray
        Their stored values (``raw[mask]``).
    reasons : tuple of str
        Why (``PixelPaddingValue -2000``, ``NoData (|value| >= 1e+30)``, ...).
    """

    mask: np.ndarray
    values: np.ndarray
    reasons: tuple = ()

    @property
    def count(self):
        """How many values are padding or NoData."""
        return int(self.values.size)

    def as_dict(self):
        """The manifest's note: ``{"pixels": count, "reasons": [...]}``."""
        return {"pixels": self.count, "reasons": list(self.reasons)}

    def fill_pixels(self, pixels):
        """``pixels`` (of the mask's shape) with the padding of each 2-D frame filled from the
        measured pixels, in place: each takes the value of its mirror image across the nearest
        measured pixel (the image continued by reflection, as at a border: same texture and
        noise, no edge, no flat patch to bias a noise estimate), or of the nearest measured
        pixel when the mirror is not measured; 0 in a frame without any."""
        if pixels.shape != self.mask.shape:
            return pixels
        frames = zip(pixels.reshape((-1,) + pixels.shape[-2:]),
                     self.mask.reshape((-1,) + self.mask.shape[-2:]))
        previous, plan = None, None
        for frame, mask in frames:  # views: written in place
            if not mask.any():
                continue
            if mask.all():
                frame[...] = 0.0
                continue
            if previous is None or not np.array_equal(mask, previous):  # slices share padding
                plan, previous = _mirror_sources(mask), mask
            at_r, at_c, src_r, src_c = plan
            frame[at_r, at_c] = frame[src_r, src_c]
        return pixels

    def restore(self, raw):
        """``raw`` (stored values of the source's dtype and layout) with the padding's own
        values put back, in place; other shapes or dtypes are returned as they are."""
        if raw.shape == self.mask.shape and raw.dtype == self.values.dtype:
            raw[self.mask] = self.values
        return raw


def _mirror_sources(mask):
    """``(rows, cols, source rows, source cols)``: where each masked pixel of a 2-D mask takes
    its value from (:meth:`Padding.fill_pixels`)."""
    from scipy.ndimage import distance_transform_edt

    rows, cols = distance_transform_edt(mask, return_distances=False, return_indices=True)
    at_r, at_c = np.nonzero(mask)
    near_r, near_c = rows[mask], cols[mask]
    del rows, cols
    far_r, far_c = 2 * near_r - at_r, 2 * near_c - at_c
    inside = (far_r >= 0) & (far_r < mask.shape[0]) & (far_c >= 0) & (far_c < mask.shape[1])
    mirror = np.zeros(at_r.shape, bool)
    mirror[inside] = ~mask[far_r[inside], far_c[inside]]
    return at_r, at_c, np.where(mirror, far_r, near_r), np.where(mirror, far_c, near_c)


def _extreme_plateau(values, keep):
    """A mask of the minimum (then the maximum) of the values ``keep`` selects (None: all)
    when it lies farther than :data:`PLATEAU_GAP` times the span of the others from them
    (None if neither; never when the others hold a single value: two-valued images are data);
    and the reasons. One boolean temporary at a time (large volumes)."""
    info = np.finfo(values.dtype) if values.dtype.kind == "f" else np.iinfo(values.dtype)

    def low(where=None):
        return float(values.min(where=True if where is None else where, initial=info.max))

    def high(where=None):
        return float(values.max(where=True if where is None else where, initial=info.min))

    def both(extra):
        return extra if keep is None else keep & extra

    found, reasons = None, []
    lowest, highest = low(keep), high(keep)
    if lowest >= highest:
        return None, []
    # the minimum: its gap to the next value beside the span of the others
    near = low(both(values > lowest))
    if near < highest and near - lowest > PLATEAU_GAP * (highest - near):  # others vary
        found = both(values == lowest)
        reasons.append(f"padding value {lowest:g} (far below the other values)")
        lowest = near
    if lowest < highest:
        near = high(both(values < highest))
        if near > lowest and highest - near > PLATEAU_GAP * (near - lowest):
            hit = both(values == highest)
            found = hit if found is None else found | hit
            reasons.append(f"padding value {highest:g} (far above the other values)")
    return found, reasons


def find_padding(raw, *, declared=None, hounsfield=None, plateau=False):
    """The :class:`Padding` of grayscale stored values, or None when there is none.

    Parameters
    ----------
    raw : ndarray
        Stored values (grayscale; any layout).
    declared : tuple of (float, float, str), optional
        A range of stored values the file declares as padding (DICOM ``PixelPaddingValue``
        to ``PixelPaddingRangeLimit``) and its name.
    hounsfield : tuple of (float, float), optional
        ``(slope, intercept)`` to Hounsfield units of a CT: its minimum value, when at or
        below :data:`CT_PADDING_HU` and held by :data:`PADDING_MIN_PIXELS` pixels or more.
    plateau : bool, optional
        Also an extreme value far from all others (:data:`PLATEAU_GAP`); for data whose range
        is their own (grayscale DICOM, NIfTI, float data outside [0, 1]).

    Finite float values of magnitude :data:`NODATA_MAGNITUDE` or more are always NoData.
    """
    raw = np.asarray(raw)
    if raw.dtype.kind not in "iuf" or raw.size == 0:
        return None
    found, reasons = None, []

    def add(mask, reason):
        nonlocal found
        if mask.any():
            found = mask if found is None else found | mask
            reasons.append(reason)

    lowest, highest = raw.min(), raw.max()  # NaN: no NoData test (read_image refuses NaN)
    if raw.dtype.kind == "f" and (lowest <= -NODATA_MAGNITUDE or highest >= NODATA_MAGNITUDE):
        with np.errstate(invalid="ignore"):
            add(np.isfinite(raw) & (np.abs(raw) >= NODATA_MAGNITUDE),
                f"NoData (|value| >= {NODATA_MAGNITUDE:g})")
    if declared is not None:
        low, high, name = declared
        low, high = min(low, high), max(low, high)
        if lowest <= high and highest >= low:
            add((raw >= low) & (raw <= high), name)
    if hounsfield is not None:
        slope, intercept = hounsfield
        if slope > 0 and lowest <= (CT_PADDING_HU - intercept) / slope:
            hit = raw == lowest  # padding is one value, held by a region (noisy air is not)
            if np.count_nonzero(hit) >= PADDING_MIN_PIXELS:
                add(hit, f"CT padding {lowest:g} (at most {CT_PADDING_HU:g} HU)")
    if plateau:
        keep = None if found is None else ~found
        if raw.dtype.kind == "f" and not (np.isfinite(lowest) and np.isfinite(highest)):
            finite = np.isfinite(raw)
            keep = finite if keep is None else keep & finite
        kept = raw if keep is None else raw[keep]
        inside = raw.dtype.kind == "f" and kept.size and kept.min() >= 0 and kept.max() <= 1
        del kept
        if not inside and (keep is None or keep.any()):
            hit, why = _extreme_plateau(raw, keep)
            if hit is not None:
                found = hit if found is None else found | hit
                reasons.extend(why)
    if not reasons:
        return None
    return Padding(found, raw[found], tuple(reasons))


def measured_map(raw, *, bits=None, signed=None, own=False, padding=None):
    """:func:`value_map` of the values that are not ``padding`` (a :class:`Padding` or None).

    Returns
    -------
    lo, hi, note
        As :func:`value_map`'s, over the measured values only.
    """
    if padding is None:
        return value_map(raw, bits=bits, signed=signed, own=own)
    return value_map(np.asarray(raw)[~padding.mask], bits=bits, signed=signed, own=own)


#: to_unit / to_raw convert arrays with more elements than this in strips along the first axis
#: (the maps are elementwise, so the values are the same), bounding their scratch memory.
CONVERT_STRIP_ELEMENTS = 1 << 22


def _in_strips(convert, array, out_dtype):
    """``convert(array)``, computed strip by strip along the first axis for large arrays."""
    if array.size <= CONVERT_STRIP_ELEMENTS or array.ndim == 0 or array.shape[0] < 2:
        return convert(array)
    out = np.empty(array.shape, out_dtype)
    rows = max(1, CONVERT_STRIP_ELEMENTS // max(1, array.size // array.shape[0]))
    for start in range(0, array.shape[0], rows):
        out[start : start + rows] = convert(array[start : start + rows])
    return out


def to_unit(raw, lo, hi, *, invert=False):
    """Map stored values to float32 pixels in [0, 1] (``(raw - lo) / (hi - lo)``).

    Parameters
    ----------
    raw : ndarray
        Stored values.
    lo, hi : float
        The range mapped to 0 and 1 (see :func:`value_range`).
    invert : bool, optional
        Map ``hi`` to 0 and ``lo`` to 1 (MONOCHROME1).

    Returns
    -------
    pixels : ndarray of float32
        Same shape as `raw`; NaN becomes 0; a constant range (``lo == hi``) gives zeros.
    """
    raw = np.asarray(raw)
    if float(hi) - float(lo) == 0:
        return np.zeros(raw.shape, np.float32)
    return _in_strips(lambda strip: _to_unit(strip, lo, hi, invert), raw, np.float32)


def _to_unit(raw, lo, hi, invert):
    small_int = raw.dtype.kind in "biu" and raw.dtype.itemsize <= 2
    work = np.float32 if small_int else np.float64
    scale = float(hi) - float(lo)
    p = raw.astype(work)  # a fresh array: the steps below work in place (one image of memory)
    if invert:
        np.subtract(work(hi), p, out=p)
    else:
        np.subtract(p, work(lo), out=p)
    np.divide(p, work(scale), out=p)
    np.nan_to_num(p, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(p, 0.0, 1.0, out=p).astype(np.float32, copy=False)


def to_raw(pixels, dtype, lo, hi, *, invert=False):
    """Map pixels in [0, 1] back to stored values of `dtype` (the inverse of :func:`to_unit`).

    Parameters
    ----------
    pixels : ndarray
        Float pixels; NaN becomes 0, values are clipped to [0, 1].
    dtype : dtype-like
        Output dtype.
    lo, hi : float
        The range that 0 and 1 map to.
    invert : bool, optional
        Map 0 to ``hi`` and 1 to ``lo`` (MONOCHROME1).

    Returns
    -------
    raw : ndarray of `dtype`
        Integer dtypes are rounded half to even and clipped to the dtype's range.
    """
    dtype = np.dtype(dtype)
    pixels = np.asarray(pixels)
    out_dtype = bool if dtype.kind == "b" else dtype
    return _in_strips(lambda strip: _to_raw(strip, dtype, lo, hi, invert), pixels, out_dtype)


def _to_raw(pixels, dtype, lo, hi, invert):
    raw = np.array(pixels, dtype=np.float64)  # a copy: the steps below work in place
    np.nan_to_num(raw, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(raw, 0.0, 1.0, out=raw)
    np.multiply(raw, float(hi) - float(lo), out=raw)
    if invert:
        np.subtract(float(hi), raw, out=raw)
    else:
        np.add(raw, float(lo), out=raw)
    if dtype.kind == "b":
        return np.rint(raw) >= 1
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        np.rint(raw, out=raw)
        np.clip(raw, max(info.min, min(lo, hi)), min(info.max, max(lo, hi)), out=raw)
        return raw.astype(dtype)
    return raw.astype(dtype)


@dataclass(eq=False)
class ImageMeta:
    """Everything needed to write pixels back in the format, dtype and range they came from.

    Attributes
    ----------
    format : str
        One of ``'png'``, ``'jpeg'``, ``'tiff'``, ``'dicom'``, ``'nifti'``, ``'npy'``.
    dtype : numpy.dtype
        The stored dtype of the source.
    lo, hi : float
        The affine map ``raw = lo + pixels * (hi - lo)`` (see the module docstring).
    path : str or None
        The source file.
    invert : bool
        Stored inverted (DICOM MONOCHROME1, TIFF MINISWHITE): ``raw = hi - pixels * (hi - lo)``.
    is_stack : bool
        ``pixels`` has a leading frame/slice/page axis.
    channels : int
        1 (grayscale), 3 (RGB) or 4 (RGBA), the size of the trailing axis when > 1.
    extra : dict
        Format-specific payload. DICOM: ``dataset`` (the pydicom Dataset without its pixel
        data), ``transfer_syntax``, ``photometric``, ``bits_allocated``, ``bits_stored``,
        ``rescale`` (slope, intercept). NIfTI: ``header``, ``affine``, ``axis``, ``ndim``,
        ``slope``, ``inter``, ``image_class``. TIFF: ``photometric``, ``resolution``,
        ``resolutionunit``, ``compression``.
    """

    format: str
    dtype: np.dtype
    lo: float
    hi: float
    path: str | None = None
    invert: bool = False
    is_stack: bool = False
    channels: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        dtype = np.dtype(self.dtype)
        self.dtype = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
        self.lo = float(self.lo)
        self.hi = float(self.hi)

    def __repr__(self):
        return (
            f"ImageMeta(format={self.format!r}, dtype={self.dtype.name}, lo={self.lo:g}, "
            f"hi={self.hi:g}, invert={self.invert}, is_stack={self.is_stack}, "
            f"channels={self.channels}, path={self.path!r}, extra=[{', '.join(self.extra)}])"
        )

    @property
    def color(self):
        """``'gray'``, ``'rgb'`` or ``'rgba'``."""
        return _COLOR_NAMES.get(self.channels, f"{self.channels}-channel")

    @property
    def padding(self):
        """The source's :class:`Padding` (``extra['padding']``), or None."""
        return self.extra.get("padding")

    def to_unit(self, raw):
        """Map stored values of this source to pixels in [0, 1] (see :func:`to_unit`); its
        padding, if any (same shape), reads as the padding's fill value."""
        pixels = to_unit(raw, self.lo, self.hi, invert=self.invert)
        return pixels if self.padding is None else self.padding.fill_pixels(pixels)

    def to_raw(self, pixels):
        """Map pixels in [0, 1] to stored values of this source (see :func:`to_raw`); its
        padding, if any (same shape), gets its own stored values back."""
        raw = to_raw(pixels, self.dtype, self.lo, self.hi, invert=self.invert)
        return raw if self.padding is None else self.padding.restore(raw)

    def replace(self, **changes):
        """Return a copy with some fields changed (the payload dict is shared, not copied)."""
        return dataclasses.replace(self, **changes)


def _layout_ndim(is_stack, channels):
    return 2 + int(bool(is_stack)) + int(channels > 1)


@dataclass(eq=False)
class Image:
    """Float32 pixels in [0, 1] and the :class:`ImageMeta` to write them back.

    Attributes
    ----------
    pixels : ndarray of float32
        (H, W) grayscale, (H, W, C) colour with C = 3 or 4, (N, H, W) or (N, H, W, C) stacks.
    meta : ImageMeta
    """

    pixels: np.ndarray
    meta: ImageMeta

    def __repr__(self):
        return (
            f"Image(shape={self.pixels.shape}, format={self.meta.format!r}, "
            f"dtype={self.meta.dtype.name}, is_stack={self.meta.is_stack})"
        )

    @property
    def shape(self):
        """Shape of :attr:`pixels`."""
        return self.pixels.shape

    @property
    def is_stack(self):
        """Whether :attr:`pixels` has a leading frame axis."""
        return self.meta.is_stack

    @property
    def channels(self):
        """1, 3 or 4."""
        return self.meta.channels

    @property
    def n_frames(self):
        """Number of 2-D planes (1 unless a stack)."""
        return self.pixels.shape[0] if self.meta.is_stack else 1

    @property
    def frames(self):
        """The 2-D planes as a list of views: (H, W) or (H, W, C) each."""
        if self.meta.is_stack:
            return [self.pixels[i] for i in range(self.pixels.shape[0])]
        return [self.pixels]

    def raw(self):
        """Return the pixels as stored values of the source's dtype (``meta.to_raw``)."""
        return self.meta.to_raw(self.pixels)

    def with_pixels(self, pixels):
        """Return an image with other pixels and the same meta.

        Parameters
        ----------
        pixels : array_like
            New pixels in [0, 1], with the same layout (stack or not, channel count) as
            :attr:`pixels`; height, width and frame count may differ.

        Returns
        -------
        Image

        Raises
        ------
        ShapeMismatch
            If the layout differs.
        """
        new = np.asarray(pixels, dtype=np.float32)
        want = _layout_ndim(self.meta.is_stack, self.meta.channels)
        if new.ndim != want or (self.meta.channels > 1 and new.shape[-1] != self.meta.channels):
            raise ShapeMismatch(
                f"new pixels of shape {new.shape} do not fit an image of shape {self.pixels.shape}"
            )
        return Image(new, self.meta)


@dataclass(eq=False)
class WritePlan:
    """How a writer must store pixels: resolved by :func:`enhance.io.write_image`.

    Attributes
    ----------
    format : str
    dtype : numpy.dtype
    lo, hi : float
    invert : bool
    is_stack : bool
    channels : int
    meta : ImageMeta or None
        The source's meta when it has the same format (header, payload), else None.
    derivation : str or None
        Description of the processing, for DICOM's DerivationDescription.
    path : str
        The destination, for messages.
    deid : enhance.io.deid.Deidentifier or None
        De-identify the DICOM header written (PS3.15 basic profile).
    """

    format: str
    dtype: np.dtype
    lo: float
    hi: float
    invert: bool = False
    is_stack: bool = False
    channels: int = 1
    meta: ImageMeta | None = None
    derivation: str | None = None
    path: str = ""
    deid: Any = None

    def to_raw(self, pixels):
        """Map pixels in [0, 1] to stored values (see :func:`to_raw`), the source's padding
        written back exactly (:meth:`restore_padding`)."""
        return self.restore_padding(to_raw(pixels, self.dtype, self.lo, self.hi, invert=self.invert))

    def restore_padding(self, raw):
        """``raw`` with the source's :class:`Padding` values put back, when this plan writes
        the source's format, dtype and value map (in place; otherwise ``raw`` as it is)."""
        meta = self.meta
        if meta is None or meta.padding is None or self.dtype != meta.dtype:
            return raw
        if (self.lo, self.hi) != (meta.lo, meta.hi):
            return raw
        return meta.padding.restore(raw)
