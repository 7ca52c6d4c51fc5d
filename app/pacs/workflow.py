"""Query, retrieve into the workspace, and store SEG back: permission-checked and audited.

What the audit trail records (never PHI):

* ``pacs.query``: the PACS URL, the *names* of the filters used (not their values), the
  number of studies or series found;
* ``pacs.retrieve``: the new case id, SHA-256 hashes of the study and series UIDs, the number
  of instances; a failed or cancelled retrieve is recorded with its outcome and no case;
* ``pacs.store``: the case id, the label version sent, the SOP Instance UID of the SEG.

A retrieve never writes plaintext: instances are received into memory, checked (count against
the series' NumberOfSeriesRelatedInstances and the instance list, one series, slice geometry),
read into a volume and only then imported as an encrypted case. Their headers, without pixel
data, are kept encrypted next to it (``pacs/sources/<case>.enc``) because a DICOM SEG must
reference and copy the geometry of its source images; storing the SEG later needs no new
retrieve and works when the PACS has since moved or pruned the images.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import struct
from typing import Callable

import numpy as np

from app.pacs.client import PacsClient, PacsConfig, PacsError

FILTER_NAMES = ("patient_id", "patient_name", "accession", "date_from", "date_to", "modality")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- connection ------------------------------------------------------------------------------
def make_client(url: str = "", auth: str = "", ca_bundle: str = "", timeout_s: float = 30.0,
                session=None, settings=None) -> PacsClient:
    """A client for the configured PACS, with its secret from the keyring or the workspace.

    Explicit arguments win over the settings (``pacs_url``, ``pacs_auth``, ``pacs_ca_bundle``).
    """
    import os

    from app.pacs.credentials import load_credential

    if settings is None:
        from app.settings import load_settings

        settings = load_settings()
    url = (url or settings["pacs_url"]).strip()
    if not url:
        raise PacsConfigError("no PACS configured: set pacs_url in the settings or pass --url")
    ca_bundle = ca_bundle or settings["pacs_ca_bundle"]
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise PacsConfigError(f"{ca_bundle}: CA bundle not found (pacs_ca_bundle / --ca-bundle)")
    found = load_credential(url, session)
    auth = auth or (found[0].auth if found else settings["pacs_auth"])
    secret, username = None, ""
    if auth != "none":
        if found is None or found[0].auth != auth:
            raise PacsConfigError(f"no stored {auth} credentials for {url}: run 'annotrace pacs "
                                  "login' first")
        secret, username = found[0].secret, found[0].username
    try:
        config = PacsConfig(url, auth=auth, username=username, ca_bundle=ca_bundle,
                            timeout_s=timeout_s)
    except PacsError as exc:
        raise PacsConfigError(str(exc)) from None
    return PacsClient(config, secret)


class PacsConfigError(PacsError):
    """The PACS settings or stored credentials cannot be used (a usage error, exit code 2)."""

    exit_code = 2


# -- query -----------------------------------------------------------------------------------
def query_studies(session, client: PacsClient, **filters) -> list[dict]:
    """QIDO-RS study search, permission-checked and audited (filter names, result count)."""
    session.require("pacs.query")
    used = sorted(k for k, v in filters.items() if v)
    unknown = set(filters) - set(FILTER_NAMES)
    if unknown:
        raise PacsConfigError(f"unknown PACS filter(s): {', '.join(sorted(unknown))}")
    try:
        studies = client.query_studies(**filters)
    except PacsError as exc:
        session.audit("pacs.query", details={"url": client.config.url, "level": "study",
                                             "filters": used, "outcome": "failed",
                                             "reason": _reason(exc)})
        raise
    session.audit("pacs.query", details={"url": client.config.url, "level": "study",
                                         "filters": used, "results": len(studies)})
    return studies


def query_series(session, client: PacsClient, study_uid: str) -> list[dict]:
    """The series of one study (audited with the study UID hashed)."""
    session.require("pacs.query")
    series = client.query_series(study_uid)
    session.audit("pacs.query", details={"url": client.config.url, "level": "series",
                                         "filters": ["study_uid"],
                                         "study_uid_sha256": _sha(study_uid),
                                         "results": len(series)})
    return series


def _reason(exc: BaseException) -> str:
    # The client's messages name the server and the failure, never PHI.
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


# -- retrieve --------------------------------------------------------------------------------
def retrieve_case(session, client: PacsClient, study_uid: str, series_uid: str, *,
                  progress: Callable[[int, int], None] | None = None,
                  cancelled: Callable[[], bool] | None = None,
                  accept_gaps: bool = False) -> str:
    """Retrieve one series into memory and import it as a new encrypted case; returns its id.

    Raises
    ------
    PacsError
        The PACS failed, the series is incomplete (fewer instances than announced, missing
        slices) or is not one image volume; nothing was imported.
    RetrieveCancelled
        ``cancelled()`` turned true; nothing was imported.
    """
    from viewers.io.dicom.datasets import read_datasets
    from viewers.io.errors import InputError

    session.require("pacs.retrieve")
    session.require("case.import")
    hashed = {"study_uid_sha256": _sha(study_uid), "series_uid_sha256": _sha(series_uid)}
    received: list = []
    try:
        announced = _announced_instances(client, study_uid, series_uid)
        n = client.retrieve_series(study_uid, series_uid, received.append, progress=progress,
                                   cancelled=cancelled)
        if announced is not None and n != announced:
            raise PacsError(f"{client.config.url}: series has {announced} instances by its "
                            f"study record but {n} arrived; nothing was kept")
        if len({str(ds.get("SOPInstanceUID", "")) for ds in received}) != n:
            raise PacsError(f"{client.config.url}: the same instance arrived twice; nothing "
                            "was kept")
        try:
            volume = read_datasets(received, where="PACS series")
        except InputError as exc:
            raise PacsError(f"retrieved series cannot be read: {exc}") from None
        gaps = [w for w in volume.warnings if w.startswith("missing slices")]
        if gaps and not accept_gaps:
            raise PacsError(f"retrieved series is incomplete: {gaps[0]}; nothing was kept "
                            "(retrieve again, or accept gaps if the series really has them)")
        if cancelled is not None and cancelled():
            from app.pacs.client import RetrieveCancelled

            raise RetrieveCancelled("retrieve cancelled; nothing was kept")
        headers = pack_headers(received)
        received.clear()  # the pixel data is in the volume now; let it go
        case_id = session.import_case(volume.array, volume.affine_lps, modality=volume.modality,
                                      series_uid=volume.series_uid, study_uid=volume.study_uid,
                                      description=volume.description, source_format="dicomweb",
                                      patient=volume.patient.as_dict())
    except BaseException as exc:
        received.clear()
        outcome = "cancelled" if getattr(exc, "exit_code", None) == 130 or \
            isinstance(exc, KeyboardInterrupt) else "failed"
        session.audit("pacs.retrieve", details={**hashed, "url": client.config.url,
                                                "outcome": outcome, "reason": _reason(exc)})
        raise
    oid, path = _sources_object(session, case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    session.write_private(oid, 0, path, headers)
    session.audit("pacs.retrieve", [case_id], details={**hashed, "url": client.config.url,
                                                       "instances": n, "outcome": "imported"})
    return case_id


def _announced_instances(client: PacsClient, study_uid: str, series_uid: str) -> int | None:
    for s in client.query_series(study_uid):
        if s["SeriesInstanceUID"] == series_uid:
            value = s.get("NumberOfSeriesRelatedInstances")
            return int(value) if str(value).strip().isdigit() else None
    raise PacsError(f"{client.config.url}: series not found in that study")


def _sources_object(session, case_id: str):
    return f"pacs/sources/{case_id}", session.ws.root / "pacs" / "sources" / f"{case_id}.enc"


def pack_headers(datasets) -> bytes:
    """The datasets without pixel data, as length-prefixed DICOM Part 10 bytes."""
    import pydicom

    parts = []
    for ds in datasets:
        header = pydicom.Dataset()
        header.update({e.tag: e for e in ds if e.tag.group != 0x7FE0})
        header.file_meta = pydicom.dataset.FileMetaDataset()
        header.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        header.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        header.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        buf = io.BytesIO()
        header.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        parts += [struct.pack("<Q", len(data)), data]
    return b"".join(parts)


def unpack_headers(blob: bytes) -> list:
    import pydicom

    out, pos = [], 0
    while pos < len(blob):
        (n,) = struct.unpack_from("<Q", blob, pos)
        pos += 8
        out.append(pydicom.dcmread(io.BytesIO(blob[pos:pos + n])))
        pos += n
    return out


def source_headers(session, case_id: str) -> list:
    """The retrieved series' headers kept with the case (decrypted; PHI inside)."""
    from compliance.errors import NotFoundError

    oid, path = _sources_object(session, case_id)
    try:
        return unpack_headers(session.read_private(oid, 0, path))
    except NotFoundError:
        raise PacsConfigError(f"case {case_id} was not retrieved from a PACS: its source DICOM "
                              "headers are not in the workspace") from None


