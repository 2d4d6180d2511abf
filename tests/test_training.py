"""Training: loss goes down, model directory and card, resume, determinism, tasks, Noise2Void."""

import csv
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from enhance.tasks import degrade  # noqa: E402
from enhance.errors import EnhanceError  # noqa: E402
from enhance.modeldir import load_model_dir  # noqa: E402
from enhance.tasks import TASKS, make_training_pair, prepare_input, sample_params  # noqa: E402
from enhance.training import TrainConfig, train  # noqa: E402
from enhance.training.data import RELATIVE_MSE_FLOOR, training_batch, relative_mse_weights  # noqa: E402


def _smooth_images(count, size, seed=0):
    gen = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    images = []
    for _ in range(count):
        wave = np.sin(2 * np.pi * (gen.uniform(1, 3) * xx + gen.uniform(1, 3) * yy))
        images.append(
            np.clip(0.5 + 0.3 * wave * (xx > gen.uniform(0.2, 0.8)), 0, 1).astype(np.float32)
        )
    return images


DATA = {"train": _smooth_images(4, 64), "validation": [("val-0", _smooth_images(1, 40, seed=9)[0])]}


def tiny_config(**changes):
    base = dict(
        arch="dncnn",
        arch_params={"depth": 3, "width": 8},
        steps=20,
        batch=8,
        patch=24,
        val_every=10,
        log_every=5,
        seed=5,
    )
    return TrainConfig(**{**base, **changes})


def history_steps(out_dir):
    with open(out_dir / "history.csv", newline="") as stream:
        return [int(row["step"]) for row in csv.DictReader(stream)]


def test_twenty_steps_lower_the_loss_and_write_a_loadable_model(tmp_path):
    result = train(tiny_config(), data=DATA, out_dir=tmp_path, progress=False)
    losses = [float(row["loss"]) for row in result.history]
    assert losses[-1] < losses[0]
    assert result.steps_done == 20 and history_steps(tmp_path) == [5, 10, 15, 20]
    model = load_model_dir(result.model_dir)
    card = model.card
    assert card["seed"] == 5 and card["steps"] == 20 and card["arch"] == "dncnn"
    assert card["command"].startswith(
        "enhance train --arch dncnn --task gaussian --steps 20 --seed 5 --out "
    )
    assert card["task"]["training_jitter"]["sigma"][0] == "uniform"
    results = card["validation"]["results"]["model"]
    assert card["validation"]["degradation"] == "gaussian25" and card["validation"]["images"] == [
        "val-0"
    ]
    assert np.isfinite(results["psnr"]) and 0 < results["ssim"] <= 1
    assert results["psnr"] == pytest.approx(result.best_psnr)
    assert card["wall_time_s"] > 0 and "training_data" in card


class _Killed(Exception):
    pass


def _kill_at(step_to_kill):
    def progress(step, total, logs):
        if step == step_to_kill:
            raise _Killed

    return progress


def test_resume_continues_from_the_checkpoint_and_matches_an_uninterrupted_run(tmp_path):
    config = tiny_config()
    with pytest.raises(_Killed):
        train(config, data=DATA, out_dir=tmp_path / "a", progress=_kill_at(13))
    assert history_steps(tmp_path / "a") == [5, 10]  # row 15 never written; state at step 10
    resumed = train(config, data=DATA, out_dir=tmp_path / "a", progress=False)
    steps = history_steps(tmp_path / "a")
    assert steps == [5, 10, 15, 20] and len(set(steps)) == len(steps)
    assert resumed.steps_done == 20
    straight = train(config, data=DATA, out_dir=tmp_path / "b", progress=False)
    a = load_model_dir(resumed.model_dir).keras_model.get_weights()
    b = load_model_dir(straight.model_dir).keras_model.get_weights()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-6)
    again = train(config, data=DATA, out_dir=tmp_path / "a", progress=False)
    assert again.steps_done == 20 and history_steps(tmp_path / "a") == steps


