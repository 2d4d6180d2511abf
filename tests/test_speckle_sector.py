"""Issue 26 item 5: a scanner frame's text, marks and graphics, and everything outside the imaging
sector, come out of ``enhance run --task speckle`` exactly as they went in."""

from pathlib import Path

import numpy as np
import pytest

from enhance.tasks.sector import imaging_mask

ROOT = Path(__file__).resolve().parent.parent


def _scanner_frame():
    """A colour frame as a scanner stores it: a speckle fan on black, white text outside and
    inside the fan, a green marker inside it. Returns ``(frame uint8 RGB, fan, graphics)``."""
    import cv2
    from scipy import ndimage as ndi

    rng = np.random.default_rng(7)
    h, w = 200, 240
    yy, xx = np.mgrid[:h, :w]
    apex = (10, w // 2)
    radius = np.hypot(yy - apex[0], xx - apex[1])
    angle = np.degrees(np.arctan2(xx - apex[1], yy - apex[0]))
    fan = (radius > 15) & (radius < 185) & (np.abs(angle) < 40)
    echo = 0.25 + 0.15 * np.sin(yy / 17.0) * np.cos(xx / 23.0)
    speckle = ndi.gaussian_filter(rng.exponential(1.0, (h, w)), (1.0, 1.5))
    grey = np.clip(echo * speckle / speckle.mean(), 0, 0.7) * fan
    frame = np.repeat((grey * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    drawn = np.zeros((h, w), np.uint8)
    for text, origin in (("PLA 2D", (4, 14)), ("MI 0.9", (190, 40)), ("12 cm", (95, 120))):
        cv2.putText(frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        cv2.putText(drawn, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1)
    marker = np.zeros((h, w), np.uint8)
    cv2.circle(frame, (150, 90), 4, (0, 200, 0), -1)
    cv2.circle(marker, (150, 90), 4, 255, -1)
    graphics = (drawn > 0) | (marker > 0)
    assert graphics[fan].sum() > 50  # text and marker lie inside the fan too
    return frame, fan, graphics


def _near(region):
    from scipy import ndimage as ndi

    return ndi.binary_dilation(region, iterations=2)


def test_the_detector_finds_the_fan_and_leaves_out_text_and_marker():
    frame, fan, graphics = _scanner_frame()
    mask = imaging_mask(frame / 255.0)
    assert not mask[graphics].any()
    assert not mask[~_near(fan)].any()  # the hull hugs the fan (to its rasterised edge)
    assert mask[fan & ~graphics].mean() > 0.95


def test_run_keeps_graphics_and_outside_byte_identical_and_despeckles_the_sector(tmp_path):
    import cv2
    from click.testing import CliRunner

    from enhance.cli.main import cli

    pytest.importorskip("keras")
    frame, fan, graphics = _scanner_frame()
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    cv2.imwrite(str(source / "frame.png"), frame[..., ::-1])
    result = CliRunner().invoke(cli, ["run", str(source), str(out), "--task", "speckle", "-q",
                                      "--no-preview"])
    assert result.exit_code == 0, result.output
    restored = cv2.imread(str(out / "frame.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert restored.shape == frame.shape
    keep = ~_near(fan) | graphics
    assert np.array_equal(restored[keep], frame[keep])
    changed = np.any(restored != frame, axis=-1)
    assert changed[fan & ~graphics].mean() > 0.5


def test_the_sector_of_the_sample_echo_frame_is_plausible():
    import cv2

    frame = cv2.imread(str(ROOT / "samples" / "echo_frame00.png"), cv2.IMREAD_UNCHANGED) / 255.0
    assert frame.shape == (240, 320)
    mask = imaging_mask(frame)
    assert 0.2 < mask.mean() < 0.5  # the fan: 29% of the frame (a 90-degree sector)
    # the scanner's text: "PLA Gen THI S" top left, the parameters column on the right, the
    # bottom bar of buttons -- none of it in the sector
    assert not mask[:30, :45].any() and not mask[:, 295:].any() and not mask[222:].any()
    # the heart (septum, a dark chamber, the pericardium) is in it
    assert mask[120, 160] and mask[100, 175] and mask[175, 160]


def test_a_frame_without_texture_is_restored_whole():
    assert imaging_mask(np.full((40, 50), 0.3)).all()
