"""Training and inference speed of the DnCNN on the current Keras backend and device.

The GPU check of the models issue: ``KERAS_BACKEND=jax python benchmarks/backend_check.py`` on
the GPU machine (which has JAX and PyTorch, not TensorFlow), and the same script here on the CPU
for the figures beside it. Needs only numpy, keras, a backend and ``enhance.models`` (no image
libraries), so it runs on a bare machine with the keras wheel carried over.

Prints one line per figure and a JSON summary: training steps per second (batch of 48 x 48
patches, MSE, Adam, ``jit_compile``), the loss before and after (it must fall), inference
megapixels per second on 256 x 256 and 1024 x 1024 images, and, as the baseline measured in the
same run, the float32 matrix-multiply rate of the same backend, so that the ratio
(achieved convolution FLOP/s over matmul FLOP/s) compares machines.

Usage: python benchmarks/backend_check.py [--steps 300] [--batch 32] [--patch 48]
       [--sizes 256 1024] [--images 8] [--depth 12] [--width 48] [--precision float32]
"""

import argparse
import json
import os
import platform
import time

import _common  # noqa: F401  (puts the repository on sys.path)
import numpy as np


def smooth_images(count, size, rng):
    """Piecewise-smooth test images in [0, 1] (sums of blurred rectangles): content for timing."""
    images = np.zeros((count, size, size), np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for image in images:
        for _ in range(6):
            cy, cx, ry, rx = rng.random(4) * [1, 1, 0.4, 0.4] + [0, 0, 0.05, 0.05]
            image += rng.random() / (1 + np.exp(-40 * (ry - abs(yy - cy)))) / (
                1 + np.exp(-40 * (rx - abs(xx - cx))))
        image /= max(float(image.max()), 1e-6)
    return images


def patch_batch(images, batch, patch, sigma, rng):
    clean = np.empty((batch, patch, patch, 1), np.float32)
    for k in range(batch):
        image = images[rng.integers(len(images))]
        top, left = rng.integers(0, image.shape[0] - patch + 1, 2)
        clean[k, ..., 0] = image[top:top + patch, left:left + patch]
    noisy = clean + rng.uniform(0, sigma, (batch, 1, 1, 1)).astype(np.float32) * rng.standard_normal(
        clean.shape).astype(np.float32)
    return noisy, clean


def matmul_flops(keras, n=2048, repeats=10):
    """FLOP/s of an n x n float32 matrix product on the backend (the in-run baseline)."""
    a = keras.ops.convert_to_tensor(np.random.default_rng(0).random((n, n), np.float32))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, a))
    start = time.perf_counter()
    for _ in range(repeats):
        out = keras.ops.matmul(a, a)
    keras.ops.convert_to_numpy(out)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--images", type=int, default=8, help="images timed per size")
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--width", type=int, default=48)
    parser.add_argument("--precision", default="float32", help="or mixed_float16 / mixed_bfloat16")
    parser.add_argument("--json", default=None, help="also write the summary here")
    args = parser.parse_args()

    import keras

    from enhance.models import build_model
    from enhance.backend_specific import accelerator_available

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.precision)
    rng = np.random.default_rng(0)
    model = build_model({"arch": "dncnn", "arch_params": {"depth": args.depth, "width": args.width}})
    keras.config.set_dtype_policy("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=True)
    train_images = smooth_images(16, 128, rng)
    summary = {"backend": keras.config.backend(), "keras": keras.__version__,
               "accelerator": accelerator_available(), "machine": platform.machine(),
               "cpus": os.cpu_count(), "precision": args.precision,
               "model": f"dncnn {args.depth}x{args.width}"}

    fixed = patch_batch(train_images, args.batch, args.patch, 55 / 255, np.random.default_rng(1))
    loss_before = float(model.evaluate(*fixed, verbose=0))
    start = time.perf_counter()
    model.train_on_batch(*patch_batch(train_images, args.batch, args.patch, 55 / 255, rng))
    summary["first_step_s"] = round(time.perf_counter() - start, 2)  # compilation included
    start = time.perf_counter()
    for _ in range(args.steps - 1):
        model.train_on_batch(*patch_batch(train_images, args.batch, args.patch, 55 / 255, rng))
    train_seconds = time.perf_counter() - start
    summary["train_steps"] = args.steps
    summary["train_steps_per_s"] = round((args.steps - 1) / train_seconds, 3)
    summary["train_megapixels_per_s"] = round(
        (args.steps - 1) * args.batch * args.patch**2 / train_seconds / 1e6, 3)
    summary["loss_before"] = round(loss_before, 6)
    summary["loss_after"] = round(float(model.evaluate(*fixed, verbose=0)), 6)
    print(f"train: {summary['train_steps_per_s']} steps/s (batch {args.batch} x {args.patch}^2), "
          f"loss {summary['loss_before']} -> {summary['loss_after']}", flush=True)

    flops_per_pixel = sum(
        2 * int(np.prod(w.shape)) for w in model.weights if len(w.shape) == 4)
    summary["flop_per_pixel"] = flops_per_pixel
    for size in args.sizes:
        images = smooth_images(args.images, size, rng)[..., None]
        model.predict_on_batch(images[:1])  # compile for this shape
        start = time.perf_counter()
        for image in images:
            out = model.predict_on_batch(image[None])
        np.asarray(out)
        seconds = time.perf_counter() - start
        rate = args.images * size * size / seconds / 1e6
        summary[f"infer_{size}_megapixels_per_s"] = round(rate, 3)
        summary[f"infer_{size}_gflop_per_s"] = round(rate * 1e6 * flops_per_pixel / 1e9, 1)
        print(f"inference {size}x{size}: {rate:.3f} MP/s", flush=True)
    summary["matmul_gflop_per_s"] = round(matmul_flops(keras) / 1e9, 1)
    largest = max(args.sizes)
    summary["conv_over_matmul"] = round(
        summary[f"infer_{largest}_gflop_per_s"] / summary["matmul_gflop_per_s"], 3)
    print(f"matmul baseline: {summary['matmul_gflop_per_s']} GFLOP/s; convolution/matmul ratio "
          f"at {largest}^2: {summary['conv_over_matmul']}")
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
