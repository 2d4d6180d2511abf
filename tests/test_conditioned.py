"""Noise-conditioned models: the noise-level map, training with it, inference told or estimating.

A conditioned ``dae`` (``arch_params.noise_map``) takes the image and a per-pixel noise-level
map; low light can go through the generalized Anscombe transform into such a Gaussian model
(``task_params.input_transform = "vst"``).
"""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from enhance.tasks import degrade  # noqa: E402
from enhance.errors import EnhanceError  # noqa: E402
from enhance.modeldir import LoadedModel, load_model_dir, make_config, save_model_dir  # noqa: E402
from enhance.models import build_model, receptive_field  # noqa: E402
from enhance.predict import SIGMA_ESTIMATOR, enhance_image, noise_parameters  # noqa: E402
from enhance.tasks import make_training_pair, noise_level_map, validation_params  # noqa: E402
from enhance.training import TrainConfig, train  # noqa: E402
from enhance.training.data import training_batch  # noqa: E402

TINY = {"width": 4, "levels": 2, "residual": True, "noise_map": True}


def conditioned(task="gaussian", transform=None, seed=3):
    task_params = {"input_transform": transform} if transform else {}
    config = make_config("dae", task, arch_params=TINY, task_params=task_params)
    keras.utils.set_random_seed(seed)
    return LoadedModel(build_model(config), config)


def zero_correction(model):
    """A residual conditioned dae whose correction is zero: it returns its image channel."""
    layer = model.keras_model.get_layer("correction")
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    return model


def test_the_network_takes_image_and_map_and_returns_the_image_channels():
    model = conditioned().keras_model
    assert model.input_shape == (None, None, None, 2) and model.output_shape == (None, None, None, 1)
    x = np.random.default_rng(0).random((1, 16, 16, 2), dtype=np.float32)
    other_map = x.copy()
    other_map[..., 1] += 0.2
    a, b = (keras.ops.convert_to_numpy(model(v)) for v in (x, other_map))
    assert np.abs(a - b).max() > 1e-4  # the map is an input the network responds to
    # the receptive field covers the map channel as it does the image
    config = make_config("dae", "gaussian", arch_params=TINY)
    assert receptive_field(config) == receptive_field(make_config("dae", "gaussian", arch_params={
        "width": 4, "levels": 2, "residual": True}))


def test_a_zero_correction_returns_the_image_channel_exactly():
    model = zero_correction(conditioned()).keras_model
    x = np.random.default_rng(1).random((2, 8, 12, 2), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x[..., :1], atol=1e-7)


def test_noise_level_maps_in_model_input_units():
    flat = np.full((20, 20), 0.5, np.float32)
    np.testing.assert_array_equal(noise_level_map("gaussian", flat, {"sigma": 0.1}), np.float32(0.1))
    params = {"exposure": 0.1, "photons": 1000.0, "read_noise": 0.002}
    level = noise_level_map("lowlight", flat, params)
    # gained input x: var = x / (exposure photons) + (read_noise / exposure)^2
    np.testing.assert_allclose(level, np.sqrt(0.5 / 100 + 0.02**2), rtol=1e-5)
    with pytest.raises(EnhanceError, match="noise-level map"):
        noise_level_map("speckle", flat, {})


def test_the_map_matches_the_empirical_noise_of_the_training_pairs():
    clean = np.full((64, 64), 0.4, np.float32)
    rng = np.random.default_rng(0)
    params = {"exposure": 0.1, "photons": 500.0, "read_noise": 0.003}
    model_input, _ = make_training_pair(clean, rng, "lowlight", params=params, noise_map=True)
    assert model_input.shape == (64, 64, 2)
    measured = np.std(model_input[..., 0])
    assert measured == pytest.approx(float(np.mean(model_input[..., 1])), rel=0.1)
    model_input, _ = make_training_pair(clean, rng, "gaussian", params={"sigma": 0.07},
                                        noise_map=True)
    assert np.std(model_input[..., 0]) == pytest.approx(0.07, rel=0.1)
    np.testing.assert_array_equal(model_input[..., 1], np.float32(0.07))


def test_told_sigma_is_used_and_an_untold_one_is_estimated():
    model = conditioned()
    clean = np.tile(np.linspace(0.2, 0.8, 96, dtype=np.float32), (96, 1))
    noisy = degrade(clean, "gaussian25", seed=0)
    told = noise_parameters(model, noisy, sigma=0.05)
    assert told == {"sigma": 0.05, "source": "given"}
    estimated = noise_parameters(model, noisy)
    assert estimated["source"] == SIGMA_ESTIMATOR
    assert estimated["sigma"] == pytest.approx(25 / 255, rel=0.1)
    # an untold model behaves as one told the estimate
    np.testing.assert_array_equal(enhance_image(model, noisy),
                                  enhance_image(model, noisy, sigma=estimated["sigma"]))
    assert np.abs(enhance_image(model, noisy, sigma=0.0) - enhance_image(model, noisy, sigma=0.2)
                  ).max() > 1e-4
    assert noise_parameters(LoadedModel(None, make_config("dae", "gaussian")), noisy) is None


def test_tiled_equals_untiled_with_a_noise_map():
    model = conditioned()
    image = np.random.default_rng(2).random((101, 77), dtype=np.float32)
    whole = enhance_image(model, image, sigma=0.1)
    np.testing.assert_allclose(enhance_image(model, image, sigma=0.1, tile=32, batch_size=3),
                               whole, atol=1e-4)


