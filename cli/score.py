"""``enhance score``: PSNR and SSIM of a folder of results against a folder of references, or the
no-reference ultrasound numbers of one folder."""

import csv
import io
import json
import math
import sys

import click

from .common import library_errors


@click.command()
@click.argument("reference")
@click.argument("test", required=False)
@click.option("--input", "inputs", type=click.Path(exists=True),
              help="One folder only: the noisy inputs the images were restored from (paired by "
                   "relative path); adds ENL gain, edge keeping, SSI, SMPI, brightness and the "
                   "ratio-image test.")
@click.option("--mask", type=click.Path(exists=True, dir_okay=False),
              help="One folder only: an image whose non-zero pixels are the homogeneous regions "
                   "(each connected patch one region), instead of finding them.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write per-file scores as CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write scores and summary as JSON.")
@click.option("--data-range", type=float, default=None,
              help="Data range of the values compared (default: 1, the reference's declared "
                   "range as [0, 1]; required for a float reference outside [0, 1], in its units).")
@click.option("--max-pixels", type=click.IntRange(min=0), default=2**28, show_default=True,
              help="Refuse files whose header claims more pixels (height x width x frames), "
                   "before decoding them; 0: no limit.")
def score(reference, test, csv_path, json_path, data_range, max_pixels, inputs=None, mask=None):
    """Score every image in TEST against the image with the same relative path in REFERENCE;
    or, given one FOLDER (enhance score FOLDER), score its images without a reference.

    Two folders: files pair by relative path without extension (scan.dcm pairs with scan.png).
    Prints PSNR (dB) and SSIM per file, then the mean and its 95% confidence interval, and what
    was compared: nothing is stretched; the reference's values on its declared range (16-bit
    PNG 0..65535 as [0, 1]), float files' values as they are.

    One folder (ultrasound, no reference): per image, the equivalent number of looks (ENL) and
    speckle SNR in homogeneous regions found automatically (or --mask), CNR and gCNR between the
    brightest and darkest of them; with --input NOISY (the folder the images were restored from)
    also the ENL gain, edge keeping (Laplacian correlation after a sigma 1 Gaussian), Sattar's
    beta, SSI, SMPI, the mean brightness ratio and the ratio-image score (Gomez et al. 2017; 0 is
    ideal). Stacks: frames averaged; colour: luminance.
    """
    if test is None:
        if data_range is not None:
            raise click.UsageError("--data-range is for two folders (REFERENCE TEST)")
        return _score_one_folder(reference, inputs, mask, csv_path, json_path, max_pixels)
    if inputs or mask:
        raise click.UsageError("--input and --mask are for one folder (enhance score FOLDER)")
    from ..jobs import score_folders

    with library_errors():
        report = score_folders(reference, test, data_range=data_range,
                               max_pixels=max_pixels or None)
        summary = report.summary()
    width = max(len(r.relpath) for r in report.rows)
    click.echo(f"{'file':<{width}}  {'PSNR':>8}  {'SSIM':>7}")
    for row in report.scored:
        click.echo(f"{row.relpath:<{width}}  {row.psnr:8.3f}  {row.ssim:7.4f}")
    scales = {}
    for row in report.scored:
        scales.setdefault(row.scale, []).append(row.relpath)
    for scale, names in scales.items():
        click.echo(f"scored as: {scale} ({len(names)} file{'s' * (len(names) != 1)})")
    for row in report.skipped:
        click.echo(row.skipped)
    if report.scored:
        p, s = summary["psnr"], summary["ssim"]
        click.echo(
            f"mean over {summary['n']} images: PSNR {p[0]:.3f} dB (95% CI {p[1]:.3f} to {p[2]:.3f}), "
            f"SSIM {s[0]:.4f} (95% CI {s[1]:.4f} to {s[2]:.4f})"
        )
    rows = [dict(r.__dict__) for r in report.rows]
    _write_files(rows, summary, csv_path, json_path,
                 {"data_range": 1.0 if data_range is None else data_range})
    _exit_on_failures(report)


def _clean(value):
    """JSON has no NaN: None (an infinite PSNR, identical images, stays as Python writes it)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _write_files(rows, summary, csv_path, json_path, extra):
    """Per-file rows as CSV, rows and summary (and ``extra``) as JSON, where asked."""
    if csv_path:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        _write_text(csv_path, text.getvalue())
    if json_path:
        payload = {"rows": [{k: _clean(v) for k, v in r.items()} for r in rows],
                   "summary": {k: ([_clean(x) for x in v] if isinstance(v, tuple) else v)
                               for k, v in summary.items()},
                   **extra}
        _write_text(json_path, json.dumps(payload, indent=2))


def _exit_on_failures(report):
    if report.failed:
        click.echo(f"{len(report.failed)} file(s) not scored:", err=True)
        for row in report.failed:
            click.echo(f"  {row.error}", err=True)
        sys.exit(1)


def _score_one_folder(folder, inputs, mask_path, csv_path, json_path, max_pixels):
    from ..jobs import score_folder_noreference

    with library_errors():
        mask = None
        if mask_path:
            from ..planes import to_grayscale
            from ..io import read_image

            read = read_image(mask_path)
            mask = to_grayscale(read.pixels, is_stack=read.meta.is_stack) > 0
        report = score_folder_noreference(folder, inputs=inputs, mask=mask,
                                          max_pixels=max_pixels or None)
        summary = report.summary()
    keys = report.keys
    width = max(len(r.relpath) for r in report.rows)
    if report.scored:
        click.echo(f"{'file':<{width}}  " + "  ".join(f"{k:>12}" for k in keys))
        for row in report.scored:
            click.echo(f"{row.relpath:<{width}}  "
                       + "  ".join(f"{row.metrics.get(k, math.nan):12.4g}" for k in keys))
        click.echo(f"mean over {summary['n']} images (95% CI): " + "; ".join(
            f"{k} {summary[k][0]:.4g} ({summary[k][1]:.4g} to {summary[k][2]:.4g})" for k in keys))
    rows = [{"relpath": r.relpath, "path": r.path, "input": r.input,
             **{k: r.metrics.get(k, math.nan) for k in keys}, "error": r.error}
            for r in report.rows]
    _write_files(rows, summary, csv_path, json_path, {"reference": None})
    _exit_on_failures(report)


def _write_text(path, text):
    """Write a report file atomically; a failure is one line and exit status 1."""
    from ..io.atomic import atomic_write

    try:
        with atomic_write(path) as fh:
            fh.write(text.encode("utf-8"))
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write ({error.strerror or error})") from None
