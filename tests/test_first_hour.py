"""The newcomer's list of issue 14 (item 8): names, counts, messages and reports a new user meets
in the first hour. (``--exposure`` given to a Gaussian model: tests/test_preview.py.)"""

import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from enhance.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _model_dir(path, task, *, name=None, sha="0" * 64):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"arch": "dae", "task": task}))
    card = {"weights_sha256": sha, **({"name": name} if name else {})}
    (path / "card.json").write_text(json.dumps(card))
    return path


def test_bench_names_a_user_model_by_its_card_and_two_never_collide(tmp_path, monkeypatch):
    from enhance.bench.methods import model_method, resolve_methods

    monkeypatch.chdir(tmp_path)
    a = _model_dir(tmp_path / "runs" / "a" / "model", "gaussian", name="a", sha="1" * 64)
    b = _model_dir(tmp_path / "runs" / "b" / "model", "gaussian", name="b", sha="2" * 64)
    nameless = _model_dir(tmp_path / "runs" / "c" / "model", "gaussian", sha="3" * 64)
    assert model_method(a).name == "a" and model_method(nameless).name == "c"
    rows = resolve_methods("median", ["runs/a/model", "runs/b/model", "runs/c/model"])
    assert [m.name for m in rows] == ["noisy", "median", "a", "b", "c"]
    # a retrained model with a shipped model's name keeps both rows, told apart by path
    again = _model_dir(tmp_path / "runs" / "dae-gaussian" / "model", "gaussian", name="dae-gaussian")
    rows = resolve_methods("median,dae-gaussian", [str(again)])
    assert [m.name for m in rows][-2:] == ["dae-gaussian", "dae-gaussian (runs/dae-gaussian/model)"]


def test_bench_help_states_the_cells_it_runs():
    from enhance import batch
    from enhance.bench.methods import resolve_degradations, resolve_methods

    text = " ".join(CliRunner().invoke(cli, ["bench", "--help"]).output.split())
    stated = re.search(r'"samples/\*" \(the (\d+) clean samples, (\d+) degradations, (\d+) cells\)',
                       text)
    assert stated, text
    _, files = batch.discover(str(SAMPLES / "*"))
    methods, degradations = resolve_methods("fast"), resolve_degradations()
    cells = len(files) * sum(sum(m.suits(d.task) for m in methods) for d in degradations)
    assert [int(g) for g in stated.groups()] == [len(files), len(degradations), cells]


def test_noise_estimate_survives_8_bit_quantisation():
    from enhance.io import read_image
    from enhance.metrics import estimate_noise

    rng = np.random.default_rng(0)
    for sigma in (0.7, 3.0):  # in grey levels: mostly 0 Haar coefficients after rounding
        x = np.clip(0.3 + sigma / 255 * rng.standard_normal((256, 256)), 0, 1)
        quantised = (np.round(x * 255) / 255).astype(np.float32)  # as read_image gives 8-bit
        assert estimate_noise(quantised) * 255 == pytest.approx(sigma, rel=0.15)
    # the 8-bit samples that the manifest reported as 0.0
    for name in ("cells.tif", "echo_frame00.png"):
        assert estimate_noise(read_image(SAMPLES / name).pixels) > 0.2 / 255
    # continuous data are estimated as before (the plain median rule)
    x = 0.5 + 0.05 * rng.standard_normal((128, 128))
    assert estimate_noise(x) == pytest.approx(0.05, rel=0.05)


