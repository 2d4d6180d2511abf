"""The ``enhance`` command group.

Subcommands live in their own modules and are imported only when invoked, so ``enhance --help``
answers at once without importing TensorFlow, Keras or even NumPy.
"""

import importlib
import os

import click

#: name -> (module, function, one-line help shown by ``enhance --help``)
COMMANDS = {
    "run": ("cli.run", "run", "Enhance a folder of images with a Keras model (the main job)."),
    "models": ("cli.models", "models", "List the shipped models with their task and validation scores."),
    "degrade": ("cli.degrade", "degrade", "Write degraded copies of images (the spec's noise models)."),
    "denoise": ("cli.denoise", "denoise", "Denoise images with a classical method (BM3D, NLM, Lee, ...)."),
    "score": ("cli.score", "score", "PSNR and SSIM of restored images against references."),
    "synth": ("cli.synth", "synth", "Train, sample and evaluate GANs that synthesise training images."),
    "augment": ("cli.augment", "augment", "Make degraded training pairs (clean + noisy copies) of a folder."),
    "bench": ("cli.bench", "bench", "Benchmark methods on clean images: degrade, restore, score, report."),
    "train": ("cli.train", "train", "Train a denoiser (dncnn, dae, gan) into a model directory."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="enhance")
def cli():
    """Restore medical images with Keras models and score them against classical denoisers.

    Images are read as float pixels in [0, 1] (8/16-bit PNG and TIFF, DICOM, NIfTI, NumPy) and
    written back in their own format, atomically; folder jobs mirror the input layout, skip
    finished files when run again and list what failed at the end.
    """
    # keep TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) off the terminal
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
