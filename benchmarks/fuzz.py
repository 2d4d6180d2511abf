"""Fuzz the readers and the batch engine with seeded mutations of real files of every format.

Usage::

    python benchmarks/fuzz.py                  # 10,000 cases, seed 0
    python benchmarks/fuzz.py -n 500 --seed 3 --keep /tmp/fuzz

Seed files are made from ``samples/`` (PNG 8/16-bit gray and RGB, JPEG gray and RGB, TIFF
single-page, multi-page, float32 and RGB, DICOM CT and MR, NIfTI ``.nii`` and ``.nii.gz``,
``.npy`` uint8, float32 and a stack). Each case takes one seed file and applies one to three
mutations drawn with ``numpy.random.default_rng([seed, case])``: truncation, byte flips (anywhere
or in the header), inserted, deleted, zeroed or appended bytes, random bytes, format-aware header
field edits (PNG IHDR with a valid CRC, TIFF tags, DICOM elements, NIfTI header fields, the .npy
header's shape and dtype), huge dimensions and non-finite or extreme float pixels.

Every case is read with :func:`enhance.io.read_image` and must end in a valid image (float32
pixels in [0, 1], finite, a known layout) or the package's own error
(:class:`enhance.errors.EnhanceError`) with a one-line message naming the file. Anything else
(another exception, a message without the file, an invalid image, more than ``--timeout``
seconds) is a *traceback*. Then all the cases go through one batch (:func:`enhance.jobs.
denoise_folder`, median filter, outputs in the inputs' own formats): a failed file must have no
output, a done file a readable one, and every failure must come from the package's own errors.

Prints the counts; exits 1 when there is a traceback or an output written for a failed input.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import shutil
import signal
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The readers' pixel limit during fuzzing: small, so that no case allocates much (header claims
#: of huge images are refused whatever the limit).
FUZZ_MAX_PIXELS = 1 << 22

INTERESTING = (0, 1, 2, 3, 7, 8, 16, 255, 256, 4095, 32767, 32768, 65535, 65536, 2**31 - 1,
               2**31, 2**32 - 1, 20000, 100000)


# --- seed files ---------------------------------------------------------------------------------


def make_seeds(folder):
    """Write small real images of every format into ``folder``; return their paths."""
    import cv2
    import nibabel as nib
    import pydicom
    import tifffile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples = ROOT / "samples"
    t1 = cv2.imread(str(samples / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)[60:92, 60:100]
    rgb = cv2.imread(str(samples / "retina.png"), cv2.IMREAD_UNCHANGED)[100:124, 100:132]
    gray8 = (t1 >> 8).astype(np.uint8)
    cv2.imwrite(str(folder / "gray16.png"), t1)
    cv2.imwrite(str(folder / "gray8.png"), gray8)
    cv2.imwrite(str(folder / "rgb.png"), rgb)
    cv2.imwrite(str(folder / "gray.jpg"), gray8)
    cv2.imwrite(str(folder / "rgb.jpg"), (rgb >> 8).astype(np.uint8) if rgb.dtype != np.uint8
                else rgb)
    tifffile.imwrite(folder / "gray.tif", t1)
    tifffile.imwrite(folder / "pages.tif", np.stack([t1, t1[::-1]]))
    tifffile.imwrite(folder / "float.tif", t1.astype(np.float32) / 7.0 - 100.0)
    tifffile.imwrite(folder / "rgb.tif", rgb, photometric="rgb")
    for name in ("ct_small.dcm", "mr_small.dcm"):
        ds = pydicom.dcmread(samples / name)
        ds.save_as(folder / name)
    volume = np.stack([t1, t1[:, ::-1], t1[::-1]], axis=-1).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / "vol.nii")
    nib.save(nib.Nifti1Image(volume.astype(np.float32) * 0.5, np.eye(4)), folder / "volf.nii.gz")
    np.save(folder / "u8.npy", gray8)
    np.save(folder / "f32.npy", t1.astype(np.float32) * 0.01 - 3.0)
    np.save(folder / "stack.npy", np.stack([gray8, gray8]))
    return sorted(p for p in folder.iterdir() if p.is_file())


def _fmt(path):
    from enhance.io.formats import format_from_name

    return format_from_name(path)


# --- mutations: bytes -> bytes ------------------------------------------------------------------


def truncate(data, rng, fmt):
    return data[: int(rng.integers(0, max(1, len(data))))]


def flip_bytes(data, rng, fmt):
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(0, len(out)))
        out[i] ^= 1 << int(rng.integers(0, 8)) if rng.random() < 0.5 else int(rng.integers(1, 256))
    return bytes(out)


def flip_header(data, rng, fmt):
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        i = int(rng.integers(0, min(len(out), 512)))
        out[i] = int(rng.integers(0, 256))
    return bytes(out)


def insert_bytes(data, rng, fmt):
    i = int(rng.integers(0, len(data) + 1))
    return data[:i] + rng.bytes(int(rng.integers(1, 64))) + data[i:]


def delete_range(data, rng, fmt):
    i = int(rng.integers(0, len(data)))
    return data[:i] + data[i + int(rng.integers(1, 256)) :]


def zero_range(data, rng, fmt):
    i = int(rng.integers(0, len(data)))
    n = int(rng.integers(1, 1024))
    return data[:i] + b"\x00" * min(n, len(data) - i) + data[i + n :]


def append_garbage(data, rng, fmt):
    return data + rng.bytes(int(rng.integers(1, 4096)))


def random_bytes(data, rng, fmt):
    head = data[: int(rng.integers(0, 16))]  # sometimes keep the magic number
    return head + rng.bytes(int(rng.integers(0, 2048)))


def _interesting(rng):
    return int(INTERESTING[int(rng.integers(0, len(INTERESTING)))])


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_fields(data, rng, fmt, *, huge=False):
    if fmt != "png" or len(data) < 33 or data[12:16] != b"IHDR":
        return flip_header(data, rng, fmt)
    width, height, depth, colour, comp, filt, inter = struct.unpack(">IIBBBBB", data[16:29])
    field = int(rng.integers(0, 5)) if not huge else 0
    if field == 0:
        width, height = ((_interesting(rng), _interesting(rng)) if not huge
                         else (int(rng.integers(20000, 2**31)), int(rng.integers(20000, 2**31))))
    elif field == 1:
        depth = int(rng.choice([0, 1, 2, 3, 4, 8, 16, 32, 255]))
    elif field == 2:
        colour = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 255]))
    elif field == 3:
        comp, filt, inter = (int(x) for x in rng.integers(0, 3, 3))
    else:  # drop or repeat a chunk after IHDR
        pos = 33
        chunks = []
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            chunks.append(data[pos : pos + 12 + length])
            pos += 12 + length
        if len(chunks) > 1:
            k = int(rng.integers(0, len(chunks)))
            chunks = chunks[:k] + chunks[k + 1 :] if rng.random() < 0.5 else chunks + [chunks[k]]
        return data[:33] + b"".join(chunks)
    ihdr = struct.pack(">IIBBBBB", width & 0xFFFFFFFF, height & 0xFFFFFFFF, depth, colour, comp,
                       filt, inter)
    return data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]


_TIFF_TAGS = (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 339, 254, 317, 320)


def tiff_fields(data, rng, fmt, *, huge=False):
    if fmt != "tiff" or len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return flip_header(data, rng, fmt)
    e = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(e + "I", data[4:8])
    if offset + 2 > len(data):
        return flip_header(data, rng, fmt)
    (count,) = struct.unpack(e + "H", data[offset : offset + 2])
    entries = [offset + 2 + 12 * k for k in range(count) if offset + 14 + 12 * k <= len(data)]
    wanted = (256, 257) if huge else _TIFF_TAGS
    candidates = [p for p in entries if struct.unpack(e + "H", data[p : p + 2])[0] in wanted]
    if not candidates:
        return flip_header(data, rng, fmt)
    out = bytearray(data)
    for p in candidates if huge else [candidates[int(rng.integers(0, len(candidates)))]]:
        kind = struct.unpack(e + "H", data[p + 2 : p + 4])[0]
        value = int(rng.integers(30000, 2**31)) if huge else _interesting(rng)
        if rng.random() < 0.15 and not huge:  # the count, not the value
            out[p + 4 : p + 8] = struct.pack(e + "I", value & 0xFFFFFFFF)
        elif kind == 3:
            out[p + 8 : p + 12] = struct.pack(e + "H", value & 0xFFFF) + b"\x00\x00"
        else:
            if huge:
                out[p + 2 : p + 4] = struct.pack(e + "H", 4)  # LONG, to hold a huge value
            out[p + 8 : p + 12] = struct.pack(e + "I", value & 0xFFFFFFFF)
    return bytes(out)


_DICOM_EDITS = (
    ("Rows", "int"), ("Columns", "int"), ("BitsAllocated", "bits"), ("BitsStored", "bits"),
    ("HighBit", "bits"), ("PixelRepresentation", "small"), ("SamplesPerPixel", "small"),
    ("PhotometricInterpretation", "photometric"), ("NumberOfFrames", "int"),
    ("PlanarConfiguration", "small"), ("RescaleSlope", "float"), ("Modality", "modality"),
    ("SOPClassUID", "sop"), ("TransferSyntaxUID", "ts"), ("PixelData", "pixels"),
)


def dicom_fields(data, rng, fmt, *, huge=False):
    if fmt != "dicom":
        return flip_header(data, rng, fmt)
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        if huge:
            ds.Rows = ds.Columns = 65535
            ds.NumberOfFrames = int(rng.integers(2, 10000))
        else:
            name, kind = _DICOM_EDITS[int(rng.integers(0, len(_DICOM_EDITS)))]
            value = {
                "int": lambda: _interesting(rng) & 0xFFFF,
                "bits": lambda: int(rng.choice([0, 1, 7, 8, 12, 16, 24, 32, 64])),
                "small": lambda: int(rng.integers(0, 5)),
                "photometric": lambda: str(rng.choice(["MONOCHROME1", "RGB", "PALETTE COLOR",
                                                       "YBR_FULL_422", "YBR_FULL", "CMYK", "XYZ"])),
                "float": lambda: float(rng.choice([0.0, -1.0, 1e30, 1e-30])),
                "modality": lambda: str(rng.choice(["RTDOSE", "SEG", "SR", "PR", "CT", "OT"])),
                "sop": lambda: str(rng.choice(["1.2.840.10008.5.1.4.1.1.481.2",
                                               "1.2.840.10008.5.1.4.1.1.66.4",
                                               "1.2.840.10008.5.1.4.1.1.7", "1.2.3"])),
                "ts": lambda: str(rng.choice(["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5",
                                              "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.90",
                                              "1.2.3.4"])),
                "pixels": lambda: None,
            }[kind]()
            if name == "TransferSyntaxUID":
                ds.file_meta.TransferSyntaxUID = value
            elif name == "PixelData":
                ds.PixelData = ds.PixelData[: int(rng.integers(0, len(ds.PixelData) + 1))]
            else:
                setattr(ds, name, value)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        return buffer.getvalue()
    except Exception:  # an edit pydicom cannot encode: a plain flip instead
        return flip_header(data, rng, fmt)


_NIFTI_FIELDS = (  # offset, struct code
    (0, "<i"), (40, "<h"), (42, "<h"), (44, "<h"), (46, "<h"), (48, "<h"), (70, "<h"),
    (72, "<h"), (108, "<f"), (112, "<f"), (116, "<f"), (252, "<h"),
)


def nifti_fields(data, rng, fmt, *, huge=False):
    if fmt != "nifti":
        return flip_header(data, rng, fmt)
    gz = data[:2] == b"\x1f\x8b"
    try:
        raw = bytearray(gzip.decompress(data) if gz else data)
    except Exception:
        return flip_header(data, rng, fmt)
    if len(raw) < 348:
        return flip_header(data, rng, fmt)
    if huge:
        struct.pack_into("<hhhh", raw, 40, 3, 32767, 32767, int(rng.integers(2, 32767)))
    else:
        offset, code = _NIFTI_FIELDS[int(rng.integers(0, len(_NIFTI_FIELDS)))]
        if code == "<f":
            value = float(rng.choice([0.0, -1.0, np.nan, np.inf, 1e38, 352.0, 1e9]))
        else:
            value = int(rng.choice([-1, 0, 1, 2, 3, 4, 8, 16, 64, 256, 512, 768, 2304, 32767]))
        struct.pack_into(code, raw, offset, value)
    raw = bytes(raw)
    return gzip.compress(raw, mtime=0) if gz else raw


def npy_fields(data, rng, fmt, *, huge=False):
    if fmt != "npy" or not data.startswith(b"\x93NUMPY"):
        return flip_header(data, rng, fmt)
    try:
        f = io.BytesIO(data)
        np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0(f)
        body = data[f.tell() :]
    except Exception:
        return flip_header(data, rng, fmt)
    shape, fortran, dtype = header
    descr = np.lib.format.dtype_to_descr(dtype)
    choice = int(rng.integers(0, 3)) if not huge else 0
    if choice == 0:
        options = [(), (0,), (1, 1), (1, 40), (1 << 20, 1 << 20), (2, 3, 4, 5, 6), (5,),
                   (shape[0], shape[1], 7), (3, 1 << 16, 1 << 16)]
        shape = (tuple(int(x) for x in rng.integers(30000, 1 << 20, 2)) if huge
                 else options[int(rng.integers(0, len(options)))])
    elif choice == 1:
        descr = str(rng.choice(["<f4", ">f8", "<i8", "|b1", "<c8", "|O", "<U4", "<f2", "|u1",
                                "|V8", "<M8[s]"]))
    else:
        fortran = not fortran
    out = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(
            out, {"descr": descr, "fortran_order": bool(fortran), "shape": shape})
    except Exception:
        return flip_header(data, rng, fmt)
    return out.getvalue() + body


def header_fields(data, rng, fmt):
    return {"png": png_fields, "tiff": tiff_fields, "dicom": dicom_fields, "nifti": nifti_fields,
            "npy": npy_fields}.get(fmt, flip_header)(data, rng, fmt)


def huge_dimensions(data, rng, fmt):
    if fmt == "jpeg":  # SOF0/SOF2 height and width
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            i = data.find(marker)
            if i >= 0 and i + 9 <= len(data):
                return data[: i + 5] + struct.pack(">HH", 65500, 65500) + data[i + 9 :]
        return flip_header(data, rng, fmt)
    return {"png": png_fields, "tiff": tiff_fields, "dicom": dicom_fields, "nifti": nifti_fields,
            "npy": npy_fields}.get(fmt, flip_header)(data, rng, fmt, huge=True)


def float_specials(data, rng, fmt):
    """Non-finite or extreme values in float pixel data (.npy and TIFF float32 seeds)."""
    specials = np.array([np.nan, np.inf, -np.inf, 1e38, -3.4e38, 1e-45, 65504.0], np.float32)
    if fmt == "npy" and data.startswith(b"\x93NUMPY"):
        f = io.BytesIO(data)
        np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        start = f.tell()
    elif fmt == "tiff":
        dtype, start = np.dtype("<f4"), None
    else:
        return flip_bytes(data, rng, fmt)
    if dtype.kind != "f":
        return flip_bytes(data, rng, fmt)
    out = bytearray(data)
    size = dtype.itemsize
    lo = start if start is not None else 8
    for _ in range(int(rng.integers(1, 6))):
        i = lo + size * int(rng.integers(0, max(1, (len(out) - lo) // size)))
        value = specials[int(rng.integers(0, len(specials)))].astype(dtype).tobytes()
        out[i : i + size] = value[: len(out) - i]
    if rng.random() < 0.1 and start is not None:  # every value
        n = (len(out) - start) // size
        out[start:] = np.full(n, specials[int(rng.integers(0, 3))], dtype).tobytes()
    return bytes(out)


MUTATIONS = {
    "truncate": truncate, "flip": flip_bytes, "headerflip": flip_header, "insert": insert_bytes,
    "delete": delete_range, "zero": zero_range, "append": append_garbage, "random": random_bytes,
    "fields": header_fields, "huge": huge_dimensions, "floats": float_specials,
}
#: How often each mutation is drawn (header edits and truncation most).
WEIGHTS = {"truncate": 3, "flip": 2, "headerflip": 2, "insert": 1, "delete": 1, "zero": 1,
           "append": 1, "random": 1, "fields": 5, "huge": 2, "floats": 2}


def make_case(seeds, index, seed, folder):
    """Write the ``index``-th mutated file of run ``seed`` into ``folder``; return its path."""
    from enhance.io.formats import split_extension

    rng = np.random.default_rng([seed, index])
    src = seeds[int(rng.integers(0, len(seeds)))]
    fmt = _fmt(src)
    data = src.read_bytes()
    names = list(MUTATIONS)
    p = np.array([WEIGHTS[n] for n in names], float)
    applied = list(rng.choice(names, size=int(rng.integers(1, 4)), p=p / p.sum()))
    for name in applied:
        if data:
            try:
                data = MUTATIONS[name](data, rng, fmt)
            except Exception:  # an earlier mutation left nothing to edit: flip bytes instead
                data = flip_bytes(data, rng, fmt)
    stem, ext = split_extension(src.name)
    path = Path(folder) / f"{index:05d}_{stem}_{'+'.join(applied)}{ext}"
    path.write_bytes(data)
    return path


# --- checking one case --------------------------------------------------------------------------


class _Timeout(BaseException):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_image(image, max_pixels):
    """'' if ``image`` is a valid result of read_image, else what is wrong with it."""
    from enhance.io import Image

    if not isinstance(image, Image):
        return f"not an Image: {type(image).__name__}"
    px, meta = image.pixels, image.meta
    if px.dtype != np.float32:
        return f"pixels are {px.dtype}"
    if not 2 <= px.ndim <= 4:
        return f"pixels of shape {px.shape}"
    want = 2 + int(meta.is_stack) + int(meta.channels > 1)
    if px.ndim != want or (meta.channels > 1 and px.shape[-1] != meta.channels):
        return f"shape {px.shape} does not fit is_stack={meta.is_stack}, channels={meta.channels}"
    if meta.channels not in (1, 3, 4):
        return f"{meta.channels} channels"
    frame = px.shape[int(meta.is_stack) : int(meta.is_stack) + 2]
    if min(frame) < 2:
        return f"frame of {frame}"
    pixels = px.size // (meta.channels if meta.channels > 1 else 1)
    if max_pixels is not None and pixels > max_pixels:
        return f"{pixels} pixels over the limit"
    if not np.isfinite(px).all() or px.min() < 0 or px.max() > 1:
        return "pixels not finite or outside [0, 1]"
    if not (np.isfinite(meta.lo) and np.isfinite(meta.hi)):
        return f"range {meta.lo}..{meta.hi} not finite"
    return ""


def check_read(path, *, max_pixels=FUZZ_MAX_PIXELS, timeout=20):
    """``(outcome, detail)``: outcome is 'ok', 'refused' or 'traceback'."""
    from enhance.errors import EnhanceError
    from enhance.io import read_image

    try:
        with _time_limit(timeout), warnings_silenced():
            image = read_image(path, max_pixels=max_pixels)
    except _Timeout:
        return "traceback", f"no answer within {timeout} s"
    except EnhanceError as error:
        text = str(error)
        if str(path) not in text or "\n" in text or len(text) <= len(str(path)) + 2:
            return "traceback", f"unclean message: {text!r}"
        return "refused", text[len(str(path)) + 2 :]
    except Exception as error:  # noqa: BLE001 - this is what the fuzzer looks for
        return "traceback", f"{type(error).__name__}: {error}"
    problem = check_image(image, max_pixels)
    return ("traceback", f"invalid image: {problem}") if problem else ("ok", "")


@contextlib.contextmanager
def warnings_silenced():
    """Keep the libraries' warnings (Python, logging and C stderr) off the terminal."""
    from enhance.batch import captured_warnings

    with captured_warnings():
        yield


