"""Models that leave the project: ONNX, OpenVINO IR, TensorFlow SavedModel, bioimage.io packages.

:func:`export_model` writes one enhancer (a shipped name or a model directory, resolved like
``enhance run --model``) in one of :data:`FORMATS`:

``onnx``
    One ``.onnx`` file (Keras' own ``model.export(format="onnx")``, i.e. tf2onnx on TensorFlow),
    fully convolutional: input ``image`` and output ``output`` are NHWC float32 with dynamic
    batch, height and width (``batch``, ``height``, ``width``). What the channels mean and the
    pre/post-processing are in the model's ``metadata_props`` (key ``enhance``, JSON).
``openvino``
    A folder with ``model.xml`` / ``model.bin`` (OpenVINO IR, float32 weights, dynamic batch,
    height and width: Keras' own ``model.export(format="openvino")``, the conversion of the
    ``openvino`` runtime, :mod:`enhance.runtime`) and ``enhance_export.json``.
``saved_model``
    A TensorFlow SavedModel folder (``model.export(format="tf_saved_model")``; signature
    ``serving_default``) and ``enhance_export.json``.
``bioimageio``
    A bioimage.io model package (``.zip``; rdf.yaml of the bioimage.io model spec 0.5, weights
    in ONNX and zipped TensorFlow SavedModel formats, test input/output ``.npy`` made by the Keras
    model from a synthetic degraded phantom, documentation, cover), validated with
    ``bioimageio.spec`` before it is written: for deepImageJ and bioimageio.core.

The network alone is exported: what :mod:`enhance.predict` does around it (the gain of a
low-light model, the noise-level map of a noise-conditioned one, the variance-stabilising
transform of a ``vst`` model, the final clip to [0, 1]) is described in the metadata
(:func:`describe_io`), not in the graph. Outputs are written atomically (:mod:`enhance.io.atomic`):
a failed export leaves no partial file and does not touch an existing OUT.

Needs the ``export`` extra (``pip install 'enhance[export]'``: tf2onnx, onnx, onnxruntime,
bioimageio.spec; OpenVINO is a core requirement); the TensorFlow backend (Keras' ONNX export on JAX needs jax2onnx,
not installed here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EnhanceError

__all__ = [
    "FORMATS",
    "METADATA_FILE",
    "ExportResult",
    "infer_format",
    "describe_io",
    "export_model",
]

#: Export formats, in the order ``enhance export --help`` lists them.
FORMATS = ("onnx", "openvino", "saved_model", "bioimageio")
#: OUT's suffix -> the format it implies (no suffix: a folder, ``saved_model``).
SUFFIX_FORMATS = {".onnx": "onnx", ".zip": "bioimageio"}
#: The description written beside a folder export (OpenVINO, SavedModel).
METADATA_FILE = "enhance_export.json"
#: Format tag of :data:`METADATA_FILE` and of the ONNX metadata.
METADATA_FORMAT = "enhance-export/1"

#: Papers the exported networks come from, by what the config says.
CITATIONS = {
    "dncnn": {"text": "Zhang, Zuo, Chen, Meng, Zhang. Beyond a Gaussian Denoiser: Residual "
                      "Learning of Deep CNN for Image Denoising. IEEE TIP 2017 (DnCNN).",
              "doi": "10.1109/TIP.2017.2662206"},
    "dae": {"text": "Ronneberger, Fischer, Brox. U-Net: Convolutional Networks for Biomedical "
                    "Image Segmentation. MICCAI 2015 (the U-Net of the denoising autoencoder).",
            "doi": "10.1007/978-3-319-24574-4_28"},
    "gan": {"text": "Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional "
                    "Adversarial Networks. CVPR 2017 (pix2pix).",
            "doi": "10.1109/CVPR.2017.632"},
    "noise_map": {"text": "Zhang, Zuo, Zhang. FFDNet: Toward a Fast and Flexible Solution for "
                          "CNN-Based Image Denoising. IEEE TIP 2018 (the noise-level map input).",
                  "doi": "10.1109/TIP.2018.2839891"},
    "vst": {"text": "Makitalo, Foi. Optimal Inversion of the Generalized Anscombe Transformation "
                    "for Poisson-Gaussian Noise. IEEE TIP 2013.",
            "doi": "10.1109/TIP.2012.2202675"},
}
#: The package's licence (setup.cfg), which the exported weights are distributed under.
LICENSE = "BSD-3-Clause"
DEFAULT_AUTHORS = ("enhance contributors",)
#: Side of the bioimage.io test image (a multiple of every shipped model's size factor).
TEST_IMAGE_SIZE = 128


@dataclass
class ExportResult:
    """What :func:`export_model` wrote."""

    path: Path
    format: str
    model: str
    metadata: dict
    bytes: int = 0
    files: list = field(default_factory=list)

    def summary(self):
        size = f"{self.bytes / 1e6:.1f} MB"
        return f"{self.model} -> {self.path} ({self.format}, {size})"


def infer_format(out):
    """The format implied by OUT: ``.onnx`` -> onnx, ``.zip`` -> bioimageio, no suffix -> saved_model."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    if not suffix or out.is_dir():
        return "saved_model"
    raise EnhanceError(
        f"{out}: cannot tell the format from the suffix {suffix!r} (.onnx -> onnx, .zip -> "
        f"bioimageio, a folder -> saved_model); choose one with --format ({', '.join(FORMATS)})"
    )


