"""Evaluate generated images against real ones: one report (JSON, Markdown, image grid).

:func:`evaluate` takes a generator directory (it generates ``n`` images, classes in turn) or a
folder of generated images, and the real training images, and measures

* fidelity and coverage -- Fréchet distance (FD), kernel distance (KID), precision and recall
  (k = 3) in the feature space of the project's own network (:mod:`.features`, named in the
  report), each against the real training images;
* diversity -- mean MS-SSIM of random pairs of generated images beside the same for real pairs
  (:mod:`.msssim`; lower is more diverse);
* memorisation -- for each generated image its nearest training image by SSIM (flips included);
  those at or above the threshold (0.9) are flagged near-copies (:mod:`.copies`);
* usefulness -- where there are classes, held-out accuracy of a small classifier in four arms
  (real; real + classical augmentation; real + generated; real + classical + generated), over
  seeds, with Student-t 95% intervals and the paired differences between arms
  (:mod:`.usefulness`); a generator draws a fresh generated set per seed;

beside the same figures for two trivial baselines (:mod:`.baselines`: a Gaussian with the data's
pixel mean and covariance, and shifted/flipped training images) and, given held-out real images,
for those (the floor that a perfect generator would reach with this many images).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import EnhanceError
from .copies import COPY_THRESHOLD

__all__ = ["evaluate", "score_set", "write_report", "card_summary", "usefulness_summary",
           "record_in_card"]

HOLDOUT_EVERY = 5


class _Stages:
    """The package's progress protocol over an evaluation's stages: ``progress(done, total,
    stage)`` as each stage starts (``done`` stages finished, ``stage`` the one now computed),
    then ``progress(total, total, "done")``."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def start(self, stage):
        if self.progress is not None:
            self.progress(self.done, self.total, stage)
        self.done += 1

    def finish(self):
        if self.progress is not None:
            self.progress(self.total, self.total, "done")


def _is_generator(source):
    from ..shipped import model_kind
    from .modeldir import CONFIG_FILE

    source = Path(source)
    return source.is_dir() and (source / CONFIG_FILE).is_file() and model_kind(source) == "generator"


def score_set(images, real, real_features, features, *, threshold=COPY_THRESHOLD, seed=0,
              copies=True):
    """FD, KID, precision/recall, diversity and the copy check of one image set.

    Parameters
    ----------
    images, real : ndarray (N, H, W) in [0, 1]
    real_features : ndarray (M, d)
    features : FeatureNet
    threshold : float
    seed : int
    copies : bool
        Run the (slower) copy check.

    Returns
    -------
    dict
    """
    from .copies import nearest_training
    from .distances import frechet_distance, kernel_inception_distance, precision_recall
    from .msssim import diversity

    f = features.embed(images)
    kid, kid_std = kernel_inception_distance(real_features, f, seed=seed)
    precision, recall = precision_recall(real_features, f)
    out = {"n": int(len(images)), "fd": frechet_distance(real_features, f), "kid": kid,
           "kid_std": kid_std, "precision": precision, "recall": recall,
           "diversity_ms_ssim": diversity(images, seed=seed)}
    if copies:
        match = nearest_training(images, real)
        flagged = match.flagged(threshold)
        out.update(near_copies=int(flagged.sum()),
                   nearest_ssim_max=float(match.ssim.max()),
                   nearest_ssim_median=float(np.median(match.ssim)),
                   _match=match)
    return out


