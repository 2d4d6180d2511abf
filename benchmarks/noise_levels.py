"""Models against the best classical method at each noise level, everyone told the true level.

    python benchmarks/noise_levels.py [--models DIR,...] [--write-cards] [--presets gaussian15,...]

On the validation images of the training recipe (``medical-v1``'s, never trained on), each
degraded once per preset with the spec's seed rule (``default_rng(1000 d + i)``, ``d`` the
preset's index in ``enhance.degrade.BENCHMARK_DEGRADATIONS``): ``gaussian15``, ``gaussian25``,
``gaussian50`` against BM3D told sigma, and ``lowlight`` against VST+BM3D told the exposure, the
photon count and the read noise. Noise-conditioned models are told the same (a row ``NAME told``)
and also run estimating it themselves (``NAME estimated``); blind models are told nothing but the
exposure. Baselines are cached in ``trained_weights/validation_noise_levels.json``.
``--write-cards`` puts each shipped model's rows into its card (``validation.noise_levels``).
"""

import argparse
import json
from pathlib import Path

import numpy as np
from _common import ROOT
from validation_table import score

CACHE = ROOT / "trained_weights" / "validation_noise_levels.json"
PRESETS = ("gaussian15", "gaussian25", "gaussian50", "lowlight")
BASELINE = {"gaussian": "bm3d", "lowlight": "vst_bm3d"}


def preset_items(preset):
    """``(name, noisy, clean, params)`` of the validation images degraded by ``preset``."""
    from enhance.datasets import load_recipe
    from enhance.degrade import BENCHMARK_DEGRADATIONS, benchmark_seed, resolve

    degradation = resolve(preset)
    index = BENCHMARK_DEGRADATIONS.index(preset)
    params = _all_params(preset)
    items = []
    for number, (name, clean) in enumerate(load_recipe("medical-v1")["validation"]):
        rng = np.random.default_rng(benchmark_seed(index, number))
        noisy = degradation(np.asarray(clean, np.float32), rng)
        items.append((name, noisy, np.asarray(clean, np.float64), params))
    return items


def _all_params(preset):
    import inspect

    from enhance.degrade import resolve

    degradation = resolve(preset)
    params = {
        name: p.default
        for name, p in inspect.signature(degradation.function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    params.update(degradation.params)
    return params


def told(params):
    """What everyone is told: the noise level (sigma; exposure, photons, read noise)."""
    return {k: params[k] for k in ("sigma", "exposure", "photons", "read_noise") if k in params}


def baseline_row(preset, items):
    from enhance.baselines import denoise

    task = "lowlight" if preset.startswith("lowlight") else "gaussian"
    info = told(items[0][3])
    return BASELINE[task], score(items, lambda x: denoise(x, BASELINE[task], **info))


def model_rows(path, preset, items):
    from enhance.modeldir import load_model_dir
    from enhance.predict import enhance_image

    loaded = load_model_dir(path)
    task = "lowlight" if preset.startswith("lowlight") else "gaussian"
    if loaded.task != task:
        return {}
    info = told(items[0][3])
    exposure = info.get("exposure")
    if not loaded.noise_map:
        return {loaded.name: score(items, lambda x: enhance_image(loaded, x, exposure=exposure))}
    return {
        f"{loaded.name} told": score(items, lambda x: enhance_image(loaded, x, **info)),
        f"{loaded.name} estimated": score(
            items, lambda x: enhance_image(loaded, x, exposure=exposure)
        ),
    }


def main():
    from enhance.modeldir import write_card, load_model_dir
    from enhance.shipped import shipped_model_dirs

    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--models", default="", help="extra model directories, comma-separated")
    parser.add_argument("--write-cards", action="store_true")
    args = parser.parse_args()

    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    shipped = list(shipped_model_dirs())
    extra = [Path(p) for p in args.models.split(",") if p]
    per_model = {}
    for preset in args.presets.split(","):
        items = preset_items(preset)
        if preset not in cache:
            name, row = baseline_row(preset, items)
            cache[preset] = {"baseline": name, "told": told(items[0][3]),
                             "images": [i[0] for i in items], "result": row}
            CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
        base = cache[preset]
        rows = {}
        for path in shipped + extra:
            for name, row in model_rows(path, preset, items).items():
                rows[name] = row
                per_model.setdefault(path, {})[name] = per_model.get(path, {}).get(name, {})
                per_model[path][name][preset] = {
                    "psnr": row["psnr"], "ssim": row["ssim"],
                    "margin_db": row["psnr"] - base["result"]["psnr"],
                }
        print(f"\n### {preset}: {len(items)} validation images, {base['baseline']} told "
              f"{base['told']}\n")
        print(f"| method | PSNR | SSIM | vs {base['baseline']} |")
        print("|---|---:|---:|---:|")
        print(f"| {base['baseline']} | {base['result']['psnr']:.2f} | {base['result']['ssim']:.4f} | +0.00 |")
        for name, row in sorted(rows.items(), key=lambda kv: -kv[1]["psnr"]):
            print(f"| {name} | {row['psnr']:.2f} | {row['ssim']:.4f} | "
                  f"{row['psnr'] - base['result']['psnr']:+.2f} |", flush=True)
    if args.write_cards:
        for path in shipped:
            if path not in per_model:
                continue
            card = dict(load_model_dir(path).card)
            validation = dict(card.get("validation") or {})
            validation["noise_levels"] = {
                "protocol": "validation images of medical-v1 degraded by each preset with the "
                            "spec's seed rule; BM3D told sigma, VST+BM3D told exposure, photons "
                            "and read noise; 'told' rows give the model the same",
                "baselines": {p: {"method": cache[p]["baseline"], "psnr": cache[p]["result"]["psnr"],
                                  "ssim": cache[p]["result"]["ssim"]} for p in cache},
                "rows": per_model[path],
            }
            card["validation"] = validation
            write_card(path, card)


if __name__ == "__main__":
    main()
