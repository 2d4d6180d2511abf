"""The shipped speckle default against the classical despecklers, on real B-mode frames (issue 26).

    python benchmarks/ultrasound_real.py [--no-bm3d] [--no-synthetic] [--contact us_contact.png] [--workers 2]
                                         [--model DIR] [--write-card]

Real frames (no reference; none trained on, none from the reserved evaluation sets): the
SonoSite echocardiogram cine of pydicom's wheel test files (``examples_ybr_color.dcm``) -- frame 0
(``samples/echo_frame00.png``), frames 2 and 4 (in ``samples/noisy/``) and frames 10 and 27
(training takes frames 12-24 only) -- and the Philips obstetric frame ``examples_palette.dcm``
(palette colour, never used). Each is cropped to its imaging sector (the scanner's text and
graphics left out). On each, the default (``enhance run --task speckle``'s model, run through
:func:`enhance.api.enhance_image`) and every classical despeckler over its parameter range
(:attr:`enhance.baselines.Baseline.sweep`) are scored without reference
(:mod:`enhance.metrics_ultrasound`, homogeneous regions found on the input): ENL gain, edge keeping
(Laplacian correlation after a sigma = 1 Gaussian), mean brightness ratio, the ratio-image score
(Gomez et al. 2017; lower is better).

"Above the curve" (:func:`enhance.bench.noref.compare_to_curve`): for each classical filter, its
edge keeping at the default's ENL gain is read off its curve (linear in log ENL gain between the
two settings around it); the default is above when its own edge keeping is higher. Outside the
curve's range of ENL gain, the default is below when a setting has both more ENL gain and at least
as much edge keeping (dominated), above for the converse, else "n/a".

Synthetic validation speckle (``--no-synthetic`` skips it): the recipe's validation images
degraded by the spec's speckle with the spec's seeds (``benchmarks/validation_table.py``); per
image, the model's PSNR at strength 1 (and, in a line below the table, at the run's default
strength) minus that of the best classical despeckler *tuned on that image*
(the best PSNR over every method and every setting of its range: an oracle tuning, the
strongest classical reference there is).

``--model DIR`` measures that model directory (e.g. a run's ``model/``) in the default's place,
with the speckle task's default strength (a candidate for the default, before it is shipped).

``--write-card`` puts the real-frame results into the shipped default's ``card.json``
(``real_bmode``; with ``--model``, ``real_bmode_candidates[run name]`` with the candidate's
training command: the comparison the default was chosen by): the frames, the measured strengths' ENL gain, edge keeping, mean ratio and
ratio-image score, and per classical filter the frames above / below its curve at the task's
default strength): the comparison table of the speckle models' cards.

``--contact PATH`` writes a PNG: for three real frames, input | default | best classical (the
classical setting with the most edge keeping among those whose ENL gain is at least the
default's), each frame whole and, below it, a 3x magnified crop of its centre. ``--workers``
processes share the frames (and the synthetic images).
"""

import argparse
import math
import sys
import time

import numpy as np
from _common import ROOT

ECHO_FRAMES = (0, 2, 4, 10, 27)
#: The strengths of the default's curve (``enhance run --strength``: input + s * (model - input)).
STRENGTHS = (0.25, 0.5, 0.75, 1.0)
#: The edge-keeping filters shown in their own columns of the strength table (the issue's: above
#: bilateral and NLM); the strength is chosen against every measured filter.
CHOOSE_AGAINST = ("bilateral", "nlm", "nlm_log", "obnlm")
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


#: ``--model``: a model directory measured in the default's place (None: the shipped default).
MODEL = None


def run_default(frame, strength=None):
    """``enhance run --task speckle``'s output (``strength`` None: the task's default), or that
    of :data:`MODEL` when ``--model`` gave one."""
    from enhance.api import enhance_image

    source = {"task": "speckle"} if MODEL is None else {"model": MODEL}
    return np.asarray(enhance_image(frame.astype(np.float32), strength=strength, **source),
                      np.float64)


def blended(frame, model_output, strength):
    """What ``--strength`` makes of the model's output (the task's own blend)."""
    from enhance.tasks import get_task

    return np.asarray(get_task("speckle").blend(frame, model_output.astype(np.float32), strength),
                      np.float64)


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


