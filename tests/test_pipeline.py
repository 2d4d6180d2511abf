"""enhance run: batch enhancement with a model (a tiny, untrained but deterministic one)."""

import json
from pathlib import Path

import numpy as np
import pytest

from enhance.errors import EnhanceError, ModelError

pytest.importorskip("keras")


@pytest.fixture
def mixed_folder(real_folder):
    """Real images in PNG 8/16-bit, DICOM, plus TIFF RGB, NIfTI, npy, a corrupt and an empty file."""
    import nibabel as nib
    import tifffile

    rng = np.random.default_rng(0)
    tifffile.imwrite(real_folder / "rgb.tif", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8),
                     photometric="rgb")
    volume = rng.integers(0, 1000, (24, 20, 3)).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.diag([0.5, 0.5, 2.0, 1.0])), real_folder / "vol.nii.gz")
    np.save(real_folder / "plane.npy", rng.random((30, 34)).astype(np.float32))
    (real_folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (real_folder / "empty.dcm").write_bytes(b"")
    return real_folder


def outputs(folder):
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file()
                  and p.name != "manifest.jsonl")


def test_mixed_folder_bad_files_reported_rest_done(mixed_folder, tiny_model_dir, tmp_path):
    from enhance.pipeline import enhance_folder

    out = tmp_path / "out"
    result = enhance_folder(mixed_folder, out, model=tiny_model_dir)
    status = {Path(r.input).name: r.status for r in result.results}
    assert status.pop("corrupt.png") == "failed" and status.pop("empty.dcm") == "failed"
    assert set(status.values()) == {"done"} and len(status) == 6
    errors = " ".join(r.error for r in result.failed)
    assert "corrupt.png" in errors and "empty.dcm" in errors
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    done = [r for r in records if r["status"] == "done"]
    assert len(done) == 6
    for record in done:
        assert record["model_sha256"] and len(record["model_sha256"]) == 64
        assert record["noise_before"] >= 0 and record["noise_after"] >= 0 and record["seconds"] > 0


def test_formats_dtypes_and_headers_are_kept(mixed_folder, tiny_model_dir, tmp_path):
    import nibabel as nib
    import pydicom

    from enhance.io import read_image
    from enhance.pipeline import enhance_folder

    out = tmp_path / "out"
    enhance_folder(mixed_folder, out, model=tiny_model_dir)
    t1 = read_image(out / "t1.png")
    assert t1.meta.dtype == np.uint16 and t1.pixels.shape == read_image(mixed_folder / "t1.png").pixels.shape
    assert read_image(out / "us" / "echo.png").meta.dtype == np.uint8
    rgb = read_image(out / "rgb.tif")
    assert rgb.pixels.shape == (40, 48, 3) and rgb.meta.dtype == np.uint8
    ds = pydicom.dcmread(out / "ct.dcm")
    assert ds.ImageType[0] == "DERIVED" and "tiny-dncnn" in ds.DerivationDescription
    source = nib.load(mixed_folder / "vol.nii.gz")
    written = nib.load(out / "vol.nii.gz")
    assert written.shape == source.shape and written.get_data_dtype() == np.int16
    np.testing.assert_allclose(written.affine, source.affine)
    assert np.load(out / "plane.npy").dtype == np.float32


def test_batch_output_equals_single_image_api(real_folder, tiny_model_dir, tmp_path):
    from enhance.io import read_image
    from enhance.pipeline import enhance_folder
    from enhance.predict import enhance_image
    from enhance.runtime import load_enhancer

    enhance_folder(real_folder / "t1.png", tmp_path / "out", model=tiny_model_dir)
    image = read_image(real_folder / "t1.png")
    single = enhance_image(load_enhancer(tiny_model_dir), image.pixels)  # the same runtime
    batch_output = read_image(tmp_path / "out" / "t1.png")
    np.testing.assert_array_equal(batch_output.raw(), image.meta.to_raw(single))


def test_interrupted_run_resumes_to_byte_identical_outputs(mixed_folder, tiny_model_dir, tmp_path):
    from enhance.pipeline import enhance_folder

    whole = tmp_path / "whole"
    enhance_folder(mixed_folder, whole, model=tiny_model_dir)

    resumed = tmp_path / "resumed"
    seen = []

    def interrupt_after_three(done, total, result):
        if result is not None:
            seen.append(result)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        enhance_folder(mixed_folder, resumed, model=tiny_model_dir, progress=interrupt_after_three)
    partial = outputs(resumed)
    assert 0 < len(partial) < len(outputs(whole))
    # a kill in the middle of a write leaves a hidden temporary file; it is never an output
    (resumed / ".t1.png.0badcafe.part").write_bytes(b"half a file")  # atomic.part_prefix + 8 hex
    result = enhance_folder(mixed_folder, resumed, model=tiny_model_dir)
    assert result.count("skipped") == len([p for p in partial if not p.name.startswith(".")])
    assert outputs(resumed) == outputs(whole)
    for rel in outputs(whole):
        assert (resumed / rel).read_bytes() == (whole / rel).read_bytes(), rel


def test_inputs_are_never_modified(mixed_folder, tiny_model_dir, tmp_path):
    from enhance.pipeline import enhance_folder

    before = {p: p.read_bytes() for p in mixed_folder.rglob("*") if p.is_file()}
    enhance_folder(mixed_folder, tmp_path / "out", model=tiny_model_dir)
    assert {p: p.read_bytes() for p in mixed_folder.rglob("*") if p.is_file()} == before


