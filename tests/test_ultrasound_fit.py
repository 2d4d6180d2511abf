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
