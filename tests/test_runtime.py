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

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert runtime.choose_runtime("keras") == "keras"
    with pytest.raises(EnhanceError, match="unknown runtime 'tflite'"):
        runtime.choose_runtime("tflite")
    monkeypatch.setattr(runtime.openvino, "available", lambda: True)
    monkeypatch.setattr(runtime, "_nvidia_gpu_visible", lambda: False)
    assert runtime.choose_runtime("auto") == "openvino"
    # a user who names a Keras backend gets the network run on it, not OpenVINO
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert runtime.choose_runtime("auto") == "keras"
    assert runtime.choose_runtime("openvino") == "openvino"  # unless OpenVINO is asked for
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setattr(runtime, "_nvidia_gpu_visible", lambda: True)  # Keras on the GPU
    assert runtime.choose_runtime("auto") == "keras"
    assert runtime.choose_runtime("openvino") == "openvino"
    monkeypatch.setattr(runtime.openvino, "available", lambda: False)
    assert runtime.choose_runtime("auto") == "keras"
    with pytest.raises(EnhanceError, match="pip install openvino"):
        runtime.choose_runtime("openvino")


def test_every_runtime_is_one_module_offering_the_network_protocol(tmp_path):
    from enhance import runtime
    from enhance.modeldir import load_model_dir
    from enhance.names import RUNTIMES

    assert RUNTIMES == ("auto", *runtime.RUNTIME_MODULES)
    for name, module in runtime.RUNTIME_MODULES.items():
        assert module.NAME == name and module.__name__ == f"enhance.runtime.{name}"
        assert all(callable(getattr(module, f)) for f in ("available", "load", "with_precision"))
    keras_model = load_model_dir(_tiny_dir(tmp_path / "tiny")).keras_model
    assert not isinstance(keras_model, runtime.Network)
    network = runtime.as_network(keras_model)
    assert isinstance(network, runtime.Network) and network.runtime == "keras"
    assert network.precision == "float32" and network.bytes_per_pixel > 0
    batch = np.zeros((2, 16, 16, 1), np.float32)
    np.testing.assert_array_equal(network(batch), keras_model.predict_on_batch(batch))


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

    monkeypatch.setattr("enhance.runtime.cache.load_model_dir", no_keras)
    monkeypatch.setattr("enhance.runtime.keras.load_model_dir", no_keras)
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


def _ir_folder(cache):
    folders = sorted((cache / "openvino").iterdir())
    assert len(folders) == 1
    return folders[0]


