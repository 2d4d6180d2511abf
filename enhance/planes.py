"""Apply a 2-D function to every plane of an image: frames of a stack, channels of a colour image.

The degradations of the spec and the classical denoisers are defined on 2-D grayscale images;
colour images are processed channel by channel and stacks (multi-page TIFF, multi-frame DICOM,
NIfTI volumes) frame by frame, in C order (frame, then channel); where one gray plane is needed
(a preview row, a training patch, a benchmark reference), colour becomes its luminance
(:func:`to_gray`).
"""

import numpy as np

from .errors import EnhanceError

#: Weights of R, G and B in the luminance (ITU-R BT.709, as :func:`skimage.color.rgb2gray`).
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def to_gray(pixels):
    """The luminance of colour pixels: ``(..., 3)`` or ``(..., 4)`` (alpha dropped) to ``(...)``.

    Parameters
    ----------
    pixels : ndarray of float
        Colour pixels (RGB or RGBA last); any other array is returned as it is.

    Returns
    -------
    ndarray
        Of the input's float dtype (float64 for an integer input, not rescaled), the same
        values as :func:`skimage.color.rgb2gray`.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim < 3 or pixels.shape[-1] not in (3, 4):
        return pixels
    dtype = pixels.dtype if pixels.dtype.kind == "f" else np.dtype(np.float64)
    return pixels[..., :3].astype(dtype, copy=False) @ np.array(GRAY_WEIGHTS, dtype=dtype)


def iter_plane_indices(shape, *, is_stack):
    """Yield index tuples selecting each 2-D plane of an array of ``shape``.

    ``shape`` is (H, W), (H, W, C), (N, H, W) or (N, H, W, C); ``is_stack`` tells (N, H, W)
    from (H, W, C).
    """
    ndim = len(shape)
    frames = range(shape[0]) if is_stack else [None]
    colour = ndim - (1 if is_stack else 0) == 3
    channels = range(shape[-1]) if colour else [None]
    for f in frames:
        for c in channels:
            index = () if f is None else (f,)
            index += (slice(None), slice(None))
            if c is not None:
                index += (c,)
            yield index


def map_planes(function, pixels, *, is_stack=False):
    """Return ``function(plane)`` for every 2-D plane of ``pixels``, stacked back in place.

    Parameters
    ----------
    function : callable
        Takes and returns a 2-D float array of the same shape.
    pixels : ndarray
        (H, W), (H, W, C), (N, H, W) or (N, H, W, C).
    is_stack : bool, keyword-only
        Whether the first axis is a stack of frames.

    Returns
    -------
    ndarray of float32, same shape as ``pixels``.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        return np.asarray(function(pixels), dtype=np.float32)
    out = np.empty(pixels.shape, dtype=np.float32)
    for index in iter_plane_indices(pixels.shape, is_stack=is_stack):
        out[index] = function(pixels[index])
    return out


def to_grayscale(pixels, *, is_stack=False):
    """First frame of a stack; colour by luminance (``planes.to_gray``), alpha dropped.
    Returns float32 (H, W)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if is_stack:
        pixels = pixels[0]
    if pixels.ndim == 3:
        channels = pixels.shape[-1]
        if channels in (3, 4):
            pixels = to_gray(pixels)
        else:  # gray (+ alpha)
            pixels = pixels[..., 0]
    if pixels.ndim != 2:
        raise EnhanceError(f"cannot make a 2-D reference from pixels of shape {pixels.shape}")
    return np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32)
