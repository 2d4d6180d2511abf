"""``enhance bench --no-reference``: despecklers on real frames, scored without a reference.

Real ultrasound has no clean reference, so nothing is degraded: every image of ``data`` (colour by
luminance, a stack's first frame, as :func:`enhance.bench.cells.load_reference` reads it) is
restored by every selected speckle method -- each classical despeckler over its parameter range
(:attr:`enhance.baselines.Baseline.sweep`; one run at its defaults when it has none) and each
model -- and scored against its own input with :mod:`enhance.metrics_ultrasound`, in homogeneous
regions found on the input: ENL gain, edge keeping, Sattar's beta, SSI, SMPI, the mean brightness
ratio and the ratio-image score, plus the output's ENL, CNR and gCNR.

The report folder gets ``results.csv`` (one row per image x method x setting), ``summary.md``
(per method and setting: ENL gain (geometric mean over images) and the means of the rest; then,
for each model, whether it lies above each classical filter's trade-off curve: more edge keeping
at its own ENL gain) and ``report.html`` with the trade-off plot (ENL gain against edge keeping,
each classical filter a curve over its range, each model a point). Nothing is cached: a run
computes everything (a few seconds per image for the fast set).
"""

from __future__ import annotations

import csv
import html
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EnhanceError

__all__ = ["NoReferenceRow", "NoReferenceResult", "run_noreference_benchmark",
           "write_noreference_report", "curve_edge_at", "compare_to_curve"]

#: The numbers of a row, in the order of ``results.csv``.
METRICS = ("enl", "enl_gain", "cnr", "gcnr", "edge_keeping", "beta", "ssi", "smpi", "mean_ratio",
           "ratio_score")


@dataclass
class NoReferenceRow:
    """One (image, method, setting): the no-reference numbers, seconds, or the error."""

    image: str
    method: str
    kind: str
    setting: str
    metrics: dict = field(default_factory=dict)
    seconds: float = math.nan
    error: str | None = None

    @property
    def degradation(self):  # what the command's progress bar shows beside the method
        return self.image


@dataclass
class NoReferenceResult:
    """Everything the report needs."""

    data: str
    out_dir: Path
    task: str
    images: list
    methods: list
    rows: list
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def failed(self):
        return [r for r in self.rows if r.error]


def _settings(method):
    """``[(label, options)]`` of a method: its sweep, or its defaults."""
    if method.kind != "classical":
        return [("", {})]
    from ..baselines import get_baseline

    sweep = get_baseline(method.name).sweep
    if not sweep:
        return [("defaults", {})]
    return [(",".join(f"{k}={v}" for k, v in options.items() if k != "sigma"), dict(options))
            for options in sweep]


def _restore(method, image, options, task):
    import numpy as np

    if method.kind == "noisy":
        return np.asarray(image, np.float64)
    if method.kind == "classical":
        from ..baselines import denoise

        return np.asarray(denoise(image, method.name, **options), np.float64)
    from .cells import _load_model
    from ..predict import enhance_image

    return np.asarray(enhance_image(_load_model(method), image.astype(np.float32)), np.float64)


