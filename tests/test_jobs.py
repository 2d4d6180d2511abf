import json

import numpy as np
import pytest

from enhance import jobs
from enhance.degrade import gaussian
from enhance.errors import EnhanceError
from enhance.io import read_image

SIGMA = 25 / 255


def test_degrade_folder_follows_the_spec_seed_rule_and_writes_16bit(real_folder, tmp_path):
    out = tmp_path / "noisy"
    result = jobs.degrade_folder(real_folder, out, "gaussian25")
    assert result.ok and result.count("done") == 3
    records = {r["input"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    # files sorted by relative path: ct.dcm, t1.png, us/echo.png; gaussian25 is d = 1
    for i, rel in enumerate(["ct.dcm", "t1.png", "us/echo.png"]):
        clean = read_image(real_folder / rel).pixels
        written = out / rel.replace(".dcm", ".png")
        noisy = read_image(written)
        assert noisy.meta.dtype == np.dtype(np.uint16)
        expected = gaussian(clean, np.random.default_rng(1000 + i), sigma=SIGMA)
        np.testing.assert_allclose(noisy.pixels, expected, atol=0.5 / 65535 + 1e-7)
        assert records[str(real_folder / rel)]["seed"] == 1000 + i
        assert records[str(real_folder / rel)]["params"] == {"sigma": SIGMA}


def test_user_seed_changes_the_images_reproducibly(real_folder, tmp_path):
    jobs.degrade_folder(real_folder, tmp_path / "a", "speckle", seed=7)
    jobs.degrade_folder(real_folder, tmp_path / "b", "speckle", seed=7)
    jobs.degrade_folder(real_folder, tmp_path / "c", "speckle", seed=8)
    a = read_image(tmp_path / "a" / "t1.png").pixels
    assert np.array_equal(a, read_image(tmp_path / "b" / "t1.png").pixels)
    assert not np.array_equal(a, read_image(tmp_path / "c" / "t1.png").pixels)


def test_degrade_denoise_score_give_the_figures_of_the_formulas(real_folder, tmp_path):
    import bm3d

    from enhance.metrics import psnr, ssim

    jobs.degrade_folder(real_folder, tmp_path / "noisy", "gaussian25")
    result = jobs.denoise_folder(tmp_path / "noisy", tmp_path / "bm3d", "bm3d", sigma=SIGMA)
    assert result.ok
    noisy_report = jobs.score_folders(real_folder, tmp_path / "noisy")
    bm3d_report = jobs.score_folders(real_folder, tmp_path / "bm3d")
    assert [r.error for r in bm3d_report.rows] == ["", "", ""]
    for row_noisy, row_bm3d in zip(noisy_report.rows, bm3d_report.rows):
        clean = read_image(row_noisy.reference).pixels.astype(np.float64)
        noisy = read_image(row_noisy.test).pixels.astype(np.float64)
        # the score is the spec's PSNR/SSIM on the [0, 1] pixels
        assert row_noisy.psnr == pytest.approx(10 * np.log10(1 / np.mean((clean - noisy) ** 2)), abs=1e-6)
        assert row_noisy.ssim == pytest.approx(ssim(clean, noisy, data_range=1.0), abs=1e-9)
        # the denoised file is BM3D of the noisy file, quantised to 16 bits
        reference_bm3d = np.clip(bm3d.bm3d(noisy, sigma_psd=SIGMA), 0, 1)
        assert row_bm3d.psnr == pytest.approx(psnr(clean, reference_bm3d, data_range=1.0), abs=0.05)
        assert row_bm3d.psnr > row_noisy.psnr + 4
    # Gaussian noise of sigma 25/255 gives about 20.2 dB (a little more where clipping helps)
    mean_noisy = noisy_report.summary()["psnr"][0]
    assert 20.0 < mean_noisy < 22.5


def test_score_reports_missing_reference_and_size_mismatch(real_folder, tmp_path):
    import cv2

    test_dir = tmp_path / "test"
    test_dir.mkdir()
    cv2.imwrite(str(test_dir / "t1.png"), np.zeros((10, 10), np.uint8))
    cv2.imwrite(str(test_dir / "unknown.png"), np.zeros((10, 10), np.uint8))
    report = jobs.score_folders(real_folder, test_dir)
    errors = {r.relpath: r.error for r in report.rows}
    assert "shapes differ" in errors["t1.png"] and "t1.png" in errors["t1.png"]
    assert "no reference" in errors["unknown.png"]
    assert report.summary()["n"] == 0


def test_denoise_keeps_dicom_format_as_derived_image(real_folder, tmp_path):
    import pydicom

    jobs.denoise_folder(real_folder / "ct.dcm", tmp_path / "out", "median", sigma=SIGMA)
    ds = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    original = pydicom.dcmread(real_folder / "ct.dcm")
    assert ds.ImageType[0] == "DERIVED"
    assert "median" in ds.DerivationDescription
    assert ds.SOPInstanceUID != original.SOPInstanceUID
    assert ds.pixel_array.dtype == original.pixel_array.dtype
    # the score compares the derived scan in the reference's scale (its stored values)
    report = jobs.score_folders(real_folder / "ct.dcm", tmp_path / "out")
    ref = original.pixel_array.astype(np.float64)
    span = ref.max() - ref.min()
    mse = np.mean(((ds.pixel_array - ref) / span) ** 2)
    assert report.rows[0].psnr == pytest.approx(10 * np.log10(1 / mse), abs=1e-3)


def test_unknown_method_and_output_in_input_are_refused(real_folder, tmp_path):
    with pytest.raises(EnhanceError):
        jobs.denoise_folder(real_folder, tmp_path / "o", "no-such-method")
    with pytest.raises(EnhanceError, match="inside the input"):
        jobs.degrade_folder(real_folder, real_folder / "noisy", "gaussian25")


def test_output_formats_are_spelled_once():
    from enhance.outputs import SUFFIXES
    from enhance.names import DEGRADE_FORMATS, OUTPUT_FORMATS

    assert set(SUFFIXES) == set(OUTPUT_FORMATS) == set(DEGRADE_FORMATS)
