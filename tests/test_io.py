"""Tests of enhance.io: round-trips per format, DICOM derivation, errors, atomic writes."""

import hashlib
import os
import shutil

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

import enhance.io.raster
import enhance.io.tiff
from enhance.errors import ShapeMismatch, UnreadableImage, UnwritableImage
from enhance.io import SUPPORTED_EXTENSIONS, Image, ImageMeta, is_supported, read_image, write_image
from enhance.io.image import to_raw, to_unit, value_range

RNG = np.random.default_rng(1234)


def _bundled(name):
    """Path of a DICOM file shipped inside pydicom (no download), or skip."""
    matches = get_testdata_files(f"**/{name}") or get_testdata_files(name)
    if not matches:
        pytest.skip(f"pydicom does not ship {name}")
    return matches[0]


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _no_part_files(folder):
    return not [p for p in os.listdir(folder) if p.endswith(".part")]


# --- dtype/range policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, lo, hi",
    [(np.uint8, 0, 255), (np.uint16, 0, 65535), (np.int16, -32768, 32767), (np.int8, -128, 127)],
)
def test_integers_map_their_full_dtype_range(dtype, lo, hi):
    raw = np.array([[lo, hi]], dtype=dtype)
    assert value_range(raw) == (lo, hi)
    assert to_unit(raw, lo, hi).tolist() == [[0.0, 1.0]]


def test_stored_bits_range_and_fallback():
    raw = np.array([0, 4095], np.uint16)
    assert value_range(raw, bits=12, signed=False) == (0, 4095)
    assert value_range(np.array([-2048, 2047], np.int16), bits=12, signed=True) == (-2048, 2047)
    # values outside the stored bits (inconsistent header): full dtype range
    assert value_range(np.array([0, 5000], np.uint16), bits=12, signed=False) == (0, 65535)


def test_float_range_is_min_max_and_constant_image_survives():
    raw = np.array([[-2.5, 7.5]], np.float32)
    lo, hi = value_range(raw)
    assert (lo, hi) == (-2.5, 7.5)
    np.testing.assert_array_equal(to_unit(raw, lo, hi), [[0.0, 1.0]])
    const = np.full((3, 3), 4.25, np.float32)
    lo, hi = value_range(const)
    assert lo == hi == 4.25
    assert not to_unit(const, lo, hi).any()
    np.testing.assert_array_equal(to_raw(np.zeros((3, 3)), np.float32, lo, hi), const)


def test_every_16_bit_value_survives_float32():
    raw = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(to_raw(to_unit(raw, 0, 65535), np.uint16, 0, 65535), raw)
    signed = np.arange(-32768, 32768, dtype=np.int16)
    np.testing.assert_array_equal(
        to_raw(to_unit(signed, -32768, 32767, invert=True), np.int16, -32768, 32767, invert=True),
        signed,
    )


def test_to_raw_clips_cleans_nan_and_rounds_half_to_even():
    raw = to_raw(np.array([-0.5, np.nan, 1.5, 0.5]), np.uint8, 0, 4)
    assert raw.tolist() == [0, 0, 4, 2]
    assert to_raw(np.array([0.125, 0.375]), np.uint8, 0, 4).tolist() == [0, 2]  # 0.5 -> 0, 1.5 -> 2


# --- PNG / JPEG -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_roundtrip_is_bit_exact(tmp_path, dtype):
    raw = RNG.integers(0, np.iinfo(dtype).max + 1, (33, 47), dtype=dtype)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), raw)
    img = read_image(src)
    assert img.pixels.dtype == np.float32 and img.shape == raw.shape
    assert img.meta.format == "png" and img.meta.dtype == dtype
    np.testing.assert_array_equal(img.pixels, raw.astype(np.float32) / np.iinfo(dtype).max)
    out = write_image(tmp_path / "out.png", img.with_pixels(img.pixels))
    np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), raw)
    np.testing.assert_array_equal(read_image(out).pixels, img.pixels)


def test_rgb_png_is_rgb_and_roundtrips(tmp_path):
    rgb = RNG.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    src = tmp_path / "rgb.png"
    cv2.imwrite(str(src), rgb[:, :, ::-1])  # OpenCV writes BGR
    img = read_image(src)
    assert img.shape == (20, 30, 3) and img.channels == 3 and img.meta.color == "rgb"
    np.testing.assert_array_equal(img.raw(), rgb)
    out = write_image(tmp_path / "out.png", img)
    np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1], rgb)