# --- the batch ----------------------------------------------------------------------------------


def check_batch(folder, out, *, max_pixels=FUZZ_MAX_PIXELS):
    """Run every file of ``folder`` through one batch; return its counts."""
    from enhance import batch
    from enhance.errors import EnhanceError
    from enhance.io import read_image
    from enhance.jobs import denoise_folder

    unclean = []
    describe = batch._describe

    def recording(error, path):  # failures that are not the package's own errors
        if not isinstance(error, EnhanceError):
            unclean.append(f"{path}: {type(error).__name__}: {error}")
        return describe(error, path)

    batch._describe = recording
    try:
        with warnings_silenced():
            result = denoise_folder(folder, out, "median", sigma=0.05, max_pixels=max_pixels)
    finally:
        batch._describe = describe
    counts = Counter()
    for r in result.results:
        counts[f"batch_{r.status}"] += 1
        if r.status == "failed":
            if r.output and Path(r.output).exists():
                counts["outputs_for_failed"] += 1
            if not r.error.startswith(r.input) or "\n" in r.error:
                unclean.append(f"unclean message: {r.error!r}")
        elif r.status == "done":
            try:
                with warnings_silenced():
                    read_image(r.output, max_pixels=None)
            except Exception as error:  # noqa: BLE001
                counts["unreadable_outputs"] += 1
                unclean.append(f"{r.output}: output unreadable: {error}")
    counts["batch_tracebacks"] = len(unclean)
    return counts, unclean


