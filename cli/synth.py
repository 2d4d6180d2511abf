"""``enhance synth``: train a GAN on a folder of images, generate images, evaluate them."""

import click


@click.group()
def synth():
    """Synthetic images: train a class-conditional GAN, generate, evaluate.

    \b
    enhance synth recipe brain-mr64 data/brain         # offline brain MR slices (2 classes)
    enhance synth train data/brain/train --out gen --steps 3000
    enhance synth generate gen/ out/synth -n 1000 --reject-copies --real data/brain/train
    enhance synth generate synth-mni-brain64 out/mni -n 30     # a shipped generator, by name
    enhance synth evaluate gen --real data/brain/train --holdout data/brain/holdout --out report
    """


@synth.command()
@click.argument("name", type=click.Choice(["brain-mr64", "mni-brain64"]))
@click.argument("out_dir", type=click.Path(file_okay=False))
def recipe(name, out_dir):
    """Write an offline training set (images shipped in installed packages) to OUT_DIR.

    brain-mr64: axial brain MR slices, classes dwi (dipy b0 volumes) and fmri (nibabel EPI),
    64 x 64 16-bit PNG, split into OUT_DIR/train/<class> and OUT_DIR/holdout/<class>.

    mni-brain64: the MNI152 T1 template (inside nilearn's wheel; `pip install --no-deps
    nilearn`), classes axial, coronal and sagittal, 64 x 64 16-bit PNG, split by blocks of
    slices with a gap.
    """
    from ..synth.recipes import write_recipe

    from .common import library_errors

    with library_errors():
        written = write_recipe(name, out_dir)
    click.echo(f"wrote {len(written)} images to {out_dir}")


@synth.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Model directory (a rerun resumes from its checkpoint).")
@click.option("--size", type=click.Choice(["64", "128"]), default="64", show_default=True,
              help="Image side.")
@click.option("--steps", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Total training steps (a larger value on a rerun trains further).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=16, show_default=True)
@click.option("--width", type=click.IntRange(min=4), default=16, show_default=True,
              help="Channels at full resolution (doubled per halving, at most 8x).")
@click.option("--fit", type=click.Choice(["crop", "pad"]), default="crop", show_default=True,
              help="Make non-square images square by a central crop or zero padding.")
@click.option("--policy", default="color,translation,cutout", show_default=True,
              help="DiffAugment policies, comma-separated (color, translation, cutout); on "
                   "small sets with large dark backgrounds cutout can leak into the images.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--max-minutes", type=float, default=None,
              help="Stop with a checkpoint after this long; run again to continue.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train(data, out_dir, size, steps, seed, batch_size, width, fit, policy, checkpoint_every,
          max_minutes, quiet):
    """Train a generator on the images in DATA (subfolders = classes).

    Hinge-loss DCGAN with DiffAugment (translation, cutout, brightness/contrast), a
    spectral-norm projection discriminator and an EMA generator. Writes OUT: config.json,
    generator.weights.h5, discriminator.weights.h5, card.json (sha256), samples/*.png,
    checkpoint/ (resume after a kill by running the same command again).
    """
    from ..synth.training import train as train_gan

    from .common import library_errors, step_bar

    command = (f"enhance synth train {data} --out {out_dir} --size {size} --steps {steps} "
               f"--seed {seed} --batch-size {batch_size} --width {width} --fit {fit} "
               f"--policy {policy}")
    callback, close = step_bar(quiet=quiet)
    with library_errors():
        try:
            result = train_gan(data, out_dir, size=int(size), steps=steps, seed=seed,
                               batch_size=batch_size, width=width, max_width=8 * width, fit=fit,
                               policy=policy, checkpoint_every=checkpoint_every,
                               sample_every=checkpoint_every, max_minutes=max_minutes,
                               progress=callback, command=command)
        finally:
            close()
    state = "finished" if result["step"] >= result["steps"] else "stopped (run again to resume)"
    click.echo(f"{state} at step {result['step']}/{result['steps']} "
               f"(resumed from {result['resumed_from']}); generator sha256 {result['sha256']}")


@synth.command()
@click.argument("model_dir", metavar="MODEL")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("-n", "count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of images.")
@click.option("--class", "class_name", default=None, help="Only this class.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--reject-copies", is_flag=True,
              help="Leave out near-copies of the training images (needs --real).")
@click.option("--real", type=click.Path(exists=True), default=None,
              help="The training images (for --reject-copies).")
