"""Architectures, registered layers, serialisation and the GAN training step."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from enhance.errors import EnhanceError, UnknownName  # noqa: E402
from enhance.models import ARCHITECTURES, build_model, receptive_field, size_factor  # noqa: E402
from enhance.models.gan import Pix2PixEnhancer, patch_discriminator  # noqa: E402
from enhance.models.layers import ConvBlock, UpsampleBlock, noise2void_loss  # noqa: E402
from enhance.models.nafnet import NAFBlock, SimpleGate  # noqa: E402

to_numpy = keras.ops.convert_to_numpy

TINY = {
    "dncnn": {"depth": 4, "width": 8},
    "dae": {"width": 4, "levels": 2},
    "gan": {"width": 4, "levels": 3},
    "nafnet": {"width": 4, "levels": 2, "blocks": 1, "middle_blocks": 1},
}


@pytest.fixture(autouse=True)
def seeded_keras():
    """Every test builds its models from the same seed: a test's outcome never depends on the order."""
    keras.utils.set_random_seed(0)


def tiny(arch, **extra):
    return {"arch": arch, "arch_params": {**TINY[arch], **extra}}


def test_registry_lists_the_four_architectures():
    assert set(ARCHITECTURES) == {"dncnn", "dae", "gan", "nafnet"}


@pytest.mark.parametrize("arch", ["dncnn", "dae", "gan", "nafnet"])
def test_output_shape_equals_input_shape_at_several_sizes(arch):
    config = tiny(arch)
    model = build_model(config)
    factor = size_factor(config)
    for rows, cols in [(1, 1), (2, 3), (5, 2)]:
        x = np.random.default_rng(0).random(
            (2, rows * factor * 2, cols * factor * 2, 1), dtype=np.float32
        )
        assert tuple(model(x).shape) == x.shape


def test_dncnn_takes_odd_sizes_and_plain_autoencoder_builds():
    model = build_model(tiny("dncnn"))
    assert tuple(model(np.zeros((1, 17, 23, 1), np.float32)).shape) == (1, 17, 23, 1)
    plain = build_model(tiny("dae", skip=False))
    assert not any(isinstance(layer, keras.layers.Concatenate) for layer in plain.layers)
    assert any(
        isinstance(layer, keras.layers.Concatenate) for layer in build_model(tiny("dae")).layers
    )


def test_residual_dae_adds_its_correction_to_the_input():
    model = build_model(tiny("dae", residual=True))
    correction = keras.Model(model.input, model.get_layer("correction").output)
    x = np.random.default_rng(1).random((1, 16, 20, 1), dtype=np.float32)
    np.testing.assert_allclose(to_numpy(model(x)), x + to_numpy(correction(x)), atol=1e-6)
    assert "correction" not in [layer.name for layer in build_model(tiny("dae")).layers]


def test_default_builders_match_the_brief():
    assert size_factor({"arch": "dncnn"}) == 1
    assert size_factor({"arch": "dae"}) == 4
    assert size_factor({"arch": "gan"}) == 8
    assert receptive_field({"arch": "dncnn"}) == 25
    assert build_model({"arch": "dncnn", "channels": 3}).input_shape == (None, None, None, 3)


def test_unknown_architecture_and_parameter_raise():
    with pytest.raises(UnknownName):
        build_model({"arch": "resnet"})
    with pytest.raises(EnhanceError, match="not"):
        build_model({"arch": "dncnn", "arch_params": {"levels": 3}})


@pytest.mark.parametrize("arch", ["dncnn", "dae", "gan", "nafnet"])
def test_declared_receptive_field_bounds_the_influence_of_a_pixel(arch):
    # Width 8: at width 4 about one random initialisation in a hundred has every ReLU path from
    # the centre pixel dead, and then no output pixel moves at all.
    config = tiny(arch, **({"width": 8} if arch == "dae" else {}))
    model = build_model(config)
    _open_residual_scales(model)
    radius = (receptive_field(config) - 1) // 2
    rng = np.random.default_rng(1)
    size = 2 * radius + 64
    size += -size % size_factor(config)
    x = rng.random((1, size, size, 1), dtype=np.float32)
    base = to_numpy(model(x))
    seen = 0
    for dy, dx in [(0, 0), (3, 5), (7, 2)]:
        y, c = size // 2 + dy, size // 2 + dx
        bumped = x.copy()
        bumped[0, y, c, 0] += 1.0
        changed = np.argwhere(np.abs(to_numpy(model(bumped)) - base)[0, ..., 0] > 0)
        seen = max(seen, int(np.abs(changed - [y, c]).max()))
    assert 0 < seen <= radius