def run(n, *, seed=0, folder=None, batch_phase=True, timeout=20, progress=None):
    """Fuzz ``n`` cases; return ``(counts, examples)``. ``progress(done, total, counts)`` (the
    package's one progress protocol, the counts so far as the item) every 1000 cases."""
    work = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="enhance-fuzz-"))
    seeds = make_seeds(work / "seeds")
    cases = work / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    counts, examples = Counter(), {}
    for index in range(n):
        with warnings_silenced():  # pydicom warns about the files the mutator edits
            path = make_case(seeds, index, seed, cases)
        outcome, detail = check_read(path, timeout=timeout)
        counts[outcome] += 1
        if outcome == "traceback":
            examples.setdefault(detail[:120], str(path))
        if progress is not None and (index + 1) % 1000 == 0:
            progress(index + 1, n, counts)
    if batch_phase:
        batch_counts, unclean = check_batch(cases, work / "out")
        counts.update(batch_counts)
        for line in unclean[:20]:
            examples.setdefault(line[:160], "batch")
    if folder is None:
        shutil.rmtree(work, ignore_errors=True)
    return counts, examples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10000, help="number of cases (10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="work in this folder and keep the cases")
    parser.add_argument("--no-batch", action="store_true", help="read only, no batch")
    parser.add_argument("--timeout", type=int, default=20, help="seconds per read (20)")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    def progress(done, total, counts):
        print(f"  {done}/{total} cases: {dict(counts)}", file=sys.stderr, flush=True)

    counts, examples = run(args.n, seed=args.seed, folder=args.keep,
                           batch_phase=not args.no_batch, timeout=args.timeout, progress=progress)
    seconds = time.perf_counter() - start
    tracebacks = counts["traceback"] + counts["batch_tracebacks"]
    summary = {
        "cases": args.n, "seed": args.seed, "ok": counts["ok"],
        "refused_with_clean_error": counts["refused"], "tracebacks": tracebacks,
        "outputs_written_for_failed_inputs": counts["outputs_for_failed"],
        "batch": {k[6:]: counts[k] for k in ("batch_done", "batch_failed", "batch_skipped")},
        "unreadable_outputs": counts["unreadable_outputs"], "seconds": round(seconds, 1),
    }
    print(json.dumps(summary, indent=2))
    for detail, path in list(examples.items())[:20]:
        print(f"TRACEBACK {path}: {detail}")
    return 1 if tracebacks or counts["outputs_for_failed"] or counts["unreadable_outputs"] else 0


if __name__ == "__main__":
    sys.exit(main())