def _check_format(fmt):
    if fmt not in FORMATS:
        raise EnhanceError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def _require(module, fmt):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise EnhanceError(
            f"--format {fmt} needs the Python package {module.split('.')[0]!r} ({error}): "
            f"pip install 'enhance[export]'"
        ) from None


# ----------------------------------------------------------------------------------- metadata


def describe_io(model):
    """The exported network's input and output conventions, pre- and post-processing (a dict).

    Channel ``model.channels`` (the second channel of a one-channel model) of a noise-conditioned
    model (``arch_params.noise_map``) is the per-pixel noise-level map in the units of the
    image channels, as :func:`enhance.tasks.noise_level_map` makes it.
    """
    from .tasks import get_task

    task, transform = model.task, model.input_transform
    image_channels = [f"image{c}" if model.channels > 1 else "image" for c in range(model.channels)]
    words = get_task(task).export_io(transform)
    image_text, map_text, pre, post = (words[k] for k in ("image", "noise_level", "pre", "post"))
    channels = {name: image_text for name in image_channels}
    if model.noise_map:
        channels["noise_level"] = map_text
        pre += "; append the noise-level map as the last channel"
    return {
        "format": METADATA_FORMAT,
        "model": model.name,
        "weights_sha256": model.card.get("weights_sha256"),
        "task": task,
        "arch": model.config.get("arch"),
        "input_transform": transform,
        "noise_conditioned": model.noise_map,
        "input": {
            "name": "image",
            "layout": "NHWC (batch, height, width, channel)",
            "dtype": "float32",
            "channels": channels,
            "height_width_multiple_of": model.size_factor,
            "receptive_field": model.receptive_field,
        },
        "output": {
            "name": "output",
            "layout": "NHWC",
            "dtype": "float32",
            "channels": {f"restored{c}" if model.channels > 1 else "restored":
                         "the restored image (before the post-processing)"
                         for c in range(model.channels)},
            "size": "the input's height and width",
        },
        "preprocessing": pre,
        "postprocessing": post,
        "tiling": (f"fully convolutional; tiles need an overlap of {model.receptive_field // 2} "
                   f"pixels (half the receptive field), as enhance run uses"),
    }


# ---------------------------------------------------------------------------------- the writers


def _called(keras_model):
    """Keras exports only a model that has been called: call it once on a small zero batch."""
    import numpy as np

    channels = int(keras_model.inputs[0].shape[-1])
    keras_model(np.zeros((1, 16, 16, channels), np.float32))
    return keras_model


