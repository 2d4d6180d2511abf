"""The shipped speckle default against the classical despecklers, on real B-mode frames (issue 26).

    python benchmarks/ultrasound_real.py [--no-bm3d] [--no-synthetic] [--contact us_contact.png]

Real frames (no reference; none trained on, none from the reserved evaluation sets): the
SonoSite echocardiogram cine of pydicom's wheel test files (``examples_ybr_color.dcm``) -- frame 0
(``samples/echo_frame00.png``), frames 2 and 4 (in ``samples/noisy/``) and frames 7, 10 and 27
(training takes frames 12-24 only) -- and the Philips obstetric frame ``examples_palette.dcm``
(palette colour, never used). Each is cropped to its imaging sector (the scanner's text and
graphics left out). On each, the default (``enhance run --task speckle``'s model, run through
:func:`enhance.api.enhance_image`) and every classical despeckler over its parameter range
(:attr:`enhance.baselines.Baseline.sweep`) are scored without reference
(:mod:`enhance.metrics_ultrasound`, homogeneous regions found on the input): ENL gain, edge keeping
(Laplacian correlation after a sigma = 1 Gaussian), mean brightness ratio, the ratio-image score
(Gomez et al. 2017; lower is better).

"Above the curve": for each classical filter, its edge keeping at the default's ENL gain is read off
its curve (:func:`enhance.bench.noref.curve_edge_at`: linear in log ENL gain between the two
settings around it); the default is above when its own edge keeping is higher. Outside the
curve's range of ENL gain the comparison is "n/a".

Synthetic validation speckle (``--no-synthetic`` skips it): the recipe's validation images
degraded by the spec's speckle with the spec's seeds (``benchmarks/validation_table.py``); per
image, the default's PSNR minus that of the best classical despeckler *tuned on that image*
(the best PSNR over every method and every setting of its range: an oracle tuning, the
strongest classical reference there is).

``--contact PATH`` writes a PNG: for three real frames, input | default | best classical (the
classical setting with the most edge keeping among those whose ENL gain is at least the
default's).
"""

import argparse
import math
import sys
import time

import numpy as np
from _common import ROOT

ECHO_FRAMES = (0, 2, 4, 7, 10, 27)
ECHO_SECTOR = np.s_[10:222, 50:270]
PHILIPS_SECTOR = np.s_[70:152, 335:590]


def real_frames():
    """``[(name, frame)]``: float64 (H, W) in [0, 1], cropped to the imaging sector."""
    import pydicom
    from skimage.color import rgb2gray

    from enhance.datasets import _load_source, _pydicom_file

    echo = _load_source("us_echo")  # (30, 240, 320) gray, the wheel's test file
    frames = [(f"echo f{k}", echo[k][ECHO_SECTOR]) for k in ECHO_FRAMES]
    ds = pydicom.dcmread(_pydicom_file("examples_palette.dcm"))
    from pydicom.pixels import apply_color_lut

    rgb = apply_color_lut(ds.pixel_array, ds).astype(np.float64) / 65535.0
    frames.append(("philips OB", np.clip(rgb2gray(rgb), 0, 1)[PHILIPS_SECTOR]))
    return frames


def run_default(frame):
    from enhance.api import enhance_image

    return np.asarray(enhance_image(frame.astype(np.float32), task="speckle"), np.float64)


def classical_settings(include_bm3d):
    from enhance.baselines import tuning_baselines

    for entry in tuning_baselines("speckle"):
        if entry.name == "bm3d_log" and not include_bm3d:
            continue
        for options in entry.sweep:
            yield entry.name, options


def label(options):
    return ",".join(f"{k}={v}" for k, v in options.items() if k != "sigma")


def measure(frame, output, regions):
    from enhance import metrics_ultrasound as mu

    enl_in = mu.enl(frame, regions)
    return {
        "enl_gain": mu.enl(output, regions) / enl_in,
        "edge": mu.edge_keeping(frame, output),
        "mean_ratio": mu.mean_ratio(frame, output),
        "ratio_score": mu.ratio_image_score(frame, output, regions)["score"],
    }


