"""enhance_image: tiling equals whole-image processing, colour, exposure, out-of-memory back-off."""

import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from enhance.errors import EnhanceError  # noqa: E402
from enhance.modeldir import LoadedModel, make_config, save_model_dir  # noqa: E402
from enhance.models import build_model  # noqa: E402
from enhance.predict import dihedral_transforms, enhance_image  # noqa: E402

TINY = {
    "dncnn": {"depth": 4, "width": 8},
    "dae": {"width": 4, "levels": 2},
    "gan": {"width": 4, "levels": 3},
}


def loaded(arch, task="gaussian"):
    config = make_config(arch, task, arch_params=TINY[arch])
    keras.utils.set_random_seed(7)
    return LoadedModel(build_model(config), config)


@pytest.mark.parametrize("arch", ["dncnn", "dae", "gan"])
def test_tiled_equals_untiled_on_an_odd_sized_image(arch):
    model = loaded(arch)
    image = np.random.default_rng(0).random((101, 77), dtype=np.float32)
    whole = enhance_image(model, image)
    tiled = enhance_image(model, image, tile=32, batch_size=3)
    assert whole.shape == image.shape and whole.dtype == np.float32
    assert 0.0 <= whole.min() and whole.max() <= 1.0
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_colour_image_goes_channel_by_channel_through_a_grayscale_model():
    model = loaded("dncnn")
    image = np.random.default_rng(1).random((30, 20, 3), dtype=np.float32)
    restored = enhance_image(model, image)
    assert restored.shape == image.shape
    for c in range(3):
        np.testing.assert_allclose(restored[..., c], enhance_image(model, image[..., c]), atol=1e-6)


def test_lowlight_model_needs_and_uses_the_exposure():
    model = loaded("dncnn", "lowlight")
    dark = np.full((16, 16), 0.05, np.float32)
    with pytest.raises(EnhanceError, match="exposure"):
        enhance_image(model, dark)
    bright = enhance_image(model, dark, exposure=0.1)
    direct = enhance_image(loaded("dncnn"), dark / 0.1)
    np.testing.assert_allclose(bright, direct, atol=1e-6)


def test_dihedral_transforms_are_eight_distinct_invertible_maps():
    image = np.arange(6 * 6 * 2, dtype=np.float32).reshape(6, 6, 2)
    images = []
    for forward, inverse in dihedral_transforms():
        moved = forward(image)
        np.testing.assert_array_equal(inverse(moved), image)
        images.append(moved.tobytes())
    assert len(set(images)) == 8
    np.testing.assert_array_equal(dihedral_transforms()[0][0](image), image)


@pytest.mark.parametrize("arch", ["dncnn", "gan"])
def test_self_ensemble_commutes_with_flips_and_rotations(arch):
    # A randomly initialised network is not equivariant; its self-ensemble is by construction.
    model = loaded(arch)
    image = np.random.default_rng(2).random((40, 24), dtype=np.float32)
    plain = enhance_image(model, image)
    ensembled = enhance_image(model, image, self_ensemble=True)
    assert ensembled.shape == image.shape and ensembled.dtype == np.float32
    assert np.abs(ensembled - plain).max() > 1e-4
    flipped = enhance_image(model, np.ascontiguousarray(image.T[::-1]), self_ensemble=True)
    np.testing.assert_allclose(flipped, ensembled.T[::-1], atol=1e-5)
    assert np.abs(enhance_image(model, np.ascontiguousarray(image.T[::-1])) - plain.T[::-1]).max() > 1e-4
    tiled = enhance_image(model, image, self_ensemble=True, tile=16, batch_size=2)
    np.testing.assert_allclose(tiled, ensembled, atol=1e-4)


def test_enhance_image_loads_a_model_directory(tmp_path):
    model = loaded("dncnn")
    save_model_dir(tmp_path / "m", model.keras_model, model.config, {})
    image = np.random.default_rng(2).random((20, 20), dtype=np.float32)
    np.testing.assert_array_equal(enhance_image(tmp_path / "m", image), enhance_image(model, image))


class ResourceExhaustedError(RuntimeError):
    pass


class _PicklyNetwork:
    """Raises an out-of-memory error for windows larger than ``limit`` pixels a side."""

    def __init__(self, network, limit):
        self.network, self.limit, self.sizes = network, limit, []

    def __call__(self, batch, training=False):
        self.sizes.append(batch.shape[1])
        if batch.shape[1] > self.limit:
            raise ResourceExhaustedError("OOM when allocating tensor")
        return self.network(batch, training=training)

    def predict_on_batch(self, batch):  # the graph-mode call the TensorFlow backend makes
        return keras.ops.convert_to_numpy(self(batch))

    def __getattr__(self, name):  # layers and inputs, for the memory plan
        return getattr(self.network, name)