def _load_source(source, real, size, n, seed, stages):
    from .data import load_folder
    from .modeldir import load_generator

    source = Path(source)
    if _is_generator(source):
        from .generate import generate_images

        generator = load_generator(source)
        size = generator.size
        real_set = load_folder(real, size, fit=generator.config.get("fit", "crop"))
        n = int(n or max(200, len(real_set.images)))
        stages.start(f"generating {n} images")
        images, labels, _ = generate_images(generator, n, seed=seed)

        def draw(s):
            return (images, labels) if s == seed else generate_images(generator, n, seed=s)[:2]

        info = {"kind": "generator", "model_sha256": generator.sha256,
                "model_card": {k: generator.card.get(k) for k in
                               ("name", "method", "steps", "wall_seconds", "training_data")}}
        info["fit"] = generator.config.get("fit", "crop")
        return images, labels, list(generator.class_names), real_set, info, draw
    if not source.exists():
        raise EnhanceError(f"{source}: no such generator directory or image folder")
    if size is None:
        from .. import batch
        from ..io import read_image

        _, files = batch.discover(source)
        if not files:
            raise EnhanceError(f"{source}: no images found")
        size = int(min(read_image(files[0].path).pixels.shape[:2]))
    gen_set = load_folder(source, size)
    if n:
        gen_set.images, gen_set.labels = gen_set.images[:n], gen_set.labels[:n]
    real_set = load_folder(real, size)
    info = {"kind": "folder", "fit": "crop"}
    manifest = source / "manifest.jsonl"
    if manifest.is_file():
        shas = {json.loads(line).get("model_sha256") for line in manifest.read_text().splitlines()
                if line.strip()}
        info["model_sha256"] = sorted(s for s in shas if s)
    return gen_set.images, gen_set.labels, list(gen_set.class_names), real_set, info, None


def _usefulness(images, labels, class_names, real_set, holdout_set, steps, seed, seeds, draw):
    from .usefulness import usefulness

    if len(real_set.class_names) < 2 or not all(c in real_set.class_names for c in class_names):
        return {"skipped": "needs generated and real images with the same (at least two) classes"}
    to_real = np.array([real_set.class_names.index(c) for c in class_names], np.int32)
    if draw is None:
        synthetic = (images, to_real[labels])
    else:
        def synthetic(s):
            x, y = draw(s)
            return x, to_real[y]
    if holdout_set is not None:
        test_x = holdout_set.images
        test_y = np.array([real_set.class_names.index(holdout_set.class_names[k])
                           for k in holdout_set.labels], np.int32)
        train_x, train_y, note = real_set.images, real_set.labels, "held-out real images given"
    else:
        test = np.arange(len(real_set.images)) % HOLDOUT_EVERY == HOLDOUT_EVERY // 2
        test_x, test_y = real_set.images[test], real_set.labels[test]
        train_x, train_y = real_set.images[~test], real_set.labels[~test]
        note = ("no held-out folder: every 5th real image is the test set; the generator may have "
                "been trained on them")
    result = usefulness(train_x, train_y, synthetic, test_x, test_y, len(real_set.class_names),
                        steps=steps, seeds=seeds, seed=seed)
    result["note"] = note
    return result


