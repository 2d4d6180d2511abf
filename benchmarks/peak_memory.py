"""Peak resident memory of `enhance run` on one large 16-bit image.

    python benchmarks/peak_memory.py [--size 8192] [--task lowlight] [--precision bfloat16]

Writes a SIZE x SIZE 16-bit PNG (a real image upsampled, with noise: Gaussian sigma 25/255, or
with ``--task lowlight`` the spec's lowlight preset, the exposure 0.1 then told), runs the task's
default model on it through enhance.pipeline.enhance_folder in a child process (``--runtime``:
the runtime, default ``auto``; ``--precision``), and prints the child's peak RSS beside the peak RSS of a child that only
imports the stack and loads the model (the baseline; on OpenVINO a first load converts the model
into the user's cache).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, real_images

CHILD = """
import sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
from enhance.errors import ModelError
from enhance.runtime import load_enhancer
from enhance.shipped import resolve_model
try:
    source = resolve_model(None, task={task!r})
    model = load_enhancer(source, runtime={runtime!r})
except ModelError:  # no shipped weights: a random network of the default's kind, on Keras
    from _common import load_default_model
    source, (model, origin) = None, load_default_model()
print("runtime", model.runtime)
if {run}:
    from enhance.pipeline import enhance_folder
    start = time.perf_counter()
    if source is None:
        from enhance.io import read_image, write_image
        from enhance.predict import enhance_image
        image = read_image({src!r})
        write_image({out!r} + "/big.png", enhance_image(model, image.pixels), like=image)
    else:
        result = enhance_folder({src!r}, {out!r}, model=source, runtime={runtime!r},
                                precision={precision!r}, **{told!r})
        assert result.ok, result.summary()
    print("seconds", time.perf_counter() - start)
# VmHWM, not getrusage's ru_maxrss: Linux carries the parent's high-water mark across fork and
# exec into ru_maxrss (the parent held the big test image: every figure read ~1.9 GB)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print("peak_rss_mb", int(hwm.split()[1]) / 1024)
"""


#: Low light: the spec preset's exposure, told to the run.
EXPOSURE = 0.1


def child(run, src, out, runtime, task="gaussian", precision="float32"):
    told = {"task": "lowlight", "exposure": EXPOSURE} if task == "lowlight" else {}
    code = CHILD.format(root=str(ROOT), bench=str(Path(__file__).parent), run=run, src=src,
                        out=out, runtime=runtime, task=task, precision=precision, told=told)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    values = dict(line.split() for line in done.stdout.splitlines()
                  if line.split() and line.split()[0] in ("seconds", "peak_rss_mb", "runtime"))
    return {k: v if k == "runtime" else float(v) for k, v in values.items()}


def main():
    import cv2
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--runtime", default="auto", help="enhance run --runtime (default auto)")
    parser.add_argument("--task", default="gaussian", choices=("gaussian", "lowlight"))
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = real_images(args.size, 1)[0]
        if args.task == "lowlight":
            from enhance.tasks import degrade

            noisy = degrade(image, "lowlight", seed=0)
        else:
            noisy = np.clip(image + np.random.default_rng(0).normal(0, 25 / 255, image.shape), 0, 1)
        src = Path(tmp) / "in" / "big.png"
        src.parent.mkdir()
        cv2.imwrite(str(src), np.round(noisy * 65535).astype(np.uint16))
        del image, noisy
        options = {"task": args.task, "precision": args.precision}
        base = child(False, str(src), str(Path(tmp) / "out"), args.runtime, **options)  # converts
        t = time.perf_counter()
        run = child(True, str(src), str(Path(tmp) / "out"), args.runtime, **options)
        print(f"image: {args.size}x{args.size} 16-bit PNG ({src.stat().st_size / 1e6:.0f} MB on disk, "
              f"{args.size**2 * 4 / 1e6:.0f} MB as float32)")
        print(f"task: {args.task} (default model), precision {args.precision}, runtime: {run['runtime']}")
        print(f"baseline (imports + model): peak RSS {base['peak_rss_mb']:.0f} MB")
        print(f"enhance run: peak RSS {run['peak_rss_mb']:.0f} MB in {run['seconds']:.0f} s "
              f"({args.size**2 / 1e6 / run['seconds']:.3f} MP/s); wall {time.perf_counter() - t:.0f} s")
        print(f"goal: under 2048 MB -> {'met' if run['peak_rss_mb'] < 2048 else 'NOT met'}")


if __name__ == "__main__":
    main()