@contextlib.contextmanager
def _quiet_converters():
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _write_onnx(model, path, metadata, *, opset=None):
    """The ONNX graph of ``model`` at ``path`` (a new file): dynamic axes named, metadata set."""
    _require("tf2onnx", "onnx")
    onnx = _require("onnx", "onnx")
    keras_model = _called(model.keras_model)
    try:
        with _quiet_converters():
            keras_model.export(str(path), format="onnx", verbose=False, opset_version=opset)
    except EnhanceError:
        raise
    except Exception as error:  # tf2onnx and Keras raise many kinds
        raise EnhanceError(f"{model.name}: ONNX conversion failed ({type(error).__name__}: {error})") from error
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims[:3], ("batch", "height", "width")):
            dim.dim_param = name
    old = graph.output[0].name
    if old != "output":
        for node in graph.node:
            for i, name in enumerate(node.output):
                if name == old:
                    node.output[i] = "output"
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = "output"
        graph.output[0].name = "output"
    opset_used = max((o.version for o in graph_model.opset_import if o.domain in ("", "ai.onnx")),
                     default=0)
    metadata = {**metadata, "onnx_opset": opset_used}
    graph_model.doc_string = _one_line_description(model)
    onnx.helper.set_model_props(graph_model, {"enhance": json.dumps(metadata, sort_keys=True),
                                              "license": LICENSE})
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))
    return opset_used


def _write_saved_model(model, folder):
    keras_model = _called(model.keras_model)
    try:
        with _quiet_converters():
            keras_model.export(str(folder), format="tf_saved_model", verbose=False)
    except Exception as error:
        raise EnhanceError(f"{model.name}: SavedModel export failed ({type(error).__name__}: {error})") from error


def _write_openvino(model, folder):
    """OpenVINO IR by the converter of the openvino runtime (:func:`enhance.runtime.write_openvino_ir`)."""
    from .runtime import write_openvino_ir

    _require("openvino", "openvino")
    try:
        with _quiet_converters():
            write_openvino_ir(_called(model.keras_model), folder / "model.xml")
    except EnhanceError as error:
        raise EnhanceError(f"{model.name}: {error}") from error


# ------------------------------------------------------------------------------- bioimage.io


def _one_line_description(model):
    card_text = model.card.get("description")
    if card_text:
        return str(card_text)
    arch = model.config.get("arch", "")
    kind = {"dncnn": "DnCNN residual CNN", "dae": "U-Net denoising autoencoder",
            "gan": "pix2pix GAN generator"}.get(arch, arch)
    told = " told the noise level (noise-level map channel)" if model.noise_map else ""
    vst = " through the generalized Anscombe transform" if model.input_transform == "vst" else ""
    from .tasks import get_task

    return (f"{model.name}: {kind}{told} that removes {get_task(model.task).words} "
            f"from medical images{vst} (enhance, task {model.task}).")


def sample_input(model, *, size=TEST_IMAGE_SIZE, seed=0):
    """A degraded phantom and the network input made from it, as enhance run would.

    The clean image is scikit-image's Shepp-Logan phantom (in its wheel; no download) at
    ``size`` x ``size``, degraded by the task's validation preset
    (:attr:`enhance.tasks.Task.validation_preset`) with ``numpy.random.default_rng(seed)``.

    Returns
    -------
    network_input : ndarray of float32, shape (1, size, size, C)
    info : dict
        The degradation and its parameters (recorded in the package's documentation).
    """
    import cv2
    import numpy as np
    from skimage.data import shepp_logan_phantom

    from .tasks import get_task, resolve as resolve_degradation

    clean = cv2.resize(shepp_logan_phantom().astype(np.float32), (size, size),
                       interpolation=cv2.INTER_AREA)
    clean = np.clip(0.1 + 0.8 * clean, 0.0, 1.0).astype(np.float32)  # away from the clip
    task = get_task(model.task)
    preset = task.validation_preset
    params = task.validation_params()
    noisy = resolve_degradation(preset)(clean, np.random.default_rng(seed)).astype(np.float32)
    condition = {**params, "source": "given"}
    transform = task.input_transform(model.input_transform, condition,
                                     exposure=params.get("exposure"))
    planes = [transform.forward(p) for p in [noisy] * model.channels]
    if model.noise_map:
        constant = transform.constant_level(condition)
        planes.append(np.full(noisy.shape, constant, np.float32) if constant is not None
                      else task.noise_level_map(planes[0], params))
    network_input = np.stack(planes, axis=-1)[None].astype(np.float32)
    info = {"clean": f"skimage.data.shepp_logan_phantom() at {size} x {size}, 0.1 + 0.8 x",
            "degradation": preset, "params": params, "seed": seed}
    return network_input, info