def _open_residual_scales(model):
    """Give the NAF blocks' residual scales (initialised at zero: each block starts as the
    identity) random values, so that every block's path is seen by the test."""
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, NAFBlock):
            layer.beta.assign(rng.normal(size=layer.channels).astype("float32"))
            layer.gamma.assign(rng.normal(size=layer.channels).astype("float32"))


def test_nafnet_starts_as_the_identity_and_its_blocks_gate():
    model = build_model(tiny("nafnet"))
    x = np.random.default_rng(4).random((1, 16, 20, 1), dtype=np.float32)
    correction = keras.Model(model.input, model.get_layer("correction").output)
    np.testing.assert_allclose(to_numpy(model(x)), x + to_numpy(correction(x)), atol=1e-6)
    gate = SimpleGate()
    halves = np.random.default_rng(5).random((1, 2, 2, 6), dtype=np.float32)
    np.testing.assert_allclose(to_numpy(gate(halves)), halves[..., :3] * halves[..., 3:], rtol=1e-6)
    block = NAFBlock(4)
    features = np.random.default_rng(6).random((1, 8, 8, 4), dtype=np.float32)
    np.testing.assert_allclose(to_numpy(block(features)), features, atol=1e-6)  # scales at zero
    conditioned = build_model({"arch": "nafnet", "arch_params": {**TINY["nafnet"], "noise_map": True}})
    assert conditioned.input_shape == (None, None, None, 2)
    assert conditioned.output_shape == (None, None, None, 1)


def test_layers_round_trip_through_get_config():
    for layer in (
        ConvBlock(6, strides=2, batchnorm=True, activation="leaky_relu", name="c"),
        UpsampleBlock(5, name="u"),
        NAFBlock(3, expansion=4, ffn_expansion=2, channel_attention=True, name="n"),
        SimpleGate(name="g"),
    ):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        x = np.random.default_rng(0).random((1, 8, 8, 6 if isinstance(layer, SimpleGate) else 3), dtype=np.float32)
        layer(x), clone(x)
        if isinstance(layer, NAFBlock):
            layer.beta.assign(np.ones(3, "float32")), layer.gamma.assign(np.ones(3, "float32"))
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(clone(x)))


@pytest.mark.parametrize("arch", ["dncnn", "dae", "gan", "nafnet"])
def test_keras_file_round_trip_gives_equal_outputs(arch, tmp_path):
    model = build_model(tiny(arch, channels=1))
    _open_residual_scales(model)
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(2).random((1, 32, 40, 1), dtype=np.float32)
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(loaded(x)))
    registered = NAFBlock if arch == "nafnet" else ConvBlock
    assert any(isinstance(layer, registered) for layer in loaded.layers)


def test_noise2void_loss_counts_only_masked_pixels():
    target = np.zeros((1, 4, 4, 1), np.float32)
    mask = np.zeros_like(target)
    mask[0, 1, 2, 0] = 1.0
    prediction = np.full_like(target, 0.5)
    prediction[0, 1, 2, 0] = 2.0
    loss = to_numpy(noise2void_loss(np.concatenate([target, mask], -1), prediction))
    np.testing.assert_allclose(loss, [4.0])


@pytest.fixture(scope="module")
def blind_spot():
    """A batch of 3 two-channel 32 x 40 patches (all values distinct), masked at 5%, radius 2."""
    from enhance.tasks import blind_spot_batch

    noisy = np.random.default_rng(0).permutation(3 * 32 * 40 * 2).reshape(3, 32, 40, 2)
    noisy = (noisy / noisy.size).astype(np.float32)
    masked, target = blind_spot_batch(noisy, np.random.default_rng(1), fraction=0.05, radius=2)
    return noisy, masked, target


