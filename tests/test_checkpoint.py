"""The checkpoint folder both trainers share: round trip, a kill mid-swap, refusals."""

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from enhance.errors import EnhanceError  # noqa: E402
from enhance.training.checkpoint import Checkpoint  # noqa: E402


def _trained(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = np.random.default_rng(seed).random((4, 3), dtype=np.float32)
    model.train_on_batch(x, x[:, :2])
    return model


def _parts(model, seed_generator=None):
    return {"networks": {"net": model}, "optimizers": [(model.optimizer, model.trainable_variables)],
            "seed_generator": seed_generator}


def test_round_trip_restores_weights_optimizer_rng_and_seed_generator(tmp_path):
    source, seeds = _trained(0), keras.random.SeedGenerator(3)
    keras.random.normal((2,), seed=seeds)  # advance the state
    rng = np.random.default_rng(5)
    rng.random(7)
    Checkpoint(tmp_path / "state").save(rng=rng, state={"step": 4, "note": "x"},
                                        **_parts(source, seeds))

    target, other_seeds, other_rng = _trained(1), keras.random.SeedGenerator(9), np.random.default_rng()
    checkpoint = Checkpoint(tmp_path / "state")
    assert checkpoint.exists()
    state = checkpoint.restore(rng=other_rng, **_parts(target, other_seeds))
    assert state["step"] == 4 and state["note"] == "x"
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(source.optimizer.variables, target.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(seeds.state),
                                  keras.ops.convert_to_numpy(other_seeds.state))
    assert other_rng.random() == rng.random()
    assert sorted(os.listdir(tmp_path)) == ["state"]  # no staging or previous folder is left


def test_a_kill_between_the_two_renames_leaves_the_previous_checkpoint(tmp_path):
    model = _trained(0)
    checkpoint = Checkpoint(tmp_path / "state")
    checkpoint.save(rng=np.random.default_rng(0), state={"step": 1}, **_parts(model))
    os.replace(checkpoint.path, checkpoint.previous)  # the old one moved aside ...
    checkpoint.staging.mkdir()  # ... and a half-written new one not yet in place
    assert checkpoint.exists() and checkpoint.read_state()["step"] == 1
    checkpoint.save(rng=np.random.default_rng(0), state={"step": 2}, **_parts(model))
    assert checkpoint.read_state()["step"] == 2
    assert sorted(os.listdir(tmp_path)) == ["state"]
    checkpoint.remove()
    assert not checkpoint.exists() and os.listdir(tmp_path) == []


def test_a_checkpoint_of_another_model_or_format_is_refused(tmp_path):
    checkpoint = Checkpoint(tmp_path / "state")
    checkpoint.save(rng=np.random.default_rng(0), state={"step": 1}, **_parts(_trained(0)))
    wider = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    wider.compile(optimizer="adam", loss="mse")
    with pytest.raises(EnhanceError, match="does not fit the model"):
        checkpoint.restore(rng=np.random.default_rng(), **_parts(wider))
    (checkpoint.path / "checkpoint.npz").unlink()
    with pytest.raises(EnhanceError, match="no checkpoint.npz"):
        checkpoint.restore(rng=np.random.default_rng(), **_parts(_trained(0)))
