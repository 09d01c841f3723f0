"""De-identification of uploaded DICOM files: the DICOM PS3.15 Annex E basic profile.

pydicom does the work (walk, delete, remove_private_tags, generate_uid); the action table below
lists the identifying attributes of the basic profile's table E.1-1 that pydicom's data
dictionary names. Actions: X removes the attribute, Z keeps it with an empty value (type 2
attributes a reader may expect), U replaces a UID with one derived from it by a one-way hash
(consistent within a file, the original not recoverable). Private attributes are removed, and
Patient Identity Removed / De-identification Method record what was done. Pixel data is never
touched. Text burned into the pixels is not found this way.
"""

from __future__ import annotations

import io

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from engine.decode import DecodeError

# Type 2 attributes: kept, emptied.
ZERO = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
    "ReferringPhysicianName", "StudyDate", "StudyTime", "StudyID", "ContentDate", "ContentTime",
)
# Removed outright.
REMOVE = (
    "PatientBirthTime", "PatientAge", "PatientSize", "PatientWeight", "PatientAddress",
    "PatientTelephoneNumbers", "PatientMotherBirthName", "PatientBirthName", "OtherPatientIDs",
    "OtherPatientNames", "OtherPatientIDsSequence", "IssuerOfPatientID", "MilitaryRank",
    "BranchOfService", "MedicalRecordLocator", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "PatientReligiousPreference",
    "CountryOfResidence", "RegionOfResidence", "PatientInsurancePlanCodeSequence",
    "PatientState", "PregnancyStatus", "SmokingStatus", "Allergies", "MedicalAlerts",
    "PatientPrimaryLanguageCodeSequence", "ResponsiblePerson", "ResponsibleOrganization",
    "AdmissionID", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "InstitutionCodeSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers", "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy", "PhysiciansReadingStudyIdentificationSequence",
    "OperatorsName", "OperatorIdentificationSequence", "RequestingPhysician",
    "ScheduledPerformingPhysicianName", "StationName", "DeviceSerialNumber",
    "InstanceCreationDate", "InstanceCreationTime", "SeriesDate", "SeriesTime",
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "OverlayDate", "OverlayTime",
    "CurveDate", "CurveTime", "TimezoneOffsetFromUTC", "StudyDescription", "SeriesDescription",
    "ProtocolName", "ImageComments", "AcquisitionComments", "DerivationDescription",
    "RequestAttributesSequence", "RequestedProcedureDescription", "RequestedProcedureID",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "ReferencedPatientSequence", "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence", "ReferencedPatientAliasSequence",
    "StudyComments", "InterpretationAuthor", "InterpretationRecorder",
    "InterpretationTranscriber", "InterpretationApproverSequence", "TextComments",
    "ContentCreatorName", "PersonName", "PersonAddress", "PersonTelephoneNumbers",
    "VerifyingObserverName", "VerifyingOrganization", "AuthorObserverSequence",
    "ParticipantSequence", "ScheduledProcedureStepDescription", "ScheduledStationName",
    "ScheduledStationAETitle", "ServiceEpisodeID", "ServiceEpisodeDescription",
    "VisitComments", "CurrentPatientLocation", "PatientInstitutionResidence",
    "ImagePresentationComments", "FrameComments", "OriginalAttributesSequence",
    "ModifiedAttributesSequence", "DigitalSignaturesSequence", "DataSetTrailingPadding",
)
# UIDs that identify the study, series, instance or device: replaced.
UIDS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID", "ReferencedFrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID",
    "DeviceUID", "IrradiationEventUID", "CreatorVersionUID", "InstanceCreatorUID",
    "ConcatenationUID", "DimensionOrganizationUID", "StorageMediaFileSetUID",
    "TransactionUID", "FiducialUID", "UID",
)
ACTIONS = {**{k: "X" for k in REMOVE}, **{k: "Z" for k in ZERO}, **{k: "U" for k in UIDS}}
ACTION_WORDS = {"X": "removed", "Z": "emptied", "U": "replaced"}
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")


def _new_uid(original: str) -> str:
    # One-way and deterministic: the same original UID maps to the same new one (a study's
    # instances stay together) and the original cannot be read back.
    return generate_uid(prefix=None, entropy_srcs=["cxr-lens-deid", str(original)])


def _apply(dataset: Dataset, element: DataElement, done: dict[str, str]) -> None:
    action = ACTIONS.get(element.keyword)
    if action is None or element.tag.is_private:
        return
    if action == "X":
        del dataset[element.tag]
    elif action == "Z":
        if element.value in (None, "", b""):
            return
        element.value = None if element.VR != "SQ" else []
    else:
        element.value = ([_new_uid(v) for v in element.value] if element.VM > 1
                         else _new_uid(element.value))
    done[element.keyword] = f"{element.keyword} {element.tag}: {ACTION_WORDS[action]}"


def _mark(dataset: Dataset) -> None:
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = "CXR Lens: DICOM PS3.15 basic profile, private tags removed"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
    dataset.DeidentificationMethodCodeSequence = [code]


def deidentify(data: bytes, name: str) -> tuple[bytes, list[str]]:
    """A DICOM file's bytes -> (de-identified bytes, what was removed or replaced).

    Works in memory: the original bytes are never written anywhere.
    """
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a bad file
        raise DecodeError(f"{name}: cannot be read as DICOM for de-identification "
                          f"({type(exc).__name__})") from exc
    done: dict[str, str] = {}
    dataset.walk(lambda ds, element: _apply(ds, element, done))
    private = sum(1 for element in dataset.iterall() if element.tag.is_private)
    dataset.remove_private_tags()
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in dataset:
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    _mark(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    removed = sorted(done.values())
    if private:
        removed.append(f"{private} private attribute(s): removed")
    return buffer.getvalue(), removed