def run_noreference_benchmark(data, out_dir, *, methods="fast", models=(), task="speckle",
                              weights_dir=None, progress=None, log=None, write=True,
                              runtime="auto"):
    """Restore every image of ``data`` with every method of ``task`` and score it without a reference.

    Parameters
    ----------
    data : str or Path
        A folder (recursive), file or glob of real noisy images (no references).
    out_dir : str or Path
        The report folder (``results.csv``, ``summary.md``, ``report.html``).
    methods : str, optional
        As for :func:`enhance.bench.resolve_methods` (``fast`` by default); only the methods of
        ``task`` run.
    models : iterable of paths, optional
        More model directories.
    task : str, optional
        A task with no-reference metrics (:attr:`enhance.tasks.Task.no_reference_metrics`;
        ``speckle``, the default, is the one that has them).
    progress : callable, optional
        ``progress(done, total, row)`` after each (image, method, setting).
    log : callable, optional
        Called with each note.
    write : bool, optional
        Write the report files.
    runtime : {"auto", "openvino", "keras"}, optional
        Where the models' networks run.

    Returns
    -------
    NoReferenceResult
    """
    import numpy as np

    from .. import batch
    from ..metrics_ultrasound import despeckling_report, homogeneous_regions
    from .cells import clear_image_memos, load_reference
    from .methods import resolve_methods
    from .runner import with_runtime

    from ..tasks import get_task

    if not get_task(task).no_reference_metrics:  # an unknown task: one line naming the known
        raise EnhanceError(f"task {task!r} has no no-reference metrics "
                           "(enhance.tasks.Task.no_reference_metrics)")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    notes = []
    method_list = with_runtime([m for m in resolve_methods(methods, models, weights_dir=weights_dir,
                                                           notes=notes) if m.suits(task)], runtime)
    _, files = batch.discover(data, exclude=[out_dir])
    if not files:
        raise EnhanceError(f"{data}: no image to benchmark")
    frames, skipped = [], []
    for item in files:
        try:
            image = np.asarray(load_reference(item.path), np.float64)
            regions = homogeneous_regions(image)
            frames.append((str(item.relpath), image, regions))
        except EnhanceError as error:
            skipped.append((str(item.relpath), str(error)))
    clear_image_memos()
    for relpath, reason in skipped:
        notes.append(f"skipped {relpath}: {reason}")
    if not frames:
        raise EnhanceError(f"{data}: no image with homogeneous regions to measure")
    for note in notes:
        if log:
            log(note)
    plan = [(f, m, label, options) for f in frames for m in method_list
            for label, options in _settings(m)]
    rows = []
    for done, ((relpath, image, regions), method, label, options) in enumerate(plan, start=1):
        row = NoReferenceRow(relpath, method.name, method.kind, label)
        try:
            start = time.perf_counter()
            output = _restore(method, image, options, task)
            row.seconds = 0.0 if method.kind == "noisy" else time.perf_counter() - start
            if method.kind == "noisy":
                row.metrics = {**despeckling_report(image, regions=regions), "enl_gain": 1.0,
                               "edge_keeping": 1.0, "beta": 1.0, "ssi": 1.0, "smpi": 1.0,
                               "mean_ratio": 1.0}
            else:
                row.metrics = despeckling_report(image, output, regions=regions)
        except EnhanceError as error:
            row.error = str(error)
        rows.append(row)
        if progress:
            progress(done, len(plan), row)
    result = NoReferenceResult(str(data), out_dir, task, [f[0] for f in frames],
                               [m.name for m in method_list], rows, skipped, notes)
    result.wall_seconds = time.perf_counter() - started
    if write:
        write_noreference_report(result)
    return result


# ---------------------------------------------------------------------------------------------
# summary


def _groups(result):
    """``[(method, kind, setting, rows)]`` in run order, failed rows left out."""
    groups = {}
    for r in result.rows:
        if not r.error:
            groups.setdefault((r.method, r.kind, r.setting), []).append(r)
    return [(m, k, s, rows) for (m, k, s), rows in groups.items()]


def _summary(rows):
    import numpy as np

    out = {}
    for key in METRICS:
        values = [r.metrics[key] for r in rows if key in r.metrics and math.isfinite(r.metrics[key])]
        if not values:
            out[key] = math.nan
        elif key == "enl_gain":
            out[key] = float(np.exp(np.mean(np.log(values))))
        else:
            out[key] = float(np.mean(values))
    out["seconds"] = float(np.mean([r.seconds for r in rows]))
    return out


def curve_edge_at(points, gain):
    """Edge keeping of a trade-off curve ``[(enl_gain, edge_keeping), ...]`` at ``gain``:
    interpolated linearly in log ENL gain between its settings; None outside its range."""
    import numpy as np

    pts = sorted(p for p in points if p[0] > 0 and math.isfinite(p[0]))
    if len(pts) < 2 or gain <= 0 or not pts[0][0] <= gain <= pts[-1][0]:
        return None
    return float(np.interp(math.log(gain), [math.log(p[0]) for p in pts], [p[1] for p in pts]))


