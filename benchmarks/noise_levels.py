"""Models against the best classical method at each noise level, everyone told the true level.

    python benchmarks/noise_levels.py [--models DIR,...] [--write-cards] [--presets gaussian15,...]
                                      [--self-ensemble]

On the validation images of the training recipe (``medical-v1``'s, never trained on), each
degraded once per preset with the spec's seed rule (``default_rng(1000 d + i)``, ``d`` the
preset's index in ``enhance.tasks.BENCHMARK_DEGRADATIONS``):

- ``gaussian15``, ``gaussian25``, ``gaussian50`` against BM3D told sigma;
- ``lowlight-told``: the ``lowlight`` preset against VST+BM3D told the exposure, the photon count
  and the read noise (``benchmarks/validation_table.py``'s ``lowlight`` tells everyone only the
  exposure: VST+BM3D and conditioned models then fit the rest from the image).

Noise-conditioned models are told the same as the classical method (a row ``NAME told``) and
are also run estimating it themselves (``NAME estimated``); blind models are told nothing but
the exposure. ``--self-ensemble`` adds ``NAME told x8`` for the conditioned models (told, with
``enhance run --self-ensemble``'s mean of the eight flips and rotations). The classical rows are
cached in ``trained_weights/validation_baselines.json`` (keys ``gaussian15``, ``gaussian50``,
``lowlight-told``; ``gaussian`` holds gaussian25).
``--write-cards`` puts, into every shipped model of the task, ``validation.by_degradation``
blocks for gaussian15 and gaussian50 (the model told sigma if it takes a noise map; the shape of
``validation_table.py``'s block, read by ``readme_tables.py``) and ``validation.told`` with every
row of this script.
"""

import argparse
import inspect
import json
from pathlib import Path

import numpy as np
from _common import ROOT
from validation_table import score

CACHE = ROOT / "trained_weights" / "validation_baselines.json"
PRESETS = ("gaussian15", "gaussian25", "gaussian50", "lowlight-told")
BASELINE = {"gaussian": "bm3d", "lowlight": "vst_bm3d"}
#: Where each preset's classical row lives in the cache (gaussian25 is validation_table's).
CACHE_KEY = {"gaussian15": "gaussian15", "gaussian25": "gaussian", "gaussian50": "gaussian50",
             "lowlight-told": "lowlight-told"}
#: Presets that go into the cards as ``by_degradation`` blocks (gaussian25 and lowlight are
#: validation_table.py's main blocks).
CARD_BLOCKS = ("gaussian15", "gaussian50")


def task_of(preset):
    return "lowlight" if preset.startswith("lowlight") else "gaussian"


def spec_preset(preset):
    return preset.removesuffix("-told")


def preset_items(preset):
    """``(name, noisy, clean, params)`` of the validation images degraded by ``preset``."""
    from enhance.datasets import load_recipe
    from enhance.degrade import benchmark_seed
    from enhance.tasks import BENCHMARK_DEGRADATIONS, resolve

    name = spec_preset(preset)
    degradation = resolve(name)
    index = BENCHMARK_DEGRADATIONS.index(name)
    params = {
        key: p.default
        for key, p in inspect.signature(degradation.function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    params.update(degradation.params)
    items = []
    for number, (image, clean) in enumerate(load_recipe("medical-v1")["validation"]):
        rng = np.random.default_rng(benchmark_seed(index, number))
        noisy = degradation(np.asarray(clean, np.float32), rng)
        items.append((image, noisy, np.asarray(clean, np.float64), params))
    return items


def told(params):
    """What everyone is told: the noise level (sigma; exposure, photons, read noise)."""
    return {k: params[k] for k in ("sigma", "exposure", "photons", "read_noise") if k in params}


def baseline(preset, items, cache):
    """``(method, row)`` of the preset's classical method, computed once and cached."""
    from enhance.baselines import denoise

    method = BASELINE[task_of(preset)]
    entry = cache.get(CACHE_KEY[preset])
    if entry is None or method not in entry["results"]:
        info = told(items[0][3])
        entry = cache.setdefault(CACHE_KEY[preset], {
            "degradation": preset, "images": [i[0] for i in items], "results": {}})
        if preset == "lowlight-told":
            entry["told"] = info
        entry["results"][method] = score(items, lambda x: denoise(x, method, **info))
        CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True))
    return method, entry["results"][method]


