"""Regenerate the files of samples/ from images that ship inside installed packages (offline).

    python samples/make_samples.py          # needs scikit-image, pydicom, pillow, dipy, nibabel
    python samples/make_samples.py noisy degraded   # only those groups (clean, noisy, degraded)

Every file's source, licence and processing is listed in samples/README.md. ``degraded`` runs
``enhance degrade "samples/*" TMP --kind KIND`` (the spec's seeds, as ``enhance bench
"samples/*"`` degrades the same eight clean images) and copies one of its files.
"""

import pathlib
import shutil
import sys
import tempfile

import cv2
import numpy as np
import pydicom
import tifffile
from pydicom.data import get_testdata_file
from skimage import color, data, transform

HERE = pathlib.Path(__file__).resolve().parent


def _unit(a):
    a = np.asarray(a, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min())


def clean():
    shutil.copy(get_testdata_file("CT_small.dcm"), HERE / "ct_small.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), HERE / "mr_small.dcm")

    head = pydicom.dcmread(get_testdata_file("J2K_pixelrep_mismatch.dcm")).pixel_array
    head = transform.resize(head.astype(float), (256, 256), anti_aliasing=True)
    cv2.imwrite(str(HERE / "head_ct.png"), np.round(_unit(head) * 65535).astype(np.uint16))

    echo = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm")).pixel_array[0]  # RGB
    cv2.imwrite(str(HERE / "echo_frame00.png"), np.round(color.rgb2gray(echo) * 255).astype(np.uint8))

    retina = transform.resize(data.retina(), (384, 384), anti_aliasing=True)
    bgr = cv2.cvtColor(np.round(retina * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(HERE / "retina.png"), bgr)

    from dipy.data import get_fnames

    t1 = np.load(get_fnames(name="t1_coronal_slice"))
    cv2.imwrite(str(HERE / "t1_coronal.png"), np.round(_unit(t1) * 65535).astype(np.uint16))

    tifffile.imwrite(HERE / "cells.tif", data.cell()[:256, :256])
    tifffile.imwrite(HERE / "ihc.tif", data.immunohistochemistry()[:256, :256], photometric="rgb")


def noisy():
    """Real noisy acquisitions (samples/noisy/): frames and slices no shipped model trained on."""
    import nibabel
    from dipy.data import get_fnames

    out = HERE / "noisy"
    out.mkdir(exist_ok=True)
    # b0 diffusion EPI: slice 9 of 10 (training takes slices 2-7); 12-bit values x 16, rotated
    # so that anterior is up; nothing else done to the pixels
    b0 = np.asarray(nibabel.load(get_fnames(name="S0_10")).dataobj)[:, :, 9, 0]
    cv2.imwrite(str(out / "mr_dwi_b0.png"), np.rot90(b0).astype(np.uint16) * 16)
    # echocardiogram cine frames 1-4 (training takes frames 12-24; frame 0 is echo_frame00.png)
    cine = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm")).pixel_array[1:5]
    gray = np.stack([np.round(color.rgb2gray(f) * 255).astype(np.uint8) for f in cine])
    tifffile.imwrite(out / "echo_cine_f1-4.tif", gray, photometric="minisblack", compression="zlib")


#: samples/degraded/<stem>_<kind>.png: (clean top-level sample, degradation of the spec)
DEGRADED = (("head_ct.png", "gaussian25"), ("t1_coronal.png", "gaussian50"),
            ("cells.tif", "gaussian15"))


def degraded():
    """Spec-degraded copies of clean samples (samples/degraded/) and their references."""
    from enhance.jobs import degrade_folder

    for name, kind in DEGRADED:
        stem = pathlib.Path(name).stem
        with tempfile.TemporaryDirectory() as tmp:
            # the eight clean top-level files, sorted: the spec's seed 1000 * d + i
            result = degrade_folder(str(HERE / "*"), tmp, kind)
            assert result.ok and len(result.results) == 8, result.summary()
            (HERE / "degraded").mkdir(exist_ok=True)
            shutil.copy(pathlib.Path(tmp) / f"{stem}.png", HERE / "degraded" / f"{stem}_{kind}.png")
        (HERE / "reference").mkdir(exist_ok=True)
        suffix = pathlib.Path(name).suffix
        shutil.copy(HERE / name, HERE / "reference" / f"{stem}_{kind}{suffix}")


GROUPS = {"clean": clean, "noisy": noisy, "degraded": degraded}


def main(names=None):
    for name in names or GROUPS:
        GROUPS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
