"""Training data: the offline recipe of real medical images, user folders, and patch sampling.

The recipe ``medical-v1`` reads only images that ship inside installed packages (scikit-image,
pydicom's wheel test files, dipy's wheel files); nothing is downloaded, a missing file is
skipped with a warning (and named in the provenance). ``medical-v2`` adds, for training only,
slices of the MNI152 T1 template in nilearn's wheel (``pip install --no-deps nilearn``), a
whole-body bone scan from pydicom's test files and eleven natural photographs of scikit-image.
``ultrasound-real-v1`` is real B-mode only, at native resolution, for self-supervised training.
The reserved evaluation sets (the ``pydicom-data`` package, ``mricron-data``,
``insighttoolkit5-examples``) are never read.

Every image of the recipe is a *region* (rows, columns, frames) of a source image, converted to
grayscale float in [0, 1] and, for noisy sources, 2x area-downsampled into a cleaner reference.
Validation regions are whole images of at least 256 x 256 pixels, never trained on: where one
source gives both, the validation and training regions are disjoint rectangles (checked by
:func:`check_recipe`). The images of the repository's ``samples/`` folder (the user benchmark)
are kept out of validation, and out of training too: the sources that ``samples/`` shows whole
(CT_small, MR_small, the head CT J2K_pixelrep_mismatch, dipy's T1 slice, the whole retina) are
not trained on at all, and from the sources of which it shows a crop (cell,
immunohistochemistry: top-left 256 x 256; the echo cine: frames 0-4; the b0 EPI volume: slice
9) training takes other pixels or frames only. The echo's training frames (12-24, mid-cycle) still show the same heart as the
frame-0 sample; with ultrasound this scarce that is accepted and recorded here.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EnhanceError, UnknownName, UnreadableImage
from .io.atomic import atomic_save
from .planes import to_gray

__all__ = [
    "Source",
    "Region",
    "SOURCES",
    "RECIPES",
    "SAMPLE_REGIONS",
    "load_recipe",
    "save_recipe_snapshot",
    "load_recipe_snapshot",
    "load_folder",
    "check_recipe",
    "PatchSampler",
    "mni_volume",
]


@dataclass(frozen=True)
class Source:
    """A real image shipped inside an installed package.

    Attributes
    ----------
    key : str
    package : str
        The pip package that ships it.
    access : str
        How to get it (function or file inside the package).
    modality : str
    licence : str
    description : str
    """

    key: str
    package: str
    access: str
    modality: str
    licence: str
    description: str


@dataclass(frozen=True)
class Region:
    """A part of a source image used as one recipe image (or one per frame).

    Attributes
    ----------
    name : str
    source : str
        Key of :data:`SOURCES`.
    split : str
        ``"train"`` or ``"validation"``.
    box : (int, int, int, int) or None
        ``(row0, row1, col0, col1)`` in the source's pixels; ``None`` for the whole image.
    frames : tuple of int
        Frames (or slices) of a multi-frame source; each becomes one image.
    downsample : int
        Area-downsampling factor applied after cropping (1 or 2).
    """

    name: str
    source: str
    split: str
    box: tuple | None = None
    frames: tuple = ()
    downsample: int = 1


_PYDICOM_MIT = (
    "MIT (pydicom); files from public DICOM sample sets, see pydicom/data/test_files/README.txt"
)

SOURCES = {
    s.key: s
    for s in (
        Source(
            "retina",
            "scikit-image",
            "skimage.data.retina()",
            "fundus photography",
            "CC0",
            "normal left-eye fundus photograph, 1411 x 1411 RGB (M. Haggstrom)",
        ),
        Source(
            "microaneurysms",
            "scikit-image",
            "skimage.data.microaneurysms()",
            "fundus photography",
            "CC0",
            "HRF database 07_dr green channel crop, 102 x 102",
        ),
        Source(
            "cell",
            "scikit-image",
            "skimage.data.cell()",
            "microscopy",
            "CC0",
            "quantitative phase image of a cell in saline, 660 x 550",
        ),
        Source(
            "ihc",
            "scikit-image",
            "skimage.data.immunohistochemistry()",
            "histology",
            "no known copyright restrictions",
            "IHC (DAB) + hematoxylin stain of colonic glands, 512 x 512 RGB",
        ),
        Source(
            "ct_head_693",
            "pydicom",
            "pydicom/data/test_files/693_J2KI.dcm",
            "CT",
            _PYDICOM_MIT,
            "head CT slice, 512 x 512, JPEG 2000",
        ),
        Source(
            "mr_abdomen",
            "pydicom",
            "pydicom/data/test_files/examples_overlay.dcm",
            "MR",
            _PYDICOM_MIT,
            "abdominal MR (Siemens), 300 x 484",
        ),
        Source(
            "us_lymph_node",
            "pydicom",
            "pydicom/data/test_files/examples_jpeg2k.dcm",
            "ultrasound",
            _PYDICOM_MIT,
            "lymph node B-mode with power Doppler, 480 x 640 RGB",
        ),
        Source(
            "us_echo",
            "pydicom",
            "pydicom/data/test_files/examples_ybr_color.dcm",
            "ultrasound",
            _PYDICOM_MIT,
            "echocardiogram cine, 30 x 240 x 320",
        ),
        Source(
            "mr_epi_b0",
            "dipy",
            "dipy/data/files/S0_10slices.nii.gz",
            "MR",
            "BSD-3-Clause (dipy)",
            "b0 diffusion EPI, 128 x 128 x 10 (noisy)",
        ),
        Source(
            "mr_sagittal_head",
            "matplotlib",
            "matplotlib/mpl-data/sample_data/s1045.ima.gz",
            "MR",
            "matplotlib sample data (PSF licence), see mpl-data/sample_data/README.txt",
            "sagittal head MR slice, 256 x 256, 16-bit big-endian raw",
        ),
        Source(
            "photo_grace_hopper",
            "matplotlib",
            "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
            "natural photograph",
            "public domain (US Navy)",
            "portrait of Grace Hopper, 600 x 512 RGB JPEG",
        ),
        Source(
            "nm_bone",
            "pydicom",
            "pydicom/data/test_files/JPEG2000.dcm",
            "nuclear medicine",
            _PYDICOM_MIT,
            "whole-body bone scintigraphy, 1024 x 256, JPEG 2000",
        ),
    )
    + tuple(
        Source(
            f"mni_{plane}",
            "nilearn",
            "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
            "MR (T1 template)",
            "BSD-3-Clause (nilearn); template: see nilearn/datasets/description/icbm152_2009.rst",
            f"MNI152 2009a symmetric T1 template, 1 mm, {plane} slices",
        )
        for plane in ("axial", "coronal", "sagittal")
    )
    + tuple(
        Source(
            f"photo_{name}",
            "scikit-image",
            f"skimage.data.{name}()",
            "natural photograph",
            licence,
            description,
        )
        for name, licence, description in (
            ("camera", "CC0", "cameraman, 512 x 512"),
            ("astronaut", "public domain (NASA)", "astronaut Eileen Collins, 512 x 512 RGB"),
            ("coffee", "CC0", "cup of coffee, 400 x 600 RGB"),
            ("chelsea", "CC0", "a cat, 300 x 451 RGB"),
            ("brick", "CC0", "brick wall texture, 512 x 512"),
            ("grass", "CC0", "grass texture, 512 x 512"),
            ("gravel", "CC0", "gravel texture, 512 x 512"),
            ("moon", "no known copyright restrictions", "the moon's surface, 512 x 512"),
            ("coins", "no known copyright restrictions", "Greek coins, 303 x 384"),
            ("rocket", "public domain (SpaceX)", "rocket launch, 427 x 640 RGB"),
            ("hubble_deep_field", "public domain (NASA)", "Hubble eXtreme Deep Field, 872 x 1000 RGB"),
        )
    )
}

#: What the repository's samples/ folder shows, per source (the user benchmark's images).
SAMPLE_REGIONS = (
    ("retina", None, ()),
    ("cell", (0, 256, 0, 256), ()),
    ("ihc", (0, 256, 0, 256), ()),
    ("us_echo", None, (0,)),
    ("us_echo", None, (1, 2, 3, 4)),  # samples/noisy/echo_cine_f1-4.tif
    ("mr_epi_b0", None, (9,)),  # samples/noisy/mr_dwi_b0.png
)

#: Sources the samples/ folder shows whole and which are therefore not used at all.
EXCLUDED_SOURCES = (
    "pydicom CT_small.dcm (sample)",
    "pydicom MR_small.dcm (sample)",
    "pydicom J2K_pixelrep_mismatch.dcm (sample: head CT)",
    "dipy t1_coronal_slice (sample)",
)

RECIPES = {
    "medical-v1": (
        # validation: 8 images >= 256 x 256, 6 modalities
        Region("fundus-retina-a", "retina", "validation", (64, 704, 64, 704), downsample=2),
        Region("fundus-retina-b", "retina", "validation", (704, 1344, 704, 1344), downsample=2),
        Region("microscopy-cell", "cell", "validation", (256, 512, 294, 550)),
        Region("histology-ihc", "ihc", "validation", (256, 512, 256, 512)),
        Region("ct-head-a", "ct_head_693", "validation", (0, 256, 0, 256)),
        Region("ct-head-b", "ct_head_693", "validation", (256, 512, 256, 512)),
        Region("mr-abdomen", "mr_abdomen", "validation", (0, 300, 0, 256)),
        Region("us-lymph-node", "us_lymph_node", "validation", (104, 360, 318, 574)),
        # training: the rest of those sources, minus what samples/ shows
        Region("cell-top-right", "cell", "train", (0, 256, 256, 550)),
        Region("cell-left", "cell", "train", (256, 660, 0, 294)),
        Region("cell-bottom-right", "cell", "train", (512, 660, 294, 550)),
        Region("ihc-top-right", "ihc", "train", (0, 256, 256, 512)),
        Region("ihc-bottom-left", "ihc", "train", (256, 512, 0, 256)),
        Region("ct-head-top-right", "ct_head_693", "train", (0, 256, 256, 512)),
        Region("ct-head-bottom-left", "ct_head_693", "train", (256, 512, 0, 256)),
        Region("mr-abdomen-right", "mr_abdomen", "train", (0, 300, 256, 484)),
        Region("us-lymph-node-left", "us_lymph_node", "train", (108, 336, 16, 316), downsample=2),
        Region("us-echo", "us_echo", "train", (0, 224, 32, 288), tuple(range(12, 25)), 2),
        Region("fundus-microaneurysms", "microaneurysms", "train"),
        Region("mr-epi-b0", "mr_epi_b0", "train", None, tuple(range(2, 8)), 2),
    ),
}
#: ``medical-v2``: ``medical-v1`` (same validation, same training regions) plus clean MR
#: template slices (as they are), a bone scan and natural photographs (textures and edges the
#: medical images have few of; these two 2x area-downsampled into cleaner references).
RECIPES["medical-v2"] = RECIPES["medical-v1"] + (
    Region("mni-axial", "mni_axial", "train", None, tuple(range(40, 160, 20))),
    Region("mni-coronal", "mni_coronal", "train", None, tuple(range(40, 200, 27))),
    Region("mni-sagittal", "mni_sagittal", "train", None, tuple(range(40, 160, 24))),
    Region("nm-bone", "nm_bone", "train", None, (), 2),
) + tuple(
    Region(f"photo-{name.replace('_', '-')}", f"photo_{name}", "train", None, (), 2)
    for name in ("camera", "astronaut", "coffee", "chelsea", "brick", "grass", "gravel", "moon",
                 "coins", "rocket", "hubble_deep_field")
)

#: ``medical-v3``: ``medical-v2`` (same validation, same training regions) and more of the same
#: kinds, for the data-limited low-light training (issue 29): the MNI template's slices between
#: those of v2 (every 5th, v2's left out), the eleven photographs once more at their native scale
#: (v2 has them 2x downsampled: the same scenes at another scale), a sagittal head MR and a
#: portrait from matplotlib's sample data. About three times v2's training pixels.
RECIPES["medical-v3"] = RECIPES["medical-v2"] + (
    Region("mni-axial-more", "mni_axial", "train", None,
           tuple(f for f in range(30, 170, 5) if f not in range(40, 160, 20))),
    Region("mni-coronal-more", "mni_coronal", "train", None,
           tuple(f for f in range(35, 205, 5) if f not in range(40, 200, 27))),
    Region("mni-sagittal-more", "mni_sagittal", "train", None,
           tuple(f for f in range(30, 165, 5) if f not in range(40, 160, 24))),
    Region("mr-sagittal-head", "mr_sagittal_head", "train"),
    Region("photo-grace-hopper", "photo_grace_hopper", "train", None, (), 2),
) + tuple(
    Region(f"photo-{name.replace('_', '-')}-native", f"photo_{name}", "train")
    for name in ("camera", "astronaut", "coffee", "chelsea", "brick", "grass", "gravel", "moon",
                 "coins", "rocket", "hubble_deep_field")
)

#: ``ultrasound-real-v1``: real B-mode frames at their native resolution (no downsampling: the
#: speckle is the training signal) for self-supervised despeckling (``noise2void`` with
#: ``noisy_data``); training regions only, no validation. The echo cine's training frames
#: (12-24, the region of ``medical-v1``: the sector without the scanner's text) and the one part
#: of the lymph-node frame's training side that is plain grayscale B-mode at least 48 pixels
#: wide: below the power-Doppler colour bar's labels, left of the Doppler box (checked by eye
#: and by chroma: no colour pixel). The real-frame benchmark's frames (echo 0, 2, 4, 10, 27,
#: Philips) are not in it.
RECIPES["ultrasound-real-v1"] = (
    Region("us-echo-native", "us_echo", "train", (0, 224, 32, 288), tuple(range(12, 25))),
    Region("us-lymph-node-bmode", "us_lymph_node", "train", (236, 336, 16, 86)),
)

#: The MNI152 2009a T1 template inside nilearn's wheel (read by path: nilearn is not imported).
MNI_FILE = ("datasets", "data", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")


def _package_file(package, *parts):
    """A data file inside an installed package, found without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EnhanceError(
            f"{package} is not installed; `pip install --no-deps {package}` provides the file "
            f"{'/'.join(parts)}"
        )
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.is_file():
        raise EnhanceError(f"{path}: not found (is {package} installed with its data files?)")
    return path


