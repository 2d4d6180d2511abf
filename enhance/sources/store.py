"""``--store ROOT``: each derived DICOM output stored (STOW-RS) into its source's study.

One new series per source series (the folder run's deterministic Series Instance UID), numbered
once per run and study: a series already on the server keeps its number (a resumed run), a new
one takes the source's SeriesNumber + 1000, or the next number free in the study. The manifest
records what was stored (``stored``: root, study, series, instance, series number), so that a rerun
stores nothing twice.
"""

from __future__ import annotations

from ..errors import EnhanceError
from .derived import is_dicom_output, prepare
from .dicomweb import Service

__all__ = ["Store", "SERIES_OFFSET"]

#: A derived series is numbered its source's SeriesNumber + this (the next free number if taken).
SERIES_OFFSET = 1000

#: The largest SeriesNumber (IS: a signed 32-bit integer).
_MAX_IS = 2**31 - 1


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Store:
    """A DICOMweb service the derived instances of a run are stored into.

    Parameters
    ----------
    root : str
        The service root (``http://localhost:8042/dicom-web``).
    connection : enhance.sources.dicomweb.Connection, optional
    """

    def __init__(self, root, connection=None):
        self.service = Service(root, connection)
        self.root = self.service.root
        self._existing = {}  # study -> {series uid: number} on the server when first asked
        self._taken = {}  # study -> numbers in use (on the server or given in this run)
        self._numbers = {}  # (study, derived series) -> its number

    def series_number(self, study, series, *, source_number=None):
        """The SeriesNumber of the derived ``series`` of ``study`` (the same for all its
        instances, and the one it already has on the server)."""
        key = (study, series)
        if key not in self._numbers:
            if study not in self._existing:
                self._existing[study] = self.service.series_numbers(study)
                self._taken[study] = {n for n in self._existing[study].values() if n is not None}
            number = self._existing[study].get(series)
            if number is None:
                taken = self._taken[study]
                number = min((source_number or 0) + SERIES_OFFSET, _MAX_IS)
                while number in taken:
                    number = number + 1 if number < _MAX_IS else 1
                taken.add(number)
            self._numbers[key] = number
        return self._numbers[key]

    def store_output(self, target, *, source, model, sha256, describe_source=True):
        """Store the output ``target`` derived from the DICOM file ``source``.

        ``describe_source=False`` (de-identified outputs): the SeriesDescription does not quote
        the source's (which de-identification removed).

        Returns
        -------
        dict
            The manifest's ``stored``: ``root``, ``study``, ``series``, ``instance``,
            ``series_number``.

        Raises
        ------
        EnhanceError
            The output is no DICOM file, or the server cannot be reached or refuses it.
        """
        import pydicom

        if not is_dicom_output(target):
            raise EnhanceError(f"{target}: not a DICOM output, nothing to store")
        try:
            header = pydicom.dcmread(source, stop_before_pixels=True)
            out = pydicom.dcmread(target, stop_before_pixels=True)
            study, series = str(out.StudyInstanceUID), str(out.SeriesInstanceUID)
        except (OSError, AttributeError, pydicom.errors.InvalidDicomError) as error:
            raise EnhanceError(f"{target}: cannot read it for storing ({error})") from None
        number = self.series_number(study, series, source_number=_int(header.get("SeriesNumber")))
        described = str(header.get("SeriesDescription") or "") if describe_source else ""
        dataset, data = prepare(target, source_description=described,
                                model=model, sha256=sha256, series_number=number)
        instance = str(dataset.SOPInstanceUID)
        self.service.store(data, study=study, instance=instance)
        return {"root": self.root, "study": study, "series": series, "instance": instance,
                "series_number": number}
