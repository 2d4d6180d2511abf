"""The package's vocabularies, each spelled once: output formats, precisions, runtimes.

Constants and the checks of values (nothing imported but :mod:`enhance.errors`), so the command line can
build its choices from them without loading NumPy or Keras. Everything else imports them from here.
The restoration tasks are listed by their registry, :mod:`enhance.tasks`.
"""

import math

from .errors import EnhanceError

__all__ = ["OUTPUT_FORMATS", "DEGRADE_FORMATS", "PRECISIONS", "RUNTIMES", "PREVIEW_NAME",
           "check_precision", "check_number", "check_whole", "check_choice"]

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


def check_number(name, value, *, low, high=math.inf, low_open=False, what=""):
    """``value`` as a float, or one line saying why not (NaN, infinity, out of range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise EnhanceError(f"{name} must be a number{what}, not {value!r}") from None
    value = float(value)
    inside = (value > low if low_open else value >= low) and value <= high
    if not math.isfinite(value) or not inside:
        left = "(" if low_open else "["
        right = "]" if math.isfinite(high) else ")"
        bound = f"{left}{low:g}, {high:g}{right}" if math.isfinite(high) else (
            f"> {low:g}" if low_open else f">= {low:g}")
        where = f"in {bound}" if math.isfinite(high) else bound
        raise EnhanceError(f"{name} must be a finite number {where}{what}, not {value!r}")
    return value


def check_whole(name, value, *, low):
    """``value`` as an int (a whole float taken), or one line saying why not."""
    if isinstance(value, bool) or not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise EnhanceError(f"{name} must be a whole number >= {low}, not {value!r}")
        value = int(value)
    if value < low:
        raise EnhanceError(f"{name} must be a whole number >= {low}, not {value!r}")
    return int(value)


def check_choice(name, value, allowed):
    """``value`` if it is one of ``allowed``, or one line naming them."""
    if value not in allowed:
        raise EnhanceError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value
