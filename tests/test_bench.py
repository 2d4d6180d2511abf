"""``enhance bench``: the report files, the spec's seeds, the cache, workers, the command."""

import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from enhance.bench import cells, methods
from enhance.bench.runner import run_benchmark
from enhance.tasks import BENCHMARK_DEGRADATIONS, degrade
from enhance.io import read_image
from enhance.metrics import psnr

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEGRADATIONS = "gaussian25,speckle"
METHODS = "median,tv,lee"  # median: both tasks; tv: gaussian; lee: speckle
# rows per (image, degradation): noisy + 2 methods  ->  2 images x 2 degradations x 3 = 12
N_CELLS = 12


@pytest.fixture
def tiny(tmp_path):
    """Two 64 x 64 crops of real samples (16-bit MR, 8-bit microscopy), and a report folder."""
    import cv2

    data = tmp_path / "clean"
    (data / "mr").mkdir(parents=True)
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(data / "mr" / "t1.png"), t1[96:160, 96:160])
    cells = cv2.imread(str(SAMPLES / "cells.tif"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(data / "cells.png"), cells[:64, :64])
    return data, tmp_path / "report"


def _run(data, out, **options):
    options = {"degradations": DEGRADATIONS, "methods": METHODS, "grid_images": 1,
               "weights_dir": out.parent / "no_models", **options}
    return run_benchmark(data, out, **options)


def _rows(out):
    with open(out / "results.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def _scores(out):
    return {(r["image"], r["degradation"], r["method"]): (float(r["psnr"]), float(r["ssim"]))
            for r in _rows(out)}


def _cell_scores(result):
    return {(c.image, c.degradation, c.method): (c.psnr, c.ssim) for c in result.cells}


def test_report_files_are_complete_and_well_formed(tiny):
    data, out = tiny
    result = _run(data, out)
    assert result.computed == N_CELLS and result.from_cache == 0 and not result.failed

    rows = _rows(out)
    assert len(rows) == N_CELLS
    assert set(rows[0]) >= {"image", "degradation", "method", "psnr", "ssim", "seconds", "megapixels_per_s"}
    assert {r["image"] for r in rows} == {"cells.png", "mr/t1.png"}
    assert {(r["degradation"], r["method"]) for r in rows} == {
        ("gaussian25", "noisy"), ("gaussian25", "median"), ("gaussian25", "tv"),
        ("speckle", "noisy"), ("speckle", "median"), ("speckle", "lee"),
    }
    for r in rows:
        assert 0 < float(r["psnr"]) < 80 and -1 <= float(r["ssim"]) <= 1
        if r["method"] == "noisy":
            assert r["seconds"] == "" and r["megapixels_per_s"] == ""
        else:
            assert float(r["seconds"]) > 0
            assert float(r["megapixels_per_s"]) == pytest.approx(64 * 64 / 1e6 / float(r["seconds"]))
    # restoring beats the noisy input on these images
    scores = _scores(out)
    for image in ("cells.png", "mr/t1.png"):
        assert scores[(image, "gaussian25", "tv")][0] > scores[(image, "gaussian25", "noisy")][0]

    md = (out / "summary.md").read_text()
    for name in ("gaussian25", "speckle"):
        section = md.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        table = [line for line in section.splitlines() if line.startswith("|")]
        assert table[0].startswith("| method |") and "95% CI" in table[0] and "MP/s" in table[0]
        assert re.fullmatch(r"\|(-{3}:?\|)+", table[1])
        body = table[2:]
        assert len(body) == 3 and body[0].startswith("| noisy |")
        assert all(line.count("|") == table[0].count("|") for line in body)
        # the best method (by PSNR) in bold with its PSNR; the highest SSIM in bold, wherever it is
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in body]
        assert sum(c[0].startswith("**") for c in cells) == 1
        best = next(c for c in cells if c[0].startswith("**"))
        assert best[3].startswith("**") and float(best[3].strip("*")) == max(
            float(c[3].strip("*")) for c in cells[1:])
        ssims = [float(c[5].strip("*")) for c in cells[1:]]
        bold_ssim = [s for c, s in zip(cells[1:], ssims) if c[5].startswith("**")]
        assert bold_ssim == [max(ssims)]
    # gaussian25: the difference column is relative to the best classical method (by mean PSNR)
    g = md.split("## gaussian25\n", 1)[1].split("\n## ", 1)[0]
    best = max(("median", "tv"), key=lambda m: np.mean(
        [v[0] for k, v in scores.items() if k[1] == "gaussian25" and k[2] == m]))
    assert f"vs {best}" in g

    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # a table per degradation, and the glossary of method names
    assert page.count("<table>") == 3 and "<th>method</th>" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2 * (1 + 1)  # per degradation: the plots and one image grid
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert len(list((out / "cells").glob("*.json"))) == N_CELLS


def test_noisy_row_is_the_spec_degradation(tiny):
    data, out = tiny
    scores = _cell_scores(_run(data, out, grid_images=0, write=False))
    for i, relpath in enumerate(["cells.png", "mr/t1.png"]):  # sorted by relative path
        clean = read_image(data / relpath).pixels
        for name in DEGRADATIONS.split(","):
            d = BENCHMARK_DEGRADATIONS.index(name)
            noisy = degrade(clean, name, rng=np.random.default_rng(1000 * d + i))
            assert scores[(relpath, name, "noisy")][0] == psnr(clean, noisy, data_range=1.0)

    # a user seed S: default_rng([S, d, i])
    seeded = _run(data, out.parent / "seeded", degradations="speckle", methods="lee", seed=7,
                  grid_images=0, write=False)
    clean = read_image(data / "mr/t1.png").pixels
    d = BENCHMARK_DEGRADATIONS.index("speckle")
    noisy = degrade(clean, "speckle", rng=np.random.default_rng([7, d, 1]))
    got = _cell_scores(seeded)[("mr/t1.png", "speckle", "noisy")][0]
    assert got == psnr(clean, noisy, data_range=1.0)
    assert got != scores[("mr/t1.png", "speckle", "noisy")][0]


def test_cached_rerun_recomputes_nothing(tiny, monkeypatch):
    data, out = tiny
    before = _cell_scores(_run(data, out, write=False))

    def fail(task):
        raise AssertionError(f"recomputed {task.reference.relpath} {task.method.name}")

    monkeypatch.setattr(cells, "_run_cell", fail)
    again = _run(data, out, write=False)
    assert again.computed == 0 and again.from_cache == N_CELLS
    assert _cell_scores(again) == before

    # only what is missing is computed: a new method, and a deleted cell
    calls = []
    monkeypatch.setattr(cells, "_run_cell", lambda task: calls.append(task) or real_run_cell(task))
    next(iter((out / "cells").glob("*.json"))).unlink()
    # bilateral suits gaussian and speckle (issue 26): 2 images x 2 degradations
    more = _run(data, out, methods=METHODS + ",bilateral", write=False)
    assert more.computed == len(calls) == 4 + 1
    assert sum(t.method.name == "bilateral" for t in calls) == 4
    assert len(more.cells) == N_CELLS + 4
    assert {k: v for k, v in _cell_scores(more).items() if k[2] != "bilateral"} == before


real_run_cell = cells._run_cell


def test_workers_give_the_same_scores_as_serial(tiny):
    data, out = tiny
    serial = _run(data, out, grid_images=0, write=False)
    parallel = _run(data, out.parent / "parallel", grid_images=0, workers=2, write=False)
    assert parallel.computed == N_CELLS and not parallel.failed
    assert _cell_scores(parallel) == _cell_scores(serial)
    assert [(c.image, c.degradation, c.method) for c in parallel.cells] == \
        [(c.image, c.degradation, c.method) for c in serial.cells]


def _fake_model_dir(root, name, task, sha="0" * 64):
    model = root / name
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"arch": "fake", "task": task}))
    (model / "card.json").write_text(json.dumps({"weights_sha256": sha}))
    return model


