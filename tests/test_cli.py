import importlib.util
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from enhance.cli.main import COMMANDS, cli


@pytest.fixture
def runner():
    return CliRunner()


def test_help_lists_every_command_and_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from enhance.cli.main import cli, COMMANDS\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "for name in COMMANDS:\n"
        "    r = CliRunner().invoke(cli, [name, '--help'])\n"
        "    assert r.exit_code == 0, (name, r.output)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch', 'ray') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_top_level_help_names_the_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_degrade_then_score_round_trip(runner, real_folder, tmp_path):
    noisy = tmp_path / "noisy"
    result = runner.invoke(cli, ["degrade", str(real_folder), str(noisy), "--kind", "gaussian25", "-q"])
    assert result.exit_code == 0, result.output
    assert "3 done" in result.output
    report = tmp_path / "scores.json"
    result = runner.invoke(cli, ["score", str(real_folder), str(noisy), "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "mean over 3 images" in result.output
    payload = json.loads(report.read_text())
    assert len(payload["rows"]) == 3 and 19 < payload["summary"]["psnr"][0] < 23
    # a second run skips the finished files
    result = runner.invoke(cli, ["degrade", str(real_folder), str(noisy), "-q"])
    assert result.exit_code == 0 and "3 skipped" in result.output


def test_a_corrupt_file_fails_alone_with_its_name_and_exit_1(runner, real_folder, tmp_path):
    (real_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = runner.invoke(cli, ["denoise", str(real_folder), str(tmp_path / "out"), "--method", "median",
                                 "--sigma", "0.1", "-q"])
    assert result.exit_code == 1
    assert "3 done" in result.output and "1 failed" in result.output
    assert "broken.png" in result.output
    assert (tmp_path / "out" / "t1.png").exists()


def test_library_errors_become_one_line_messages(runner, real_folder, tmp_path):
    result = runner.invoke(cli, ["denoise", str(real_folder), str(tmp_path / "o"), "--method", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "nope" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["degrade", str(tmp_path / "missing"), str(tmp_path / "o")])
    assert result.exit_code == 1 and "missing" in result.output
    result = runner.invoke(cli, ["degrade", str(real_folder), str(real_folder / "inside")])
    assert result.exit_code == 1 and "inside the input" in result.output


def test_score_with_missing_reference_exits_1(runner, real_folder, tmp_path):
    import cv2
    import numpy as np

    test_dir = tmp_path / "t"
    test_dir.mkdir()
    cv2.imwrite(str(test_dir / "stranger.png"), np.zeros((8, 8), np.uint8))
    result = runner.invoke(cli, ["score", str(real_folder), str(test_dir)])
    assert result.exit_code == 1 and "no reference" in result.output


def test_dry_run_lists_and_writes_nothing(runner, real_folder, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(cli, ["degrade", str(real_folder), str(out), "--dry-run", "-q"])
    assert result.exit_code == 0
    assert result.output.count("planned:") == 3
    assert not out.exists()


# --- models by name: shipped names, paths, kinds (issue 13 item 1, issue 14 items 5 and 7) ---


def _tiny_model(path):
    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    config = make_config("dncnn", "gaussian", arch_params={"depth": 2, "width": 4})
    save_model_dir(path, build_model(config), config, {"name": "impostor"})
    return path


@pytest.fixture
def small_input(tmp_path):
    import cv2
    import numpy as np

    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8))
    return folder


def _manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_a_folder_named_like_a_shipped_model_in_the_cwd_is_not_used(runner, small_input, tmp_path,
                                                                     monkeypatch):
    from enhance.modeldir import file_sha256
    from enhance.shipped import DEFAULT_MODELS, weights_dir

    monkeypatch.chdir(tmp_path)
    impostor = _tiny_model(tmp_path / DEFAULT_MODELS["gaussian"])
    shipped = weights_dir() / DEFAULT_MODELS["gaussian"]
    # the default (no --model) and the bare name both mean the shipped model
    for extra in ([], ["--model", DEFAULT_MODELS["gaussian"]]):
        out = tmp_path / f"out{len(extra)}"
        result = runner.invoke(cli, ["run", "in", out.name, "-q", *extra])
        assert result.exit_code == 0, result.output
        (record,) = _manifest(out)
        assert record["model_source"] == "shipped"
        assert record["model_path"] == str(shipped.resolve())
        assert record["model_sha256"] == file_sha256(shipped / "model.weights.h5")
    # the folder is used only when given as a path, and the manifest says so
    result = runner.invoke(cli, ["run", "in", "out-path", "-q", "--model", f"./{impostor.name}"])
    assert result.exit_code == 0, result.output
    (record,) = _manifest(tmp_path / "out-path")
    assert record["model_source"] == "path" and record["model_path"] == str(impostor.resolve())
    assert record["model_sha256"] == file_sha256(impostor / "model.weights.h5")


def test_a_bare_name_that_is_not_shipped_is_refused_with_a_hint(runner, small_input, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    _tiny_model(tmp_path / "my-model")
    result = runner.invoke(cli, ["run", "in", "out", "--model", "my-model"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a shipped model" in result.output and "./my-model" in result.output
    assert not (tmp_path / "out" / "a.png").exists()


def test_run_lists_its_input_once_and_sizes_the_bar_from_the_library(runner, tmp_path,
                                                                     monkeypatch):
    """The files are discovered once per run (the bar is sized by the library's progress
    callback, the preview gets the root from the result); --json has one line per file."""
    import cv2
    import numpy as np

    from enhance import batch

    model = _tiny_model(tmp_path / "model")
    source = tmp_path / "in"
    for rel in ("a.png", "sub/b.png"):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(source / rel), (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8))
    calls, roots = [], []
    discover = batch.discover

    def counting(*args, **kwargs):
        calls.append(args)
        return discover(*args, **kwargs)

    def preview(path, pairs, *, root=None, **kwargs):
        roots.append(root)
        return []

    monkeypatch.setattr(batch, "discover", counting)
    monkeypatch.setattr("enhance.preview.write_preview", preview)
    for options in ([], ["-q"], ["--json"], ["--dry-run"]):
        calls.clear()
        out = tmp_path / f"out{len(roots)}{''.join(options)}"
        result = runner.invoke(cli, ["run", str(source), str(out), "--model", str(model), *options])
        assert result.exit_code == 0, result.output
        assert len(calls) == 1, options
        if options == ["--json"]:
            lines = [json.loads(line) for line in result.stdout.splitlines()]
            assert [r.get("status") for r in lines[:-1]] == ["done", "done"]
            assert lines[-1]["summary"]["done"] == 2
    assert roots and all(root == source for root in roots)


def test_models_lists_every_shipped_model_with_its_kind(runner):
    from enhance.shipped import read_model_info, shipped_model_dirs

    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0].rstrip("*"): line.split()[1] for line in result.output.splitlines()[1:]
            if line and not line.startswith(("*", "models in"))}
    expected = {p.name: read_model_info(p)["kind"] for p in shipped_model_dirs()}
    assert rows == expected
    assert {"enhancer", "generator", "features"} <= set(expected.values())
    assert "* speckle's default is chosen on real frames" in result.output


def test_a_generator_is_taken_by_name_and_refused_where_an_enhancer_is_needed(runner, small_input,
                                                                               tmp_path):
    result = runner.invoke(cli, ["synth", "generate", "synth-mni-brain64", str(tmp_path / "gen"),
                                 "-n", "3", "--class", "axial", "-q"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "gen").rglob("*.png"))) == 3
    result = runner.invoke(cli, ["run", str(small_input), str(tmp_path / "o"), "--model",
                                 "synth-mni-brain64"])
    assert result.exit_code == 1 and "image generator" in result.output
    assert "Traceback" not in result.output


def test_a_keras_backend_that_is_not_installed_is_one_line(small_input, tmp_path):
    code = ("import sys\n"
            "sys.modules['jax'] = None  # as if jax were not installed\n"
            "from enhance.cli.main import cli\n"
            "cli()\n")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code, "run", str(small_input), str(tmp_path / "o"),
                             "--runtime", "keras"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "pip install jax" in lines[0], result.stderr
    # the default runtime runs the backend the user named (Keras on jax), not OpenVINO silently
    result = subprocess.run([sys.executable, "-c", code, "run", str(small_input), str(tmp_path / "q")],
                            capture_output=True, text=True, env=env)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 1 and len(lines) == 1 and "pip install jax" in lines[0], result.stderr
    if importlib.util.find_spec("openvino") is None:
        return
    # the OpenVINO runtime asked by name, of a model already converted (cached), needs no Keras
    # backend at all
    from enhance.runtime import load_enhancer
    from enhance.shipped import resolve_model

    load_enhancer(resolve_model(None), runtime="openvino")
    result = subprocess.run([sys.executable, "-c", code, "run", str(small_input), str(tmp_path / "p"),
                             "--runtime", "openvino"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "p" / "manifest.jsonl").read_text().splitlines()[0])
    assert record["runtime"] == "openvino"
    assert '"runtime": "openvino"' in (tmp_path / "p" / "manifest.jsonl").read_text()


def test_train_help_names_every_data_recipe():
    from enhance.datasets import RECIPES

    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=400)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    missing = [name for name in RECIPES if name not in text]
    assert not missing, f"enhance train --help does not name the recipes {missing}"