def one_frame(task):
    """Every method on one real frame: ``(row, outputs)``."""
    from enhance import metrics_ultrasound as mu
    from enhance.baselines import denoise

    name, frame, include_bm3d = task
    started = time.perf_counter()
    regions = mu.homogeneous_regions(frame, size=16, count=8)
    from enhance.tasks import get_task

    model = run_default(frame, strength=1.0)
    default = blended(frame, model, get_task("speckle").default_strength)
    row = {"name": name, "shape": frame.shape, "default": measure(frame, default, regions),
           "strengths": {s: measure(frame, blended(frame, model, s), regions) for s in STRENGTHS},
           "classical": {}}
    outputs = {"input": frame, "default": default}
    for method, options in classical_settings(include_bm3d):
        out = np.asarray(denoise(frame, method, **options), np.float64)
        row["classical"][(method, label(options))] = measure(frame, out, regions)
        outputs[(method, label(options))] = out
    print(f"  {name} {frame.shape[1]}x{frame.shape[0]}: {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    return row, outputs


def pool_map(function, tasks, workers):
    if workers <= 1:
        return [function(t) for t in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(function, tasks))


def real_part(include_bm3d, contact, workers):
    from enhance.bench.noref import compare_to_curve

    done = pool_map(one_frame, [(n, f, include_bm3d) for n, f in real_frames()], workers)
    results = [row for row, _ in done]
    outputs = {row["name"]: out for row, out in done}

    from enhance.tasks import get_task

    shown = MODEL or get_task("speckle").default_model
    print(f"\n## Real B-mode frames: the default ({shown}) per frame\n")
    print("| frame | ENL gain | edge keeping | mean ratio | ratio-image score |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        d = r["default"]
        print(f"| {r['name']} | {d['enl_gain']:.2f} | {d['edge']:.3f} | {d['mean_ratio']:.3f} | "
              f"{d['ratio_score']:.2f} |")

    methods = list(dict.fromkeys(m for (m, _) in results[0]["classical"]))
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
    print(f"| **default** | {shown} | {np.exp(np.mean([math.log(r['default']['enl_gain']) for r in d])):.2f} | "
          f"{np.mean([r['default']['edge'] for r in d]):.3f} | "
          f"{np.mean([r['default']['mean_ratio'] for r in d]):.3f} | "
          f"{np.mean([r['default']['ratio_score'] for r in d]):.2f} |")
    print("\n(ENL gain: geometric mean over frames; the rest arithmetic means.)")

    print("\n## Is the default above each classical curve? (edge keeping at the default's ENL gain)\n")
    print("| method | frames above | frames below | n/a | mean margin in range (default - curve) |")
    print("|---|---:|---:|---:|---:|")
    verdict = {}
    for method in methods:
        counts = {"above": 0, "below": 0, "on": 0, "n/a": 0}
        margins = []
        for r in results:
            pts = [(v["enl_gain"], v["edge"]) for (m, _), v in r["classical"].items() if m == method]
            where, margin = compare_to_curve(pts, r["default"]["enl_gain"], r["default"]["edge"])
            counts[where] += 1
            if margin is not None:
                margins.append(margin)
        verdict[method] = counts
        mm = f"{np.mean(margins):+.3f}" if margins else "n/a"
        print(f"| {method} | {counts['above']} | {counts['below']} | {counts['n/a']} | {mm} |")
    print("\n(Outside a curve's range of ENL gain: below when one of its settings has more ENL gain and "
          "at least as much edge keeping, above for the converse, else n/a.)")

    chosen = strength_table(results)

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
    return results, verdict, chosen


def card_entry(results, verdict, chosen, include_bm3d):
    """The ``real_bmode`` entry of a model card (``--write-card``)."""
    from enhance.tasks import get_task

    def summary(points):
        return {"enl_gain": round(float(np.exp(np.mean([math.log(p["enl_gain"]) for p in points]))), 3),
                "edge_keeping": round(float(np.mean([p["edge"] for p in points])), 3),
                "mean_ratio": round(float(np.mean([p["mean_ratio"] for p in points])), 3),
                "ratio_image_score": round(float(np.mean([p["ratio_score"] for p in points])), 2)}

    return {
        "benchmark": "python benchmarks/ultrasound_real.py" + ("" if include_bm3d else " --no-bm3d"),
        "frames": [r["name"] for r in results],
        "default_strength": get_task("speckle").default_strength,
        "at_default_strength": summary([r["default"] for r in results]),
        "by_strength": {str(s): summary([r["strengths"][s] for r in results]) for s in STRENGTHS},
        "curves_at_default_strength": {m: {"above": c["above"], "below": c["below"], "n/a": c["n/a"]}
                                       for m, c in verdict.items()},
        "strongest_strength_above_curves": chosen,
    }


def write_model_card(entry):
    """The shipped default's card gets ``real_bmode``; with ``--model``, the candidate's results
    (and the command that trained it) go into the default's ``real_bmode_candidates``, under the
    candidate's run name: the comparison the default was chosen by, on the card it ships with."""
    from enhance.modeldir import read_model_dir, write_card
    from enhance.shipped import resolve_model

    shipped = read_model_dir(resolve_model(task="speckle"), kind="enhancer")
    card = dict(shipped.card)
    if MODEL:
        candidate = read_model_dir(MODEL, kind="enhancer")
        candidates = dict(card.get("real_bmode_candidates") or {})
        candidates[candidate.card.get("name", candidate.path.name)] = {
            **entry, "command": candidate.card.get("command"),
            "weights_sha256": candidate.sha256}
        card["real_bmode_candidates"] = candidates
    else:
        card["real_bmode"] = entry
    write_card(shipped.path, card)
    print(f"\nwrote {'real_bmode_candidates' if MODEL else 'real_bmode'} into "
          f"{shipped.path / 'card.json'}")


def strength_table(results):
    """The default model's curve over ``--strength`` against every measured classical curve;
    returns the chosen strength: the strongest with a positive mean margin (edge keeping above
    the curve at equal ENL gain, in range; frames and filters pooled) that lies below no classical
    curve on any frame -- the issue's bar (above every classical filter's trade-off curve), at the
    most speckle suppression that meets it (weaker strengths keep edges better but suppress less,
    and their margins are measured on the chord from the input). Each classical curve starts at
    the input itself (ENL gain 1, edge keeping 1: any filter at zero strength), so that weak
    strengths are compared too. :data:`CHOOSE_AGAINST`'s filters get their own columns."""
    from enhance.bench.noref import compare_to_curve

    methods = list(dict.fromkeys(m for (m, _) in results[0]["classical"]))
    print("\n## The default model over --strength (input + s * (model - input))\n")
    print("| strength | ENL gain | edge keeping | mean ratio | ratio-image score | "
          + " | ".join(f"{m}: above/below, margin" for m in CHOOSE_AGAINST)
          + " | frames below any curve | mean margin (all filters) |")
    print("|---:|---:|---:|---:|---:|" + "---|" * len(CHOOSE_AGAINST) + "---:|---:|")
    scores, below_any = {}, {}
    for s in STRENGTHS:
        pts = [r["strengths"][s] for r in results]
        gain = float(np.exp(np.mean([math.log(p["enl_gain"]) for p in pts])))
        cells, pooled, below_frames = [], [], set()
        for method in methods:
            above = below = 0
            margins = []
            for r, p in zip(results, pts):
                # every filter at zero strength is the input itself: (ENL gain 1, edge keeping 1)
                curve = [(1.0, 1.0)] + [(v["enl_gain"], v["edge"])
                                        for (m, _), v in r["classical"].items() if m == method]
                where, margin = compare_to_curve(curve, p["enl_gain"], p["edge"])
                above += where == "above"
                below += where == "below"
                if where == "below":
                    below_frames.add(r["name"])
                if margin is not None:
                    margins.append(margin)
            pooled += margins
            if method in CHOOSE_AGAINST:
                cells.append(f"{above}/{below}, {np.mean(margins):+.3f}" if margins
                             else f"{above}/{below}, n/a")
        scores[s] = float(np.mean(pooled)) if pooled else -math.inf
        below_any[s] = len(below_frames)
        print(f"| {s:g} | {gain:.2f} | {np.mean([p['edge'] for p in pts]):.3f} | "
              f"{np.mean([p['mean_ratio'] for p in pts]):.3f} | "
              f"{np.mean([p['ratio_score'] for p in pts]):.2f} | " + " | ".join(cells)
              + f" | {below_any[s]} | {scores[s]:+.3f} |")
    above_all = [s for s in STRENGTHS if scores[s] > 0 and below_any[s] == 0]
    chosen = max(above_all) if above_all else None
    print(f"\nThe strongest s with a positive mean margin that lies below no classical curve "
          f"({', '.join(methods)}) on any frame: " + (f"{chosen:g}" if chosen is not None else "none"))
    return chosen


def write_contact(path, outputs, best, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from enhance.tasks import get_task

    strength = get_task("speckle").default_strength
    names = [r["name"] for r in results if r["name"] in best][:3]
    fig, axes = plt.subplots(2 * len(names), 3, figsize=(12, 8.4 * len(names)), squeeze=False)
    for k, name in enumerate(names):
        key = best[name][0]
        d = next(r["default"] for r in results if r["name"] == name)
        c = next(r["classical"][key] for r in results if r["name"] == name)
        panels = [("input", outputs[name]["input"], ""),
                  (f"default ({MODEL or get_task('speckle').default_model}, strength {strength:g})", outputs[name]["default"],
                   f"ENL x{d['enl_gain']:.1f}, edge {d['edge']:.2f}, mean {d['mean_ratio']:.3f}"),
                  (f"{key[0]} ({key[1]})", outputs[name][key],
                   f"ENL x{c['enl_gain']:.1f}, edge {c['edge']:.2f}, mean {c['mean_ratio']:.3f}")]
        h, w = outputs[name]["input"].shape
        crop = np.s_[h // 2 - h // 6 : h // 2 + h // 6, w // 2 - w // 6 : w // 2 + w // 6]
        for ax, zoom, (title, image, note) in zip(axes[2 * k], axes[2 * k + 1], panels):
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{name}: {title}\n{note}", fontsize=9)
            zoom.imshow(np.clip(image[crop], 0, 1), cmap="gray", vmin=0, vmax=0.6,
                        interpolation="nearest")
            zoom.set_title("centre, 3x (grey levels 0-0.6)", fontsize=8)
            ax.axis("off")
            zoom.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\ncontact sheet: {path}")


def one_synthetic(task):
    from enhance.baselines import denoise
    from enhance.metrics import psnr

    name, noisy, clean, include_bm3d = task
    # the model's own output (strength 1): what the synthetic margin is about; the run's
    # default strength is reported beside it
    default = np.clip(run_default(np.asarray(noisy, np.float64), strength=1.0), 0, 1)
    at_default = np.clip(run_default(np.asarray(noisy, np.float64)), 0, 1)
    scores = {}
    for method, options in classical_settings(include_bm3d):
        out = np.asarray(denoise(noisy, method, **options), np.float64)
        scores[(method, label(options))] = psnr(clean, out, data_range=1.0)
    untuned = {method: psnr(clean, np.asarray(denoise(noisy, method), np.float64), data_range=1.0)
               for method in dict.fromkeys(m for m, _ in scores)}
    print(f"  {name}: done", file=sys.stderr, flush=True)
    return (name, psnr(clean, default, data_range=1.0), scores, untuned,
            psnr(clean, at_default, data_range=1.0))


def synthetic_part(include_bm3d, workers):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from validation_table import validation_items

    _, items = validation_items("speckle")
    done = pool_map(one_synthetic, [(n, y, x, include_bm3d) for n, y, x, _ in items], workers)
    print("\n## Synthetic validation speckle: the default's PSNR margin over the best tuned classical, per image\n")
    print("| image | default PSNR | best tuned classical (setting) | its PSNR | margin (dB) | best untuned classical | margin |")
    print("|---|---:|---|---:|---:|---|---:|")
    margins, untuned_margins, at_end, default_margins = [], [], [], []
    for name, p_default, scores, untuned, p_at_default in done:
        key = max(scores, key=scores.get)
        ukey = max(untuned, key=untuned.get)
        margins.append(p_default - scores[key])
        default_margins.append(p_at_default - scores[key])
        untuned_margins.append(p_default - untuned[ukey])
        sweep = [k for k in scores if k[0] == key[0]]
        if key in (sweep[0], sweep[-1]):
            at_end.append(f"{name}: {key[0]} ({key[1]})")
        print(f"| {name} | {p_default:.2f} | {key[0]} ({key[1]}) | {scores[key]:.2f} | {margins[-1]:+.2f} | "
              f"{ukey} {untuned[ukey]:.2f} | {untuned_margins[-1]:+.2f} |")
    print(f"| **mean** | | | | **{np.mean(margins):+.2f}** | | {np.mean(untuned_margins):+.2f} |")
    from enhance.tasks import get_task

    print(f"\n(The model at strength 1. At the run's default strength "
          f"{get_task('speckle').default_strength:g}: mean margin over the best tuned classical "
          f"{np.mean(default_margins):+.2f} dB.)")
    print("\nBest setting at an end of its range (the optimum may lie beyond): "
          + ("; ".join(at_end) if at_end else "none"))
    return margins


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-bm3d", action="store_true", help="leave out bm3d_log (seconds per call)")
    parser.add_argument("--no-synthetic", action="store_true", help="only the real frames")
    parser.add_argument("--contact", help="write the contact sheet PNG here")
    parser.add_argument("--workers", type=int, default=1, help="processes (frames in parallel)")
    parser.add_argument("--model", help="a model directory measured in the default's place")
    parser.add_argument("--write-card", action="store_true",
                        help="write the real-frame results into the measured model's card")
    args = parser.parse_args(argv)
    global MODEL
    MODEL = args.model
    if MODEL:
        print(f"(the default below is {MODEL}, not the shipped model)")
    started = time.perf_counter()
    results, verdict, chosen = real_part(not args.no_bm3d, args.contact, args.workers)
    if args.write_card:
        write_model_card(card_entry(results, verdict, chosen, not args.no_bm3d))
    if not args.no_synthetic:
        synthetic_part(not args.no_bm3d, args.workers)
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)


if __name__ == "__main__":
    main()
