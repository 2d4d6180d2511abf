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
    """Walk the chunks: bad signature, truncation and CRC errors get their own message."""
    if not data.startswith(PNG_SIGNATURE):
        raise UnreadableImage(path, "not a PNG file (bad signature)")
    pos, n = len(PNG_SIGNATURE), len(data)
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
            return
        pos = end


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
    _check_png(path, data)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise UnreadableImage(path, "corrupt PNG file (OpenCV could not decode it)")
    raw = np.ascontiguousarray(_from_cv(arr))
    meta = _meta("png", path, raw)
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
    f.write(_encode_png(plan.to_raw(pixels)))


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