def evaluate(source, real, *, out_dir=None, n=None, seed=0, holdout=None, features=None,
             baselines=True, usefulness=True, usefulness_steps=300, usefulness_seeds=5,
             threshold=COPY_THRESHOLD, size=None, progress=None):
    """Score a generator (or a folder of generated images) against real images.

    Parameters
    ----------
    source : str or Path
        A generator directory or a folder of generated images (subfolders = classes).
    real : str or Path
        The real (training) images.
    out_dir : str or Path, optional
        Where to write ``report.json``, ``report.md`` and ``grid.png``.
    n : int, optional
        Images to generate (default: max(200, number of real images)); for a folder, at most
        this many are used. The baselines get the same number.
    seed : int
    holdout : str or Path, optional
        Held-out real images (same classes): the FD floor and the usefulness test set.
    features : str or Path, optional
        A feature network directory (default: the shipped ``synth-features-rot64``).
    baselines, usefulness : bool
    usefulness_steps : int
        Training steps of each usefulness classifier.
    usefulness_seeds : int
        Seeds ``seed, seed + 1, ...`` of each usefulness arm (training seed and, for a generator,
        the draw of the generated set; :mod:`.usefulness`).
    threshold : float
        Near-copy SSIM threshold.
    size : int, optional
        Image side for a folder source (default: its first image's shorter side).
    progress : callable, optional
        The package's progress protocol over the stages: ``progress(done, total, stage)`` as
        each stage starts (``stage``: what is computed, e.g. ``"scoring generated images"``;
        ``done``: the stages finished), then ``progress(total, total, "done")``.

    Returns
    -------
    dict
        The report (also written when ``out_dir`` is given).
    """
    from .baselines import BASELINES, gaussian_images, shifted_copies
    from .data import load_folder
    from .features import load_feature_net
    from .msssim import diversity

    # generating (a generator), real features, generated, baselines, held-out, usefulness
    stages = _Stages(progress, 2 + _is_generator(source) + bool(baselines) + (holdout is not None)
                     + bool(usefulness))
    images, labels, class_names, real_set, info, draw = _load_source(source, real, size, n, seed,
                                                                     stages)
    real_images = real_set.images
    if len(real_images) < 4 or len(images) < 4:
        raise EnhanceError("the evaluation needs at least 4 real and 4 generated images")
    size = real_images.shape[1]
    net = load_feature_net(features)
    stages.start(f"features of {len(real_images)} real images")
    real_f = net.embed(real_images)
    sets = {}
    stages.start(f"scoring {len(images)} generated images")
    sets["generated"] = score_set(images, real_images, real_f, net, threshold=threshold, seed=seed)
    extra = {}
    if baselines:
        stages.start("scoring the trivial baselines")
        extra["gaussian"] = gaussian_images(real_images, len(images), seed=seed)
        extra["shifted_copies"], _ = shifted_copies(real_images, len(images), seed=seed)
        for name in ("gaussian", "shifted_copies"):
            sets[name] = score_set(extra[name], real_images, real_f, net, threshold=threshold,
                                   seed=seed)
    holdout_set = None
    if holdout is not None:
        stages.start("scoring the held-out real images")
        holdout_set = load_folder(holdout, size, fit=info["fit"])
        if len(holdout_set.images) >= 4:
            sets["holdout_real"] = score_set(holdout_set.images, real_images, real_f, net,
                                             threshold=threshold, seed=seed)
    matches = {name: s.pop("_match", None) for name, s in sets.items()}
    report = {
        "source": str(source), **info, "real": str(real), "real_images": int(len(real_images)),
        "size": int(size), "classes": [c for c in class_names if c] or None,
        "features": {"name": net.name, "pretext": net.card.get("pretext"),
                     "features": net.card.get("features"),
                     "holdout_rotation_accuracy": net.card.get("holdout_rotation_accuracy"),
                     "weights_sha256": net.card.get("weights_sha256")},
        "copy_threshold": threshold,
        "diversity_real_ms_ssim": diversity(real_images, seed=seed),
        "sets": sets,
        "baselines": BASELINES if baselines else {},
        "flagged_generated": [int(i) for i in np.flatnonzero(matches["generated"].ssim >= threshold)],
    }
    if usefulness:
        stages.start(f"usefulness classifiers (4 arms x {usefulness_seeds} seeds)")
        report["usefulness"] = _usefulness(images, labels, class_names, real_set, holdout_set,
                                           usefulness_steps, seed, usefulness_seeds, draw)
    gen = sets["generated"]
    report["verdict"] = {
        "fd_below_gaussian": bool(baselines and gen["fd"] < sets["gaussian"]["fd"]),
        "fd_below_shifted_copies": bool(baselines and gen["fd"] < sets["shifted_copies"]["fd"]),
        "no_near_copies": gen["near_copies"] == 0,
    }
    if out_dir is not None:
        write_report(out_dir, report, images, real_images, matches["generated"])
    stages.finish()
    return report


