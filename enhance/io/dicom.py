"""DICOM images (pydicom): read stored values, write DERIVED images with new UIDs.

Reading keeps the stored values (no modality/VOI LUT); ``RescaleSlope``/``RescaleIntercept``
are recorded in ``meta.extra['rescale']``. MONOCHROME1 is inverted (``meta.invert``), YBR
colour is converted to RGB, PALETTE COLOR expanded to RGB, multi-frame data become a stack.
Compressed pixel data are decoded by the plugins pydicom finds (pillow: JPEG baseline and
JPEG 2000; RLE natively); outputs are always uncompressed (Explicit VR Little Endian
unless the source was Implicit VR Little Endian).
"""

from __future__ import annotations

import copy
import hashlib
import re

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, get_decoder, pack_bits, pixel_array
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, UID, generate_uid

from enhance.errors import UnreadableImage, UnwritableImage, one_line
from enhance.io.image import Image, ImageMeta, find_padding, measured_map, to_raw, value_map
from enhance.io.limits import check_min_size, check_pixels

__all__ = ["read_dicom", "write_dicom", "DEFAULT_DERIVATION"]

#: DerivationDescription written when ``write_image`` gets no ``derivation``.
DEFAULT_DERIVATION = "processed with enhance"

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_DROPPED_ON_WRITE = (
    "FloatPixelData", "DoubleFloatPixelData", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "SmallestImagePixelValue", "LargestImagePixelValue",
)
_PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
)
_PIP_NAMES = {"gdcm": "python-gdcm"}

# DICOM objects that are not images to restore, by SOP class (UID prefix) and by Modality, with
# the reason: their values are doses, labels or parameters (restoring would change them), or
# they hold no pixels at all. RT Image (portal images) and secondary captures are images.
_WAVEFORM = "a waveform, not an image"
_NOT_IMAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.481.2": "its values are radiation doses, which denoising would change",
    "1.2.840.10008.5.1.4.1.1.481.": "radiotherapy data (structures, plans, records), not an image",
    "1.2.840.10008.5.1.4.1.1.66.4": "a segmentation: its values are labels, not intensities",
    "1.2.840.10008.5.1.4.1.1.66.": "raw data, a registration, fiducials or a segmentation, "
                                   "not an image",
    "1.2.840.10008.5.1.4.1.1.67": "a real world value map, not an image",
    "1.2.840.10008.5.1.4.1.1.88.": "a structured report, not an image",
    "1.2.840.10008.5.1.4.1.1.11.": "a presentation state, not an image",
    "1.2.840.10008.5.1.4.1.1.104.": "an encapsulated document, not an image",
    "1.2.840.10008.5.1.4.1.1.9.": _WAVEFORM,
}
_NOT_IMAGE_MODALITIES = {
    "RTDOSE": "its values are radiation doses, which denoising would change",
    "RTSTRUCT": "an RT structure set (contours), not an image",
    "RTPLAN": "an RT plan, not an image",
    "RTRECORD": "an RT treatment record, not an image",
    "SEG": "a segmentation: its values are labels, not intensities",
    "SR": "a structured report, not an image",
    "PR": "a presentation state, not an image",
    "KO": "a key object selection, not an image",
    "REG": "a registration, not an image",
    "FID": "fiducials, not an image",
    "RWV": "a real world value map, not an image",
    "DOC": "an encapsulated document, not an image",
    "PLAN": "a plan, not an image",
    "ECG": _WAVEFORM, "HD": _WAVEFORM, "AU": _WAVEFORM, "RESP": _WAVEFORM, "EPS": _WAVEFORM,
}


def _check_is_image(path, ds):
    """Refuse DICOM objects that are not images to restore (RT dose, SEG, SR, ...), by name."""
    sop = str(ds.get("SOPClassUID", "") or "").strip()
    modality = str(ds.get("Modality", "") or "").strip().upper()
    reason = None
    for prefix, why in _NOT_IMAGE_CLASSES.items():  # the most specific prefix comes first
        if sop == prefix or (prefix.endswith(".") and sop.startswith(prefix)):
            reason = why
            break
    if reason is None:
        reason = _NOT_IMAGE_MODALITIES.get(modality)
    if reason is None:
        return
    name = UID(sop).name if sop else ""
    name = name if name and name != sop else "object"
    ids = ", ".join(x for x in (f"Modality {modality}" if modality else "",
                                f"SOP class {sop}" if sop else "") if x)
    raise UnreadableImage(path, f"DICOM {name} ({ids}) is not an image to restore: {reason}")


