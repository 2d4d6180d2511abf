"""Issue 31: classical augmentation (the control), the four usefulness arms over seeds, their
intervals and paired differences, the card fields and the CLI options. Constructed inputs and
classifiers of a few steps only."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from enhance.errors import EnhanceError

T_975_4 = 2.7764451051977987  # Student t, 0.975 quantile, 4 degrees of freedom


def _images(n=6, size=24, seed=0):
    """Bright off-centre blobs on a dark background (asymmetric, so a flip shows)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(6, 12), rng.uniform(4, 9)
        out.append(0.9 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12.0) + 0.05)
    return np.stack(out).astype(np.float32)


# --- classical augmentation ---

def test_classical_augment_shape_range_determinism_and_change():
    from enhance.synth.classical import classical_augment

    x = _images()
    before = x.copy()
    a = classical_augment(x, seed=3)
    assert a.shape == x.shape and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(x, before)  # input not modified
    np.testing.assert_array_equal(a, classical_augment(x, seed=3))  # deterministic
    assert not np.array_equal(a, classical_augment(x, seed=4))
    # every image changes, and not by a negligible amount
    assert np.all(np.abs(a - x).mean(axis=(1, 2)) > 1e-3)
    assert classical_augment(x[0], seed=3).shape == x[0].shape  # one (H, W) image
    # the image keeps its content: still closer to its own source than to another image's
    own = np.abs(a - x).mean(axis=(1, 2))
    other = np.abs(a - np.roll(x, 1, axis=0)).mean(axis=(1, 2))
    assert np.mean(own < other) >= 0.5


def test_classical_augment_parts_do_what_they_say():
    from enhance.synth.classical import classical_augment

    x = _images()
    still = {"flip_probability": 0.0, "rotation_degrees": 0.0, "shift_fraction": 0.0,
             "elastic_rms_px": 0.0, "gain": (1.0, 1.0), "gamma": (1.0, 1.0)}
    np.testing.assert_allclose(classical_augment(x, seed=0, policy=still), x, atol=1e-6)
    flipped = classical_augment(x, seed=0, policy={**still, "flip_probability": 1.0})
    np.testing.assert_allclose(flipped, x[:, :, ::-1], atol=1e-6)
    dimmer = classical_augment(x, seed=0, policy={**still, "gain": (0.5, 0.5)})
    np.testing.assert_allclose(dimmer, 0.5 * x, atol=1e-6)
    for part in ({"rotation_degrees": 10.0}, {"shift_fraction": 1 / 8}, {"elastic_rms_px": 1.5}):
        moved = classical_augment(x, seed=0, policy={**still, **part})
        assert np.abs(moved - x).mean() > 1e-3, part
        # geometric only: the total brightness changes little (borders aside)
        assert abs(moved.mean() - x.mean()) < 0.02, part


def test_augment_batch_keeps_the_labels_and_refuses_a_mismatch():
    from enhance.errors import ShapeMismatch
    from enhance.synth.classical import augment_batch

    x, y = _images(), np.array([0, 1, 2, 0, 1, 2])
    ax, ay = augment_batch(x, y, seed=1)
    np.testing.assert_array_equal(ay, y)
    assert ax.shape == x.shape
    with pytest.raises(ShapeMismatch):
        augment_batch(x, y[:3], seed=1)


# --- statistics of the arms ---

def test_arm_statistics_means_t_intervals_and_paired_differences():
    from enhance.synth.usefulness import arm_statistics

    real = np.array([0.50, 0.60, 0.70, 0.55, 0.65])
    runs = {"real+classical": list(real + 0.10), "real": list(real),
            "real+synthetic": [0.6, 0.6, 0.6, 0.6, 0.6]}
    arms, diffs = arm_statistics(runs)
    assert list(arms) == ["real", "real+classical", "real+synthetic"]  # ARMS order
    sd = np.std(real, ddof=1)
    half = T_975_4 * sd / math.sqrt(5)
    assert arms["real"]["mean"] == pytest.approx(0.6)
    assert arms["real"]["ci95"] == pytest.approx([0.6 - half, 0.6 + half])
    assert arms["real"]["seeds"] == 5 and arms["real"]["values"] == pytest.approx(list(real))
    assert arms["real+synthetic"]["ci95"] == pytest.approx([0.6, 0.6])
    # paired: a constant per-seed gain has a zero-width interval although each arm varies
    d = diffs["real+classical - real"]
    assert d["mean"] == pytest.approx(0.10) and d["ci95"] == pytest.approx([0.10, 0.10])
    assert arms["real+classical"]["ci95"][1] - arms["real+classical"]["ci95"][0] > 0.1
    d = diffs["real+synthetic - real"]
    assert d["mean"] == pytest.approx(0.0)
    assert d["ci95"] == pytest.approx([-half, half])  # 0.6 - real: the same spread
    assert set(diffs) == {"real+classical - real", "real+synthetic - real",
                          "real+synthetic - real+classical"}
    with pytest.raises(EnhanceError, match="paired by seed"):
        arm_statistics({"real": [0.5, 0.6], "real+classical": [0.5]})


