"""The outputs of the folder jobs (``run``, ``degrade``, ``denoise``): where each input's output
goes, how it is written (in the input's own format, dtype and header, or converted), and what the
manifest notes about how the input was read. Used by :mod:`enhance.pipeline` and
:mod:`enhance.jobs` alike; :mod:`enhance.batch` runs the jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import batch
from .errors import EnhanceError
from .names import OUTPUT_FORMATS

__all__ = ["SUFFIXES", "output_namer", "write_output", "deidentifier", "redactor", "read_notes"]

#: Each output format of :data:`enhance.names.OUTPUT_FORMATS` -> (suffix for 2-D images, for
#: stacks); ``keep`` keeps the input's name.
SUFFIXES = {
    "png16": (".png", ".tif"),
    "tiff16": (".tif", ".tif"),
    "npy": (".npy", ".npy"),
    "keep": (None, None),
}


def output_namer(out_dir, output_format, *, pseudonyms=None):
    """``output_for(input_file) -> Path`` for a folder job writing ``output_format``.

    ``pseudonyms`` (an :class:`enhance.io.deid.Deidentifier`, under ``--anonymize``): each
    output is ``OUT/anon-<16 hex digits>.<ext>`` (:meth:`~enhance.io.deid.Deidentifier.file_name`,
    a keyed hash of the input's relative path), so that no input name or folder reaches OUT.
    """
    if output_format not in SUFFIXES:
        raise EnhanceError(
            f"unknown output format {output_format!r}; known: {', '.join(OUTPUT_FORMATS)}"
        )
    suffix_2d, suffix_stack = SUFFIXES[output_format]

    def output_for(item):
        relpath = item.relpath if pseudonyms is None else pseudonyms.file_name(item.relpath)
        if suffix_2d is None:
            return batch.output_path(out_dir, relpath)
        # stacks are only known once read; a .tif keeps pages, so choose by input kind
        multi = item.path.name.lower().endswith((".nii", ".nii.gz"))
        return batch.output_path(out_dir, relpath, suffix=suffix_stack if multi else suffix_2d)

    return output_for


def write_output(image, pixels, target, output_format, *, derivation=None, anonymize=None):
    """Write ``pixels`` restored from ``image`` to ``target`` in ``output_format`` (atomically).

    ``anonymize`` (an :class:`enhance.io.deid.Deidentifier`) de-identifies DICOM outputs; the
    other formats carry no header data.

    Raises
    ------
    UnwritableImage
        Naming the input when ``keep`` cannot write a file whose name and content disagree
        (a PNG named ``.dcm``: a DICOM output needs a DICOM header).
    """
    from .errors import UnwritableImage
    from .io import write_image
    from .io.formats import FORMAT_NAMES, format_from_name

    padding = image.meta.padding
    if padding is not None and np.shape(pixels) == padding.mask.shape:
        # padding and NoData hold no result: their fill (converted outputs), their own stored
        # values (outputs in the input's format: io.image.WritePlan.restore_padding)
        pixels = padding.fill_pixels(np.array(pixels, dtype=np.float32))
    if output_format == "keep":
        named = format_from_name(target)
        try:
            write_image(target, pixels, like=image, derivation=derivation, anonymize=anonymize)
        except UnwritableImage as error:
            if named is None or named == image.meta.format or image.meta.path is None:
                raise
            suffix = Path(image.meta.path).suffix
            raise UnwritableImage(
                image.meta.path, f"a {FORMAT_NAMES[image.meta.format]} file named '{suffix}': "
                f"its output cannot be {FORMAT_NAMES[named]} ({error.cause}); rename it, or "
                "choose another output format"
            ) from None
    elif output_format == "npy":
        write_image(target, pixels)
    else:
        write_image(target, pixels, dtype=np.uint16)


def deidentifier(key_file=None, *, out_dir, dry_run=False):
    """The :class:`enhance.io.deid.Deidentifier` of the key in ``key_file`` (default: the user's,
    :func:`enhance.io.deid.default_key_file`), never one in ``out_dir``
    (:meth:`~enhance.io.deid.Deidentifier.from_key_file`); a dry run creates no key."""
    from .io.deid import Deidentifier

    return Deidentifier.from_key_file(key_file, out_dir=out_dir, create=not dry_run)


def redactor(deid):
    """``redact(record)`` for :func:`enhance.batch.run_batch` under ``--anonymize``: the manifest
    names each input by a keyed pseudonym (``anon:`` and 16 hex digits), its error names it so
    too, and the libraries' warnings (which may quote header values) are only counted."""

    def redact(record):
        record = dict(record)
        original = str(record.get("input", ""))
        alias = "anon:" + deid.file_name(original)[len("anon-"):].split(".")[0]
        record["input"] = alias
        if record.get("error"):
            error = str(record["error"]).replace(original, alias)
            name = original.replace("\\", "/").rsplit("/", 1)[-1]
            record["error"] = error.replace(name, alias) if name else error
        if record.get("warnings"):
            record["warnings"] = [f"{len(record['warnings'])} warning(s) not recorded "
                                  "(--anonymize: they may quote header values)"]
        return record

    return redact


def read_notes(image):
    """What the manifest records about how a file was read: its float value map and its
    padding / NoData pixels (how many, why; left out of the range and the processing, written
    back exactly), if any."""
    note = image.meta.extra.get("value_map")
    notes = {"value_map": note} if note else {}
    if image.meta.padding is not None:
        notes["padding"] = image.meta.padding.as_dict()
    return notes
