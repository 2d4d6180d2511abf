"""The ``enhance`` command group.

Subcommands live in their own modules and are imported only when invoked, so ``enhance --help``
answers at once without importing TensorFlow, Keras or even NumPy.
"""

import importlib
import os

import click

#: name -> (module, function, one-line help shown by ``enhance --help``)
COMMANDS = {
    "run": (".run", "run", "Enhance a folder of images with a Keras model (the main job)."),
    "models": (".models", "models", "List the shipped models with their task and validation scores."),
    "degrade": (".degrade", "degrade", "Write degraded copies of images (the spec's noise models)."),
    "denoise": (".denoise", "denoise", "Denoise images with a classical method (BM3D, NLM, Lee, ...)."),
    "score": (".score", "score", "PSNR and SSIM of restored images against references."),
    "synth": (".synth", "synth", "Train, sample and evaluate GANs that synthesise training images."),
    "augment": (".augment", "augment", "Make degraded training pairs (clean + noisy copies) of a folder."),
    "bench": (".bench", "bench", "Benchmark methods on clean images: degrade, restore, score, report."),
    "train": (".train", "train", "Train a denoiser (dncnn, dae, gan) into a model directory."),
    "export": (".export", "export", "Export a model to ONNX, OpenVINO, SavedModel or a bioimage.io package."),
}


#: Keras backends (``KERAS_BACKEND``) -> the package that provides each.
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy",
                    "openvino": "openvino"}
#: Import names whose pip package is named differently.
PIP_NAMES = {"cv2": "opencv-python-headless", "skimage": "scikit-image", "PIL": "pillow",
             "sklearn": "scikit-learn", "yaml": "pyyaml"}


def missing_package_message(error):
    """One line for a :class:`ModuleNotFoundError`: which package to install, and why."""
    module = (error.name or "").split(".")[0] or str(error)
    backend = os.environ.get("KERAS_BACKEND", "").strip().lower()
    if backend and BACKEND_PACKAGES.get(backend) == module:
        install = "pip install jax" if module == "jax" else f"pip install {module}"
        return (f"KERAS_BACKEND={backend} needs the Python package {module!r}, which is not "
                f"installed: {install} (or unset KERAS_BACKEND to use TensorFlow)")
    return (f"this command needs the Python package {module!r}, which is not installed: "
            f"pip install {PIP_NAMES.get(module, module)}")


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    A package missing at run time (e.g. ``KERAS_BACKEND=jax`` without jax) ends in one line
    naming what to install, not a traceback.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as error:
            raise click.ClickException(missing_package_message(error)) from None

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module, __package__), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="enhance")
def cli():
    """Restore medical images with Keras models and score them against classical denoisers.

    Images are read as float pixels in [0, 1] (8/16-bit PNG and TIFF, JPEG, DICOM, NIfTI,
    NumPy) and written back in their own format, atomically; folder jobs mirror the input
    layout, skip finished files when run again and list what failed at the end.
    """
    # keep TensorFlow's start-up banner (oneDNN, CUDA probing on CPU machines) off the terminal,
    # here and in worker processes (enhance.quiet; nothing is imported until a model runs)
    from ..quiet import ENV_VARIABLE, quiet_tensorflow

    os.environ.setdefault(ENV_VARIABLE, "1")
    if os.environ[ENV_VARIABLE] == "1":
        quiet_tensorflow()
    backend = os.environ.get("KERAS_BACKEND", "").strip().lower()
    if backend and backend not in BACKEND_PACKAGES:
        raise click.ClickException(f"KERAS_BACKEND={backend!r} is not a Keras backend; known: "
                               f"{', '.join(BACKEND_PACKAGES)}")
