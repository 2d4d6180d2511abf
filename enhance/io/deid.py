"""De-identification of DICOM outputs: the PS3.15 Annex E Basic Application Level
Confidentiality Profile, with the Retain Longitudinal Temporal Information with Modified Dates
option, applied from the standard's own table.

The table is PS3.15 Table E.1-1 as the ``dicom-anonymizer`` package carries it (its newest
edition, 2026c with dicom-anonymizer 2.1: 652 attributes and the curve and overlay groups), read
as data (:func:`profile`); this module applies it itself, with one secret key. With it, in every
dataset and every item of every sequence, at any depth:

* each attribute of the table gets its action: X removed; Z emptied; D replaced by a dummy value
  (``ANONYMIZED``, 0; a sequence keeps its items, each de-identified in turn); U (and X/Z/U*)
  replaced by a UID derived from the key; where the table allows X or a value (X/Z, X/D,
  X/Z/D) the attribute is removed;
* dates (DA, and the date part of DT) that the table lets keep a value (Z, D: the option's C)
  are shifted by the same number of days (between 1 and 10 years back, from the key), save the
  patient's birth date (emptied); dates that do not parse are removed; times are kept (the
  option);
* every UID outside the DICOM standard's own root (``1.2.840.10008.``: SOP classes, transfer
  syntaxes, coding schemes) is replaced by a UID derived from the key and the original, so that
  a study, series or frame of reference stays one across the files of a run, of its resumption
  and of any run with the same key;
* private attributes, curves and overlays, and attributes no dictionary knows (unknown
  even-group tags) are removed; person names the table does not list are emptied, free text
  (LT, ST, UT, UC: the ``TextValue`` of a content item, ...) replaced by ``ANONYMIZED``;
* patient name and ID become a pseudonym (``ANON-`` and 10 hex digits of a keyed hash of the
  original ID), so that images of one patient stay together and those of two patients apart;
* the file meta keeps only its version, SOP class and (remapped) instance UID and transfer
  syntax; the 128-byte preamble (free bytes, often a name) is zeroed;
* PatientIdentityRemoved = YES, LongitudinalTemporalInformationModified = MODIFIED,
  DeidentificationMethod and DeidentificationMethodCodeSequence (113100, 113107) record it.

Images with burned-in annotation (BurnedInAnnotation = YES) are refused: their pixels may show
the patient's identity, which no header edit removes.

The key belongs to the user, never to the output folder (outputs leave the site, the key must
not): :meth:`Deidentifier.from_key_file` reads it from a file of the user's own
(``--deid-key FILE``; by default :func:`default_key_file`, in the user's configuration folder),
created with mode 0600 when missing; a key that is a symbolic link, not a regular file, not the
user's own or readable by the group or others, or inside the output folder, is refused.
"""

from __future__ import annotations

import datetime
import errno
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path, PurePosixPath

from pydicom.datadict import DicomDictionary, mask_match
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from enhance.errors import EnhanceError, UnwritableImage
from enhance.io.formats import split_extension

__all__ = ["Deidentifier", "KEY_FILE", "default_key_file", "profile"]

#: Where earlier versions kept the key: in the output folder. A file of that name in an
#: output folder is refused (:func:`check_output_folder`), never used.
KEY_FILE = ".enhance-deid-key.json"

#: At most this many bytes are read from a key file.
_KEY_BYTES = 4096

_STANDARD_ROOT = "1.2.840.10008."
_DUMMY = "ANONYMIZED"
_DUMMY_TEXT_VRS = {"AE", "CS", "LO", "SH", "PN", "LT", "ST", "UT", "UC", "UR"}
_FREE_TEXT_VRS = {"LT", "ST", "UT", "UC"}
_DUMMY_NUMBER_VRS = {"DS": "0", "IS": "0", "AS": "000D"}
#: Dates the option does not keep (shifted): the patient's birth date and time get the basic
#: profile's action (emptied, removed).
_NOT_SHIFTED = (0x00100030, 0x00100032)
_META_KEPT = (0x00020001, 0x00020002, 0x00020003, 0x00020010)


