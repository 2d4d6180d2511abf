"""enhance export: ONNX / OpenVINO / SavedModel / bioimage.io exports agree with Keras; errors are one line.

The ONNX exports run in onnxruntime on images of a size the models were never trained on (and
with a batch of two) and must match the Keras model within 1e-4; the bioimage.io package must
pass bioimageio.spec's validation and its test output must follow from its test input through
its ONNX weights. Failures leave nothing at OUT. Needs the export packages (in the test extra;
OpenVINO only in the export extra: its test is skipped without it).
"""

import json
import shutil
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from enhance import export as export_module
from enhance.cli.main import cli
from enhance.errors import EnhanceError, ModelError
from enhance.export import export_model, infer_format

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("tf2onnx")

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def speckle_model():
    from enhance.modeldir import load_model_dir
    from enhance.shipped import resolve_model

    return load_model_dir(resolve_model("dncnn-speckle", kind="enhancer"))


@pytest.fixture(scope="module")
def sigma_model():
    from enhance.modeldir import load_model_dir
    from enhance.shipped import resolve_model

    return load_model_dir(resolve_model("dae-gaussian-sigma", kind="enhancer"))


def run_onnx(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, session.run(None, {session.get_inputs()[0].name: x})[0]


def keras_output(model, x):
    return np.asarray(model.keras_model(x, training=False))


def test_infer_format_from_the_suffix(tmp_path):
    assert infer_format(tmp_path / "m.onnx") == "onnx"
    assert infer_format(tmp_path / "m.zip") == "bioimageio"
    assert infer_format(tmp_path / "saved") == "saved_model"
    with pytest.raises(EnhanceError, match="--format"):
        infer_format(tmp_path / "m.bin")


def test_onnx_export_matches_keras_at_a_new_size(tmp_path, speckle_model):
    out = tmp_path / "speckle.onnx"
    result = export_model(speckle_model, out)  # the format from the suffix
    assert result.format == "onnx" and out.is_file()
    rng = np.random.default_rng(0)
    x = rng.random((2, 37, 53, 1), dtype=np.float32)  # trained on 48 x 48 patches
    session, y = run_onnx(out, x)
    expected = keras_output(speckle_model, x)
    diff = float(np.max(np.abs(y - expected)))
    print(f"dncnn-speckle ONNX vs Keras, 2 x 37 x 53: max |diff| {diff:.2e}")
    assert y.shape == expected.shape == (2, 37, 53, 1)
    assert diff <= TOLERANCE
    (given,), (returned,) = session.get_inputs(), session.get_outputs()
    assert (given.name, returned.name) == ("image", "output")
    assert given.shape == ["batch", "height", "width", 1]
    metadata = json.loads(session.get_modelmeta().custom_metadata_map["enhance"])
    assert metadata["model"] == "dncnn-speckle" and metadata["input"]["layout"].startswith("NHWC")
    assert metadata["weights_sha256"] == speckle_model.card["weights_sha256"]
    assert metadata["postprocessing"] == "clip to [0, 1]"
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_noise_conditioned_onnx_takes_the_noise_map_as_second_channel(tmp_path, sigma_model):
    out = tmp_path / "sigma.onnx"
    export_model("dae-gaussian-sigma", out, format="onnx")  # by its shipped name
    rng = np.random.default_rng(1)
    clean = np.tile(np.linspace(0.2, 0.8, 68, dtype=np.float32), (44, 1))
    noisy = clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32)
    level = np.full(clean.shape, 25 / 255, np.float32)
    x = np.stack([noisy, level], axis=-1)[None]  # 44 x 68: multiples of the size factor 4
    session, y = run_onnx(out, x)
    diff = float(np.max(np.abs(y - keras_output(sigma_model, x))))
    print(f"dae-gaussian-sigma ONNX vs Keras, 1 x 44 x 68 x 2: max |diff| {diff:.2e}")
    assert diff <= TOLERANCE
    assert session.get_inputs()[0].shape[-1] == 2
    metadata = json.loads(session.get_modelmeta().custom_metadata_map["enhance"])
    assert list(metadata["input"]["channels"]) == ["image", "noise_level"]
    assert metadata["noise_conditioned"] is True
    assert metadata["input"]["height_width_multiple_of"] == 4
    # the map matters: told a different sigma, the output changes
    told_less = np.stack([noisy, level / 4], axis=-1)[None]
    assert np.max(np.abs(run_onnx(out, told_less)[1] - y)) > 1e-3


def test_bioimageio_package_validates_and_reproduces_its_test_output(tmp_path):
    spec = pytest.importorskip("bioimageio.spec")
    from bioimageio.spec import InvalidDescr

    out = tmp_path / "speckle.zip"
    result = CliRunner().invoke(cli, ["export", "dncnn-speckle", str(out)])
    assert result.exit_code == 0, result.output
    assert "bioimageio" in result.output and out.is_file()
    description = spec.load_description(str(out), perform_io_checks=False)
    assert not isinstance(description, InvalidDescr), description.validation_summary
    assert str(description.format_version).startswith("0.5")
    assert description.weights.onnx is not None
    assert description.weights.tensorflow_saved_model_bundle is not None
    with zipfile.ZipFile(out) as package:
        names = set(package.namelist())
        assert {"rdf.yaml", "weights.onnx", "tf_saved_model.zip", "test_input.npy",
                "test_output.npy", "README.md", "cover.png"} <= names
        package.extractall(tmp_path / "package")
    folder = tmp_path / "package"
    x = np.load(folder / "test_input.npy")
    expected = np.load(folder / "test_output.npy")
    assert x.shape == (1, 128, 128, 1) and x.dtype == np.float32
    _, y = run_onnx(folder / "weights.onnx", x)
    diff = float(np.max(np.abs(np.clip(y, 0, 1) - expected)))  # the rdf's postprocessing: clip
    print(f"bioimage.io test tensors through onnxruntime: max |diff| {diff:.2e}")
    assert diff <= TOLERANCE
    assert float(np.mean(np.abs(expected - x))) > 0.01  # the model did restore something
    with zipfile.ZipFile(folder / "tf_saved_model.zip") as saved:
        assert "saved_model.pb" in saved.namelist()
    readme = (folder / "README.md").read_text()
    assert "Channels" in readme and "speckle" in readme