def test_train_data_that_does_not_exist_says_no_such_folder(tmp_path, monkeypatch):
    from enhance.errors import EnhanceError
    from enhance.training.data import resolve_data

    monkeypatch.chdir(tmp_path)
    with pytest.raises(EnhanceError, match=r"^missing/: no such folder$"):
        resolve_data("missing/")
    with pytest.raises(EnhanceError, match="not a recipe .*medical-v1"):
        resolve_data("medical-v9")
    with pytest.raises(EnhanceError, match="no such recipe snapshot"):
        resolve_data("gone.npz")
    result = CliRunner().invoke(cli, ["train", "--data", "missing/", "--out", "run", "--steps", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == "Error: missing/: no such folder"


def test_train_help_shows_typed_options_with_real_help():
    text = CliRunner().invoke(cli, ["train", "--help"]).output
    assert "VALUE" not in text and "TrainConfig." not in text
    for option in ("--patch INTEGER", "--lr FLOAT", "--arch-params JSON", "--augment true|false",
                   "--loss mse|l1|relative_mse", "--mode supervised|noise2void"):
        assert option in text, option
    flat = " ".join(text.split())
    assert "Side of a training patch" in flat and "(default: 48)" in flat
    assert ":func:" not in flat and "``" not in flat


def test_degrade_manifest_records_the_resolved_parameters(real_folder, tmp_path):
    out = tmp_path / "dark"
    result = CliRunner().invoke(cli, ["degrade", str(real_folder), str(out), "--kind", "lowlight", "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert records and all(r["params"] == {"exposure": 0.1, "photons": 1000, "read_noise": 0.002}
                           for r in records)
    out = tmp_path / "us"
    CliRunner().invoke(cli, ["degrade", str(real_folder), str(out), "--kind", "speckle", "--looks", "4", "-q"])
    record = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert record["params"] == {"looks": 4, "psf_sigma": [1.0, 1.5], "thermal": 0.02}


def _tiny_data(tmp_path):
    data = tmp_path / "clean"
    (data / "us").mkdir(parents=True)
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(data / "a_t1.png"), t1[96:144, 96:144])
    echo = cv2.imread(str(SAMPLES / "echo_frame00.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(data / "us" / "echo.png"), echo[80:128, 140:188])
    cells = cv2.imread(str(SAMPLES / "cells.tif"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(data / "b_cells.png"), cells[:48, :48])
    return data


def test_bench_into_a_report_with_more_degradations_says_what_it_drops(tmp_path):
    data, out = _tiny_data(tmp_path), tmp_path / "report"
    common = ["--methods", "median", "--grid-images", "0", "-q", "--models", ""]
    first = CliRunner().invoke(cli, ["bench", str(data), "--out", str(out),
                                     "--degradations", "gaussian25,speckle", *common])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(cli, ["bench", str(data), "--out", str(out),
                                      "--degradations", "gaussian25", *common])
    assert second.exit_code == 0, second.output
    assert "note: the previous report in this folder also had degradations speckle" in second.output
    html = (out / "report.html").read_text()
    assert "also had degradations speckle" in html and "also had" in (out / "summary.md").read_text()
    with open(out / "results.csv", newline="") as f:
        assert {r["degradation"] for r in csv.DictReader(f)} == {"gaussian25"}


def test_report_grids_choose_by_modality_and_the_report_has_a_glossary(tmp_path):
    from enhance.bench.grids import modality_of, order_for_task, pick_grid_images
    from enhance.bench.runner import run_benchmark

    assert modality_of("us/echo.png") == "ultrasound" and modality_of(SAMPLES / "ct_small.dcm") == "CT"
    assert modality_of(SAMPLES / "cells.tif") == "microscopy" and modality_of("x/scan.png") is None

    class Ref:
        def __init__(self, relpath):
            self.relpath = self.path = relpath

    refs = [Ref(p) for p in ("a.png", "b_t1.png", "c.png", "d.png", "us/echo.png")]
    # evenly spread, one image would be a.png; the ultrasound image is chosen first
    assert pick_grid_images(refs, 1) == ["us/echo.png"]
    assert pick_grid_images(refs, 3) == ["a.png", "b_t1.png", "us/echo.png"]
    assert order_for_task("speckle", ["a.png", "b_t1.png", "us/echo.png"])[0] == "us/echo.png"
    assert order_for_task("gaussian", ["a.png", "b_t1.png", "us/echo.png"])[0] == "b_t1.png"

    data, out = _tiny_data(tmp_path), tmp_path / "report"
    result = run_benchmark(data, out, degradations="gaussian25,speckle", methods="median,lee",
                           grid_images=1, weights_dir=tmp_path / "none")
    assert result.grid_images == ["us/echo.png"]
    html = (out / "report.html").read_text()
    speckle = html[html.index('<h2 id="speckle">'):]
    assert "us/echo.png — speckle" in speckle
    assert '<h2 id="methods">Methods</h2>' in html
    assert "Lee local-statistics speckle filter" in html and "median filter" in html
    assert "the degraded input, unchanged" in html
    assert "## Methods" in (out / "summary.md").read_text()
    assert "not a restoration model" not in html


def _readme_commands():
    import shlex

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                words = shlex.split(part)
                if words[:1] == ["enhance"]:
                    yield words[1:]


def _option(words, name):
    return words[words.index(name) + 1] if name in words else None


def test_readme_blocks_use_only_folders_that_earlier_commands_create():
    """Every folder an `enhance` command of the README reads is samples/ or the output of an
    earlier command (a new user runs the blocks in order)."""
    made = []

    def norm(path):
        return path.strip("/").removeprefix("./").rstrip("/*")

    def check(path, words):
        path = norm(path)
        if path.startswith("samples") or any(path == m or path.startswith(m + "/") for m in made):
            return
        raise AssertionError(f"README: `enhance {' '.join(words)}` reads {path!r}, which no "
                             f"earlier command makes (made so far: {made})")

    for words in _readme_commands():
        command = words[0]
        if "--help" in words or "--list" in words or command == "models":
            continue
        if command in ("run", "degrade", "denoise", "augment"):
            check(words[1], words)
            made.append(norm(words[2]))
        elif command == "score":
            check(words[1], words), check(words[2], words)
        elif command == "bench":
            check(words[1], words)
            for model in (_option(words, "--models") or "").split(","):
                if "/" in model:
                    check(model, words)
            made.append(norm(_option(words, "--out")))
        elif command == "train":
            data = _option(words, "--data")
            if data and ("/" in data or data.startswith(".")):
                check(data, words)
            made.append(norm(_option(words, "--out")))
        elif command == "synth":
            sub = words[1]
            if sub == "recipe":
                made.append(norm(words[3]))
            elif sub == "train":
                check(words[2], words)
                made.append(norm(_option(words, "--out")))
            elif sub in ("generate", "evaluate"):
                if "/" in words[2]:
                    check(words[2], words)
                for name in ("--real", "--holdout"):
                    if _option(words, name):
                        check(_option(words, name), words)
                if sub == "generate":
                    made.append(norm(words[3]))
    assert "out/enhanced" in made and "out/dark" in made
