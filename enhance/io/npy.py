"""NumPy ``.npy`` arrays (``allow_pickle=False``): 2-D images, colour images, stacks."""

from __future__ import annotations

import numpy as np

from enhance.errors import UnreadableImage, UnwritableImage
from enhance.io.image import Image, ImageMeta, find_padding, measured_map
from enhance.io.limits import check_pixels

__all__ = ["read_npy", "write_npy"]


def _header(path):
    """(shape, dtype, offset of the data) from the .npy header, without reading the data."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise UnreadableImage(path, "not a .npy file (bad signature)")
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):  # 3.0 differs by a UTF-8 header
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise UnreadableImage(path, f"unsupported .npy format version {version}")
        except (ValueError, SyntaxError, TypeError, EOFError) as exc:
            raise UnreadableImage(path, f"corrupt .npy header ({exc})") from exc
        return shape, dtype, f.tell()


def _image_dims(shape):
    """Frames and sides of a .npy image shape (the channel axis left out)."""
    if len(shape) >= 3 and shape[-1] in (1, 3, 4):
        shape = shape[:-1]
    return shape


def read_npy(path, *, axis=2, max_pixels=None):
    """Read a ``.npy`` array of bool, integer or float values.

    (H, W) is grayscale; (H, W, C) with C = 3 or 4 is colour, any other 3-D array a stack
    (N, H, W); (N, H, W, C) a colour stack. A trailing axis of size 1 is dropped.

    Parameters
    ----------
    path : pathlib.Path
    axis : int, optional
        Ignored (the first axis is the stack axis).
    max_pixels : int, optional
        Refuse a header claiming more pixels (before reading the data).

    Returns
    -------
    Image
    """
    shape, dtype, offset = _header(path)
    if dtype.kind not in "biuf" or dtype.hasobject:
        raise UnreadableImage(path, f"unsupported .npy dtype {dtype}")
    if len(shape) > 4:
        raise UnreadableImage(path, f"unsupported .npy shape {shape} (need 2-D to 4-D images)")
    check_pixels(path, _image_dims(shape), max_pixels)
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    got = path.stat().st_size - offset
    if got < expected:
        raise UnreadableImage(
            path, f"truncated .npy file (data ends early: {got:,} of {expected:,} bytes)"
        )
    try:
        raw = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        msg = str(exc)
        if "pickle" in msg.lower():
            raise UnreadableImage(path, "unsupported .npy file (pickled objects)") from exc
        raise UnreadableImage(path, f"truncated or corrupt .npy file ({msg})") from exc
    if not isinstance(raw, np.ndarray):
        raise UnreadableImage(path, "not a .npy array file")
    if raw.dtype.kind not in "biuf":
        raise UnreadableImage(path, f"unsupported .npy dtype {raw.dtype}")
    if raw.dtype.byteorder not in ("=", "|"):
        raw = raw.astype(raw.dtype.newbyteorder("="))
    if raw.ndim >= 3 and raw.shape[-1] == 1:
        raw = raw[..., 0]
    if raw.ndim == 2:
        is_stack, channels = False, 1
    elif raw.ndim == 3:
        colour = raw.shape[-1] in (3, 4)
        is_stack, channels = not colour, raw.shape[-1] if colour else 1
    elif raw.ndim == 4 and raw.shape[-1] in (3, 4):
        is_stack, channels = True, raw.shape[-1]
    else:
        raise UnreadableImage(path, f"unsupported .npy shape {raw.shape} (need 2-D to 4-D images)")
    padding = find_padding(raw, plateau=True) if channels == 1 and raw.dtype.kind == "f" else None
    lo, hi, note = measured_map(raw, padding=padding)
    extra = {"value_map": note} if note is not None else {}
    if padding is not None:
        extra["padding"] = padding
    meta = ImageMeta("npy", raw.dtype, lo, hi, path=str(path), is_stack=is_stack,
                     channels=channels, extra=extra)
    return Image(meta.to_unit(raw), meta)


def write_npy(f, pixels, plan):
    """Write `pixels` (as `plan.dtype`, mapped to lo..hi) as ``.npy`` to the open file `f`."""
    if plan.dtype.kind not in "biuf":
        raise UnwritableImage(plan.path, f"cannot write {plan.dtype} .npy")
    np.save(f, plan.to_raw(pixels), allow_pickle=False)