def mni_volume():
    """The MNI152 2009a symmetric T1 template (197, 233, 189), float64, raw intensities."""
    import nibabel as nib

    path = _package_file("nilearn", *MNI_FILE)
    return np.asanyarray(nib.load(str(path)).dataobj).astype(np.float64)


def _scale_8bit(pixels):
    return to_gray(pixels.astype(np.float64) / 255.0)


def _robust_unit(pixels):
    """Map the 0.5 and 99.5 percentiles of the whole source to 0 and 1 (clipped)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    low, high = np.percentile(pixels, [0.5, 99.5])
    return np.clip((pixels - low) / max(high - low, 1e-12), 0.0, 1.0)


def _pydicom_file(name):
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not in the installed pydicom wheel")
    return path


def _matplotlib_sample(key):
    """matplotlib's bundled sample images, read by path (matplotlib is not imported)."""
    name = SOURCES[key].access.rsplit("/", 1)[-1]
    path = _package_file("matplotlib", "mpl-data", "sample_data", name)
    if key == "mr_sagittal_head":
        import gzip

        with gzip.open(path) as stream:
            raw = stream.read()
        if len(raw) != 256 * 256 * 2:
            raise EnhanceError(f"{path}: {len(raw)} bytes, not a 256 x 256 16-bit image")
        return _robust_unit(np.frombuffer(raw, ">u2").reshape(256, 256))
    from skimage.io import imread

    return _scale_8bit(imread(path))