def real_part(include_bm3d, contact):
    from enhance import metrics_ultrasound as mu
    from enhance.baselines import denoise
    from enhance.bench.noref import curve_edge_at

    frames = real_frames()
    results = []  # per frame: {"name", "default": metrics, "classical": {(method, label): metrics}}
    outputs = {}
    for name, frame in frames:
        started = time.perf_counter()
        regions = mu.homogeneous_regions(frame, size=16, count=8)
        default = run_default(frame)
        row = {"name": name, "shape": frame.shape, "default": measure(frame, default, regions),
               "classical": {}}
        outputs[name] = {"input": frame, "default": default}
        for method, options in classical_settings(include_bm3d):
            out = np.asarray(denoise(frame, method, **options), np.float64)
            row["classical"][(method, label(options))] = measure(frame, out, regions)
            outputs[name][(method, label(options))] = out
        results.append(row)
        print(f"  {name} {frame.shape[1]}x{frame.shape[0]}: {time.perf_counter() - started:.1f} s",
              file=sys.stderr, flush=True)

    print("\n## Real B-mode frames: the default (dae-speckle) per frame\n")
    print("| frame | ENL gain | edge keeping | mean ratio | ratio-image score |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        d = r["default"]
        print(f"| {r['name']} | {d['enl_gain']:.2f} | {d['edge']:.3f} | {d['mean_ratio']:.3f} | "
              f"{d['ratio_score']:.2f} |")

    methods = sorted({m for r in results for (m, _) in r["classical"]},
                     key=lambda m: list(dict.fromkeys(m2 for r in results for (m2, _) in r["classical"])).index(m))
    print("\n## Classical despecklers over their range (mean over the "
          f"{len(results)} frames)\n")
    print("| method | setting | ENL gain | edge keeping | mean ratio | ratio-image score |")
    print("|---|---|---:|---:|---:|---:|")
    for method in methods:
        for key in [k for k in results[0]["classical"] if k[0] == method]:
            vals = [r["classical"][key] for r in results]
            mean = {m: float(np.mean([v[m] for v in vals])) for m in vals[0]}
            gmean = float(np.exp(np.mean([math.log(v["enl_gain"]) for v in vals])))
            print(f"| {method} | {key[1]} | {gmean:.2f} | {mean['edge']:.3f} | {mean['mean_ratio']:.3f} | "
                  f"{mean['ratio_score']:.2f} |")
    d = results
    print(f"| **default** | dae-speckle | {np.exp(np.mean([math.log(r['default']['enl_gain']) for r in d])):.2f} | "
          f"{np.mean([r['default']['edge'] for r in d]):.3f} | "
          f"{np.mean([r['default']['mean_ratio'] for r in d]):.3f} | "
          f"{np.mean([r['default']['ratio_score'] for r in d]):.2f} |")
    print("\n(ENL gain: geometric mean over frames; the rest arithmetic means.)")

    print("\n## Is the default above each classical curve? (edge keeping at the default's ENL gain)\n")
    print("| method | frames above | frames below | n/a (out of range) | mean margin (default - curve) |")
    print("|---|---:|---:|---:|---:|")
    verdict = {}
    for method in methods:
        above = below = na = 0
        margins = []
        for r in results:
            pts = [(v["enl_gain"], v["edge"]) for (m, _), v in r["classical"].items() if m == method]
            at = curve_edge_at(pts, r["default"]["enl_gain"])
            if at is None:
                na += 1
                continue
            margin = r["default"]["edge"] - at
            margins.append(margin)
            above += margin > 0
            below += margin <= 0
        verdict[method] = (above, below, na)
        mm = f"{np.mean(margins):+.3f}" if margins else "n/a"
        print(f"| {method} | {above} | {below} | {na} | {mm} |")

    # the best classical output per frame at the default's suppression
    best = {}
    for r in results:
        g = r["default"]["enl_gain"]
        candidates = [(v["edge"], k) for k, v in r["classical"].items() if v["enl_gain"] >= g]
        if candidates:
            edge, key = max(candidates)
            best[r["name"]] = (key, edge, r["classical"][key]["enl_gain"])
    print("\n## Best classical at the default's ENL gain (most edge keeping among settings with ENL gain >= the default's)\n")
    print("| frame | default ENL gain / edge | best classical | its ENL gain / edge |")
    print("|---|---|---|---|")
    for r in results:
        b = best.get(r["name"])
        d = r["default"]
        text = f"{b[0][0]} ({b[0][1]}) | {b[2]:.2f} / {b[1]:.3f}" if b else "none reaches it | -"
        print(f"| {r['name']} | {d['enl_gain']:.2f} / {d['edge']:.3f} | {text} |")
    if contact:
        write_contact(contact, outputs, best, results)
    return results, verdict


def write_contact(path, outputs, best, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in results if r["name"] in best][:3]
    fig, axes = plt.subplots(len(names), 3, figsize=(12, 4.2 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        key = best[name][0]
        d = next(r["default"] for r in results if r["name"] == name)
        c = next(r["classical"][key] for r in results if r["name"] == name)
        panels = [("input", outputs[name]["input"], ""),
                  ("default (dae-speckle)", outputs[name]["default"],
                   f"ENL x{d['enl_gain']:.1f}, edge {d['edge']:.2f}"),
                  (f"{key[0]} ({key[1]})", outputs[name][key],
                   f"ENL x{c['enl_gain']:.1f}, edge {c['edge']:.2f}")]
        for ax, (title, image, note) in zip(row, panels):
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{name}: {title}\n{note}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\ncontact sheet: {path}")


def synthetic_part(include_bm3d):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from validation_table import validation_items

    from enhance.baselines import denoise
    from enhance.metrics import psnr

    _, items = validation_items("speckle")
    print("\n## Synthetic validation speckle: the default's PSNR margin over the best tuned classical, per image\n")
    print("| image | default PSNR | best tuned classical (setting) | its PSNR | margin (dB) | best untuned classical | margin |")
    print("|---|---:|---|---:|---:|---|---:|")
    margins, untuned_margins = [], []
    for name, noisy, clean, _ in items:
        default = np.clip(run_default(np.asarray(noisy, np.float64)), 0, 1)
        p_default = psnr(clean, default, data_range=1.0)
        scores = {}
        for method, options in classical_settings(include_bm3d):
            out = np.asarray(denoise(noisy, method, **options), np.float64)
            scores[(method, label(options))] = psnr(clean, out, data_range=1.0)
        untuned = {}
        for method in {m for m, _ in scores}:
            untuned[method] = psnr(clean, np.asarray(denoise(noisy, method), np.float64), data_range=1.0)
        key = max(scores, key=scores.get)
        ukey = max(untuned, key=untuned.get)
        margins.append(p_default - scores[key])
        untuned_margins.append(p_default - untuned[ukey])
        print(f"| {name} | {p_default:.2f} | {key[0]} ({key[1]}) | {scores[key]:.2f} | {margins[-1]:+.2f} | "
              f"{ukey} {untuned[ukey]:.2f} | {untuned_margins[-1]:+.2f} |", flush=True)
    print(f"| **mean** | | | | **{np.mean(margins):+.2f}** | | {np.mean(untuned_margins):+.2f} |")
    return margins


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-bm3d", action="store_true", help="leave out bm3d_log (seconds per call)")
    parser.add_argument("--no-synthetic", action="store_true", help="only the real frames")
    parser.add_argument("--contact", help="write the contact sheet PNG here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    real_part(not args.no_bm3d, args.contact)
    if not args.no_synthetic:
        synthetic_part(not args.no_bm3d)
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)


if __name__ == "__main__":
    main()
