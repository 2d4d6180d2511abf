"""The README's validation quality table and the margins after it, generated from the model cards.

    python benchmarks/readme_tables.py            # print the generated block
    python benchmarks/readme_tables.py --write    # put it into README.md between the markers
    python benchmarks/readme_tables.py --check    # exit 1 if README.md or the cards disagree

It also writes the seed's claim (the low-light default against every traditional filter, with
paired 95% intervals over the validation images) between the ``seed-claim`` markers.

Each task's row comes from the card of its default model (``enhance.shipped.DEFAULT_MODELS``):
``card["validation"]`` holds the scores on the recipe's validation images under the task's
validation degradation (``degradation``, ``results`` with ``model`` and every classical method,
``best_classical``, ``self_ensemble``), as ``benchmarks/validation_table.py --write-cards``
writes them. A card validated under more degradations (a noise-conditioned gaussian model at
gaussian15, 25 and 50) adds blocks with the same keys under
``card["validation"]["by_degradation"]`` (``{preset: block}``): each becomes a row. The ranges over
all shipped models of a task and the list of classical methods some shipped model does not beat
are computed from every shipped restoration model's card. Nothing is hard-coded per model.

Before rendering, the cards are checked: the best classical method is the best one, the recorded
margins are the differences of the recorded means, the model's per-image scores average to its
mean, and the classical means equal those of ``trained_weights/validation_baselines.json`` (the
per-image cache of the baselines) where it has the degradation. ``tests/test_claims.py`` runs
these checks and compares the README with :func:`render`.
"""

import argparse
import json
import math
import sys
import textwrap
from dataclasses import dataclass

from _common import ROOT

README = ROOT / "README.md"
CACHE = ROOT / "trained_weights" / "validation_baselines.json"
START = "<!-- quality-table:start -->"
END = "<!-- quality-table:end -->"

#: How the README names the classical methods (registry names otherwise).
DISPLAY = {
    "bm3d": "BM3D", "vst_bm3d": "VST+BM3D", "gain_bm3d": "gain+BM3D", "bm3d_log": "log-BM3D",
    "nlm": "NLM", "tv": "TV", "frost": "Frost", "lee": "Lee", "srad": "SRAD", "clahe": "CLAHE",
    "obnlm": "OBNLM", "nlm_log": "log-NLM",
    "gaussian_filter": "Gaussian filter",
    "vst_nlm": "VST+NLM", "vst_tv": "VST+TV", "vst_wavelet": "VST+wavelet",
    "vst_bilateral": "VST+bilateral", "vst_median": "VST+median",
    "vst_gaussian_filter": "VST+Gaussian filter",
}
NOT_CLASSICAL = ("model", "noisy")


def display(name):
    return DISPLAY.get(name, name)


@dataclass
class Row:
    """One line of the table: a model's scores under one degradation beside the best classical."""

    task: str
    preset: str
    model: str
    conditioned: bool
    psnr: float
    ssim: float
    x8: tuple | None
    best: str
    best_psnr: float
    best_ssim: float

    @property
    def margin(self):
        return self.psnr - self.best_psnr

    @property
    def ssim_margin(self):
        return self.ssim - self.best_ssim


def restoration_models(root=None):
    """``read_model_info`` of every shipped model of a task that has a default, by name."""
    from enhance.shipped import DEFAULT_MODELS, read_model_info, shipped_model_dirs

    infos = (read_model_info(path) for path in shipped_model_dirs(root))
    return {info["name"]: info for info in infos if info["task"] in DEFAULT_MODELS}


def validation_blocks(card):
    """``[(preset, block)]``: the card's main validation block and any ``by_degradation`` ones, in
    the order of ``enhance.tasks.BENCHMARK_DEGRADATIONS``."""
    validation = card.get("validation") or {}
    blocks = dict(validation.get("by_degradation") or {})
    if "results" in validation:
        blocks[validation["degradation"]] = validation
    return sorted(blocks.items(), key=_preset_order)


