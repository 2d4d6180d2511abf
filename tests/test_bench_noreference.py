"""``enhance bench --no-reference``: classical curves over their ranges, models as points."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from enhance.baselines import BASELINES
from enhance.baselines import speckle as sp
from enhance.bench import noref
from enhance.cli.main import cli


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    clean = np.full((64, 80), 0.25)
    clean[:, 40:] = 0.5
    for k in range(2):
        noisy = clean * rng.gamma(3, 1 / 3, clean.shape)
        cv2.imwrite(str(folder / f"f{k}.png"), np.round(np.clip(noisy, 0, 1) * 65535).astype(np.uint16))
    return folder


def test_every_setting_of_every_method_is_a_row_and_the_report_is_written(data, tmp_path):
    result = noref.run_noreference_benchmark(data, tmp_path / "out", methods="box,lee")
    settings = 1 + len(BASELINES["box"].sweep) + len(BASELINES["lee"].sweep)
    assert len(result.rows) == 2 * settings and not result.failed
    noisy = [r for r in result.rows if r.kind == "noisy"]
    assert all(r.metrics["enl_gain"] == 1.0 for r in noisy)
    box = [r.metrics["enl_gain"] for r in result.rows if r.method == "box" and r.image == "f0.png"]
    assert box == sorted(box)  # weak to strong
    out = tmp_path / "out"
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "trade-off" in html
    summary = (out / "summary.md").read_text()
    assert "| box | classical | size=3 |" in summary
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header.startswith("image,method,kind,setting,enl,enl_gain")


def test_a_model_on_a_curve_is_neither_above_nor_below_it(data, tmp_path, monkeypatch):
    """A "model" that is Lee's 5 x 5 filter lies on Lee's curve (margin 0, neither above nor
    below); against the box's curve its margin is its edge keeping minus the curve's there."""
    weights = tmp_path / "weights" / "fake-despeckle"
    weights.mkdir(parents=True)
    (weights / "config.json").write_text(json.dumps({"arch": "fake", "task": "speckle"}))
    (weights / "card.json").write_text(json.dumps({"weights_sha256": "0" * 64}))
    real = noref._restore

    def restore(method, image, options, task):
        if method.kind == "model":
            return np.asarray(sp.lee(image, window=5), np.float64)
        return real(method, image, options, task)

    monkeypatch.setattr(noref, "_restore", restore)
    result = noref.run_noreference_benchmark(data, tmp_path / "out", methods="box,lee,shipped",
                                             weights_dir=tmp_path / "weights", write=False)
    verdict = {c: (a, b, o, m) for _, c, a, b, o, m in noref.dominance(result)}
    assert verdict["lee"][:3] == (0, 0, 0) and abs(verdict["lee"][3]) < 1e-12
    margins = []
    for image in ("f0.png", "f1.png"):
        rows = [r for r in result.rows if r.image == image]
        model = next(r.metrics for r in rows if r.kind == "model")
        curve = [(r.metrics["enl_gain"], r.metrics["edge_keeping"]) for r in rows if r.method == "box"]
        margins.append(model["edge_keeping"] - noref.curve_edge_at(curve, model["enl_gain"]))
    assert verdict["box"][3] == pytest.approx(np.mean(margins))
    assert verdict["box"][:2] == (sum(m > 0 for m in margins), sum(m < 0 for m in margins))


def test_a_task_without_no_reference_metrics_is_refused(data, tmp_path):
    from enhance.errors import EnhanceError

    with pytest.raises(EnhanceError, match="no no-reference metrics"):
        noref.run_noreference_benchmark(data, tmp_path / "out", methods="box", task="gaussian")


def test_curve_interpolation_and_verdicts():
    pts = [(1.0, 0.9), (4.0, 0.5)]
    assert noref.curve_edge_at(pts, 2.0) == pytest.approx(0.7)
    assert noref.curve_edge_at(pts, 8.0) is None and noref.curve_edge_at(pts[:1], 1.0) is None
    assert noref.compare_to_curve(pts, 2.0, 0.75) == ("above", pytest.approx(0.05))
    assert noref.compare_to_curve(pts, 2.0, 0.6)[0] == "below"
    # outside the range: dominated by a setting (more ENL gain, as much edge keeping) is below
    curve = [(2.5, 0.8), (4.0, 0.6)]
    assert noref.compare_to_curve(curve, 2.0, 0.72) == ("below", None)
    assert noref.compare_to_curve(curve, 2.0, 0.85) == ("n/a", None)
    assert noref.compare_to_curve(curve, 5.0, 0.65) == ("above", None)
    assert noref.compare_to_curve(curve, 5.0, 0.5) == ("n/a", None)


def test_cli_no_reference_refuses_options_that_do_not_apply(data, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", str(data), "--out", str(tmp_path / "o"), "--no-reference",
                                 "--degradations", "speckle"])
    assert result.exit_code == 2 and "not with --no-reference" in result.output
    ok = runner.invoke(cli, ["bench", str(data), "--out", str(tmp_path / "o"), "--no-reference",
                             "--methods", "box", "-q"])
    assert ok.exit_code == 0, ok.output
    assert "2 images, no reference" in ok.output and (tmp_path / "o" / "report.html").is_file()
