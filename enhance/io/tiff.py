"""TIFF images (tifffile): 8/16-bit, float32, grayscale, RGB(A), multi-page stacks."""

from __future__ import annotations

import contextlib
import logging
import re
import threading

import numpy as np
import tifffile

from enhance.errors import UnreadableImage, UnwritableImage
from enhance.io.image import Image, ImageMeta, find_padding, measured_map
from enhance.io.limits import check_pixels

__all__ = ["read_tiff", "write_tiff"]

_SUPPORTED_PHOTOMETRIC = {"MINISBLACK", "MINISWHITE", "RGB", "PALETTE", "YCBCR"}
_DEFLATE = {"ADOBE_DEFLATE", "DEFLATE"}
_WRITABLE_DTYPES = {np.dtype(t) for t in ("bool", "u1", "u2", "u4", "i1", "i2", "i4", "f4", "f8")}


class _Collect(logging.Handler):
    """Collect tifffile's error records from this thread (it logs, rather than raises, when
    an IFD chain is broken, e.g. a truncated multi-page file)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.thread = threading.get_ident()
        self.messages = []

    def emit(self, record):
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def _collect_errors():
    logger = logging.getLogger("tifffile")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _page_array(path, page, size):
    ends = [int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts)]
    if ends and max(ends) > size:
        raise UnreadableImage(path, "truncated TIFF file (image data ends early)")
    photometric = getattr(page.photometric, "name", str(page.photometric))  # an int if unknown
    if photometric not in _SUPPORTED_PHOTOMETRIC:
        raise UnreadableImage(path, f"unsupported TIFF photometric interpretation {photometric}")
    try:
        arr = page.asarray()
    except KeyError as exc:  # tifffile: "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"
        if "imagecodecs" in str(exc):
            raise UnreadableImage(
                path, f"TIFF compression {page.compression.name} needs the imagecodecs package "
                "(pip install imagecodecs)"
            ) from exc
        raise
    axes = page.axes
    if set(axes) - {"Y", "X", "S"} or arr.ndim != len(axes):
        raise UnreadableImage(path, f"unsupported TIFF page layout (axes {axes!r})")
    if "S" in axes:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if photometric == "PALETTE" and page.colormap is not None:
        arr = np.moveaxis(np.asarray(page.colormap)[:, arr], 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        raise UnreadableImage(path, f"unsupported TIFF with {arr.shape[-1]} samples per pixel")
    return arr, photometric


def read_tiff(path, *, axis=2, max_pixels=None):
    """Read a TIFF: one page is an image, several pages of one shape are a stack.

    Reduced-resolution pages (thumbnails, pyramid levels) are skipped. MINISWHITE pages are
    inverted (bright = high) and palette pages expanded to RGB.

    Parameters
    ----------
    path : pathlib.Path
    axis : int, optional
        Ignored (pages are always the stack axis).
    max_pixels : int, optional
        Refuse pages claiming more pixels in all (before decoding).

    Returns
    -------
    Image
    """
    size = path.stat().st_size
    with _collect_errors() as errors, tifffile.TiffFile(path) as tif:
        pages = [p for p in tif.pages if not int(getattr(p, "subfiletype", 0)) & 1]
        if not pages:
            raise UnreadableImage(path, "TIFF file has no image pages")
        first = pages[0]
        shapes = [(int(p.imagelength), int(p.imagewidth), int(getattr(p, "imagedepth", 1) or 1))
                  for p in pages]
        if len(set(shapes)) == 1:  # frames x height x width (x depth)
            height, width, depth = shapes[0]
            dims = [len(pages)] * (len(pages) > 1) + [height, width] + [depth] * (depth > 1)
        else:
            dims = [sum(h * w * d for h, w, d in shapes)]
        check_pixels(path, dims, max_pixels)
        arrays, photometric = [], None
        for page in pages:
            arr, photometric = _page_array(path, page, size)
            arrays.append(arr)
        tags = first.tags
        resolution = None
        if "XResolution" in tags and "YResolution" in tags:
            resolution = (tuple(tags["XResolution"].value), tuple(tags["YResolution"].value))
        unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else None
        compression = first.compression.name
    if errors:
        detail = re.sub(r"<[^>]*>\s*", "", errors[0]).strip()
        raise UnreadableImage(path, f"corrupt or truncated TIFF file ({detail})")
    if any(a.shape != arrays[0].shape or a.dtype != arrays[0].dtype for a in arrays):
        raise UnreadableImage(path, "TIFF pages differ in shape or dtype (not a stack)")
    is_stack = len(arrays) > 1
    raw = np.stack(arrays) if is_stack else arrays[0]
    channels = raw.shape[-1] if raw.ndim == 3 + is_stack else 1
    padding = find_padding(raw, plateau=True) if channels == 1 and raw.dtype.kind == "f" else None
    lo, hi, note = measured_map(raw, padding=padding)
    extra = {"photometric": photometric, "resolution": resolution,
             "resolutionunit": unit, "compression": compression}
    if note is not None:
        extra["value_map"] = note
    if padding is not None:
        extra["padding"] = padding
    meta = ImageMeta(
        "tiff", raw.dtype, lo, hi, path=str(path),
        invert=photometric == "MINISWHITE" and channels == 1,
        is_stack=is_stack, channels=channels, extra=extra,
    )
    return Image(meta.to_unit(raw), meta)


def write_tiff(f, pixels, plan):
    """Write `pixels` as TIFF (one page per frame) to the open binary file `f`.

    Resolution and deflate compression of a TIFF source are kept; other compressions are
    written uncompressed.
    """
    if plan.dtype not in _WRITABLE_DTYPES:
        raise UnwritableImage(plan.path, f"cannot write {plan.dtype} TIFF")
    extra = plan.meta.extra if plan.meta is not None else {}
    if plan.channels > 1:
        kwargs = {"photometric": "rgb", "planarconfig": "contig"}
    else:
        kwargs = {"photometric": "miniswhite" if plan.invert else "minisblack"}
    if extra.get("resolution") is not None:
        kwargs["resolution"] = extra["resolution"]
        if extra.get("resolutionunit") is not None:
            kwargs["resolutionunit"] = extra["resolutionunit"]
    if extra.get("compression") in _DEFLATE:
        kwargs["compression"] = "zlib"
    # no metadata, no Software tag: a TIFF output carries pixels and resolution, nothing else
    tifffile.imwrite(f, plan.to_raw(pixels), metadata=None, software=False, **kwargs)