def _preset_order(item):
    from enhance.tasks import BENCHMARK_DEGRADATIONS

    preset = item[0]
    return (BENCHMARK_DEGRADATIONS.index(preset) if preset in BENCHMARK_DEGRADATIONS else 99, preset)


def classical(block):
    """The block's classical methods' ``{name: {"psnr", "ssim"}}`` (not the model, not the input)."""
    return {k: v for k, v in block["results"].items() if k not in NOT_CLASSICAL}


def is_conditioned(info):
    return bool((info["config"].get("arch_params") or {}).get("noise_map"))


def make_row(info, preset, block):
    results = block["results"]
    best = block["best_classical"]
    ensemble = block.get("self_ensemble")
    return Row(
        task=info["task"], preset=preset, model=info["name"], conditioned=is_conditioned(info),
        psnr=results["model"]["psnr"], ssim=results["model"]["ssim"],
        x8=(ensemble["psnr"], ensemble["ssim"]) if ensemble else None,
        best=best, best_psnr=results[best]["psnr"], best_ssim=results[best]["ssim"],
    )


def default_rows(infos):
    """The table's rows: each task's default model, under each degradation its card has."""
    from enhance.shipped import DEFAULT_MODELS

    rows = []
    for task, name in DEFAULT_MODELS.items():
        if name not in infos:
            raise SystemExit(f"default model {name} of {task} is not shipped")
        rows += [make_row(infos[name], preset, block)
                 for preset, block in validation_blocks(infos[name]["card"])]
    return rows


def all_rows(infos):
    return [make_row(info, preset, block) for info in infos.values()
            for preset, block in validation_blocks(info["card"])]


def _label(row):
    if row.task == "gaussian":
        who = f"model and {display(row.best)}" if row.conditioned else f"blind model; {display(row.best)}"
        return f"{row.preset} ({who} told sigma)"
    if row.task == "lowlight":
        return f"{row.preset} (all told the exposure)"
    return row.preset


def _cell(psnr, ssim, bold_psnr, bold_ssim):
    p, s = f"{psnr:.2f}", f"{ssim:.3f}"
    return f"{f'**{p}**' if bold_psnr else p} / {f'**{s}**' if bold_ssim else s}"


def table(rows):
    """Markdown table; a model's figure is bold where it beats the best classical method's, the
    classical figure where it beats every figure of the model (with and without the ensemble)."""
    lines = [
        "| task | default model | PSNR / SSIM | x8 PSNR / SSIM | best classical | PSNR / SSIM |",
        "|---|---|---:|---:|---|---:|",
    ]
    for r in rows:
        ours = [(r.psnr, r.ssim)] + ([r.x8] if r.x8 else [])
        model_cell = _cell(r.psnr, r.ssim, r.psnr > r.best_psnr, r.ssim > r.best_ssim)
        x8_cell = _cell(*r.x8, r.x8[0] > r.best_psnr, r.x8[1] > r.best_ssim) if r.x8 else "–"
        best_cell = _cell(r.best_psnr, r.best_ssim, all(r.best_psnr > p for p, _ in ours),
                          all(r.best_ssim > s for _, s in ours))
        lines.append(f"| {_label(r)} | {r.model} | {model_cell} | {x8_cell} | {display(r.best)} "
                     f"| {best_cell} |")
    return "\n".join(lines)


def _validation_set(infos, rows):
    """``(images, modalities)`` of the validation split named in the default models' cards."""
    names = {row.model for row in rows}
    sets = set()
    for name in names:
        provenance = infos[name]["card"].get("training_data", {}).get("provenance", [])
        validation = tuple(sorted((p["name"], p.get("modality", "")) for p in provenance
                                  if p.get("split") == "validation"))
        sets.add(validation)
    if len(sets) != 1:
        raise SystemExit(f"the default models' cards name different validation sets: {sorted(sets)}")
    (validation,) = sets
    return len(validation), len({modality for _, modality in validation})


