"""A before/after contact sheet of a folder run: ``OUT/preview.png`` of ``enhance run``.

One row per chosen image: the input and the output side by side (and the clean reference when
there is one), in colour for colour images and grey for the others, on one fixed display scale (pixel value 0 is black, 1 is white, so
input and output are compared as they are), labelled with the file's path; where a reference
exists the label gives PSNR before and after (``data_range=1.0``).

**References.** An input ``.../degraded/NAME.ext`` has a reference when a file with the same
stem exists at the same place under a sibling folder ``reference`` (``.../reference/NAME.*``),
as in ``samples/``. Such a reference is not shown as a row of its own.

**Which rows.** The rows that show the change: inputs with a reference first, then the others,
each group ordered by how much the model changed the image (mean absolute difference between
input and output over the pixels that are not black, see :func:`_change`; the most changed
first, so that the first row is never a faint one), up to ``max_rows``. To bound the cost
on a large run, at most :data:`MAX_CANDIDATES` files (spread evenly over the sorted list) are
looked at, and files over :data:`MAX_PREVIEW_PIXELS` are passed over. Stacks show their middle
frame; colour images (three channels or more) their first three channels as RGB.

Only NumPy and OpenCV (no GUI, no matplotlib); the PNG is written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EnhanceError
from .io.capture import captured_warnings
from .io.formats import split_extension
from .names import PREVIEW_NAME

__all__ = ["PreviewRow", "find_reference", "choose_rows", "contact_sheet", "write_preview",
           "PREVIEW_NAME"]

#: At most this many files are read to choose the rows.
MAX_CANDIDATES = 48
#: Files with more pixels (height x width x frames) than this are not read for the preview.
MAX_PREVIEW_PIXELS = 16 * 2**20
#: Height of every panel on the sheet, in pixels (small images are enlarged without smoothing).
PANEL_HEIGHT = 256

_BACKGROUND = 40
_GAP = 8


@dataclass
class PreviewRow:
    """One row of the sheet: what was shown and the scores in its label."""

    label: str
    input: np.ndarray  # (H, W) or (H, W, 3) RGB, float in [0, 1]: the frame shown
    output: np.ndarray
    reference: np.ndarray | None = None
    reference_label: str = ""
    psnr_before: float | None = None
    psnr_after: float | None = None
    change: float = 0.0  # mean |output - input| where the input is not black (see _change)


def find_reference(path):
    """The reference of ``.../degraded/.../NAME.ext``: ``.../reference/.../NAME.*``, or None.

    The nearest enclosing folder named ``degraded`` is replaced by ``reference``; exactly one
    readable image of the same stem must be there.
    """
    from .io import is_supported

    path = Path(path)
    parts = path.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "degraded":
            folder = Path(*parts[:i], "reference", *parts[i + 1 : -1])
            stem = split_extension(path.name)[0]
            if not folder.is_dir():
                return None
            found = [p for p in folder.iterdir()
                     if p.is_file() and split_extension(p.name)[0] == stem and is_supported(p)]
            return found[0] if len(found) == 1 else None
    return None


def _display_frame(pixels, is_stack):
    """The frame a row shows: a stack's middle frame; a colour image's RGB (H, W, 3), another
    multi-channel image's mean (H, W)."""
    frame = pixels[len(pixels) // 2] if is_stack else pixels
    frame = np.asarray(frame, dtype=np.float32)
    if frame.ndim == 3:
        frame = frame[..., :3] if frame.shape[-1] >= 3 else frame.mean(axis=-1)
    return np.clip(frame, 0.0, 1.0)


#: Pixels at or below this value count as background for :func:`_change`.
BACKGROUND_LEVEL = 0.05


def _change(before, after):
    """Mean ``|after - before|`` over the pixels where ``before`` is above
    :data:`BACKGROUND_LEVEL` (all pixels if none is): how much the model changed the parts
    of the image that hold signal, whatever the size of a black background."""
    signal = before > BACKGROUND_LEVEL
    difference = np.abs(after - before)
    if before.ndim == 3:  # colour: a pixel holds signal where any channel does
        signal, difference = signal.any(axis=-1), difference.mean(axis=-1)
    return float(difference[signal].mean() if signal.any() else difference.mean())


def _read_pair(input_path, output_path):
    """Input and output pixels in the input's [0, 1] scale (a derived DICOM maps its own range)."""
    from .io import read_image
    from .jobs import in_scale_of

    image = read_image(input_path, max_pixels=MAX_PREVIEW_PIXELS)
    restored = read_image(output_path, max_pixels=MAX_PREVIEW_PIXELS)
    out = np.asarray(in_scale_of(image, restored), dtype=np.float32)
    if out.shape != image.pixels.shape:
        raise EnhanceError(f"{output_path}: shape {out.shape} differs from its input's")
    return image, out


def _row(input_path, output_path, label):
    from .metrics import psnr

    image, out = _read_pair(input_path, output_path)
    stack = image.meta.is_stack
    if stack:
        label += f" (frame {len(image.pixels) // 2 + 1} of {len(image.pixels)})"
    row = PreviewRow(label, _display_frame(image.pixels, stack), _display_frame(out, stack))
    row.change = _change(row.input, row.output)
    reference = find_reference(input_path)
    if reference is not None:
        from .io import read_image

        try:
            ref = read_image(reference, max_pixels=MAX_PREVIEW_PIXELS)
        except EnhanceError:
            return row
        if ref.pixels.shape == image.pixels.shape:
            row.reference = _display_frame(ref.pixels, ref.meta.is_stack)
            row.reference_label = reference.name
            row.psnr_before = float(psnr(ref.pixels, image.pixels, data_range=1.0))
            row.psnr_after = float(psnr(ref.pixels, out, data_range=1.0))
    return row


def choose_rows(pairs, *, max_rows=6, root=None):
    """Read the chosen (input, output) pairs and return their :class:`PreviewRow`.

    Parameters
    ----------
    pairs : list of (input path, output path)
        Finished files of a run (sorted by input path).
    max_rows : int
    root : Path, optional
        Labels are paths relative to it (else the file name).

    Returns
    -------
    list of PreviewRow
        Inputs with a reference first, then the others, each group the most changed first
        (:func:`_change`). Files that cannot be read (or are too large for a preview) are
        passed over.
    """
    pairs = [(Path(i), Path(o)) for i, o in pairs]
    references = {r.resolve() for r in (find_reference(i) for i, _ in pairs) if r is not None}
    pairs = [(i, o) for i, o in pairs if i.resolve() not in references]
    with_ref = [(i, o) for i, o in pairs if find_reference(i) is not None]
    others = [(i, o) for i, o in pairs if find_reference(i) is None]
    if len(others) > MAX_CANDIDATES:
        picks = np.unique(np.linspace(0, len(others) - 1, MAX_CANDIDATES).round().astype(int))
        others = [others[p] for p in picks]

    def label(path):
        if root is not None:
            try:
                return path.resolve().relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                pass
        return path.name

    def read(candidates):
        rows = []
        for i, o in candidates:
            try:
                rows.append(_row(i, o, label(i)))
            except (EnhanceError, OSError, MemoryError, ValueError):
                continue
        return rows

    chosen = sorted(read(with_ref[:MAX_CANDIDATES]), key=lambda r: -r.change)
    rest = sorted(read(others), key=lambda r: -r.change)
    return (chosen + rest)[:max(0, max_rows)]


def _panel(frame, height=PANEL_HEIGHT, *, colour=False):
    """A panel ``height`` pixels tall, 8-bit; (h, w, 3) RGB when ``colour`` (grey frames too)."""
    import cv2

    h, w = frame.shape[:2]
    if colour and frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    width = max(1, round(w * height / h))
    interpolation = cv2.INTER_AREA if height < h else cv2.INTER_NEAREST
    scaled = cv2.resize(frame, (width, height), interpolation=interpolation)
    return np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def _text_width(text, scale):
    import cv2

    (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    return width


def _put(canvas, text, x, y, scale=0.5, value=235):
    import cv2

    colour = (int(value),) * (3 if canvas.ndim == 3 else 1)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _row_label(row):
    text = row.label
    if row.psnr_before is not None:
        text += f"   PSNR {row.psnr_before:.2f} -> {row.psnr_after:.2f} dB vs {row.reference_label}"
    else:
        text += f"   mean change {row.change * 255:.1f}/255"
    return text


def contact_sheet(rows, *, title=""):
    """Draw rows as one 8-bit image: a title, then per row a label over its panels.

    Each row is ``input | output`` (``| reference`` when there is one), every panel
    :data:`PANEL_HEIGHT` pixels tall. The sheet is grey (H, W) when every row is, else RGB
    (H, W, 3), grey rows drawn grey in it.
    """
    if not rows:
        raise EnhanceError("nothing to preview")
    header, label_h = 44, 24
    colour = any(row.input.ndim == 3 for row in rows)
    blocks = []
    for row in rows:
        panels = [_panel(row.input, colour=colour), _panel(row.output, colour=colour)]
        if row.reference is not None:
            panels.append(_panel(row.reference, colour=colour))
        blocks.append((row, panels))
    width = max(
        [sum(p.shape[1] for p in panels) + _GAP * (len(panels) + 1) for _, panels in blocks]
        + [_text_width(_row_label(row), 0.5) + 2 * _GAP for row, _ in blocks]
        + [_text_width(title, 0.55) + 2 * _GAP]
    )
    height = header + len(blocks) * (label_h + PANEL_HEIGHT + _GAP)
    canvas = np.full((height, width, 3) if colour else (height, width), _BACKGROUND,
                     dtype=np.uint8)
    _put(canvas, title, _GAP, 18, scale=0.55)
    _put(canvas, "each row: input | output | reference (when there is one); 0 black, 1 white",
         _GAP, 36, scale=0.4, value=180)
    y = header
    for row, panels in blocks:
        _put(canvas, _row_label(row), _GAP, y + 17)
        y += label_h
        x = _GAP
        for panel in panels:
            canvas[y : y + PANEL_HEIGHT, x : x + panel.shape[1]] = panel
            x += panel.shape[1] + _GAP
        y += PANEL_HEIGHT + _GAP
    return canvas


def write_preview(path, pairs, *, title="", max_rows=6, root=None):
    """Choose rows (:func:`choose_rows`), draw the sheet and write it atomically as a PNG.

    Returns
    -------
    list of PreviewRow
        The rows drawn (empty: nothing could be shown and nothing was written).
    """
    import cv2

    from .io.atomic import atomic_write

    with captured_warnings():  # a reader's warnings (libpng, pydicom) stay off the terminal
        rows = choose_rows(pairs, max_rows=max_rows, root=root)
    if not rows:
        return rows
    sheet = contact_sheet(rows, title=title)
    if sheet.ndim == 3:
        sheet = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR
    ok, encoded = cv2.imencode(".png", sheet)
    if not ok:
        raise EnhanceError(f"{path}: the preview could not be encoded as PNG")
    with atomic_write(path) as f:
        f.write(encoded.tobytes())
    return rows
