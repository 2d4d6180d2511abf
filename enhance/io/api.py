"""``read_image`` and ``write_image``: format dispatch, error wrapping, write planning."""

from __future__ import annotations

import errno
import importlib
import operator
import os
import stat
from pathlib import Path

import numpy as np

from enhance.errors import EnhanceError, UnreadableImage, UnwritableImage, one_line
from enhance.io.atomic import atomic_write
from enhance.io.capture import c_stderr
from enhance.io.formats import (
    FORMAT_NAMES,
    FORMATS,
    SNIFF_BYTES,
    SUPPORTED_EXTENSIONS,
    detect_format,
    format_from_name,
)
from enhance.io.image import Image, ImageMeta, NonFinitePixels, WritePlan, dtype_range, to_unit
from enhance.io.limits import DEFAULT_MAX_PIXELS, check_min_size

__all__ = ["read_image", "write_image"]

# format -> (module, reader, writer); modules are imported on first use
_HANDLERS = {
    "png": ("raster", "read_png", "write_png"),
    "jpeg": ("raster", "read_jpeg", "write_jpeg"),
    "tiff": ("tiff", "read_tiff", "write_tiff"),
    "dicom": ("dicom", "read_dicom", "write_dicom"),
    "nifti": ("nifti", "read_nifti", "write_nifti"),
    "npy": ("npy", "read_npy", "write_npy"),
}

# dtypes each format can store; the first is the default for float pixels
_FORMAT_DTYPES = {
    "png": ("uint16", "uint8"),
    "jpeg": ("uint8",),
    "tiff": ("uint16", "uint8", "int8", "int16", "uint32", "int32", "float32", "float64", "bool"),
    "dicom": ("uint16", "uint8", "int8", "int16", "uint32", "int32"),
    "nifti": ("float32", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64",
              "uint64", "float64"),
    "npy": ("float32", "bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64",
            "uint64", "float16", "float64"),
}
_STACK_FORMATS = {"tiff", "dicom", "nifti", "npy"}


def _handler(fmt, which):
    module_name, read_name, write_name = _HANDLERS[fmt]
    module = importlib.import_module(f"enhance.io.{module_name}")
    return getattr(module, read_name if which == "read" else write_name)


