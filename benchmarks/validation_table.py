"""Shipped models beside the classical baselines on the validation images of their recipe.

    python benchmarks/validation_table.py [--write-cards] [--self-ensemble] [--tasks gaussian,lowlight,speckle] [--only NAME,...]

The validation images are those of the training recipe (``medical-v1``: never trained on), each
degraded once by the task's spec preset with the spec's seed rule — the very images training
validated on. Classical methods get what the spec allows: the true sigma for gaussian25, the
exposure for low light; the despecklers estimate their own noise level. Noise-conditioned models
are told the same (sigma; the exposure, the rest fitted from the image as VST+BM3D does). Baseline scores do not
depend on the models and are cached in ``trained_weights/validation_baselines.json``.
``--write-cards`` puts every row into each model's ``card.json`` (``validation.results``).
``--self-ensemble`` adds a row ``NAME x8`` per model: the same weights run with
``enhance_image(..., self_ensemble=True)`` (``enhance run --self-ensemble``); with ``--write-cards``
it goes into the card as ``validation.self_ensemble``.
"""

import argparse
import json
import time

import numpy as np
from _common import ROOT

CACHE = ROOT / "trained_weights" / "validation_baselines.json"


def validation_items(task):
    """``(name, noisy, clean, params)`` of the recipe's validation images for ``task``."""
    from enhance.datasets import load_recipe
    from enhance.degrade import benchmark_seed
    from enhance.tasks import BENCHMARK_DEGRADATIONS, resolve
    from enhance.tasks import VALIDATION_DEGRADATION, validation_params

    preset = VALIDATION_DEGRADATION[task]
    index = BENCHMARK_DEGRADATIONS.index(preset)
    params = validation_params(task)
    items = []
    for number, (name, clean) in enumerate(load_recipe("medical-v1")["validation"]):
        rng = np.random.default_rng(benchmark_seed(index, number))
        noisy = resolve(task, **params)(np.asarray(clean, np.float32), rng)
        items.append((name, noisy, np.asarray(clean, np.float64), params))
    return preset, items


def score(items, restore):
    from enhance.metrics import psnr, ssim

    per_image, seconds = {}, 0.0
    for name, noisy, clean, _ in items:
        start = time.perf_counter()
        out = np.clip(np.asarray(restore(noisy), np.float64), 0, 1)
        seconds += time.perf_counter() - start
        per_image[name] = {"psnr": psnr(clean, out, data_range=1.0), "ssim": ssim(clean, out, data_range=1.0)}
    return {
        "psnr": float(np.mean([v["psnr"] for v in per_image.values()])),
        "ssim": float(np.mean([v["ssim"] for v in per_image.values()])),
        "seconds": seconds,
        "per_image": per_image,
    }


def baseline_rows(task, items, *, known=()):
    """The scores of the task's classical methods not in ``known`` (names already cached)."""
    from enhance.baselines import denoise, list_baselines

    params = items[0][3]
    sigma = params.get("sigma") if task == "gaussian" else None
    exposure = params.get("exposure") if task == "lowlight" else None
    rows = {}
    for entry in list_baselines(task):
        if ("noisy" if entry.name == "identity" else entry.name) in known:
            continue
        restore = lambda x, m=entry.name: denoise(x, m, sigma=sigma, exposure=exposure)  # noqa: E731
        rows["noisy" if entry.name == "identity" else entry.name] = score(items, restore)
        print(f"  {task:<9} {entry.name:<16} {rows['noisy' if entry.name == 'identity' else entry.name]['psnr']:.2f} dB",
              flush=True)
    return rows


def main():
    from enhance.modeldir import load_model_dir, write_card
    from enhance.predict import enhance_image
    from enhance.shipped import read_model_info, shipped_model_dirs

    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="gaussian,lowlight,speckle")
    parser.add_argument("--write-cards", action="store_true")
    parser.add_argument("--baselines-only", action="store_true")
    parser.add_argument("--self-ensemble", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated shipped model names to run "
                        "(and write); default: every shipped model of the task")
    args = parser.parse_args()

    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    for task in args.tasks.split(","):
        preset, items = validation_items(task)
        if task not in cache:
            cache[task] = {"degradation": preset, "images": [i[0] for i in items], "results": {}}
        missing = baseline_rows(task, items, known=cache[task]["results"])
        if missing:  # a method added to the task since the cache was written
            cache[task]["results"].update(missing)
            CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True))
        if args.baselines_only:
            continue
        rows = dict(cache[task]["results"])
        models = [p for p in shipped_model_dirs() if read_model_info(p)["task"] == task
                  and (not args.only or p.name in args.only.split(","))]
        for path in models:
            loaded = load_model_dir(path)
            # what the classical methods are told: the exposure; the true sigma (which blind
            # models ignore and noise-conditioned ones are told)
            told = {k: items[0][3][k] for k in ("exposure", "sigma") if k in items[0][3]}
            rows[path.name] = score(items, lambda x: enhance_image(loaded, x, **told))
            if args.self_ensemble:
                rows[f"{path.name} x8"] = score(items, lambda x: enhance_image(
                    loaded, x, self_ensemble=True, **told))
        ours = [p.name for p in models] + [f"{p.name} x8" for p in models]
        classical = {k: v for k, v in rows.items() if k not in ours and k != "noisy"}
        best = max(classical, key=lambda k: classical[k]["psnr"])
        print(f"\n### {task} ({preset}), {len(items)} validation images: mean PSNR (dB) / SSIM\n")
        print(f"| method | PSNR | SSIM | vs best classical ({best}) |")
        print("|---|---:|---:|---:|")
        for name, row in sorted(rows.items(), key=lambda kv: -kv[1]["psnr"]):
            print(f"| {name} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['psnr'] - rows[best]['psnr']:+.2f} |")
        if args.write_cards:
            for path in models:
                loaded = load_model_dir(path)
                card = dict(loaded.card)
                validation = dict(card.get("validation") or {})
                results = {k: {m: v[m] for m in ("psnr", "ssim", "per_image") if m in v}
                           for k, v in rows.items() if k not in ours}
                results["model"] = {"psnr": rows[path.name]["psnr"], "ssim": rows[path.name]["ssim"],
                                    "per_image": rows[path.name]["per_image"]}
                validation.update({
                    "degradation": preset, "results": results, "best_classical": best,
                    "baseline_protocol": "classical methods given the true sigma (gaussian) or the "
                                         "exposure (lowlight); despecklers estimate their own level",
                    "gain_over_best_classical_db": rows[path.name]["psnr"] - rows[best]["psnr"],
                })
                ensembled = rows.get(f"{path.name} x8")
                if ensembled:
                    validation["self_ensemble"] = {
                        "psnr": ensembled["psnr"], "ssim": ensembled["ssim"],
                        "gain_over_best_classical_db": ensembled["psnr"] - rows[best]["psnr"],
                        "how": "enhance run --self-ensemble (mean of the 8 flips/rotations)",
                    }
                card["validation"] = validation
                write_card(path, card)


if __name__ == "__main__":
    main()