def test_same_seed_same_weights_and_another_seed_differs(tmp_path):
    weights = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        result = train(
            tiny_config(steps=6, val_every=6, seed=seed),
            data=DATA,
            out_dir=tmp_path / name,
            progress=False,
        )
        weights.append(load_model_dir(result.model_dir).keras_model.get_weights())
    assert all(np.array_equal(x, y) for x, y in zip(weights[0], weights[1]))
    assert not all(np.array_equal(x, y) for x, y in zip(weights[0], weights[2]))


def test_data_pipeline_is_deterministic():
    from enhance.datasets import PatchSampler

    batches = []
    for _ in range(2):
        gen = np.random.default_rng(11)
        sampler = PatchSampler(DATA["train"], 24 + 16, gen)
        batches.append(training_batch(sampler, gen, tiny_config(task="speckle")))
    np.testing.assert_array_equal(batches[0][0], batches[1][0])
    assert batches[0][0].shape == (8, 24, 24, 1) and batches[0][1].shape == (8, 24, 24, 1)


def test_resuming_with_more_steps_warns_that_the_schedule_restarts(tmp_path):
    train(tiny_config(steps=5, val_every=5), data=DATA, out_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match="steps changed from 5 to 6.*warm restart"):
        result = train(tiny_config(steps=6, val_every=5), data=DATA, out_dir=tmp_path, progress=False)
    assert result.steps_done == 6


def test_resume_refuses_a_different_configuration(tmp_path):
    train(tiny_config(steps=5, val_every=5), data=DATA, out_dir=tmp_path, progress=False)
    with pytest.raises(EnhanceError, match="different configuration"):
        train(
            tiny_config(steps=5, val_every=5, lr=0.01), data=DATA, out_dir=tmp_path, progress=False
        )


def test_noise2void_trains_without_clean_targets(tmp_path):
    config = tiny_config(mode="noise2void", steps=4, val_every=4, n2v_fraction=0.05)
    result = train(config, data=DATA, out_dir=tmp_path, progress=False)
    assert np.isfinite(float(result.history[-1]["loss"]))
    x, y = training_batch(
        __import__("enhance.datasets").datasets.PatchSampler(
            DATA["train"], 24, np.random.default_rng(0)
        ),
        np.random.default_rng(1),
        config,
    )
    assert y.shape[-1] == 2 and 0 < y[..., 1].mean() < 0.2


def test_invalid_configurations_raise():
    with pytest.raises(EnhanceError, match="multiple"):
        tiny_config(arch="dae", arch_params={"levels": 2}, patch=30).check()
    with pytest.raises(EnhanceError):
        tiny_config(mode="noise2void", arch="gan", arch_params={}).check()
    with pytest.raises(EnhanceError):
        tiny_config(task="deblur").check()


def test_relative_mse_weights_equalise_noise_levels():
    clean = np.full((3, 8, 8, 1), 0.5, np.float32)
    noise = np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    sigmas = np.array([10, 20, 40]) / 255
    noisy = clean + sigmas[:, None, None, None] * noise
    weights = relative_mse_weights(noisy, clean)
    assert weights.shape == (3, 1, 1)
    assert np.isclose(weights.mean(), 1.0)
    assert weights[0] > weights[1] > weights[2]
    power = np.mean((noisy - clean) ** 2, axis=(1, 2, 3)) + RELATIVE_MSE_FLOOR
    assert np.allclose(weights.ravel() * power, (weights.ravel() * power)[0], rtol=1e-5)
    # a noise-free patch weighs as if its noise power were the floor, not infinitely
    capped = relative_mse_weights(np.concatenate([clean[:1], noisy[2:]]), clean[:2]).ravel()
    assert np.isfinite(capped).all()
    assert np.isclose(capped[0] / capped[1], power[2] / RELATIVE_MSE_FLOOR, rtol=1e-5)


