"""``enhance score``: PSNR and SSIM of a folder of results against a folder of references."""

import csv
import io
import json
import math
import sys

import click

from .common import library_errors


@click.command()
@click.argument("reference")
@click.argument("test")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write per-file scores as CSV.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write scores and summary as JSON.")
@click.option("--data-range", type=float, default=None,
              help="Data range of the values compared (default: 1, the reference's declared "
                   "range as [0, 1]; required for a float reference outside [0, 1], in its units).")
@click.option("--max-pixels", type=click.IntRange(min=0), default=2**28, show_default=True,
              help="Refuse files whose header claims more pixels (height x width x frames), "
                   "before decoding them; 0: no limit.")
def score(reference, test, csv_path, json_path, data_range, max_pixels):
    """Score every image in TEST against the image with the same relative path in REFERENCE.

    Files pair by relative path without extension (scan.dcm pairs with scan.png). Prints PSNR
    (dB) and SSIM per file, then the mean and its 95% confidence interval, and what was
    compared: nothing is stretched; the reference's values on its declared range (16-bit PNG
    0..65535 as [0, 1]), float files' values as they are.
    """
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
    if csv_path:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        _write_text(csv_path, text.getvalue())
    if json_path:
        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
        payload = {"rows": [{k: clean(v) for k, v in r.items()} for r in rows],
                   "summary": {k: ([clean(x) for x in v] if isinstance(v, tuple) else v)
                               for k, v in summary.items()},
                   "data_range": 1.0 if data_range is None else data_range}
        _write_text(json_path, json.dumps(payload, indent=2))
    if report.failed:
        click.echo(f"{len(report.failed)} file(s) not scored:", err=True)
        for row in report.failed:
            click.echo(f"  {row.error}", err=True)
        sys.exit(1)


def _write_text(path, text):
    """Write a report file atomically; a failure is one line and exit status 1."""
    from ..io.atomic import atomic_write

    try:
        with atomic_write(path) as fh:
            fh.write(text.encode("utf-8"))
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write ({error.strerror or error})") from None
