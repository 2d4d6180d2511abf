"""The benchmark scripts' fixed plans are valid (they run on machines the tests never see)."""

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def gpu_train(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("gpu_train")
    yield module
    sys.modules.pop("gpu_train", None)


def test_gpu_training_plan_is_valid_and_its_device_command_fits(gpu_train):
    from enhance.training import TrainConfig

    assert len(gpu_train.DEVICE_COMMAND) <= 2000  # the device tool's limit on a command
    assert sum(share for _, share, _ in gpu_train.JOBS) == pytest.approx(1.0)
    for name, _, fields in gpu_train.JOBS:
        config = gpu_train._config(fields, steps=1000, val_every=100)
        assert isinstance(config, TrainConfig)
        config.check()
        assert f"--task {fields['task']}" in config.command(f"runs/{name}")
        smoke = gpu_train._config(fields, steps=10, **gpu_train.SMOKE)
        smoke.check()