def _install_hint(decoder):
    """'python-gdcm; pylibjpeg + pylibjpeg-libjpeg' from pydicom's missing dependencies."""
    options = []
    for entry in decoder.missing_dependencies:
        _, _, needs = entry.partition("requires ")
        names = [re.split(r"[<>=!~ ]", n.strip())[0] for n in needs.split(" and ")]
        names = [_PIP_NAMES.get(n, n) for n in names if n and n != "numpy"]
        if names:
            options.append(" + ".join(names))
    return "; ".join(options)


def _read_dataset(path):
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass
    # A file without the 128-byte preamble: accept it only if it parses into an image
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception:
        ds = None
    if ds is not None:
        if "SOPClassUID" in ds:
            _check_is_image(path, ds)
        if "PixelData" in ds and "Rows" in ds and "Columns" in ds:
            return ds
    raise UnreadableImage(path, "not a DICOM file (no DICM preamble, no image elements)")


def _transfer_syntax(ds):
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    return UID(ts) if ts else ImplicitVRLittleEndian


def _check_native_length(path, ds, ts):
    if ts.is_encapsulated or "PixelData" not in ds:
        return
    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if ds.get(k) in (None, "")]
    if missing:
        raise UnreadableImage(path, f"incomplete DICOM image module (no {', '.join(missing)})")
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        bits = int(ds.BitsAllocated)
        n = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * frames
    except (TypeError, ValueError) as exc:
        raise UnreadableImage(path, f"corrupt DICOM image module ({one_line(exc)})") from exc
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        n = n * 2 // 3  # chroma subsampled horizontally: 2 values per pixel, not 3
    expected = (n * bits + 7) // 8
    got = len(ds.PixelData or b"")
    if got < expected:
        raise UnreadableImage(
            path, f"truncated DICOM file (pixel data ends early: {got} of {expected} bytes)"
        )


def _decode(path, ds, ts):
    decoder = get_decoder(ts) if ts.is_encapsulated else None
    if decoder is not None and not decoder.is_available:
        raise UnreadableImage(
            path, f"cannot decode {ts.name} pixel data: no decoder installed "
            f"(install one of: {_install_hint(decoder)})"
        )
    try:
        return pixel_array(ds)
    except Exception as exc:
        if decoder is not None:
            hint = _install_hint(decoder)
            hint = f"; install one of: {hint}" if hint else ""
            raise UnreadableImage(
                path, f"cannot decode {ts.name} pixel data ({one_line(exc)}){hint}"
            ) from exc
        raise UnreadableImage(path, f"corrupt DICOM pixel data ({one_line(exc)})") from exc


def _declared_padding(ds):
    """``(low, high, name)`` of the stored values ``PixelPaddingValue`` (to
    ``PixelPaddingRangeLimit``) declares as padding, or None (also for unusable values)."""
    try:
        value = ds.get("PixelPaddingValue")
        if value is None or value == "" or isinstance(value, bytes):
            return None
        value = int(value)
        limit = ds.get("PixelPaddingRangeLimit")
        if limit is None or limit == "" or isinstance(limit, bytes):
            return value, value, f"PixelPaddingValue {value}"
        limit = int(limit)
    except (TypeError, ValueError):
        return None
    return value, limit, f"PixelPaddingValue {value} to PixelPaddingRangeLimit {limit}"


def _hounsfield(ds):
    """``(slope, intercept)`` to Hounsfield units of a CT image, else None."""
    if str(ds.get("Modality", "") or "").strip().upper() != "CT":
        return None
    try:
        return float(ds.get("RescaleSlope") or 1), float(ds.get("RescaleIntercept") or 0)
    except (TypeError, ValueError):
        return None


