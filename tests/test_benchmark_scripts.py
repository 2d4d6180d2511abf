"""The benchmark scripts' fixed plans are valid (they run on machines the tests never see)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _import_script(name, monkeypatch):
    """Load ``benchmarks/NAME.py`` as a module without registering it in ``sys.modules``."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import _common
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def gpu_train(monkeypatch):
    return _import_script("gpu_train", monkeypatch)


def test_gpu_training_plan_is_valid_and_its_device_command_fits(gpu_train):
    from enhance.training import TrainConfig

    assert len(gpu_train.DEVICE_COMMAND) <= 2000  # the device tool's limit on a command
    assert sum(share for _, share, _ in gpu_train.JOBS) == pytest.approx(1.0)
    for name, _, fields in gpu_train.JOBS:
        config = gpu_train._config(fields, steps=1000, val_every=100)
        assert isinstance(config, TrainConfig)
        config.check()
        assert f"--task {fields['task']}" in config.command(f"runs/{name}")
        smoke = gpu_train._config(gpu_train.smoke_fields(fields), steps=10)
        smoke.check()
        # the smoke run checks the same inputs: a conditioned job's tiny twin is conditioned
        assert bool(smoke.arch_params.get("noise_map")) == bool(fields["arch_params"].get("noise_map"))
    assert all(fields["arch_params"].get("noise_map") for _, _, fields in gpu_train.JOBS)


@pytest.fixture
def reproduce_shipped(monkeypatch):
    return _import_script("reproduce_shipped", monkeypatch)


def test_every_shipped_denoiser_command_can_be_rerun_into_another_folder(reproduce_shipped):
    import json

    from enhance.shipped import read_model_info, shipped_model_dirs

    denoisers = [p for p in shipped_model_dirs() if read_model_info(p)["task"] in ("gaussian", "lowlight", "speckle")]
    assert len(denoisers) >= 9
    for path in denoisers:
        card = json.loads((path / "card.json").read_text())
        args = reproduce_shipped.retrain_command(card["command"], "/elsewhere/x")
        assert args[args.index("--out") + 1] == "/elsewhere/x"
        assert args[3:5] == ["train", "--arch"] and args[-1] == "-q"
        # train_all.sh's layout; a derived model (same weights, another use) has its source's run
        trained = card.get("derived_from", {}).get("name", path.name)
        assert f"--out runs/{trained} " in card["command"] + " "
    with pytest.raises(SystemExit):
        reproduce_shipped.retrain_command("enhance synth train DATA --out x", "/y")


def test_ultrasound_strength_is_the_strongest_below_no_curve_on_any_frame(monkeypatch, capsys):
    """benchmarks/ultrasound_real.py's choice of the speckle task's default strength: the
    strongest strength with a positive margin that no classical curve beats on any frame."""
    script = _import_script("ultrasound_real", monkeypatch)

    def point(gain, edge):
        return {"enl_gain": gain, "edge": edge, "mean_ratio": 1.0, "ratio_score": 30.0}

    curve = {("bilateral", "a"): point(1.5, 0.80), ("bilateral", "b"): point(2.0, 0.60),
             ("nlm", "a"): point(1.6, 0.78), ("nlm", "b"): point(2.2, 0.55)}

    def frame(name, at_075):
        return {"name": name, "classical": curve,
                "strengths": {0.25: point(1.2, 0.99), 0.5: point(1.5, 0.90),
                              0.75: point(2.0, at_075), 1.0: point(2.0, 0.50)}}

    assert script.strength_table([frame("f1", 0.70), frame("f2", 0.70)]) == 0.75
    # one frame below one curve at 0.75: the choice falls back to 0.5
    assert script.strength_table([frame("f1", 0.70), frame("f2", 0.55)]) == 0.5
    # a near-identity model (no suppression) has no positive margin: no strength is chosen
    identity = {"name": "f", "classical": curve,
                "strengths": {s: point(1.0, 1.0) for s in script.STRENGTHS}}
    assert script.strength_table([identity]) is None
    assert "below no classical curve" in capsys.readouterr().out
