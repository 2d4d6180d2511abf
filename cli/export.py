"""``enhance export``: write a model for other runtimes (ONNX, OpenVINO, SavedModel, bioimage.io)."""

import click

from ..export import FORMATS
from .common import library_errors


@click.command()
@click.argument("model")
@click.argument("out", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Default from OUT: a .onnx file -> onnx, a .zip file -> bioimageio, a folder "
                   "(no suffix) -> saved_model; openvino writes a folder (model.xml, model.bin).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing OUT (a folder only if it is an earlier export).")
@click.option("--opset", type=click.IntRange(min=7), default=None,
              help="ONNX opset (default: the converter's).")
@click.option("--author", "authors", multiple=True,
              help="bioimageio: an author of the package (repeatable; default 'enhance contributors').")
def export(model, out, fmt, overwrite, opset, authors):
    """Export MODEL (a shipped name or a model directory, as enhance run --model) to OUT.

    \b
    onnx         one .onnx file: input 'image', output 'output', NHWC float32 with dynamic
                 batch, height and width (ONNX Runtime, TensorRT, OpenCV DNN, ...)
    openvino     a folder with OpenVINO IR model.xml / model.bin (float32 weights)
    saved_model  a TensorFlow SavedModel folder (TF Serving, TFLite converters, Java)
    bioimageio   a bioimage.io model package .zip (rdf.yaml, ONNX and SavedModel weights, test
                 tensors): for deepImageJ and bioimageio.core

    The network alone is exported. Its input channels are the image, in [0, 1] (a low-light
    model's divided by the exposure), then for a noise-conditioned model the per-pixel
    noise-level map in the same units; the output is clipped to [0, 1] afterwards. The ONNX
    metadata (key 'enhance'), enhance_export.json of a folder and the package's rdf.yaml and
    README.md say so for each model. Needs pip install 'enhance[export]'.
    """
    from ..export import export_model

    with library_errors():
        result = export_model(model, out, format=fmt, overwrite=overwrite, opset=opset,
                              authors=list(authors) or None)
    click.echo(f"exported {result.summary()}")
    channels = ", ".join(result.metadata["input"]["channels"])
    click.echo(f"input: NHWC float32, channels {channels}; height and width multiples of "
               f"{result.metadata['input']['height_width_multiple_of']}; then "
               f"{result.metadata['postprocessing']}")
