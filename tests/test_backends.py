"""The same models and training steps on every installed Keras backend (subprocesses).

TensorFlow is the default backend; JAX is installed by the test extra, so CI runs these too.
PyTorch runs when installed (not in CI: on PyPI a plain ``torch`` is a CUDA build of several GB;
on this project's machines ``pip install torch==2.13.0`` takes a CPU build from the local disk).
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from enhance.shipped import DEFAULT_MODELS, read_model_info, shipped_model_dirs

SCRIPTS = Path(__file__).resolve().parent / "backend_scripts"
BACKENDS = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]


def run_script(backend, script, *args):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_gans_train_on_the_backend(backend):
    report = json.loads(run_script(backend, "gan_steps.py").strip().splitlines()[-1])
    assert report["backend"] == backend
    assert report["pix2pix_logs"] == ["adversarial", "d_loss", "l1", "loss"]
    assert report["pix2pix_finite"] and report["synth_finite"]
    assert report["pix2pix_g_changed"] and report["pix2pix_d_changed"]
    assert report["pix2pix_seed_advances"]  # label-smoothing draws are not frozen constants
    first, last = report["pix2pix_l1_first_last"]
    assert last < first  # the generator learns: 12 steps lower its L1 error
    assert report["pix2pix_iterations"] == [12, 12]
    assert report["synth_logs"] == ["d_fake", "d_loss", "d_real", "g_loss"]
    assert min(report["synth_changed_fraction"]) >= 0.5
    assert report["synth_iterations"] == [2, 2]


#: The shipped enhancers: three architectures x three tasks (and any model shipped later).
ENHANCERS = [p.name for p in shipped_model_dirs() if read_model_info(p)["task"] in DEFAULT_MODELS]
#: Backends agree to float32 rounding (measured: at most 1.4e-6 over the nine models); 1e-5 is
#: two thirds of a 16-bit level (1 / 65535), the README's "within 1e-5".
ATOL = 1e-5


def test_every_shipped_enhancer_is_compared():
    expected = {f"{arch}-{task}" for arch in ("dae", "dncnn", "gan")
                for task in ("gaussian", "lowlight", "speckle")}
    assert expected <= set(ENHANCERS)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="only one Keras backend installed")
def test_shipped_models_give_the_same_output_on_every_backend(tmp_path):
    outputs = {}
    for backend in BACKENDS:
        run_script(backend, "predict_shipped.py", tmp_path / f"{backend}.npz", *ENHANCERS)
        outputs[backend] = np.load(tmp_path / f"{backend}.npz")
    reference = outputs["tensorflow"]
    for backend, result in outputs.items():
        for name in ENHANCERS:
            assert result[name].shape == (64, 80)
            np.testing.assert_allclose(result[name], reference[name], rtol=0, atol=ATOL,
                                       err_msg=f"{name} on {backend}")
