"""The before/after contact sheet of ``enhance run`` (issue 14 item 3) and the run's console
(item 6: summary on stdout with model and OUT, dry run names the model, progress within an
image, no TensorFlow banner)."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from enhance.cli.main import cli
from enhance.shipped import DEFAULT_MODELS
from enhance.metrics import psnr
from enhance.preview import choose_rows, find_reference, write_preview

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    return path


@pytest.fixture
def layout(tmp_path):
    """in/degraded/a.png with in/reference/a.png; in/b.png, in/c.png; "outputs" in out/."""
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(0.2, 0.8, 48), (40, 1))
    src, out = tmp_path / "in", tmp_path / "out"
    pairs = {
        "degraded/a.png": (clean + 0.1 * rng.standard_normal(clean.shape), clean + 0.01),
        "reference/a.png": (clean, clean),
        "b.png": (clean, clean + 0.02),  # changed a little
        "c.png": (clean, clean + 0.2),   # changed a lot
    }
    for rel, (before, after) in pairs.items():
        _png(src / rel, before)
        _png(out / rel, after)
    return src, out, [(src / rel, out / rel) for rel in sorted(pairs)]


def test_a_degraded_file_finds_its_reference_by_the_sibling_folder(layout, tmp_path):
    src, _, _ = layout
    assert find_reference(src / "degraded" / "a.png") == src / "reference" / "a.png"
    assert find_reference(src / "b.png") is None
    _png(src / "degraded" / "deep" / "x.png", np.zeros((8, 8)))
    assert find_reference(src / "degraded" / "deep" / "x.png") is None  # no reference/deep/x.*
    _png(src / "reference" / "deep" / "x.png", np.zeros((8, 8)))
    assert find_reference(src / "degraded" / "deep" / "x.png") == src / "reference" / "deep" / "x.png"


def test_rows_put_references_first_then_the_most_changed_and_skip_references(layout):
    src, _, pairs = layout
    rows = choose_rows(pairs, max_rows=3, root=src)
    assert [r.label for r in rows] == ["degraded/a.png", "c.png", "b.png"]
    a = rows[0]
    ref = cv2.imread(str(src / "reference" / "a.png"), cv2.IMREAD_UNCHANGED) / 255.0
    noisy = cv2.imread(str(src / "degraded" / "a.png"), cv2.IMREAD_UNCHANGED) / 255.0
    assert a.psnr_before == pytest.approx(psnr(ref, noisy, data_range=1.0), abs=1e-4)
    assert a.psnr_after > a.psnr_before + 10
    assert rows[1].psnr_before is None and rows[1].change > rows[2].change
    assert [r.label for r in choose_rows(pairs, max_rows=1, root=src)] == ["degraded/a.png"]


def test_rows_with_a_reference_show_the_most_changed_first(layout):
    """The faint row (little noise, little change) is not the first picture (issue 30.4)."""
    src, out, pairs = layout
    clean = np.tile(np.linspace(0.2, 0.8, 48), (40, 1))
    noisy = clean + 0.3 * np.random.default_rng(1).standard_normal(clean.shape)
    _png(src / "degraded" / "z.png", noisy)
    _png(src / "reference" / "z.png", clean)
    _png(out / "degraded" / "z.png", clean)
    pairs = pairs + [(src / "degraded" / "z.png", out / "degraded" / "z.png")]
    rows = choose_rows(sorted(pairs), max_rows=4, root=src)
    assert [r.label for r in rows][:2] == ["degraded/z.png", "degraded/a.png"]
    assert rows[0].change > rows[1].change and rows[1].psnr_before is not None


def test_the_sheet_is_written_atomically_as_a_grayscale_png(layout, tmp_path):
    src, out, pairs = layout
    target = out / "preview.png"
    rows = write_preview(target, pairs, root=src, title="test", max_rows=3)
    sheet = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert sheet.ndim == 2 and sheet.dtype == np.uint8
    assert sheet.shape[0] >= 3 * 256 and len(rows) == 3
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    # input | output | reference for the degraded row: three 256-pixel-tall panels side by side
    assert sheet.shape[1] >= 3 * round(48 * 256 / 40)


def _tiny_model(path):
    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    config = make_config("dncnn", "gaussian", arch_params={"depth": 2, "width": 4})
    save_model_dir(path, build_model(config), config, {"name": "tiny-one"})
    return path


def test_run_writes_the_preview_and_names_model_and_out_on_stdout(layout, tmp_path):
    src, _, _ = layout
    model = _tiny_model(tmp_path / "runs" / "x" / "model")
    out = tmp_path / "enhanced"
    result = CliRunner().invoke(cli, ["run", str(src), str(out), "--model", str(model), "-q"])
    assert result.exit_code == 0, result.output
    assert f"model tiny-one ({model}) -> {out}: 4 done" in result.stdout
    assert f"preview: {out / 'preview.png'} (3 images" in result.stdout
    assert cv2.imread(str(out / "preview.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    out2 = tmp_path / "enhanced2"
    result = CliRunner().invoke(cli, ["run", str(src), str(out2), "--model", str(model), "-q",
                                      "--no-preview"])
    assert result.exit_code == 0 and not (out2 / "preview.png").exists()
    assert "preview: " not in result.stdout


def test_a_failed_run_prints_its_summary_on_stdout_too(layout, tmp_path):
    src, _, _ = layout
    (src / "broken.png").write_bytes(b"not a png")
    model = _tiny_model(tmp_path / "m")
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["run", str(src), str(out), "--model", str(model), "-q"])
    assert result.exit_code == 1
    assert f"-> {out}: 4 done, 0 skipped (already finished), 1 failed" in result.stdout
    assert "broken.png" in result.stdout and result.stderr == ""


def test_dry_run_names_the_model_it_would_use(layout, tmp_path):
    src, _, _ = layout
    result = CliRunner().invoke(cli, ["run", str(src), str(tmp_path / "o"), "--dry-run"])
    assert result.exit_code == 0, result.output
    default = DEFAULT_MODELS["gaussian"]
    assert f"model: {default} (shipped), task gaussian" in result.stdout
    assert f"dry run: model {default} (shipped) ->" in result.stdout
    assert not (tmp_path / "o").exists()


def test_exposure_given_to_a_gaussian_model_is_refused_in_one_line(layout, tmp_path):
    src, _, _ = layout
    result = CliRunner().invoke(cli, ["run", str(src), str(tmp_path / "o"), "--exposure", "0.1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"--exposure is for low-light models; {DEFAULT_MODELS['gaussian']} is a gaussian model"
            in result.output)
    assert not (tmp_path / "o").exists()


def test_progress_moves_within_an_image_tiles_and_frames(tmp_path):
    from enhance.modeldir import load_model_dir
    from enhance.pipeline import restore_pixels
    from enhance.run_options import RunOptions

    model = load_model_dir(_tiny_model(tmp_path / "m"))
    seen = []
    stack = np.random.default_rng(1).random((3, 64, 64)).astype(np.float32)
    restore_pixels(model, stack, RunOptions(tile=32, batch_size=1), is_stack=True,
                   progress=seen.append)
    assert len(seen) == 3 * 4  # 4 tiles per frame, one per call
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert seen[0] == pytest.approx(1 / 12)
    seen.clear()
    restore_pixels(model, stack[0], RunOptions(tile=32, batch_size=2, self_ensemble=True),
                   progress=seen.append)
    assert len(seen) == 8 * 2 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_no_tensorflow_banner_on_a_model_command(tmp_path):
    """A fresh process (TensorFlow imported by the command): no oneDNN/CUDA/absl lines."""
    out = tmp_path / "gen"
    result = subprocess.run([sys.executable, "-c", "from enhance.cli.main import cli; cli()",
                             "synth", "generate",
                             "synth-mni-brain64", str(out), "-n", "1", "-q"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in ("oneDNN", "cuda", "absl", "cpu_feature_guard", "cuInit"):
        assert noise not in result.stderr, result.stderr
    assert "wrote 1 images" in result.stdout


def test_the_first_command_shows_a_visible_before_after(tmp_path):
    """The README's first command on samples/: the spec-degraded samples are restored, by
    several dB, and the sheet shows them with their references (issue 14 item 3)."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(SAMPLES, work / "samples")
    result = subprocess.run([sys.executable, "-c", "from enhance.cli.main import cli; cli()",
                             "run", "samples/", "out/enhanced", "-q"],
                            capture_output=True, text=True, cwd=work)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout
    assert "preview: out/enhanced/preview.png (6 images: input | output, 3 with PSNR" in result.stdout
    records = [json.loads(line) for line in
               (work / "out" / "enhanced" / "manifest.jsonl").read_text().splitlines()]
    degraded = sorted(p.relative_to(work / "samples").as_posix()
                      for p in (work / "samples" / "degraded").iterdir())
    assert len(degraded) >= 2 and all(r["status"] == "done" for r in records)
    rows = choose_rows([(work / r["input"], work / r["output"]) for r in records], max_rows=6,
                       root=work / "samples")
    gains = {r.label: r.psnr_after - r.psnr_before for r in rows if r.psnr_before is not None}
    assert sorted(gains) == degraded
    assert all(g > 5 for g in gains.values()), gains
    assert not any(r.label.startswith("reference/") for r in rows)
    others = [r.change for r in rows if r.psnr_before is None]
    assert others and others == sorted(others, reverse=True)  # then the most changed images


def test_a_stack_shows_its_middle_frame_and_says_which(tmp_path):
    import tifffile

    frames = np.stack([np.full((32, 40), v, np.uint8) for v in (10, 200, 30)])
    src, out = tmp_path / "in" / "cine.tif", tmp_path / "out" / "cine.tif"
    src.parent.mkdir()
    out.parent.mkdir()
    tifffile.imwrite(src, frames, photometric="minisblack")
    tifffile.imwrite(out, frames // 2, photometric="minisblack")
    (row,) = choose_rows([(src, out)], root=tmp_path / "in")
    assert row.label == "cine.tif (frame 2 of 3)"
    assert row.input.shape == (32, 40) and row.input.max() == pytest.approx(200 / 255)
    assert row.output.max() == pytest.approx(100 / 255)
