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
        if re.match(r"https?://", path):  # a DICOMweb study on a server, not a folder
            return
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
        elif command == "score":  # REFERENCE TEST, or one FOLDER (no reference) with --input
            values = {"--input", "--mask", "--csv", "--json", "--data-range", "--max-pixels"}
            positional = [w for i, w in enumerate(words[1:], 1)
                          if not w.startswith("-") and words[i - 1] not in values]
            for path in positional + [_option(words, "--input")] * ("--input" in words):
                check(path, words)
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


# --- issue 30: what a newcomer still trips on --------------------------------------------------


def _images(folder, names, *, shape=(40, 48), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        cv2.imwrite(str(folder / name), (rng.random(shape) * 255).astype(np.uint8))
    return folder


def test_a_single_file_may_have_its_output_folder_beside_it(tiny_model_dir, tmp_path):
    model = tiny_model_dir
    scans = _images(tmp_path / "scans", ["a.png", "b.png"])
    result = CliRunner().invoke(cli, ["run", str(scans / "a.png"), str(scans / "out"),
                                      "--model", str(model), "-q"])
    assert result.exit_code == 0, result.output
    assert (scans / "out" / "a.png").is_file() and not (scans / "out" / "b.png").exists()
    # a folder is still refused an output folder inside it (its next run would read it)
    result = CliRunner().invoke(cli, ["run", str(scans), str(scans / "out2"), "--model", str(model)])
    assert result.exit_code == 1 and "inside the input folder" in result.output
    # the same rule for every folder job (batch.discover_for)
    for job in (["degrade", "--kind", "gaussian25"], ["denoise", "--method", "median"]):
        out = scans / f"out-{job[0]}"
        result = CliRunner().invoke(cli, [job[0], str(scans / "a.png"), str(out), *job[1:], "-q"])
        assert result.exit_code == 0, result.output
        assert [p.name for p in out.iterdir() if p.suffix == ".png"] == ["a.png"], job
        result = CliRunner().invoke(cli, [job[0], str(scans), str(scans / "inside"), *job[1:], "-q"])
        assert result.exit_code != 0 and "inside the input folder" in result.output, job


def test_a_folder_without_images_is_an_error_and_creates_nothing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no image here")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(empty), str(out), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "no image found" in line and ".png" in line and ".jpg" in line and ".dcm" in line
    assert "done" not in result.output and not out.exists()


def test_ctrl_c_prints_the_summary_then_exits_130_and_the_rerun_finishes(tiny_model_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    model = tiny_model_dir
    source = _images(tmp_path / "in", [f"{i:02d}.png" for i in range(12)])
    out = tmp_path / "out"
    code = ("import time\n"
            "import enhance.pipeline as pipeline\n"
            "restore = pipeline.restore_pixels\n"
            "def slow(*args, **kwargs):  # time for the signal to arrive mid-run\n"
            "    time.sleep(0.5)\n"
            "    return restore(*args, **kwargs)\n"
            "pipeline.restore_pixels = slow\n"
            "from enhance.cli.main import cli\n"
            "cli()\n")
    process = subprocess.Popen([sys.executable, "-c", code, "run", str(source), str(out),
                                "--model", str(model), "--runtime", "keras", "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 240
    while not (manifest.is_file() and manifest.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "Aborted" not in stderr
    summary = re.search(r"-> .*: (\d+) done, 0 skipped .*, 0 failed; interrupted", stdout)
    assert summary, stdout
    done = int(summary.group(1))
    assert 2 <= done < 12
    assert not (out / ".enhance.lock").exists()
    result = CliRunner().invoke(cli, ["run", str(source), str(out), "--model", str(model),
                                      "--runtime", "keras", "-q"])
    assert result.exit_code == 0, result.output
    assert f"{12 - done} done, {done} skipped" in result.output


def test_the_preview_is_in_colour_for_colour_images(tiny_model_dir, tmp_path):
    model = tiny_model_dir
    source = tmp_path / "in"
    source.mkdir()
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 40  # red in RGB
    cv2.imwrite(str(source / "photo.png"), rgb[..., ::-1])  # OpenCV writes BGR
    result = CliRunner().invoke(cli, ["run", str(source), str(tmp_path / "out"), "--model",
                                      str(model), "-q"])
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(tmp_path / "out" / "preview.png"), cv2.IMREAD_UNCHANGED)
    assert sheet.ndim == 3 and sheet.shape[-1] == 3
    panel = sheet[70:250, 20:40].reshape(-1, 3).astype(int)  # inside the input panel
    blue, red = panel[:, 0].mean(), panel[:, 2].mean()
    assert red > blue + 100, (red, blue)


def test_a_misspelt_model_gets_did_you_mean_among_enhancers_only(tmp_path):
    from enhance.shipped import read_model_info, shipped_model_dirs

    source = _images(tmp_path / "in", ["a.png"])
    result = CliRunner().invoke(cli, ["run", str(source), str(tmp_path / "o"), "--model",
                                      "dae-gausian"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.output.strip().splitlines()[-1]
    assert "did you mean dae-gaussian" in line
    kinds = {p.name: read_model_info(p)["kind"] for p in shipped_model_dirs()}
    listed = line.split("shipped enhancers in ")[1]
    assert all(name in listed for name, kind in kinds.items() if kind == "enhancer")
    assert not [name for name, kind in kinds.items() if kind != "enhancer" and name in listed]


def test_bench_lists_the_methods_it_computes(tmp_path):
    data, out = _tiny_data(tmp_path), tmp_path / "report"
    result = CliRunner().invoke(cli, ["bench", str(data), "--out", str(out), "--degradations",
                                      "gaussian25", "--methods", "median,lee", "--grid-images",
                                      "0", "-q", "--models", ""])
    assert result.exit_code == 0, result.output
    stated = re.search(r"(\d+) methods: ([^(\n]+?)(?: \((\d+) others? suits? none|\n)",
                       result.output)
    assert stated, result.output
    listed = [m.strip() for m in stated.group(2).split(",")]
    with open(out / "results.csv", newline="") as f:
        computed = {r["method"] for r in csv.DictReader(f)}
    assert set(listed) == computed and int(stated.group(1)) == len(listed)
    assert "lee" not in listed and stated.group(3) == "1"  # lee restores speckle only


def test_synth_evaluate_names_its_report_without_a_double_slash(tmp_path, monkeypatch):
    real = _images(tmp_path / "real", ["a.png"])
    monkeypatch.setattr("enhance.synth.evaluate.evaluate", lambda *a, **k: {"sets": {}})
    result = CliRunner().invoke(cli, ["synth", "evaluate", str(real), "--real", str(real),
                                      "--out", str(tmp_path / "synth-report") + "/"])
    assert result.exit_code == 0, result.output
    assert f"report: {tmp_path / 'synth-report' / 'report.md'}" in result.output
    assert "//" not in result.output


def test_help_names_every_format_and_groups_the_ray_options():
    from enhance.io.formats import FORMAT_NAMES

    text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
    for name in FORMAT_NAMES.values():
        assert name.split()[0] in text, name
    for command in ("run", "bench"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        head, section = text.split("Options of --engine ray only:")
        for option in ("--address", "--actors", "--cpus-per-actor", "--gpus-per-actor"):
            assert option in section and option not in head, (command, option)
        assert "--engine ray:" not in text  # the section says it once