def test_blind_spot_masks_the_fraction_and_leaves_the_rest(blind_spot):
    noisy, masked, target = blind_spot
    assert masked.shape == noisy.shape and target.shape == noisy.shape[:3] + (4,)
    np.testing.assert_array_equal(target[..., :2], noisy)  # the target is the unmasked input
    mask = target[..., 2:]
    assert set(np.unique(mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(mask[..., 0], mask[..., 1])  # a pixel is masked in every channel
    count = round(0.05 * 32 * 40)  # 64 draws per patch; a pixel drawn twice is masked once
    for per_patch in mask[..., 0].sum(axis=(1, 2)):
        assert 0.9 * count <= per_patch <= count
    unmasked = mask == 0
    np.testing.assert_array_equal(masked[unmasked], noisy[unmasked])


def test_blind_spot_replaces_a_masked_pixel_by_another_pixel_of_its_neighbourhood(blind_spot):
    noisy, masked, target = blind_spot
    radius = 2
    offsets = set()
    for b, y, x in zip(*np.nonzero(target[..., 2])):
        assert not np.any(masked[b, y, x] == noisy[b, y, x])  # never the pixel itself
        sources = np.argwhere(np.all(noisy[b] == masked[b, y, x], axis=-1))
        assert len(sources) == 1, "the value is no pixel of the patch (both channels from one pixel)"
        dy, dx = sources[0] - (y, x)
        assert max(abs(dy), abs(dx)) <= radius and (dy, dx) != (0, 0)
        offsets.add((int(dy), int(dx)))
    assert len(offsets) >= 16  # drawn over the neighbourhood, not one fixed neighbour (24 exist)


def test_noise2void_loss_is_the_mean_error_over_the_masked_pixels_only(blind_spot):
    noisy, _, target = blind_spot
    mask = target[..., 2:]
    rng = np.random.default_rng(3)
    prediction = rng.random(noisy.shape).astype(np.float32)
    loss = to_numpy(noise2void_loss(target, prediction))
    expected = ((prediction - noisy) ** 2 * mask).sum(axis=(1, 2, 3)) / mask.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    elsewhere = np.where(mask == 0, rng.random(noisy.shape), prediction).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(noise2void_loss(target, elsewhere)), loss)
    b, y, x = (int(i[0]) for i in np.nonzero(mask[..., 0]))
    moved = prediction.copy()
    moved[b, y, x, 0] += 0.5
    changed = to_numpy(noise2void_loss(target, moved))
    assert changed[b] != loss[b]
    np.testing.assert_array_equal(np.delete(changed, b), np.delete(loss, b))


def test_pix2pix_train_step_updates_both_networks():
    generator = build_model(tiny("gan", levels=2))
    discriminator = patch_discriminator(width=4, levels=2)
    gan = Pix2PixEnhancer(generator, discriminator, l1_weight=100.0, seed=0)
    gan.compile()
    rng = np.random.default_rng(3)
    clean = rng.random((4, 16, 16, 1), dtype=np.float32)
    noisy = clean + 0.1 * rng.standard_normal(clean.shape).astype(np.float32)
    g0 = [w.copy() for w in generator.get_weights()]
    d0 = [w.copy() for w in discriminator.get_weights()]
    for _ in range(2):
        logs = gan.train_on_batch(noisy, clean, return_dict=True)
    assert {"loss", "d_loss", "l1", "adversarial"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.array_equal(a, b) for a, b in zip(g0, generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(d0, discriminator.get_weights()))
    np.testing.assert_array_equal(to_numpy(gan(noisy)), to_numpy(generator(noisy)))


def test_pix2pix_config_round_trip():
    gan = Pix2PixEnhancer(
        build_model(tiny("gan", levels=2)),
        patch_discriminator(width=4, levels=2),
        l1_weight=50.0,
        seed=1,
    )
    clone = Pix2PixEnhancer.from_config(gan.get_config())
    assert clone.l1_weight == 50.0
    assert clone.generator.count_params() == gan.generator.count_params()


def _pixel_wise_blind_spot_before_struct(noisy, rng, fraction, radius):
    """The pixel-wise blind spot as it was before ``struct`` existed (a frozen reference)."""
    noisy = np.asarray(noisy, dtype=np.float32)
    batch, height, width, _ = noisy.shape
    count = max(1, int(round(fraction * height * width)))
    masked, mask = noisy.copy(), np.zeros_like(noisy)
    for index in range(batch):
        rows, cols = rng.integers(0, height, count), rng.integers(0, width, count)
        dy = rng.integers(-radius, radius + 1, count)
        dx = rng.integers(-radius, radius + 1, count)
        dx[(dy == 0) & (dx == 0)] = 1
        src_rows = np.clip(rows + dy, 0, height - 1)
        src_cols = np.clip(cols + dx, 0, width - 1)
        src_cols = np.where((src_rows == rows) & (src_cols == cols), np.abs(cols - 1), src_cols)
        masked[index, rows, cols, :] = noisy[index, src_rows, src_cols, :]
        mask[index, rows, cols, :] = 1.0
    return masked, np.concatenate([noisy, mask], axis=-1)


def test_the_pixel_wise_blind_spot_is_unchanged_by_struct(blind_spot):
    from enhance.tasks import blind_spot_batch

    noisy, masked, target = blind_spot
    old = _pixel_wise_blind_spot_before_struct(noisy, np.random.default_rng(1), 0.05, 2)
    np.testing.assert_array_equal(masked, old[0])
    np.testing.assert_array_equal(target, old[1])
    again = blind_spot_batch(noisy, np.random.default_rng(1), fraction=0.05, radius=2, struct=None)
    np.testing.assert_array_equal(again[0], masked)


def _distinct(shape, seed=0):
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape)
    return (values / values.size).astype(np.float32)


def test_a_structured_blind_spot_replaces_its_rows_x_cols_block_only():
    from enhance.tasks import blind_spot_batch

    noisy = _distinct((4, 32, 40, 2))
    # one blind spot per patch (fraction -> count 1): its block is the only change
    masked, target = blind_spot_batch(noisy, np.random.default_rng(2), fraction=1e-6, struct=(3, 5))
    np.testing.assert_array_equal(target[..., :2], noisy)
    for b in range(4):
        centres = np.argwhere(target[b, ..., 2] == 1)
        assert len(centres) == 1 and np.array_equal(target[b, ..., 3], target[b, ..., 2])
        (y, x), = centres
        changed = np.any(masked[b] != noisy[b], axis=-1)
        block = np.zeros_like(changed)
        block[max(y - 1, 0):y + 2, max(x - 2, 0):x + 3] = True  # 3 rows x 5 columns
        np.testing.assert_array_equal(changed, block)
        for r, c in np.argwhere(block):  # each value is a pixel of the patch outside the block
            sources = np.argwhere(np.all(noisy[b] == masked[b, r, c], axis=-1))
            assert len(sources) == 1
            sr, sc = sources[0]
            assert abs(sr - y) > 1 or abs(sc - x) > 2


def test_structured_blind_spots_mask_the_union_of_their_blocks_and_score_the_centres():
    from enhance.models.layers import noise2void_loss
    from enhance.tasks import blind_spot_batch

    noisy = _distinct((3, 48, 48, 1), seed=4)
    masked, target = blind_spot_batch(noisy, np.random.default_rng(5), fraction=0.01, struct=(1, 7))
    mask = target[..., 1]
    union = np.zeros(mask.shape, bool)
    for b, y, x in np.argwhere(mask == 1):
        union[b, y, max(x - 3, 0):x + 4] = True
    np.testing.assert_array_equal(np.any(masked != noisy, axis=-1), union)
    assert union.sum() > 3 * mask.sum()  # the blocks, not the blind spots alone
    # the loss reads the blind-spot pixels only, not the rest of the blocks
    rng = np.random.default_rng(6)
    prediction = rng.random(noisy.shape).astype(np.float32)
    loss = to_numpy(noise2void_loss(target, prediction))
    elsewhere = np.where((mask == 0)[..., None], rng.random(noisy.shape), prediction)
    np.testing.assert_array_equal(to_numpy(noise2void_loss(target, elsewhere.astype(np.float32))), loss)


def test_a_structured_blind_spot_is_checked():
    from enhance.errors import EnhanceError
    from enhance.tasks import blind_spot_batch

    noisy = np.zeros((1, 16, 16, 1), np.float32)
    for bad in ((2, 3), (3,), (9, 1), (1, 9), (0, 1), "ab"):
        with pytest.raises(EnhanceError, match="structured blind spot"):
            blind_spot_batch(noisy, np.random.default_rng(0), struct=bad)