def read_dicom(path, *, axis=2, max_pixels=None):
    """Read a DICOM image, keeping stored values (see the module docstring).

    Parameters
    ----------
    path : pathlib.Path
    axis : int, optional
        Ignored (frames are the stack axis).
    max_pixels : int, optional
        Refuse a header claiming more pixels (rows x columns x frames, before decoding).

    Returns
    -------
    Image
        ``meta.extra`` holds ``dataset`` (the header, pixel data removed),
        ``transfer_syntax``, ``photometric``, ``bits_allocated``, ``bits_stored``,
        ``rescale`` = (slope, intercept); grayscale images also ``padding`` when some pixels
        are padding (``PixelPaddingValue`` to ``PixelPaddingRangeLimit``, a CT's padding
        below -1500 HU; :func:`enhance.io.image.find_padding`), kept out of the value range.

    Raises
    ------
    UnreadableImage
        Also for objects that are not images to restore (RT dose, RT structures and plans,
        segmentations, structured reports, presentation states, waveforms, ...): the message
        names the SOP class and modality and says why.
    """
    ds = _read_dataset(path)
    _check_is_image(path, ds)
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise UnreadableImage(path, "no pixel data (not an image, or the file is truncated)")
    try:
        dims = [int(ds.get("NumberOfFrames") or 1), int(ds.get("Rows") or 0),
                int(ds.get("Columns") or 0)]
    except (TypeError, ValueError) as exc:
        raise UnreadableImage(path, f"corrupt DICOM image module ({one_line(exc)})") from exc
    check_pixels(path, dims if dims[0] > 1 else dims[1:], max_pixels)
    if "Rows" in ds and "Columns" in ds:
        check_min_size(path, dims[1], dims[2])
    ts = _transfer_syntax(ds)
    _check_native_length(path, ds, ts)
    raw = _decode(path, ds, ts)
    spp = int(ds.get("SamplesPerPixel") or 1)
    expected = tuple(dims[:1] if dims[0] > 1 else ()) + tuple(dims[1:]) + ((spp,) if spp > 1 else ())
    if raw.shape != expected:
        raise UnreadableImage(
            path, f"corrupt DICOM: decoded pixels of shape {raw.shape} do not match the header "
            f"({' x '.join(map(str, expected))})"
        )
    raw = raw.astype(raw.dtype.newbyteorder("="), copy=False)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    frames = int(ds.get("NumberOfFrames") or 1)
    bits_stored = int(ds.get("BitsStored") or ds.get("BitsAllocated") or raw.dtype.itemsize * 8)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    if photometric == "PALETTE COLOR":
        raw = apply_color_lut(raw, ds)
        bits_stored, signed = raw.dtype.itemsize * 8, False
    elif raw.ndim == 2 + (frames > 1) + 1 and raw.shape[-1] == 3:
        bits_stored = min(bits_stored, raw.dtype.itemsize * 8)
    is_stack = frames > 1
    channels = raw.shape[-1] if raw.ndim == 3 + is_stack else 1
    if channels not in (1, 3, 4):
        raise UnreadableImage(path, f"unsupported DICOM with {channels} samples per pixel")
    padding = None
    if raw.dtype.kind in "iu" and channels == 1 and photometric != "PALETTE COLOR":
        padding = find_padding(raw, declared=_declared_padding(ds), plateau=True,
                               hounsfield=_hounsfield(ds))
        lo, hi, note = measured_map(raw, own=True, padding=padding)
    elif raw.dtype.kind in "iu":
        lo, hi, note = value_map(raw, bits=bits_stored, signed=signed)
    else:
        lo, hi, note = value_map(raw)
    for keyword in _PIXEL_KEYWORDS:  # the header is kept without its (large) pixel data
        if keyword in ds:
            delattr(ds, keyword)
    extra = {
        "dataset": ds,
        "transfer_syntax": str(ts),
        "photometric": photometric,
        "bits_allocated": int(ds.get("BitsAllocated") or raw.dtype.itemsize * 8),
        "bits_stored": bits_stored,
        "rescale": (float(ds.get("RescaleSlope") or 1), float(ds.get("RescaleIntercept") or 0)),
    }
    if note is not None:
        extra["value_map"] = note
    if padding is not None:
        extra["padding"] = padding
    meta = ImageMeta(
        "dicom", raw.dtype, lo, hi, path=str(path),
        invert=photometric == "MONOCHROME1" and channels == 1,
        is_stack=is_stack, channels=channels, extra=extra,
    )
    return Image(meta.to_unit(raw), meta)