def margins(rows, infos):
    """The paragraph after the table: margins, ranges over all shipped models, training effort."""
    told = []
    for r in rows:
        text = f"{r.preset} {r.model} {r.margin:+.2f} dB ({r.ssim_margin:+.3f})"
        if r.x8:
            text += f", {r.x8[0] - r.best_psnr:+.2f} dB ({r.x8[1] - r.best_ssim:+.3f}) with the self-ensemble"
        told.append(text)
    everyone = all_rows(infos)
    ranges, unbeaten = [], []
    for preset in dict.fromkeys(r.preset for r in rows):
        these = [r for r in everyone if r.preset == preset]
        low, high = min(r.margin for r in these), max(r.margin for r in these)
        ranges.append(f"{preset} {low:+.2f} to {high:+.2f} dB ({len(these)} "
                      f"model{'s' if len(these) > 1 else ''})")
        blocks = [block for info in infos.values() for p, block in validation_blocks(info["card"])
                  if p == preset]
        methods = sorted({name for block in blocks for name, score in classical(block).items()
                          if score["psnr"] >= block["results"]["model"]["psnr"]})
        if methods:
            unbeaten.append(f"{' and '.join(display(m) for m in methods)} ({preset})")
    steps = [info["card"]["steps_done"] for info in infos.values()]
    minutes = [infos[r.model]["card"]["wall_time_s"] / 60 for r in rows]
    beats = "Every shipped model beats every classical method of its task" + (
        f" other than {', '.join(unbeaten)}" if unbeaten else "")
    return _wrap(
        f"PSNR (SSIM) margins of the default models over the best classical method: "
        f"{'; '.join(told)}. Over every shipped model of the task: {'; '.join(ranges)}. "
        f"{beats}. The shipped models were trained for {min(steps)}-{max(steps)} steps on a "
        f"2-core CPU (the defaults {round(min(minutes))}-{round(max(minutes))} min each)."
    )


def _wrap(text):
    """Lines of at most 100 characters, as the rest of the README."""
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def render(root=None):
    """The generated block: intro sentence, table, margins paragraph (without the markers)."""
    infos = restoration_models(root)
    rows = default_rows(infos)
    images, modalities = _validation_set(infos, rows)
    intro = _wrap(
        f"On the held-out validation images of the training recipe ({images} images, "
        f"{modalities} modalities; `python benchmarks/validation_table.py --self-ensemble` prints the "
        f"full tables), where BM3D is included; \"x8\" is the same model run with `--self-ensemble`:"
    )
    return "\n\n".join([intro, table(rows), margins(rows, infos)])