def card_summary(report, command=None):
    """The figures of an evaluation that go into the generator's ``card.json`` (``evaluation``)."""
    sets = report["sets"]
    verdict = report["verdict"]
    figure = {name: {key: round(float(s[key]), 3) for key in ("fd", "kid")}
              for name, s in sets.items()}
    beaten = [name for name in ("gaussian", "shifted_copies")
              if verdict.get(f"fd_below_{name}")]
    summary = {
        "features": report["features"]["name"],
        "real_images": report["real_images"],
        "generated_images": sets["generated"]["n"],
        "fd": {name: f["fd"] for name, f in figure.items()},
        "kid": {name: f["kid"] for name, f in figure.items()},
        f"near_copies_at_{report['copy_threshold']}": {
            name: s.get("near_copies") for name, s in sets.items()},
        "diversity_ms_ssim": {"generated": round(sets["generated"]["diversity_ms_ssim"], 3),
                              "real": round(report["diversity_real_ms_ssim"], 3)},
        "verdict": verdict,
        "summary": (f"FD {figure['generated']['fd']} beats "
                    f"{', '.join(beaten) if beaten else 'no trivial baseline'}; "
                    f"{sets['generated'].get('near_copies')} near-copies"),
    }
    if report.get("usefulness") and "skipped" not in report["usefulness"]:
        summary["usefulness"] = usefulness_summary(report["usefulness"])
    if command:
        summary["command"] = command
    return summary


def _rounded(stat, digits=4):
    return {"mean": round(stat["mean"], digits),
            "ci95": [None if np.isnan(v) else round(v, digits) for v in stat["ci95"]],
            "seeds": stat["seeds"], "values": [round(v, digits) for v in stat["values"]]}


def usefulness_summary(use):
    """The card's ``evaluation.usefulness``: ``arms.<arm>`` and ``differences.<a - b>``, each
    ``{"mean", "ci95": [lo, hi], "seeds", "values"}`` (rounded to 4 decimals; a bound is
    ``None`` where it is undefined), and the settings they were measured with."""
    return {
        "metric": use["metric"],
        "arms": {arm: _rounded(stat) for arm, stat in use["arms"].items()},
        "differences": {pair: _rounded(stat) for pair, stat in use["differences"].items()},
        "interval": use["interval"],
        "steps": use["steps"], "seeds": use["seeds"], "first_seed": use["first_seed"],
        "train_real": use["train_real"], "train_synthetic": use["train_synthetic"],
        "synthetic_draws": use["synthetic_draws"], "test_real": use["test_real"],
        "classical": "enhance.synth.classical.POLICY: " + ", ".join(
            f"{k} {v}" for k, v in use["classical"].items()),
    }


def record_in_card(model_dir, report, command=None):
    """Write :func:`card_summary` into ``model_dir/card.json`` under ``evaluation``.

    The directory must be a generator's whose weights match its card
    (:func:`enhance.modeldir.read_model_dir`), so the figures land beside the weights they
    describe."""
    from ..modeldir import CARD_FILE, read_model_dir
    from .modeldir import write_json

    found = read_model_dir(model_dir, kind="generator")
    card = dict(found.card, evaluation=card_summary(report, command))
    write_json(found.path / CARD_FILE, card)
    return card["evaluation"]


def _fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-2 and v != 0 else f"{v:.{digits}f}"
    return str(v)


