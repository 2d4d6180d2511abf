"""Do synthetic images help a denoiser generalise? Issue 31's second downstream task.

    python benchmarks/synth_denoiser.py DATA [--generator synth-mni-brain64] [--seeds 5]
                                             [--steps 1000] [--out runs/synth-denoiser]

``DATA`` is the folder written by ``enhance synth recipe mni-brain64 DATA`` (``DATA/train``: the
generator's training slices; ``DATA/holdout``: slices never trained on). Two arms, the project's
own training recipe (:func:`enhance.training.train`: random patches, flips and rot90, the
``gaussian`` task with jittered sigma) at reduced size and steps (a DnCNN of depth 5 and width
16, 32 x 32 patches, batches of 16):

* ``real`` -- trained on the real training slices (clean);
* ``real+synthetic`` -- on the same plus as many generated slices (classes in turn), a fresh draw
  per seed (``generate_images(generator, n, seed=s)``);

both scored by validation PSNR on the held-out real slices (the spec's gaussian preset, each
degraded once). Seed ``s`` fixes the network's initialisation and the batches of both arms, so
their difference is paired by seed; mean and Student-t 95% interval over the seeds
(:func:`enhance.synth.usefulness.arm_statistics`). Training runs go under ``--out`` (a
temporary folder by default); prints a table and writes ``--json`` if given.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT  # noqa: F401  (puts the repository on sys.path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--generator", default="synth-mni-brain64")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import numpy as np

    from enhance.shipped import resolve_model
    from enhance.synth.data import load_folder
    from enhance.synth.generate import generate_images
    from enhance.synth.modeldir import load_generator
    from enhance.synth.usefulness import arm_statistics
    from enhance.training import TrainConfig, train

    generator = load_generator(resolve_model(args.generator, kind="generator"))
    real = load_folder(Path(args.data) / "train", generator.size).images
    holdout = load_folder(Path(args.data) / "holdout", generator.size).images
    validation = [(f"holdout_{i:03d}", im) for i, im in enumerate(holdout)]
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synth-denoiser-"))
    runs = {"real": [], "real+synthetic": []}
    start = time.time()
    for s in range(args.seeds):
        synthetic = generate_images(generator, len(real), seed=s)[0]
        for arm, images in (("real", real), ("real+synthetic", np.concatenate([real, synthetic]))):
            config = TrainConfig(arch="dncnn", arch_params={"depth": 5, "width": 16},
                                 task="gaussian", steps=args.steps, patch=32, batch=16, seed=s,
                                 val_every=args.steps, log_every=args.steps)
            result = train(config, data={"train": list(images), "validation": validation},
                           out_dir=out / f"{arm}-seed{s}", resume=False)
            runs[arm].append(float(result.best_psnr))
            print(f"seed {s} {arm:15s} validation PSNR {result.best_psnr:.3f} dB "
                  f"({time.time() - start:.0f} s)", flush=True)
    arms, differences = arm_statistics(runs)
    print(f"\n{len(real)} real + {len(real)} synthetic training slices, {len(holdout)} held-out; "
          f"DnCNN depth 5 width 16, {args.steps} steps, {args.seeds} seeds; "
          f"{time.time() - start:.0f} s")
    print("| arm | PSNR (dB) | 95% interval | per seed |\n|---|---|---|---|")
    for name, st in [*arms.items(), *differences.items()]:
        print(f"| {name} | {st['mean']:.3f} | [{st['ci95'][0]:.3f}, {st['ci95'][1]:.3f}] | "
              + " ".join(f"{v:.3f}" for v in st["values"]) + " |")
    if args.json:
        from enhance.io.atomic import atomic_write_json

        atomic_write_json(args.json, {"arms": arms, "differences": differences,
                                      "steps": args.steps, "seeds": args.seeds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