def test_errors_for_unknown_model_and_lowlight_without_exposure(real_folder, tmp_path):
    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model
    from enhance.pipeline import enhance_folder

    with pytest.raises(ModelError, match="no-such-model"):
        enhance_folder(real_folder, tmp_path / "o", model="no-such-model")
    config = make_config("dncnn", "lowlight", arch_params={"depth": 2, "width": 4})
    save_model_dir(tmp_path / "ll", build_model(config), config, {"name": "ll"})
    with pytest.raises(EnhanceError, match="exposure"):
        enhance_folder(real_folder, tmp_path / "o", model=tmp_path / "ll")


def test_cli_run_json_and_exit_status(mixed_folder, tiny_model_dir, tmp_path):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    result = CliRunner().invoke(cli, ["run", str(mixed_folder), str(tmp_path / "o"),
                                      "--model", str(tiny_model_dir), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.output.strip().splitlines() if line.startswith("{")]
    assert lines[-1]["summary"]["done"] == 6 and lines[-1]["summary"]["failed"] == 2
    assert any("corrupt.png" in e for e in lines[-1]["failed"])
    result = CliRunner().invoke(cli, ["run", str(mixed_folder), str(tmp_path / "o"),
                                      "--model", str(tiny_model_dir), "-q"])
    assert "6 skipped" in result.output and result.exit_code == 1


def test_cli_self_ensemble_writes_the_ensembled_restoration(real_folder, tiny_model_dir, tmp_path):
    from click.testing import CliRunner

    from enhance.cli.main import cli
    from enhance.io import read_image
    from enhance.predict import enhance_image
    from enhance.runtime import load_enhancer

    result = CliRunner().invoke(cli, ["run", str(real_folder / "t1.png"), str(tmp_path / "o"),
                                      "--model", str(tiny_model_dir), "--self-ensemble", "-q"])
    assert result.exit_code == 0, result.output
    image = read_image(real_folder / "t1.png")
    expected = enhance_image(load_enhancer(tiny_model_dir), image.pixels, self_ensemble=True)
    np.testing.assert_array_equal(read_image(tmp_path / "o" / "t1.png").raw(),
                                  image.meta.to_raw(expected))
    record = json.loads((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()[-1])
    assert record["self_ensemble"] is True


def test_cli_precision_and_max_memory(real_folder, tiny_model_dir, tmp_path):
    from click.testing import CliRunner

    from enhance.cli.main import cli
    from enhance.io import read_image
    from enhance.modeldir import load_model_dir
    from enhance.predict import enhance_image, with_precision
    from enhance.runtime import load_enhancer

    result = CliRunner().invoke(cli, ["run", str(real_folder / "t1.png"), str(tmp_path / "o"),
                                      "--model", str(tiny_model_dir), "--precision", "bfloat16",
                                      "--max-memory", "3M", "-q"])
    assert result.exit_code == 0, result.output
    image = read_image(real_folder / "t1.png")
    fast = with_precision(load_enhancer(tiny_model_dir), "bfloat16")
    expected = enhance_image(fast, image.pixels, max_memory=3 << 20)
    np.testing.assert_array_equal(read_image(tmp_path / "o" / "t1.png").raw(),
                                  image.meta.to_raw(expected))
    plain = enhance_image(load_enhancer(tiny_model_dir), image.pixels)
    assert not np.array_equal(image.meta.to_raw(plain), image.meta.to_raw(expected))
    record = json.loads((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()[-1])
    assert record["precision"] == "bfloat16"
    import enhance  # the Python API takes the same option

    np.testing.assert_array_equal(
        enhance.enhance_image(image.pixels, model=tiny_model_dir, precision="bfloat16",
                              max_memory=3 << 20), expected)
    keras_fast = enhance.load_model(tiny_model_dir, precision="bfloat16", runtime="keras")
    assert keras_fast.keras_model.layers[1].compute_dtype == "bfloat16"
    keras_plain = enhance_image(load_model_dir(tiny_model_dir), image.pixels)
    assert np.abs(enhance_image(keras_fast, image.pixels) - keras_plain).max() > 0
    with pytest.raises(EnhanceError, match="precision"):
        enhance.load_model(tiny_model_dir, precision="float8")
    for bad in ("lots", "-1G", "0"):
        result = CliRunner().invoke(cli, ["run", str(real_folder / "t1.png"), str(tmp_path / "p"),
                                          "--model", str(tiny_model_dir), "--max-memory", bad])
        assert result.exit_code == 2 and "--max-memory" in result.output, (bad, result.output)
    result = CliRunner().invoke(cli, ["run", str(real_folder / "t1.png"), str(tmp_path / "p"),
                                      "--precision", "float8"])
    assert result.exit_code == 2 and not (tmp_path / "p").exists()


def test_manifest_noise_of_a_large_frame_is_that_of_its_central_region(tiny_model_dir, tmp_path,
                                                                       monkeypatch):
    import cv2

    from enhance import pipeline
    from enhance.io import read_image
    from enhance.metrics import estimate_noise

    rng = np.random.default_rng(0)
    sigma = np.full((128, 128), 0.01)
    sigma[44:84, 44:84] = 0.05  # noisier centre
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "f.png"),
                np.round(np.clip(0.5 + sigma * rng.standard_normal(sigma.shape), 0, 1) * 65535)
                .astype(np.uint16))
    monkeypatch.setattr(pipeline, "NOISE_REGION", 40)
    pipeline.enhance_folder(tmp_path / "in" / "f.png", tmp_path / "o", model=tiny_model_dir)
    record = json.loads((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()[-1])
    pixels = read_image(tmp_path / "in" / "f.png").pixels
    assert record["noise_before"] == round(float(estimate_noise(pixels[44:84, 44:84])), 6)
    assert record["noise_before"] > 0.04 > 0.02 > estimate_noise(pixels)
