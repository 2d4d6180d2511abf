"""The imaging sector of a scanner's ultrasound frame (issue 26, item 5), for the speckle task.

A B-mode frame as a scanner stores it holds more than the image: burned-in text, calibration
(depth) marks, icons, an ECG trace, colour markers. Those must come out of a despeckler exactly as
they went in. :func:`imaging_mask` finds the pixels that *are* the image:

1. the **sector**: a texture map (local standard deviation over a 9x9 window) is thresholded
   at :data:`TEXTURE_STD` (JPEG-coded black backgrounds are exactly flat, the faint wings of a
   fan are not), opened with a disk of radius 3 (which cuts thin strokes of text and marks away
   from the speckle), its largest connected component kept, its holes filled, eroded by the
   window's reach (4 pixels), and its convex hull taken (a fan or a rectangle is convex: dark
   anechoic regions inside it, heart chambers or vessels, are then inside too), less the exactly
   constant 9x9 blocks it covers (background where the hull bridges a fan's concave apex);
2. minus **graphics inside the sector**: thin bright strokes (text, calipers: what a white
   top-hat of radius 3 finds standing out, connected to a near-white pixel) and colour overlays
   (pixels whose RGB channels differ by more than :data:`COLOUR_SPREAD` when the frame is
   colour), grown by 2 pixels (the anti-aliased rims of text, the blends of a marker's edge).

Everything else keeps its input pixels (:meth:`enhance.tasks.speckle.SpeckleTask.keep_unrestored`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["imaging_mask", "TEXTURE_STD", "COLOUR_SPREAD", "STROKE_LEVEL"]

#: Local standard deviation (9x9, in [0, 1] units) above which a pixel is textured (speckle).
TEXTURE_STD = 0.003
#: A colour-frame pixel whose channels spread more than this is an overlay (grey B-mode has none).
COLOUR_SPREAD = 0.08
#: Pixels that stand out of a white top-hat of radius 3 by half this fraction of the frame's
#: brightest, connected to one at least that bright, are strokes of text or marks (scanners
#: draw them in their brightest grey, which need not be 1: 192/255 on the SonoSite cine of
#: ``samples/``).
STROKE_LEVEL = 0.85


def imaging_mask(frame):
    """True where ``frame`` is the ultrasound image (to be despeckled), False on the scanner's
    text, marks and graphics and outside the imaging sector.

    Parameters
    ----------
    frame : ndarray
        (H, W) or (H, W, C), float in [0, 1].

    Returns
    -------
    ndarray of bool, (H, W)
        All True when no textured region is found, or when no 9x9 block of the frame is exactly
        constant (not a scanner's frame, whose background and graphics are drawn flat, but tissue
        alone: nothing to tell apart, the whole frame is restored, as without a mask).
    """
    from scipy import ndimage as ndi
    from skimage.morphology import convex_hull_image, disk, white_tophat

    frame = np.asarray(frame, dtype=np.float32)
    colour = frame.ndim == 3 and frame.shape[-1] >= 3
    grey = frame[..., :3].mean(axis=-1) if colour else (frame[..., 0] if frame.ndim == 3 else frame)
    block = np.ones((9, 9), bool)
    flat = ndi.maximum_filter(grey, footprint=block) == ndi.minimum_filter(grey, footprint=block)
    if not flat.any():
        # no exactly constant 9x9 block: not a scanner's frame (whose background and graphics
        # are drawn flat) but an image of tissue alone, e.g. a synthetic or cropped one, whose
        # bright grains must not be taken for strokes of text: restored whole
        return np.ones(grey.shape, dtype=bool)
    mean = ndi.uniform_filter(grey, 9)
    std = np.sqrt(np.maximum(ndi.uniform_filter(grey * grey, 9) - mean * mean, 0.0))
    textured = ndi.binary_opening(std > TEXTURE_STD, structure=disk(3))
    labels, count = ndi.label(textured)
    if count == 0:
        return np.ones(grey.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    largest = labels == 1 + int(np.argmax(sizes))
    # the 9x9 window reaches 4 pixels beyond the texture: take that band back off
    largest = ndi.binary_erosion(ndi.binary_fill_holes(largest), structure=np.ones((9, 9), bool))
    if not largest.any():
        return np.ones(grey.shape, dtype=bool)
    sector = convex_hull_image(largest)
    # minus exactly constant 9x9 blocks (a scanner's background, also where the hull bridges a
    # fan's concave apex): nothing to despeckle there
    sector &= ~ndi.binary_dilation(flat, structure=block)
    level = STROKE_LEVEL * float(grey.max())
    standing_out = white_tophat(grey, disk(3)) > level / 2
    # strokes: what stands out and is connected to a near-white pixel (thin or anti-aliased parts
    # of a glyph stay below the level but touch its brighter parts)
    pieces, _ = ndi.label(standing_out, structure=np.ones((3, 3), bool))
    seeded = np.unique(pieces[standing_out & (grey >= level)])
    strokes = np.isin(pieces, seeded[seeded > 0])
    overlay = strokes
    if colour:
        spread = frame[..., :3].max(axis=-1) - frame[..., :3].min(axis=-1)
        overlay = overlay | (spread > COLOUR_SPREAD)
    overlay = ndi.binary_dilation(overlay, structure=disk(2))  # the strokes' anti-aliased rims
    return sector & ~overlay
