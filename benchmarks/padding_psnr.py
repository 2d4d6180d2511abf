"""Tissue PSNR of `enhance run` on a noisy CT with and without padding / NoData pixels.

    python benchmarks/padding_psnr.py [--sigma 25] [--border 32]

A head CT (samples/head_ct.png mapped to -1000..1500 HU) with Gaussian noise of sigma/255 of
that span is written as a DICOM CT (int16, intercept -1024): plain; inside a border of stored
-32768 (no declared padding); inside a border of stored -2000 (declared as PixelPaddingValue,
and not declared); and as a float32 .npy in HU with 5% of its pixels set to the NoData value
-3.4e38. Each is restored by the default model (enhance.pipeline.enhance_folder) and the PSNR
of the tissue (the image without the border, the pixels that are not NoData) against the clean
CT is printed, on the 2500 HU span, with the count of padding pixels the manifest reports and
whether the padding was written back exactly. Padding must not cost tissue PSNR.
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPAN = 2500.0


def _dicom(path, stored, *, padding_value=None):
    import pydicom

    ds = pydicom.dcmread(ROOT / "samples" / "ct_small.dcm")
    ds.Rows, ds.Columns = stored.shape
    ds.PixelData = stored.astype(np.int16).tobytes()
    if padding_value is None:
        del ds.PixelPaddingValue
    else:
        ds.PixelPaddingValue = padding_value
    ds.save_as(path)


def main():
    import cv2
    import pydicom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=25.0, help="noise sigma, in 1/255 of the span")
    parser.add_argument("--border", type=int, default=32, help="padding border in pixels")
    args = parser.parse_args()

    from enhance.pipeline import enhance_folder

    clean = cv2.imread(str(ROOT / "samples" / "head_ct.png"), cv2.IMREAD_UNCHANGED) / 65535.0 * SPAN - 1000
    rng = np.random.default_rng(0)
    noisy = clean + rng.standard_normal(clean.shape) * args.sigma / 255 * SPAN
    stored = np.rint(noisy + 1024)  # HU = stored - 1024
    b = args.border
    nodata = rng.random(clean.shape) < 0.05
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        _dicom(tmp / "in" / "plain.dcm", stored)
        _dicom(tmp / "in" / "pad-32768.dcm", np.pad(stored, b, constant_values=-32768))
        _dicom(tmp / "in" / "pad-2000-declared.dcm", np.pad(stored, b, constant_values=-2000),
               padding_value=-2000)
        _dicom(tmp / "in" / "pad-2000.dcm", np.pad(stored, b, constant_values=-2000))
        np.save(tmp / "in" / "plain-float.npy", noisy.astype(np.float32))
        np.save(tmp / "in" / "nodata-float.npy",
                np.where(nodata, np.float32(-3.4e38), noisy.astype(np.float32)))
        result = enhance_folder(tmp / "in", tmp / "out")
        assert result.ok, [r.error for r in result.records if r.error] if hasattr(result, "records") else result
        notes = {Path(r["input"]).name: r for r in
                 map(json.loads, (tmp / "out" / "manifest.jsonl").read_text().splitlines())}
        print(f"{'input':<24} {'tissue PSNR':>11}  {'padding pixels':>14}  padding kept")
        for name in ("plain.dcm", "pad-32768.dcm", "pad-2000-declared.dcm", "pad-2000.dcm",
                     "plain-float.npy", "nodata-float.npy"):
            out = tmp / "out" / name
            if name.endswith(".dcm"):
                raw = pydicom.dcmread(out).pixel_array.astype(np.float64)
                tissue = raw if name == "plain.dcm" else raw[b:-b, b:-b]
                hu, keep = tissue - 1024, np.ones(clean.shape, bool)
                kept = "" if name == "plain.dcm" else str(bool((raw[:b] == (-32768 if "32768" in name else -2000)).all()))
            else:
                hu = np.load(out).astype(np.float64)
                keep = ~nodata if name.startswith("nodata") else np.ones(clean.shape, bool)
                kept = str(bool((hu[~keep] == np.float32(-3.4e38)).all())) if name.startswith("nodata") else ""
            mse = np.mean((hu[keep] - clean[keep]) ** 2)
            count = notes[name].get("padding", {}).get("pixels", 0)
            print(f"{name:<24} {10 * np.log10(SPAN**2 / mse):8.2f} dB  {count:>14,}  {kept}")


if __name__ == "__main__":
    main()
