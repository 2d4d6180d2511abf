"""A study through a PACS against the same folder run: `enhance run URL OUT --store ROOT`.

    python benchmarks/pacs_roundtrip.py [--slices 100] [--repeats 2]

Synthesises a CT study of ``--slices`` slices from pydicom's CT_small.dcm (new Study, Series and
SOP Instance UIDs, each slice's pixels shifted so that no two are equal), starts a throw-away
Orthanc with its DICOMweb plugin (tests/services/orthanc.py; `sh tests/services/install.sh`),
uploads the study (STOW-RS, not timed), then times whole commands in fresh processes, start-up
included, with the model's conversion cache warm (one run first, not timed):

- ``enhance run STUDY_FOLDER OUT -q``: the folder run;
- ``enhance run URL OUT --store ROOT -q``: list (QIDO-RS), retrieve (WADO-RS), enhance, store each
  derived instance (STOW-RS) into the same study.

Prints each one's best seconds of ``--repeats`` (alternating, each in a new OUT), the ratio PACS
/ folder (the goal: at most 1.5) and checks that the server then holds one derived series of
``--slices`` instances.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _orthanc():
    spec = importlib.util.spec_from_file_location("enhance_test_orthanc", ROOT / "tests/services/orthanc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_study(folder, slices):
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    pixels = base.pixel_array
    datasets = []
    for i in range(slices):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.SliceLocation = float(i)
        ds.PixelData = np.roll(pixels, i, axis=1).astype(pixels.dtype).tobytes()
        ds.save_as(Path(folder) / f"slice{i:03d}.dcm", enforce_file_format=True)
        datasets.append(ds)
    return study, datasets


def timed(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout.strip().splitlines()[-2 if "preview" in done.stdout else -1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    orthanc = _orthanc()
    if orthanc.missing():
        sys.exit(orthanc.missing())
    import requests
    from dicomweb_client.api import DICOMwebClient

    enhance = [sys.executable, "-c", "from enhance.cli.main import cli; cli()"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "study").mkdir()
        study, datasets = make_study(tmp / "study", args.slices)
        env = {**os.environ, "ENHANCE_DICOMWEB_USER": orthanc.USER,
               "ENHANCE_DICOMWEB_PASSWORD": orthanc.PASSWORD,
               "ENHANCE_CACHE_DIR": str(tmp / "cache")}
        with orthanc.Orthanc(tmp / "orthanc") as server:
            session = requests.Session()
            session.auth = (orthanc.USER, orthanc.PASSWORD)
            client = DICOMwebClient(server.root, session=session)
            for start in range(0, len(datasets), 25):
                client.store_instances(datasets[start:start + 25])
            url = f"{server.root}/studies/{study}"
            print(f"{args.slices} CT slices of 128x128 (CT_small.dcm), Orthanc "
                  f"{server.url} (DICOMweb plugin), {os.cpu_count()} CPUs")
            timed([*enhance, "run", str(tmp / "study"), str(tmp / "warm"), "-q", "--no-preview"], env)
            best = {"folder": float("inf"), "pacs": float("inf")}
            for repeat in range(args.repeats):
                seconds, line = timed([*enhance, "run", str(tmp / "study"), str(tmp / f"folder{repeat}"),
                                       "-q"], env)
                best["folder"] = min(best["folder"], seconds)
                print(f"  folder run {repeat + 1}: {seconds:6.2f} s  ({line.split(': ', 1)[-1]})")
                # a new OUT: all retrieved, enhanced and stored again (the same instances, which
                # the server keeps once)
                seconds, line = timed([*enhance, "run", url, str(tmp / f"pacs{repeat}"), "--store",
                                       server.root, "-q"], env)
                best["pacs"] = min(best["pacs"], seconds)
                print(f"  PACS run   {repeat + 1}: {seconds:6.2f} s  ({line.split(': ', 1)[-1]})")
            series = client.search_for_series(study_instance_uid=study)
            derived = [s for s in series if s["0020000E"]["Value"][0] != datasets[0].SeriesInstanceUID]
            counts = [len(client.search_for_instances(study_instance_uid=study,
                                                      series_instance_uid=s["0020000E"]["Value"][0]))
                      for s in derived]
        print(f"folder run {best['folder']:.2f} s, PACS round trip {best['pacs']:.2f} s: "
              f"ratio {best['pacs'] / best['folder']:.2f}x (goal <= 1.5x); the study now has "
              f"{len(derived)} derived series of {counts} instances")


if __name__ == "__main__":
    main()