def test_models_run_on_their_task_only_and_are_keyed_by_weights(tiny, monkeypatch):
    data, out = tiny
    weights = out.parent / "weights"
    _fake_model_dir(weights, "despeckle", "speckle")
    real_apply = cells.apply_method
    seen = []

    def apply(method, noisy, degradation):
        if method.kind == "model":  # no Keras here: the model is the identity
            seen.append(degradation.name)
            return noisy
        return real_apply(method, noisy, degradation)

    monkeypatch.setattr(cells, "apply_method", apply)
    result = run_benchmark(data, out, degradations=DEGRADATIONS, methods="median,shipped",
                           weights_dir=weights, grid_images=0, write=False)
    assert [m.name for m in result.methods] == ["noisy", "median", "despeckle"]
    assert {c.degradation for c in result.cells if c.method == "despeckle"} == {"speckle"}
    assert set(seen) == {"speckle"}
    # new weights (another sha256 in the card) invalidate that model's cells only
    (weights / "despeckle" / "card.json").write_text(json.dumps({"weights_sha256": "1" * 64}))
    again = run_benchmark(data, out, degradations=DEGRADATIONS, methods="median,shipped",
                          weights_dir=weights, grid_images=0, write=False)
    assert again.computed == 2


def test_model_cells_run_on_the_chosen_runtime_and_are_keyed_by_it(tiny):
    data, out = tiny
    model = SAMPLES.parent / "trained_weights" / "dae-speckle"
    options = {"degradations": "speckle", "methods": "median", "models": [str(model)],
               "grid_images": 0, "write": False, "weights_dir": out.parent / "no_models"}
    on_openvino = run_benchmark(data, out, runtime="openvino", **options)
    assert [m.runtime for m in on_openvino.methods] == [None, None, "openvino"]
    assert cells._MODELS[(str(model.resolve()), "openvino")].runtime == "openvino"
    on_keras = run_benchmark(data, out, runtime="keras", **options)
    assert on_keras.computed == 2  # the model's two cells: the runtime is in their key
    assert cells._MODELS[(str(model.resolve()), "keras")].runtime == "keras"
    a, b = _cell_scores(on_openvino), _cell_scores(on_keras)
    assert a.keys() == b.keys() and len(a) == 6
    for key in a:
        assert a[key][0] == pytest.approx(b[key][0], abs=1e-3), key
    assert run_benchmark(data, out, runtime="keras", **options).computed == 0


