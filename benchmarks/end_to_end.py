"""End-to-end speed of `enhance run` against classical denoisers on the same images, in one run.

    python benchmarks/end_to_end.py [--small 24] [--large 1024] [--model NAME]

Makes a folder of 16-bit PNGs (``--small`` crops of 256 x 256 and one ``--large`` square image,
all real samples resized, degraded by the spec's gaussian25), then times whole commands, start-up
included, each in a fresh process: ``enhance run`` with the shipped default (or ``--model``),
``enhance denoise --method bm3d --sigma 25/255`` (BM3D told sigma) and ``enhance denoise --method
nlm`` (scikit-image's non-local means told sigma). Prints megapixels per second and the ratios to
BM3D. (`benchmarks/throughput.py` times the network in-process and its GFLOP/s against a NumPy matmul.)
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import real_images


def make_folder(folder, small, large):
    import cv2

    from enhance.degrade import degrade

    images = real_images(256, small, seed=0) + real_images(large, 1, seed=1)
    for index, clean in enumerate(images):
        noisy = degrade(np.asarray(clean, np.float32), "gaussian25", seed=index)
        cv2.imwrite(str(folder / f"img{index:03d}.png"), np.round(noisy * 65535).astype(np.uint16))
    return sum(image.size for image in images) / 1e6


def timed(args, cwd):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", "from enhance.cli.main import cli; cli()", *args],
                            cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=24, help="256 x 256 images")
    parser.add_argument("--large", type=int, default=1024, help="side of the one large image")
    parser.add_argument("--model", default=None, help="default: the shipped gaussian default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "in").mkdir()
        megapixels = make_folder(work / "in", args.small, args.large)
        print(f"{args.small} images of 256 x 256 and one of {args.large} x {args.large}: "
              f"{megapixels:.2f} MP, gaussian25, 16-bit PNG; whole commands, start-up included")
        model = ["--model", args.model] if args.model else []
        rows = [
            ("enhance run" + (f" --model {args.model}" if args.model else " (shipped default)"),
             ["run", "in", "out-run", "-q", "--no-preview", *model]),
            ("BM3D told sigma", ["denoise", "in", "out-bm3d", "--method", "bm3d",
                                 "--sigma", str(25 / 255), "-q"]),
            ("NLM told sigma", ["denoise", "in", "out-nlm", "--method", "nlm",
                                "--sigma", str(25 / 255), "-q"]),
        ]
        speeds = {}
        for label, command in rows:
            seconds = timed(command, work)
            speeds[label] = megapixels / seconds
            print(f"  {label:<40} {seconds:7.1f} s  {speeds[label]:7.3f} MP/s", flush=True)
        bm3d = speeds["BM3D told sigma"]
        for label, speed in speeds.items():
            print(f"  {label:<40} {speed / bm3d:6.2f} x BM3D")


if __name__ == "__main__":
    main()
