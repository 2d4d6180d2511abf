"""Compare DICOM de-identifiers on a file carrying every attribute of the PS3.15 Basic Profile.

Usage::

    python benchmarks/deid_compare.py build DIR          # DIR/ZQXFILE-MRN48213_scan.dcm, DIR/needles.json
    python benchmarks/deid_compare.py run DIR [NAME ...]  # de-identify it with each candidate found

The test file (:func:`build_profile_file`) is a small CT image carrying every attribute of the
Basic Application Level Confidentiality Profile's table (PS3.15 Table E.1-1, as
:func:`enhance.io.deid.profile` reads it): each text value is a marker ``ZQX`` + the tag in hex,
each date a distinct date of 1901-1902, each UID a distinct ``2.25.`` UID, each binary value the
marker's bytes; every sequence of the table holds an item with a ``TextValue`` and a
``PersonName`` carrying the marker, ``ContentSequence`` and ``AcquisitionContextSequence`` a
second level of ``ContentSequence``; plus private attributes (one a sequence), unknown
even-group attributes, curve and overlay groups, the file meta's AE titles and
implementation version name, and a 128-byte preamble that carries a marker. The file's name carries one too.

``run`` de-identifies that file with each candidate that can be imported (``enhance`` itself,
``dicom-anonymizer``, ``dicognito``, ``deid``, ``idiscore``: they need not share one
environment, run the script in each) and counts, in the raw bytes of each output, the
attributes whose value survived (times excluded: the Retain Longitudinal Temporal Information
option keeps them). Prints one line per candidate.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MARK = "ZQX"
FILE_NAME = "ZQXFILE-MRN48213_scan.dcm"
_TEXT = {"AE", "CS", "LO", "SH", "PN", "LT", "ST", "UT", "UC", "UR"}
_BYTES = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
_UNKNOWN_EVEN = (0x00A20010, 0x00A21001)  # even group, in no dictionary


def _marker(tag, suffix=""):
    return f"{MARK}{tag:08X}{suffix}"


def _value(tag, vr, index, day=0):
    """(value, needle or None) of attribute ``tag`` with VR ``vr`` in the test file.

    Dates (DA, DT) are consecutive days from 1901-01-01 (``day``: the how-manieth date of the
    file): all of them lie within a year, closer together than the shortest date shift of a key
    (365 days), so that no shifted date can equal another attribute's needle."""
    if vr in _TEXT:
        text = _marker(tag)
        return text, text
    if vr == "AS":
        return "093W", "093W"
    if vr == "DS":
        text = f"97{index:04d}.25"
        return text, text
    if vr == "IS":
        text = f"86{index:05d}"
        return text, text
    if vr == "DA":
        text = (datetime.date(1901, 1, 1) + datetime.timedelta(days=day)).strftime("%Y%m%d")
        return text, text
    if vr == "DT":
        text = (datetime.date(1901, 1, 1) + datetime.timedelta(days=day)).strftime("%Y%m%d")
        return text + "101010", text
    if vr == "TM":
        return "101010", None  # kept by the option: not counted
    if vr == "UI":
        text = f"2.25.{900000000 + index}{tag}"
        return text, text
    if vr in _BYTES:
        data = _marker(tag).encode()
        return data + b"\0" * (len(data) % 2), _marker(tag)
    if vr in ("FL", "FD"):
        return 1.0, None
    if vr == "AT":
        return 0x00100010, None
    return 1, None  # US, SS, UL, SL, UV, SV: not checkable by bytes


def _text_item(tag, depth=0):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    item = Dataset()
    item.TextValue = _marker(tag, "T")
    item.PersonName = _marker(tag, "P")
    if depth:
        item.ContentSequence = Sequence([_text_item(tag + 1, depth - 1)])
    return item


def _single_tags(table):
    return [t for t in table if not isinstance(t, tuple)]


