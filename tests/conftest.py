import os
import shutil
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _session_env(name, value):
    """Set the environment variable ``name`` for the session (subprocesses inherit it), then
    restore it."""
    previous = os.environ.get(name)
    os.environ[name] = value
    yield
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """One OpenVINO conversion cache for the session (enhance.runtime), not the user's; the
    command-line tests' subprocesses inherit it."""
    yield from _session_env("ENHANCE_CACHE_DIR", str(tmp_path_factory.mktemp("enhance-cache")))


@pytest.fixture(scope="session", autouse=True)
def _user_config(tmp_path_factory):
    """The user's configuration folder (where --anonymize keeps its default key,
    enhance.io.deid.default_key_file) is a temporary one, not the user's."""
    yield from _session_env("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def real_folder(tmp_path):
    """A small folder of real images in three formats: 16-bit PNG, 8-bit PNG in a subfolder, DICOM."""
    import cv2

    folder = tmp_path / "clean"
    (folder / "us").mkdir(parents=True)
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(folder / "t1.png"), t1[64:192, 64:192])
    echo = cv2.imread(str(SAMPLES / "echo_frame00.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(folder / "us" / "echo.png"), echo[40:136, 100:196])
    shutil.copy(SAMPLES / "ct_small.dcm", folder / "ct.dcm")
    return folder


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A tiny, untrained but deterministic enhancer (DnCNN, depth 3, width 8)."""
    import keras

    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model

    keras.utils.set_random_seed(3)
    config = make_config("dncnn", "gaussian", arch_params={"depth": 3, "width": 8})
    model = build_model(config)
    path = tmp_path_factory.mktemp("models") / "tiny-dncnn"
    save_model_dir(path, model, config, {"name": "tiny-dncnn"})
    return path
