"""``enhance score FOLDER`` without a reference (jobs.score_folder_noreference, cli/score.py)."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage as ndi

from enhance import jobs
from enhance import metrics_ultrasound as mu
from enhance.cli.main import cli
from enhance.errors import EnhanceError


def write_png16(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16))


def speckle_field(looks, seed, shape=(96, 128), level=0.2):
    return level * np.random.default_rng(seed).gamma(looks, 1.0 / looks, shape)


@pytest.fixture
def folders(tmp_path):
    """noisy/: two L-look speckle fields (L = 2 and 6); out/: their 5 x 5 box-filtered copies."""
    noisy, out = tmp_path / "noisy", tmp_path / "out"
    for name, looks in (("a.png", 2), ("sub/b.png", 6)):
        image = speckle_field(looks, looks)
        write_png16(noisy / name, image)
        write_png16(out / name, ndi.uniform_filter(image, 5, mode="reflect"))
    return noisy, out


def test_one_folder_alone_gives_the_enl_of_its_speckle(folders):
    noisy, _ = folders
    report = jobs.score_folder_noreference(noisy)
    rows = {r.relpath: r for r in report.rows}
    assert not report.failed and set(rows) == {"a.png", "sub/b.png"}
    assert rows["a.png"].metrics["enl"] == pytest.approx(2, rel=0.15)
    assert rows["sub/b.png"].metrics["enl"] == pytest.approx(6, rel=0.15)
    assert report.keys == ["enl", "snr", "cnr", "gcnr"]
    assert report.summary()["n"] == 2


def test_with_inputs_the_pair_numbers_are_those_of_the_metrics(folders):
    noisy, out = folders
    report = jobs.score_folder_noreference(out, inputs=noisy)
    row = next(r for r in report.rows if r.relpath == "a.png")
    assert row.input.endswith("a.png") and not report.failed
    image = np.asarray(cv2.imread(str(noisy / "a.png"), cv2.IMREAD_UNCHANGED), np.float64) / 65535
    output = np.asarray(cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED), np.float64) / 65535
    want = mu.despeckling_report(image, output)
    for key in ("enl_gain", "edge_keeping", "mean_ratio", "ssi", "ratio_score"):
        assert row.metrics[key] == pytest.approx(want[key], rel=1e-5), key
    # a 5 x 5 box over independent speckle divides the variance by 25; inside 16 x 16 tiles the
    # smoothed pixels' variance about the tile mean reads low (they are correlated over 5 px), so
    # the gain reads above 25 (37 here); brightness kept
    assert 20 < row.metrics["enl_gain"] < 45 and row.metrics["mean_ratio"] == pytest.approx(1, abs=0.01)


def test_a_missing_input_or_a_size_mismatch_is_a_row_the_rest_is_scored(folders):
    noisy, out = folders
    write_png16(out / "extra.png", speckle_field(2, 9))
    write_png16(noisy / "small.png", speckle_field(2, 9, shape=(64, 64)))
    write_png16(out / "small.png", speckle_field(2, 9, shape=(64, 80)))
    report = jobs.score_folder_noreference(out, inputs=noisy)
    errors = {r.relpath: r.error for r in report.failed}
    assert set(errors) == {"extra.png", "small.png"}
    assert "no input" in errors["extra.png"] and str(out / "extra.png") in errors["extra.png"]
    assert "shapes differ" in errors["small.png"] and "\n" not in errors["small.png"]
    assert len(report.scored) == 2
    (out / "empty").mkdir()
    with pytest.raises(EnhanceError, match="no image files"):
        jobs.score_folder_noreference(out / "empty")


def test_a_mask_replaces_the_automatic_regions(folders):
    noisy, _ = folders
    mask = np.zeros((96, 128), bool)
    mask[10:40, 10:60] = mask[50:90, 70:120] = True
    report = jobs.score_folder_noreference(noisy, mask=mask)
    image = np.asarray(cv2.imread(str(noisy / "a.png"), cv2.IMREAD_UNCHANGED), np.float64) / 65535
    row = next(r for r in report.rows if r.relpath == "a.png")
    assert row.metrics["enl"] == pytest.approx(mu.enl(image, mask), rel=1e-5)
    wrong = jobs.score_folder_noreference(noisy, mask=np.ones((10, 10), bool))
    assert len(wrong.failed) == 2 and all("mask" in r.error for r in wrong.failed)


def test_cli_one_folder_prints_writes_json_and_exits_1_on_a_failure(folders, tmp_path):
    noisy, out = folders
    runner = CliRunner()
    result = runner.invoke(cli, ["score", str(out), "--input", str(noisy), "--json",
                                 str(tmp_path / "s.json"), "--csv", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert "enl_gain" in result.output and "edge_keeping" in result.output
    payload = json.loads((tmp_path / "s.json").read_text())
    assert {r["relpath"] for r in payload["rows"]} == {"a.png", "sub/b.png"}
    assert payload["summary"]["n"] == 2 and len(payload["summary"]["enl_gain"]) == 3
    assert (tmp_path / "s.csv").read_text().splitlines()[0].startswith("relpath,path,input,enl")
    write_png16(out / "extra.png", speckle_field(2, 9))
    failed = runner.invoke(cli, ["score", str(out), "--input", str(noisy)])
    assert failed.exit_code == 1 and "no input" in failed.output and "Traceback" not in failed.output
    both = runner.invoke(cli, ["score", str(noisy), str(out), "--input", str(noisy)])
    assert both.exit_code == 2 and "one folder" in both.output