def _load_source(key):
    """The whole source as float64 grayscale in [0, 1]: (H, W) or (frames, H, W)."""
    if key in ("mr_sagittal_head", "photo_grace_hopper"):
        return _matplotlib_sample(key)
    if key in ("retina", "microaneurysms", "cell", "ihc") or key.startswith("photo_"):
        import skimage.data

        function = {"ihc": "immunohistochemistry"}.get(key, key.removeprefix("photo_"))
        pixels = getattr(skimage.data, function)()
        return _scale_8bit(pixels) if pixels.dtype == np.uint8 else to_gray(pixels)
    if key.startswith("mni_"):
        volume = mni_volume()  # (x, y, z): sagittal, coronal, axial axes
        volume = np.clip(volume / np.percentile(volume, 99.5), 0, 1)
        stack = {"sagittal": volume, "coronal": volume.transpose(1, 0, 2),
                 "axial": volume.transpose(2, 0, 1)}[key[len("mni_"):]]
        return np.rot90(stack, 1, axes=(1, 2))
    if key == "mr_epi_b0":
        import dipy.data
        import nibabel

        path = Path(dipy.data.__file__).parent / "files" / "S0_10slices.nii.gz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not in the installed dipy wheel")
        volume = np.asarray(nibabel.load(str(path)).get_fdata()).reshape(128, 128, -1)
        return np.clip(volume / np.percentile(volume, 99.5), 0, 1).transpose(2, 0, 1)
    import pydicom

    dataset = pydicom.dcmread(_pydicom_file(SOURCES[key].access.rsplit("/", 1)[-1]))
    pixels = dataset.pixel_array  # JPEG 2000 / JPEG need pillow; failures are skipped
    if key in ("us_lymph_node", "us_echo"):
        return _scale_8bit(pixels)
    return _robust_unit(pixels)


