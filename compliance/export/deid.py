"""De-identification: DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

What :func:`deidentify` does to a copy of a dataset, recursively into sequences:

* refuses an image with Burned In Annotation = YES unless ``override_burned_in`` (pixel text
  cannot be removed by a header profile; the caller audits the override);
* removes private attributes (odd groups), curve data (50xx) and overlays (60xx);
* applies every attribute of the Basic Profile (:mod:`compliance.export.basic_profile`).
  Compound actions are resolved without IOD knowledge as follows: X/Z -> Z; Z/D, X/Z/D,
  X/D -> D (a dummy keeps Type 1 attributes valid); X/Z/U* -> keep the sequence and replace
  the UIDs inside it (so a SEG still references its images). D on a sequence de-identifies
  the sequence's items;
* dates: with ``retain_longitudinal_dates`` the Retain Longitudinal Temporal Information
  Full Dates Option (dates kept); otherwise the Modified Dates Option: every DA and the date
  part of every DT is shifted by one whole-day offset per patient (derived from the patient ID
  with the key), so intervals within a patient survive. Times are kept. Patient's Birth Date
  is emptied either way (Basic Profile Z, no option retains it);
* UIDs: every UID that is not a DICOM-defined one (``1.2.840.10008.*``) or a coding-scheme
  identifier becomes ``2.25.<decimal of the first 128 bits of HMAC-SHA256(key, uid)>``: the
  same original gives the same new UID in every file (images and SEG stay linked), and without
  the key nobody can confirm an original UID by guessing it;
* person names (PN) in attributes the table does not list are replaced by a dummy too;
* Patient's Name and Patient ID become one keyed pseudonym per patient (a Z action may use a
  dummy value); Patient Identity Removed = YES, De-identification Method and its code
  sequence (DCM 113100 and 113106 or 113107), Longitudinal Temporal Information Modified.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import hmac

from compliance.export.basic_profile import BASIC_PROFILE
from compliance.export.errors import DeidentificationRefused, ExportError

_STANDARD_UID_ROOT = "1.2.840.10008."
#: UID attributes that name a coding scheme or resource, not an instance: never remapped.
_KEEP_UIDS = {"CodingSchemeUID", "ContextGroupExtensionCreatorUID", "MappingResourceUID",
              "ContextUID", "TransferSyntaxUID", "SOPClassUID", "ReferencedSOPClassUID",
              "MediaStorageSOPClassUID", "ImplementationClassUID",
              "ReferencedSOPClassUIDInFile", "CodingSchemeRegistry"}
# Without IOD knowledge choose the resolution that keeps every IOD conformant: a dummy where
# the table allows one (Type 1 attributes such as Device Serial Number stay present).
_RESOLVE = {"X/Z": "Z", "Z/D": "D", "X/Z/D": "D", "X/D": "D", "X/Z/U*": "U*"}
_DUMMY = {"PN": "ANONYMIZED^", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "CS": "ANONYMIZED",
          "ST": "ANONYMIZED", "LT": "ANONYMIZED", "UT": "ANONYMIZED", "UC": "ANONYMIZED",
          "AE": "ANONYMIZED", "IS": "0", "DS": "0", "US": 0, "UL": 0, "SS": 0, "SL": 0,
          "FL": 0.0, "FD": 0.0}
_META_KEEP = {0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013}
METHOD_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
}


def _empty(vr: str):
    """The zero-length value of a VR (bytes for the binary VRs)."""
    return b"" if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") else ""


def _mac(key: bytes, label: str, value: str) -> bytes:
    return hmac.new(key, f"{label}:{value}".encode("utf-8"), hashlib.sha256).digest()


def remap_uid(uid: str, key: bytes) -> str:
    """The de-identified UID of ``uid``: ``2.25.`` + 128 bits of HMAC-SHA256 (at most 44 chars)."""
    return "2.25." + str(int.from_bytes(_mac(key, "uid", str(uid).strip())[:16], "big"))


def date_offset_days(patient_id: str, key: bytes) -> int:
    """Whole days (between -3650 and -1) that every date of this patient is shifted by."""
    return -(1 + int.from_bytes(_mac(key, "date", patient_id)[:4], "big") % 3650)


def pseudonym(patient_id: str, key: bytes) -> str:
    """A per-patient pseudonym for Patient ID (no original text in it); the name is ANON^it."""
    return "ANON" + _mac(key, "patient", patient_id).hex()[:16].upper()


class _Deidentifier:
    def __init__(self, key: bytes, offset: int | None):
        self.key = key
        self.offset = offset  # None: keep dates
        # A dataset may hold the same item object in several sequences (highdicom shares
        # reference items, and deepcopy keeps the sharing): de-identify each object once.
        self._done: set[int] = set()

    # -- values ---------------------------------------------------------------------------
    def _shift_date(self, value: str) -> str:
        day = _dt.datetime.strptime(value[:8], "%Y%m%d") + _dt.timedelta(days=self.offset)
        return day.strftime("%Y%m%d") + value[8:]

    def _date(self, elem) -> None:
        if self.offset is None or elem.VR not in ("DA", "DT") or elem.value in (None, ""):
            return
        values = elem.value if elem.VM > 1 else [elem.value]
        try:
            shifted = [self._shift_date(str(v)) if str(v) else "" for v in values]
        except ValueError:
            elem.value = ""  # cannot be shifted, so it cannot be kept
            return
        elem.value = shifted if elem.VM > 1 else shifted[0]

    def _uid(self, elem) -> None:
        if elem.value in (None, ""):
            return
        values = elem.value if elem.VM > 1 else [elem.value]
        new = [v if str(v).startswith(_STANDARD_UID_ROOT) else remap_uid(v, self.key)
               for v in values]
        elem.value = new if elem.VM > 1 else new[0]

    def _dummy(self, ds, elem) -> None:
        if elem.VR == "SQ":
            for item in elem.value:
                self.apply(item)
        elif elem.VR == "UI":
            self._uid(elem)
        elif elem.VR in ("DA", "DT", "TM"):
            ds[elem.tag].value = ""
        else:
            ds[elem.tag].value = _DUMMY.get(elem.VR, _empty(elem.VR))

    # -- datasets -------------------------------------------------------------------------
    def apply(self, ds) -> None:
        from pydicom.sequence import Sequence

        if id(ds) in self._done:
            return
        self._done.add(id(ds))
        for elem in list(ds):
            tag, group = int(elem.tag), elem.tag.group
            if group % 2 == 1 or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                del ds[elem.tag]  # private, curve data, overlays
                continue
            entry = BASIC_PROFILE.get(tag)
            if entry is not None:
                action, is_date, _ = entry
                if is_date:
                    self._date(elem)
                    continue
                action = _RESOLVE.get(action, action)
                if action == "X":
                    del ds[elem.tag]
                elif action == "Z":
                    elem.value = Sequence([]) if elem.VR == "SQ" else _empty(elem.VR)
                elif action == "D":
                    self._dummy(ds, elem)
                elif action == "U":
                    self._uid(elem)
                elif action == "U*":
                    for item in elem.value or []:
                        self.apply(item)
                continue
            if elem.VR == "SQ":
                for item in elem.value or []:
                    self.apply(item)
            elif elem.VR == "UI" and elem.keyword not in _KEEP_UIDS:
                self._uid(elem)
            elif elem.VR == "PN" and elem.value:
                # A person's name the table does not list is still a name: replace it.
                elem.value = _DUMMY["PN"]
            elif elem.VR in ("DA", "DT"):
                self._date(elem)


def _method_item(code: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
        METHOD_CODES[code][0], "DCM", METHOD_CODES[code][1])
    return item


def _mark(out, alias: str, retain_dates: bool) -> None:
    """Pseudonym, Patient Identity Removed and the De-identification Method attributes."""
    from pydicom.sequence import Sequence

    out.PatientName = "ANON^" + alias
    out.PatientID = alias
    out.PatientIdentityRemoved = "YES"
    out.LongitudinalTemporalInformationModified = "UNMODIFIED" if retain_dates else "MODIFIED"
    option = "full_dates" if retain_dates else "modified_dates"
    out.DeidentificationMethod = [
        "annotrace PS3.15 E.1 Basic Profile",
        "dates retained" if retain_dates else "dates shifted per patient",
        "private attributes removed", "UIDs replaced: 2.25 keyed HMAC"]
    out.DeidentificationMethodCodeSequence = Sequence([_method_item("basic"),
                                                       _method_item(option)])


def deidentify(ds, key: bytes, *, retain_longitudinal_dates: bool = False,
               override_burned_in: bool = False, name: str = "image"):
    """Return a de-identified copy of ``ds`` (the input is not changed).

    Parameters
    ----------
    ds : pydicom.Dataset
        An image, a SEG, or any composite instance.
    key : bytes
        Secret key (at least 16 bytes) for UIDs, pseudonyms and date offsets; use the same key
        for every file of one export so that references stay consistent.
    retain_longitudinal_dates : bool
        Keep dates (Full Dates Option) instead of shifting them per patient.
    override_burned_in : bool
        De-identify even when Burned In Annotation is YES (the caller must audit this).
    name : str
        How errors refer to this dataset (a file name without PHI).

    Raises
    ------
    DeidentificationRefused
        Burned In Annotation = YES without ``override_burned_in``.
    """
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

    if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
        raise ExportError("the de-identification key must be at least 16 bytes")
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES" and not override_burned_in:
        raise DeidentificationRefused("Burned In Annotation is YES: pixel text may identify the "
                                      "patient; an admin override is required", name)
    from compliance.export.dicom_seg import raise_on_invalid_values

    patient = str(ds.get("PatientID", "") or ds.get("PatientName", ""))
    out = copy.deepcopy(ds)
    offset = None if retain_longitudinal_dates else date_offset_days(patient, bytes(key))
    with raise_on_invalid_values():
        _Deidentifier(bytes(key), offset).apply(out)
        _mark(out, pseudonym(patient, bytes(key)), retain_longitudinal_dates)
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        for elem in list(meta):
            if int(elem.tag) not in _META_KEEP:
                del meta[elem.tag]
        if "SOPInstanceUID" in out:
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        if "ImplementationVersionName" in meta:
            del meta.ImplementationVersionName
    return out
