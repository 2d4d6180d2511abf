"""The Python API by model name: load a model, enhance one image, enhance a folder.

The same resolution rules as the command line (:func:`enhance.shipped.resolve_model`): a bare
name is a shipped model (never a folder of that name in the working directory), a directory is
given as a path (``./dir``, ``/abs/dir``, a :class:`pathlib.Path`), and no model means the
shipped default of the task.

>>> import enhance
>>> image = enhance.read_image("samples/t1_coronal.png")                  # doctest: +SKIP
>>> clean = enhance.enhance_image(image, model="dae-gaussian")              # doctest: +SKIP
>>> model = enhance.load_model("dae-speckle")                               # doctest: +SKIP
>>> enhance.enhance_folder("scans/", "out/", model=model)                   # doctest: +SKIP

Keras is imported only when a model is loaded.
"""

from __future__ import annotations

import warnings

from .errors import EnhanceError

__all__ = ["load_model", "enhance_image", "enhance_folder"]


def load_model(name_or_path, *, precision="float32", runtime="auto"):
    """Load a shipped model by name, or a model directory by path; its kind decides the type.

    Parameters
    ----------
    name_or_path : str or Path
        A shipped model's name (``enhance models`` lists them) or a model directory given as a
        path. The weights are checked against the card's sha256.
    precision : {"float32", "bfloat16"}, keyword-only
        An enhancer's arithmetic (:func:`enhance.predict.with_precision`); float32 for the
        other kinds.
    runtime : {"auto", "openvino", "keras"}, keyword-only
        Where an enhancer's network runs (:mod:`enhance.runtime`; ``auto``: OpenVINO when it is
        installed and no NVIDIA GPU is visible, as ``enhance run``); generators and feature
        networks run on Keras.

    Returns
    -------
    enhance.modeldir.LoadedModel or enhance.synth.modeldir.Generator or enhance.synth.features.FeatureNet
        An image enhancer, a synthesis generator or a feature network.

    Raises
    ------
    ModelError
        An unknown name, a path that is not a model directory, or weights that do not match.
    """
    from .shipped import model_kind, resolve_model

    path = resolve_model(name_or_path)
    kind = model_kind(path)
    if kind == "generator":
        from .synth.modeldir import load_generator

        return load_generator(path)
    if kind == "features":
        from .synth.features import load_feature_net

        return load_feature_net(path)
    from .runtime import load_enhancer

    return load_enhancer(path, precision=precision, runtime=runtime)


def _enhancer(model, task, *, precision="float32", runtime="auto"):
    """A loaded enhancer from a loaded model, a name, a path or ``None`` (the task's default);
    a model loaded here is loaded on ``runtime`` in ``precision``."""
    from .modeldir import LoadedModel
    from .predict import with_precision
    from .run_options import ModelRef

    if isinstance(model, LoadedModel):
        if task is not None and model.task != task:
            raise EnhanceError(f"{model.name} is a {model.task} model, not {task}")
        return with_precision(model, precision)
    if model is not None and task is not None:
        raise EnhanceError("give a model or a task, not both")
    return ModelRef.resolve(model, task=task).load(precision=precision, runtime=runtime)


def _is_image(value):
    import numpy as np

    from .io import Image

    return isinstance(value, (np.ndarray, Image))


