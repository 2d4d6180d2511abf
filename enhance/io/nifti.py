"""NIfTI-1/2 volumes (nibabel, ``.nii`` and ``.nii.gz``) as stacks of 2-D slices."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from enhance.errors import UnreadableImage, UnwritableImage
from enhance.io.image import Image, ImageMeta, find_padding, measured_map
from enhance.io.limits import check_pixels

__all__ = ["read_nifti", "write_nifti"]


def read_nifti(path, *, axis=2, max_pixels=None):
    """Read a NIfTI image; a 3-D volume becomes a stack of 2-D slices along `axis`.

    The stored (unscaled) values are kept; ``scl_slope``/``scl_inter`` are recorded in
    ``meta.extra`` (``slope``, ``inter``) and written back unchanged. Slice ``i`` is
    ``volume.take(i, axis)``, its two remaining axes in order. Trailing axes of size 1 are
    dropped; 4-D and larger volumes are not supported.

    Parameters
    ----------
    path : pathlib.Path
    axis : int, optional
        Slice axis of a 3-D volume, 0, 1 or 2 (negative counts from the end).
    max_pixels : int, optional
        Refuse a header claiming more voxels (before reading the data).

    Returns
    -------
    Image
    """
    try:
        img = nib.load(path, mmap=False)
    except ImageFileError as exc:
        raise UnreadableImage(path, "not a NIfTI file (unrecognised header)") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise UnreadableImage(path, f"unsupported NIfTI variant {type(img).__name__}")
    dtype = img.get_data_dtype()
    if dtype.kind not in "biuf":
        raise UnreadableImage(path, f"unsupported NIfTI data type {dtype}")
    check_pixels(path, img.shape, max_pixels)
    try:
        raw = np.asarray(img.dataobj.get_unscaled())
    except (EOFError, OSError, ValueError, gzip.BadGzipFile) as exc:
        raise UnreadableImage(path, f"truncated or corrupt NIfTI file ({exc})") from exc
    raw = raw.astype(raw.dtype.newbyteorder("="), copy=True)
    while raw.ndim > 3 and raw.shape[-1] == 1:
        raw = raw[..., 0]
    if raw.ndim == 3:
        axis = axis % 3
        raw = np.moveaxis(raw, axis, 0)
        is_stack = True
    elif raw.ndim == 2:
        is_stack = False
    else:
        raise UnreadableImage(path, f"unsupported {raw.ndim}-D NIfTI volume of shape {raw.shape}")
    padding = find_padding(raw, plateau=True)
    lo, hi, note = measured_map(raw, own=True, padding=padding)
    extra = {"value_map": note} if note is not None else {}
    if padding is not None:
        extra["padding"] = padding
    extra.update({
        "header": img.header.copy(),
        "affine": np.array(img.affine, copy=True),
        "axis": axis,
        "ndim": 3 if is_stack else 2,
        "slope": float(img.dataobj.slope),
        "inter": float(img.dataobj.inter),
        "image_class": type(img),
    })
    meta = ImageMeta("nifti", raw.dtype, lo, hi, path=str(path), is_stack=is_stack, extra=extra)
    return Image(meta.to_unit(np.ascontiguousarray(raw)), meta)


def write_nifti(f, pixels, plan):
    """Write `pixels` as a NIfTI volume to the open file `f` (gzip if `plan.path` ends .gz).

    A NIfTI source gives the header, affine, slice axis and scl_slope/inter; otherwise the
    slices are stacked along axis 2 with an identity affine and no scaling. Under
    ``--anonymize`` (``plan.deid``) the header's text fields and its extensions are dropped.
    """
    if plan.channels > 1:
        raise UnwritableImage(plan.path, "NIfTI output of colour images is not supported")
    raw = plan.to_raw(pixels)
    meta = plan.meta
    if meta is not None:
        extra = meta.extra
        axis, ndim = extra["axis"], extra["ndim"]
        header, affine, cls = extra["header"].copy(), extra["affine"], extra["image_class"]
        same_dtype = plan.dtype == meta.dtype
        slope, inter = (extra["slope"], extra["inter"]) if same_dtype else (1.0, 0.0)
    else:
        axis, ndim, header, affine, cls = 2, 2, None, np.eye(4), nib.Nifti1Image
        slope, inter = 1.0, 0.0
    if plan.is_stack:
        vol = np.moveaxis(raw, 0, axis)
    elif ndim == 3:
        vol = np.expand_dims(raw, axis)
    else:
        vol = raw
    if header is not None and plan.deid is not None:  # --anonymize: no free text, no extension
        header = header.copy()
        for field in ("descrip", "aux_file", "db_name", "intent_name"):
            if field in header:
                header[field] = b""
        header.extensions.clear()  # (dcm2niix and others put DICOM headers there)
    img = cls(vol, affine, header)
    try:
        img.set_data_dtype(plan.dtype)
    except Exception as exc:
        raise UnwritableImage(plan.path, f"NIfTI cannot hold {plan.dtype}") from exc
    # Non-NaN scaling makes nibabel write the array as is, and store these values
    img.header.set_slope_inter(slope, inter)
    data = img.to_bytes()
    if plan.path.lower().endswith(".gz"):
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
            gz.write(data)
    else:
        f.write(data)
