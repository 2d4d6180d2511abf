"""Read a folder of training images for the GAN: grayscale, square, one size, with classes.

A folder whose images all sit in first-level subfolders is *class-conditional*: each subfolder is
a class (``DATA/<class>/...``, deeper levels belong to their first-level folder). A folder whose
images all sit at its root has one class. A mix of both is refused (a class-less image cannot be
placed). Multi-frame files (cine, volumes, TIFF stacks) give one image per frame; colour images are
converted to luminance (ITU-R 601 weights). Every image is fitted to a square of ``size`` pixels:
``fit="crop"`` takes the central square, ``fit="pad"`` pads the short side with zeros; then an
anti-aliased resize (scikit-image) brings it to ``size`` x ``size``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import planes
from ..errors import EnhanceError

__all__ = ["ImageSet", "load_folder", "fit_square", "to_gray"]


@dataclass
class ImageSet:
    """Images of one size with class labels.

    Attributes
    ----------
    images : ndarray of float32, shape (N, size, size)
        Pixels in [0, 1].
    labels : ndarray of int32, shape (N,)
        Index into ``class_names``.
    class_names : list of str
        Sorted class names; ``[""]`` for a folder without classes.
    names : list of str
        Relative path of each image (``path#frame`` for frames of a stack).
    bit_depth : int
        16 when any source stored more than 8 bits per pixel, else 8.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list
    names: list = field(default_factory=list)
    bit_depth: int = 8

    @property
    def conditional(self):
        """Whether the set has more than one class (or one named class)."""
        return self.class_names != [""]

    def of_class(self, index):
        """The images of one class (by index)."""
        return self.images[self.labels == index]


def to_gray(pixels):
    """Luminance of an (H, W, C) image (:func:`enhance.planes.to_gray`); a 2-D image is returned
    as float32."""
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        return pixels
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        return planes.to_gray(pixels)
    raise EnhanceError(f"expected a 2-D or colour image, got shape {pixels.shape}")


def fit_square(image, size, *, fit="crop"):
    """Fit a 2-D image into ``size`` x ``size``: central square crop (or zero pad), then resize.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    size : int
    fit : {"crop", "pad"}

    Returns
    -------
    ndarray of float32, shape (size, size), in [0, 1]
    """
    from skimage.transform import resize

    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape
    if fit == "crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = image[top : top + side, left : left + side]
    elif fit == "pad":
        side = max(h, w)
        square = np.zeros((side, side), np.float32)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = image
    else:
        raise EnhanceError(f"fit must be 'crop' or 'pad', not {fit!r}")
    if square.shape != (size, size):
        square = resize(square, (size, size), order=1, anti_aliasing=side > size,
                        preserve_range=True)
    return np.clip(square, 0.0, 1.0).astype(np.float32)


def _frames(image):
    pixels = image.pixels
    frames = list(pixels) if image.meta.is_stack else [pixels]
    return [to_gray(f) for f in frames]


def load_folder(data, size, *, fit="crop"):
    """Read every image of a folder (recursively) as a square grayscale training set.

    Parameters
    ----------
    data : str or Path
        A folder (see the module docstring for classes).
    size : int
        Side of the square images.
    fit : {"crop", "pad"}, optional

    Returns
    -------
    ImageSet

    Raises
    ------
    EnhanceError
        No images, a mix of class folders and loose images, or an unreadable file.
    """
    from .. import batch
    from ..io import read_image

    root, files = batch.discover(data)
    if not files:
        raise EnhanceError(f"{data}: no images found")
    depth = {len(f.relpath.parts) > 1 for f in files}
    if depth == {True, False}:
        loose = next(str(f.relpath) for f in files if len(f.relpath.parts) == 1)
        raise EnhanceError(
            f"{data}: images must either all sit in class subfolders or all at the top level "
            f"({loose} is at the top level, others are in subfolders)"
        )
    conditional = depth == {True}
    class_names = sorted({f.relpath.parts[0] for f in files}) if conditional else [""]
    images, labels, names, bits = [], [], [], 8
    for item in files:
        image = read_image(item.path)
        if image.meta.dtype.kind == "f" or image.meta.dtype.itemsize > 1:
            bits = 16
        label = class_names.index(item.relpath.parts[0]) if conditional else 0
        frames = _frames(image)
        for k, frame in enumerate(frames):
            images.append(fit_square(frame, size, fit=fit))
            labels.append(label)
            names.append(str(item.relpath) + (f"#{k}" if len(frames) > 1 else ""))
    return ImageSet(np.stack(images), np.asarray(labels, np.int32), class_names, names, bits)