@click.option("--threshold", type=float, default=0.9, show_default=True,
              help="SSIM at or above which an image is a near-copy.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def generate(model_dir, out_dir, count, class_name, seed, reject_copies, real, threshold, quiet):
    """Write N generated images from MODEL to OUT_DIR, with manifest.jsonl.

    MODEL is a shipped generator's name (enhance models) or a generator directory given as a
    path (./gen, /abs/gen).

    Image i uses the latent numpy.random.default_rng([SEED, i]).standard_normal and class
    i mod C (or --class); PNG, 16-bit when the training data were.
    """
    from ..shipped import resolve_model
    from ..synth.generate import generate_folder

    from .common import library_errors, progress_bar

    with library_errors():
        model_dir = resolve_model(model_dir, kind="generator")
    if reject_copies and real is None:
        raise click.UsageError("--reject-copies needs --real DATA (the training images)")
    update, close = progress_bar(quiet=quiet, describe=lambda path: path.name)
    try:
        with library_errors():
            result = generate_folder(model_dir, count, out_dir, class_name=class_name, seed=seed,
                                     reject_copies=reject_copies, real=real, threshold=threshold,
                                     progress=update)
    finally:
        close()
    click.echo(f"wrote {result['written']} images to {out_dir} ({result['rejected']} near-copies "
               f"rejected); manifest {result['manifest']}")


@synth.command()
@click.argument("source")
@click.option("--real", required=True, type=click.Path(exists=True),
              help="The real (training) images.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Report folder (report.json, report.md, grid.png).")
@click.option("--holdout", type=click.Path(exists=True), default=None,
              help="Held-out real images: FD floor and usefulness test set.")
@click.option("-n", "count", type=click.IntRange(min=4), default=None,
              help="Images to generate / use (default max(200, real images)).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--features", default=None,
              help="A shipped feature network's name or a directory given as a path "
                   "(default: the shipped synth-features-rot64).")
@click.option("--no-baselines", is_flag=True, help="Skip the trivial baselines.")
@click.option("--no-usefulness", is_flag=True, help="Skip the classifier test.")
@click.option("--usefulness-seeds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Seeds per usefulness arm (training seed and, for a generator, a fresh draw "
                   "of the generated images); the 95% intervals are Student-t over them.")
@click.option("--usefulness-steps", type=click.IntRange(min=1), default=300, show_default=True,
              help="Training steps of each usefulness classifier (batches of 32).")
@click.option("--threshold", type=float, default=0.9, show_default=True,
              help="Near-copy SSIM threshold.")
@click.option("--record", is_flag=True,
              help="Write the figures and this command into SOURCE's card.json (a generator).")
def evaluate(source, real, out_dir, holdout, count, seed, features, no_baselines, no_usefulness,
             usefulness_seeds, usefulness_steps, threshold, record):
    """Score SOURCE (a generator or a folder of generated images) against --real.

    SOURCE is a shipped generator's name (enhance models), or a folder: a generator directory
    or generated images.

    FD and KID in the project's own feature space, precision/recall, MS-SSIM diversity,
    near-copies of training images, usefulness for a classifier, beside trivial baselines.

    Usefulness: held-out accuracy of a small classifier in four arms -- real, real + classical
    augmentation (flips, shifts, rotations, elastic, gain/gamma), real + synthetic, real +
    classical + synthetic -- over --usefulness-seeds seeds, with 95% intervals and the paired
    differences between arms.
    """
    from ..shipped import is_path_like, resolve_model, shipped_model_dirs
    from ..synth.evaluate import evaluate as run_evaluation

    from .common import library_errors, progress_bar

    given_source, given_features = source, features  # as typed, for the recorded command
    update, close = progress_bar(quiet=False, unit="stage", describe=str)
    with library_errors():
        if not is_path_like(source) and source in {p.name for p in shipped_model_dirs()}:
            source = str(resolve_model(source, kind="generator"))
        features_dir = None if features is None else resolve_model(features, kind="features")
        try:
            report = run_evaluation(source, real, out_dir=out_dir, n=count, seed=seed,
                                    holdout=holdout, features=features_dir,
                                    baselines=not no_baselines, usefulness=not no_usefulness,
                                    usefulness_steps=usefulness_steps,
                                    usefulness_seeds=usefulness_seeds, threshold=threshold,
                                    progress=update)
        finally:
            close()
    for name, s in report["sets"].items():
        click.echo(f"{name:15s} FD {s['fd']:9.3f}  KID {s['kid']:8.4f}  P {s['precision']:.2f}  "
                   f"R {s['recall']:.2f}  MS-SSIM {s['diversity_ms_ssim']:.3f}  "
                   f"copies {s.get('near_copies', '-')}")
    use = report.get("usefulness") or {}
    for kind, sign in (("arms", ""), ("differences", "+")):
        for name, st in use.get(kind, {}).items():
            lo, hi = st["ci95"]
            click.echo(f"{name:45s} accuracy {st['mean']:{sign}.3f}  95% CI [{lo:{sign}.3f}, "
                       f"{hi:{sign}.3f}]  ({st['seeds']} seeds)")
    if "skipped" in use:
        click.echo(f"usefulness skipped: {use['skipped']}")
    if out_dir:
        import os

        click.echo(f"report: {os.path.join(out_dir, 'report.md')}")
    if record:
        import shlex
        from pathlib import Path

        from ..synth.evaluate import record_in_card

        if report.get("kind") != "generator" or not (Path(source) / "card.json").is_file():
            raise click.ClickException(f"{source}: --record needs a generator directory with a "
                                       "card.json")
        words = [given_source, "--real", real]
        for flag, value in (("--holdout", holdout), ("-n", count), ("--seed", seed),
                            ("--features", given_features), ("--threshold", threshold),
                            ("--usefulness-seeds", None if no_usefulness else usefulness_seeds),
                            ("--usefulness-steps", None if no_usefulness else usefulness_steps),
                            ("--out", out_dir)):
            if value is not None:
                words += [flag, str(value)]
        words += [flag for flag, on in (("--no-baselines", no_baselines),
                                        ("--no-usefulness", no_usefulness)) if on]
        command = "enhance synth evaluate " + shlex.join([*words, "--record"])
        summary = record_in_card(source, report, command)
        click.echo(f"recorded in {source}/card.json: {summary['summary']}")