def _set_pixels(ds, raw, *, photometric, bits_stored, bits_allocated, is_stack):
    """Replace the Image Pixel module of `ds` with uncompressed, little-endian `raw`."""
    colour = raw.ndim == 3 + is_stack
    ds.Rows, ds.Columns = int(raw.shape[is_stack]), int(raw.shape[is_stack + 1])
    ds.SamplesPerPixel = int(raw.shape[-1]) if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    if is_stack or "NumberOfFrames" in ds:
        ds.NumberOfFrames = int(raw.shape[0]) if is_stack else 1
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if raw.dtype.kind == "i" else 0
    if bits_allocated == 1:
        data = pack_bits(raw)
    else:
        data = raw.astype(raw.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(data) % 2:
        data += b"\x00"
    for keyword in _DROPPED_ON_WRITE:
        if keyword in ds:
            delattr(ds, keyword)
    if photometric != "PALETTE COLOR":
        for keyword in _PALETTE_KEYWORDS:
            if keyword in ds:
                delattr(ds, keyword)
    ds["PixelData"] = DataElement(0x7FE00010, "OW" if bits_allocated > 8 else "OB", data)


_WORD_SIZES = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def _decode_elements(ds, *, swap_words):
    """Turn every raw element into a typed one (VRs from the dictionary where the file's
    were implicit), and byte-swap binary word values of a big-endian source, so that the
    dataset can be encoded as little endian."""
    for elem in ds.iterall():
        size = _WORD_SIZES.get(elem.VR)
        if swap_words and size and isinstance(elem.value, bytes) and len(elem.value) % size == 0:
            elem.value = np.frombuffer(elem.value, f">u{size}").astype(f"<u{size}").tobytes()


def _source_reference(ds):
    """A SourceImageSequence item (PS3.3 C.7.6.1.1.4) pointing to the instance in `ds`."""
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    purpose = Dataset()  # CID 7202: (121322, DCM, "Source image for image processing operation")
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    item.PurposeOfReferenceCodeSequence = Sequence([purpose])
    return item


def _mark_derived(ds, derivation, pixel_digest):
    source_series = str(ds.get("SeriesInstanceUID", ""))
    # Deterministic: the same source, method and pixels give the same UID, so a resumed batch
    # writes byte-identical files; different pixels or methods give different instances.
    source_sop = str(ds.get("SOPInstanceUID", ""))
    if source_sop and ds.get("SOPClassUID"):  # provenance: the instance this one derives from
        ds.SourceImageSequence = Sequence([_source_reference(ds)])
    sop_uid = generate_uid(entropy_srcs=[source_sop, derivation, pixel_digest])
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    # One new series per (source series, method): the slices of a series stay together
    entropy = [source_series, derivation] if source_series else None
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=entropy)
    image_type = ds.get("ImageType")
    if image_type is None or image_type == "":
        values = ["DERIVED", "SECONDARY"]
    else:
        values = [image_type] if isinstance(image_type, str) else list(image_type)
        values[0] = "DERIVED"
        if len(values) == 1:
            values.append("SECONDARY")
    ds.ImageType = values
    ds.DerivationDescription = derivation[:1024]


def write_dicom(f, pixels, plan):
    """Write `pixels` as a DERIVED DICOM with the header of the DICOM source (`plan.meta`).

    New SOPInstanceUID (also in the file meta; derived from the source's UID, the derivation
    and the pixels) and SeriesInstanceUID (deterministic per source series and derivation, so
    a processed series stays one series), ImageType[0] =
    'DERIVED', DerivationDescription = `plan.derivation`, SourceImageSequence referencing the
    source instance (purpose: source image for image processing operation); the rest of the
    header is kept.
    """
    meta = plan.meta
    if meta is None:
        raise UnwritableImage(plan.path, "writing DICOM needs like= a DICOM image (its header)")
    if meta.dtype.kind not in "iu":
        raise UnwritableImage(plan.path, f"cannot write float ({meta.dtype}) DICOM pixel data")
    if plan.dtype != meta.dtype:
        raise UnwritableImage(plan.path, f"DICOM output keeps the source's dtype ({meta.dtype})")
    if plan.channels == 4:
        raise UnwritableImage(plan.path, "DICOM output cannot hold an alpha channel")
    extra = meta.extra
    ds = copy.deepcopy(extra["dataset"])
    if plan.channels == 3:
        photometric = "RGB"
    elif extra["photometric"] in ("MONOCHROME1", "MONOCHROME2"):
        photometric = extra["photometric"]
    else:
        photometric = "MONOCHROME2"
    same_layout = plan.channels == meta.channels
    bits_stored = extra["bits_stored"] if same_layout else plan.dtype.itemsize * 8
    bits_allocated = extra["bits_allocated"] if extra["bits_allocated"] == 1 and same_layout else (
        plan.dtype.itemsize * 8)
    invert = photometric == "MONOCHROME1"
    # MONOCHROME1 output is stored inverted, whatever the source was
    raw = plan.restore_padding(to_raw(pixels, plan.dtype, plan.lo, plan.hi, invert=invert))
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ts = UID(extra["transfer_syntax"])
    if ts not in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
        ts = ExplicitVRLittleEndian
    ds.file_meta.TransferSyntaxUID = ts
    _decode_elements(ds, swap_words=not UID(extra["transfer_syntax"]).is_little_endian)
    for tag in [t for t in ds.keys() if t.group == 0x0000]:  # command elements: never in a file
        del ds[tag]
    if "SOPClassUID" in ds:
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if plan.deid is not None:
        plan.deid.apply(ds, path=meta.path or plan.path)
    _set_pixels(ds, raw, photometric=photometric, bits_stored=bits_stored,
                bits_allocated=bits_allocated, is_stack=plan.is_stack)
    _mark_derived(ds, plan.derivation or DEFAULT_DERIVATION, hashlib.sha256(raw.tobytes()).hexdigest())
    # dcmwrite, not save_as: save_as refuses to re-encode a big-endian source
    pydicom.dcmwrite(f, ds, implicit_vr=ts == ImplicitVRLittleEndian, little_endian=True,
                     enforce_file_format=True)