def test_out_of_memory_halves_the_tile_until_it_fits():
    model = loaded("dncnn")
    image = np.random.default_rng(3).random((90, 90), dtype=np.float32)
    expected = enhance_image(model, image)
    pickly = _PicklyNetwork(model.keras_model, limit=60)
    result = enhance_image(LoadedModel(pickly, model.config), image, tile=128)
    np.testing.assert_allclose(result, expected, atol=1e-4)
    assert pickly.sizes[0] > 60 and pickly.sizes[-1] <= 60
    with pytest.raises(EnhanceError, match="out of memory"):
        enhance_image(LoadedModel(_PicklyNetwork(model.keras_model, 8), model.config), image)


def test_bad_images_raise():
    model = loaded("dncnn")
    with pytest.raises(EnhanceError):
        enhance_image(model, np.zeros((4, 4), np.uint8))
    with pytest.raises(EnhanceError):
        enhance_image(model, np.zeros(5, np.float32))


def test_importing_the_modules_does_not_import_keras():
    code = (
        "import sys, enhance, enhance.predict, enhance.modeldir, enhance.training, "
        "enhance.tasks, enhance.datasets, enhance.tiling; assert 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_memory_plan_keeps_whole_images_that_fit_and_tiles_the_rest_within_budget():
    from enhance.predict import IMAGE_BYTES_PER_PIXEL, MIN_AUTO_TILE, plan_windows

    options = dict(margin=32, size_factor=4, bytes_per_pixel=1500.0)
    assert plan_windows((256, 256), **options) == (None, 1)
    for side in (1500, 2048, 3001):
        (core_h, core_w), per_call = plan_windows((side, side), **options)
        window = (core_h + 64) * (core_w + 64)
        assert per_call >= 1
        assert side * side * IMAGE_BYTES_PER_PIXEL + per_call * window * 1500 <= 1 << 30
        assert core_h % 4 == 0 and core_h >= MIN_AUTO_TILE
        # equal tiles: the last one is not mostly padding
        assert -(-side // core_h) * core_h - side < core_h // 2
    # a larger budget means larger tiles; a tiny one falls back to the smallest automatic tile
    small = plan_windows((2048, 2048), max_memory=300 << 20, **options)[0][0]
    large = plan_windows((2048, 2048), max_memory=8 << 30, **options)
    assert small < plan_windows((2048, 2048), **options)[0][0] and large == (None, 1)
    assert plan_windows((8192, 8192), **options) == ((MIN_AUTO_TILE,) * 2, 1)
    # a user's tile is kept; windows per call are bounded by batch_size and the budget
    assert plan_windows((2048, 2048), tile=100, batch_size=8, **options) == ((100, 100), 8)
    assert plan_windows((2048, 2048), tile=100, batch_size=8, max_memory=80 << 20, **options)[1] < 8


def test_a_small_memory_budget_tiles_and_gives_the_same_image():
    model = loaded("dae")
    image = np.random.default_rng(5).random((600, 520), dtype=np.float32)
    seen = []
    whole = enhance_image(model, image)
    tiled = enhance_image(model, image, max_memory=2 << 20, progress=seen.append)
    assert len(seen) > 1  # several windows, so several calls
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_activation_memory_estimate_halves_in_bfloat16():
    from enhance.models import registry
    from enhance.predict import activation_bytes_per_pixel

    config = make_config("dae", "gaussian", arch_params=TINY["dae"])
    full = activation_bytes_per_pixel(registry.build_model(config))
    half = activation_bytes_per_pixel(registry.build_model(config, precision="bfloat16"))
    assert full > 4 * 4 and 0.4 * full < half < 0.7 * full


@pytest.mark.parametrize("name", ["dae-gaussian-sigma", "dncnn-speckle"])
def test_bfloat16_is_the_same_network_within_a_tenth_of_a_db(name):
    from enhance.tasks import degrade
    from enhance.metrics import psnr
    from enhance.modeldir import load_model_dir
    from enhance.predict import with_precision
    from enhance.shipped import resolve_model
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    model = load_model_dir(resolve_model(name))
    fast = with_precision(model, "bfloat16")
    assert with_precision(model, "float32") is model
    assert fast.keras_model.layers[-1].compute_dtype == "float32"  # the output is not rounded
    assert any(layer.compute_dtype == "bfloat16" for layer in fast.keras_model.layers)
    clean = resize(shepp_logan_phantom(), (192, 192)).astype(np.float32)
    clean = 0.1 + 0.8 * clean / clean.max()
    task = "gaussian25" if "gaussian" in name else "speckle"
    noisy = degrade(clean, task, seed=0)
    kwargs = {"sigma": 25 / 255} if "sigma" in name else {}
    a = enhance_image(model, noisy, **kwargs)
    b = enhance_image(fast, noisy, **kwargs)
    assert np.abs(a - b).max() > 0  # it did compute in bfloat16
    gap = psnr(clean, a, data_range=1) - psnr(clean, b, data_range=1)
    assert abs(gap) < 0.1, gap
