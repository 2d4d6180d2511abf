"""Throughput of `enhance run` end to end against BM3D and OpenCV's NLM, in one run.

    python benchmarks/throughput.py [--small 24] [--large 2048] [--model NAME] [--task lowlight]

Makes a folder of 16-bit PNGs (``--small`` crops of 256 x 256 and one ``--large`` square image,
real samples resized, degraded by the spec's gaussian25, or with ``--task lowlight`` by the spec's
lowlight preset, exposure 0.1) and times whole commands, each in a fresh process, start-up
included:

- ``enhance run`` with the shipped default (or ``--model``) on its default runtime
  (:mod:`enhance.runtime`), float32 and ``--precision bfloat16``: first in a fresh conversion
  cache (the run that converts the model), then cached as every later run finds it; and the
  same two on ``--runtime keras``;
- ``enhance denoise --method bm3d --sigma 25/255`` (BM3D told sigma): the baseline of the ratios;
  in low light ``enhance denoise --method vst_bm3d --exposure 0.1`` (VST+BM3D, the strongest
  classical recipe, fitting the noise from the image as the default model does);
- OpenCV's ``fastNlMeansDenoising`` on the 16-bit images (L1 norm, h = sigma, 7/21 windows), in a
  small script that reads and writes the same PNGs (Gaussian only).

Prints for each: seconds, megapixels per second, the ratio to BM3D, the child's peak RSS, and the
mean PSNR of its outputs against the clean images (so that bfloat16's cost is read in the same run).
Then, in this process, the network's useful GFLOP/s (exact multiply-adds of its convolutions at
each layer's resolution, times the output pixels, over the time of ``enhance_image`` on the same
images) beside NumPy's float32 matmul GFLOP/s measured here, and their ratio.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import matmul_gflops, real_images

SIGMA = 25 / 255

OPENCV_NLM = """
import sys, pathlib, cv2, numpy as np
src, dst, h = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), float(sys.argv[3])
dst.mkdir()
for path in sorted(src.glob("*.png")):
    noisy = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    out = cv2.fastNlMeansDenoising(noisy, h=[h * 65535], templateWindowSize=7,
                                   searchWindowSize=21, normType=cv2.NORM_L1)
    cv2.imwrite(str(dst / path.name), out)
"""


#: The degradation preset of each task the benchmark knows.
PRESETS = {"gaussian": "gaussian25", "lowlight": "lowlight"}
#: Low light: the spec preset's exposure, told to every command.
EXPOSURE = 0.1


def make_folder(folder, small, large, *, preset="gaussian25"):
    """Write the noisy PNGs; return the clean images by file name and the megapixels."""
    import cv2

    from enhance.tasks import degrade

    images = real_images(256, small, seed=0) + real_images(large, 1, seed=1)
    clean = {}
    for index, image in enumerate(images):
        noisy = degrade(np.asarray(image, np.float32), preset, seed=index)
        name = f"img{index:03d}.png"
        cv2.imwrite(str(folder / name), np.round(noisy * 65535).astype(np.uint16))
        clean[name] = image
    return clean, sum(image.size for image in images) / 1e6


def timed(args, cwd):
    """Run ``args`` in a fresh process; (seconds, peak RSS in MB)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    stderr = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def mean_psnr(folder, clean):
    import cv2

    from enhance.metrics import psnr

    values = []
    for name, reference in clean.items():
        output = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535
        values.append(psnr(reference, output, data_range=1.0))
    return float(np.mean(values))