# -- store -----------------------------------------------------------------------------------
def _segments(labels) -> tuple[np.ndarray, list[dict]]:
    """Binary masks and SEG segment records of a label set (empty segments left out)."""
    legend = labels.provenance_legend or {}
    masks, records = [], []
    for seg in labels.segments:
        mask = labels.layers[int(seg.get("layer", 0))] == int(seg.get("value", 1))
        if not mask.any():
            continue
        record = {"name": seg.get("name") or f"segment {seg.get('segment_id', len(masks) + 1)}",
                  "color": seg.get("color"),
                  "category": seg.get("category") or {"scheme": "SCT", "value": "85756007",
                                                      "meaning": "Tissue"},
                  "type": seg.get("type") or {"scheme": "SCT", "value": "85756007",
                                              "meaning": "Tissue"}}
        record.update(_algorithm(seg, mask, labels.provenance, legend))
        masks.append(mask)
        records.append(record)
    if not masks:
        raise PacsError("the approved version has no painted segment; nothing to store")
    return np.stack(masks), records


def _algorithm(seg: dict, mask, provenance, legend: dict) -> dict:
    """Segment Algorithm Type from the voxels' provenance (model-made, user-made, or both)."""
    if seg.get("algorithm_type"):
        return {k: seg[k] for k in ("algorithm_type", "algorithm_name", "algorithm_version")
                if k in seg}
    if provenance is None:
        return {"algorithm_type": "MANUAL"}
    codes = {str(int(c)) for c in np.unique(provenance[mask])}
    sources = [legend.get(c, "") for c in codes]
    models = sorted({s.split(":", 1)[1].split(";")[0] for s in sources
                     if s.startswith(("model:", "auto:"))})
    if not models:
        return {"algorithm_type": "MANUAL"}
    name, _, version = models[0].partition("@")
    kind = "SEMIAUTOMATIC" if any(s.startswith("user:") for s in sources) else "AUTOMATIC"
    return {"algorithm_type": kind, "algorithm_name": name[:64],
            "algorithm_version": (version or "unknown")[:64]}


