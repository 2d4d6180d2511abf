"""enhance: restore medical images with Keras models, scored against classical denoisers.

The public API is imported lazily, so that ``import enhance`` (and ``enhance --help``) never
loads TensorFlow; Keras is imported only when a model is built, loaded or trained.

>>> import enhance
>>> image = enhance.read_image("samples/t1_coronal.png")            # doctest: +SKIP
>>> from enhance.tasks import degrade                                # the spec's noise models
>>> noisy = degrade(image.pixels, "gaussian25", seed=0)              # doctest: +SKIP
>>> clean = enhance.denoise(noisy, "bm3d", sigma=25 / 255)           # doctest: +SKIP
>>> enhance.psnr(image.pixels, clean, data_range=1.0)                # doctest: +SKIP
>>> restored = enhance.enhance_image(image, model="dae-gaussian")    # doctest: +SKIP
>>> enhance.enhance_folder("scans/", "out/", model="dae-speckle")    # doctest: +SKIP
"""

import importlib
import os

__version__ = "0.1.0"

if os.environ.get("ENHANCE_QUIET_TENSORFLOW") == "1":  # set by the command line (enhance.quiet)
    from .quiet import quiet_tensorflow as _quiet_tensorflow

    _quiet_tensorflow()

_PUBLIC = {
    # image I/O
    "Image": "enhance.io",
    "read_image": "enhance.io",
    "write_image": "enhance.io",
    # scores
    "psnr": "enhance.metrics",
    "ssim": "enhance.metrics",
    "estimate_noise": "enhance.metrics",
    # classical baselines
    "denoise": "enhance.baselines",
    "list_baselines": "enhance.baselines",
    # models, by shipped name or path (enhance.api): the same rules as the command line
    "load_model": "enhance.api",
    "enhance_image": "enhance.api",
    "enhance_folder": "enhance.api",
    "load_model_dir": "enhance.modeldir",
    # errors
    "EnhanceError": "enhance.errors",
    "UnreadableImage": "enhance.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'enhance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