def _describe(exc):
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _open_head(p):
    """The first bytes of `p`, or UnreadableImage naming what `p` is instead of an image file."""
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise UnreadableImage(p, f"dangling symbolic link (to {os.readlink(p)}, which does "
                                  "not exist)") from None
        raise UnreadableImage(p, "file not found") from None
    except PermissionError:
        raise UnreadableImage(p, "permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableImage(p, "symbolic link loop (the link never reaches a file)") from None
        raise UnreadableImage(p, f"cannot open file ({_describe(exc)})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise UnreadableImage(p, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableImage(p, "not a regular file (a pipe, socket or device)")
    if st.st_size == 0:
        raise UnreadableImage(p, "empty file")
    try:
        with open(p, "rb") as f:
            return f.read(SNIFF_BYTES)
    except PermissionError:
        raise UnreadableImage(p, "permission denied") from None
    except OSError as exc:
        raise UnreadableImage(p, f"cannot open file ({_describe(exc)})") from exc


def read_image(path, *, axis=2, max_pixels=DEFAULT_MAX_PIXELS):
    """Read an image file into float32 pixels in [0, 1] and the meta to write it back.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, TIFF, DICOM (also without extension, by its preamble), NIfTI
        (``.nii``/``.nii.gz``) or ``.npy`` file.
    axis : int, optional
        Slice axis of a 3-D NIfTI volume (0, 1 or 2; negative counts from the end).
        Other formats stack along their natural axis (pages, frames, the first axis).
    max_pixels : int or None, optional
        Refuse a file whose header claims more pixels than this (height x width x frames;
        default :data:`~enhance.io.limits.DEFAULT_MAX_PIXELS` = 2**28), checked before
        decoding. None: no limit.

    Returns
    -------
    Image
        ``pixels``: (H, W), (H, W, C), (N, H, W) or (N, H, W, C) float32 in [0, 1], mapped
        by the policy of :mod:`enhance.io.image`; ``meta``: an :class:`ImageMeta` (float
        inputs: ``meta.extra['value_map']`` records the map and the values it clipped).

    Raises
    ------
    UnreadableImage
        The file is missing, empty, truncated, corrupt, not a supported image, over the
        pixel limit, smaller than 2 x 2 pixels, a float image with NaN or infinite values,
        a DICOM object that is not an image to restore (RT dose, segmentation, structured
        report, ...), or not a regular file (a folder, a dangling link, a link loop); the
        message names the file and the cause, on one line.
    ValueError
        `axis` is not an integer in -3..2.
    """
    try:
        axis = operator.index(axis)
    except TypeError:
        raise ValueError(f"axis must be an integer, not {axis!r}") from None
    if not -3 <= axis <= 2:
        raise ValueError(f"axis must be in -3..2, not {axis}")
    if max_pixels is not None:
        max_pixels = operator.index(max_pixels)
    p = Path(path)
    head = _open_head(p)
    fmt = detect_format(p, head)
    if fmt is None:
        suffix = "".join(p.suffixes[-2:]).lower() if p.suffix else ""
        if suffix:
            known = ", ".join(SUPPORTED_EXTENSIONS)
            cause = f"unsupported file type {suffix!r} (supported: {known})"
        else:
            cause = "unsupported file type (no extension and no DICOM preamble)"
        raise UnreadableImage(p, cause)
    reader = _handler(fmt, "read")
    try:
        with c_stderr():  # libpng & co. print to stderr: into the open capture, if any
            image = reader(p, axis=axis, max_pixels=max_pixels)
    except UnreadableImage as exc:
        if "\n" in exc.cause or "\r" in exc.cause:  # keep messages to one line
            raise UnreadableImage(p, one_line(exc.cause)) from exc.__cause__
        raise
    except NonFinitePixels as exc:
        raise UnreadableImage(p, f"float {FORMAT_NAMES[fmt]} image: {exc}") from None
    except MemoryError:
        raise UnreadableImage(
            p, f"out of memory while reading this {FORMAT_NAMES[fmt]} file (lower max_pixels, "
            "or free memory)"
        ) from None
    except EnhanceError:
        raise
    except Exception as exc:
        cause = f"corrupt or unsupported {FORMAT_NAMES[fmt]} file ({_describe(exc)})"
        raise UnreadableImage(p, cause) from exc
    if image.meta.is_stack and image.pixels.shape[0] == 0:
        raise UnreadableImage(p, "no frames (an empty stack)")
    frame = image.pixels.shape[int(image.meta.is_stack):]
    check_min_size(p, frame[0] if frame else 0, frame[1] if len(frame) > 1 else 0)
    return image


def _layout(arr, meta, path):
    """(pixels, is_stack, channels) from the array's shape, using `meta` to disambiguate 3-D."""
    gray_stack = meta is not None and meta.channels == 1 and arr.ndim == 2 + meta.is_stack
    if arr.ndim >= 3 and arr.shape[-1] == 1 and not gray_stack:
        arr = arr[..., 0]  # a singleton channel axis
    nd = arr.ndim
    if meta is not None and nd == 2 + meta.is_stack + (meta.channels > 1) and (
        meta.channels == 1 or arr.shape[-1] in (3, 4)
    ):
        return arr, bool(meta.is_stack), (arr.shape[-1] if meta.channels > 1 else 1)
    if nd == 2:
        return arr, False, 1
    if nd == 3:
        return (arr, False, arr.shape[-1]) if arr.shape[-1] in (3, 4) else (arr, True, 1)
    if nd == 4 and arr.shape[-1] in (3, 4):
        return arr, True, arr.shape[-1]
    raise UnwritableImage(
        path, f"pixels of shape {arr.shape} are not (H, W), (H, W, C), (N, H, W) or "
        "(N, H, W, C) with C = 3 or 4"
    )


def _target_format(path, format, meta):
    if format is not None:
        fmt = str(format).lower()
        fmt = {"jpg": "jpeg", "tif": "tiff", "dcm": "dicom", "nii": "nifti"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise UnwritableImage(path, f"unknown format {format!r} (one of {', '.join(FORMATS)})")
        return fmt
    fmt = format_from_name(path)
    if fmt is None and meta is not None:
        fmt = meta.format
    if fmt is None:
        raise UnwritableImage(path, "cannot tell the format from the file name; pass format=")
    return fmt


def write_image(path, pixels_or_image, *, like=None, format=None, dtype=None, derivation=None,
                anonymize=None):
    """Write pixels in [0, 1] to an image file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its extension gives the format unless `format` is given. Parent
        folders are created.
    pixels_or_image : array_like or Image
        Float pixels in [0, 1] (NaN -> 0, clipped), (H, W), (H, W, C), (N, H, W) or
        (N, H, W, C). Integer/bool arrays are taken as stored values of their dtype (full
        range, e.g. uint8 / 255) and, without `like` or `dtype`, keep their dtype. An
        :class:`Image` also supplies its meta as the default for `like`.
    like : Image or ImageMeta, optional
        Source to imitate. Same format as the output: its dtype, value range (lo, hi),
        inversion and header (DICOM dataset, NIfTI header/affine/slice axis/scaling, TIFF
        resolution) are reused, so read -> write -> read is bit-exact for 8/16-bit data.
        Other format: only its dtype carries over, when the output format can hold it.
    format : str, optional
        'png', 'jpeg', 'tiff', 'dicom', 'nifti' or 'npy' (default: from `path`).
    dtype : dtype-like, optional
        Output dtype; default: the source's (see `like`), else uint16 for PNG and TIFF,
        uint8 for JPEG, float32 for NIfTI and .npy. A dtype other than the source's maps
        [0, 1] to its full range (floats: to [0, 1]). DICOM keeps the source's dtype.
    derivation : str, optional
        Name of the processing, written to DICOM's DerivationDescription.
    anonymize : enhance.io.deid.Deidentifier, optional
        De-identify a DICOM output's header by the PS3.15 basic profile (UIDs remapped
        consistently by its key, dates shifted, private attributes removed). Other formats
        carry no header data.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    UnwritableImage
        The pixels cannot be stored in this format or dtype, or the write failed. The
        destination is then left untouched and no temporary file remains.

    Notes
    -----
    Pixels are mapped with ``raw = lo + p * (hi - lo)`` and, for integer dtypes, rounded
    half to even (:func:`numpy.rint`). The file is written to ``.<name>.<random>.part`` in
    the same folder, fsync'ed and renamed over `path` (:func:`os.replace`).
    """
    path = Path(path)
    spath = os.fspath(path)
    if isinstance(pixels_or_image, Image):
        arr, source = pixels_or_image.pixels, pixels_or_image.meta
    else:
        arr, source = pixels_or_image, None
    if like is not None:
        source = like.meta if isinstance(like, Image) else like
        if not isinstance(source, ImageMeta):
            raise TypeError(f"like must be an Image or ImageMeta, not {type(like).__name__}")
    arr = np.asarray(arr)
    fmt = _target_format(path, format, source)
    allowed = tuple(np.dtype(t) for t in _FORMAT_DTYPES[fmt])

    raw_dtype = None
    if arr.dtype.kind in "biu":  # stored values of their dtype: full-range policy
        raw_dtype = arr.dtype
        arr = to_unit(arr, *dtype_range(arr.dtype))
    elif arr.dtype.kind != "f":
        raise UnwritableImage(path, f"cannot write pixels of dtype {arr.dtype}")

    same = source is not None and source.format == fmt
    if dtype is not None:
        try:
            out = np.dtype(dtype)
        except TypeError as exc:
            raise UnwritableImage(path, f"unknown dtype {dtype!r}") from exc
    elif source is not None and (same or source.dtype in allowed):
        out = source.dtype
    elif raw_dtype is not None and raw_dtype in allowed:
        out = raw_dtype
    else:
        out = allowed[0]
    out = out.newbyteorder("=") if out.byteorder not in ("=", "|") else out
    if out not in allowed and not (same and out == source.dtype):
        raise UnwritableImage(
            path, f"{FORMAT_NAMES[fmt]} cannot hold {out} (one of: {', '.join(map(str, allowed))})"
        )

    arr, is_stack, channels = _layout(arr, source if same else None, path)
    if is_stack and fmt not in _STACK_FORMATS:
        if arr.shape[0] != 1:
            raise UnwritableImage(
                path, f"{FORMAT_NAMES[fmt]} holds one image, not a stack of {arr.shape[0]} "
                "(write TIFF, DICOM, NIfTI or .npy)"
            )
        arr, is_stack = arr[0], False

    if same and out == source.dtype:
        lo, hi, invert = source.lo, source.hi, source.invert
    elif out.kind in "biu":
        (lo, hi), invert = dtype_range(out), False
    else:
        lo, hi, invert = 0.0, 1.0, False
    plan = WritePlan(
        format=fmt, dtype=out, lo=lo, hi=hi, invert=invert, is_stack=is_stack,
        channels=channels, meta=source if same else None, derivation=derivation, path=spath,
        deid=anonymize,
    )
    writer = _handler(fmt, "write")
    try:
        with atomic_write(path) as f, c_stderr():
            writer(f, arr, plan)
    except EnhanceError:
        raise
    except OSError as exc:
        raise UnwritableImage(path, f"write failed ({_describe(exc)})") from exc
    except Exception as exc:
        raise UnwritableImage(path, f"cannot write {FORMAT_NAMES[fmt]} ({_describe(exc)})") from exc
    return path