def build_profile_file(folder, *, table=None, rows=64):
    """Write the test file into ``folder``; return ``(path, needles)``, ``needles`` mapping each
    needle (a string whose presence in an output is a leak) to what it came from."""
    import numpy as np
    import pydicom
    from pydicom.datadict import DicomDictionary, dictionary_VR, keyword_for_tag
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    if table is None:
        from enhance.io.deid import profile

        table = profile()[0]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Modality = "CT"
    ds.SpecificCharacterSet = "ISO_IR 100"
    needles = {}
    deep = {0x0040A730, 0x00400555}  # ContentSequence, AcquisitionContextSequence
    day = 0  # dates so far (see _value)
    for index, tag in enumerate(sorted(_single_tags(table))):
        group = tag >> 16
        if group == 0x0000 or tag == 0x00280301 or group == 0x7FE0:
            continue  # command elements are never in a file; BurnedInAnnotation says YES/NO
        vr = dictionary_VR(tag).split(" or ")[0] if tag in DicomDictionary else "LO"
        if vr == "SQ":
            value = Sequence([_text_item(tag, depth=2 if tag in deep else 0)])
            needles[_marker(tag, "T")] = f"{keyword_for_tag(tag) or hex(tag)} (nested TextValue)"
            needles[_marker(tag, "P")] = f"{keyword_for_tag(tag) or hex(tag)} (nested PersonName)"
            if tag in deep:
                needles[_marker(tag + 1, "T")] = f"{keyword_for_tag(tag)} (TextValue, 2nd level)"
                needles[_marker(tag + 2, "T")] = f"{keyword_for_tag(tag)} (TextValue, 3rd level)"
        else:
            value, needle = _value(tag, vr, index, day)
            day += vr in ("DA", "DT")
            if needle is not None:
                needles[needle] = keyword_for_tag(tag) or f"({group:04X},{tag & 0xFFFF:04X})"
        target = ds.file_meta if group == 0x0002 else ds
        target.add_new(tag, vr, value)
    # repeating groups of the table: curves and overlays (and their descriptions)
    ds.add_new(0x50000022, "LO", _marker(0x50000022))
    ds.add_new(0x50003000, "OB", _marker(0x50003000).encode() + b"\0")
    ds.add_new(0x60004000, "LT", _marker(0x60004000))
    needles.update({_marker(t): "curve/overlay" for t in (0x50000022, 0x50003000, 0x60004000)})
    # private attributes, one of them a sequence, and unknown even-group attributes
    block = ds.private_block(0x0009, f"{MARK}CREATOR", create=True)
    block.add_new(0x01, "LO", f"{MARK}PRIVATE")
    block.add_new(0x02, "SQ", Sequence([_text_item(0x00091002)]))
    needles.update({f"{MARK}CREATOR": "private creator", f"{MARK}PRIVATE": "private attribute",
                    _marker(0x00091002, "T"): "private sequence"})
    for tag in _UNKNOWN_EVEN:
        ds.add_new(tag, "LO", _marker(tag))
        needles[_marker(tag)] = "unknown even-group attribute"
    # a real image (the profile's attributes ride on it)
    pixels = (np.arange(rows * rows, dtype=np.uint16).reshape(rows, rows) * 7) % 4096
    ds.Rows = ds.Columns = rows
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = pixels.tobytes()
    ds.file_meta.ImplementationVersionName = f"{MARK}WRITER"  # the software that wrote it
    needles[f"{MARK}WRITER"] = "file meta: implementation version name"
    ds.preamble = f"{MARK}PREAMBLE".encode().ljust(128, b"\0")
    needles[f"{MARK}PREAMBLE"] = "preamble"
    needles[MARK + "FILE"] = "file name"
    path = folder / FILE_NAME
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    (folder / "needles.json").write_text(json.dumps(needles, indent=1, sort_keys=True))
    return path, needles


def leaks(data, needles):
    """The sources of the needles found in ``data`` (bytes)."""
    return sorted({what for needle, what in needles.items() if needle.encode() in data})


# --- the candidates: each de-identifies ``src`` into ``dst`` ------------------------------------


def _enhance(src, dst):
    from enhance.io import read_image, write_image
    from enhance.io.deid import Deidentifier

    write_image(dst, read_image(src), anonymize=Deidentifier(b"k" * 32))


def _dicom_anonymizer(src, dst):
    from dicomanonymizer import anonymize

    anonymize(str(src), str(dst), {}, True)


def _dicognito(src, dst):
    import pydicom
    from dicognito.anonymizer import Anonymizer

    ds = pydicom.dcmread(src)
    Anonymizer().anonymize(ds)
    ds.save_as(dst)


def _deid(src, dst):
    from deid.dicom import replace_identifiers

    (out,) = replace_identifiers([str(src)], save=False, remove_private=True)
    out.save_as(dst)


def _idiscore(src, dst):
    import pydicom
    from idiscore.defaults import create_default_core

    ds = create_default_core().deidentify(pydicom.dcmread(src))
    ds.save_as(dst)


CANDIDATES = {"enhance": _enhance, "dicom-anonymizer": _dicom_anonymizer,
              "dicognito": _dicognito, "deid": _deid, "idiscore": _idiscore}


def run(folder, names):
    folder = Path(folder)
    src = folder / FILE_NAME
    needles = json.loads((folder / "needles.json").read_text())
    attributes = len(set(needles.values()))
    print(f"{src.name}: {attributes} checked sources ({len(needles)} needles)")
    for name in names or CANDIDATES:
        dst = folder / f"out-{name}.dcm"
        try:
            CANDIDATES[name](src, dst)
        except ImportError as error:
            print(f"{name}: not installed here ({error})")
            continue
        except Exception as error:  # noqa: BLE001 - a candidate's failure is a result
            print(f"{name}: failed: {type(error).__name__}: {str(error)[:200]}")
            traceback.print_exc(limit=2)
            continue
        found = leaks(dst.read_bytes(), needles)
        shown = ", ".join(found[:12]) + (f", ... ({len(found) - 12} more)" if len(found) > 12 else "")
        print(f"{name}: {len(found)} of {attributes} sources leak" + (f": {shown}" if found else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "run"])
    parser.add_argument("folder")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if args.action == "build":
        path, needles = build_profile_file(args.folder)
        print(f"{path}: {len(needles)} needles")
    else:
        run(args.folder, args.names)


if __name__ == "__main__":
    main()
