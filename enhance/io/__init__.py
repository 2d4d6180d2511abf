"""Image input/output: PNG, JPEG, TIFF, DICOM, NIfTI and .npy as float32 pixels in [0, 1].

:func:`read_image` returns an :class:`Image`: ``pixels`` (float32 in [0, 1]; (H, W),
(H, W, C), (N, H, W) or (N, H, W, C)) and ``meta`` (:class:`ImageMeta`), everything needed
for :func:`write_image` to write processed pixels back in the source's format, dtype, value
range and header. Writes are atomic.

Dtype/range policy (details in :mod:`enhance.io.image`): integers of up to 16 bits map their
dtype's full range to [0, 1] (DICOM: the range of its stored bits); floats and wider
integers map their own min..max. The map is recorded and inverted on write, bit-exact for
8/16-bit data; writing rounds half to even after clipping to [0, 1].

Errors: :class:`~enhance.errors.UnreadableImage` for inputs,
:class:`~enhance.errors.UnwritableImage` for outputs; both name the file and the cause.
"""

from enhance.io.api import read_image, write_image
from enhance.io.formats import SUPPORTED_EXTENSIONS, is_supported, split_extension
from enhance.io.image import Image, ImageMeta

__all__ = [
    "read_image",
    "write_image",
    "Image",
    "ImageMeta",
    "SUPPORTED_EXTENSIONS",
    "is_supported",
    "split_extension",
]
