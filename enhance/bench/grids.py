"""Which images get an image grid in ``report.html``, and in which order per degradation.

A benchmark's grids are computed for a few images only. Chosen evenly over the sorted list,
three of the samples are a microscopy image, a CT and an MR, and the speckle section would show
no ultrasound. So the choice looks at each image's modality (a DICOM file's ``Modality``, else
words of its path: ``echo``, ``us``, ``ultrasound``, ``ct``, ``mr``, ``t1``, ``fundus``, ``cell``,
``ihc``, ...): first one image of each task's own modality (:attr:`enhance.tasks.Task.grid_modalities`:
ultrasound for speckle, microscopy for low light; tasks in their ``grid_rank`` order), then the
evenly spread picks; and each degradation's section lists its task's modality first.
"""

from __future__ import annotations

import re
import numpy as np

__all__ = ["modality_of", "pick_grid_images", "order_for_task"]

#: Words of a file's path (split at non-letters) that name a modality.
_WORDS = {
    "ultrasound": ("us", "ultrasound", "echo", "echocardiogram", "sono", "bmode", "doppler"),
    "CT": ("ct", "cta", "cbct"),
    "MR": ("mr", "mri", "t1", "t2", "flair", "dwi", "epi", "b0"),
    "fundus": ("fundus", "retina", "retinal"),
    "microscopy": ("cell", "cells", "microscopy", "fluorescence", "nuclei", "confocal"),
    "histology": ("ihc", "histology", "histo", "he"),
    "X-ray": ("xray", "cr", "dx", "radiograph"),
}
#: DICOM ``Modality`` values -> the names above.
_DICOM = {"US": "ultrasound", "IVUS": "ultrasound", "CT": "CT", "MR": "MR", "OP": "fundus",
          "SM": "microscopy", "GM": "microscopy", "CR": "X-ray", "DX": "X-ray", "MG": "X-ray"}


def modality_of(path):
    """A modality name for an image file (see :data:`_WORDS`), or None when nothing says."""
    path = str(path)
    if path.lower().endswith((".dcm", ".dicom")):
        try:
            import pydicom

            value = str(pydicom.dcmread(path, stop_before_pixels=True).get("Modality", ""))
            if value.upper() in _DICOM:
                return _DICOM[value.upper()]
        except Exception:  # noqa: BLE001 - an unreadable header says nothing; the name may
            pass
    words = set(re.split(r"[^a-z0-9]+", path.lower().replace("\\", "/")))
    for modality, names in _WORDS.items():
        if words & set(names):
            return modality
    return None


def pick_grid_images(references, count):
    """``count`` relative paths: one image of each task's own modality, then evenly spread ones.

    ``references`` have ``relpath`` and ``path`` (the benchmark's :class:`Reference`), sorted.
    """
    if count <= 0 or not references:
        return []
    if count >= len(references):
        return [r.relpath for r in references]
    modalities = [modality_of(r.path) or modality_of(r.relpath) for r in references]
    from ..tasks import all_tasks

    chosen = []
    for task in sorted(all_tasks(), key=lambda t: t.grid_rank):
        for wanted in task.grid_modalities:
            found = [r.relpath for r, m in zip(references, modalities) if m == wanted]
            if found and found[0] not in chosen:
                chosen.append(found[0])
                break
        if len(chosen) >= count:
            break
    spread = np.unique(np.round(np.linspace(0, len(references) - 1, count)).astype(int))
    for position in spread:
        if len(chosen) >= count:
            break
        if references[position].relpath not in chosen:
            chosen.append(references[position].relpath)
    for r in references:  # still short (duplicates above): fill in order
        if len(chosen) >= count:
            break
        if r.relpath not in chosen:
            chosen.append(r.relpath)
    order = {r.relpath: i for i, r in enumerate(references)}
    return sorted(chosen, key=order.get)


def order_for_task(task, relpaths, references=()):
    """``relpaths`` with the images of ``task``'s own modalities first (otherwise as given)."""
    from ..tasks import get_task

    paths = {r.relpath: r.path for r in references}
    wanted = get_task(task).grid_modalities

    def rank(relpath):
        modality = modality_of(paths.get(relpath, relpath)) or modality_of(relpath)
        return wanted.index(modality) if modality in wanted else len(wanted)

    return sorted(relpaths, key=rank)  # stable: the given order within a rank
