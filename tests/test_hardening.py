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
    # 1e38 is a NoData value: left out of the range, read as a neighbour, never clipped
    assert image.meta.extra["value_map"]["clipped"] == 0
    assert image.meta.padding.count == 1
    around = pixels.reshape(raw.shape)[3:8, 5:10].reshape(-1)
    assert pixels.reshape(raw.shape)[5, 7] in np.delete(around, 12)
    # written back in the input's own scale, the NoData value exactly
    out = write_image(tmp_path / f"out{ext}", image)
    back = read_image(out)
    assert back.meta.dtype == np.float32
    if ext == ".npy":
        stored = np.load(out)
        keep = np.ones(raw.shape, bool)
        keep[5, 7] = False
        np.testing.assert_allclose(stored[keep], raw[keep], atol=1e-4 * 320)
        assert stored[5, 7] == np.float32(1e38)


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


def test_dicom_whose_pixels_do_not_match_its_header_is_refused(tmp_path):
    ds = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    rows, cols = int(ds.Rows), int(ds.Columns)
    ds.Columns = 1  # found by the fuzzer: pydicom then decoded (rows, cols, 1)
    ds.save_as(tmp_path / "one.dcm")
    with pytest.raises(UnreadableImage, match=f"too small to restore: {rows} x 1"):
        read_image(tmp_path / "one.dcm")
    ds.Columns, ds.Rows = cols // 2, rows * 2  # same pixel count, another shape: that reads
    ds.save_as(tmp_path / "tall.dcm")
    assert read_image(tmp_path / "tall.dcm").shape == (rows * 2, cols // 2)


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


# --- batch helpers ---------------------------------------------------------------------------


def _folder(tmp_path, names=("a.png", "b.png")):
    """A folder of small real PNGs (crops of a sample)."""
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)
    folder = tmp_path / "in"
    folder.mkdir(parents=True)
    for k, name in enumerate(names):
        cv2.imwrite(str(folder / name), t1[40 + 8 * k : 72 + 8 * k, 50:90])
    return folder


def _degrade(folder, out, *extra):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    return CliRunner().invoke(cli, ["degrade", str(folder), str(out), "--kind", "gaussian25",
                                    "-q", *extra])


def _outputs(out):
    return sorted(p.name for p in Path(out).rglob("*") if p.is_file() and p.name != "manifest.jsonl"
                  and not p.name.startswith("."))


# --- item 4: the manifest cannot be written; scores of huge files; tampered model configs ----


def test_manifest_that_cannot_be_written_is_one_line_and_a_failure(tmp_path, monkeypatch):
    import errno
    import os

    folder = _folder(tmp_path)
    out = tmp_path / "out"
    real_open = os.open

    def full_disk(file, flags, *args, **kwargs):
        if str(file).endswith("manifest.jsonl") and flags & os.O_APPEND:
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_disk)
    result = _degrade(folder, out)
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception,
                                                                              SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"Error: {out / 'manifest.jsonl'}: cannot write the manifest (No space left "
                     "on device)"]


