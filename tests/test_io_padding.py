"""Padding and NoData pixels (issue 25, item 9): out of the range and of the network's input,
written back exactly, counted in the manifest."""

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from enhance.io import read_image, write_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _ct(path, *, pad_value=None, declared=True, limit=None, border=16):
    """ct_small.dcm (CT, int16, intercept -1024) inside a border of ``pad_value``."""
    ds = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    tissue = ds.pixel_array
    if pad_value is not None:
        tissue = np.pad(tissue, border, constant_values=pad_value)
    ds.Rows, ds.Columns = tissue.shape
    ds.PixelData = tissue.astype(np.int16).tobytes()
    if not declared:
        del ds.PixelPaddingValue
    elif limit is not None:
        ds.add_new(0x00280121, "SS", limit)  # PixelPaddingRangeLimit
    ds.save_as(path)
    return path


@pytest.mark.parametrize("pad_value, declared, limit, reason", [
    (-2000, True, None, "PixelPaddingValue -2000"),
    (-2100, True, -2200, "PixelPaddingRangeLimit -2200"),
    (-32768, False, None, "CT padding"),
    (-2000, False, None, "CT padding"),
])
def test_ct_padding_is_out_of_the_range_and_written_back_exactly(tmp_path, pad_value, declared,
                                                                 limit, reason):
    plain = read_image(_ct(tmp_path / "plain.dcm"))
    padded = read_image(_ct(tmp_path / "padded.dcm", pad_value=pad_value, declared=declared,
                            limit=limit))
    # the tissue maps as without padding; the padding reads as the tissue mirrored across
    # its edge (no edge, no flat patch for the network and the noise estimate)
    assert (padded.meta.lo, padded.meta.hi) == (plain.meta.lo, plain.meta.hi)
    np.testing.assert_array_equal(padded.pixels[16:-16, 16:-16], plain.pixels)
    np.testing.assert_array_equal(padded.pixels[10, 16:-16], plain.pixels[6])
    np.testing.assert_array_equal(padded.pixels[16:-16, -3], plain.pixels[:, -15])
    assert padded.meta.padding.count == padded.pixels.size - plain.pixels.size
    assert any(reason in r for r in padded.meta.padding.reasons)
    out = write_image(tmp_path / "out.dcm", padded.pixels * 0.9, like=padded)
    stored = pydicom.dcmread(out).pixel_array
    assert (stored[:16] == pad_value).all() and (stored[:, -16:] == pad_value).all()
    np.testing.assert_array_equal(stored[16:-16, 16:-16], plain.meta.to_raw(plain.pixels * 0.9))


def test_float_nodata_sentinels_are_kept_out_and_written_back(tmp_path):
    rng = np.random.default_rng(4)
    hu = (rng.random((60, 50)) * 3000 - 1000).astype(np.float32)
    nodata = rng.random(hu.shape) < 0.05
    raw = np.where(nodata, np.float32(-3.4e38), hu)
    np.save(tmp_path / "ct.npy", raw)
    image = read_image(tmp_path / "ct.npy")
    assert (image.meta.lo, image.meta.hi) == (float(hu[~nodata].min()), float(hu[~nodata].max()))
    assert image.meta.padding.count == nodata.sum()
    assert np.isin(image.pixels[nodata], image.pixels[~nodata]).all()  # filled from neighbours
    assert image.meta.extra["value_map"]["clipped"] == 0
    out = write_image(tmp_path / "out.npy", image)
    back = np.load(out)
    assert (back[nodata] == np.float32(-3.4e38)).all()
    np.testing.assert_allclose(back[~nodata], hu[~nodata], atol=1e-6 * 3000)


def test_a_far_plateau_is_padding_but_float_data_in_unit_range_are_not(tmp_path):
    rng = np.random.default_rng(5)
    hu = (rng.random((40, 40)) * 3000 - 1000).astype(np.float32)
    hu[:5] = -32768
    np.save(tmp_path / "hu.npy", hu)
    image = read_image(tmp_path / "hu.npy")
    assert image.meta.padding.count == 200 and image.meta.lo > -1001
    unit = rng.random((40, 40)).astype(np.float32) * 0.2 + 0.8
    unit[:5] = 0  # a black background in [0, 1] data is data
    np.save(tmp_path / "unit.npy", unit)
    assert read_image(tmp_path / "unit.npy").meta.padding is None


def test_a_run_restores_the_tissue_as_without_padding_and_keeps_the_padding(tmp_path,
                                                                           tiny_model_dir):
    from enhance.pipeline import enhance_folder

    (tmp_path / "in").mkdir()
    _ct(tmp_path / "in" / "plain.dcm")
    _ct(tmp_path / "in" / "padded.dcm", pad_value=-32768, declared=False)
    assert enhance_folder(tmp_path / "in", tmp_path / "out", model=tiny_model_dir).ok
    plain = pydicom.dcmread(tmp_path / "out" / "plain.dcm").pixel_array
    padded = pydicom.dcmread(tmp_path / "out" / "padded.dcm").pixel_array
    assert (padded[:16] == -32768).all() and (padded[-16:] == -32768).all()
    # away from the edge (the network's reach) the tissue comes out as without the padding
    inner = np.s_[8:-8, 8:-8]
    np.testing.assert_allclose(padded[16:-16, 16:-16][inner], plain[inner], atol=1)
    records = {Path(r["input"]).name: r for r in map(
        json.loads, (tmp_path / "out" / "manifest.jsonl").read_text().splitlines())}
    assert records["padded.dcm"]["padding"]["pixels"] == padded.size - plain.size
    assert "padding" not in records["plain.dcm"]


def test_two_valued_and_ordinary_images_have_no_padding(tmp_path):
    import nibabel as nib

    from enhance.io.image import find_padding

    binary = np.zeros((20, 20), np.int16)
    binary[5:15, 5:15] = 1000
    assert find_padding(binary, plateau=True) is None
    binary[0, 0] = -32768  # but a far value beside two others is padding
    assert find_padding(binary, plateau=True).count == 1
    binary[0, 0] = 0
    nib.save(nib.Nifti1Image(binary, np.eye(4)), tmp_path / "mask.nii")
    assert read_image(tmp_path / "mask.nii").meta.padding is None
    for sample in ("ct_small.dcm", "mr_small.dcm"):
        assert read_image(SAMPLES / sample).meta.padding is None
