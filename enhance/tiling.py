"""Cut an image into overlapping tiles for a fully convolutional network, and put it back.

NumPy only (no Keras). The image is reflect-padded by a margin on every side and to a whole
number of tiles; each tile is a window of ``core + 2 * margin`` pixels whose central ``core``
part is kept. With ``margin`` at least the network's receptive-field radius and every window
starting on the network's size-factor grid, each kept pixel is computed from exactly the same
input as if the padded image were processed whole, so there are no seams: tiled and untiled
results agree to floating-point rounding. All windows of a plan have the same shape, so they
can be batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "TilePlan", "margin_for", "plan_tiles"]


def _round_up(value, multiple):
    return int(math.ceil(value / multiple) * multiple)


def margin_for(receptive_field, size_factor=1):
    """The overlap margin for a network: its receptive-field radius, rounded up to ``size_factor``.

    Parameters
    ----------
    receptive_field : int
        Receptive field in pixels (``2 * radius + 1``).
    size_factor : int, optional
        Window origins and sides must be multiples of this.

    Returns
    -------
    int
    """
    radius = max(int(receptive_field) - 1, 0) // 2
    return _round_up(radius, size_factor) if radius else 0


@dataclass(frozen=True)
class Tile:
    """One tile: where its window lies in the padded image and where its core goes in the output.

    Attributes
    ----------
    window : tuple of slice
        Rows and columns of the window in the padded image.
    core : tuple of slice
        Rows and columns of the kept part in the output image (clipped to the image).
    crop : tuple of slice
        Rows and columns of the kept part inside the window's output.
    """

    window: tuple
    core: tuple
    crop: tuple


@dataclass(frozen=True)
class TilePlan:
    """How to tile an image of ``shape``; see :func:`plan_tiles`.

    Attributes
    ----------
    shape : (int, int)
        Height and width of the image.
    core : (int, int)
        Kept rows and columns per tile.
    margin : int
        Overlap on each side of a core.
    pad_width : ((int, int), (int, int))
        Reflect padding of the image (before, after) per axis.
    tiles : list of Tile
    """

    shape: tuple
    core: tuple
    margin: int
    pad_width: tuple
    tiles: list

    @property
    def window_shape(self):
        """Height and width of every window."""
        return (self.core[0] + 2 * self.margin, self.core[1] + 2 * self.margin)

    def pad(self, image):
        """Reflect-pad ``image`` (H, W) or (H, W, C) for this plan."""
        pad_width = tuple(self.pad_width) + ((0, 0),) * (image.ndim - 2)
        return _reflect_pad(image, pad_width)

    def windows(self, padded):
        """Yield the window of every tile from the padded image, in plan order."""
        for tile in self.tiles:
            yield padded[tile.window]

    def assemble(self, outputs, channels=None, dtype=np.float32):
        """Put the tiles' outputs (window-shaped arrays, in plan order) back into one image."""
        outputs = iter(outputs)
        result = None
        for tile in self.tiles:
            out = np.asarray(next(outputs))
            if result is None:
                extra = out.shape[2:] if channels is None else (channels,)
                result = np.empty(tuple(self.shape) + tuple(extra), dtype=dtype)
            result[tile.core] = out[tile.crop]
        return result


def plan_tiles(shape, tile=None, margin=0, size_factor=1):
    """Plan the tiling of an image of ``shape`` (H, W[, C]).

    Parameters
    ----------
    shape : tuple of int
        Image shape; only the first two entries are used.
    tile : int or (int, int), optional
        Kept core size per tile, rounded up to a multiple of ``size_factor``. ``None`` (or a
        size at least the image's) gives one window covering the whole image.
    margin : int, optional
        Overlap on every side of a core; rounded up to a multiple of ``size_factor``. Use
        :func:`margin_for` with the network's receptive field.
    size_factor : int, optional
        Window sides and origins must be multiples of this (``2**levels`` for networks that
        downsample).

    Returns
    -------
    TilePlan
    """
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"cannot tile an empty image of shape {tuple(shape)}")
    size_factor = max(int(size_factor), 1)
    margin = _round_up(max(int(margin), 0), size_factor)
    if tile is None:
        tile = (height, width)
    elif np.isscalar(tile):
        tile = (int(tile), int(tile))
    core = tuple(
        _round_up(min(max(int(t), 1), n), size_factor) for t, n in zip(tile, (height, width))
    )
    counts = [math.ceil(n / c) for n, c in zip((height, width), core)]
    pad_width = tuple(
        (margin, count * c - n + margin) for n, c, count in zip((height, width), core, counts)
    )
    tiles = []
    for row in range(counts[0]):
        for col in range(counts[1]):
            y0, x0 = row * core[0], col * core[1]
            y1, x1 = min(y0 + core[0], height), min(x0 + core[1], width)
            tiles.append(
                Tile(
                    window=(
                        slice(y0, y0 + core[0] + 2 * margin),
                        slice(x0, x0 + core[1] + 2 * margin),
                    ),
                    core=(slice(y0, y1), slice(x0, x1)),
                    crop=(slice(margin, margin + y1 - y0), slice(margin, margin + x1 - x0)),
                )
            )
    return TilePlan((height, width), core, margin, pad_width, tiles)


def _reflect_pad(image, pad_width):
    """``numpy.pad`` in reflect mode; axes of length 1 cannot reflect and repeat their edge."""
    modes_ok = all(n > 1 or (a == 0 and b == 0) for n, (a, b) in zip(image.shape, pad_width))
    if modes_ok:
        return np.pad(image, pad_width, mode="reflect")
    padded = image
    for axis, (before, after) in enumerate(pad_width):
        if before == 0 and after == 0:
            continue
        axis_pad = [(0, 0)] * image.ndim
        axis_pad[axis] = (before, after)
        mode = "reflect" if image.shape[axis] > 1 else "edge"
        padded = np.pad(padded, axis_pad, mode=mode)
    return padded