def card_problems(root=None, cache=None):
    """Every disagreement within the cards and between the cards and the baselines cache."""
    infos = restoration_models(root)
    if cache is None:
        cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    cached = {entry["degradation"]: entry for entry in cache.values()}
    problems = []
    for name, info in infos.items():
        blocks = validation_blocks(info["card"])
        if not blocks:
            problems.append(f"{name}: the card has no validation results")
        for preset, block in blocks:
            where = f"{name} {preset}"
            results, scores = block["results"], classical(block)
            best = max(scores, key=lambda k: scores[k]["psnr"])
            if block["best_classical"] != best:
                problems.append(f"{where}: best_classical is {block['best_classical']}, the best is {best}")
            gain = results["model"]["psnr"] - scores[best]["psnr"]
            if not math.isclose(block["gain_over_best_classical_db"], gain, abs_tol=1e-9):
                problems.append(f"{where}: gain_over_best_classical_db {block['gain_over_best_classical_db']} "
                                f"!= model - {best} = {gain}")
            ensemble = block.get("self_ensemble")
            if ensemble and not math.isclose(ensemble["gain_over_best_classical_db"],
                                             ensemble["psnr"] - scores[best]["psnr"], abs_tol=1e-9):
                problems.append(f"{where}: the self-ensemble's gain is not its PSNR - {best}'s")
            per_image = results["model"].get("per_image") or {}
            if sorted(per_image) != sorted(block.get("images", per_image)):
                problems.append(f"{where}: the model's per-image scores are not on the block's images")
            for metric in ("psnr", "ssim"):
                mean = sum(v[metric] for v in per_image.values()) / max(len(per_image), 1)
                if not math.isclose(mean, results["model"][metric], abs_tol=1e-9):
                    problems.append(f"{where}: the per-image {metric} average {mean}, "
                                    f"not the card's {results['model'][metric]}")
            entry = cached.get(preset)
            if entry is None:
                continue
            if entry["images"] != block.get("images", entry["images"]):
                problems.append(f"{where}: validated on other images than the baselines cache")
            for method, score in scores.items():
                if method not in entry["results"]:
                    problems.append(f"{where}: {method} is not in the baselines cache")
                    continue
                for metric in ("psnr", "ssim"):
                    if not math.isclose(score[metric], entry["results"][method][metric], abs_tol=1e-9):
                        problems.append(f"{where}: {method} {metric} {score[metric]} != cache "
                                        f"{entry['results'][method][metric]}")
    return problems


def readme_block(text, markers=(START, END)):
    """The text between the README's markers (without them); ValueError if they are missing."""
    start, end = markers
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"README.md must hold one {start} ... {end} pair")
    return text[text.index(start) + len(start):text.index(end)].strip("\n")


def replace_block(text, block, markers=(START, END)):
    readme_block(text, markers)  # checks the markers
    start, end = markers
    return text[: text.index(start) + len(start)] + "\n" + block + "\n" + text[text.index(end):]


#: The markers of the seed's claim (the low-light default against every traditional filter).
CLAIM_MARKERS = ("<!-- seed-claim:start -->", "<!-- seed-claim:end -->")
#: The seed's claim: CNN + denoising autoencoders give +5 dB PSNR and +0.15 SSIM over
#: traditional filters on low-light images.
CLAIM_PSNR, CLAIM_SSIM = 5.0, 0.15
#: The traditional filters of the claim, each in the variance-stabilised domain (told the
#: exposure, the Poisson-Gaussian level fitted from the image, as VST+BM3D), in this order.
TRADITIONAL = ("vst_bm3d", "vst_nlm", "vst_tv", "vst_wavelet", "vst_bilateral", "vst_median",
               "vst_gaussian_filter")


def paired_interval(differences):
    """Mean and 95% t-interval ``(mean, lo, hi)`` of paired per-image differences."""
    from scipy import stats

    values = [float(v) for v in differences]
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan"), float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _verdict(lo, hi, bar, holds, n):
    if lo >= bar:
        word = "yes"
    elif hi < bar:
        word = "no"
    else:
        word = "unclear"
    return f"{word} ({holds}/{n})"


def claim_rows(root=None):
    """``[(method, filter (psnr, ssim), psnr (mean, lo, hi, holds), ssim (...))]`` from the
    low-light default's card: per-image paired differences, default minus filter."""
    from enhance.shipped import DEFAULT_MODELS

    infos = restoration_models(root)
    name = DEFAULT_MODELS["lowlight"]
    validation = infos[name]["card"]["validation"]
    results = validation["results"]
    model = results["model"]["per_image"]
    rows = []
    for method in TRADITIONAL:
        if method not in results:
            raise SystemExit(f"{name}'s card has no {method}: run benchmarks/validation_table.py "
                             f"--tasks lowlight --write-cards --only {name}")
        theirs = results[method].get("per_image")
        if not theirs or sorted(theirs) != sorted(model):
            raise SystemExit(f"{name}'s card has no per-image {method} scores on its images")
        pair = []
        for metric, bar in (("psnr", CLAIM_PSNR), ("ssim", CLAIM_SSIM)):
            diffs = [model[image][metric] - theirs[image][metric] for image in sorted(model)]
            mean, lo, hi = paired_interval(diffs)
            pair.append((mean, lo, hi, sum(d >= bar for d in diffs)))
        rows.append((method, (results[method]["psnr"], results[method]["ssim"]), *pair))
    return name, results["model"], len(model), rows


