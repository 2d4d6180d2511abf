"""The speckle task's ``real-bmode`` jitter table against the real frames it was fitted to, and
the ``--jitter-table`` training option (issue 26, item 3a)."""

import sys

import numpy as np
import pytest

from enhance.errors import EnhanceError
from enhance.tasks import get_task, make_training_pair
from enhance.training import TrainConfig

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "benchmarks"))


def test_speckle_grain_measures_known_speckle():
    from ultrasound_fit import simulated

    fine, coarse = simulated(1, (1.0, 1.0)), simulated(4, (2.0, 3.0))
    # one look: the Rayleigh envelope's CV is 0.52 (homogeneous tiles pick the calmer ones)
    assert 0.40 < fine["cv"] < 0.56 and coarse["cv"] < 0.26
    # isotropic PSF: axial ~ lateral; an anisotropic one: lateral grain wider than axial
    assert abs(fine["axial"] - fine["lateral"]) < 0.15
    assert coarse["lateral"] > coarse["axial"] + 0.4 and coarse["axial"] > fine["axial"] + 0.5


def test_real_bmode_table_brackets_the_real_training_frames():
    """Each statistic is inverted with the others at the fit's reference values (as
    benchmarks/ultrasound_fit.py does): the table's ends must bracket every real band."""
    pytest.importorskip("pydicom")
    from ultrasound_fit import real_statistics, simulated

    table = get_task("speckle").jitter_table("real-bmode")
    looks = table["looks"][1]
    (ax_lo, ax_hi), (lat_lo, lat_hi) = table["psf_sigma"][1:]
    cv = (simulated(max(looks), (1.5, 2.0))["cv"], simulated(min(looks), (1.5, 2.0))["cv"])
    axial = (simulated(4, (ax_lo, 2.0))["axial"], simulated(4, (ax_hi, 2.0))["axial"])
    lateral = (simulated(4, (1.5, lat_lo))["lateral"], simulated(4, (1.5, lat_hi))["lateral"])
    real = real_statistics()
    for key, r in real.items():
        assert cv[0] <= r["cv"] <= cv[1], key
        assert axial[0] <= r["axial"] <= axial[1], key
        assert lateral[0] <= r["lateral"] <= lateral[1], key
    # what the fit was for: the spec jitter's coarsest grain is finer than the real echo grain
    spec_ax, spec_lat = (hi for _, hi in get_task("speckle").jitter["psf_sigma"][1:])
    spec_grain = simulated(4, (spec_ax, spec_lat))
    echo = [v for k, v in real.items() if k != "lymph node"]
    assert all(spec_grain["axial"] < r["axial"] and spec_grain["lateral"] < r["lateral"]
               for r in echo)


def test_jitter_table_draws_from_the_named_table():
    task = get_task("speckle")
    table = task.jitter_table("real-bmode")
    rng = np.random.default_rng(3)
    drawn = [task.sample_params(rng, table="real-bmode") for _ in range(200)]
    lat = [p["psf_sigma"][1] for p in drawn]
    assert min(lat) >= table["psf_sigma"][2][0] and max(lat) <= table["psf_sigma"][2][1]
    assert min(lat) > task.jitter["psf_sigma"][2][1]  # outside the spec jitter's range
    assert {p["looks"] for p in drawn} == set(table["looks"][1])
    # the default stays the task's own jitter, draw for draw
    a = task.sample_params(np.random.default_rng(5))
    b = task.sample_params(np.random.default_rng(5), table=None)
    assert a == b and a["psf_sigma"][1] <= task.jitter["psf_sigma"][2][1]
    x, y = make_training_pair(np.full((32, 32), 0.3, np.float32), np.random.default_rng(0),
                              "speckle", table="real-bmode")
    assert x.shape == y.shape == (32, 32) and not np.array_equal(x, y)


def test_jitter_table_config_is_checked_and_recorded(tmp_path):
    with pytest.raises(EnhanceError, match="no jitter table 'nope'.*real-bmode"):
        TrainConfig(task="speckle", jitter_table="nope")
    with pytest.raises(EnhanceError, match="no jitter table"):
        TrainConfig(task="gaussian", jitter_table="real-bmode")
    with pytest.raises(EnhanceError, match="jitter=True"):
        TrainConfig(task="speckle", jitter_table="real-bmode", jitter=False)
    config = TrainConfig(task="speckle", arch="dae", jitter_table="real-bmode")
    assert "--jitter-table real-bmode" in config.command(tmp_path)
    assert TrainConfig.from_dict(config.to_dict()) == config
    from enhance.training.records import task_params

    entry = task_params(config)
    assert entry["training_jitter"]["psf_sigma"] == list(
        get_task("speckle").jitter_table("real-bmode")["psf_sigma"])
    assert entry["jitter_table"] == "real-bmode"


