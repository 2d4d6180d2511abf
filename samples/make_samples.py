"""Regenerate the files of samples/ from images that ship inside installed packages (offline).

    python samples/make_samples.py          # needs scikit-image, pydicom, pillow, dipy

Every file's source, licence and processing is listed in samples/README.md.
"""

import pathlib
import shutil

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


def main():
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


if __name__ == "__main__":
    main()