def test_shipped_without_models_is_a_note_not_an_error(tiny):
    data, out = tiny
    weights = out.parent / "weights"
    (weights / "features").mkdir(parents=True)  # a model directory that restores nothing
    (weights / "features" / "config.json").write_text(json.dumps({"format": "features/1"}))
    assert (weights / "features" / "config.json").is_file()
    notes = []
    result = run_benchmark(data, out, degradations="gaussian25", methods="shipped,median",
                           weights_dir=weights, grid_images=0, log=notes.append)
    # a shipped generator or feature network is not a method, and not worth a note either
    assert not any("not a restoration model" in n for n in notes)
    assert [m.name for m in result.methods] == ["noisy", "median"]
    assert any("no shipped models" in n for n in notes)
    assert "no shipped models" in (out / "summary.md").read_text()


def test_methods_are_told_what_the_spec_says(monkeypatch):
    import enhance.baselines

    calls = []
    monkeypatch.setattr(enhance.baselines, "denoise",
                        lambda image, method, **kw: calls.append((method, kw)) or image)
    noisy = np.full((16, 16), 0.05, np.float32)
    for name in ("gaussian50", "lowlight", "speckle"):
        method = methods._classical_method(enhance.baselines.get_baseline("median"))
        cells.apply_method(method, noisy, methods.resolve_degradations(name)[0])
    assert calls == [("median", {"sigma": 50 / 255}), ("median", {"exposure": 0.1}), ("median", {})]
    fast = [m.name for m in methods.resolve_methods("fast", weights_dir="/nonexistent")]
    assert "bm3d" not in fast and "vst_bm3d" in fast and "identity" not in fast


def test_references_are_grayscale_first_frame():
    from skimage.color import rgb2gray

    rgb = np.random.default_rng(0).random((2, 20, 20, 3)).astype(np.float32)
    assert np.allclose(cells.to_grayscale(rgb[0]), rgb2gray(rgb[0]), atol=1e-6)
    assert np.allclose(cells.to_grayscale(rgb, is_stack=True), rgb2gray(rgb[0]), atol=1e-6)
    assert cells.to_grayscale(rgb[..., 0], is_stack=True).shape == (20, 20)


def test_cli_bench(tiny):
    from click.testing import CliRunner

    from enhance.cli.bench import bench

    data, out = tiny
    r = CliRunner().invoke(bench, [str(data), "--out", str(out), "--degradations", "gaussian25",
                                   "--methods", "median", "--grid-images", "0", "-q"])
    assert r.exit_code == 0, r.output
    assert str(out / "report.html") in r.output
    assert "4 cells: 4 computed" in r.output

    r = CliRunner().invoke(bench, [str(data), "--out", str(out), "--methods", "nosuchmethod"])
    assert r.exit_code != 0 and "unknown method 'nosuchmethod'" in r.output


def test_bench_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from enhance.cli.bench import bench\n"
        "r = CliRunner().invoke(bench, ['--help'])\n"
        "assert r.exit_code == 0 and '--workers' in r.output, r.output\n"
        "print('HEAVY', [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert "HEAVY []" in out.stdout