def test_float_pixels_default_to_16_bit_png_and_tiff(tmp_path):
    pixels = RNG.random((16, 16), dtype=np.float32)
    png = write_image(tmp_path / "a.png", pixels)
    tif = write_image(tmp_path / "a.tif", pixels)
    assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert tifffile.imread(tif).dtype == np.uint16
    np.testing.assert_allclose(read_image(png).pixels, pixels, atol=0.5 / 65535)


def test_jpeg_roundtrip_is_close(tmp_path):
    smooth = cv2.GaussianBlur(RNG.random((64, 64, 3)).astype(np.float32), (9, 9), 3)
    src = write_image(tmp_path / "a.jpg", smooth)
    img = read_image(src)
    assert img.meta.format == "jpeg" and img.meta.dtype == np.uint8 and img.shape == (64, 64, 3)
    again = read_image(write_image(tmp_path / "b.jpeg", img))
    assert np.abs(again.pixels - img.pixels).mean() < 0.02


# --- TIFF / .npy ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_tiff_roundtrip_is_bit_exact(tmp_path, dtype):
    raw = RNG.integers(0, np.iinfo(dtype).max + 1, (25, 31), dtype=dtype)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, raw, resolution=(300, 300), resolutionunit="INCH")
    img = read_image(src)
    assert img.meta.dtype == dtype and not img.is_stack
    out = write_image(tmp_path / "out.tif", img)
    with tifffile.TiffFile(out) as tif:
        np.testing.assert_array_equal(tif.pages[0].asarray(), raw)
        assert tif.pages[0].tags["XResolution"].value == (300, 1)
    np.testing.assert_array_equal(read_image(out).pixels, img.pixels)


def test_float32_tiff_roundtrip(tmp_path):
    raw = (RNG.random((20, 24), dtype=np.float32) * 1200 - 3.5).astype(np.float32)
    src = tmp_path / "in.tiff"
    tifffile.imwrite(src, raw)
    img = read_image(src)
    assert img.meta.dtype == np.float32
    assert (img.meta.lo, img.meta.hi) == (float(raw.min()), float(raw.max()))
    assert img.pixels.min() == 0 and img.pixels.max() == 1
    out = write_image(tmp_path / "out.tiff", img)
    back = tifffile.imread(out)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, raw, rtol=0, atol=1e-6 * float(raw.max() - raw.min()))
    np.testing.assert_allclose(read_image(out).pixels, img.pixels, atol=1e-6)


def test_multipage_tiff_is_a_stack(tmp_path):
    raw = RNG.integers(0, 65536, (4, 12, 10), dtype=np.uint16)
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, raw, photometric="minisblack", metadata=None)
    img = read_image(src)
    assert img.is_stack and img.shape == (4, 12, 10) and img.n_frames == 4
    assert [f.shape for f in img.frames] == [(12, 10)] * 4
    out = write_image(tmp_path / "out.tif", img)
    with tifffile.TiffFile(out) as tif:
        assert len(tif.pages) == 4
        np.testing.assert_array_equal(np.stack([p.asarray() for p in tif.pages]), raw)


def test_rgb_tiff_stack_roundtrip(tmp_path):
    raw = RNG.integers(0, 256, (3, 8, 9, 3), dtype=np.uint8)
    src = tmp_path / "rgb.tif"
    tifffile.imwrite(src, raw, photometric="rgb", metadata=None)
    img = read_image(src)
    assert img.shape == raw.shape and img.channels == 3 and img.is_stack
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "o.tif", img)).raw(), raw)


@pytest.mark.parametrize(
    "raw",
    [
        RNG.integers(0, 65536, (9, 11), dtype=np.uint16),
        RNG.integers(-32768, 32768, (3, 9, 11), dtype=np.int16),
        (RNG.random((2, 9, 11, 3)) * 50).astype(np.float32),
    ],
    ids=["uint16", "int16-stack", "float32-rgb-stack"],
)
def test_npy_roundtrip(tmp_path, raw):
    src = tmp_path / "in.npy"
    np.save(src, raw)
    img = read_image(src)
    assert img.shape == raw.shape and img.meta.dtype == raw.dtype
    assert img.is_stack == (raw.ndim == 4 or raw.shape[-1] not in (3, 4) and raw.ndim == 3)
    back = np.load(write_image(tmp_path / "out.npy", img))
    assert back.dtype == raw.dtype
    if raw.dtype.kind == "f":
        np.testing.assert_allclose(back, raw, atol=1e-5)
    else:
        np.testing.assert_array_equal(back, raw)