def compare_to_curve(points, gain, edge):
    """Where a point ``(gain, edge)`` lies against a trade-off curve: ``(verdict, margin)``.

    Inside the curve's range of ENL gain, the margin is ``edge`` minus the curve's edge keeping
    there and the verdict ``above`` (margin > 0), ``below`` (< 0) or ``on``. Outside it, the
    point is ``below`` when a setting of the curve has both more ENL gain and at least as much
    edge keeping (it is dominated), ``above`` when it dominates a setting the same way from the
    other side, else ``n/a``; the margin is then None.
    """
    at = curve_edge_at(points, gain)
    if at is not None:
        margin = edge - at
        return ("above" if margin > 0 else "below" if margin < 0 else "on"), margin
    if any(g >= gain and e >= edge for g, e in points):
        return "below", None
    if any(g <= gain and e <= edge for g, e in points):
        return "above", None
    return "n/a", None


def dominance(result):
    """``[(model, method, above, below, undecided, mean_margin)]``: per image, the model's
    verdict against the classical curve (:func:`compare_to_curve`; exactly on the curve counts as
    neither above nor below), and the mean of the margins inside the curve's range."""
    by_image = {}
    for r in result.rows:
        if not r.error:
            by_image.setdefault(r.image, []).append(r)
    models = [m for m in dict.fromkeys(r.method for r in result.rows if r.kind == "model")]
    curves = [m for m in dict.fromkeys(r.method for r in result.rows if r.kind == "classical")]
    out = []
    for model in models:
        for method in curves:
            above = below = outside = 0
            margins = []
            for rows in by_image.values():
                point = next((r for r in rows if r.method == model), None)
                pts = [(r.metrics["enl_gain"], r.metrics["edge_keeping"]) for r in rows if r.method == method]
                if point is None or not pts:
                    continue
                verdict, margin = compare_to_curve(pts, point.metrics["enl_gain"],
                                                   point.metrics["edge_keeping"])
                if margin is not None:
                    margins.append(margin)
                above += verdict == "above"
                below += verdict == "below"
                outside += verdict == "n/a"
            mean = sum(margins) / len(margins) if margins else math.nan
            out.append((model, method, above, below, outside, mean))
    return out


# ---------------------------------------------------------------------------------------------
# files


def _fmt(value, digits=3):
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _table(result):
    header = ["method", "kind", "setting", "ENL gain", "edge keeping", "beta", "SSI", "SMPI",
              "mean ratio", "ratio-image score", "gCNR", "s / image"]
    body = []
    for method, kind, setting, rows in _groups(result):
        s = _summary(rows)
        body.append([method, kind, setting or "–", _fmt(s["enl_gain"], 2), _fmt(s["edge_keeping"]),
                     _fmt(s["beta"]), _fmt(s["ssi"]), _fmt(s["smpi"]), _fmt(s["mean_ratio"]),
                     _fmt(s["ratio_score"], 2), _fmt(s["gcnr"]), _fmt(s["seconds"], 3)])
    return header, body


def _dominance_table(result):
    header = ["model", "classical curve", "images above", "below", "n/a", "mean margin (in range)"]
    body = [[m, c, str(a), str(b), str(o), "–" if not math.isfinite(x) else f"{x:+.3f}"]
            for m, c, a, b, o, x in dominance(result)]
    return header, body


