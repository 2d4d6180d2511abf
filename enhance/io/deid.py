"""De-identification of DICOM outputs: the PS3.15 Annex E Basic Application Level
Confidentiality Profile, with the Retain Longitudinal Temporal Information with Modified Dates
option.

A :class:`Deidentifier` holds a secret key. With it, in every dataset it is applied to:

* identifying attributes are removed (addresses, other IDs, physicians, operators, institution,
  station, device serial number, descriptions and comments, request and procedure attributes,
  ...) or emptied (birth date, sex, accession number, study ID, referring physician);
* patient name and ID become a pseudonym (``ANON-`` and 10 hex digits of a keyed hash of the
  original ID), so that images of one patient stay together and those of two patients apart;
* every UID outside the DICOM standard's own root (``1.2.840.10008.``: SOP classes, transfer
  syntaxes, coding schemes) is replaced by a UID derived from the key and the original, so that
  a study, series or frame of reference stays one, consistently across the files of a run (and
  of its resumption: the key is kept in the output folder);
* dates (DA, and the date part of DT) are shifted by the same number of days (between 1 and 10
  years back, from the key); dates that do not parse are removed; times are kept;
* private attributes, overlays and curves are removed;
* PatientIdentityRemoved = YES, LongitudinalTemporalInformationModified = MODIFIED,
  DeidentificationMethod and DeidentificationMethodCodeSequence (113100, 113107) record it.

Images with burned-in annotation (BurnedInAnnotation = YES) are refused: their pixels may show
the patient's identity, which no header edit removes.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from enhance.errors import EnhanceError, UnwritableImage
from enhance.io.atomic import atomic_write

__all__ = ["Deidentifier", "KEY_FILE"]

#: The key file :meth:`Deidentifier.for_folder` keeps in an output folder (hidden: never an input;
#: leave it behind when the outputs leave the site).
KEY_FILE = ".enhance-deid-key.json"

_STANDARD_ROOT = "1.2.840.10008."

# PS3.15 Table E.1-1, basic profile: X (remove) ...
_REMOVE = (
    "AccessionNumber", "AcquisitionComments", "AcquisitionDeviceProcessingDescription",
    "AcquisitionProtocolDescription", "ActualHumanPerformersSequence", "AdditionalPatientHistory",
    "AdmissionID", "AdmittingDiagnosesCodeSequence", "AdmittingDiagnosesDescription",
    "Allergies", "Arbitrary", "AuthorObserverSequence", "BranchOfService", "CommentsOnThePerformedProcedureStep",
    "ConfidentialityConstraintOnPatientDataDescription", "ContentCreatorIdentificationCodeSequence",
    "ContributionDescription", "CountryOfResidence", "CurrentPatientLocation", "CustodialOrganizationSequence",
    "DataSetTrailingPadding", "DerivationDescription", "DeviceSerialNumber", "DeviceUID",
    "DigitalSignaturesSequence", "DischargeDiagnosisDescription", "EthnicGroup",
    "FillerOrderNumberImagingServiceRequest", "FrameComments", "GantryID", "GeneratorID",
    "HumanPerformerName", "HumanPerformerOrganization", "IconImageSequence", "IdentifyingComments",
    "ImageComments", "ImagePresentationComments", "ImagingServiceRequestComments",
    "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "InstitutionName", "InsurancePlanIdentification", "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence", "InterpretationAuthor", "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer", "InterpretationRecorder", "InterpretationText", "InterpretationTranscriber",
    "IssuerOfAdmissionID", "IssuerOfPatientID", "IssuerOfServiceEpisodeID", "MedicalAlerts",
    "MedicalRecordLocator", "MilitaryRank", "ModifiedAttributesSequence", "ModifyingDeviceID",
    "ModifyingDeviceManufacturer", "NameOfPhysiciansReadingStudy", "NamesOfIntendedRecipientsOfResults",
    "Occupation", "OperatorIdentificationSequence", "OperatorsName", "OriginalAttributesSequence",
    "OrderCallbackPhoneNumber", "OrderEnteredBy", "OrderEntererLocation", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "ParticipantSequence", "PatientAddress",
    "PatientAge", "PatientBirthName", "PatientBirthTime", "PatientComments", "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName", "PatientPrimaryLanguageCodeSequence", "PatientReligiousPreference",
    "PatientSexNeutered", "PatientSize", "PatientState", "PatientTelephoneNumbers",
    "PatientTransportArrangements", "PatientWeight", "PerformedLocation",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID", "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName", "PersonAddress", "PersonName", "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation", "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence", "PlacerOrderNumberImagingServiceRequest",
    "PlateID", "PreMedication", "PregnancyStatus", "ProtocolName", "ReasonForTheImagingServiceRequest",
    "ReasonForStudy", "ReferencedDigitalSignatureSequence", "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence", "ReferencedPerformedProcedureStepSequence",
    "ReferencedSOPInstanceMACSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence", "RequestAttributesSequence", "RequestedContrastAgent",
    "RequestedProcedureComments", "RequestedProcedureDescription", "RequestedProcedureID",
    "RequestedProcedureLocation", "RequestingPhysician", "RequestingService", "ResponsibleOrganization",
    "ResponsiblePerson", "ResultsComments", "ResultsDistributionListSequence", "ResultsIDIssuer",
    "ScheduledHumanPerformersSequence", "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence", "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription", "ScheduledProcedureStepLocation", "ServiceEpisodeDescription",
    "ServiceEpisodeID", "SeriesDescription", "SmokingStatus", "SpecialNeeds", "StationName",
    "StudyComments", "StudyDescription", "TextComments", "TextString", "TopicAuthor",
    "TopicKeywords", "TopicSubject", "TopicTitle", "VerifyingObserverIdentificationCodeSequence",
    "VerifyingObserverName", "VerifyingObserverSequence", "VerifyingOrganization", "VisitComments",
)
# ... Z (replace with an empty value)
_EMPTY = (
    "PatientBirthDate", "PatientSex", "StudyID", "ReferringPhysicianName", "ContentCreatorName",
    "AccessionNumber", "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
)
_METHOD = "enhance: PS3.15 E basic profile, modified dates"  # LO: at most 64 characters
_META_REMOVE = ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                "ReceivingApplicationEntityTitle", "SourcePresentationAddress",
                "SendingPresentationAddress", "ReceivingPresentationAddress")
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
    def for_folder(cls, out_dir):
        """The de-identifier of an output folder: its key is created once (:data:`KEY_FILE`),
        so that a resumed run maps UIDs, names and dates as the first did."""
        path = Path(out_dir) / KEY_FILE
        try:
            if not path.is_file():  # written aside, then linked: two runs cannot both create it
                candidate = path.with_name(f"{KEY_FILE}.{secrets.token_hex(4)}")
                with atomic_write(candidate) as f:
                    f.write(json.dumps({"key": secrets.token_bytes(32).hex()}).encode())
                try:
                    os.link(candidate, path)
                except FileExistsError:
                    pass
                finally:
                    candidate.unlink()
            return cls(bytes.fromhex(json.loads(path.read_text(encoding="utf-8"))["key"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise EnhanceError(f"{path}: cannot read or write the de-identification key ({error})") \
                from None

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
        ds.remove_private_tags()
        for tag in [t for t in ds.keys() if (t.group & 0xFF00) in (0x5000, 0x6000)]:
            del ds[tag]  # curves and overlays (and their comments, labels)
        self._walk(ds)
        ds.PatientName = self.pseudonym(identity)
        ds.PatientID = self.pseudonym(identity)
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
        ds.DeidentificationMethod = _METHOD
        ds.DeidentificationMethodCodeSequence = Sequence([_code(*c) for c in _METHOD_CODES])
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            if "MediaStorageSOPInstanceUID" in meta:
                meta.MediaStorageSOPInstanceUID = self.uid(meta.MediaStorageSOPInstanceUID)
            for keyword in _META_REMOVE:  # who sent and received the file
                if keyword in meta:
                    delattr(meta, keyword)
        return ds

    def _walk(self, ds):
        for keyword in _REMOVE:
            if keyword in ds and keyword not in _EMPTY:
                delattr(ds, keyword)
        for keyword in _EMPTY:
            if keyword in ds:
                ds[keyword].value = ""
        for element in list(ds):
            if element.VR == "SQ":
                for item in element.value or []:
                    self._walk(item)
            elif element.VR == "UI" and element.value:
                values = element.value if element.VM > 1 else [element.value]
                mapped = [self.uid(v) for v in values]
                element.value = mapped if element.VM > 1 else mapped[0]
            elif element.VR == "DA" and element.value:
                values = element.value if element.VM > 1 else [element.value]
                mapped = [self._date(v) for v in values]
                element.value = mapped if element.VM > 1 else mapped[0]
            elif element.VR == "DT" and element.value:
                element.value = self._date(element.value)
            elif element.VR == "PN" and element.value and element.keyword != "PatientName":
                element.value = ""  # names the profile does not list are names all the same