# --- DICOM ----------------------------------------------------------------------------------

DICOM_CASES = {
    "CT_small.dcm": "MONOCHROME2",
    "MR_small.dcm": "MONOCHROME2",
    "6154": "MONOCHROME1",  # CR, 12 bits stored, no file extension
    "SC_rgb_rle_2frame.dcm": "RGB",  # RLE, multi-frame colour
    "rtdose.dcm": "MONOCHROME2",  # multi-frame, 32-bit (relabelled: a dose grid is refused)
    "JPEG2000.dcm": "MONOCHROME2",  # JPEG 2000 (pillow + OpenJPEG)
    "SC_rgb_jpeg_dcmtk.dcm": "RGB",  # JPEG baseline YBR_FULL -> RGB
}


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # rtdose.dcm's own UIDs
@pytest.mark.parametrize("name", list(DICOM_CASES))
def test_dicom_roundtrip_writes_a_derived_image(tmp_path, name):
    src = _bundled(name)
    if name == "rtdose.dcm":  # its pixels, as a multi-frame grayscale word secondary capture
        ds = pydicom.dcmread(src)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
        ds.Modality = "OT"
        src = tmp_path / "multiframe32.dcm"
        ds.save_as(src)
    src_ds = pydicom.dcmread(src)
    ts = src_ds.file_meta.TransferSyntaxUID
    if ts.is_compressed and not get_decoder(ts).is_available:
        pytest.skip(f"no decoder for {ts.name}")
    try:
        src_values = src_ds.pixel_array
    except Exception as exc:  # decoder present but unable (e.g. pillow without OpenJPEG)
        pytest.skip(f"pydicom cannot decode {name}: {exc}")
    before = _digest(src)
    img = read_image(src)
    assert img.meta.format == "dicom"
    assert img.is_stack == (int(src_ds.get("NumberOfFrames") or 1) > 1)
    out = write_image(tmp_path / "out.dcm", img, derivation="unit-test denoiser")
    assert _digest(src) == before  # the input is never modified
    ds = pydicom.dcmread(out)
    np.testing.assert_array_equal(ds.pixel_array, src_values)  # stored values unchanged
    assert ds.SOPInstanceUID != src_ds.SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SeriesInstanceUID != src_ds.SeriesInstanceUID
    assert ds.ImageType[0] == "DERIVED"
    if "ImageType" in src_ds:  # other values kept; added as DERIVED\\SECONDARY when missing
        assert list(ds.ImageType[1:]) == list(src_ds.ImageType[1:])
    else:
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.DerivationDescription == "unit-test denoiser"
    assert ds.PhotometricInterpretation == DICOM_CASES[name]
    assert ds.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert ds.PatientName == src_ds.PatientName and ds.StudyInstanceUID == src_ds.StudyInstanceUID
    np.testing.assert_array_equal(read_image(out).pixels, img.pixels)


def test_dicom_stored_bits_rescale_and_monochrome1(tmp_path):
    img = read_image(_bundled("6154"))
    ds = pydicom.dcmread(_bundled("6154"))
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.BitsStored == 12
    raw = ds.pixel_array
    # grayscale DICOM maps its own range, recorded for an exact write-back
    lo, hi = float(raw.min()), float(raw.max())
    assert (img.meta.lo, img.meta.hi) == (lo, hi) and img.meta.invert
    # inverted so that bright = high
    np.testing.assert_allclose(img.pixels, (hi - raw.astype(np.float64)) / (hi - lo), atol=1e-7)
    ct = read_image(get_testdata_file("CT_small.dcm"))
    assert ct.meta.extra["rescale"] == (1.0, -1024.0)


def test_dicom_written_from_processed_pixels(tmp_path):
    img = read_image(get_testdata_file("CT_small.dcm"))
    out = write_image(tmp_path / "d.dcm", img.pixels * 0.5, like=img, derivation="halve")
    back = read_image(out)
    expected_raw = np.rint(img.meta.lo + img.pixels.astype(np.float64) * 0.5 * (img.meta.hi - img.meta.lo))
    np.testing.assert_array_equal(pydicom.dcmread(out).pixel_array, expected_raw)
    # in the source's scale (how enhance score compares them) the pixels are the halved ones
    np.testing.assert_allclose(img.meta.to_unit(back.raw()), img.pixels * 0.5, atol=1 / 4000)


