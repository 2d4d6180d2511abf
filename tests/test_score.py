"""``enhance score``: what is compared, on which range (issue 25, item 7)."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from enhance import jobs
from enhance.io import read_image

SAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "samples"


def _psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(1 / mse)


@pytest.fixture
def reference(tmp_path):
    """A 16-bit PNG reference whose values fill only part of [0, 1] (a stretch would show)."""
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)[64:160, 64:160]
    folder = tmp_path / "ref"
    folder.mkdir()
    for name in "abc":
        cv2.imwrite(str(folder / f"{name}.png"), (t1 // 2 + 8000).astype(np.uint16))
    return folder


def test_float_images_are_scored_as_held_on_the_references_range(reference, tmp_path):
    from enhance.cli.main import cli

    g = read_image(reference / "a.png").pixels.astype(np.float64)
    test = tmp_path / "test"
    test.mkdir()
    copies = {"a": g, "b": 0.5 * g + 0.25, "c": 0.3 * g}
    for name, values in copies.items():
        np.save(test / f"{name}.npy", values.astype(np.float32))
    report = jobs.score_folders(reference, test)
    psnr = {row.relpath: row.psnr for row in report.rows}
    assert psnr["a.npy"] == np.inf  # a stretch gave ~150 dB for each
    assert psnr["b.npy"] == pytest.approx(_psnr(g, copies["b"].astype(np.float32)), abs=1e-6)
    assert psnr["c.npy"] == pytest.approx(_psnr(g, copies["c"].astype(np.float32)), abs=1e-6)
    assert psnr["b.npy"] < 40 and psnr["c.npy"] < 40  # not ~150 dB
    assert all("test float values as held" in r.scale and "uint16 0..65535" in r.scale
               for r in report.rows)
    result = CliRunner().invoke(cli, ["score", str(reference), str(test)])
    assert result.exit_code == 0
    assert "scored as: reference uint16 0..65535 = [0, 1]; test float values as held (3 files)" \
        in result.output


def test_one_file_per_reference_is_scored_and_the_other_named(reference, tmp_path):
    from enhance.cli.main import cli

    test = tmp_path / "test"
    test.mkdir()
    cv2.imwrite(str(test / "a.png"), cv2.imread(str(reference / "a.png"), cv2.IMREAD_UNCHANGED))
    np.save(test / "a.npy", np.zeros((96, 96), np.float32))
    np.save(test / "b.npy", read_image(reference / "b.png").pixels)
    report = jobs.score_folders(reference, test)
    rows = {r.relpath: r for r in report.rows}
    assert rows["a.png"].psnr == np.inf and not rows["a.png"].skipped
    assert rows["a.npy"].skipped and str(test / "a.png") in rows["a.npy"].skipped
    assert np.isnan(rows["a.npy"].psnr) and not rows["a.npy"].error
    assert report.summary()["n"] == 2  # a.png and b.npy, not a.npy counted beside a.png
    result = CliRunner().invoke(cli, ["score", str(reference), str(test)])
    assert result.exit_code == 0 and f"{test / 'a.npy'}: not scored: {test / 'a.png'} is scored" \
        in result.output


def test_a_float_reference_outside_unit_range_needs_its_range(tmp_path):
    rng = np.random.default_rng(0)
    hu = (rng.random((40, 40)) * 3000 - 1000).astype(np.float32)
    (tmp_path / "r").mkdir()
    (tmp_path / "t").mkdir()
    np.save(tmp_path / "r" / "ct.npy", hu)
    np.save(tmp_path / "t" / "ct.npy", hu + 10)
    (row,) = jobs.score_folders(tmp_path / "r", tmp_path / "t").rows
    assert "declares no range" in row.error and "--data-range" in row.error
    (row,) = jobs.score_folders(tmp_path / "r", tmp_path / "t", data_range=4000.0).rows
    assert row.psnr == pytest.approx(10 * np.log10(4000**2 / 100), abs=1e-3)
    assert "float values as held, data range 4000" in row.scale


def test_a_run_written_as_npy_scores_as_the_run_written_in_the_inputs_format(
        real_folder, tiny_model_dir, tmp_path):
    from enhance.pipeline import enhance_folder

    noisy = tmp_path / "noisy"
    jobs.degrade_folder(real_folder, noisy, "gaussian25")
    for fmt in ("keep", "npy"):
        assert enhance_folder(noisy, tmp_path / fmt, model=tiny_model_dir, output_format=fmt).ok
    keep = {r.relpath.rsplit(".", 1)[0]: r for r in jobs.score_folders(real_folder, tmp_path / "keep").rows}
    npy = {r.relpath.rsplit(".", 1)[0]: r for r in jobs.score_folders(real_folder, tmp_path / "npy").rows}
    assert sorted(keep) == sorted(npy) == ["ct", "t1", "us/echo"]
    for name in keep:
        assert not keep[name].error and not npy[name].error
        # the same restoration: the PNG output is quantised to 16 bits, the .npy is not
        assert npy[name].psnr == pytest.approx(keep[name].psnr, abs=0.01), name
        assert npy[name].ssim == pytest.approx(keep[name].ssim, abs=1e-3), name


def test_nodata_pixels_are_left_out_of_the_score(tmp_path):
    rng = np.random.default_rng(1)
    hu = (rng.random((64, 64)) * 3000 - 1000).astype(np.float32)
    nodata = rng.random(hu.shape) < 0.05
    for folder, values in (("r", hu), ("t", hu + 10)):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "ct.npy", np.where(nodata, np.float32(-3.4e38), values))
    (row,) = jobs.score_folders(tmp_path / "r", tmp_path / "t", data_range=4000.0).rows
    assert row.psnr == pytest.approx(10 * np.log10(4000**2 / 100), abs=1e-3)
    assert 0.99 < row.ssim <= 1 and f"{nodata.sum():,} padding/NoData pixels left out" in row.scale