def model_rows(loaded, preset, items, *, self_ensemble=False):
    """``{row name: score}``: a blind model once, a conditioned one told and estimating (and
    told with the self-ensemble)."""
    from enhance.predict import enhance_image

    info = told(items[0][3])
    exposure = info.get("exposure")
    if not loaded.noise_map:
        return {loaded.name: score(items, lambda x: enhance_image(loaded, x, exposure=exposure))}
    rows = {
        f"{loaded.name} told": score(items, lambda x: enhance_image(loaded, x, **info)),
        f"{loaded.name} estimated": score(
            items, lambda x: enhance_image(loaded, x, exposure=exposure)
        ),
    }
    if self_ensemble:
        rows[f"{loaded.name} told x8"] = score(
            items, lambda x: enhance_image(loaded, x, self_ensemble=True, **info))
    return rows


def card_block(preset, items, method, base, row):
    """A ``by_degradation`` block in the shape of validation_table.py's main block."""
    model = {"psnr": row["psnr"], "ssim": row["ssim"], "per_image": row["per_image"]}
    return {
        "degradation": preset,
        "images": [i[0] for i in items],
        "results": {"model": model, method: {"psnr": base["psnr"], "ssim": base["ssim"]}},
        "best_classical": method,
        "gain_over_best_classical_db": row["psnr"] - base["psnr"],
        "baseline_protocol": f"{method} told sigma; a noise-conditioned model told the same",
    }


def main():
    from enhance.modeldir import load_model_dir, write_card
    from enhance.shipped import read_model_info, shipped_model_dirs

    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--models", default="", help="extra model directories, comma-separated")
    parser.add_argument("--write-cards", action="store_true")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="also the conditioned models told, with the x8 self-ensemble")
    args = parser.parse_args()

    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    shipped = list(shipped_model_dirs())
    paths = shipped + [Path(p) for p in args.models.split(",") if p]
    rows_of = {}  # path -> {preset: {row name: score}}
    blocks_of = {}  # path -> {preset: card block}
    for preset in args.presets.split(","):
        items = preset_items(preset)
        method, base = baseline(preset, items, cache)
        print(f"\n### {preset}: {len(items)} validation images, {method} told "
              f"{told(items[0][3])}\n")
        print(f"| method | PSNR | SSIM | vs {method} |")
        print("|---|---:|---:|---:|")
        print(f"| {method} | {base['psnr']:.2f} | {base['ssim']:.4f} | +0.00 |")
        for path in paths:
            if read_model_info(path)["task"] != task_of(preset):
                continue
            loaded = load_model_dir(path)
            rows = model_rows(loaded, preset, items, self_ensemble=args.self_ensemble)
            rows_of.setdefault(path, {})[preset] = rows
            for name, row in rows.items():
                print(f"| {name} | {row['psnr']:.2f} | {row['ssim']:.4f} | "
                      f"{row['psnr'] - base['psnr']:+.2f} |", flush=True)
            if preset in CARD_BLOCKS:
                main_row = rows.get(f"{loaded.name} told", rows.get(loaded.name))
                blocks_of.setdefault(path, {})[preset] = card_block(
                    preset, items, method, base, main_row)
    if not args.write_cards:
        return
    for path in shipped:
        if path not in rows_of:
            continue
        card = dict(load_model_dir(path).card)
        validation = dict(card.get("validation") or {})
        if path in blocks_of:
            validation["by_degradation"] = {**validation.get("by_degradation", {}),
                                            **blocks_of[path]}
        validation["told"] = {
            "protocol": "benchmarks/noise_levels.py: BM3D told sigma, VST+BM3D told exposure, "
                        "photons and read noise; 'told' rows give a noise-conditioned model the "
                        "same, 'estimated' rows let it estimate (blind models: exposure only)",
            "rows": {
                preset: {
                    "baseline": {"method": BASELINE[task_of(preset)],
                                 **{k: cache[CACHE_KEY[preset]]["results"][BASELINE[task_of(preset)]][k]
                                    for k in ("psnr", "ssim")}},
                    **{name: {"psnr": r["psnr"], "ssim": r["ssim"]} for name, r in rows.items()},
                }
                for preset, rows in rows_of[path].items()
            },
        }
        card["validation"] = validation
        write_card(path, card)


if __name__ == "__main__":
    main()
