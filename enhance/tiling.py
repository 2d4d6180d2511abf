"""Cut an image into overlapping tiles for a fully convolutional network, and put it back.

NumPy only (no Keras). The image is padded only by an optional reflected ``border`` and at its
far ends, to a whole multiple of the network's size factor; every window lies inside that image, so a window that touches the
image's border sees the border exactly as the whole image does (the network's own "same"
padding), and no pixels are computed outside the image. Each tile keeps its ``core``; a core's
sides inside the image get ``margin`` pixels of context (a tile at the border has its window
shifted inwards instead of padded). With ``margin`` at least the network's receptive-field
radius and every window starting on the size-factor grid, each kept pixel is computed from
exactly the same input as if the image were processed whole, so there are no seams: tiled and
untiled results agree to floating-point rounding. All windows of a plan have the same shape,
so they can be batched.
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
        Kept rows and columns per tile (the last tile of a row or column keeps fewer).
    margin : int
        Context on each side of a core that lies inside the image.
    pad_width : ((int, int), (int, int))
        Padding of the image (before, after) per axis: only after, to the size factor.
    window_shape : (int, int)
        Height and width of every window.
    tiles : list of Tile
    """

    shape: tuple
    core: tuple
    margin: int
    pad_width: tuple
    window_shape: tuple
    tiles: list

    def pad(self, image):
        """Pad ``image`` (H, W) or (H, W, C) at its far ends to this plan's size (reflecting)."""
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


def _axis_plan(length, tile, margin, size_factor, border):
    """Core, window length, padded length and (core start, core stop, window start) per tile."""
    padded = _round_up(length + 2 * border, size_factor)
    core = _round_up(min(max(int(tile), 1), length), size_factor)
    count = math.ceil(length / core)
    window = padded if count == 1 else min(core + 2 * margin, padded)
    spans = []
    for index in range(count):
        start, stop = index * core, min((index + 1) * core, length)
        origin = min(max(start + border - margin, 0), padded - window)
        spans.append((start, stop, origin))
    return core, window, padded, spans


def plan_tiles(shape, tile=None, margin=0, size_factor=1, border=0):
    """Plan the tiling of an image of ``shape`` (H, W[, C]).

    Parameters
    ----------
    shape : tuple of int
        Image shape; only the first two entries are used.
    tile : int or (int, int), optional
        Kept core size per tile, rounded up to a multiple of ``size_factor``. ``None`` (or a
        size at least the image's) gives one window covering the whole image.
    margin : int, optional
        Context on every inner side of a core; rounded up to a multiple of ``size_factor``.
        Use :func:`margin_for` with the network's receptive field.
    size_factor : int, optional
        Window sides and origins must be multiples of this (``2**levels`` for networks that
        downsample).
    border : int, optional
        Reflected context added around the image (rounded up to ``size_factor``): 0 lets the
        network see the image's own border; the margin reproduces processing a reflect-padded
        image.

    Returns
    -------
    TilePlan
    """
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"cannot tile an empty image of shape {tuple(shape)}")
    size_factor = max(int(size_factor), 1)
    margin = _round_up(max(int(margin), 0), size_factor)
    border = _round_up(max(int(border), 0), size_factor)
    if tile is None:
        tile = (height, width)
    elif np.isscalar(tile):
        tile = (int(tile), int(tile))
    rows, cols = (
        _axis_plan(n, t, margin, size_factor, border) for n, t in zip((height, width), tile)
    )
    tiles = []
    for y0, y1, wy in rows[3]:
        for x0, x1, wx in cols[3]:
            tiles.append(
                Tile(
                    window=(slice(wy, wy + rows[1]), slice(wx, wx + cols[1])),
                    core=(slice(y0, y1), slice(x0, x1)),
                    crop=(slice(y0 + border - wy, y1 + border - wy),
                          slice(x0 + border - wx, x1 + border - wx)),
                )
            )
    pad_width = ((border, rows[2] - height - border), (border, cols[2] - width - border))
    return TilePlan((height, width), (rows[0], cols[0]), margin, pad_width,
                    (rows[1], cols[1]), tiles)


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
