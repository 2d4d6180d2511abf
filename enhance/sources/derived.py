"""The derived instance stored back into a PACS: the folder run's DICOM output, annotated.

``enhance run`` writes each DICOM output as a derived image (:func:`enhance.io.dicom.write_dicom`:
new SOP Instance UID and one new Series Instance UID per source series, ImageType DERIVED,
SourceImageSequence to the source instance, DerivationDescription naming the model). Before it is
stored, :func:`prepare` gives it what a PACS shows a reader: ImageType DERIVED\\SECONDARY (the
folder run keeps the source's second value), a new SeriesNumber (chosen by the
store, :mod:`enhance.sources.store`), a SeriesDescription that says it was enhanced and by which
model, and the weights' full sha256 in DerivationDescription. The pixels and UIDs stay those of
the folder run; the output in OUT is rewritten (atomically) so that it is what was stored.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["series_description", "derivation", "prepare", "is_dicom_output"]

#: SeriesDescription is a DICOM LO: at most 64 characters.
_LO = 64


def series_description(source_description, model):
    """``'<source description> (enhanced, <model>)'``, the source's part shortened to fit 64
    characters; ``'enhanced with <model>'`` when the source has none."""
    suffix = f"(enhanced, {model})"
    source_description = (source_description or "").strip()
    if not source_description:
        return f"enhanced with {model}"[:_LO]
    room = _LO - len(suffix) - 1
    if room < 8:
        return suffix[:_LO]
    return f"{source_description[:room].rstrip()} {suffix}"


def derivation(text, sha256):
    """The folder run's DerivationDescription with the weights' full sha256 (it names a
    12-digit prefix)."""
    full = f"(weights sha256 {sha256})"
    if full in text:
        return text
    new, count = re.subn(r"\(sha256 [0-9a-f]{6,64}\)", full, text)
    return (new if count else f"{text} {full}")[:1024]


def is_dicom_output(path):
    """Whether ``path`` is a DICOM file (what :func:`prepare` can store)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def prepare(target, *, source_description, model, sha256, series_number):
    """Give the output ``target`` its ImageType, SeriesNumber, SeriesDescription and full
    derivation.

    Rewrites ``target`` (through :mod:`enhance.io.atomic`) only when a value changes, so that a
    second call is free and the output in OUT is byte for byte what was stored.

    Returns
    -------
    dataset : pydicom.dataset.Dataset
    data : bytes
        The instance to store: ``target``'s bytes.
    """
    import io

    import pydicom

    from ..io.atomic import atomic_write

    data = Path(target).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    image_type = ds.get("ImageType")
    image_type = ([] if image_type in (None, "") else
                  [str(image_type)] if isinstance(image_type, str) else [str(v) for v in image_type])
    image_type = (image_type + ["", ""])[:max(2, len(image_type))]
    image_type[:2] = ["DERIVED", "SECONDARY"]  # made after the examination, from its images
    wanted = {
        "ImageType": image_type,
        "SeriesNumber": int(series_number),
        "SeriesDescription": series_description(source_description, model),
        "DerivationDescription": derivation(str(ds.get("DerivationDescription", "")), sha256),
    }
    changed = False
    for keyword, new in wanted.items():
        old = ds.get(keyword)
        if keyword == "ImageType":
            old = [] if old in (None, "") else [str(old)] if isinstance(old, str) else [str(v) for v in old]
        elif old not in (None, ""):
            old = int(old) if keyword == "SeriesNumber" else str(old)
        if old != new:
            setattr(ds, keyword, new)
            changed = True
    if changed:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        data = buffer.getvalue()
        with atomic_write(target) as fh:
            fh.write(data)
    return ds, data
