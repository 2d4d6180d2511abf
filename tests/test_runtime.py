"""Inference runtimes (enhance.runtime): OpenVINO converted once and cached, the same pixels as
Keras, no TensorFlow at start-up once cached, Keras when OpenVINO cannot serve."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from enhance.errors import EnhanceError, ModelError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _tiny_dir(path, seed=3, arch="dae"):
    import keras

    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    keras.utils.set_random_seed(seed)
    params = {"depth": 3, "width": 8} if arch == "dncnn" else {"width": 8, "levels": 2}
    config = make_config(arch, "gaussian", arch_params=params)
    save_model_dir(path, build_model(config), config, {"name": path.name})
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ENHANCE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def image():
    from enhance.tasks import degrade
    from enhance.io import read_image

    clean = read_image(SAMPLES / "t1_coronal.png").pixels[:200, :176]
    return degrade(clean, "gaussian25", seed=0)


def test_choose_runtime(monkeypatch):
    from enhance import runtime

    assert runtime.choose_runtime("keras") == "keras"
    with pytest.raises(EnhanceError, match="unknown runtime 'tflite'"):
        runtime.choose_runtime("tflite")
    monkeypatch.setattr(runtime, "_openvino_installed", lambda: True)
    monkeypatch.setattr(runtime, "_nvidia_gpu_visible", lambda: False)
    assert runtime.choose_runtime("auto") == "openvino"
    monkeypatch.setattr(runtime, "_nvidia_gpu_visible", lambda: True)  # Keras on the GPU
    assert runtime.choose_runtime("auto") == "keras"
    assert runtime.choose_runtime("openvino") == "openvino"
    monkeypatch.setattr(runtime, "_openvino_installed", lambda: False)
    assert runtime.choose_runtime("auto") == "keras"
    with pytest.raises(EnhanceError, match="pip install openvino"):
        runtime.choose_runtime("openvino")


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    from enhance.runtime import cache_root

    monkeypatch.setenv("ENHANCE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("ENHANCE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "enhance"


def test_openvino_equals_keras_converts_once_and_keys_on_the_weights(tmp_path, cache, image,
                                                                     monkeypatch):
    pytest.importorskip("openvino")
    from enhance import runtime
    from enhance.modeldir import load_model_dir
    from enhance.predict import enhance_image

    path = _tiny_dir(tmp_path / "tiny")
    on_keras = load_model_dir(path)
    on_openvino = runtime.load_enhancer(path, runtime="openvino")
    assert on_openvino.runtime == "openvino" and on_keras.runtime == "keras"
    with pytest.raises(ModelError, match="runs on openvino"):
        on_openvino.keras_model
    expected = enhance_image(on_keras, image, sigma=25 / 255)
    whole = enhance_image(on_openvino, image)
    assert np.abs(whole - expected).max() < 1e-5
    # tiles (several window shapes, each compiled once) agree with the whole image
    tiled = enhance_image(on_openvino, image, tile=64, batch_size=3)
    assert np.abs(tiled - whole).max() < 1e-5
    folders = sorted((cache / "openvino").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.xml").is_file()
    info = json.loads((folders[0] / runtime.IR_INFO).read_text())
    assert info["weights_sha256"] == on_keras.card["weights_sha256"]
    assert info["activation_bytes_per_pixel"] > 0

    # cached: loading again converts nothing (no Keras model is built)
    def no_keras(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr("enhance.modeldir.load_model_dir", no_keras)
    again = runtime.load_enhancer(path)
    np.testing.assert_array_equal(enhance_image(again, image), whole)
    monkeypatch.undo()
    monkeypatch.setenv("ENHANCE_CACHE_DIR", str(cache))
    # other weights under the same name: another IR
    _tiny_dir(path, seed=4)
    other = runtime.load_enhancer(path)
    assert len(list((cache / "openvino").iterdir())) == 2
    assert np.abs(enhance_image(other, image) - whole).max() > 1e-3
    # an incomplete cached folder (no description) is converted again
    (folders[0] / runtime.IR_INFO).unlink()
    path = _tiny_dir(tmp_path / "tiny", seed=3)
    np.testing.assert_array_equal(enhance_image(runtime.load_enhancer(path), image), whole)


def test_unwritable_cache_converts_for_this_process(tmp_path, image, monkeypatch):
    pytest.importorskip("openvino")
    from enhance.predict import enhance_image
    from enhance.runtime import load_enhancer

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ENHANCE_CACHE_DIR", str(blocker / "cache"))
    loaded = load_enhancer(_tiny_dir(tmp_path / "tiny"))
    assert loaded.runtime == "openvino" and enhance_image(loaded, image).shape == image.shape
    assert blocker.read_text() == "not a folder"


def test_failed_conversion_falls_back_to_keras_unless_openvino_was_asked(tmp_path, cache,
                                                                         monkeypatch):
    pytest.importorskip("openvino")
    from enhance import runtime

    def fail(keras_model, xml_path):
        raise ModelError("OpenVINO conversion failed (test)")

    monkeypatch.setattr(runtime, "write_openvino_ir", fail)
    path = _tiny_dir(tmp_path / "tiny")
    assert runtime.load_enhancer(path).runtime == "keras"
    with pytest.raises(ModelError, match="conversion failed"):
        runtime.load_enhancer(path, runtime="openvino")
    assert not list((cache / "openvino").glob("*/model.xml"))  # nothing half-written kept


def test_bfloat16_on_openvino_costs_little(cache, image):
    pytest.importorskip("openvino")
    from enhance.tasks import degrade
    from enhance.io import read_image
    from enhance.metrics import psnr
    from enhance.predict import enhance_image
    from enhance.runtime import load_enhancer
    from enhance.shipped import resolve_model

    clean = read_image(SAMPLES / "t1_coronal.png").pixels
    noisy = degrade(clean, "gaussian25", seed=1)
    exact = load_enhancer(resolve_model("dae-gaussian-sigma"), runtime="openvino")
    fast = load_enhancer(resolve_model("dae-gaussian-sigma"), runtime="openvino",
                         precision="bfloat16")
    assert fast.network.precision == "bfloat16"
    a = psnr(clean, enhance_image(exact, noisy, sigma=25 / 255), data_range=1.0)
    b = psnr(clean, enhance_image(fast, noisy, sigma=25 / 255), data_range=1.0)
    assert a > psnr(clean, noisy, data_range=1.0) + 5
    assert abs(a - b) < 0.1, (a, b)


def test_a_cached_run_never_imports_tensorflow(tmp_path, cache):
    pytest.importorskip("openvino")
    from enhance.runtime import load_enhancer

    path = _tiny_dir(tmp_path / "tiny")
    load_enhancer(path)  # converts into the cache
    script = (
        "import sys, json\n"
        "from enhance.pipeline import enhance_folder\n"
        f"result = enhance_folder({str(SAMPLES / 't1_coronal.png')!r}, {str(tmp_path / 'out')!r}, "
        f"model={str(path)!r})\n"
        "print(json.dumps([result.ok, 'tensorflow' in sys.modules, 'keras' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "ENHANCE_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [True, False, False]
    record = json.loads((tmp_path / "out" / "manifest.jsonl").read_text().splitlines()[0])
    assert record["runtime"] == "openvino" and record["status"] == "done"


def test_cli_runtime_option(tmp_path, cache):
    from click.testing import CliRunner

    from enhance.cli.main import cli
    from enhance.io import read_image

    path = _tiny_dir(tmp_path / "tiny", arch="dncnn")
    source = SAMPLES / "t1_coronal.png"
    outputs = {}
    for name in ("keras", "openvino"):
        if name == "openvino":
            pytest.importorskip("openvino")
        result = CliRunner().invoke(cli, ["run", str(source), str(tmp_path / name), "--model",
                                          str(path), "--runtime", name, "-q", "--no-preview"])
        assert result.exit_code == 0, result.output
        record = json.loads((tmp_path / name / "manifest.jsonl").read_text().splitlines()[0])
        assert record["runtime"] == name
        outputs[name] = read_image(tmp_path / name / "t1_coronal.png").pixels
    # the same restoration to within one 16-bit step
    assert np.abs(outputs["keras"] - outputs["openvino"]).max() <= 1.5 / 65535
    result = CliRunner().invoke(cli, ["run", str(source), str(tmp_path / "bad"), "--model",
                                      str(path), "--runtime", "tflite"])
    assert result.exit_code == 2 and not (tmp_path / "bad").exists()


def test_export_takes_a_model_loaded_on_openvino(tmp_path, cache):
    pytest.importorskip("openvino")
    from enhance.export import export_model
    from enhance.runtime import load_enhancer

    loaded = load_enhancer(_tiny_dir(tmp_path / "tiny", arch="dncnn"), runtime="openvino")
    export_model(loaded, tmp_path / "saved", format="saved_model")
    assert (tmp_path / "saved" / "saved_model.pb").is_file()


def test_a_shape_seen_once_runs_on_the_dynamic_compile_a_repeated_one_statically():
    from enhance.runtime import OpenVINONetwork, load_enhancer
    from enhance.shipped import weights_dir

    network = load_enhancer(weights_dir() / "dncnn-gaussian", runtime="openvino").network
    assert isinstance(network, OpenVINONetwork)
    rng = np.random.default_rng(0)
    a, b = (rng.random(shape, dtype=np.float32) for shape in ((1, 40, 48, 1), (1, 56, 32, 1)))
    first_a, first_b = network(a), network(b)
    assert network._dynamic is not None and not network._requests  # nothing compiled statically
    again_a = network(a)
    assert list(network._requests) == [a.shape]
    np.testing.assert_allclose(again_a, first_a, atol=1e-5)  # dynamic == static
    np.testing.assert_allclose(network(b), first_b, atol=1e-5)
    assert list(network._requests) == [a.shape, b.shape]


def test_a_large_window_is_compiled_statically_at_its_first_call(monkeypatch):
    from enhance import runtime
    from enhance.shipped import weights_dir

    monkeypatch.setattr(runtime, "DYNAMIC_MAX_PIXELS", 40 * 48)
    network = runtime.load_enhancer(weights_dir() / "dncnn-gaussian", runtime="openvino").network
    small = np.zeros((1, 40, 48, 1), np.float32)
    large = np.zeros((1, 40, 56, 1), np.float32)
    network(small)
    assert not network._requests and network._dynamic is not None
    network(large)
    assert list(network._requests) == [large.shape]