def _cut(source_pixels, region):
    stack = source_pixels if region.frames else source_pixels[None]
    frames = region.frames or (0,)
    images = []
    for frame in frames:
        image = stack[frame]
        if region.box is not None:
            r0, r1, c0, c1 = region.box
            if r1 > image.shape[0] or c1 > image.shape[1]:
                raise EnhanceError(f"region {region.name} {region.box} exceeds {image.shape}")
            image = image[r0:r1, c0:c1]
        if region.downsample > 1:
            from skimage.transform import downscale_local_mean

            f = region.downsample
            h, w = (image.shape[0] // f) * f, (image.shape[1] // f) * f
            image = downscale_local_mean(image[:h, :w], (f, f))
        images.append(np.ascontiguousarray(image, dtype=np.float32))
    return images


def _describe_region(region, shape):
    source = SOURCES[region.source]
    box = region.box
    return {
        "name": region.name,
        "split": region.split,
        "source": source.access,
        "package": source.package,
        "modality": source.modality,
        "licence": source.licence,
        "description": source.description,
        "region": (
            "whole image" if box is None else f"rows {box[0]}:{box[1]}, cols {box[2]}:{box[3]}"
        ),
        "frames": list(region.frames) or None,
        "transform": "grayscale [0, 1]"
        + (f", {region.downsample}x area downsampling" if region.downsample > 1 else ""),
        "shape": list(shape),
    }


def load_recipe(name="medical-v1"):
    """Load a named training-data recipe.

    Parameters
    ----------
    name : str
        A key of :data:`RECIPES` (``"medical-v1"``).

    Returns
    -------
    dict
        ``train``: list of float32 (H, W) arrays in [0, 1]; ``validation``: list of
        ``(name, array)``; ``provenance``: one dict per region (source, package, licence,
        region, transform, split) plus one per skipped source, for the model card;
        ``name``: the recipe name.
    """
    if name not in RECIPES:
        raise UnknownName(f"unknown data recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    loaded, skipped = {}, {}
    train, validation, provenance = [], [], []
    for region in RECIPES[name]:
        if region.source in skipped:
            continue
        if region.source not in loaded:
            try:
                loaded[region.source] = _load_source(region.source)
            except Exception as error:  # missing file, missing decoder (pillow for J2K), ...
                skipped[region.source] = f"{type(error).__name__}: {error}"
                warnings.warn(f"data recipe {name}: skipping {region.source} ({error})")
                provenance.append(
                    {"source": SOURCES[region.source].access, "skipped": skipped[region.source]}
                )
                continue
        images = _cut(loaded[region.source], region)
        if region.split == "validation":
            validation.extend((region.name, image) for image in images)
        else:
            train.extend(images)
        provenance.append(_describe_region(region, images[0].shape))
    provenance.append({"excluded (shown in samples/)": list(EXCLUDED_SOURCES)})
    return {"name": name, "train": train, "validation": validation, "provenance": provenance}


def _pixels_sha256(images):
    import hashlib

    digest = hashlib.sha256()
    for image in images:
        array = np.ascontiguousarray(image, dtype=np.float32)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_recipe_snapshot(path, name="medical-v1"):
    """Write a recipe's loaded pixels to one ``.npz`` file, for a machine without its sources.

    A GPU machine may lack the packages whose bundled images the recipe reads (pydicom, dipy,
    a scikit-image of the same version); ``enhance train --data SNAPSHOT.npz`` trains there on
    exactly the pixels :func:`load_recipe` gives here, and the run's card names the recipe.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file to write (atomically).
    name : str, optional
        The recipe.

    Returns
    -------
    str
        The sha256 of the pixels (train then validation, in order), also stored in the file.
    """
    import json

    recipe = load_recipe(name)
    images = list(recipe["train"]) + [image for _, image in recipe["validation"]]
    meta = {
        "recipe": name,
        "train": len(recipe["train"]),
        "validation_names": [n for n, _ in recipe["validation"]],
        "provenance": recipe["provenance"],
        "pixels_sha256": _pixels_sha256(images),
    }
    arrays = {f"image_{i:04d}": np.asarray(image, np.float32) for i, image in enumerate(images)}
    path = Path(path)
    atomic_save(path, lambda tmp: np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays),
                suffix=".npz")
    return meta["pixels_sha256"]


def load_recipe_snapshot(path):
    """Read a file of :func:`save_recipe_snapshot`: the same dict as :func:`load_recipe`.

    Raises
    ------
    UnreadableImage
        When the file is not a snapshot or its pixels do not match their stored sha256.
    """
    import json

    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            images = [stored[f"image_{i:04d}"]
                      for i in range(meta["train"] + len(meta["validation_names"]))]
    except Exception as error:  # missing keys, not an npz, truncated file
        raise UnreadableImage(path, f"not a recipe snapshot ({type(error).__name__}: {error})")
    if _pixels_sha256(images) != meta["pixels_sha256"]:
        raise UnreadableImage(path, "the pixels do not match the snapshot's sha256")
    train = images[: meta["train"]]
    validation = list(zip(meta["validation_names"], images[meta["train"]:]))
    return {"name": meta["recipe"], "train": train, "validation": validation,
            "provenance": meta["provenance"], "snapshot_sha256": meta["pixels_sha256"]}


def _boxes_overlap(a, b):
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def check_recipe(name="medical-v1"):
    """Check a recipe's regions without loading pixels; return a list of problems (empty: fine).

    Checked: no validation region shares a pixel (same source, frame, box overlap) with a
    training region; no training region shares a pixel with :data:`SAMPLE_REGIONS`; no
    validation region is exactly a sample.
    """
    full = (0, 1 << 30, 0, 1 << 30)
    problems = []
    regions = RECIPES[name]

    def touches(a_box, a_frames, b_box, b_frames):
        frames_meet = not a_frames or not b_frames or set(a_frames) & set(b_frames)
        return bool(frames_meet) and _boxes_overlap(a_box or full, b_box or full)

    for val in (r for r in regions if r.split == "validation"):
        for tr in (r for r in regions if r.split == "train" and r.source == val.source):
            if touches(val.box, val.frames, tr.box, tr.frames):
                problems.append(f"validation {val.name} overlaps training {tr.name}")
        for source, box, frames in SAMPLE_REGIONS:
            if (
                source == val.source
                and box == val.box
                and tuple(frames) == tuple(val.frames)
                and val.downsample == 1
            ):
                problems.append(f"validation {val.name} is the sample {source} {box}")
    for tr in (r for r in regions if r.split == "train"):
        for source, box, frames in SAMPLE_REGIONS:
            if source == tr.source and touches(tr.box, tr.frames, box, frames):
                problems.append(f"training {tr.name} overlaps the sample {source} {box}")
    return problems


_SKIP_NAMES = ("README", "LICENSE")


def load_folder(directory, *, validation_every=8):
    """Load every readable image under ``directory`` (recursively) as training data.

    Files are sorted by relative path; every ``validation_every``-th one (the 8th, 16th, ...)
    is held out for validation when there are at least two files. Colour images become
    luminance; stacks (frames, slices, pages) give one image per frame. Unreadable files are
    skipped with a warning.

    Parameters
    ----------
    directory : str or Path
    validation_every : int, optional

    Returns
    -------
    dict
        Same keys as :func:`load_recipe`.
    """
    from enhance.io import read_image

    root = Path(directory)
    if not root.is_dir():
        raise EnhanceError(f"{root}: not a directory")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not p.name.startswith(_SKIP_NAMES)
    )
    train, validation, provenance = [], [], []
    readable = []
    for path in files:
        try:
            readable.append((path, read_image(path)))
        except UnreadableImage as error:
            warnings.warn(f"skipping {error}")
    for index, (path, image) in enumerate(readable):
        relative = path.relative_to(root).as_posix()
        pixels = np.asarray(image.pixels, dtype=np.float64)
        if getattr(image.meta, "channels", 1) > 1:
            pixels = to_gray(pixels)
        frames = pixels if getattr(image.meta, "is_stack", False) else pixels[None]
        held_out = len(readable) >= 2 and (index + 1) % validation_every == 0
        for number, frame in enumerate(frames):
            frame = np.ascontiguousarray(np.clip(frame, 0, 1), dtype=np.float32)
            name = relative if len(frames) == 1 else f"{relative}#{number}"
            if held_out:
                validation.append((name, frame))
            else:
                train.append(frame)
        provenance.append(
            {
                "source": os.fspath(relative),
                "split": "validation" if held_out else "train",
                "frames": len(frames),
                "shape": list(frames[0].shape),
            }
        )
    if not train:
        raise EnhanceError(f"{root}: no readable training images")
    return {
        "name": f"folder:{root}",
        "train": train,
        "validation": validation,
        "provenance": provenance,
    }