def _markdown(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


_ABOUT = ("No reference: each image restored by each method and setting, scored against its own "
          "input in homogeneous regions found on the input. ENL gain: output ENL / input ENL "
          "(geometric mean over images; higher = more speckle suppressed); edge keeping: "
          "correlation of the Laplacians after a sigma 1 Gaussian (1 = every edge kept); beta: "
          "Sattar's, with the 3x3 Laplacian; SSI, SMPI: lower = more suppression; mean ratio: "
          "output / input brightness; ratio-image score: Gomez et al. 2017, lower = the ratio "
          "input/output is closer to structureless speckle (on correlated real speckle even an "
          "ideal filter scores above 0: compare methods on the same images).")


def render_noreference_markdown(result):
    parts = [f"# enhance bench --no-reference: {result.data}", "",
             f"{len(result.images)} images, task {result.task}. {_ABOUT}", ""]
    parts += [f"- {note}" for note in result.notes]
    parts += ["", "## Methods over their settings", "", _markdown(*_table(result)), ""]
    header, body = _dominance_table(result)
    if body:
        parts += ["## Models against each classical trade-off curve", "",
                  "Per image, the model's edge keeping minus the curve's at the model's ENL gain "
                  "(above: positive); outside the curve's range of ENL gain, below when a setting has more "
                  "ENL gain and at least as much edge keeping (above: the converse); n/a otherwise.",
                  "", _markdown(header, body), ""]
    if result.failed:
        parts += ["## Failed", ""] + [f"- {r.image} / {r.method} {r.setting}: {r.error}" for r in result.failed]
    return "\n".join(parts) + "\n"


def tradeoff_png(result):
    """The trade-off plot: ENL gain (log) against edge keeping; classical curves, model points."""
    from matplotlib.figure import Figure

    from .report import _png

    fig = Figure(figsize=(9, 6), dpi=90)
    ax = fig.subplots()
    groups = _groups(result)
    curves = {}
    for method, kind, setting, rows in groups:
        s = _summary(rows)
        curves.setdefault((method, kind), []).append((s["enl_gain"], s["edge_keeping"], setting))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a"]
    k = 0
    for (method, kind), pts in curves.items():
        pts = [p for p in pts if math.isfinite(p[0]) and p[0] > 0]
        if not pts:
            continue
        if kind == "classical":
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=4, lw=1.2,
                    color=palette[k % len(palette)], label=method)
            k += 1
        elif kind == "model":
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "*", ms=16, color="#d62728",
                    markeredgecolor="black", label=method, zorder=5)
        else:
            ax.plot([1.0], [1.0], "s", color="black", ms=6, label="noisy input")
    ax.set_xscale("log")
    ax.set_xlabel("ENL gain in homogeneous regions (speckle suppression, log)")
    ax.set_ylabel("edge keeping (Laplacian correlation, sigma 1)")
    ax.set_title(f"speckle suppression against edge keeping, {len(result.images)} images (no reference)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower left")
    fig.tight_layout()
    return _png(fig)


def _html_table(header, body):
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in body]
    return "\n".join(out + ["</tbody></table>"])


def render_noreference_html(result):
    from .report import _CSS, _img_tag

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>enhance benchmark (no reference)</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>enhance bench --no-reference: {html.escape(result.data)}</h1>",
             f'<p class="note">{len(result.images)} images. {html.escape(_ABOUT)}</p>']
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in result.notes]
    if any(not r.error and r.kind != "noisy" for r in result.rows):
        parts.append(_img_tag(tradeoff_png(result), "trade-off: ENL gain against edge keeping"))
    parts += ["<h2>Methods over their settings</h2>", _html_table(*_table(result))]
    header, body = _dominance_table(result)
    if body:
        parts += ["<h2>Models against each classical trade-off curve</h2>",
                  '<p class="note">Per image, the model\'s edge keeping minus the curve\'s at the '
                  "model's ENL gain (above: positive).</p>", _html_table(header, body)]
    if result.failed:
        parts.append("<h2>Failed</h2><ul>" + "".join(
            f"<li>{html.escape(f'{r.image} / {r.method} {r.setting}: {r.error}')}</li>" for r in result.failed)
            + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_noreference_csv(result, path):
    from .report import _write_text

    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["image", "method", "kind", "setting", *METRICS, "seconds", "error"])
    for r in result.rows:
        writer.writerow([r.image, r.method, r.kind, r.setting,
                         *("" if not math.isfinite(r.metrics.get(k, math.nan)) else repr(float(r.metrics[k]))
                           for k in METRICS),
                         "" if not math.isfinite(r.seconds) else f"{r.seconds:.6f}", r.error or ""])
    _write_text(path, text.getvalue())


def write_noreference_report(result):
    """Write ``results.csv``, ``summary.md`` and ``report.html`` into ``result.out_dir``."""
    from .report import _write_text

    out = Path(result.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "markdown": out / "summary.md", "html": out / "report.html"}
    write_noreference_csv(result, paths["csv"])
    _write_text(paths["markdown"], render_noreference_markdown(result))
    _write_text(paths["html"], render_noreference_html(result))
    return paths