def test_a_jitter_table_run_validates_on_the_tables_centre():
    from enhance.training.validation import validation_items

    task = get_task("speckle")
    centre = task.validation_params("real-bmode")
    assert centre["looks"] == 3 and centre["psf_sigma"] == pytest.approx((1.5, 2.9))
    assert centre["thermal"] == pytest.approx(0.01)
    assert task.validation_params() == {"looks": 2, "psf_sigma": (1.0, 1.5), "thermal": 0.02}
    images = [("a", np.full((40, 40), 0.4, np.float32))]
    name, table_items = validation_items(images, "speckle", table="real-bmode")
    spec_name, spec_items = validation_items(images, "speckle")
    assert (name, spec_name) == ("real-bmode", "speckle")
    x_table, x_spec = table_items[0][1], spec_items[0][1]
    assert not np.array_equal(x_table, x_spec)
    # coarser grain: neighbouring pixels correlate more along both axes
    def corr(x, axis):
        d = x - x.mean()
        return float((d * np.roll(d, 1, axis)).mean() / d.var())
    assert corr(x_table, 1) > corr(x_spec, 1) + 0.1
    assert task.describe("real-bmode")["validation_degradation"]["name"] == "real-bmode"


def test_target_realizations_is_the_degraded_images_mean():
    """``target_realizations`` K: the target is the mean of K more degradations (same
    parameters), so it follows the degraded image's brightness -- here a bright patch whose
    speckle is clipped at 1 and a near-black one lifted by the clipped thermal floor -- not the
    clean value, and it is far less noisy than the input."""
    params = {"looks": 2, "psf_sigma": (1.0, 1.5), "thermal": 0.02}
    for level in (0.9, 0.01):
        clean = np.full((96, 96), level, np.float32)
        x, clean_target = make_training_pair(clean, np.random.default_rng(1), "speckle",
                                             params=params)
        assert np.array_equal(clean_target, clean)
        x8, y8 = make_training_pair(clean, np.random.default_rng(1), "speckle", params=params,
                                    target_realizations=8)
        assert np.array_equal(x8, x)  # the input is drawn first, as without
        noisy_mean = np.mean([make_training_pair(clean, np.random.default_rng(s), "speckle",
                                                 params=params)[0].mean() for s in range(20)])
        assert abs(noisy_mean - level) > 0.03 * level  # clipping moves the degraded mean
        assert abs(y8.mean() - noisy_mean) < 0.01 * max(noisy_mean, 0.05)
        assert y8.std() < 0.5 * x8.std()
        again = make_training_pair(clean, np.random.default_rng(1), "speckle", params=params,
                                   target_realizations=8)[1]
        assert np.array_equal(again, y8)


def test_target_realizations_config_is_checked_recorded_and_resumable(tmp_path):
    for bad in (-1, 1.5):
        with pytest.raises(EnhanceError, match="target_realizations must be an integer"):
            TrainConfig(task="speckle", target_realizations=bad)
    with pytest.raises(EnhanceError, match="mode='supervised'"):
        TrainConfig(task="gaussian", arch="dae", mode="noise2void", target_realizations=4)
    config = TrainConfig(task="speckle", arch="dae", jitter_table="real-bmode",
                         target_realizations=8)
    assert "--target-realizations 8" in config.command(tmp_path)
    assert "--target-realizations" not in TrainConfig(task="speckle").command(tmp_path)
    entry = get_task("speckle").describe("real-bmode", target_realizations=8)
    assert entry["target"].startswith("the mean of 8 further")
    assert get_task("speckle").describe()["target"] == "the clean image"
    from enhance.training.records import check_resumable
    from enhance.training.validation import VALIDATION_REALIZATIONS, validation_items

    # a run saved before the field existed resumes under its default, not under another value
    saved = {k: v for k, v in TrainConfig(task="speckle").to_dict().items()
             if k != "target_realizations"}
    check_resumable(saved, TrainConfig(task="speckle"))
    with pytest.raises(EnhanceError, match="target_realizations"):
        check_resumable(saved, TrainConfig(task="speckle", target_realizations=2))
    images = [("a", np.full((40, 40), 0.95, np.float32))]
    _, items = validation_items(images, "speckle", target_realizations=8)
    _, plain = validation_items(images, "speckle")
    assert np.array_equal(items[0][1], plain[0][1]) and VALIDATION_REALIZATIONS >= 8
    assert items[0][2].mean() < 0.95 - 0.02 and np.array_equal(plain[0][2], images[0][1])


def test_broad_table_covers_the_spec_jitter_and_the_real_bmode_fit():
    task = get_task("speckle")
    broad = task.jitter_table("bmode-broad")
    for table in (task.jitter, task.jitter_table("real-bmode")):
        assert set(table["looks"][1]) <= set(broad["looks"][1])
        for axis in (1, 2):  # axial, lateral (low, high)
            assert broad["psf_sigma"][axis][0] <= table["psf_sigma"][axis][0]
            assert broad["psf_sigma"][axis][1] >= table["psf_sigma"][axis][1]
        assert broad["thermal"][1] <= table["thermal"][1] <= broad["thermal"][2]
    drawn = [task.sample_params(np.random.default_rng(s), table="bmode-broad") for s in range(300)]
    lateral = [p["psf_sigma"][1] for p in drawn]
    # both grains are drawn: finer than the real fit's and coarser than the spec jitter's
    assert min(lateral) < task.jitter_table("real-bmode")["psf_sigma"][2][0]
    assert max(lateral) > task.jitter["psf_sigma"][2][1]