def test_dicom_without_header_or_with_stack_to_png_is_unwritable(tmp_path):
    with pytest.raises(UnwritableImage, match="like="):
        write_image(tmp_path / "x.dcm", np.zeros((4, 4), np.float32))
    stack = read_image(_bundled("SC_rgb_rle_2frame.dcm"))
    with pytest.raises(UnwritableImage, match="stack"):
        write_image(tmp_path / "x.png", stack)
    assert not (tmp_path / "x.png").exists() and _no_part_files(tmp_path)


def test_dicom_without_decoder_names_syntax_and_package():
    src = _bundled("MR_small_jpeg_ls_lossless.dcm")
    if get_decoder(pydicom.dcmread(src).file_meta.TransferSyntaxUID).is_available:
        pytest.skip("a JPEG-LS decoder is installed")
    with pytest.raises(UnreadableImage) as err:
        read_image(src)
    msg = str(err.value)
    assert "MR_small_jpeg_ls_lossless.dcm" in msg and "JPEG-LS" in msg and "install" in msg
    assert "\n" not in msg


# --- NIfTI ----------------------------------------------------------------------------------


def _affine():
    aff = np.diag([0.8, 0.9, 2.5, 1.0])
    aff[:3, 3] = [-10.0, 20.0, 5.0]
    return aff


@pytest.mark.parametrize("axis", [2, 0])
def test_nifti_int16_with_scaling_roundtrip(tmp_path, axis):
    vol = RNG.integers(-1024, 3072, (7, 8, 5), dtype=np.int16)
    src = tmp_path / "ct.nii.gz"
    nii = nib.Nifti1Image(vol, _affine())
    nii.header.set_slope_inter(2.0, -1024.0)
    nib.save(nii, src)
    img = read_image(src, axis=axis)
    assert img.is_stack and img.shape == np.moveaxis(vol, axis, 0).shape
    assert (img.meta.lo, img.meta.hi) == (vol.min(), vol.max())
    out = write_image(tmp_path / "out.nii.gz", img.with_pixels(img.pixels))
    back = nib.load(out)
    np.testing.assert_array_equal(np.asarray(back.dataobj.get_unscaled()), vol)
    assert (back.dataobj.slope, back.dataobj.inter) == (2.0, -1024.0)
    assert back.get_data_dtype() == np.int16
    np.testing.assert_allclose(back.affine, _affine())


def test_nifti_float32_roundtrip(tmp_path):
    vol = (RNG.random((6, 5, 4)) * 300 - 20).astype(np.float32)
    src = tmp_path / "t1.nii"
    nib.save(nib.Nifti1Image(vol, _affine()), src)
    img = read_image(src)
    assert img.shape == (4, 6, 5) and img.meta.dtype == np.float32
    out = write_image(tmp_path / "out.nii", img)
    back = nib.load(out)
    assert back.get_data_dtype() == np.float32
    np.testing.assert_allclose(back.get_fdata(), vol, atol=1e-6 * 320)
    np.testing.assert_allclose(back.affine, _affine())


# --- errors ---------------------------------------------------------------------------------


def _png_bytes():
    ok, buf = cv2.imencode(".png", RNG.integers(0, 256, (32, 32), dtype=np.uint8))
    return buf.tobytes()


@pytest.mark.parametrize(
    "name, content, cause",
    [
        ("missing.png", None, "not found"),
        ("empty.png", b"", "empty"),
        ("cut.png", _png_bytes()[:200], "truncated PNG"),
        ("noise.png", RNG.bytes(600), "not a PNG"),
        ("noise.tif", b"II*\x00" + RNG.bytes(600), "TIFF"),
        ("noise.nii.gz", RNG.bytes(600), "NIfTI"),
        ("noise.npy", RNG.bytes(600), ".npy"),
        ("notes.txt", b"hello", "unsupported file type"),
        ("README", b"hello, not a DICOM preamble" * 10, "unsupported file type"),
    ],
)
def test_unreadable_inputs(tmp_path, name, content, cause):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableImage) as err:
        read_image(path)
    msg = str(err.value)
    assert name in msg and cause in msg and "\n" not in msg
    assert err.value.path == str(path)


