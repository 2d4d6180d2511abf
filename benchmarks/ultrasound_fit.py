"""Fit the speckle task's ``real-bmode`` jitter table to real B-mode frames (issue 26, item 3a).

    python benchmarks/ultrasound_fit.py

The spec's speckle (:func:`enhance.degrade.speckle`: an ``L``-look envelope of a complex
Gaussian field blurred by a Gaussian PSF, plus thermal noise) is fitted, statistic by statistic,
to the real ultrasound frames of the *training* recipe only (``medical-v2``'s ``us-echo`` region:
SonoSite echo cine frames 12-24, rows 0:224, columns 32:288, at their native resolution, in
three depth bands; and the ``us-lymph-node-left`` region of the lymph-node frame, native
resolution) -- never the real frames the default is judged on (``benchmarks/ultrasound_real.py``)
nor the reserved sets.

Measured (:func:`enhance.metrics_ultrasound.speckle_grain`, in the 12 most homogeneous 12 x 12
tiles of each band): the coefficient of variation, the skewness, and the autocorrelation's
half-widths along rows (axial) and columns (lateral). Then the same numbers on simulated speckle
(a flat echogenicity of 0.25, same tiles) over a grid of looks and PSF widths, and each real
band's statistics are inverted through them: looks from the CV, the axial PSF sigma from the
axial half-width, the lateral from the lateral one. The display is the envelope, not its
logarithm: the std grows with the mean (printed: CV per brightness class), which log
compression would flatten. The printed table is what ``enhance/tasks/speckle.py``'s
``real-bmode`` holds (the depth bands give the PSF's range: the lateral grain widens with depth);
``tests/test_ultrasound_fit.py`` checks that the table's ends bracket the real statistics.
"""

import sys

import numpy as np
from _common import ROOT  # noqa: F401  (puts the repository first on sys.path)

BANDS = ((0, 75), (75, 150), (150, 224))
LOOKS = (1, 2, 3, 4, 5, 6)
SIGMAS = (0.6, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)


def training_frames():
    """``[(name, frame)]``: the real ultrasound of the training recipe, native resolution."""
    from enhance.datasets import _load_source

    echo = _load_source("us_echo")
    frames = [(f"echo f{k} rows {a}-{b}", echo[k][a:b, 32:288])
              for k in range(12, 25) for a, b in BANDS]
    frames.append(("lymph node", _load_source("us_lymph_node")[108:336, 16:316]))
    return frames


def grain(image, count=12):
    from enhance import metrics_ultrasound as mu

    return mu.speckle_grain(image, mu.homogeneous_regions(image, size=12, count=count))


def simulated(looks, sigma, seed=0):
    from enhance import degrade

    rng = np.random.default_rng(seed)
    flat = np.full((144, 144), 0.25)
    return grain(degrade.speckle(flat, rng, looks=looks, psf_sigma=sigma, thermal=0.0), count=60)


def invert(grid, value):
    """The parameter whose simulated statistic is ``value`` (linear between grid points;
    clamped to the grid's ends). ``grid``: [(parameter, statistic)] with a monotone statistic."""
    params, stats = np.array([p for p, _ in grid], float), np.array([s for _, s in grid], float)
    order = np.argsort(stats)
    return float(np.interp(value, stats[order], params[order]))


def real_statistics():
    """Median statistics of the training frames: per depth band (echo) and the lymph node."""
    per = {}
    for name, frame in training_frames():
        key = name.split(" ", 2)[-1] if name.startswith("echo") else name
        per.setdefault(key, []).append(grain(frame))
    return {key: {s: float(np.median([g[s] for g in gs])) for s in ("cv", "skew", "axial", "lateral")}
            for key, gs in per.items()}


def fit():
    real = real_statistics()
    cv_grid = [(L, simulated(L, (1.5, 2.0))["cv"]) for L in LOOKS]
    ax_grid = [(s, simulated(4, (s, 2.0))["axial"]) for s in SIGMAS]
    lat_grid = [(s, simulated(4, (1.5, s))["lateral"]) for s in SIGMAS]
    fitted = {key: {"looks": invert(cv_grid, r["cv"]), "axial": invert(ax_grid, r["axial"]),
                    "lateral": invert(lat_grid, r["lateral"])} for key, r in real.items()}
    return real, fitted, (cv_grid, ax_grid, lat_grid)


def main():
    real, fitted, (cv_grid, ax_grid, lat_grid) = fit()
    print("## Simulated speckle (flat echogenicity 0.25)\n")
    print("looks -> CV: " + ", ".join(f"{L}: {v:.3f}" for L, v in cv_grid))
    print("axial sigma -> half-width: " + ", ".join(f"{s:g}: {v:.2f}" for s, v in ax_grid))
    print("lateral sigma -> half-width: " + ", ".join(f"{s:g}: {v:.2f}" for s, v in lat_grid))
    print("\n## Real training frames and the fitted parameters\n")
    print("| frames | CV | skew | axial half-width | lateral half-width | looks | PSF sigma axial | lateral |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in real:
        r, f = real[key], fitted[key]
        print(f"| {key} | {r['cv']:.3f} | {r['skew']:.2f} | {r['axial']:.2f} | {r['lateral']:.2f} | "
              f"{f['looks']:.1f} | {f['axial']:.2f} | {f['lateral']:.2f} |")
    looks = [f["looks"] for f in fitted.values()]
    ax = [f["axial"] for f in fitted.values()]
    lat = [f["lateral"] for f in fitted.values()]
    print(f"\nFitted ranges: looks {min(looks):.1f}-{max(looks):.1f}, axial sigma "
          f"{min(ax):.2f}-{max(ax):.2f}, lateral sigma {min(lat):.2f}-{max(lat):.2f}")

    # envelope or log display: CV by brightness class over the echo frames
    from enhance import metrics_ultrasound as mu
    from enhance.datasets import _load_source

    echo = _load_source("us_echo")
    tiles = []
    for k in range(12, 25):
        frame = echo[k][0:224, 32:288]
        labels = mu.homogeneous_regions(frame, size=12, count=40)
        for j in range(1, labels.max() + 1):
            t = frame[labels == j]
            tiles.append((t.mean(), t.std()))
    tiles = np.array(tiles)
    print("\n## Display: std against mean over the echo frames' homogeneous tiles\n")
    print("| tile mean | tiles | std | CV |")
    print("|---|---:|---:|---:|")
    for lo, hi in ((0, .1), (.1, .15), (.15, .2), (.2, .3), (.3, .5)):
        m = (tiles[:, 0] >= lo) & (tiles[:, 0] < hi)
        if m.any():
            print(f"| {lo}-{hi} | {m.sum()} | {np.median(tiles[m, 1]):.4f} | "
                  f"{np.median(tiles[m, 1] / tiles[m, 0]):.3f} |")
    print("\n(log compression would keep the std constant over the mean; the envelope keeps the CV)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
