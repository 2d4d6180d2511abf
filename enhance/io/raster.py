"""PNG (OpenCV, 8/16-bit, gray/RGB/RGBA) and JPEG (pillow, 8-bit, gray/RGB) images."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import JpegImagePlugin

from enhance.errors import UnreadableImage, UnwritableImage
from enhance.io.image import Image, ImageMeta, value_range
from enhance.io.limits import check_pixels

__all__ = ["read_png", "write_png", "read_jpeg", "write_jpeg", "JPEG_QUALITY"]

#: Quality of written JPEGs (pillow's scale, 1..95).
JPEG_QUALITY = 95

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path, data):
    """Walk the chunks: bad signature, truncation and CRC errors get their own message.

    Returns the body of the ``sBIT`` chunk (significant bits) that comes before the image data,
    or None.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise UnreadableImage(path, "not a PNG file (bad signature)")
    pos, n, sbit, seen_data = len(PNG_SIGNATURE), len(data), None, False
    while True:
        if pos + 8 > n:
            raise UnreadableImage(path, "truncated PNG file (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > n:
            name = ctype.decode("latin-1", "replace")
            raise UnreadableImage(path, f"truncated PNG file (ends inside chunk {name})")
        crc = struct.unpack(">I", data[end - 4 : end])[0]
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            name = ctype.decode("latin-1", "replace")
            raise UnreadableImage(path, f"corrupt PNG file (CRC error in chunk {name})")
        if ctype == b"IEND":
            return sbit
        seen_data = seen_data or ctype == b"IDAT"
        if ctype == b"sBIT" and not seen_data:
            sbit = data[pos + 8 : end - 4]
        pos = end


#: Samples per pixel of each PNG colour type, as the sBIT chunk counts them (a palette: 3).
_SBIT_LENGTHS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _significant_bits(path, data, sbit):
    """The significant bits of every sample of a grayscale or truecolour PNG (its ``sBIT``
    chunk), or None when all bits count (no chunk, a palette image, or bits = the bit depth).

    Samples declared with fewer bits hold their value in the high bits (the PNG
    specification, 12.2: the low bits are zeros, a copy of the high bits or anything; a
    decoder recovers the value by shifting right), so the value map must use
    ``2**bits - 1``, not the bit depth's full range.
    """
    if sbit is None:
        return None
    depth, colour = data[24], data[25]
    if colour == 3:  # sBIT of a palette describes the palette's entries, not the samples
        return None
    if len(sbit) != _SBIT_LENGTHS.get(colour, -1) or not all(1 <= b <= depth for b in sbit):
        raise UnreadableImage(
            path, f"corrupt PNG file (sBIT chunk {list(sbit)} does not fit {depth}-bit samples "
            f"of colour type {colour})"
        )
    if len(set(sbit)) != 1:
        raise UnreadableImage(
            path, f"unsupported PNG: its channels have different significant bits (sBIT "
            f"{list(sbit)})"
        )
    return None if sbit[0] == depth else int(sbit[0])


def _fill_low_bits(values, bits, depth):
    """``values`` (of ``bits`` bits) stored in ``depth`` bits by left bit replication (the
    PNG specification's recommended scaling: exact at 0 and at full scale)."""
    wide = values.astype(np.uint32) << (depth - bits)
    filled = bits
    while filled < depth:
        wide |= wide >> filled
        filled *= 2
    return wide.astype(values.dtype)


def _sbit_convention(raw, bits, depth):
    """Where a file put its significant bits: ``"zeros"``, ``"replicate"`` or ``"other"``
    (the values in the high bits, the low bits zeros, a copy of the high bits or anything:
    written back as zeros), or ``"unscaled"`` (the values themselves, 0 .. 2**bits - 1, as
    some exporters of 12-bit data write them; told apart by low bits that are not all zero)."""
    low = np.bitwise_and(raw, (1 << (depth - bits)) - 1)
    if not low.any():
        return "zeros"
    if int(raw.max()) < (1 << bits):
        return "unscaled"
    if np.array_equal(raw, _fill_low_bits(raw >> (depth - bits), bits, depth)):
        return "replicate"
    return "other"


def _sbit_chunk(bits, channels):
    body = bytes([bits]) * channels
    return struct.pack(">I", len(body)) + b"sBIT" + body + struct.pack(">I", zlib.crc32(b"sBIT" + body))


def _from_cv(arr):
    """OpenCV channel order (BGR, BGRA) to RGB(A); drop a singleton channel axis."""
    if arr.ndim == 3:
        if arr.shape[2] == 1:
            return arr[:, :, 0]
        if arr.shape[2] == 3:
            return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        if arr.shape[2] == 4:
            return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return arr


def _to_cv(arr):
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    return arr


def _meta(fmt, path, raw):
    lo, hi = value_range(raw)
    channels = raw.shape[2] if raw.ndim == 3 else 1
    return ImageMeta(fmt, raw.dtype, lo, hi, path=str(path), channels=channels)


def _png_size(path, data):
    """(height, width) from the IHDR chunk, which must come first."""
    if not data.startswith(PNG_SIGNATURE):
        raise UnreadableImage(path, "not a PNG file (bad signature)")
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise UnreadableImage(path, "corrupt PNG file (no IHDR chunk first)")
    width, height = struct.unpack(">II", data[16:24])
    return height, width


def read_png(path, *, axis=2, max_pixels=None):
    """Read an 8- or 16-bit PNG (grayscale, RGB or RGBA; palettes are expanded to RGB).

    An ``sBIT`` chunk declaring fewer significant bits (a 12-bit detector's values in a
    16-bit PNG) is honoured: the stored values are the samples shifted right to those bits
    (or, when the file holds the values unscaled, 0 .. 2**bits - 1 with low bits that are not
    all zero, the samples themselves), mapped by ``0 .. 2**bits - 1`` (``meta.extra['sbit']``,
    ``['sbit_fill']``), so the insignificant low bits are not read as signal; a PNG output of
    the same dtype is written back the same way (the same placement of the values, low bits
    filled as the source's, the same ``sBIT`` chunk).

    Parameters
    ----------
    path : pathlib.Path
    axis : int, optional
        Ignored (PNG holds one 2-D image).
    max_pixels : int, optional
        Refuse a header claiming more pixels (before decoding).

    Returns
    -------
    Image
    """
    data = path.read_bytes()
    check_pixels(path, _png_size(path, data), max_pixels)
    bits = _significant_bits(path, data, _check_png(path, data))
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UnreadableImage(path, "corrupt PNG file (OpenCV could not decode it)")
    raw = np.ascontiguousarray(_from_cv(arr))
    if bits is None:
        meta = _meta("png", path, raw)
        return Image(meta.to_unit(raw), meta)
    depth = raw.dtype.itemsize * 8
    convention = _sbit_convention(raw, bits, depth)
    if convention != "unscaled":
        raw >>= depth - bits  # the significant values: 0 .. 2**bits - 1
    channels = raw.shape[2] if raw.ndim == 3 else 1
    meta = ImageMeta("png", raw.dtype, 0, 2**bits - 1, path=str(path), channels=channels,
                     extra={"sbit": bits, "sbit_fill": convention})
    return Image(meta.to_unit(raw), meta)


def _encode_png(raw):
    ok, buf = cv2.imencode(".png", _to_cv(raw), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("OpenCV could not encode the PNG")
    return buf.tobytes()


def write_png(f, pixels, plan):
    """Write `pixels` as an 8- or 16-bit PNG to the open binary file `f` (see WritePlan)."""
    if plan.dtype not in (np.uint8, np.uint16):
        raise UnwritableImage(plan.path, f"PNG holds uint8 or uint16, not {plan.dtype}")
    raw = plan.to_raw(pixels)
    bits = (plan.meta.extra.get("sbit") if plan.meta is not None else None)
    if bits is None or (plan.lo, plan.hi) != (0.0, float(2**bits - 1)):
        f.write(_encode_png(raw))
        return
    # the source's convention: the values in the high bits, an sBIT chunk saying how many
    depth = plan.dtype.itemsize * 8
    convention = plan.meta.extra.get("sbit_fill")
    if convention == "replicate":
        raw = _fill_low_bits(raw, bits, depth)
    elif convention != "unscaled":
        raw = (raw.astype(np.uint32) << (depth - bits)).astype(plan.dtype)
    data = _encode_png(raw)
    at = len(PNG_SIGNATURE) + 25  # after IHDR (13 bytes of data, 12 of length, type, CRC)
    f.write(data[:at] + _sbit_chunk(bits, plan.channels) + data[at:])


def read_jpeg(path, *, axis=2, max_pixels=None):
    """Read an 8-bit JPEG (grayscale or colour; CMYK and YCbCr are converted to RGB).

    EXIF orientation is not applied: pixels are in stored order.

    Parameters
    ----------
    path : pathlib.Path
    axis : int, optional
        Ignored.
    max_pixels : int, optional
        Refuse a header claiming more pixels (before decoding). Pillow's own
        decompression-bomb limit is not used: this one replaces it.

    Returns
    -------
    Image
    """
    data = path.read_bytes()
    if not data.startswith(b"\xff\xd8"):
        raise UnreadableImage(path, "not a JPEG file (bad signature)")
    try:
        # the plugin class directly: PILImage.open would apply (and warn about) its own limit
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as im:
            check_pixels(path, (im.height, im.width), max_pixels)
            im.load()
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            raw = np.array(im)
    except OSError as exc:
        if "truncated" in str(exc):
            raise UnreadableImage(path, "truncated JPEG file (image data ends early)") from exc
        raise UnreadableImage(path, f"corrupt JPEG file ({exc})") from exc
    meta = _meta("jpeg", path, raw)
    return Image(meta.to_unit(raw), meta)


def _encode_jpeg(raw):
    bio = io.BytesIO()
    PILImage.fromarray(raw).save(bio, format="JPEG", quality=JPEG_QUALITY)
    return bio.getvalue()


def write_jpeg(f, pixels, plan):
    """Write `pixels` as an 8-bit grayscale or RGB JPEG (quality :data:`JPEG_QUALITY`)."""
    if plan.dtype != np.uint8:
        raise UnwritableImage(plan.path, f"JPEG holds uint8, not {plan.dtype}")
    if plan.channels == 4:
        raise UnwritableImage(plan.path, "JPEG cannot hold an alpha channel (write PNG or TIFF)")
    f.write(_encode_jpeg(plan.to_raw(pixels)))