def _run_keras(model, network_input):
    import numpy as np

    return np.asarray(model.keras_model(network_input, training=False), dtype=np.float32)


def _zip_folder(folder, path):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())


def _cover(network_input, output, path):
    import cv2
    import numpy as np

    left = network_input[0, ..., 0]
    right = output[0, ..., 0]
    low, high = np.percentile(left, [0.5, 99.5])
    picture = np.concatenate([np.clip((left - low) / max(high - low, 1e-6), 0, 1),
                              np.ones((left.shape[0], 4), np.float32),
                              np.clip(right, 0, 1)], axis=1)
    if not cv2.imwrite(str(path), np.round(picture * 255).astype(np.uint8)):
        raise EnhanceError(f"{path}: could not write the cover")


def _documentation(model, metadata, test_info, max_diff):
    io = metadata
    lines = [f"# {model.name}", "", _one_line_description(model), "",
             "Exported by `enhance export` (the `enhance` package: Keras 3 medical image "
             "denoisers).", "", "## Input", "",
             f"One tensor `input`, axes batch, y, x, channel (NHWC), float32; height and width "
             f"multiples of {model.size_factor}. Channels:", ""]
    for name, text in io["input"]["channels"].items():
        lines.append(f"- `{name}`: {text}")
    lines += ["", f"Pre-processing (not in the network, to do before): {io['preprocessing']}.", "",
              "## Output", "",
              "One tensor `output`, the restored image, same height and width, "
              f"{model.channels} channel(s). Post-processing: {io['postprocessing']}"
              + (" (in the rdf as `clip`)." if model.input_transform != "vst" else "."), "",
              "## Tiling", "", io["tiling"] + "; the rdf gives it as the output's halo.", "",
              "## Test tensors", "",
              f"`test_input.npy`: {test_info['clean']}, degraded by the spec's "
              f"`{test_info['degradation']}` ({json.dumps(test_info['params'], sort_keys=True)}, "
              f"seed {test_info['seed']}), made into the network input as above. "
              "`test_output.npy`: the Keras model's output on it"
              + (", clipped to [0, 1]" if model.input_transform != "vst" else "")
              + f". The ONNX weights reproduce it within {max_diff:.1e} (measured at export).", ""]
    validation = model.card.get("validation") or {}
    results = (validation.get("results") or {}).get("model") or {}
    if "psnr" in results:
        lines += ["## Validation", "",
                  f"On the 8 validation images of its training recipe under `{validation.get('degradation')}`: "
                  f"PSNR {results['psnr']:.2f} dB, SSIM {results.get('ssim', float('nan')):.3f} "
                  f"(best classical method: {validation.get('best_classical')}).", ""]
    if model.card.get("command"):
        lines += ["## Training", "", f"`{model.card['command']}`", ""]
    lines += ["## Licence", "", f"{LICENSE} (the enhance package). The training images' own "
              "licences are listed in the model card (card.json, training_data).", ""]
    return "\n".join(lines)


