"""Scale-out: `enhance run` on the local engine and on Ray (1 and 2 actors), in one run.

    python benchmarks/scale.py [--images 24] [--size 256] [--model dncnn-gaussian] [--tiny 64]

Needs the ray extra (pip install -e ".[ray]"). Each configuration is `enhance_folder` in a fresh
Python process, as `enhance run` would be, on the same folder (real crops of the samples, 16-bit
PNG) with the same model:

* start-up: from the process's start to the first output written (imports, model load; for Ray
  also starting a local Ray instance and its actors, each importing TensorFlow and loading the
  model);
* steady images/s: files per second from the first output written to the last (the outputs'
  modification times: when each was finished, wherever it was);
* end-to-end images/s: files over the whole process time;
* manifest lag: how long after its output was finished a file's record reached the manifest
  (the driver gets Ray's records a block of files at a time).

Ray with N actors starts a local instance with N CPUs, one CPU (and one TensorFlow thread) per
actor; the local engine uses every core. Then, on `--tiny` images of 16 x 16 with a tiny DnCNN
(the work per file is almost nothing), Ray's overhead per file: its time per file outside the
file's own work (read, restore, write) minus the local engine's. Last, the cost model: the folder size above which Ray's extra start-up is
paid back, measured here (same machine) and, assuming throughput scales with the node count
(shared storage keeping up), on K nodes like this one.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.time()  # the child's clock starts before any import (wall clock: file mtimes)

from _common import real_images  # noqa: E402


def child(engine, actors, source, out, model):
    """One configuration; prints one JSON line."""
    from enhance.pipeline import enhance_folder

    arrivals, finished, seconds = [], [], []

    def progress(done, total, result):
        if result is None:  # the call before the first file
            return
        arrivals.append(time.time() - START)
        finished.append(os.stat(result.output).st_mtime - START)
        seconds.append(result.seconds)

    options = {"actors": actors} if engine == "ray" else None
    result = enhance_folder(source, out, model=model, engine=engine, engine_options=options,
                            progress=progress)
    total = time.time() - START
    print(json.dumps({"done": result.count("done"), "failed": len(result.failed), "arrivals": arrivals,
                      "finished": finished, "seconds": seconds, "total": total}))


def measure(engine, actors, source, out, model):
    command = [sys.executable, __file__, "--child", engine, str(actors), str(source), str(out), str(model)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        sys.exit(f"{engine} x{actors} failed:\n{run.stderr[-3000:]}")
    data = json.loads(run.stdout.strip().splitlines()[-1])
    if data["failed"] or data["done"] != len(data["arrivals"]):
        sys.exit(f"{engine} x{actors}: {data['failed']} files failed")
    finished = sorted(data["finished"])
    steady = (finished[-1] - finished[0]) / max(1, len(finished) - 1)
    lag = [a - f for a, f in zip(data["arrivals"], data["finished"])]
    return {"startup": finished[0], "steady": steady, "total": data["total"], "n": len(finished),
            "inside": sum(data["seconds"]) / len(data["seconds"]), "lag": sum(lag) / len(lag)}


def write_folder(folder, images):
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"img{i:04d}.png"), np.round(image * 65535).astype(np.uint16))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", default="dncnn-gaussian")
    parser.add_argument("--tiny", type=int, default=64, help="16 x 16 images for the per-file overhead")
    args = parser.parse_args()
    import numpy as np

    from enhance.modeldir import make_config, save_model_dir
    from enhance.models import build_model
    from enhance.ray_engine import import_ray

    import_ray()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_folder(tmp / "in", real_images(args.size, args.images))
        print(f"model {args.model}, {args.images} images of {args.size}x{args.size} (16-bit PNG), "
              f"{os.cpu_count()} CPUs")
        print(f"{'engine':<14} {'start-up s':>10} {'steady img/s':>13} {'end-to-end img/s':>17} "
              f"{'steady x local':>15} {'s in a file':>12} {'manifest lag s':>15}")
        rows = {}
        for name, engine, actors in (("local", "local", 0), ("ray, 1 actor", "ray", 1),
                                     ("ray, 2 actors", "ray", 2)):
            rows[name] = m = measure(engine, actors, tmp / "in", tmp / f"out-{engine}{actors}", args.model)
            ratio = rows["local"]["steady"] / m["steady"]
            print(f"{name:<14} {m['startup']:>10.1f} {1 / m['steady']:>13.2f} "
                  f"{m['n'] / m['total']:>17.2f} {ratio:>15.2f} {m['inside']:>12.3f} {m['lag']:>15.2f}",
                  flush=True)
        one, two = rows["ray, 1 actor"], rows["ray, 2 actors"]
        print(f"ray 2 actors / 1 actor (steady): {one['steady'] / two['steady']:.2f} x")

        # per-file overhead: almost no work per file
        config = make_config("dncnn", "gaussian", arch_params={"depth": 3, "width": 8})
        save_model_dir(tmp / "tiny-model", build_model(config), config, {"name": "tiny-dncnn"})
        rng = np.random.default_rng(0)
        write_folder(tmp / "tiny", [rng.random((16, 16)).astype(np.float32) for _ in range(args.tiny)])
        local = measure("local", 0, tmp / "tiny", tmp / "tiny-local", tmp / "tiny-model")
        ray = measure("ray", 1, tmp / "tiny", tmp / "tiny-ray", tmp / "tiny-model")
        out_local, out_ray = local["steady"] - local["inside"], ray["steady"] - ray["inside"]
        print(f"per-file overhead, {args.tiny} images of 16x16, tiny DnCNN: local {local['steady'] * 1e3:.1f} "
              f"ms/file of which {out_local * 1e3:.1f} outside the file's work, ray 1 actor "
              f"{ray['steady'] * 1e3:.1f} ms/file of which {out_ray * 1e3:.1f} outside: Ray adds "
              f"{(out_ray - out_local) * 1e3:.1f} ms per file")

        # cost model: total(N) = start-up + N x steady seconds per file
        base = rows["local"]
        extra = two["startup"] - base["startup"]
        print(f"cost model: Ray (2 actors) starts {extra:.1f} s later than the local engine;")
        for nodes in (1, 2, 4, 8):
            per_file = two["steady"] / nodes
            gain = base["steady"] - per_file
            when = f"above {extra / gain:.0f} images" if gain > 0 else "never (no faster per file)"
            label = "measured, this machine" if nodes == 1 else "if it scales with nodes"
            print(f"  {nodes} node(s) like this one ({label}): "
                  f"{1 / per_file:.2f} img/s, Ray pays {when}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        engine, actors, source, out, model = sys.argv[2:7]
        child(engine, int(actors), source, out, model)
    else:
        main()