def test_truncated_dicom_is_unreadable(tmp_path):
    data = open(get_testdata_file("CT_small.dcm"), "rb").read()
    path = tmp_path / "scan.dcm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage, match=r"scan\.dcm: truncated DICOM file"):
        read_image(path)
    with pytest.raises(UnreadableImage, match="truncated"):
        read_image(_bundled("MR_truncated.dcm"))


def test_truncated_tiff_and_jpeg_are_unreadable(tmp_path):
    tif, jpg = tmp_path / "s.tif", tmp_path / "s.jpg"
    write_image(tif, RNG.random((3, 40, 40), dtype=np.float32))
    write_image(jpg, RNG.random((40, 40), dtype=np.float32))
    for path in (tif, jpg):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(UnreadableImage, match="truncated"):
            read_image(path)


# --- writing: atomicity, layout -------------------------------------------------------------


def test_atomic_write_creates_parents_and_leaves_no_part_file(tmp_path):
    out = write_image(tmp_path / "a" / "b" / "x.png", np.full((5, 5), 0.5, np.float32))
    assert out.is_file() and _no_part_files(out.parent)


def test_failed_encoder_leaves_destination_untouched(tmp_path, monkeypatch):
    dest = tmp_path / "keep.png"
    dest.write_bytes(b"precious")

    def boom(raw):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(enhance.io.raster, "_encode_png", boom)
    with pytest.raises(UnwritableImage, match="encoder exploded"):
        write_image(dest, np.zeros((4, 4), np.float32))
    assert dest.read_bytes() == b"precious" and _no_part_files(tmp_path)


def test_failure_midway_removes_the_temporary_file(tmp_path, monkeypatch):
    dest = tmp_path / "keep.tif"
    dest.write_bytes(b"precious")
    seen = []

    def half_write(f, data, **kwargs):
        f.write(b"II*\x00partial")
        seen.append(f.name)
        raise OSError("disk full")

    monkeypatch.setattr(enhance.io.tiff.tifffile, "imwrite", half_write)
    with pytest.raises(UnwritableImage, match="disk full"):
        write_image(dest, np.zeros((4, 4), np.float32))
    name = os.path.basename(seen[0])
    assert name.startswith(".") and name.endswith(".part")
    assert not os.path.exists(seen[0])
    assert dest.read_bytes() == b"precious" and _no_part_files(tmp_path)


def test_with_pixels_and_frames():
    meta = ImageMeta("npy", np.uint8, 0, 255, is_stack=True)
    img = Image(np.zeros((2, 3, 4), np.float32), meta)
    assert len(img.frames) == 2 and img.frames[1].shape == (3, 4)
    new = img.with_pixels(np.ones((5, 6, 7)))
    assert new.meta is meta and new.pixels.dtype == np.float32 and new.shape == (5, 6, 7)
    with pytest.raises(ShapeMismatch):
        img.with_pixels(np.ones((6, 7)))


def test_supported_extensions_and_dicom_sniffing(tmp_path):
    for ext in (".nii.gz", ".dcm", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy"):
        assert ext in SUPPORTED_EXTENSIONS
    assert is_supported("scan.NII.GZ") and is_supported("a/b/photo.JPG")
    assert not is_supported("notes.txt") and not is_supported(".x.png.1a2b.part")
    no_ext = tmp_path / "IM0001"
    shutil.copy(get_testdata_file("CT_small.dcm"), no_ext)
    other = tmp_path / "LICENSE"
    other.write_bytes(b"x" * 300)
    assert is_supported(no_ext) and not is_supported(other)
    assert read_image(no_ext).meta.format == "dicom"


def test_cross_format_write_uses_target_defaults(tmp_path):
    ct = read_image(get_testdata_file("CT_small.dcm"))  # int16 DICOM
    png = write_image(tmp_path / "ct.png", ct)
    assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    np.testing.assert_allclose(read_image(png).pixels, ct.pixels, atol=1 / 65535)
    u8 = write_image(tmp_path / "ct8.tif", ct, dtype="uint8")
    assert tifffile.imread(u8).dtype == np.uint8


def test_large_arrays_convert_in_strips_to_the_same_values(monkeypatch):
    from enhance.io import image as image_module

    rng = np.random.default_rng(3)
    raw = rng.integers(0, 65535, (37, 23, 3), dtype=np.uint16)
    whole_unit = image_module.to_unit(raw, 10.0, 60000.0, invert=True)
    whole_raw = image_module.to_raw(whole_unit, np.uint16, 10.0, 60000.0, invert=True)
    monkeypatch.setattr(image_module, "CONVERT_STRIP_ELEMENTS", 100)  # strips of one row
    strips_unit = image_module.to_unit(raw, 10.0, 60000.0, invert=True)
    np.testing.assert_array_equal(strips_unit, whole_unit)
    assert strips_unit.dtype == np.float32
    strips_raw = image_module.to_raw(strips_unit, np.uint16, 10.0, 60000.0, invert=True)
    np.testing.assert_array_equal(strips_raw, whole_raw)
    assert strips_raw.dtype == np.uint16
    np.testing.assert_array_equal(image_module.to_raw(strips_unit > 0.5, bool, 0, 1),
                                  strips_unit > 0.5)


SAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "samples")