@functools.lru_cache(maxsize=1)
def profile():
    """The Basic Profile's table: ``(actions, masks)``.

    ``actions`` maps each tag (an int) to its action (``"X"``, ``"Z"``, ``"D"``, ``"U"``,
    ``"Z_D"``, ``"X_Z"``, ``"X_D"``, ``"X_Z_D"``, ``"X_Z_U_STAR"``); ``masks`` lists the
    repeating groups as ``(group, element, group_mask, element_mask, action)``. Read from the
    newest edition of PS3.15 Table E.1-1 that ``dicom-anonymizer`` carries.

    Raises
    ------
    EnhanceError
        dicom-anonymizer is not installed.
    """
    import importlib
    import pkgutil

    try:
        databases = importlib.import_module("dicomanonymizer.dicom_anonymization_databases")
    except ImportError:
        raise EnhanceError("de-identification needs the PS3.15 table of dicom-anonymizer: "
                           "pip install dicom-anonymizer") from None
    editions = sorted(m.name for m in pkgutil.iter_modules(databases.__path__)
                      if m.name.startswith("dicomfields_"))
    if not editions:
        raise EnhanceError("dicom-anonymizer carries no PS3.15 table (dicomfields_*)")
    table = importlib.import_module(f"{databases.__name__}.{editions[-1]}")
    actions, masks = {}, []
    for name in dir(table):
        if not name.endswith("_TAGS") or name == "ALL_TAGS":
            continue
        action = name[: -len("_TAGS")]
        for entry in getattr(table, name):
            if len(entry) == 2:
                actions[(entry[0] << 16) | entry[1]] = action
            else:
                masks.append((*entry, action))
    return actions, tuple(masks)


def _action(tag):
    actions, masks = profile()
    action = actions.get(int(tag))
    if action is None:
        for group, element, group_mask, element_mask, masked in masks:
            if (tag.group & group_mask) == group and (tag.element & element_mask) == element:
                return masked
    return action


def default_key_file():
    """The key used when none is named: ``enhance/deid-key.json`` in the user's configuration
    folder (``$XDG_CONFIG_HOME``, else ``~/.config``; ``%APPDATA%`` on Windows)."""
    base = os.environ.get("XDG_CONFIG_HOME") or (
        os.environ.get("APPDATA") if os.name == "nt" else None)
    base = Path(base) if base else Path.home() / ".config"
    return base / "enhance" / "deid-key.json"


def check_output_folder(out_dir):
    """Refuse an output folder holding a de-identification key (:data:`KEY_FILE`): a key written
    there by an older version, or planted, is never used, and must not leave with the outputs."""
    path = Path(out_dir) / KEY_FILE
    if os.path.lexists(path):
        raise EnhanceError(
            f"{path}: a de-identification key in the output folder is not used (the key must not "
            "leave with the outputs); move it out of the folder and name it with --deid-key, or "
            "delete it")


def _refuse_key(path, why):
    raise EnhanceError(f"{path}: {why}; the de-identification key must be a regular file of "
                       "your own, readable by you only (chmod 600)")


