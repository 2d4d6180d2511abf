"""The summary table of a benchmark: one row per (degradation, method).

Per the spec ("Scores"): the mean over images with a 95% Student-t interval
(:func:`enhance.metrics.mean_ci`), and the paired difference in PSNR to the best classical method
of that degradation (the classical method with the highest mean PSNR; not ``noisy``, not a model)
over the same images, with a percentile-bootstrap interval
(:func:`enhance.metrics.paired_difference`, seed 0, so the table is reproducible). Speed is the
mean seconds per image and the throughput in megapixels per second (total pixels over total
time) of the restoration alone (reading, degrading and scoring are not timed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SummaryRow", "summarize", "best_classical"]


@dataclass
class SummaryRow:
    """One method under one degradation.

    ``psnr``, ``ssim`` and ``diff`` are :class:`enhance.metrics.Interval` (mean, low, high);
    ``diff`` is the paired PSNR difference to ``reference`` (the best classical method), None when
    there is no classical method. ``best`` marks the highest mean PSNR, ``best_ssim`` the highest mean SSIM (``noisy`` excluded
    from both).
    """

    degradation: str
    method: str
    kind: str
    n: int
    psnr: object
    ssim: object
    diff: object
    reference: str | None
    seconds: float
    megapixels_per_s: float
    failed: int = 0
    best: bool = False
    best_ssim: bool = False


def _ok(cells):
    return [c for c in cells if not c.error and math.isfinite(c.psnr) and math.isfinite(c.ssim)]


def best_classical(rows):
    """The classical row with the highest mean PSNR, or None."""
    classical = [r for r in rows if r.kind == "classical" and r.n > 0]
    return max(classical, key=lambda r: r.psnr.mean) if classical else None


def summarize(result, *, confidence=0.95, n_boot=10000):
    """``{degradation name: [SummaryRow, ...]}`` in the order of the run's degradations and methods.

    Parameters
    ----------
    result : enhance.bench.runner.BenchResult
    """
    from ..metrics import Interval, mean_ci, paired_difference

    nan = float("nan")
    table = {}
    for d in result.degradations:
        rows, scores = [], {}
        for m in result.methods:
            if not m.suits(d.task):
                continue
            cells = result.cells_for(d.name, m.name)
            ok = _ok(cells)
            scores[m.name] = {c.image: c.psnr for c in ok}
            if ok:
                psnr = mean_ci([c.psnr for c in ok], confidence=confidence)
                ssim = mean_ci([c.ssim for c in ok], confidence=confidence)
            else:
                psnr = ssim = Interval(nan, nan, nan)
            timed = [c for c in ok if math.isfinite(c.seconds)]
            total_s = sum(c.seconds for c in timed)
            if m.kind == "noisy" or not timed:
                seconds, speed = nan, nan
            else:
                seconds = total_s / len(timed)
                speed = sum(c.megapixels for c in timed) / total_s if total_s > 0 else nan
            rows.append(SummaryRow(d.name, m.name, m.kind, len(ok), psnr, ssim, None, None,
                                   seconds, speed, failed=len(cells) - len(ok)))
        ref = best_classical(rows)
        if ref is not None:
            base = scores[ref.method]
            for row in rows:
                mine = scores[row.method]
                common = [image for image in base if image in mine]
                if not common:
                    continue
                a = [mine[i] for i in common]
                b = [base[i] for i in common]
                row.diff = paired_difference(a, b, confidence=confidence, n_boot=n_boot, seed=0)
                row.reference = ref.method
        candidates = [r for r in rows if r.kind != "noisy" and r.n > 0 and math.isfinite(r.psnr.mean)]
        if candidates:
            max(candidates, key=lambda r: r.psnr.mean).best = True
            max(candidates, key=lambda r: r.ssim.mean).best_ssim = True
        table[d.name] = rows
    return table