class PatchSampler:
    """Random square crops of training images, with flips and 90-degree rotations.

    Images are chosen with probability proportional to their number of crop positions, so
    every pixel is about equally likely to be seen. Images smaller than a crop are skipped.

    Parameters
    ----------
    images : list of ndarray (H, W)
    size : int
        Side of a crop.
    rng : numpy.random.Generator
    augment : bool, optional
        Random vertical/horizontal flips and rot90 (the dihedral group).
    """

    def __init__(self, images, size, rng, *, augment=True):
        self.size = int(size)
        self.rng = rng
        self.augment = augment
        self.images = [img for img in images if min(img.shape[:2]) >= self.size]
        if not self.images:
            raise EnhanceError(f"no training image is at least {self.size} x {self.size} pixels")
        positions = np.array(
            [
                (h - self.size + 1) * (w - self.size + 1)
                for h, w in (i.shape[:2] for i in self.images)
            ],
            dtype=np.float64,
        )
        self.weights = positions / positions.sum()

    def crop(self):
        """One random crop (float32, ``size`` x ``size``)."""
        image = self.images[int(self.rng.choice(len(self.images), p=self.weights))]
        row = int(self.rng.integers(0, image.shape[0] - self.size + 1))
        col = int(self.rng.integers(0, image.shape[1] - self.size + 1))
        patch = image[row : row + self.size, col : col + self.size]
        if self.augment:
            k, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            patch = np.rot90(patch, k)
            if flip:
                patch = patch[:, ::-1]
        return np.ascontiguousarray(patch, dtype=np.float32)