def useful_flops_per_pixel(keras_model):
    """Multiply-adds x 2 of the convolutions per output pixel, each at its layer's resolution.

    Every 2-D kernel of a layer (a registered block holds its convolution) counts once per pixel
    of that layer's output; a transposed convolution once per pixel of its input.
    """
    import keras

    from enhance.predict import layer_output_specs

    side = 64
    layers = [layer for layer in keras_model.layers[1:]
              if any(len(w.shape) == 4 for w in layer.weights)]
    specs = layer_output_specs(keras_model, layers, side=side)
    total = 0.0
    for layer, spec in zip(layers, specs):
        pixels = spec.shape[1] * spec.shape[2]
        if isinstance(layer, keras.layers.Conv2DTranspose):
            pixels /= layer.strides[0] * layer.strides[1]
        total += sum(2.0 * float(np.prod(w.shape)) for w in layer.weights if len(w.shape) == 4) * pixels
    return total / (side * side)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=24, help="256 x 256 images")
    parser.add_argument("--large", type=int, default=2048, help="side of the one large image")
    parser.add_argument("--model", default=None, help="default: the shipped default of --task")
    parser.add_argument("--task", default="gaussian", choices=sorted(PRESETS))
    args = parser.parse_args()
    lowlight = args.task == "lowlight"
    enhance = [sys.executable, "-c", "from enhance.cli.main import cli; cli()"]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "in").mkdir()
        clean, megapixels = make_folder(work / "in", args.small, args.large,
                                        preset=PRESETS[args.task])
        print(f"{args.small} images of 256 x 256 and one of {args.large} x {args.large}: "
              f"{megapixels:.2f} MP, {PRESETS[args.task]}, 16-bit PNG; whole commands, start-up "
              "included", flush=True)
        model = ["--model", args.model] if args.model else []
        told = ["--exposure", str(EXPOSURE)] if lowlight else []
        label = "enhance run" + (f" --model {args.model}" if args.model else "")
        run = [*enhance, "run", "in", None, "-q", "--no-preview", "--task", args.task, *model,
               *told]

        def command(out, *options):
            return [part if part is not None else out for part in run] + list(options)

        # a fresh conversion cache: the first run converts the model (imports TensorFlow), the
        # others find it cached
        os.environ["ENHANCE_CACHE_DIR"] = str(work / "cache")
        rows = [
            (f"{label} first run (converts)", "run-cold", command("run-cold")),
            (f"{label} float32", "run-f32", command("run-f32")),
            (f"{label} bfloat16", "run-bf16", command("run-bf16", "--precision", "bfloat16")),
            (f"{label} --runtime keras float32", "run-keras-f32", command("run-keras-f32", "--runtime", "keras")),
            (f"{label} --runtime keras bfloat16", "run-keras-bf16",
             command("run-keras-bf16", "--runtime", "keras", "--precision", "bfloat16")),
        ]
        if lowlight:
            baseline = "VST+BM3D told exposure"
            rows.append((baseline, "bm3d", [*enhance, "denoise", "in", "bm3d", "--method",
                                            "vst_bm3d", "--exposure", str(EXPOSURE), "-q"]))
        else:
            baseline = "BM3D told sigma"
            rows += [
                (baseline, "bm3d", [*enhance, "denoise", "in", "bm3d", "--method", "bm3d",
                                    "--sigma", str(SIGMA), "-q"]),
                ("OpenCV NLM told sigma", "nlm",
                 [sys.executable, "-c", OPENCV_NLM, "in", "nlm", str(SIGMA)]),
            ]
        results = {}
        print(f"  {'command':<42} {'seconds':>8} {'MP/s':>8} {'peak RSS':>9} {'PSNR':>7}")
        for name, out, args_ in rows:
            seconds, rss = timed(args_, work)
            results[name] = (megapixels / seconds, rss, mean_psnr(work / out, clean))
            print(f"  {name:<42} {seconds:8.1f} {results[name][0]:8.3f} {rss:7.0f} MB "
                  f"{results[name][2]:7.2f}", flush=True)
        import json

        runtime = json.loads((work / "run-f32" / "manifest.jsonl").read_text().splitlines()[0])["runtime"]
        print(f"  (the default runtime here: {runtime})")
        bm3d = results[baseline][0]
        for name, (speed, _, _) in results.items():
            print(f"  {name:<42} {speed / bm3d:6.2f} x {baseline.split(' told')[0]}")
        for prefix in (label, f"{label} --runtime keras"):
            gap = results[f"{prefix} float32"][2] - results[f"{prefix} bfloat16"][2]
            print(f"  {prefix}: bfloat16 costs {gap:+.3f} dB of mean PSNR against float32 "
                  "(positive: lower)")

        # the network in this process: useful GFLOP/s against a matmul
        from enhance.io import read_image
        from enhance.modeldir import load_model_dir
        from enhance.predict import enhance_image
        from enhance.shipped import resolve_model

        loaded = load_model_dir(resolve_model(args.model, task=args.task))
        images = [read_image(path).pixels for path in sorted((work / "in").glob("*.png"))]
        options = {"exposure": EXPOSURE} if lowlight else {"sigma": SIGMA}
        enhance_image(loaded, images[0], **options)  # warm-up (graph tracing)
        start = time.perf_counter()
        for image in images:
            enhance_image(loaded, image, **options)
        seconds = time.perf_counter() - start
    flops = useful_flops_per_pixel(loaded.keras_model)
    useful = flops * megapixels * 1e6 / seconds / 1e9
    reference = matmul_gflops()
    print(f"network in-process (float32, told {'exposure' if lowlight else 'sigma'}): {megapixels / seconds:.3f} MP/s; "
          f"{flops / 1e3:.0f} kFLOP per output pixel -> {useful:.1f} useful GFLOP/s; numpy float32 "
          f"matmul {reference:.1f} GFLOP/s; ratio {useful / reference:.2f}")


if __name__ == "__main__":
    main()
