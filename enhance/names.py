"""The package's vocabularies, each spelled once: output formats, precisions, runtimes.

Pure constants (no imports), so the command line can build its choices from them without loading
NumPy or Keras. Everything else imports them from here. The restoration tasks are listed by their
registry, :mod:`enhance.tasks`.
"""

__all__ = ["OUTPUT_FORMATS", "DEGRADE_FORMATS", "PRECISIONS", "RUNTIMES"]

#: Output formats of the folder jobs that restore (``run``, ``denoise``): ``keep`` writes each
#: file like its input (format, dtype, range, header); the others convert.
OUTPUT_FORMATS = ("keep", "png16", "tiff16", "npy")

#: Output formats of ``degrade`` (16-bit PNG by default, so that no noise is quantised away).
DEGRADE_FORMATS = ("png16", "tiff16", "npy", "keep")

#: Arithmetic of inference: ``float32``, or ``bfloat16`` (Keras mixed precision: weights kept in
#: float32, convolutions in bfloat16, the layers that form the output in float32).
PRECISIONS = ("float32", "bfloat16")

#: Where an enhancer's network runs (:mod:`enhance.runtime`): ``auto`` picks ``openvino`` (no
#: TensorFlow start-up) when it is installed and no NVIDIA GPU is visible, else ``keras``.
RUNTIMES = ("auto", "openvino", "keras")
