"""Train a Gaussian and a low-light conditioned U-Net on a lent GPU machine, inside a time budget.

The 2-core CPU here trains the 32-wide conditioned U-Net at about 2 steps/s (20000 steps: 2.6 h),
which leaves low light short of its quality bar; a lent GPU (JAX, no TensorFlow, no package registry)
can take 64-wide U-Nets much further in minutes. Two halves:

``python benchmarks/gpu_train.py prepare`` (here, once)
    writes ``.gpu/medical-v2.npz`` (the training recipe's pixels, with their sha256, so the
    machine needs neither pydicom, dipy nor nilearn) and ``.gpu/whl/`` (the keras wheel and the
    two of its dependencies the GPU image lacks), and prints the device command.

``python benchmarks/gpu_train.py train --budget-s 360 --out DIR`` (there, KERAS_BACKEND=jax)
    times a few steps of each job, sizes each job's step count to its share of the budget
    (rounded to hundreds; the cosine schedule needs the count up front), trains into
    ``runs/NAME`` with ``enhance.training.train`` and copies each best model directory
    (config.json, model.weights.h5, card.json, history.csv) to ``DIR/NAME/``. Each card's
    command is an ordinary ``enhance train`` line: it reproduces the model on any backend
    (on this CPU in hours).

Bring the models back, then score them here beside the baselines and the shipped ones:
``python benchmarks/validation_table.py`` after copying them into ``trained_weights/``.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from _common import ROOT

GPU_DIR = ROOT / ".gpu"
RECIPE = "medical-v2"
SNAPSHOT = GPU_DIR / f"{RECIPE}.npz"
WHEELS = ("keras==3.15.1", "namex", "optree")

#: (name, share of the budget, TrainConfig fields). What did best on the CPU for both tasks,
#: the residual U-Net told the noise level (a noise-level map as a second channel) with
#: relative_mse on medical-v2 (32 wide, 2 levels, 10000-20000 steps on the CPU: the shipped
#: dae-gaussian-sigma-20k and dae-lowlight-sigma), made 64 wide with 3 levels. Low light gets
#: the larger share: it is the task where VST+BM3D still leads (issue 16).
#: Larger batches of larger patches than the CPU runs, float32 (the GPU's TF32 convolutions).
_CONDITIONED_UNET = {"residual": True, "noise_map": True, "width": 64, "levels": 3}
JOBS = (
    ("unet64-gaussian-sigma", 0.3, {"arch": "dae", "task": "gaussian", "loss": "relative_mse",
                                    "arch_params": _CONDITIONED_UNET}),
    ("unet64-lowlight-sigma", 0.7, {"arch": "dae", "task": "lowlight", "loss": "relative_mse",
                                    "arch_params": _CONDITIONED_UNET}),
)
COMMON = {
    "batch": 64,
    "patch": 64,
    "seed": 1,
    "precision": "float32",
    "log_every": 10,
}

DEVICE_COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "
    ".gpu/whl/*.whl && export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 && "
    "nvidia-smi -L; python3 benchmarks/backend_check.py --steps 300 && "
    "python3 benchmarks/gpu_train.py train --budget-s 330 --out $OUT"
)


def prepare():
    import subprocess

    from enhance.datasets import save_recipe_snapshot

    GPU_DIR.mkdir(exist_ok=True)
    print("snapshot", SNAPSHOT, save_recipe_snapshot(SNAPSHOT, RECIPE))
    platforms = []
    for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                "manylinux2014_x86_64"):
        platforms += ["--platform", tag]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms,
                    "-d", str(GPU_DIR / "whl"), *WHEELS], check=True)
    print("wheels", sorted(p.name for p in (GPU_DIR / "whl").glob("*.whl")))
    print("device command (carry .gpu):\n" + DEVICE_COMMAND)


#: ``train --smoke``: the same path with tiny networks, to check the script on a CPU.
SMOKE = {"batch": 4, "patch": 32}
SMOKE_ARCH_PARAMS = {"dncnn": {"depth": 3, "width": 8}, "dae": {"residual": True, "width": 8, "levels": 2}}


def smoke_fields(fields):
    """``fields`` with the tiny network and batch of ``train --smoke`` (a noise map kept)."""
    tiny = dict(SMOKE_ARCH_PARAMS[fields["arch"]])
    if fields.get("arch_params", {}).get("noise_map"):
        tiny["noise_map"] = True
    return {**fields, **SMOKE, "arch_params": tiny}


def _config(fields, **changes):
    from enhance.training import TrainConfig

    return TrainConfig(**{**COMMON, **fields, **changes})


def _steps_per_second(fields, probe_steps):
    """Steps per second of a job after its compilation (the first logged rows are dropped)."""
    import tempfile

    from enhance.training import train

    probe_steps = max(probe_steps, 3 * COMMON["log_every"])  # rows 1 (compiling) and 2, 3, ...
    with tempfile.TemporaryDirectory() as scratch:
        result = train(_config(fields, steps=probe_steps, val_every=10**9), data=str(SNAPSHOT),
                       out_dir=Path(scratch) / "probe", progress=False)
    rows = [r for r in result.history if r.get("wall_s") not in (None, "")]
    first, last = rows[1], rows[-1]
    return (int(last["step"]) - int(first["step"])) / (float(last["wall_s"]) - float(first["wall_s"]))


def train_jobs(budget_s, out, probe_steps, smoke=False):
    import keras

    from enhance.training import train

    print(f"keras {keras.__version__}, backend {keras.config.backend()}", flush=True)
    plans = []
    for name, share, fields in JOBS:
        fields = smoke_fields(fields) if smoke else fields
        speed = _steps_per_second(fields, probe_steps)
        steps = max(100, int(share * budget_s * speed * 0.85) // 100 * 100)
        plans.append((name, fields, steps))
        print(f"{name}: {speed:.1f} steps/s after compilation -> {steps} steps", flush=True)
    summary = {}
    for name, fields, steps in plans:
        start = time.perf_counter()
        config = _config(fields, steps=steps, val_every=max(100, steps // 8 // 100 * 100))
        result = train(config, data=str(SNAPSHOT), out_dir=Path("runs") / name, resume=False,
                       progress=False)
        summary[name] = {"steps": steps, "best_val_psnr": result.best_psnr,
                         "seconds": round(time.perf_counter() - start, 1)}
        print(name, json.dumps(summary[name]), flush=True)
        target = Path(out) / name
        target.mkdir(parents=True, exist_ok=True)
        for file in ("config.json", "model.weights.h5", "card.json"):
            shutil.copy(result.model_dir / file, target / file)
        shutil.copy(Path("runs") / name / "history.csv", target / "history.csv")
    print(json.dumps(summary, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("prepare")
    run = sub.add_parser("train")
    run.add_argument("--budget-s", type=float, default=330)
    run.add_argument("--out", required=True)
    run.add_argument("--probe-steps", type=int, default=40)
    run.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.what == "prepare":
        prepare()
    else:
        train_jobs(args.budget_s, args.out, args.probe_steps, args.smoke)


if __name__ == "__main__":
    main()