def _read_key(path):
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP or os.path.islink(path):
            _refuse_key(path, "is a symbolic link (not followed)")
        raise EnhanceError(f"{path}: cannot read the de-identification key "
                           f"({error.strerror or error})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            _refuse_key(path, "is not a regular file")
        if os.name == "posix":
            if st.st_uid != os.geteuid():
                _refuse_key(path, f"belongs to another user (uid {st.st_uid})")
            if st.st_mode & 0o077:
                _refuse_key(path, f"is readable or writable by others "
                                  f"(mode {stat.S_IMODE(st.st_mode):04o})")
        data = os.read(fd, _KEY_BYTES)
    finally:
        os.close(fd)
    try:
        key = bytes.fromhex(json.loads(data.decode("utf-8"))["key"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise EnhanceError(f"{path}: not a de-identification key (a JSON object with a hex "
                           "'key')") from None
    if len(key) < 16:
        raise EnhanceError(f"{path}: the de-identification key has fewer than 16 bytes")
    return key


def _create_key(path):
    """Write a new key to ``path`` (mode 0600) unless a file is there; written aside, then
    linked, so that two runs cannot both create it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(candidate, flags, 0o600)
    try:
        try:
            os.write(fd, json.dumps({"key": secrets.token_bytes(32).hex()}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
    finally:
        candidate.unlink()


_METHOD = "enhance: PS3.15 E basic profile, modified dates"  # LO: at most 64 characters
_METHOD_CODES = (("113100", "Basic Application Confidentiality Profile"),
                 ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))


def _code(value, meaning):
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


class Deidentifier:
    """Apply the basic profile with one key (see the module docstring).

    Parameters
    ----------
    key : bytes
        At least 16 bytes; the same key gives the same pseudonyms, UIDs and date shift.
    """

    def __init__(self, key):
        if not isinstance(key, bytes) or len(key) < 16:
            raise EnhanceError("a de-identification key has at least 16 bytes")
        self._key = key
        digest = self._digest(b"date-shift")
        self.shift_days = -(365 + int.from_bytes(digest[:4], "big") % 3286)  # 1 to 10 years back

    @classmethod
    def from_key_file(cls, path=None, *, out_dir=None, create=True):
        """The de-identifier of the key in ``path`` (default: :func:`default_key_file`),
        created (mode 0600) when missing, so that later runs map UIDs, names and dates alike.

        Parameters
        ----------
        path : str or Path, optional
            The key file; refused when it is a symbolic link, not a regular file, not the
            user's own, readable or writable by the group or others, or inside ``out_dir``.
        out_dir : str or Path, optional, keyword-only
            The output folder the key must stay out of; one holding a :data:`KEY_FILE` is
            refused (:func:`check_output_folder`).
        create : bool, optional, keyword-only
            Create a missing key (False, for a dry run that writes nothing: a throwaway key).

        Raises
        ------
        EnhanceError
            One line naming the key file and the cause.
        """
        path = Path(path).expanduser() if path is not None else default_key_file()
        if out_dir is not None:
            check_output_folder(out_dir)
            out = Path(out_dir).resolve()
            where = path.parent.resolve() / path.name
            if where == out or out in where.parents:
                raise EnhanceError(f"{path}: the de-identification key is inside the output "
                                   f"folder {out_dir} (the key must not leave with the "
                                   "outputs); keep it elsewhere")
        key = _read_key(path)
        if key is None and not create:
            return cls(secrets.token_bytes(32))
        if key is None:
            try:
                _create_key(path)
            except OSError as error:
                raise EnhanceError(f"{path}: cannot create the de-identification key "
                                   f"({error.strerror or error})") from None
            key = _read_key(path)
        return cls(key)

    def file_name(self, relpath):
        """The pseudonymous name of an output: ``anon-`` and 16 hex digits of a keyed hash of
        the input's relative path, with the input's extension (``.nii.gz`` counts as one)."""
        rel = PurePosixPath(relpath)
        suffix = split_extension(rel.name)[1].lower()
        return "anon-" + self._digest(b"name:" + str(rel).encode()).hex()[:16] + suffix

    def _digest(self, text):
        return hmac.new(self._key, text if isinstance(text, bytes) else text.encode(),
                        hashlib.sha256).digest()

    def uid(self, value):
        """The replacement of an instance UID (UIDs of the standard itself are kept)."""
        value = str(value).strip()
        if not value or value.startswith(_STANDARD_ROOT):
            return value
        return generate_uid(entropy_srcs=[self._digest(b"uid:" + value.encode()).hex()])

    def pseudonym(self, identity):
        """``ANON-`` and 10 hex digits of a keyed hash of `identity`."""
        return "ANON-" + self._digest(b"id:" + str(identity).encode()).hex()[:10].upper()

    def _date(self, value):
        value = str(value).strip()
        if not value:
            return value
        try:
            day = datetime.datetime.strptime(value[:8], "%Y%m%d").date()
        except ValueError:
            return ""
        return (day + datetime.timedelta(days=self.shift_days)).strftime("%Y%m%d") + value[8:]

    def apply(self, ds, *, path=""):
        """De-identify `ds` (and its file meta) in place.

        Raises
        ------
        UnwritableImage
            The image has burned-in annotation (named by `path`).
        """
        if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
            raise UnwritableImage(path, "cannot de-identify: the pixels carry burned-in "
                                  "annotation (BurnedInAnnotation = YES)")
        identity = str(ds.get("PatientID", "") or ds.get("PatientName", "") or "")
        self._walk(ds)
        ds.PatientName = self.pseudonym(identity)
        ds.PatientID = self.pseudonym(identity)
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        ds.DeidentificationMethod = _METHOD
        ds.DeidentificationMethodCodeSequence = Sequence([_code(*c) for c in _METHOD_CODES])
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            for tag in [t for t in meta.keys() if t not in _META_KEPT]:
                del meta[tag]  # who sent and received the file, the writer's name
            if "MediaStorageSOPInstanceUID" in meta:
                meta.MediaStorageSOPInstanceUID = self.uid(meta.MediaStorageSOPInstanceUID)
        if hasattr(ds, "preamble"):
            ds.preamble = b"\0" * 128
        return ds

    def _dummy(self, element):
        vr = element.VR
        if vr == "SQ":
            for item in element.value or []:
                self._walk(item)
        elif vr == "UI":
            self._map(element, self.uid)
        elif vr in ("DA", "DT"):
            self._map(element, self._date)
        elif vr == "TM":
            pass  # kept: the option shifts dates by whole days
        elif vr in _DUMMY_TEXT_VRS:
            element.value = _DUMMY
        elif vr in _DUMMY_NUMBER_VRS:
            element.value = _DUMMY_NUMBER_VRS[vr]
        elif vr in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"):
            element.value = 0
        else:  # binary and unknown values
            element.value = b""

    @staticmethod
    def _map(element, function):
        if not element.value:
            return
        values = element.value if element.VM > 1 else [element.value]
        mapped = [function(v) for v in values]
        element.value = mapped if element.VM > 1 else mapped[0]

    def _walk(self, ds):
        for tag in list(ds.keys()):
            element = ds[tag]
            action = _action(tag)
            if (tag.is_private or tag.group == 0x0000 or (tag.group & 0xFF00) in (0x5000, 0x6000)
                    or (action is None and tag not in DicomDictionary
                        and not _repeater(tag))):
                del ds[tag]  # private, command, curves and overlays, unknown attributes
            elif action is None:
                self._other(element)
            elif action.startswith("X") and action != "X_Z_U_STAR":
                del ds[tag]
            elif action in ("U", "X_Z_U_STAR") or (
                    element.VR in ("DA", "DT", "TM", "UI") and tag not in _NOT_SHIFTED):
                self._dummy(element)  # UIDs mapped (in sequences too), dates shifted (the option)
            elif action.startswith("Z"):
                element.value = Sequence() if element.VR == "SQ" else (
                    b"" if element.VR in ("OB", "OW", "UN") else None)
            else:
                self._dummy(element)

    def _other(self, element):
        """An attribute the table does not list: sequences walked, UIDs and dates mapped,
        person names emptied, free text (``TextValue`` of a content item, ...) replaced."""
        if element.VR == "SQ":
            for item in element.value or []:
                self._walk(item)
        elif element.VR == "UI":
            self._map(element, self.uid)
        elif element.VR in ("DA", "DT"):
            self._map(element, self._date)
        elif element.VR == "PN" and element.value and element.keyword != "PatientName":
            element.value = ""  # names the profile does not list are names all the same
        elif element.VR in _FREE_TEXT_VRS and element.value:
            element.value = _DUMMY  # free text may say anything


def _repeater(tag):
    """Whether ``tag`` is a standard attribute of a repeating group (e.g. (60xx,0010))."""
    return mask_match(int(tag)) is not None