def test_read_only_output_folder_is_one_line_before_any_work(tmp_path, monkeypatch):
    import errno
    import os

    folder = _folder(tmp_path)
    out = tmp_path / "out"
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(out)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    result = _degrade(folder, out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (f"Error: {out}: cannot write into the output folder "
                                     "(Read-only file system)")
    assert _outputs(out) == []


def test_score_reports_a_file_claiming_37_gb_per_file(tmp_path):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    ref, test = _folder(tmp_path), tmp_path / "test"
    test.mkdir()
    cv2.imwrite(str(test / "a.png"), cv2.imread(str(ref / "a.png"), cv2.IMREAD_UNCHANGED))
    with open(test / "b.npy", "wb") as f:  # 96000 x 96000 float32 = 37 GB, 1 KB on disk
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (96000, 96000)})
        f.write(b"\x00" * 1000)
    result = CliRunner().invoke(cli, ["score", str(ref), str(test)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "a.png" in result.output  # the good file is scored
    assert f"{test / 'b.npy'}: too large" in result.output


def test_memory_errors_have_a_message(tmp_path, monkeypatch):
    import enhance.io.npy
    from enhance.batch import _describe
    from enhance.jobs import score_folders

    assert _describe(MemoryError(), "x.png") == "x.png: out of memory"
    ref = _folder(tmp_path)
    np.save(tmp_path / "a.npy", np.zeros((9, 9), np.float32))

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(enhance.io.npy.np, "load", no_memory)
    with pytest.raises(UnreadableImage, match="out of memory while reading"):
        read_image(tmp_path / "a.npy")
    test = tmp_path / "t"
    test.mkdir()
    np.save(test / "a.npy", np.zeros((32, 40), np.float32))
    (row,) = score_folders(ref, test).rows
    assert row.error.startswith(str(test / "a.npy")) and "out of memory" in row.error


TAMPERED = [
    ({"arch_params": {"depth": 3, "width": 65536}}, "width must be in 1..1024, not 65536"),
    ({"arch": "dae", "arch_params": {"levels": 40}}, "levels must be in 0..8, not 40"),
    ({"size_factor": 0}, "size_factor is 0, but the architecture gives 1"),
    ({"receptive_field": 20001}, "receptive_field is 20001, but the architecture gives 7"),
    ({"extra": 1}, "unknown keys ['extra']"),
    ({"arch_params": {"depth": 3, "width": 8, "dropout": 0.5}}, "not ['dropout']"),
    ({"arch_params": {"depth": "3", "width": 8}}, "depth must be an integer"),
    ({"channels": 0}, "channels must be in 1..4, not 0"),
    ({"arch_params": {"depth": 256, "width": 1024}}, "about 2,415,919,104 weights"),
]


@pytest.mark.parametrize("change, message", TAMPERED, ids=[m[:20] for _, m in TAMPERED])
def test_tampered_model_configs_are_refused_before_anything_is_built(tmp_path, monkeypatch,
                                                                     change, message):
    import json
    import shutil

    from enhance.errors import ModelError
    from enhance.modeldir import load_model_dir
    from enhance.models import registry

    model = tmp_path / "m"
    model.mkdir()
    config = {"format": "enhance-model-dir/1", "arch": "dncnn",
              "arch_params": {"batchnorm": False, "depth": 3, "width": 8}, "task": "gaussian",
              "task_params": {}, "channels": 1, "size_factor": 1, "receptive_field": 7}
    if change.get("arch") == "dae":
        config.update(arch_params={"width": 8, "levels": 2}, size_factor=4, receptive_field=59)
    config.update(change)
    (model / "config.json").write_text(json.dumps(config))
    shutil.copy(SAMPLES / "README.md", model / "model.weights.h5")
    from enhance.modeldir import file_sha256

    (model / "card.json").write_text(json.dumps({"weights_sha256":
                                                 file_sha256(model / "model.weights.h5")}))

    def never(*args, **kwargs):
        raise AssertionError("a network was built from a tampered config")

    monkeypatch.setattr(registry, "build_model", never)
    with pytest.raises(ModelError) as info:
        load_model_dir(model)
    text = str(info.value)
    assert message in text and text.startswith(str(model / "config.json")) and "\n" not in text


# --- item 6 (batch): status, output and exit status agree; nothing skipped silently ----------


def test_tiny_images_fail_without_output_and_stay_failed(tmp_path):
    folder = _folder(tmp_path, names=("a.png",))
    cv2.imwrite(str(folder / "dot.png"), np.full((1, 1), 7, np.uint8))
    cv2.imwrite(str(folder / "line.png"), np.full((1, 9), 7, np.uint8))
    out = tmp_path / "out"
    for _ in range(2):  # the second run does not call them finished
        result = _degrade(folder, out)
        assert result.exit_code == 1
        assert "dot.png: too small to restore: 1 x 1" in result.output
        assert "line.png: too small to restore: 1 x 9" in result.output
        assert _outputs(out) == ["a.png"]


def test_an_output_written_before_a_failure_is_removed(tmp_path):
    from enhance.batch import InputFile, run_batch
    from pathlib import PurePosixPath

    src = tmp_path / "x.png"
    src.write_bytes(b"whatever")
    out = tmp_path / "out"

    def writes_then_fails(item, target):
        write_image(target, np.zeros((4, 4), np.float32))
        raise ValueError("noise estimate failed")

    result = run_batch([InputFile(src, PurePosixPath("x.png"))], out, writes_then_fails,
                       output_for=lambda item: out / "x.png")
    assert [r.status for r in result.results] == ["failed"] and not result.ok
    assert not (out / "x.png").exists()


def test_input_inside_output_is_refused(tmp_path):
    out = tmp_path / "out"
    folder = _folder(out)  # out/in
    result = _degrade(folder, out)
    assert result.exit_code == 1 and "the input folder" in result.output
    assert "inside the output folder" in result.output


def test_folders_links_and_loops_named_like_images_are_reported(tmp_path):
    folder = _folder(tmp_path, names=("a.png",))
    (folder / "dir.png").mkdir()
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    (folder / "loop.dcm").symlink_to(folder / "loop.dcm")
    out = tmp_path / "out"
    result = _degrade(folder, out)
    assert result.exit_code == 1
    assert f"{folder / 'dir.png'}: is a directory" in result.output
    assert f"{folder / 'dangling.png'}: dangling symbolic link" in result.output
    assert f"{folder / 'loop.dcm'}: symbolic link loop" in result.output
    assert "1 done, 0 skipped (already finished), 3 failed" in result.output


# --- item 7: one run at a time into an output folder ------------------------------------------


def test_a_second_run_into_a_locked_output_refuses_naming_the_holder(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    folder = _folder(tmp_path)
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom enhance.batch import OutputLock\n"
         f"lock = OutputLock({str(out)!r}).acquire()\nprint('locked', flush=True)\n"
         "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = _degrade(folder, out)
        assert result.exit_code == 1 and _outputs(out) == []
        line = result.output.strip()
        assert line.startswith(f"Error: {out}: another enhance run (pid {holder.pid} on "
                               f"{socket.gethostname()}")
        assert "\n" not in line
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the holder died (kill -9): its lock file is left behind and is taken over
    assert json.loads((out / ".enhance.lock").read_text())["pid"] == holder.pid
    result = _degrade(folder, out)
    assert result.exit_code == 0, result.output
    assert _outputs(out) == ["a.png", "b.png"] and not (out / ".enhance.lock").exists()


def test_a_stale_lock_file_of_a_dead_process_is_taken_over(tmp_path):
    import json

    folder = _folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".enhance.lock").write_text(json.dumps({"pid": 2**22 + 7, "host": "elsewhere"}))
    result = _degrade(folder, out)
    assert result.exit_code == 0, result.output
    assert _outputs(out) == ["a.png", "b.png"]


# --- item 9: library warnings, MemoryError text, a PNG named .dcm ----------------------------


def test_library_warnings_go_to_the_manifest_not_the_terminal(tmp_path, capfd):
    import json

    folder = _folder(tmp_path, names=("a.png",))
    data = (folder / "a.png").read_bytes()
    ihdr_end = 8 + 12 + 13  # an invalid sRGB chunk: libpng warns on stderr while decoding
    (folder / "warns.png").write_bytes(data[:ihdr_end] + _png_chunk(b"sRGB", b"\x09")
                                       + data[ihdr_end:])
    out = tmp_path / "out"
    capfd.readouterr()
    result = _degrade(folder, out)
    assert result.exit_code == 0
    captured = capfd.readouterr()
    assert "libpng" not in captured.err and "libpng" not in captured.out
    records = {Path(r["input"]).name: r for r in map(json.loads,
                                                        (out / "manifest.jsonl").read_text().splitlines())}
    assert any("libpng warning: sRGB" in w for w in records["warns.png"]["warnings"])
    assert "warnings" not in records["a.png"], records["a.png"]["warnings"]


def test_python_and_logging_warnings_are_captured_per_file(tmp_path, capfd):
    import logging
    import os
    import warnings

    from enhance.batch import captured_warnings
    from enhance.io.capture import c_stderr

    with captured_warnings() as caught:
        warnings.warn("pydicom says: invalid VR")
        logging.getLogger("pydicom").warning("a malformed element")
        with c_stderr():  # what the readers put their C decoders in
            os.write(2, b"libpng warning: iCCP: too short\n")
        os.write(2, b"a progress bar\n")  # between decoder calls the terminal is the terminal
    assert capfd.readouterr().err == "a progress bar\n"
    assert caught == ["UserWarning: pydicom says: invalid VR", "pydicom: a malformed element",
                      "libpng warning: iCCP: too short"]
    with captured_warnings(fd=True) as caught:  # model loading: the whole block
        os.write(2, b"E0000 absl chatter\n")
    assert capfd.readouterr().err == "" and caught == ["E0000 absl chatter"]
    with c_stderr():  # no capture open: nothing is redirected
        os.write(2, b"plain\n")
    assert capfd.readouterr().err == "plain\n"


def test_nested_captures_each_keep_their_own_messages():
    """An inner capture's list and the outer one's compare equal while both are empty: the
    inner one must still remove its own (a first model conversion nests them: it raised)."""
    import logging
    import warnings

    from enhance.batch import captured_warnings

    with captured_warnings(fd=True) as outer:
        with captured_warnings() as inner:
            pass
        logging.getLogger("pydicom").warning("outer message")
        with captured_warnings() as second:
            warnings.warn("second message")
    assert inner == [] and second == ["UserWarning: second message"]
    assert outer == ["pydicom: outer message"]


def test_a_png_named_dcm_is_reported_under_its_input_path(tmp_path):
    folder = _folder(tmp_path, names=("a.png",))
    (folder / "a.png").rename(folder / "scan.dcm")
    out = tmp_path / "out"
    result = _degrade(folder, out, "--format", "keep")
    assert result.exit_code == 1
    assert f"  {folder / 'scan.dcm'}: a PNG file named '.dcm'" in result.output
    assert _outputs(out) == []


# --- item 8: derived DICOM provenance, --anonymize, header-free PNG/TIFF ----------------------


def test_a_derived_dicom_references_its_source_instance(tmp_path):
    src = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    out = write_image(tmp_path / "d.dcm", read_image(SAMPLES / "ct_small.dcm"), derivation="x")
    (item,) = pydicom.dcmread(out).SourceImageSequence
    assert item.ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert item.ReferencedSOPClassUID == src.SOPClassUID
    assert item.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"


def _anonymize_inputs(folder):
    names = ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "examples_overlay.dcm",
             "SC_rgb_rle.dcm"]
    folder.mkdir()
    for name in names:
        path = get_testdata_file(name)
        if path is None:
            pytest.skip(f"pydicom does not ship {name}")
        (folder / name).write_bytes(Path(path).read_bytes())
    return names


def _identifying(ds):
    """The original identity a de-identified copy must not carry: names, IDs, instance UIDs."""
    strings = {str(ds.get(k)) for k in ("PatientName", "PatientID") if ds.get(k)}
    uids = {str(e.value) for e in ds.iterall() if e.VR == "UI" and e.value and e.VM == 1
            and not str(e.value).startswith("1.2.840.10008.")}
    return {s for s in strings | uids if len(s) > 3}


@pytest.mark.filterwarnings("ignore")
def test_anonymize_follows_the_basic_profile_consistently(tmp_path):
    import datetime

    from click.testing import CliRunner

    from enhance.cli.main import cli
    from enhance.io.deid import KEY_FILE, Deidentifier

    names = _anonymize_inputs(tmp_path / "in")
    out, key_file = tmp_path / "out", tmp_path / "key.json"
    args = ["denoise", str(tmp_path / "in"), str(out), "--method", "identity", "--sigma", "0.05",
            "--anonymize", "--deid-key", str(key_file), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    deid = Deidentifier.from_key_file(key_file)
    shifts, studies = set(), {}
    for name in names:
        src = pydicom.dcmread(tmp_path / "in" / name)
        ds = pydicom.dcmread(out / deid.file_name(name))
        data = (out / deid.file_name(name)).read_bytes()
        leaked = [s for s in _identifying(src) if s.encode() in data]
        assert not leaked, (name, leaked)
        assert not [e for e in ds.iterall() if e.tag.is_private]
        assert not [t for t in ds.keys() if (t.group & 0xFF00) == 0x6000]  # no overlays
        assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName).startswith("ANON-")
        for keyword in ("StationName", "InstitutionName", "OperatorsName", "PatientBirthDate",
                        "DeviceSerialNumber", "StudyDescription", "OtherPatientIDs"):
            assert not ds.get(keyword), (name, keyword)
        assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113107"]
        assert ds.StudyInstanceUID != src.StudyInstanceUID
        studies.setdefault(src.StudyInstanceUID, set()).add(ds.StudyInstanceUID)
        if src.get("StudyDate"):
            day = lambda v: datetime.datetime.strptime(str(v), "%Y%m%d").date()  # noqa: E731
            shifts.add((day(ds.StudyDate) - day(src.StudyDate)).days)
        item = ds.SourceImageSequence[0]  # points to the anonymized source, not the original
        assert item.ReferencedSOPInstanceUID not in (src.SOPInstanceUID, ds.SOPInstanceUID)
        np.testing.assert_array_equal(ds.pixel_array, src.pixel_array)  # identity: same pixels
    assert len(shifts) == 1 and -3650 <= shifts.pop() <= -365  # one shift for the whole run
    assert all(len(mapped) == 1 for mapped in studies.values())  # a study stays one study
    assert len(studies) < len(names)  # (two of the inputs share a study)
    # a resumed run maps the same way: the key is kept in the user's key file, never in OUT
    key = key_file.read_bytes()
    mr = out / deid.file_name("MR_small.dcm")
    first = pydicom.dcmread(mr)
    mr.unlink()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and key_file.read_bytes() == key
    assert not (out / KEY_FILE).exists()
    again = pydicom.dcmread(mr)
    assert (again.StudyInstanceUID, again.SOPInstanceUID, again.PatientID) == (
        first.StudyInstanceUID, first.SOPInstanceUID, first.PatientID)


def test_burned_in_annotation_cannot_be_anonymized(tmp_path):
    from enhance.io.deid import Deidentifier

    ds = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    ds.BurnedInAnnotation = "YES"
    ds.save_as(tmp_path / "burned.dcm")
    with pytest.raises(Exception, match="burned-in annotation") as info:
        write_image(tmp_path / "o.dcm", read_image(tmp_path / "burned.dcm"),
                    anonymize=Deidentifier(b"k" * 32))
    assert str(tmp_path / "burned.dcm") in str(info.value)
    assert not (tmp_path / "o.dcm").exists()


@pytest.mark.parametrize("fmt, ext", [("png16", ".png"), ("tiff16", ".tif")])
def test_png_and_tiff_outputs_carry_no_header_data(tmp_path, fmt, ext):
    from enhance.jobs import denoise_folder

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ct.dcm").write_bytes((SAMPLES / "ct_small.dcm").read_bytes())
    src = pydicom.dcmread(folder / "ct.dcm")
    result = denoise_folder(folder, tmp_path / "out", "identity", sigma=0.05, output_format=fmt)
    assert result.ok
    data = (tmp_path / "out" / f"ct{ext}").read_bytes()
    assert not [s for s in _identifying(src) if s.encode() in data]
    if ext == ".png":  # only the image chunks
        pos, kinds = 8, []
        while pos < len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kinds.append(data[pos + 4 : pos + 8])
            pos += 12 + length
        assert set(kinds) <= {b"IHDR", b"IDAT", b"IEND"}
    else:
        with tifffile.TiffFile(tmp_path / "out" / f"ct{ext}") as tif:
            tags = {t.name for t in tif.pages[0].tags}
        assert not tags & {"ImageDescription", "Artist", "HostComputer", "Software", "DateTime",
                           "DocumentName", "Make", "Model"}


def test_a_preview_that_cannot_be_written_says_why_without_none(tmp_path):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    folder = _folder(tmp_path, names=("a.png",))
    out = tmp_path / "out"
    (out / "preview.png").mkdir(parents=True)  # in the way of the sheet
    result = CliRunner().invoke(cli, ["run", str(folder), str(out), "-q"])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[-1]
    assert line.startswith("preview: not written: ") and "None" not in line
