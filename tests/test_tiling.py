"""Tile plans: coverage, alignment, seamless reassembly (NumPy only)."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from enhance.tiling import margin_for, plan_tiles


@pytest.mark.parametrize(
    "shape,tile,factor",
    [((101, 77), 32, 1), ((101, 77), 30, 8), ((5, 3), 64, 4), ((64, 64), None, 4)],
)
def test_cores_partition_the_image_and_windows_align(shape, tile, factor):
    plan = plan_tiles(shape, tile, margin=5, size_factor=factor)
    hits = np.zeros(shape, int)
    for t in plan.tiles:
        hits[t.core] += 1
        assert t.window[0].start % factor == 0 and t.window[1].start % factor == 0
        assert (
            t.window[0].stop - t.window[0].start,
            t.window[1].stop - t.window[1].start,
        ) == plan.window_shape
    assert (hits == 1).all()
    assert all(s % factor == 0 for s in plan.window_shape)
    # every window lies inside the image padded to the size factor (nothing computed outside)
    padded = [n + after for n, (_, after) in zip(shape, plan.pad_width)]
    assert all(after < factor for _, after in plan.pad_width)
    for t in plan.tiles:
        assert t.window[0].stop <= padded[0] and t.window[1].stop <= padded[1]
    assert plan.margin % factor == 0 and plan.margin >= 5


def test_identity_network_reassembles_exactly():
    image = np.random.default_rng(0).random((101, 77, 2)).astype(np.float32)
    plan = plan_tiles(image.shape, 24, margin=7, size_factor=4)
    padded = plan.pad(image)
    np.testing.assert_array_equal(plan.assemble(plan.windows(padded)), image)


def _box_network(window, radius):
    # zero padding at the window's edge, like a "same" convolution
    return uniform_filter(window, size=2 * radius + 1, mode="constant")


def _run(image, tile, margin, radius, border=0):
    plan = plan_tiles(image.shape, tile, margin=margin, border=border)
    padded = plan.pad(image)
    return plan.assemble(_box_network(w, radius) for w in plan.windows(padded))


def test_tiled_equals_untiled_when_margin_covers_the_radius_and_not_otherwise():
    image = np.random.default_rng(1).random((101, 77))
    radius = 4
    whole = _run(image, None, margin_for(2 * radius + 1), radius)
    tiled = _run(image, 20, margin_for(2 * radius + 1), radius)
    np.testing.assert_allclose(tiled, whole, atol=1e-12)
    seams = _run(image, 20, 1, radius)
    assert np.abs(seams - whole).max() > 1e-3
    # with a reflected border: equal to the network on the reflect-padded image, tiled or not
    reflected = _box_network(np.pad(image, 3, mode="reflect"), radius)[3:-3, 3:-3]
    for tile in (None, 20):
        np.testing.assert_allclose(_run(image, tile, margin_for(2 * radius + 1), radius, 3),
                                   reflected, atol=1e-12)
    assert np.abs(reflected - whole).max() > 1e-3  # the border changes the border


def test_tiny_images_pad_beyond_their_size():
    image = np.arange(6, dtype=np.float32).reshape(3, 2)
    plan = plan_tiles(image.shape, None, margin=16, size_factor=8)
    padded = plan.pad(image)
    assert padded.shape == plan.window_shape == (8, 8)
    np.testing.assert_array_equal(plan.assemble(plan.windows(padded)), image)
    one_row = np.ones((1, 5), np.float32)
    plan = plan_tiles(one_row.shape, 4, margin=3)
    np.testing.assert_array_equal(plan.assemble(plan.windows(plan.pad(one_row))), one_row)


def test_margin_for_rounds_radius_up_to_the_size_factor():
    assert margin_for(25) == 12
    assert margin_for(25, 8) == 16
    assert margin_for(1, 4) == 0


def test_tiling_does_not_import_keras():
    import subprocess
    import sys

    code = "import sys, enhance.tiling; assert 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