def enhance_image(image, model=None, *, task=None, **options):
    """Restore one image with a model: a shipped name, a path, a loaded model or the default.

    Parameters
    ----------
    image : ndarray or enhance.Image or str or Path
        Pixels (H, W) or (H, W, C) as float in [0, 1]; an :class:`enhance.Image` from
        :func:`enhance.read_image` (a stack such as a NIfTI volume or a multi-frame DICOM is
        restored frame by frame); or the path of an image file, which is read.
    model : str or Path or LoadedModel, optional
        A shipped model's name, a model directory given as a path, or a model from
        :func:`load_model`; default: the shipped default of ``task``.
    task : {"gaussian", "lowlight", "speckle"}, optional, keyword-only
        Picks the shipped default model when ``model`` is not given (``gaussian``).
    **options
        Keyword-only, :data:`IMAGE_OPTIONS`, checked as :class:`enhance.run_options.RunOptions`
        checks them (a NaN or negative sigma, a tile under 32, ... are refused in one line):
        ``exposure`` (required by low-light models), ``tile``, ``batch_size``, ``max_memory``,
        ``self_ensemble``, the noise level of noise-conditioned models (``sigma``, ``photons``,
        ``read_noise``), ``precision`` (``"bfloat16"``) and ``runtime`` (see
        :func:`load_model`; for a model given by name or path); and ``progress``, called as
        ``progress(fraction)`` after each network call.

    Returns
    -------
    ndarray of float32
        The restored pixels, same shape as the input's, in [0, 1]. Write them with
        ``enhance.write_image(path, restored, like=image)`` to keep the input's format.

    Notes
    -----
    The earlier order ``enhance_image(model, image)`` still works (the argument that is an
    array or an :class:`enhance.Image` is the image) but is deprecated.
    """
    if not _is_image(image) and _is_image(model):
        warnings.warn("enhance.enhance_image(model, image) is deprecated: use "
                      "enhance.enhance_image(image, model=...)", DeprecationWarning, stacklevel=2)
        image, model = model, image
    from .io import Image, read_image
    from .pipeline import restore_pixels
    from .run_options import RunOptions

    progress = options.pop("progress", None)
    unknown = sorted(set(options) - set(IMAGE_OPTIONS))
    if unknown:
        raise EnhanceError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                           f"of enhance_image; known: {', '.join(IMAGE_OPTIONS)}")
    checked = RunOptions.from_dict(options)  # NaN, negative sigma, tile 0, ...: one line
    if not _is_image(image):
        image = read_image(image)
    is_stack = isinstance(image, Image) and image.meta.is_stack
    pixels = image.pixels if isinstance(image, Image) else image
    loaded = _enhancer(model, task, precision=checked.precision, runtime=checked.runtime)
    return restore_pixels(loaded, pixels, checked, is_stack=is_stack, progress=progress)


#: The options of :func:`enhance_image` (those of :class:`enhance.run_options.RunOptions` that
#: concern one image).
IMAGE_OPTIONS = ("exposure", "sigma", "photons", "read_noise", "tile", "batch_size", "max_memory",
                 "self_ensemble", "precision", "runtime")


def enhance_folder(source, out_dir, *, model=None, task=None, **options):
    """Enhance every image of ``source`` into ``out_dir``, as ``enhance run`` does.

    Parameters
    ----------
    source : str or Path
        A folder (recursive), a file, a glob, or a DICOMweb study or series URL
        (:mod:`enhance.sources`; ``store=ROOT`` stores the DICOM outputs back).
    out_dir : str or Path
        The output folder (same layout, each file in its input's format, ``manifest.jsonl``,
        and ``preview.png`` as ``enhance run`` writes it; ``preview=False``: none).
    model : str or Path or LoadedModel, optional, keyword-only
        A shipped model's name, a model directory given as a path, or a model loaded from a
        directory (:func:`load_model`; it is used as loaded, not loaded again); default: the
        shipped default of ``task``.
    task : str, optional, keyword-only
    **options
        Keyword-only, the attributes of :class:`enhance.run_options.RunOptions` (``exposure``,
        ``sigma``, ``tile``, ``batch_size``, ``self_ensemble``, ``precision``, ``runtime``,
        ``output_format``, ``anonymize``, ``overwrite``, ``dry_run``, ``preview``, ...; checked:
        an unknown name or a value out of range is refused), and ``progress``:
        ``progress(done, total, file_result)`` after each file, ``file_progress``:
        ``file_progress(path, fraction)`` within one.

    Returns
    -------
    enhance.pipeline.RunResult
        ``ok``, ``results`` (one per file: status, input, output, error), ``summary()``,
        ``model`` and ``preview``.

    Raises
    ------
    EnhanceError
        As :func:`enhance.pipeline.enhance_folder`.
    """
    from .pipeline import enhance_folder as run_folder
    from .run_options import RunOptions

    progress = options.pop("progress", None)
    file_progress = options.pop("file_progress", None)
    run_options = RunOptions.from_dict({"model": model, "task": task, **options})
    return run_folder(source, out_dir, run_options, progress=progress, file_progress=file_progress)
