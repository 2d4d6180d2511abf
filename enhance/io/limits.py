"""What :func:`enhance.io.read_image` refuses before or after decoding: too many pixels, too few.

The pixel limit is checked from the file's header, before any pixel is decoded or allocated, so
that a small file claiming a huge image (a 400 KB PNG of 20000 x 20000 pixels, a NIfTI header of
a gigavoxel volume) costs nothing. The count is height x width x frames (slices, pages); colour
channels are not counted.
"""

from __future__ import annotations

import math

from enhance.errors import UnreadableImage

__all__ = ["DEFAULT_MAX_PIXELS", "MIN_SIDE", "check_pixels", "check_min_size"]

#: Default pixel limit of :func:`enhance.io.read_image` (2**28 = 268,435,456 pixels: a 16384 x
#: 16384 whole-slide image or a 512 x 512 x 1024 CT volume fits; about 1 GiB of float32 pixels).
DEFAULT_MAX_PIXELS = 2**28

#: The smallest image side :func:`enhance.io.read_image` accepts: a 1 x N "image" is a line, whose
#: noise cannot be estimated and which no 2-D filter or network restores.
MIN_SIDE = 2


def _fmt_shape(dims):
    return " x ".join(str(int(d)) for d in dims)


def check_pixels(path, dims, max_pixels):
    """Refuse an image whose header claims more than `max_pixels` pixels.

    Parameters
    ----------
    path : str or os.PathLike
        The file, for the message.
    dims : sequence of int
        The spatial sizes and frame count the header claims (no channel axis).
    max_pixels : int or None
        The limit; None disables it.

    Raises
    ------
    UnreadableImage
        One line naming the file, the claimed size and the limit.
    """
    dims = [int(d) for d in dims]
    if any(d < 0 for d in dims):
        raise UnreadableImage(path, f"corrupt header (negative image size {_fmt_shape(dims)})")
    if max_pixels is None:
        return
    total = math.prod(dims)
    if total > int(max_pixels):
        raise UnreadableImage(
            path, f"too large: the header claims {_fmt_shape(dims)} = {total:,} pixels, over the "
            f"limit of {int(max_pixels):,} (max_pixels; enhance run --max-pixels)"
        )


def check_min_size(path, height, width):
    """Refuse an image with a side shorter than :data:`MIN_SIDE` (1 x 1, 1 x N, N x 1, empty).

    Raises
    ------
    UnreadableImage
    """
    if min(int(height), int(width)) < MIN_SIDE:
        raise UnreadableImage(
            path, f"too small to restore: {int(height)} x {int(width)} pixels (each side needs at "
            f"least {MIN_SIDE})"
        )
