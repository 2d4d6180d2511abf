"""Hostile inputs and faults (issue 13): each test names the item of the issue it covers."""

import struct
import zlib
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from pydicom.data import get_testdata_file

from enhance.errors import UnreadableImage
from enhance.io import read_image, write_image
from enhance.io.limits import DEFAULT_MAX_PIXELS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RNG = np.random.default_rng(13)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(path, width, height):
    """A valid-looking PNG whose IHDR claims width x height (8-bit gray) with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + _png_chunk(b"IEND", b""))
    path.write_bytes(data)
    return path


# --- item 2: float data outside [0, 1] and non-finite values ------------------------------


@pytest.mark.parametrize("ext", [".npy", ".tif", ".nii"])
def test_one_extreme_float_pixel_does_not_squeeze_the_image(tmp_path, ext):
    raw = (RNG.random((40, 50)) * 300 - 20).astype(np.float32)
    bad = raw.copy()
    bad[5, 7] = 1e38
    path = tmp_path / f"f{ext}"
    if ext == ".npy":
        np.save(path, bad)
    elif ext == ".tif":
        tifffile.imwrite(path, bad)
    else:
        nib.save(nib.Nifti1Image(bad, np.eye(4)), path)
    image = read_image(path)
    pixels = image.pixels.reshape(raw.shape) if image.pixels.size == raw.size else image.pixels
    # the other pixels keep their contrast: the range is that of the data without the outlier
    assert (image.meta.lo, image.meta.hi) == (float(np.delete(raw, 5 * 50 + 7).min()),
                                              float(np.delete(raw, 5 * 50 + 7).max()))
    assert 0.3 < float(np.median(pixels)) < 0.7
    note = image.meta.extra["value_map"]
    assert note["clipped"] == 1 and note["max"] == pytest.approx(1e38, rel=1e-6)
    # written back in the input's own scale (the outlier clipped to the range)
    out = write_image(tmp_path / f"out{ext}", image)
    back = read_image(out)
    assert back.meta.dtype == np.float32
    if ext == ".npy":
        stored = np.load(out)
        keep = np.ones(raw.shape, bool)
        keep[5, 7] = False
        np.testing.assert_allclose(stored[keep], raw[keep], atol=1e-4 * 320)
        assert stored[5, 7] == pytest.approx(image.meta.hi)


def test_float_data_within_range_map_their_own_min_max_and_record_it(tmp_path):
    raw = (RNG.random((30, 30)) * 1200 - 3.5).astype(np.float32)
    np.save(tmp_path / "a.npy", raw)
    image = read_image(tmp_path / "a.npy")
    assert (image.meta.lo, image.meta.hi) == (float(raw.min()), float(raw.max()))
    assert image.meta.extra["value_map"]["clipped"] == 0


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("ext", [".npy", ".tif"])
def test_non_finite_float_values_are_refused_naming_the_file(tmp_path, ext, value):
    raw = RNG.random((20, 20)).astype(np.float32)
    raw[3, 3] = value
    path = tmp_path / f"nf{ext}"
    np.save(path, raw) if ext == ".npy" else tifffile.imwrite(path, raw)
    with pytest.raises(UnreadableImage, match="not finite") as info:
        read_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_all_nan_image_is_refused(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((8, 8), np.nan, np.float32))
    with pytest.raises(UnreadableImage, match="64 of 64 values are not finite"):
        read_image(tmp_path / "nan.npy")


# --- item 3: the pixel limit, from the header, before decoding ----------------------------


def _one_of_each(folder):
    """A small real image of every format (from the samples)."""
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)[64:96, 64:112]
    folder.mkdir(exist_ok=True)
    cv2.imwrite(str(folder / "a.png"), t1)
    cv2.imwrite(str(folder / "a.jpg"), (t1 >> 8).astype(np.uint8))
    tifffile.imwrite(folder / "a.tif", np.stack([t1, t1]))
    nib.save(nib.Nifti1Image(np.stack([t1, t1], -1).astype(np.int16), np.eye(4)), folder / "a.nii.gz")
    np.save(folder / "a.npy", t1.astype(np.float32))
    ds = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    ds.save_as(folder / "a.dcm")
    return sorted(folder.iterdir())


def _decoders_fail(monkeypatch):
    """Make every pixel decoder raise: a refusal must come from the header alone."""
    import PIL.ImageFile

    import enhance.io.dicom
    import enhance.io.npy
    import enhance.io.raster

    def boom(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(enhance.io.raster.cv2, "imdecode", boom)
    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", boom)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", boom)
    monkeypatch.setattr(enhance.io.dicom, "pixel_array", boom)
    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "get_unscaled", boom)
    monkeypatch.setattr(enhance.io.npy.np, "load", boom)


def test_pixel_limit_is_checked_from_the_header_of_every_format(tmp_path, monkeypatch):
    files = _one_of_each(tmp_path / "in")
    for path in files:  # under the limit they read
        assert read_image(path).pixels.size > 0
    _decoders_fail(monkeypatch)
    for path in files:
        with pytest.raises(UnreadableImage, match="too large") as info:
            read_image(path, max_pixels=999)
        message = str(info.value)
        assert message.startswith(str(path)) and "limit of 999" in message and "\n" not in message


def test_small_files_claiming_huge_images_are_refused_at_once(tmp_path, monkeypatch):
    png = _png_claiming(tmp_path / "huge.png", 20000, 20000)
    npy = tmp_path / "huge.npy"
    header = {"descr": "<f4", "fortran_order": False, "shape": (1 << 17, 1 << 17)}
    with open(npy, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\x00" * 1000)
    nii = tmp_path / "huge.nii"
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((30000, 30000, 400))
    hdr.set_data_dtype(np.int16)
    nii.write_bytes(hdr.binaryblock + b"\x00" * 4 + b"\x00" * 1000)
    ds = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    ds.Rows = ds.Columns = 60000
    ds.save_as(tmp_path / "huge.dcm")
    _decoders_fail(monkeypatch)
    for path in (png, npy, nii, tmp_path / "huge.dcm"):
        assert path.stat().st_size < 100_000
        with pytest.raises(UnreadableImage, match=f"over the limit of {DEFAULT_MAX_PIXELS:,}"):
            read_image(path)


def test_max_pixels_none_disables_the_limit(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((40, 40), np.uint8))
    with pytest.raises(UnreadableImage, match="1,600 pixels"):
        read_image(tmp_path / "a.npy", max_pixels=100)
    assert read_image(tmp_path / "a.npy", max_pixels=None).shape == (40, 40)


# --- item 5: DICOM objects that are not images ----------------------------------------------


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("name, label", [("rtdose.dcm", "RT Dose Storage (Modality RTDOSE"),
                                         ("rtstruct.dcm", "RT Structure Set Storage"),
                                         ("rtplan.dcm", "RT Plan Storage")])
def test_rt_objects_are_refused_by_name_with_the_reason(name, label):
    path = get_testdata_file(name)
    with pytest.raises(UnreadableImage, match="is not an image to restore") as info:
        read_image(path)
    assert label in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("modality, sop_class, reason", [
    ("SEG", "1.2.840.10008.5.1.4.1.1.66.4", "labels, not intensities"),
    ("SR", "1.2.840.10008.5.1.4.1.1.88.22", "structured report"),
    ("PR", "1.2.840.10008.5.1.4.1.1.11.1", "presentation state"),
    ("RTDOSE", "1.2.840.10008.5.1.4.1.1.7", "radiation doses"),  # by modality alone
])
def test_non_image_sop_classes_and_modalities_are_refused(tmp_path, modality, sop_class, reason):
    ds = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    ds.Modality = modality
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.save_as(tmp_path / "x.dcm")
    with pytest.raises(UnreadableImage, match=reason):
        read_image(tmp_path / "x.dcm")
    assert read_image(SAMPLES / "ct_small.dcm").meta.format == "dicom"  # a CT is an image


# --- item 6 (reading): images too small to restore, things that are not files ---------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1)])
@pytest.mark.parametrize("ext", [".png", ".npy", ".tif"])
def test_1x1_and_1xn_images_are_refused_at_read_time(tmp_path, shape, ext):
    raw = (RNG.random(shape) * 255).astype(np.uint8)
    path = tmp_path / f"s{ext}"
    {".png": lambda: cv2.imwrite(str(path), raw), ".npy": lambda: np.save(path, raw),
     ".tif": lambda: tifffile.imwrite(path, raw)}[ext]()
    with pytest.raises(UnreadableImage, match="too small to restore") as info:
        read_image(path)
    assert str(path) in str(info.value)
    np.save(tmp_path / "two.npy", np.zeros((2, 2), np.uint8))
    assert read_image(tmp_path / "two.npy").shape == (2, 2)


def test_folders_dangling_links_and_link_loops_are_named(tmp_path):
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    cases = {"dir.png": "is a directory", "dangling.png": "dangling symbolic link",
             "loop.png": "symbolic link loop"}
    for name, cause in cases.items():
        with pytest.raises(UnreadableImage, match=cause) as info:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
