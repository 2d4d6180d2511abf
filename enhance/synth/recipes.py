"""Offline training sets for the shipped generators, built from images inside installed packages.

``brain-mr64``: axial brain MR slices, two classes, written as 16-bit PNG (64 x 64):

* ``dwi`` -- diffusion b0 (T2-weighted EPI) volumes shipped in dipy's wheel:
  ``S0_10slices.nii.gz`` (128 x 128 x 10), ``aniso_vox.nii.gz`` (58 x 58 x 24) and
  ``test_piesno.nii.gz`` (96 x 96 x 14); BSD-3 (dipy).
* ``fmri`` -- BOLD EPI, nibabel's test file ``example4d.nii.gz`` (128 x 96 x 24, 2 volumes);
  MIT (nibabel).

Each volume is scaled by its own 0.5 / 99.5 percentiles (the same map for all its slices),
slices showing little tissue (mean below 0.05 after scaling) are dropped, each slice is zero
padded to a square and resized to 64 x 64. Every fifth kept slice position of a volume (the same
positions in both fMRI time points, so no near-duplicate crosses the split) goes to
``holdout/<class>/`` (never trained on: for the usefulness test), the rest to ``train/<class>/``.

``mni-brain64``: the MNI152 2009a symmetric T1 template (1 mm, 197 x 233 x 189; the file
``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz`` inside nilearn's wheel, read by path with
nibabel, so ``pip install --no-deps nilearn`` is enough; nilearn is BSD-3, the template's licence
is in nilearn's ``datasets/description/icbm152_2009.rst``), three classes by slice orientation:

* ``axial`` and ``coronal`` -- every slice showing tissue;
* ``sagittal`` -- one hemisphere and the midline only (the template is exactly left-right
  symmetric: slice ``x`` and ``196 - x`` are mirror twins, which would cross the split).

The volume is scaled by its 0.5 / 99.5 percentiles, slices with mean below 0.05 dropped, each
slice turned so that anterior (axial) or superior (coronal, sagittal) is at the top, zero padded
to a square and resized to 64 x 64. Neighbouring 1 mm slices are nearly identical, so the split
is by blocks: the kept slices of each orientation are cut into blocks of 10; every fifth block's
middle six slices go to ``holdout/`` and its outer four are dropped (a gap of at least 3 mm
between any training and holdout slice); the other blocks go to ``train/``.

The reserved evaluation sets (pydicom-data, mricron-data, insighttoolkit5-examples) are not read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..datasets import mni_volume  # noqa: F401 - re-exported: the template's reader lives there
from ..errors import EnhanceError, UnknownName

__all__ = ["RECIPES", "write_recipe", "brain_mr_volumes", "brain_mr_slices", "mni_volume",
           "mni_brain_slices"]

HOLDOUT_EVERY = 5
MIN_MEAN = 0.05
MNI_BLOCK = 10
MNI_GAP = 2


def _site_file(package, *parts):
    import importlib

    module = importlib.import_module(package)
    path = Path(os.path.dirname(module.__file__), *parts)
    if not path.is_file():
        raise EnhanceError(f"{path}: not found (is {package} installed with its data files?)")
    return path


def _mni_split(rank):
    """``"train"``, ``"holdout"`` or None (dropped) for the ``rank``-th kept slice."""
    block, offset = divmod(rank, MNI_BLOCK)
    if block % HOLDOUT_EVERY != HOLDOUT_EVERY // 2:
        return "train"
    return "holdout" if MNI_GAP <= offset < MNI_BLOCK - MNI_GAP else None


def mni_brain_slices(size=64, volume=None):
    """The ``mni-brain64`` images in memory: list of (split, class, name, image (size, size))."""
    from .data import fit_square

    volume = mni_volume() if volume is None else np.asarray(volume, np.float64)
    lo, hi = np.percentile(volume, [0.5, 99.5])
    scaled = np.clip((volume - lo) / (hi - lo), 0.0, 1.0)
    midline = (scaled.shape[0] - 1) // 2
    views = {  # class: (slices along the axis, how to take slice i) ; rot90 puts the top up
        "axial": (range(scaled.shape[2]), lambda i: np.rot90(scaled[:, :, i])),
        "coronal": (range(scaled.shape[1]), lambda i: np.rot90(scaled[:, i, :])),
        "sagittal": (range(midline, scaled.shape[0]), lambda i: np.rot90(scaled[i, :, :])),
    }
    slices = []
    for cls, (positions, take) in views.items():
        kept = [i for i in positions if take(i).mean() >= MIN_MEAN]
        for rank, i in enumerate(kept):
            split = _mni_split(rank)
            if split is not None:
                image = fit_square(take(i), size, fit="pad")
                slices.append((split, cls, f"mni152_{cls}_{i:03d}", image))
    return slices


def brain_mr_volumes():
    """The source volumes of ``brain-mr64``: (class, name, array (X, Y, Z), quarter turns)."""
    import nibabel as nib

    def load(package, *parts):
        return np.asanyarray(nib.load(str(_site_file(package, *parts))).dataobj).astype(np.float64)

    s0 = load("dipy", "data", "files", "S0_10slices.nii.gz")[..., 0]
    aniso = load("dipy", "data", "files", "aniso_vox.nii.gz")
    piesno = load("dipy", "data", "files", "test_piesno.nii.gz")
    epi = load("nibabel", "tests", "data", "example4d.nii.gz")
    return [
        ("dwi", "dipy_S0_10slices", s0, 1),
        ("dwi", "dipy_aniso_vox", aniso, 1),
        ("dwi", "dipy_test_piesno", piesno, 0),
        ("fmri", "nibabel_example4d_t0", epi[..., 0], 1),
        ("fmri", "nibabel_example4d_t1", epi[..., 1], 1),
    ]


def brain_mr_slices(size=64):
    """The ``brain-mr64`` images in memory: list of (split, class, name, image (size, size))."""
    from .data import fit_square

    slices = []
    for cls, name, volume, turns in brain_mr_volumes():
        lo, hi = np.percentile(volume, [0.5, 99.5])
        scaled = np.clip((volume - lo) / (hi - lo), 0.0, 1.0)
        kept = [z for z in range(scaled.shape[2]) if scaled[:, :, z].mean() >= MIN_MEAN]
        for rank, z in enumerate(kept):
            split = "holdout" if rank % HOLDOUT_EVERY == HOLDOUT_EVERY // 2 else "train"
            # quarter turns put anterior at the top for every volume
            slice_ = np.rot90(scaled[:, :, z], turns)
            slices.append((split, cls, f"{name}_z{z:02d}", fit_square(slice_, size, fit="pad")))
    return slices


def _brain_mr(out_dir, size=64):
    return _write_slices(out_dir, brain_mr_slices(size))


def _write_slices(out_dir, slices):
    from ..io import write_image

    written = []
    for split, cls, name, image in slices:
        target = Path(out_dir) / split / cls / f"{name}.png"
        write_image(target, image, dtype=np.uint16)
        written.append(target)
    return written


def _mni_brain(out_dir, size=64):
    return _write_slices(out_dir, mni_brain_slices(size))


RECIPES = {"brain-mr64": _brain_mr, "mni-brain64": _mni_brain}


def write_recipe(name, out_dir):
    """Write a recipe's images to ``out_dir/train/<class>/`` and ``out_dir/holdout/<class>/``.

    Parameters
    ----------
    name : str
        A key of :data:`RECIPES`.
    out_dir : str or Path

    Returns
    -------
    list of Path
        The files written.
    """
    if name not in RECIPES:
        raise UnknownName(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name](out_dir)