def test_a_tampered_cached_ir_is_converted_again_not_run(tmp_path, cache, image):
    pytest.importorskip("openvino")
    from enhance import runtime
    from enhance.predict import enhance_image

    path = _tiny_dir(tmp_path / "tiny")
    first = runtime.load_enhancer(path, runtime="openvino")
    assert isinstance(first.network, runtime.Network)
    expected = enhance_image(first, image)
    folder = _ir_folder(cache)
    info = json.loads((folder / runtime.IR_INFO).read_text())
    assert set(info["sha256"]) == {"model.xml", "model.bin"}
    original = (folder / "model.bin").read_bytes()
    # the attack: every float32 constant of the weights scaled by 1.3
    constants = np.frombuffer(original[: len(original) // 4 * 4], dtype="<f4")
    scaled = (constants * np.float32(1.3)).astype("<f4").tobytes() + original[len(constants) * 4:]
    (folder / "model.bin").write_bytes(scaled)
    again = runtime.load_enhancer(path, runtime="openvino")
    assert (folder / "model.bin").read_bytes() == original  # converted again, in place
    np.testing.assert_array_equal(enhance_image(again, image), expected)


@pytest.mark.parametrize("damage", ["truncated-xml", "empty-bin", "bad-info", "no-xml"])
def test_a_damaged_cached_ir_is_converted_again_on_every_later_load(tmp_path, cache, image,
                                                                    damage):
    pytest.importorskip("openvino")
    from enhance import runtime
    from enhance.predict import enhance_image

    path = _tiny_dir(tmp_path / "tiny")
    expected = enhance_image(runtime.load_enhancer(path, runtime="openvino"), image)
    folder = _ir_folder(cache)
    if damage == "truncated-xml":
        xml = folder / "model.xml"
        xml.write_bytes(xml.read_bytes()[: xml.stat().st_size // 2])
    elif damage == "empty-bin":
        (folder / "model.bin").write_bytes(b"")
    elif damage == "bad-info":
        (folder / runtime.IR_INFO).write_text("[" * 100000)
    else:
        (folder / "model.xml").unlink()
    for _ in range(2):
        loaded = runtime.load_enhancer(path, runtime="openvino")
        assert loaded.runtime == "openvino"
        np.testing.assert_array_equal(enhance_image(loaded, image), expected)


def test_an_ir_openvino_cannot_read_is_one_line_or_keras(tmp_path, cache):
    pytest.importorskip("openvino")
    from enhance import runtime
    from enhance.modeldir import file_sha256

    path = _tiny_dir(tmp_path / "tiny")
    runtime.load_enhancer(path, runtime="openvino")
    folder = _ir_folder(cache)
    # files that match the recorded hashes but that this OpenVINO cannot read (another version)
    (folder / "model.xml").write_text("<net>not an IR</net>")
    info = json.loads((folder / runtime.IR_INFO).read_text())
    info["sha256"]["model.xml"] = file_sha256(folder / "model.xml")
    (folder / runtime.IR_INFO).write_text(json.dumps(info))
    with pytest.raises(ModelError, match="OpenVINO cannot read the converted model"):
        runtime.load_enhancer(path, runtime="openvino")
    assert runtime.load_enhancer(path).runtime == "keras"


def test_a_first_conversion_through_the_python_api_prints_no_tensorflow_banner(tmp_path):
    pytest.importorskip("openvino")
    path = _tiny_dir(tmp_path / "tiny")
    script = ("import sys\n"
              "from enhance.api import load_model\n"
              f"model = load_model({str(path)!r})\n"
              "print(model.runtime, 'tensorflow' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENHANCE_QUIET_TENSORFLOW", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    env["ENHANCE_CACHE_DIR"] = str(tmp_path / "fresh-cache")  # nothing converted yet
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["openvino", "True"]  # converted: TensorFlow was imported
    from enhance.quiet import BANNER_PATTERNS

    leaked = [line for line in done.stderr.splitlines()
              if any(p.search(line) for p in BANNER_PATTERNS)]
    assert not leaked, done.stderr


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

    monkeypatch.setattr(runtime.cache, "write_openvino_ir", fail)
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


def test_a_named_keras_backend_gets_the_keras_runtime_on_it(tmp_path, cache):
    pytest.importorskip("jax")
    pytest.importorskip("openvino")
    from enhance.runtime import load_enhancer

    path = _tiny_dir(tmp_path / "tiny", arch="dncnn")
    load_enhancer(path, runtime="openvino")  # converted and cached: OpenVINO could serve it
    script = (
        "import json, sys\n"
        "from enhance.pipeline import enhance_folder\n"
        f"result = enhance_folder({str(SAMPLES / 't1_coronal.png')!r}, {str(tmp_path / 'out')!r}, "
        f"model={str(path)!r})\n"
        "import keras\n"
        "print(json.dumps([result.ok, keras.config.backend(), 'jax' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [True, "jax", True]
    record = json.loads((tmp_path / "out" / "manifest.jsonl").read_text().splitlines()[0])
    assert record["runtime"] == "keras" and record["status"] == "done"


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

    monkeypatch.setattr(runtime.openvino, "DYNAMIC_MAX_PIXELS", 40 * 48)
    network = runtime.load_enhancer(weights_dir() / "dncnn-gaussian", runtime="openvino").network
    small = np.zeros((1, 40, 48, 1), np.float32)
    large = np.zeros((1, 40, 56, 1), np.float32)
    network(small)
    assert not network._requests and network._dynamic is not None
    network(large)
    assert list(network._requests) == [large.shape]