def _rdf(model, metadata, *, test_shape, opset, tf_version, authors, spec_version):
    halo = model.receptive_field // 2
    step = model.size_factor
    minimum = -(-(2 * halo + 1) // step) * step
    channel_names = list(metadata["input"]["channels"])
    output_names = list(metadata["output"]["channels"])
    citations = [CITATIONS[model.config.get("arch")]] if model.config.get("arch") in CITATIONS else []
    if model.noise_map:
        citations.append(CITATIONS["noise_map"])
    if model.input_transform == "vst":
        citations.append(CITATIONS["vst"])
    space = [{"type": "space", "id": axis, "size": {"min": minimum, "step": step}}
             for axis in ("y", "x")]
    postprocessing = ([{"id": "clip", "kwargs": {"min": 0.0, "max": 1.0}}]
                      if model.input_transform != "vst" else [])
    return {
        "format_version": spec_version,
        "type": "model",
        "name": f"enhance {model.name}",
        "description": _one_line_description(model)[:1024],
        "authors": [{"name": name} for name in authors],
        "cite": citations,
        "license": LICENSE,
        "documentation": {"source": "README.md"},
        "covers": [{"source": "cover.png"}],
        "tags": ["denoising", "restoration", "2d", "medical-imaging", model.task,
                 model.config.get("arch", "")],
        "version": "1",
        "inputs": [{
            "id": "input",
            "description": metadata["preprocessing"][:128],
            "axes": [{"type": "batch"}, *space,
                     {"type": "channel", "channel_names": channel_names}],
            "test_tensor": {"source": "test_input.npy"},
            "sample_tensor": {"source": "sample_input.tif"},
            "data": {"type": "float32"},
        }],
        "outputs": [{
            "id": "output",
            "description": f"restored; post-processing: {metadata['postprocessing']}"[:128],
            "axes": [{"type": "batch"},
                     *({"type": "space", "id": axis, "halo": halo,
                        "size": {"tensor_id": "input", "axis_id": axis}} for axis in ("y", "x")),
                     {"type": "channel", "channel_names": output_names}],
            "test_tensor": {"source": "test_output.npy"},
            "sample_tensor": {"source": "sample_output.tif"},
            "data": {"type": "float32"},
            "postprocessing": postprocessing,
        }],
        "weights": {
            "onnx": {"source": "weights.onnx", "opset_version": int(opset),
                     "parent": "tensorflow_saved_model_bundle"},
            "tensorflow_saved_model_bundle": {"source": "tf_saved_model.zip",
                                              "tensorflow_version": tf_version},
        },
        "config": {"enhance": {**metadata, "test_shape": list(test_shape)}},
    }


def validate_bioimageio(source, *, perform_io_checks=True):
    """Validate a bioimage.io package (zip or rdf.yaml) with ``bioimageio.spec``; return it.

    Raises :class:`~enhance.errors.EnhanceError` with the validator's reason when invalid.
    """
    spec = _require("bioimageio.spec", "bioimageio")
    from bioimageio.spec import InvalidDescr

    with _quiet_converters():
        description = spec.load_description(str(source), perform_io_checks=perform_io_checks)
    if isinstance(description, InvalidDescr):
        summary = description.validation_summary
        errors = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in summary.errors[:5])
        raise EnhanceError(f"{source}: not a valid bioimage.io model ({errors or summary.status})")
    return description


def _write_bioimageio(model, staging, metadata, *, opset, authors):
    import numpy as np

    spec = _require("bioimageio.spec", "bioimageio")
    _require("onnxruntime", "bioimageio")
    import onnxruntime
    import tensorflow as tf
    from bioimageio.spec.model.v0_5 import ModelDescr

    opset_used = _write_onnx(model, staging / "weights.onnx", metadata, opset=opset)
    saved = staging / ".saved_model"
    _write_saved_model(model, saved)
    _zip_folder(saved, staging / "tf_saved_model.zip")
    shutil.rmtree(saved)
    network_input, test_info = sample_input(model)
    output = _run_keras(model, network_input)
    if model.input_transform != "vst":
        output = np.clip(output, 0.0, 1.0)
    session = onnxruntime.InferenceSession(str(staging / "weights.onnx"),
                                           providers=["CPUExecutionProvider"])
    onnx_output = session.run(None, {session.get_inputs()[0].name: network_input})[0]
    if model.input_transform != "vst":
        onnx_output = np.clip(onnx_output, 0.0, 1.0)
    max_diff = float(np.max(np.abs(onnx_output - output)))
    if max_diff > 1e-3:
        raise EnhanceError(f"{model.name}: the ONNX weights differ from Keras by {max_diff:.2g} "
                           "on the test image")
    np.save(staging / "test_input.npy", network_input)
    np.save(staging / "test_output.npy", output)
    _cover(network_input, output, staging / "cover.png")
    import tifffile

    # the same tensors as images (y, x, channel) for viewers: the rdf's sample tensors
    tifffile.imwrite(staging / "sample_input.tif", network_input[0])
    tifffile.imwrite(staging / "sample_output.tif", output[0])
    (staging / "README.md").write_text(_documentation(model, metadata, test_info, max_diff),
                                       encoding="utf-8")
    rdf = _rdf(model, {**metadata, "onnx_max_abs_diff": max_diff},
               test_shape=network_input.shape, opset=opset_used,
               tf_version=tf.__version__.split("-")[0].split("+")[0], authors=authors,
               spec_version=ModelDescr.implemented_format_version)
    spec.utils.write_yaml(rdf, staging / "rdf.yaml")
    validate_bioimageio(staging / "rdf.yaml", perform_io_checks=True)
    return max_diff


