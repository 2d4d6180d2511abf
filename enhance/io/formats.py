"""Which format a path holds: file extensions, magic numbers, folder discovery."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = [
    "SUPPORTED_EXTENSIONS", "FORMATS", "is_supported", "format_from_name", "split_extension",
    "sniff", "detect_format",
]

#: Lower-case extensions :func:`enhance.io.read_image` reads, mapped to their format.
EXTENSION_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".npy": "npy",
}

#: Lower-case file extensions of supported images (files without one are sniffed for DICOM).
SUPPORTED_EXTENSIONS = tuple(EXTENSION_FORMATS)

#: Format names, as in :attr:`ImageMeta.format`.
FORMATS = ("png", "jpeg", "tiff", "dicom", "nifti", "npy")

#: Human-readable names for messages.
FORMAT_NAMES = {
    "png": "PNG",
    "jpeg": "JPEG",
    "tiff": "TIFF",
    "dicom": "DICOM",
    "nifti": "NIfTI",
    "npy": "NumPy .npy",
}

#: How many leading bytes :func:`sniff` needs.
SNIFF_BYTES = 352


def format_from_name(path):
    """Return the format implied by `path`'s extension (case-insensitive), or None.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str or None
    """
    name = os.fspath(path).lower()
    for ext in sorted(EXTENSION_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return EXTENSION_FORMATS[ext]
    return None


def split_extension(name):
    """``(stem, extension)`` of a file name: ``.nii.gz`` (any case) counts as one extension;
    otherwise the last suffix, as :attr:`pathlib.PurePath.suffix` (``("name", "")`` without one).

    Parameters
    ----------
    name : str
        A file name (no folder).

    Returns
    -------
    (str, str)
    """
    if name.lower().endswith(".nii.gz") and len(name) > len(".nii.gz"):
        return name[: -len(".nii.gz")], name[-len(".nii.gz"):]
    suffix = PurePosixPath(name).suffix
    return (name[: -len(suffix)], suffix) if suffix else (name, "")


def sniff(head):
    """Return the format whose magic number starts `head` (the file's first bytes), or None.

    Parameters
    ----------
    head : bytes
        At least :data:`SNIFF_BYTES` bytes when the file has them.

    Returns
    -------
    str or None
        ``'dicom'`` needs the 128-byte preamble followed by ``DICM``; gzip is not
        reported (a ``.nii.gz`` is recognised by its name).
    """
    if head[128:132] == b"DICM":  # first: a DICOM preamble may hold a TIFF header
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] == b"n+2\x00":
        return "nifti"
    return None


def _read_head(path):
    with open(path, "rb") as f:
        return f.read(SNIFF_BYTES)


def detect_format(path, head):
    """Return the format to read `path` with, or None if it is not a supported image.

    A known extension decides, unless the content's magic number clearly belongs to another
    supported format (a JPEG saved as ``.png``). Without a known extension only DICOM is
    recognised, by its preamble.

    Parameters
    ----------
    path : str or os.PathLike
    head : bytes
        The file's first bytes (:data:`SNIFF_BYTES` of them).

    Returns
    -------
    str or None
    """
    by_name = format_from_name(path)
    by_content = sniff(head)
    if by_name is None:
        return "dicom" if by_content == "dicom" else None
    if by_content is not None and by_content != by_name:
        return by_content
    return by_name


def is_supported(path):
    """Whether `path` looks like an image :func:`enhance.io.read_image` can read.

    Decided by the extension (no I/O); files without a known extension are sniffed for the
    DICOM preamble. Hidden files and unfinished atomic writes (``.name.part``) are skipped.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bool
    """
    p = Path(path)
    name = p.name.lower()
    if not name or name.startswith(".") or name.endswith(".part"):
        return False
    if format_from_name(name) is not None:
        return True
    try:
        if not p.is_file():
            return False
        return sniff(_read_head(p)) == "dicom"
    except OSError:
        return False