def test_low_light_through_the_anscombe_transform_is_unbiased():
    """With a network that changes nothing, VST in and exact inverse out gives back the mean."""
    model = zero_correction(conditioned("lowlight", "vst"))
    assert model.input_transform == "vst"
    clean = np.full((128, 128), 0.3, np.float32)
    dark = degrade(clean, "lowlight", seed=4)  # exposure 0.1, 1000 photons, read noise 0.002
    ramp = degrade(np.tile(np.linspace(0.1, 1.0, 128, dtype=np.float32), (128, 1)), "lowlight",
                   seed=5)
    told = {"photons": 1000.0, "read_noise": 0.002}
    with pytest.raises(EnhanceError, match="exposure"):
        enhance_image(model, dark, **told)
    out = enhance_image(model, dark, exposure=0.1, **told)
    assert float(np.mean(out)) == pytest.approx(0.3, rel=0.01)
    # the naive inverse of a square root would be biased low by ~1/(4 lambda): 30 counts, 0.8%
    fitted = noise_parameters(model, ramp, exposure=0.1)
    assert fitted["photons"] == pytest.approx(1000, rel=0.3)
    assert "noise_level_function" in fitted["source"]


def test_conditioned_training_feeds_the_map_and_records_it(tmp_path):
    config = TrainConfig(arch="dae", arch_params=TINY, steps=4, batch=4, patch=16, val_every=4,
                         log_every=2, seed=1, loss="relative_mse")
    x, y = training_batch(_Sampler(), np.random.default_rng(0), config)
    assert x.shape == (4, 16, 16, 2) and y.shape == (4, 16, 16, 1)
    sigmas = x[..., 1].reshape(4, -1)
    assert np.all(sigmas.min(axis=1) == sigmas.max(axis=1))  # a constant map per patch
    data = {"train": [np.full((40, 40), 0.5, np.float32)],
            "validation": [("v", np.full((32, 32), 0.5, np.float32))]}
    result = train(config, data=data, out_dir=tmp_path, progress=False)
    loaded = load_model_dir(result.model_dir)
    assert loaded.noise_map
    assert "noise-level map" in loaded.config["task_params"]["model_input"]
    for bad in ({"task": "speckle", "loss": "mse"}, {"mode": "noise2void", "loss": "mse"}):
        with pytest.raises(EnhanceError, match="noise-map"):
            TrainConfig(**{**config.to_dict(), **bad}).check()


def test_validation_of_a_conditioned_model_tells_it_the_preset_sigma():
    rng = np.random.default_rng(0)
    x, _ = make_training_pair(np.full((8, 8), 0.5, np.float32), rng, "gaussian",
                              params=validation_params("gaussian"), noise_map=True)
    np.testing.assert_array_equal(x[..., 1], np.float32(25 / 255))


def test_enhance_run_records_what_the_model_was_told(tmp_path):
    from enhance.pipeline import enhance_folder

    model = conditioned()
    model_dir = tmp_path / "model"
    save_model_dir(model_dir, model.keras_model, model.config, {"name": "cond"})
    source = tmp_path / "in"
    source.mkdir()
    noisy = degrade(np.full((40, 40), 0.5, np.float32), "gaussian25", seed=1)
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(source / "a.png"), np.round(noisy * 65535).astype(np.uint16))
    result = enhance_folder(source, tmp_path / "out", model=str(model_dir), sigma=0.1)
    assert result.ok
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert records[-1]["noise_level"] == {"sigma": 0.1, "source": "given"}
    result = enhance_folder(source, tmp_path / "out2", model=str(model_dir))
    records = [json.loads(line) for line in (tmp_path / "out2" / "manifest.jsonl").read_text().splitlines()]
    assert records[-1]["noise_level"]["source"] == SIGMA_ESTIMATOR
    assert records[-1]["noise_level"]["sigma"] == pytest.approx(25 / 255, rel=0.15)


class _Sampler:
    def crop(self):
        return np.full((16, 16), 0.5, np.float32)


def test_a_vst_model_derived_from_a_conditioned_gaussian_one_keeps_its_weights(tmp_path):
    from enhance.errors import ModelError
    from enhance.training.derive import derive_vst_model

    source = conditioned()
    save_model_dir(tmp_path / "g", source.keras_model, source.config,
                   {"name": "g", "command": "enhance train ...", "seed": 1})
    derived = load_model_dir(derive_vst_model(tmp_path / "g", tmp_path / "v"))
    assert derived.task == "lowlight" and derived.input_transform == "vst" and derived.noise_map
    assert derived.card["derived_from"]["weights_sha256"] == derived.card["weights_sha256"] == \
        load_model_dir(tmp_path / "g").card["weights_sha256"]
    assert derived.card["command"] == "enhance train ..." and derived.card["name"] == "v"
    for a, b in zip(derived.keras_model.get_weights(), source.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    blind = LoadedModel(build_model(make_config("dae", "gaussian")), make_config("dae", "gaussian"))
    save_model_dir(tmp_path / "b", blind.keras_model, blind.config, {"name": "b"})
    with pytest.raises(ModelError, match="noise-conditioned"):
        derive_vst_model(tmp_path / "b", tmp_path / "w")
