"""Re-run shipped models' training commands and compare the weights with the shipped ones.

    python benchmarks/reproduce_shipped.py dae-speckle [NAME ...]   # or --all (hours on a CPU)

Each model card records the exact ``enhance train`` command that made its weights. This script
runs that command (its ``--out`` pointed at a temporary folder), then prints the sha256 of the
new ``model.weights.h5`` beside the card's ``weights_sha256``, the new best validation PSNR beside
the card's, and the wall time. ``identical`` means bit-for-bit the same weights: training is
deterministic for a seed (same backend, same Keras and TensorFlow versions, CPU). Exit status 1
if any model differs.
"""

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

from _common import ROOT


def retrain_command(card_command, out_dir):
    """The card's command as an argument list, with ``--out`` replaced by ``out_dir``."""
    args = shlex.split(card_command)
    if args[:2] != ["enhance", "train"] or "--out" not in args:
        raise SystemExit(f"not an `enhance train ... --out DIR` command: {card_command!r}")
    args[args.index("--out") + 1] = str(out_dir)
    return [sys.executable, "-c", "from enhance.cli.main import cli; cli()", *args[1:], "-q"]


def best_validation_psnr(history_csv):
    """The highest ``val_psnr`` in a training ``history.csv``."""
    with open(history_csv, newline="") as stream:
        return max(float(row["val_psnr"]) for row in csv.DictReader(stream) if row["val_psnr"])


def main():
    from enhance.modeldir import file_sha256
    from enhance.shipped import shipped_model_dirs

    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    shipped = {path.name: path for path in shipped_model_dirs()
               if json.loads((path / "card.json").read_text()).get("command", "").startswith("enhance train")}
    names = sorted(shipped) if args.all else args.names
    if not names:
        parser.error("name shipped models (e.g. dae-speckle) or pass --all")
    unknown = [n for n in names if n not in shipped]
    if unknown:
        parser.error(f"not shipped: {', '.join(unknown)}; shipped: {', '.join(sorted(shipped))}")
    differ = []
    for name in names:
        card = json.loads((shipped[name] / "card.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            command = retrain_command(card["command"], f"{tmp}/{name}")
            print(f"{name}: {card['command']}", flush=True)
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            seconds = time.perf_counter() - start
            new_psnr = best_validation_psnr(f"{tmp}/{name}/history.csv")
            new_sha = file_sha256(f"{tmp}/{name}/model/model.weights.h5")
        same = new_sha == card["weights_sha256"]
        differ += [] if same else [name]
        print(f"  {'identical' if same else 'DIFFERENT'} weights in {seconds:.0f} s: sha256 {new_sha[:16]} "
              f"(card {card['weights_sha256'][:16]}); best validation PSNR "
              f"{new_psnr:.3f} (shipped {best_validation_psnr(shipped[name] / 'history.csv'):.3f})", flush=True)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