def test_relative_mse_trains_and_is_refused_where_it_has_no_meaning(tmp_path):
    result = train(tiny_config(loss="relative_mse", steps=10), data=DATA, out_dir=tmp_path / "run")
    assert np.isfinite(float(result.history[-1]["loss"]))
    assert "--loss relative_mse" in load_model_dir(tmp_path / "run" / "model").card["command"]
    with pytest.raises(EnhanceError, match="relative_mse"):
        tiny_config(arch="gan", arch_params={}, loss="relative_mse").check()
    with pytest.raises(EnhanceError, match="relative_mse"):
        tiny_config(mode="noise2void", loss="relative_mse").check()


def test_command_lists_non_default_settings():
    command = TrainConfig(arch="dae", task="speckle", steps=300, seed=2, batch=16).command("runs/x")
    assert (
        command
        == "enhance train --arch dae --task speckle --steps 300 --seed 2 --out runs/x --batch 16"
    )


@pytest.mark.parametrize("task", TASKS)
def test_training_pairs_use_the_spec_degradations_exactly(task):
    clean = _smooth_images(1, 32)[0]
    params = sample_params(task, np.random.default_rng(0), jitter=False)
    model_input, target = make_training_pair(clean, np.random.default_rng(4), task, params=params)
    noisy = degrade(clean, {"gaussian": "gaussian25"}.get(task, task), seed=4)
    np.testing.assert_array_equal(
        model_input, prepare_input(noisy, task, exposure=params.get("exposure"))
    )
    np.testing.assert_array_equal(target, clean)


def test_jittered_parameters_stay_in_their_ranges():
    gen = np.random.default_rng(0)
    lows = [sample_params("lowlight", gen) for _ in range(200)]
    assert all(0.05 <= p["exposure"] <= 0.3 and 300 <= p["photons"] <= 5000 for p in lows)
    specks = [sample_params("speckle", gen) for _ in range(200)]
    assert {p["looks"] for p in specks} == {1, 2, 3, 4}
    assert max(sample_params("gaussian", gen)["sigma"] for _ in range(200)) <= 55 / 255


def test_a_recipe_snapshot_trains_like_the_recipe_and_the_card_names_the_recipe(tmp_path, monkeypatch):
    from enhance import datasets

    recipe = {**DATA, "name": "medical-v1", "provenance": [{"source": "synthetic test images"}]}
    monkeypatch.setattr(datasets, "load_recipe", lambda name="medical-v1": recipe)
    snapshot = tmp_path / "medical-v1.npz"
    datasets.save_recipe_snapshot(snapshot)
    from_snapshot = train(tiny_config(), data=str(snapshot), out_dir=tmp_path / "a", progress=False)
    from_recipe = train(tiny_config(), data="medical-v1", out_dir=tmp_path / "b", progress=False)
    card = load_model_dir(from_snapshot.model_dir).card
    assert "--data" not in card["command"]
    assert card["training_data"]["recipe"] == "medical-v1"
    assert len(card["training_data"]["read_from_snapshot_sha256"]) == 64
    assert "read_from_snapshot_sha256" not in load_model_dir(from_recipe.model_dir).card["training_data"]
    assert from_snapshot.best_psnr == from_recipe.best_psnr


def test_a_config_is_checked_when_made_and_unknown_keys_are_refused():
    with pytest.raises(EnhanceError, match="multiple"):
        TrainConfig(arch="dae", arch_params={"levels": 2}, patch=30)
    values = tiny_config().to_dict()
    assert TrainConfig.from_dict(values) == tiny_config()
    with pytest.raises(EnhanceError, match="unknown training options"):
        TrainConfig.from_dict({**values, "learning_rate_typo": 0.1})


