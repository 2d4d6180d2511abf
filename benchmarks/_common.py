"""Shared helpers of the benchmark scripts (not part of the library)."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_default_model():
    """The shipped default model; a same-architecture random one if weights are not there yet."""
    from enhance.errors import ModelError
    from enhance.modeldir import LoadedModel, load_model_dir, make_config
    from enhance.models import build_model
    from enhance.shipped import resolve_model

    try:
        return load_model_dir(resolve_model(None)), "shipped default"
    except ModelError:
        config = make_config("dncnn", "gaussian")
        return LoadedModel(build_model(config), config, {"name": "dncnn-random"}), "random weights (no shipped model)"


def real_images(size, count, *, seed=0):
    """``count`` real grayscale images of ``size`` x ``size``: crops of the samples, resized."""
    import numpy as np
    from skimage.transform import resize

    from enhance.io import read_image

    rng = np.random.default_rng(seed)
    sources = []
    for path in sorted((ROOT / "samples").iterdir()):
        if path.suffix in (".png", ".tif", ".dcm"):
            pixels = read_image(path).pixels
            sources.append(pixels.mean(axis=-1) if pixels.ndim == 3 else pixels)
    images = []
    for i in range(count):
        src = sources[i % len(sources)]
        h, w = src.shape
        c = int(min(h, w) * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
        images.append(resize(src[top:top + c, left:left + c], (size, size), anti_aliasing=True).astype(np.float32))
    return images


def model_flops_per_pixel(keras_model):
    """2 x multiply-adds of every 2-D convolution kernel for one pixel.

    Exact for networks whose convolutions all run at full resolution (DnCNN); for networks that
    downsample (dae, gan) it is an upper bound.
    """
    import numpy as np

    return float(sum(2 * np.prod(w.shape) for w in keras_model.weights if len(w.shape) == 4))


def matmul_gflops(n=2048, repeats=5):
    """NumPy float32 matmul GFLOP/s on this machine (best of ``repeats``)."""
    import time

    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9
