"""The files of a benchmark report: ``results.csv``, ``summary.md`` and ``report.html``.

* ``results.csv`` -- one row per image x degradation x method: PSNR, SSIM (``data_range=1.0``),
  seconds of the restoration and megapixels per second (empty for the ``noisy`` row, which is not
  a computation), plus the seed and the error of a failed cell.
* ``summary.md`` -- per degradation, the table of :func:`enhance.bench.stats.summarize`: mean
  PSNR and SSIM with 95% intervals, the paired PSNR difference to the best classical method with
  its bootstrap interval, speed; the best method (highest mean PSNR) in bold.
* ``report.html`` -- self-contained (no link to fetch: every picture is an embedded base64 PNG):
  the same tables, per degradation three plots (PSNR against time per image with the
  speed/quality frontier, per-image PSNR gains over the noisy input, the distribution of SSIM)
  and image grids for a few images (clean, noisy, every method; a zoomed crop; the residual
  ``output - clean``).

Plots use Matplotlib's object API with the Agg canvas (no pyplot, no global backend switch).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

from .grids import order_for_task

__all__ = ["write_report", "write_csv", "render_markdown", "render_html", "describe_degradation",
           "method_glossary"]

CSV_COLUMNS = ("image", "degradation", "method", "kind", "seed", "height", "width",
               "psnr", "ssim", "seconds", "megapixels_per_s", "error")

DASH = "–"


def _write_text(path, text):
    from ..io.atomic import atomic_write

    with atomic_write(path) as stream:
        stream.write(text.encode("utf-8"))


def _num(value, digits, *, signed=False):
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ci(interval, digits, *, signed=False):
    if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return DASH
    return f"[{_num(interval.low, digits, signed=signed)}, {_num(interval.high, digits, signed=signed)}]"


def _speed(value, digits=2):
    if value is None or not math.isfinite(value):
        return DASH
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}" if value < 0.1 else f"{value:.{digits}f}"


def describe_degradation(degradation):
    """A short human description of a degradation and its parameters (its task's words)."""
    from ..tasks import get_task

    params = {**get_task(degradation.task).defaults(), **degradation.params}
    return get_task(degradation.task).describe_degradation(params)


# ---------------------------------------------------------------------------------------------
# results.csv


def _csv_float(value):
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def write_csv(result, path):
    """One row per cell, in plan order (degradation, image, method)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in result.cells:
        writer.writerow([
            c.image, c.degradation, c.method, c.kind, json.dumps(c.seed), c.height, c.width,
            _csv_float(c.psnr), _csv_float(c.ssim),
            "" if c.kind == "noisy" else _csv_float(c.seconds),
            "" if c.kind == "noisy" else _csv_float(c.megapixels_per_s),
            c.error or "",
        ])
    _write_text(path, buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# tables


def table_cells(rows):
    """Header and body of one degradation's table: ``(cells, bold column indices)`` per row.

    The best row (by mean PSNR) has its method and PSNR in bold; the SSIM in bold is the highest
    SSIM, which may be another row's.
    """
    ref = next((r.reference for r in rows if r.reference), None)
    header = ["method", "kind", "n", "PSNR (dB)", "95% CI", "SSIM", "95% CI",
              f"ΔPSNR vs {ref} (dB)" if ref else "ΔPSNR vs best classical", "95% CI (bootstrap)",
              "s / image", "MP/s"]
    body = []
    for r in rows:
        line = [
            r.method + (f" ({r.failed} failed)" if r.failed else ""),
            r.kind,
            str(r.n),
            _num(r.psnr.mean, 2),
            _ci(r.psnr, 2),
            _num(r.ssim.mean, 4),
            _ci(r.ssim, 4),
            _num(r.diff.mean if r.diff else None, 2, signed=True),
            _ci(r.diff, 2, signed=True),
            _speed(r.seconds, 3) if r.kind != "noisy" else DASH,
            _speed(r.megapixels_per_s) if r.kind != "noisy" else DASH,
        ]
        bold = (BEST_ROW_BOLD if r.best else ()) + ((SSIM_COLUMN,) if r.best_ssim else ())
        body.append((line, bold))
    return header, body


BEST_ROW_BOLD = (0, 3)  # method and PSNR of the best row
SSIM_COLUMN = 5


def _markdown_table(rows):
    header, body = table_cells(rows)
    align = ["---", "---", "---:"] + ["---:"] * (len(header) - 3)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for line, bold in body:
        line = [f"**{v}**" if i in bold else v for i, v in enumerate(line)]
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in line) + " |")
    return "\n".join(lines)


def _preamble(result):
    n = len(result.references)
    seeds = ("default_rng(1000 d + i)" if result.seed is None
             else f"default_rng([{result.seed}, d, i])")
    lines = [
        f"Data: `{result.data}` — {n} image{'s' if n != 1 else ''} (clean references; colour "
        "converted to grayscale by luminance, stacks: first frame). Scores: PSNR and SSIM with "
        "data_range = 1.0 against the clean reference; 95% intervals: Student t for means, "
        "percentile bootstrap (10 000 resamples) for paired differences over the same images.",
        f"Seeds: {seeds}, d = the degradation's position in the spec's benchmark list, i = the "
        "image's position in the listing sorted by relative path.",
        "`noisy` is the degraded input, unchanged. Speed: the restoration alone, one process "
        "per cell. The best method (highest mean PSNR) is in bold.",
        f"Cells: {len(result.cells)} ({result.computed} computed in this run, "
        f"{result.from_cache} from the cache).",
    ]
    for relpath, reason in result.skipped:
        lines.append(f"Skipped `{relpath}`: {reason}")
    for note in result.notes:
        if not note.startswith("skipped "):
            lines.append(f"Note: {note}")
    return lines


#: What each architecture of a model directory is, for the glossary.
ARCH_NAMES = {
    "dncnn": "DnCNN: a plain residual CNN (Zhang et al. 2017)",
    "dae": "denoising U-Net (convolutional autoencoder with skips)",
    "gan": "U-Net generator trained adversarially with an L1 term (pix2pix-style)",
}


def method_glossary(result):
    """``[(name, kind, description)]`` of every method of the report, in the tables' order."""
    from ..baselines import BASELINES

    rows = []
    for m in result.methods:
        if m.kind == "noisy":
            text = "the degraded input, unchanged (the score to beat)"
        elif m.kind == "classical":
            entry = BASELINES.get(m.name)
            text = entry.description if entry is not None else "classical method"
        else:
            text = "Keras model"
            try:
                from ..shipped import read_model_info

                info = read_model_info(m.path)
                card, arch = info["card"], info["arch"]
                text = ARCH_NAMES.get(arch, arch or "Keras model")
                if (info["config"].get("arch_params") or {}).get("residual"):
                    text += ", residual (predicts the noise)"
                steps = card.get("steps_done") or card.get("steps")
                text += f"; trained for {info['task']}" + (f", {steps} steps" if steps else "")
                if card.get("derived_from"):
                    text += f"; derived from {card['derived_from']}"
            except Exception:  # noqa: BLE001 - a glossary line never fails the report
                pass
            text += f" ({m.path})"
        rows.append((m.name, m.kind, text))
    return rows


def render_markdown(result, table):
    """The text of ``summary.md``."""
    out = ["# Benchmark summary", ""]
    for line in _preamble(result):
        out += [line, ""]
    for d in result.degradations:
        rows = table[d.name]
        n = max((r.n for r in rows), default=0)
        out += [f"## {d.name}", "", f"{describe_degradation(d)}; {n} images.", "", _markdown_table(rows), ""]
    out += ["## Methods", ""]
    out += [f"- `{name}` ({kind}): {text}" for name, kind, text in method_glossary(result)]
    out.append("")
    failed = result.failed
    if failed:
        out += ["## Failed cells", ""]
        out += [f"- `{c.image}` / {c.degradation} / {c.method}: {c.error}" for c in failed]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# figures


def _png(figure):
    """The figure as an RGB PNG: drawn on an Agg canvas, encoded once by OpenCV (fast zlib)."""
    import cv2
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgba[..., 2::-1]),
                               [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def _img_tag(png, alt):
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def plots_png(result, degradation, rows):
    """One PNG: PSNR vs time per image (frontier), per-image PSNR gains, SSIM distribution."""
    import numpy as np
    from matplotlib.figure import Figure

    colours = {"classical": "#1f77b4", "model": "#d62728", "noisy": "#7f7f7f"}
    methods = [r for r in rows if r.n > 0]
    fig = Figure(figsize=(15, 0.9 + 0.32 * max(len(methods), 8)), dpi=80)
    ax_front, ax_gain, ax_ssim = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 1, 1]})

    # (a) speed / quality
    noisy = next((r for r in rows if r.kind == "noisy" and r.n), None)
    timed = [r for r in methods if r.kind != "noisy" and math.isfinite(r.seconds)]
    for k, r in enumerate(sorted(timed, key=lambda r: r.psnr.mean)):
        x = max(r.seconds, 1e-4)
        ax_front.plot([x], [r.psnr.mean], "o", color=colours[r.kind], ms=8 if r.best else 5)
        # neighbours in PSNR get labels above and below their points, so that they overlap less
        ax_front.annotate(r.method, (x, r.psnr.mean), xytext=(5, 3 if k % 2 else -10),
                          textcoords="offset points", fontsize=8,
                          fontweight="bold" if r.best else "normal")
    ax_front.margins(x=0.15, y=0.12)
    front, best_so_far = [], -math.inf
    for r in sorted(timed, key=lambda r: r.seconds):
        if r.psnr.mean > best_so_far:
            front.append(r)
            best_so_far = r.psnr.mean
    if len(front) > 1:
        ax_front.step([max(r.seconds, 1e-4) for r in front], [r.psnr.mean for r in front],
                      where="post", color="#2ca02c", ls="--", lw=1, label="frontier")
    if noisy is not None:
        ax_front.axhline(noisy.psnr.mean, color=colours["noisy"], ls=":", lw=1, label="noisy input")
    if timed:
        ax_front.set_xscale("log")
    ax_front.set_xlabel("seconds per image (log)")
    ax_front.set_ylabel("mean PSNR (dB)")
    ax_front.set_title("speed / quality", fontsize=10)
    ax_front.grid(True, which="both", alpha=0.3)
    if timed:
        ax_front.legend(fontsize=8, loc="lower right")

    # (b) per-image gains over the noisy input; (c) SSIM distribution
    def per_image(name, attr):
        return {c.image: getattr(c, attr) for c in result.cells_for(degradation.name, name)
                if not c.error and math.isfinite(getattr(c, attr))}

    base = per_image("noisy", "psnr")
    jitter = np.random.default_rng(0)
    gain_rows = [r for r in methods if r.kind != "noisy"]
    for k, r in enumerate(gain_rows):
        mine = per_image(r.method, "psnr")
        gains = [mine[i] - base[i] for i in mine if i in base]
        if gains:
            y = k + jitter.uniform(-0.18, 0.18, len(gains))
            ax_gain.scatter(gains, y, s=14, color=colours[r.kind], alpha=0.7, lw=0)
            ax_gain.plot([np.mean(gains)] * 2, [k - 0.32, k + 0.32], color="black", lw=2)
    ax_gain.set_yticks(range(len(gain_rows)), [r.method for r in gain_rows], fontsize=8)
    ax_gain.set_ylim(len(gain_rows) - 0.5, -0.5)
    ax_gain.axvline(0, color=colours["noisy"], lw=1)
    ax_gain.set_xlabel("PSNR gain over the noisy input (dB); bar = mean")
    ax_gain.set_title("per-image PSNR gains", fontsize=10)
    ax_gain.grid(True, axis="x", alpha=0.3)

    values = [list(per_image(r.method, "ssim").values()) for r in methods]
    if any(values):
        import matplotlib

        horizontal = ({"orientation": "horizontal"}
                      if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
                      else {"vert": False})
        ax_ssim.boxplot([v if v else [np.nan] for v in values], widths=0.6,
                        positions=range(len(methods)), showfliers=False, **horizontal)
        for k, (r, v) in enumerate(zip(methods, values)):
            y = k + jitter.uniform(-0.15, 0.15, len(v))
            ax_ssim.scatter(v, y, s=12, color=colours[r.kind], alpha=0.7, lw=0, zorder=3)
    ax_ssim.set_yticks(range(len(methods)), [r.method for r in methods], fontsize=8)
    ax_ssim.set_ylim(len(methods) - 0.5, -0.5)
    ax_ssim.set_xlabel("SSIM per image")
    ax_ssim.set_title("SSIM distribution", fontsize=10)
    ax_ssim.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def crop_window(image, size=None):
    """(top, left, size) of the square window with the most detail (highest local variance)."""
    import numpy as np
    from scipy.ndimage import uniform_filter

    h, w = image.shape
    size = size or max(16, min(h, w) // 4)
    size = min(size, h, w)
    x = image.astype(np.float64)
    var = uniform_filter(x * x, size) - uniform_filter(x, size) ** 2
    half = size // 2
    valid = var[half : h - (size - half) + 1, half : w - (size - half) + 1]
    top, left = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(top), int(left), int(size)


#: Width in pixels of one column of an image grid, and the gap between tiles.
GRID_TILE = 128
GRID_GAP = 4
RESIDUAL_RANGE = 0.25


def _fit(image, width, height, *, nearest=False):
    import cv2

    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    if image.shape[:2] == (height, width):
        return image
    if not nearest and (height > image.shape[0] or width > image.shape[1]):
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _gray_rgb(image):
    import numpy as np

    return np.repeat(np.clip(image, 0.0, 1.0)[..., None], 3, axis=-1)


def _residual_rgb(residual):
    import numpy as np
    from matplotlib import colormaps

    scaled = (np.clip(residual, -RESIDUAL_RANGE, RESIDUAL_RANGE) / RESIDUAL_RANGE + 1.0) / 2.0
    return colormaps["RdBu_r"](scaled)[..., :3]


def grid_png(result, degradation, relpath):
    """Image grid for one image under one degradation, as one PNG.

    Columns: clean, noisy, each method; rows: the full image (a yellow square marks the crop),
    the crop with the most detail magnified (nearest neighbour), the residual ``output - clean``
    (blue negative, red positive, +-0.25). Column titles give PSNR / SSIM; the best in bold.
    The tiles are composed into one mosaic drawn by a single Matplotlib axes (fast).
    """
    import numpy as np
    from matplotlib.figure import Figure

    from .cells import load_reference, make_noisy, read_png16

    ref = next(r for r in result.references if r.relpath == relpath)
    cells = {c.method: c for c in result.cells_for(degradation.name) if c.image == relpath}
    noisy_cell = cells.get("noisy")
    if noisy_cell is None:
        return None
    clean = load_reference(ref.path)
    noisy = make_noisy(clean, degradation, noisy_cell.seed)
    columns = [("clean", clean, None), ("noisy", noisy, noisy_cell)]
    for m in result.methods:
        if m.kind == "noisy" or not m.suits(degradation.task) or m.name not in cells:
            continue
        cell = cells[m.name]
        image = None
        if not cell.error and cell.grid_png:
            path = result.out_dir / "grid" / cell.grid_png
            if path.is_file():
                image = read_png16(path)
        columns.append((m.name, image, cell))

    h, w = clean.shape
    top, left, size = crop_window(clean)
    tw = GRID_TILE
    th = max(1, int(round(tw * h / w)))
    rows_h = [th, tw, th]
    gap = GRID_GAP
    mosaic = np.ones((sum(rows_h) + 2 * gap, len(columns) * (tw + gap) - gap, 3))
    for k, (name, image, _) in enumerate(columns):
        x0 = k * (tw + gap)
        y = [0, th + gap, th + gap + tw + gap]
        if image is None:
            mosaic[:, x0 : x0 + tw] = 0.9
            continue
        full = _gray_rgb(_fit(image, tw, th))
        if name == "clean":  # mark the crop
            sy, sx = th / h, tw / w
            r0, r1 = int(top * sy), min(th - 1, int((top + size) * sy))
            c0, c1 = int(left * sx), min(tw - 1, int((left + size) * sx))
            yellow = (1.0, 0.84, 0.0)
            full[r0 : r1 + 1, [c0, c1]] = yellow
            full[[r0, r1], c0 : c1 + 1] = yellow
        mosaic[y[0] : y[0] + th, x0 : x0 + tw] = full
        crop = image[top : top + size, left : left + size]
        mosaic[y[1] : y[1] + tw, x0 : x0 + tw] = _gray_rgb(_fit(crop, tw, tw, nearest=True))
        if name == "clean":
            mosaic[y[2] : y[2] + th, x0 : x0 + tw] = 0.97
        else:
            residual = _fit(np.asarray(image, np.float64) - clean, tw, th, nearest=True)
            mosaic[y[2] : y[2] + th, x0 : x0 + tw] = _residual_rgb(residual)

    dpi = 80
    band, margin = 40, 18  # pixels: titles above, row labels on the left
    height_px, width_px = mosaic.shape[0] + band, mosaic.shape[1] + margin
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_axes([margin / width_px, 0, mosaic.shape[1] / width_px, mosaic.shape[0] / height_px])
    ax.imshow(mosaic, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    best = max((c for _, _, c in columns if c is not None and c.kind != "noisy" and not c.error),
               key=lambda c: c.psnr, default=None)
    for k, (name, image, cell) in enumerate(columns):
        title = name
        if cell is not None and not cell.error:
            title += f"\n{cell.psnr:.2f} dB / {cell.ssim:.3f}"
        elif cell is not None:
            title += "\nfailed"
        x = (margin + k * (tw + gap) + tw / 2) / width_px
        fig.text(x, 1 - 4 / height_px, title, ha="center", va="top", fontsize=8,
                 fontweight="bold" if cell is not None and cell is best else "normal")
    y = [0, th + gap, th + gap + tw + gap]
    for label, y0, rh in zip(("full", "zoom", "residual"), y, rows_h):
        fig.text(2 / width_px, 1 - (band + y0 + rh / 2) / height_px, label, rotation=90,
                 ha="left", va="center", fontsize=7)
    fig.text(margin / width_px + 0.002, 1 - (band + y[2] + th / 2) / height_px,
             "  residual =\n  output − clean\n  (±0.25)", ha="left", va="center", fontsize=7)
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# report.html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:4px}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;font-size:0.85em;margin:0.6em 0}
th,td{border:1px solid #ddd;padding:3px 8px;white-space:nowrap}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#eef7ee}tr.kind-noisy td{color:#777}
img{max-width:100%;height:auto;display:block;margin:0.4em 0}
p.note{color:#555;font-size:0.9em}p.caption{font-weight:600;font-size:0.9em;margin:1.2em 0 0}
nav a{margin-right:1em}
"""


def _html_table(rows):
    header, body = table_cells(rows)
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for (line, bold), r in zip(body, rows):
        classes = [f"kind-{r.kind}"] + (["best"] if r.best else [])
        tds = []
        for i, v in enumerate(line):
            text = html.escape(v)
            if i in bold:
                text = f"<b>{text}</b>"
            tds.append(f'<td class="num">{text}</td>' if i >= 2 else f"<td>{text}</td>")
        out.append(f'<tr class="{" ".join(classes)}">' + "".join(tds) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def render_html(result, table):
    """The text of ``report.html`` (self-contained)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>enhance benchmark</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>enhance benchmark</h1>",
    ]
    for line in _preamble(result):
        parts.append(f'<p class="note">{html.escape(line.replace("`", ""))}</p>')
    parts.append("<nav>" + "".join(f'<a href="#{d.name}">{d.name}</a>' for d in result.degradations)
                 + '<a href="#methods">methods</a><a href="results.csv">results.csv</a></nav>')
    for d in result.degradations:
        rows = table[d.name]
        n = max((r.n for r in rows), default=0)
        parts.append(f'<h2 id="{d.name}">{html.escape(d.name)}</h2>')
        parts.append(f'<p class="note">{html.escape(describe_degradation(d))}; {n} images.</p>')
        parts.append(_html_table(rows))
        if any(r.n for r in rows):
            parts.append(_img_tag(plots_png(result, d, rows), f"{d.name}: plots"))
        if result.grid_images:
            parts.append("<h3>Images</h3>")
            parts.append('<p class="note">Top: full image (yellow square: the zoomed crop); middle: '
                         "the crop with the most detail, magnified; bottom: residual output − clean "
                         "(blue negative, red positive, ±0.25). Titles: PSNR / SSIM; the best method "
                         "in bold.</p>")
            for relpath in order_for_task(d.task, result.grid_images, result.references):
                png = grid_png(result, d, relpath)
                if png is not None:
                    parts.append(f'<p class="caption">{html.escape(relpath)} — {html.escape(d.name)}</p>')
                    parts.append(_img_tag(png, f"{relpath} under {d.name}"))
    parts.append('<h2 id="methods">Methods</h2><table><tr><th>method</th><th>kind</th>'
                 "<th>what it is</th></tr>")
    parts += [f"<tr><td>{html.escape(name)}</td><td>{html.escape(kind)}</td>"
              f"<td>{html.escape(text)}</td></tr>" for name, kind, text in method_glossary(result)]
    parts.append("</table>")
    failed = result.failed
    if failed:
        parts.append("<h2>Failed cells</h2><ul>")
        parts += [f"<li>{html.escape(f'{c.image} / {c.degradation} / {c.method}: {c.error}')}</li>"
                  for c in failed]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result):
    """Write ``results.csv``, ``summary.md`` and ``report.html`` into ``result.out_dir``.

    Returns
    -------
    dict
        ``{"csv": Path, "markdown": Path, "html": Path}``
    """
    from .stats import summarize

    out = Path(result.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = summarize(result)
    paths = {"csv": out / "results.csv", "markdown": out / "summary.md", "html": out / "report.html"}
    write_csv(result, paths["csv"])
    _write_text(paths["markdown"], render_markdown(result, table))
    _write_text(paths["html"], render_html(result, table))
    return paths