def test_a_structured_blind_spot_is_a_checked_training_option(tmp_path):
    from enhance.training.records import check_resumable

    config = tiny_config(mode="noise2void", steps=4, val_every=4, n2v_struct="3x5", augment=False)
    assert config.n2v_block == (3, 5) and tiny_config().n2v_block is None
    sampler = __import__("enhance.datasets").datasets.PatchSampler(
        DATA["train"], 24, np.random.default_rng(0), augment=False
    )
    x, y = training_batch(sampler, np.random.default_rng(1), config)
    changed = (x != y[..., :1]).sum()
    assert changed > 5 * y[..., 1].sum()  # blocks of 15 pixels around each blind spot (some cut)
    result = train(config, data=DATA, out_dir=tmp_path, progress=False)
    assert np.isfinite(float(result.history[-1]["loss"]))
    card = json.loads((result.model_dir / "card.json").read_text())
    assert card["train_config"]["n2v_struct"] == "3x5"
    assert TrainConfig.from_dict(card["train_config"]) == config
    with pytest.raises(EnhanceError, match="different configuration.*n2v_struct"):
        train(tiny_config(mode="noise2void", steps=4, val_every=4, n2v_struct="3x3", augment=False),
              data=DATA, out_dir=tmp_path, progress=False)
    # a run saved before the option existed resumes under the default
    saved = {k: v for k, v in tiny_config().to_dict().items() if k != "n2v_struct"}
    check_resumable(saved, tiny_config())
    with pytest.raises(EnhanceError, match="different configuration"):
        check_resumable(saved, tiny_config(mode="noise2void", n2v_struct="3x3"))


@pytest.mark.parametrize("changes, match", [
    (dict(mode="noise2void", n2v_struct="4x5", augment=False), "odd positive"),
    (dict(mode="noise2void", n2v_struct="five", augment=False), "odd positive"),
    (dict(mode="noise2void", n2v_struct="3x5"), "not square.*augment false"),
    (dict(mode="noise2void", n2v_struct="13x13"), "less than half the patch 24"),
    (dict(n2v_struct="3x3"), "mode='noise2void'"),
])
def test_a_bad_structured_blind_spot_is_refused(changes, match):
    with pytest.raises(EnhanceError, match=match):
        tiny_config(**changes)


def test_init_weights_starts_from_a_model_directory_and_refuses_another_network(tmp_path):
    from enhance.errors import ModelError
    from enhance.training.loop import initial_weights
    from enhance.training.networks import build_trainer

    first = train(tiny_config(steps=10), data=DATA, out_dir=tmp_path / "a", progress=False)
    source = load_model_dir(first.model_dir)
    config = tiny_config(seed=6, init_weights=str(first.model_dir))
    _, network, _ = build_trainer(config)
    assert not all(np.array_equal(a, b) for a, b in zip(network.get_weights(), source.network.get_weights()))
    entry = initial_weights(network, config)
    assert all(np.array_equal(a, b) for a, b in zip(network.get_weights(), source.network.get_weights()))
    assert entry == {"path": str(first.model_dir), "sha256": source.card["weights_sha256"]}
    # a fine-tuning run (a Noise2Void one, from a supervised model) records where it started
    tuned = train(tiny_config(seed=6, steps=4, val_every=4, mode="noise2void",
                              init_weights=str(first.model_dir)),
                  data=DATA, out_dir=tmp_path / "b", progress=False)
    card = load_model_dir(tuned.model_dir).card
    assert card["init_weights"]["sha256"] == source.card["weights_sha256"]
    assert "--init-weights" in card["command"]
    with pytest.raises(ModelError, match="arch_params differ"):
        initial_weights(build_trainer(tiny_config(arch_params={"depth": 4, "width": 8}))[1],
                        tiny_config(arch_params={"depth": 4, "width": 8},
                                    init_weights=str(first.model_dir)))
    with pytest.raises(ModelError, match="not a model directory"):
        train(tiny_config(init_weights=str(tmp_path / "nowhere")), data=DATA,
              out_dir=tmp_path / "c", progress=False)
    with pytest.raises(EnhanceError, match="not the gan"):
        TrainConfig(arch="gan", init_weights=str(first.model_dir))
