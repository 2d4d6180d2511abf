"""The package's vocabularies, each spelled once: output formats, precisions, runtimes.

Constants and their checks (nothing imported but :mod:`enhance.errors`), so the command line can
build its choices from them without loading NumPy or Keras. Everything else imports them from here.
The restoration tasks are listed by their registry, :mod:`enhance.tasks`.
"""

from .errors import EnhanceError

__all__ = ["OUTPUT_FORMATS", "DEGRADE_FORMATS", "PRECISIONS", "RUNTIMES", "PREVIEW_NAME",
           "check_precision"]

#: Output formats of the folder jobs that restore (``run``, ``denoise``): ``keep`` writes each
#: file like its input (format, dtype, range, header); the others convert.
OUTPUT_FORMATS = ("keep", "png16", "tiff16", "npy")

#: Output formats of ``degrade`` (16-bit PNG by default, so that no noise is quantised away).
DEGRADE_FORMATS = ("png16", "tiff16", "npy", "keep")

#: Arithmetic of inference: ``float32``, or ``bfloat16`` (Keras mixed precision: weights kept in
#: float32, convolutions in bfloat16, the layers that form the output in float32).
PRECISIONS = ("float32", "bfloat16")

#: Where an enhancer's network runs (:mod:`enhance.runtime`): ``auto`` picks ``openvino`` (no
#: TensorFlow start-up) when it is installed, no NVIDIA GPU is visible and ``KERAS_BACKEND`` names
#: no backend, else ``keras``.
RUNTIMES = ("auto", "openvino", "keras")

#: The contact sheet ``enhance run`` writes in its output folder (:mod:`enhance.preview`); the
#: batch engine knows it so that a later job given that folder does not take it for an image.
PREVIEW_NAME = "preview.png"


def check_precision(precision):
    """``precision`` if it is one of :data:`PRECISIONS`; else one EnhanceError line."""
    if precision not in PRECISIONS:
        raise EnhanceError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    return precision