def _png_with_sbit(path, stored, bits):
    """A PNG of ``stored`` (RGB order for colour) with an sBIT chunk declaring ``bits``."""
    from enhance.io.raster import _sbit_chunk, _to_cv

    channels = stored.shape[2] if stored.ndim == 3 else 1
    data = cv2.imencode(".png", _to_cv(stored))[1].tobytes()
    path.write_bytes(data[:33] + _sbit_chunk(bits, channels) + data[33:])
    return path


@pytest.mark.parametrize("fill", ["noise", "zeros", "replicate", "unscaled"])
def test_16_bit_png_with_sbit_reads_its_significant_bits_and_writes_them_back(tmp_path, fill):
    from enhance.io.raster import _fill_low_bits

    t1 = cv2.imread(os.path.join(SAMPLES, "t1_coronal.png"), cv2.IMREAD_UNCHANGED)[64:112, 64:104]
    values = (t1 >> 4).astype(np.uint16)  # a 12-bit detector's values
    low = {"noise": np.random.default_rng(1).integers(0, 16, values.shape, dtype=np.uint16),
           "zeros": 0}
    stored = {"replicate": lambda: _fill_low_bits(values, 12, 16),
              "unscaled": lambda: values}.get(fill, lambda: (values << 4) | low[fill])()
    source = _png_with_sbit(tmp_path / "a.png", stored, 12)
    image = read_image(source)
    # scaled by 2**12 - 1, the low 4 bits ignored (not read as signal)
    np.testing.assert_array_equal(image.pixels, (values / 4095).astype(np.float32))
    assert image.meta.extra["sbit"] == 12 and image.raw().max() <= 4095
    out = write_image(tmp_path / "b.png", image.pixels * 0.5, like=image)
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    half = to_raw(image.pixels * 0.5, np.uint16, 0, 4095)
    expected = {"replicate": _fill_low_bits(half, 12, 16), "unscaled": half}.get(fill, half << 4)
    np.testing.assert_array_equal(written, expected)  # same convention, noise written as zeros
    assert read_image(out).meta.extra["sbit"] == 12  # the sBIT chunk is written too
    write_image(tmp_path / "c.png", image)
    if fill != "noise":
        assert cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_UNCHANGED).tobytes() == stored.tobytes()


def test_rgb_png_sbit_and_bad_sbit_chunks(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 1024, (16, 16, 3), dtype=np.uint16)  # 10 bits
    image = read_image(_png_with_sbit(tmp_path / "rgb.png", rgb << 6, 10))
    np.testing.assert_array_equal(image.pixels, (rgb / 1023).astype(np.float32))
    for bits, message in [(0, "does not fit 16-bit"), (17, "does not fit 16-bit")]:
        bad = _png_with_sbit(tmp_path / f"bad{bits}.png", rgb, bits)
        with pytest.raises(UnreadableImage, match=message):
            read_image(bad)
    gray = _png_with_sbit(tmp_path / "full.png", rgb[..., 0], 16)  # all bits significant
    assert read_image(gray).meta.hi == 65535 and "sbit" not in read_image(gray).meta.extra


def test_float_data_within_unit_range_are_read_as_held_never_stretched(tmp_path):
    raw = (np.random.default_rng(3).random((20, 30)) * 0.4 + 0.2).astype(np.float32)
    np.save(tmp_path / "f.npy", raw)
    image = read_image(tmp_path / "f.npy")
    assert (image.meta.lo, image.meta.hi) == (0.0, 1.0)  # not their own 0.2..0.6
    np.testing.assert_array_equal(image.pixels, raw)
    assert image.meta.extra["value_map"]["min"] == float(raw.min())