# --------------------------------------------------------------------------------- the export


def _staging_dir(out):
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(staging, 0o777 & ~mask)  # mkdtemp makes it private; the export is an ordinary folder
    return staging


def _check_out(out, fmt, overwrite):
    folder_format = fmt in ("saved_model", "openvino")
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise EnhanceError(f"{out} exists; --overwrite replaces it")
    if folder_format:
        if not out.is_dir():
            raise EnhanceError(f"{out} is a file; a {fmt} export is a folder")
        if any(out.iterdir()) and not (out / METADATA_FILE).is_file():
            raise EnhanceError(f"{out} is a folder that is not an enhance export (no "
                               f"{METADATA_FILE}); it is left alone: choose another OUT")
    elif out.is_dir():
        raise EnhanceError(f"{out} is a folder; a {fmt} export is a file")


def export_model(model, out, *, format=None, overwrite=False, opset=None, authors=None):
    """Export an enhancer to ONNX, OpenVINO IR, a TensorFlow SavedModel or a bioimage.io package.

    Parameters
    ----------
    model : str or Path or LoadedModel
        A shipped model's name, a model directory (:func:`enhance.shipped.resolve_model`
        rules, as ``enhance run --model``) or a loaded model.
    out : str or Path
        The file (onnx, bioimageio) or folder (saved_model, openvino) to write.
    format : str, optional
        One of :data:`FORMATS`; default :func:`infer_format` (``.onnx`` -> onnx, ``.zip`` ->
        bioimageio, a folder -> saved_model).
    overwrite : bool, optional
        Replace an existing OUT (a folder only if it is an earlier export or empty).
    opset : int, optional
        ONNX opset (default: the converter's).
    authors : list of str, optional
        The bioimage.io package's authors (default :data:`DEFAULT_AUTHORS`).

    Returns
    -------
    ExportResult

    Raises
    ------
    EnhanceError
        ModelError for a bad MODEL; EnhanceError for an unknown format, an existing OUT, a
        missing optional package or a failed conversion. Nothing is left at OUT then.
    """
    from .io.atomic import atomic_save, replace_folder
    from .modeldir import LoadedModel, load_model_dir
    from .shipped import resolve_model

    out = Path(out)
    fmt = _check_format(format) if format is not None else infer_format(out)
    _check_out(out, fmt, overwrite)
    if not isinstance(model, LoadedModel):
        model = load_model_dir(resolve_model(model, kind="enhancer"))
    elif model.runtime != "keras" and model.path is not None:  # loaded on OpenVINO: the Keras one
        model = load_model_dir(model.path)
    metadata = describe_io(model)
    if fmt == "onnx":
        state = {}

        def save(tmp):
            state["opset"] = _write_onnx(model, tmp, metadata, opset=opset)

        atomic_save(out, save, suffix=".onnx")
        metadata = {**metadata, "onnx_opset": state["opset"]}
        files = [out]
    elif fmt == "bioimageio":
        staging = _staging_dir(out)
        try:
            max_diff = _write_bioimageio(model, staging, metadata, opset=opset,
                                         authors=list(authors or DEFAULT_AUTHORS))
            atomic_save(out, lambda tmp: _zip_folder(staging, tmp), suffix=".zip")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        metadata = {**metadata, "onnx_max_abs_diff": max_diff}
        files = [out]
    else:
        staging = _staging_dir(out)
        try:
            if fmt == "saved_model":
                _write_saved_model(model, staging)
            else:
                _write_openvino(model, staging)
            from .io.atomic import atomic_write_json

            atomic_write_json(staging / METADATA_FILE, {**metadata, "export_format": fmt})
            replace_folder(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        files = sorted(p for p in out.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in files)
    return ExportResult(out, fmt, model.name, metadata, size, files)