def test_usefulness_runs_every_arm_per_seed_with_a_fresh_synthetic_draw():
    """Four arms x 2 seeds of 2-step classifiers: the synthetic set is drawn once per seed, every
    arm has a value per seed, the real arm does not depend on the synthetic images, and the
    differences are those of the per-seed values."""
    from enhance.synth.usefulness import ARMS, usefulness

    x = _images(12, size=16)
    y = np.arange(12) % 2
    drawn = []

    def synthetic(s):
        drawn.append(s)
        return _images(8, size=16, seed=100 + s), np.arange(8) % 2

    out = usefulness(x[:8], y[:8], synthetic, x[8:], y[8:], 2, seeds=2, steps=2, seed=7)
    assert drawn == [7, 8]
    assert list(out["arms"]) == list(ARMS) and len(out["differences"]) == 6
    assert all(out["arms"][a]["seeds"] == 2 and len(out["runs"][a]) == 2 for a in ARMS)
    assert out["train_synthetic"] == 8 and out["test_real"] == 4 and out["steps"] == 2
    key = "real+classical+synthetic - real+classical"
    np.testing.assert_allclose(out["differences"][key]["values"],
                               np.subtract(out["runs"]["real+classical+synthetic"],
                                           out["runs"]["real+classical"]))
    again = usefulness(x[:8], y[:8], (x[:8], 1 - y[:8]), x[8:], y[8:], 2, seeds=2, steps=2,
                       seed=7, arms=("real",))
    assert again["runs"]["real"] == out["runs"]["real"]  # same seeds, same real arm
    assert again["synthetic_draws"] == "the same images for every seed"
    with pytest.raises(EnhanceError, match="unknown usefulness arm"):
        usefulness(x[:8], y[:8], synthetic, x[8:], y[8:], 2, arms=("real", "gan"))


# --- the card and the CLI ---

def test_cli_evaluate_records_the_four_arms_in_the_card(tmp_path):
    from enhance.cli.synth import synth
    from enhance.io import write_image
    from enhance.synth.training import train

    data = tmp_path / "data"
    for k, im in enumerate(_images(12, size=16)):
        write_image(data / ("a" if k % 2 else "b") / f"{k:02d}.png",
                    im if k % 2 else im[::-1].copy(), dtype=np.uint16)
    model = tmp_path / "gen"
    train(data, model, steps=2, checkpoint_every=2, sample_every=2, progress=False, size=16,
          width=4, latent_dim=8, embed_dim=4, max_width=16, batch_size=4)
    weights_before = (model / "generator.weights.h5").read_bytes()
    args = ["evaluate", str(model), "--real", str(data), "-n", "8", "--no-baselines",
            "--usefulness-seeds", "2", "--usefulness-steps", "2", "--out", str(tmp_path / "rep"),
            "--record"]
    r = CliRunner().invoke(synth, args)
    assert r.exit_code == 0, r.output
    assert "real+classical+synthetic - real+classical" in r.output
    card = json.loads((model / "card.json").read_text())
    use = card["evaluation"]["usefulness"]
    report = json.loads((tmp_path / "rep" / "report.json").read_text())["usefulness"]
    assert set(use["arms"]) == {"real", "real+classical", "real+synthetic",
                                "real+classical+synthetic"}
    for arm, stat in use["arms"].items():
        assert stat["seeds"] == 2 and len(stat["ci95"]) == 2
        assert stat["mean"] == pytest.approx(report["arms"][arm]["mean"], abs=1e-4)
        assert stat["ci95"][0] <= stat["mean"] <= stat["ci95"][1]
    assert use["differences"]["real+classical+synthetic - real+classical"]["seeds"] == 2
    assert use["steps"] == 2 and use["seeds"] == 2
    assert "--usefulness-seeds 2 --usefulness-steps 2" in card["evaluation"]["command"]
    assert (model / "generator.weights.h5").read_bytes() == weights_before
    from enhance.synth.modeldir import load_generator

    load_generator(model)  # the card's sha256 still matches the weights
    assert "| real+classical |" in (tmp_path / "rep" / "report.md").read_text()


def test_cli_refuses_fewer_than_two_usefulness_seeds(tmp_path):
    from enhance.cli.synth import synth

    r = CliRunner().invoke(synth, ["evaluate", str(tmp_path), "--real", str(tmp_path),
                                   "--usefulness-seeds", "1"])
    assert r.exit_code == 2 and "--usefulness-seeds" in r.output


# --- the shipped generator's card ---

SHIPPED = Path(__file__).resolve().parent.parent / "trained_weights" / "synth-mni-brain64"


def test_shipped_card_has_the_four_arms_over_five_seeds_as_its_report():
    card = json.loads((SHIPPED / "card.json").read_text())
    use = card["evaluation"]["usefulness"]
    report = json.loads((SHIPPED / "evaluation" / "report.json").read_text())["usefulness"]
    assert set(use["arms"]) == {"real", "real+classical", "real+synthetic",
                                "real+classical+synthetic"}  # the card's keys are sorted
    for arm, stat in use["arms"].items():
        assert stat["seeds"] >= 5 and len(stat["values"]) == stat["seeds"]
        assert stat["mean"] == pytest.approx(np.mean(report["runs"][arm]), abs=1e-4)
        lo, hi = stat["ci95"]
        half = (hi - lo) / 2
        from scipy import stats

        sd = np.std(report["runs"][arm], ddof=1)
        assert half == pytest.approx(stats.t.ppf(0.975, stat["seeds"] - 1) * sd
                                     / math.sqrt(stat["seeds"]), abs=2e-4)
    for pair, stat in use["differences"].items():
        a, b = pair.split(" - ")
        assert stat["mean"] == pytest.approx(use["arms"][a]["mean"] - use["arms"][b]["mean"],
                                             abs=2e-4)
    assert "real+classical+synthetic - real+classical" in use["differences"]
    assert card["evaluation"]["command"].startswith("enhance synth evaluate synth-mni-brain64 ")