def test_saved_model_export_matches_keras(tmp_path, speckle_model):
    import tensorflow as tf

    out = tmp_path / "saved"
    export_model(speckle_model, out)
    assert (out / "saved_model.pb").is_file()
    assert json.loads((out / export_module.METADATA_FILE).read_text())["export_format"] == "saved_model"
    loaded = tf.saved_model.load(str(out))
    x = np.random.default_rng(2).random((1, 29, 41, 1), dtype=np.float32)
    y = loaded.signatures["serving_default"](tf.constant(x))
    (y,) = y.values()
    diff = float(np.max(np.abs(y.numpy() - keras_output(speckle_model, x))))
    print(f"dncnn-speckle SavedModel vs Keras, 1 x 29 x 41: max |diff| {diff:.2e}")
    assert diff <= TOLERANCE


def test_openvino_export_matches_keras(tmp_path, speckle_model):
    ov = pytest.importorskip("openvino")
    out = tmp_path / "ov"
    export_model(speckle_model, out, format="openvino")
    assert {p.name for p in out.iterdir()} == {"model.xml", "model.bin", export_module.METADATA_FILE}
    compiled = ov.Core().compile_model(str(out / "model.xml"), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.random.default_rng(3).random((1, 33, 47, 1), dtype=np.float32)
    y = compiled([x])[compiled.output(0)]
    diff = float(np.max(np.abs(y - keras_output(speckle_model, x))))
    print(f"dncnn-speckle OpenVINO vs Keras, 1 x 33 x 47: max |diff| {diff:.2e}")
    assert diff <= TOLERANCE


# ------------------------------------------------------------------------------ errors, atomicity


def one_error_line(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_a_bad_model_is_one_line_and_writes_nothing(tmp_path):
    runner = CliRunner()
    out = tmp_path / "m.onnx"
    line = one_error_line(runner.invoke(cli, ["export", "no-such-model", str(out)]))
    assert "not a shipped model" in line
    line = one_error_line(runner.invoke(cli, ["export", str(tmp_path / "missing"), str(out)]))
    assert "no such folder" in line
    line = one_error_line(runner.invoke(cli, ["export", "synth-mni-brain64", str(out)]))
    assert "generator" in line
    assert not out.exists()


def test_corrupt_weights_are_a_model_error(tmp_path):
    from enhance.shipped import resolve_model

    folder = tmp_path / "broken"
    shutil.copytree(resolve_model("dncnn-speckle"), folder)
    weights = folder / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        export_model(folder, tmp_path / "m.onnx")
    line = one_error_line(CliRunner().invoke(cli, ["export", str(folder), str(tmp_path / "m.onnx")]))
    assert "SHA-256" in line
    assert not (tmp_path / "m.onnx").exists()


def test_existing_out_is_kept_without_overwrite_and_a_foreign_folder_always(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"mine")
    line = one_error_line(CliRunner().invoke(cli, ["export", "dncnn-speckle", str(out)]))
    assert "--overwrite" in line and out.read_bytes() == b"mine"
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(EnhanceError, match="not an enhance export"):
        export_model("dncnn-speckle", folder, format="saved_model", overwrite=True)
    assert (folder / "holiday.jpg").read_bytes() == b"jpeg"


def failing_writer(written):
    def write(model, path, *args, **kwargs):
        from pathlib import Path

        path = Path(path)
        if path.is_dir():
            (path / "saved_model.pb").write_bytes(b"half a graph")
        else:
            path.write_bytes(b"half an onnx file")
        written.append(path)
        raise EnhanceError("conversion failed half-way")

    return write


@pytest.mark.parametrize("name, fmt, writer", [
    ("m.onnx", "onnx", "_write_onnx"),
    ("m.zip", "bioimageio", "_write_onnx"),
    ("saved", "saved_model", "_write_saved_model"),
])
def test_a_failed_export_leaves_no_partial_output(tmp_path, monkeypatch, speckle_model, name, fmt,
                                                   writer):
    written = []
    monkeypatch.setattr(export_module, writer, failing_writer(written))
    out = tmp_path / name
    with pytest.raises(EnhanceError, match="half-way"):
        export_model(speckle_model, out, format=fmt)
    assert written and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no staging file or folder left
    # an earlier export survives a failed --overwrite
    if fmt == "saved_model":
        out.mkdir()
        (out / export_module.METADATA_FILE).write_text("{}")
        before = {"enhance_export.json": "{}"}
    else:
        out.write_bytes(b"earlier export")
        before = b"earlier export"
    with pytest.raises(EnhanceError, match="half-way"):
        export_model(speckle_model, out, format=fmt, overwrite=True)
    if fmt == "saved_model":
        assert {p.name: p.read_text() for p in out.iterdir()} == before
    else:
        assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