def write_report(out_dir, report, images, real_images, match, *, cols=10):
    """Write ``report.json``, ``report.md`` and ``grid.png`` (2 rows real, 2 rows generated,
    then the generated images most similar to a training image, each beside that image)."""
    from .modeldir import write_json
    from .training import write_grid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "report.json", report)
    rng = np.random.default_rng(0)
    real_pick = real_images[rng.choice(len(real_images), min(2 * cols, len(real_images)), False)]
    gen_pick = images[: 2 * cols]
    order = np.argsort(-match.ssim)[: cols // 2]
    pairs = []
    for k in order:
        nearest = real_images[match.index[k]]
        pairs += [images[k], nearest[:, ::-1] if match.flipped[k] else nearest]
    tiles = [*real_pick, *np.zeros((-len(real_pick) % cols,) + images.shape[1:]),
             *gen_pick, *np.zeros((-len(gen_pick) % cols,) + images.shape[1:]), *pairs]
    write_grid(out_dir / "grid.png", np.stack(tiles), cols)
    lines = [
        "# Synthetic image evaluation", "",
        f"- source: `{report['source']}` ({report['kind']})"
        + (f", generator sha256 `{report['model_sha256']}`" if report.get("model_sha256") else ""),
        f"- real images: `{report['real']}` ({report['real_images']} images, "
        f"{report['size']} x {report['size']}); classes: {report['classes'] or 'none'}",
        f"- features: `{report['features']['name']}` -- {report['features']['pretext']}; "
        f"{report['features']['features']} (held-out rotation accuracy "
        f"{report['features']['holdout_rotation_accuracy']})",
        f"- near-copy: nearest training image (flips included) with SSIM >= "
        f"{report['copy_threshold']}",
        "", "| set | n | FD | KID (sd) | precision | recall | diversity (MS-SSIM) | near-copies | "
        "max nearest SSIM |", "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        lines.append(f"| {name} | {s['n']} | {_fmt(s['fd'])} | {_fmt(s['kid'])} "
                     f"({_fmt(s['kid_std'])}) | {_fmt(s['precision'])} | {_fmt(s['recall'])} | "
                     f"{_fmt(s['diversity_ms_ssim'])} | {s.get('near_copies', '-')} | "
                     f"{_fmt(s.get('nearest_ssim_max'))} |")
    lines.append(f"| real (training) | {report['real_images']} | 0 | 0 | - | - | "
                 f"{_fmt(report['diversity_real_ms_ssim'])} | - | - |")
    hold = report["sets"].get("holdout_real")
    if hold:
        lines += ["", f"Copy-check calibration: the {hold['n']} held-out real images (never trained "
                  f"on) have a nearest-training SSIM of median {_fmt(hold['nearest_ssim_median'])}"
                  f" and {hold['near_copies']} of them reach the threshold: on data this alike "
                  "a flag is a reason to look at the pair (grid.png), not proof of memorisation."]
    lines += ["", "Lower FD/KID is better; precision = generated images inside the real manifold, "
              "recall = real images inside the generated one (k = 3); lower MS-SSIM = more "
              "diverse (compare with the real row)."]
    for name, text in report.get("baselines", {}).items():
        lines.append(f"- baseline `{name}`: {text}")
    use = report.get("usefulness")
    if use:
        lines += ["", "## Usefulness", ""]
        if "skipped" in use:
            lines.append(f"Skipped: {use['skipped']}.")
        else:
            lines += [
                f"Held-out accuracy of a small CNN ({use['steps']} steps per arm and seed, "
                f"{use['seeds']} seeds from {use['first_seed']}): {use['train_real']} real "
                f"training images, {use['train_synthetic']} synthetic ({use['synthetic_draws']}), "
                f"{use['test_real']} test images; {use['note']}. {use['interval']}.", "",
                "| arm | mean | 95% interval | per seed |", "|---|---|---|---|"]
            for name, st in [*use["arms"].items(), *use["differences"].items()]:
                lo, hi = st["ci95"]
                lines.append(f"| {name} | {st['mean']:.3f} | [{lo:.3f}, {hi:.3f}] | "
                             + " ".join(f"{v:.3f}" for v in st["values"]) + " |")
            lines += ["", "Classical augmentation (`enhance.synth.classical`): " + ", ".join(
                f"{k} {v}" for k, v in use["classical"].items()) + "."]
    v = report["verdict"]
    lines += ["", "## Verdict", "",
              f"- FD below the Gaussian baseline: {v['fd_below_gaussian']}",
              f"- FD below the shifted-copies baseline: {v['fd_below_shifted_copies']}",
              f"- no generated image flagged as a near-copy: {v['no_near_copies']}",
              "", "`grid.png`: two rows of real images, two rows of generated images, then the "
              "generated images most similar to a training image, each followed by that image."]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
