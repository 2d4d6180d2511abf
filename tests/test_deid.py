"""--anonymize: the PS3.15 Basic Profile's table, the preamble, pseudonymous names, the key."""

import importlib.util
import json
import os
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from enhance.errors import EnhanceError
from enhance.io import read_image, write_image
from enhance.io.deid import KEY_FILE, Deidentifier, default_key_file, profile

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def compare():
    """benchmarks/deid_compare.py: the test file carrying every attribute of the table."""
    spec = importlib.util.spec_from_file_location("deid_compare", ROOT / "benchmarks" / "deid_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_is_the_standards_with_what_hand_lists_missed():
    actions, masks = profile()
    assert len(actions) >= 600
    named = {pydicom.datadict.keyword_for_tag(tag): action for tag, action in actions.items()}
    for keyword in ("ClinicalTrialSubjectID", "PatientTelecomInformation", "StationAETitle",
                    "ReasonForTheRequestedProcedure", "PatientInstitutionResidence",
                    "TimezoneOffsetFromUTC", "DetectorID", "ContentSequence",
                    "AcquisitionContextSequence"):
        assert keyword in named, keyword
    assert named["PatientTelecomInformation"] == "X" and named["StudyInstanceUID"] == "U"
    assert {(group, action) for group, _, _, _, action in masks} == {(0x5000, "X"), (0x6000, "X")}


@pytest.mark.filterwarnings("ignore")
def test_a_file_carrying_the_whole_table_keeps_no_value_of_it(tmp_path, compare):
    path, needles = compare.build_profile_file(tmp_path / "in")
    deid = Deidentifier(b"k" * 32)
    out = write_image(tmp_path / "o.dcm", read_image(path), anonymize=deid)
    data = out.read_bytes()
    assert compare.leaks(data, needles) == []
    assert b"ZQX" not in data
    src, ds = pydicom.dcmread(path), pydicom.dcmread(out)
    np.testing.assert_array_equal(ds.pixel_array, src.pixel_array)
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientName == deid.pseudonym(src.PatientID)
    assert ds.StudyInstanceUID == deid.uid(src.StudyInstanceUID) != src.StudyInstanceUID
    assert ds.StudyDate == deid._date(src.StudyDate) != src.StudyDate  # shifted, not dropped
    assert not ds.get("PatientBirthDate")  # the option keeps no birth date
    assert [e.keyword for e in ds.file_meta] == [
        "FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID",
        "MediaStorageSOPInstanceUID", "TransferSyntaxUID", "ImplementationClassUID",
        "ImplementationVersionName"]


@pytest.mark.filterwarnings("ignore")
def test_no_key_shifts_one_date_of_the_test_file_onto_another_dates_needle(tmp_path, compare):
    """The test file's dates lie within a year, closer than the shortest shift of any key (365
    days): with the key of the shortest shift found among 4000, no shifted date is a needle.
    (Its dates used to span 636 days: a key shifting by under that made the run-level leak
    test fail at random, a shifted AcquisitionDateTime equal to another attribute's date.)"""
    import datetime

    path, needles = compare.build_profile_file(tmp_path / "in")
    dates = sorted(datetime.datetime.strptime(n, "%Y%m%d").date()
                   for n in needles if len(n) == 8 and n.isdigit())
    assert len(dates) > 50 and (dates[-1] - dates[0]).days < 365
    keys = (index.to_bytes(4, "big") * 8 for index in range(4000))
    deid = max((Deidentifier(key) for key in keys), key=lambda d: d.shift_days)
    assert -400 < deid.shift_days <= -365
    out = write_image(tmp_path / "o.dcm", read_image(path), anonymize=deid)
    assert compare.leaks(out.read_bytes(), needles) == []


def test_the_preamble_is_zeroed_when_anonymizing_only(tmp_path):
    src = pydicom.dcmread(SAMPLES / "ct_small.dcm")
    src.preamble = b"MRN-48213 Jane Doe".ljust(128, b"\0")
    src.save_as(tmp_path / "ct.dcm")
    kept = write_image(tmp_path / "kept.dcm", read_image(tmp_path / "ct.dcm"))
    assert kept.read_bytes()[:128] == src.preamble  # a derived image keeps the file as it was
    anon = write_image(tmp_path / "anon.dcm", read_image(tmp_path / "ct.dcm"),
                       anonymize=Deidentifier(b"k" * 32))
    assert anon.read_bytes()[:132] == b"\0" * 128 + b"DICM"


def _every_byte_of(folder):
    """(relative name, bytes) of every entry of ``folder``, hidden ones included."""
    return [(str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"")
            for p in sorted(Path(folder).rglob("*"))]


@pytest.mark.filterwarnings("ignore")
def test_enhance_run_anonymize_leaves_no_input_name_or_header_value_in_out(tmp_path, compare):
    import cv2

    from enhance.cli.main import cli

    folder = tmp_path / "in"
    _, needles = compare.build_profile_file(folder)  # ZQXFILE-MRN48213_scan.dcm
    (folder / "ZQXDIR-MRN555").mkdir()
    t1 = cv2.imread(str(SAMPLES / "t1_coronal.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(folder / "ZQXDIR-MRN555" / "ZQXFILE-MRN555_photo.png"), t1[40:104, 50:114])
    (folder / "ZQXFILE-MRN777_bad.png").write_bytes(b"\x89PNG broken")  # a failure's record
    (folder / "needles.json").unlink()
    out, key = tmp_path / "out", tmp_path / "private" / "key.json"
    result = CliRunner().invoke(cli, ["run", str(folder), str(out), "--anonymize", "--deid-key",
                                      str(key), "-q"])
    assert result.exit_code == 1, result.output  # the broken file
    assert "2 done, 0 skipped (already finished), 1 failed" in result.output
    assert "preview: none drawn (--anonymize" in result.output and "None" not in result.output
    entries = _every_byte_of(out)
    names = sorted(name for name, _ in entries)
    deid = Deidentifier.from_key_file(key)
    assert names == sorted([deid.file_name("ZQXFILE-MRN48213_scan.dcm"), "manifest.jsonl",
                            deid.file_name("ZQXDIR-MRN555/ZQXFILE-MRN555_photo.png")])
    for name, data in entries:
        assert "ZQX" not in name and "MRN" not in name
        assert b"ZQX" not in data and b"MRN" not in data, name
        assert compare.leaks(data, needles) == [], name
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert all(r["input"].startswith("anon:") for r in records)
    (failed,) = [r for r in records if r["status"] == "failed"]
    assert failed["error"].startswith(failed["input"] + ": ")
    assert str(folder / "ZQXFILE-MRN777_bad.png") in result.output  # the terminal names it


def test_the_key_is_the_users_own_file_created_0600(tmp_path):
    key = tmp_path / "keys" / "deid.json"
    first = Deidentifier.from_key_file(key, out_dir=tmp_path / "out")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    again = Deidentifier.from_key_file(key)
    assert again.pseudonym("MRN-1") == first.pseudonym("MRN-1")
    assert Deidentifier(b"x" * 32).pseudonym("MRN-1") != first.pseudonym("MRN-1")


def test_the_default_key_is_in_the_users_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_key_file() == tmp_path / "config" / "enhance" / "deid-key.json"
    Deidentifier.from_key_file(out_dir=tmp_path / "out")
    assert stat.S_IMODE(default_key_file().stat().st_mode) == 0o600


def test_a_linked_loose_or_foreign_key_is_refused(tmp_path):
    key = tmp_path / "key.json"
    Deidentifier.from_key_file(key)
    link = tmp_path / "link.json"
    link.symlink_to(key)
    with pytest.raises(EnhanceError, match="link.json: is a symbolic link"):
        Deidentifier.from_key_file(link)
    os.chmod(key, 0o640)
    with pytest.raises(EnhanceError, match=r"key.json: is readable or writable by others \(mode 0640\)"):
        Deidentifier.from_key_file(key)
    os.chmod(key, 0o600)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(EnhanceError, match="dir.json: is not a regular file"):
        Deidentifier.from_key_file(tmp_path / "dir.json")


@pytest.mark.parametrize("planted", ["file", "link"])
def test_out_never_holds_the_key_and_a_planted_one_is_refused(tmp_path, planted):
    from enhance.jobs import denoise_folder

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ct.dcm").write_bytes((SAMPLES / "ct_small.dcm").read_bytes())
    out = tmp_path / "out"
    with pytest.raises(EnhanceError, match="inside the output folder"):
        denoise_folder(folder, out, "identity", sigma=0.05, anonymize=True,
                       deid_key=out / "key.json")
    result = denoise_folder(folder, out, "identity", sigma=0.05, anonymize=True,
                            deid_key=tmp_path / "key.json")
    assert result.ok and not (out / KEY_FILE).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [Deidentifier.from_key_file(tmp_path / "key.json").file_name("ct.dcm"), "manifest.jsonl"])
    # a key planted in OUT (or left there by an older version) is never used
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps({"key": "00" * 32}))
    if planted == "file":
        (out / KEY_FILE).write_bytes(theirs.read_bytes())
    else:
        (out / KEY_FILE).symlink_to(theirs)
    with pytest.raises(EnhanceError) as info:
        denoise_folder(folder, out, "identity", sigma=0.05, anonymize=True, overwrite=True,
                       deid_key=tmp_path / "key.json")
    assert str(info.value).startswith(f"{out / KEY_FILE}: a de-identification key in the output "
                                      "folder is not used")
    with pytest.raises(EnhanceError, match="only used with --anonymize"):
        denoise_folder(folder, out, "identity", sigma=0.05, deid_key=tmp_path / "key.json")


def test_a_dry_run_creates_no_key(tmp_path):
    from enhance.jobs import denoise_folder

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ct.dcm").write_bytes((SAMPLES / "ct_small.dcm").read_bytes())
    result = denoise_folder(folder, tmp_path / "out", "identity", anonymize=True, dry_run=True,
                            deid_key=tmp_path / "key.json")
    assert [Path(r.output).name.startswith("anon-") for r in result.results] == [True]
    assert not (tmp_path / "key.json").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_nifti_text_fields_and_extensions_are_dropped_when_anonymizing(tmp_path, ext):
    import gzip

    import nibabel as nib

    volume = (np.arange(16 * 16 * 3, dtype=np.int16).reshape(16, 16, 3) * 5) % 900
    img = nib.Nifti1Image(volume, np.eye(4))
    img.header["descrip"] = b"ZQX Jane Doe MRN-48213"
    img.header["aux_file"] = b"ZQXAUX"
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"ZQX PatientName=Doe^Jane"))
    nib.save(img, tmp_path / f"in{ext}")

    def raw(path):
        data = path.read_bytes()
        return gzip.decompress(data) if ext == ".nii.gz" else data

    assert raw(tmp_path / f"in{ext}").count(b"ZQX") == 3
    kept = write_image(tmp_path / f"kept{ext}", read_image(tmp_path / f"in{ext}"))
    assert b"ZQX" in raw(kept)  # without --anonymize the header is the input's
    out = write_image(tmp_path / f"out{ext}", read_image(tmp_path / f"in{ext}"),
                      anonymize=Deidentifier(b"k" * 32))
    assert b"ZQX" not in raw(out)
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), volume)
