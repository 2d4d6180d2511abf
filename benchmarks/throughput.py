"""Throughput of the default model beside BM3D and OpenCV's fastNlMeansDenoising, and its GFLOP/s.

    python benchmarks/throughput.py [--small 100] [--large 4] [--bm3d-small 10] [--bm3d-large 1]

Prints megapixels per second for 256x256 and 2048x2048 images (gaussian25-degraded crops of the
samples), the model's achieved GFLOP/s, a NumPy float32 matmul's GFLOP/s measured in the same
run, and their ratio. BM3D is slow: it is timed on the first images of each set only (--bm3d-*).
"""

import argparse
import time

from _common import load_default_model, matmul_gflops, model_flops_per_pixel, real_images


def timed(function, images):
    start = time.perf_counter()
    for image in images:
        function(image)
    seconds = time.perf_counter() - start
    return sum(i.size for i in images) / 1e6 / seconds, seconds


def main():
    import cv2
    import numpy as np

    from enhance.baselines import denoise
    from enhance.degrade import gaussian
    from enhance.predict import enhance_image

    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--bm3d-small", type=int, default=10)
    parser.add_argument("--bm3d-large", type=int, default=1)
    args = parser.parse_args()

    model, origin = load_default_model()
    rng = np.random.default_rng(0)
    sets = {
        "256x256": [gaussian(x, rng) for x in real_images(256, args.small)],
        "2048x2048": [gaussian(x, rng) for x in real_images(2048, args.large, seed=1)],
    }
    sigma = 25 / 255
    methods = {
        "model": lambda x: enhance_image(model, x),
        "opencv_nlm": lambda x: cv2.fastNlMeansDenoising(
            np.round(x * 255).astype(np.uint8), None, h=sigma * 255, templateWindowSize=7, searchWindowSize=21),
        "bm3d": lambda x: denoise(x, "bm3d", sigma=sigma),
    }
    enhance_image(model, sets["256x256"][0])  # warm-up (graph tracing)
    print(f"model: {model.name} ({origin}), arch {model.config['arch']} {model.config['arch_params']}")
    print(f"{'set':<10} {'method':<11} {'images':>6} {'seconds':>8} {'MP/s':>8} {'x BM3D':>7}")
    rates = {}
    for name, images in sets.items():
        for method, function in methods.items():
            subset = images
            if method == "bm3d":
                subset = images[: args.bm3d_small if name == "256x256" else args.bm3d_large]
            rate, seconds = timed(function, subset)
            rates[name, method] = rate
            print(f"{name:<10} {method:<11} {len(subset):>6} {seconds:>8.2f} {rate:>8.3f}", flush=True)
        for method in methods:
            print(f"{name:<10} {method:<11} speed-up over BM3D: {rates[name, method] / rates[name, 'bm3d']:.1f}x")
    flops = model_flops_per_pixel(model.keras_model)
    achieved = flops * rates["2048x2048", "model"] * 1e6 / 1e9
    reference = matmul_gflops()
    print(f"model: {flops / 1e3:.0f} kFLOP per pixel; achieved {achieved:.1f} GFLOP/s on 2048x2048")
    print(f"numpy float32 matmul 2048: {reference:.1f} GFLOP/s; ratio model/matmul = {achieved / reference:.2f}")


if __name__ == "__main__":
    main()