def render_claim(root=None):
    """The seed's claim block: where +5 dB / +0.15 SSIM over traditional filters holds."""
    name, model, n, rows = claim_rows(root)
    intro = _wrap(
        f"The seed's claim -- CNN and denoising-autoencoder enhancement gives +{CLAIM_PSNR:g} dB PSNR "
        f"and +{CLAIM_SSIM:g} SSIM over traditional filters on low-light images -- checked on the "
        f"same {n} validation images (low light: exposure 0.1, everyone told it; each filter in the "
        f"variance-stabilised domain with the noise level fitted from the image, as VST+BM3D). "
        f"The low-light default `{name}` scores {model['psnr']:.2f} dB / {model['ssim']:.3f}. "
        f"Margins are the default minus the filter, mean of the per-image differences with its "
        f"95% t-interval; 'holds' is yes when the whole interval clears the claim, no when it "
        f"lies below, with the images where it holds:"
    )
    lines = [
        "| traditional filter | PSNR / SSIM | PSNR margin (95% CI) | +5 dB holds | "
        "SSIM margin (95% CI) | +0.15 holds |",
        "|---|---:|---:|---|---:|---|",
    ]
    for method, (psnr, ssim), p, s in rows:
        lines.append(
            f"| {display(method)} | {psnr:.2f} / {ssim:.3f} | {p[0]:+.2f} ({p[1]:+.2f} to {p[2]:+.2f}) "
            f"| {_verdict(p[1], p[2], CLAIM_PSNR, p[3], n)} | {s[0]:+.3f} ({s[1]:+.3f} to {s[2]:+.3f}) "
            f"| {_verdict(s[1], s[2], CLAIM_SSIM, s[3], n)} |"
        )
    def where(index, bar, *, part):
        names = [display(row[0]) for row in rows if row[index][part] >= bar]
        return ", ".join(names) if names else "none of them"

    strongest = max(rows, key=lambda row: row[1][0])
    summary = _wrap(
        f"+{CLAIM_PSNR:g} dB: the whole interval clears it against {where(2, CLAIM_PSNR, part=1)}; "
        f"the mean against {where(2, CLAIM_PSNR, part=0)}. +{CLAIM_SSIM:g} SSIM: the whole interval "
        f"against {where(3, CLAIM_SSIM, part=1)}; the mean against {where(3, CLAIM_SSIM, part=0)}. "
        f"Against the strongest traditional method, {display(strongest[0])}, the margin is "
        f"{strongest[2][0]:+.2f} dB ({strongest[3][0]:+.3f} SSIM)."
    )
    return "\n\n".join([intro, "\n".join(lines), summary])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="replace the block in README.md")
    action.add_argument("--check", action="store_true", help="exit 1 unless README.md is current")
    args = parser.parse_args()
    problems = card_problems()
    for problem in problems:
        print(f"card problem: {problem}", file=sys.stderr)
    block, claim = render(), render_claim()
    text = README.read_text(encoding="utf-8")
    if args.write:
        text = replace_block(replace_block(text, block), claim, CLAIM_MARKERS)
        README.write_text(text, encoding="utf-8")
        print(f"wrote the quality table and the seed's claim into {README}")
    elif args.check:
        current = readme_block(text) == block and readme_block(text, CLAIM_MARKERS) == claim
        print("README.md is current" if current else "README.md differs: run with --write")
        sys.exit(0 if current and not problems else 1)
    else:
        print(block + "\n\n" + claim)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