def _stable_uid(session, case_id: str, kind: str, content: str = "") -> str:
    """A 2.25 UID fixed by workspace, case and content: sending the same approved version
    twice gives the same SOP Instance UID, so the PACS keeps one copy, not two."""
    digest = hashlib.sha256("|".join((session.ws.workspace_id.hex(), case_id, kind, content))
                            .encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def store_case(session, client: PacsClient, case_id: str, settings=None) -> str:
    """Send the case's approved version to the PACS as a DICOM SEG; returns its SOP UID.

    Refused when the site's ``allowed_export_formats`` setting does not list ``seg``.
    """
    from compliance.export.dicom_seg import build_dicom_seg, validate_dataset

    session.require("pacs.store", [case_id])
    if settings is None:
        from app.settings import load_settings

        settings = load_settings()
    if "seg" not in settings["allowed_export_formats"]:
        raise PacsConfigError("sending DICOM SEG is not allowed here (the allowed_export_formats "
                              "setting does not list 'seg')")
    state = session.review_state(case_id)
    if state["state"] != "approved":
        raise PacsConfigError(f"case {case_id} is {state['state']}, not approved: only an "
                              "approved version is sent to the PACS")
    approval = next(e for e in reversed(state["events"]) if e["event"] == "approve")
    meta, labels = session.load_labels(case_id, state["version"])
    sources = source_headers(session, case_id)
    masks, records = _segments(labels)
    when = _dt.datetime.fromisoformat(approval["time"].replace("Z", "+00:00"))
    # A one-component DICOM person name needs a trailing "^" to say it is a family name.
    creator = approval["signer"] if "^" in approval["signer"] else approval["signer"] + "^"
    seg = build_dicom_seg(sources, masks, records, content_creator=creator,
                          content_datetime=when,
                          series_instance_uid=_stable_uid(session, case_id, "series"),
                          sop_instance_uid=_stable_uid(session, case_id, "seg",
                                                       meta.get("content_sha256", "")),
                          content_description=f"annotrace case {case_id} v{state['version']}")
    validate_dataset(seg)
    try:
        client.store([seg])
    except PacsError as exc:
        session.audit("pacs.store", [case_id], details={
            "url": client.config.url, "version": state["version"], "outcome": "failed",
            "sop_instance_uid": str(seg.SOPInstanceUID), "reason": _reason(exc)})
        raise
    session.audit("pacs.store", [case_id], after=meta.get("content_sha256"), details={
        "url": client.config.url, "version": state["version"], "outcome": "stored",
        "sop_instance_uid": str(seg.SOPInstanceUID),
        "series_instance_uid": str(seg.SeriesInstanceUID)})
    return str(seg.SOPInstanceUID)
