"""Export cases of a workspace: approved versions, their provenance and signatures, audited.

:func:`export_cases` is what ``annotrace export WORKSPACE ...`` runs (the command line adds only
the site's format policy and the printing). For every case it decrypts the exported version --
by default the latest *approved* one, whose reviewer signature must verify and cover exactly
the bytes exported -- and turns it into a :class:`~compliance.export.bundle.CaseExport`:

* masks from the label set's uint8 layers, one per segment, overlaps kept;
* segment records with the stored SNOMED CT codes (``Tissue`` when the segment has none);
* Segment Algorithm Type from the provenance map: voxels only from models -> AUTOMATIC,
  models and users -> SEMIAUTOMATIC, users only (or no provenance) -> MANUAL; the model's id
  and weights hash become the algorithm name and version;
* annotators: the authors of the version and its ancestors (user ids);
* the reviewer's e-signature record, and emergency (break-glass) grants that touched the case
  (:func:`compliance.emergency.emergency_entries`), in the manifest.

The export needs the role permission ``export`` (annotators are refused, and the refusal is
audited). An administrator exports without ``case.open``/``label.read``: ``export`` is the
permission that covers reading what leaves. Burned-in annotation with ``deidentify`` is
refused unless an administrator overrides it (audited as ``export.override``). The export
itself is audited as ``export`` with the case ids, versions, format, de-identification flag,
file count and the manifest's SHA-256 (no output path: a folder name may carry PHI).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compliance.errors import ComplianceError, IntegrityError, NotFoundError, PermissionDenied
from compliance.export.bundle import CaseExport, write_bundle
from compliance.export.errors import DeidentificationRefused, ExportError
from compliance.export.manifest import MANIFEST, sha256_file

#: Codes for a segment saved without any (a label map imported from a file).
_TISSUE = {"scheme": "SCT", "value": "85756007", "meaning": "Tissue"}


@dataclass
class ExportSummary:
    """What :func:`export_cases` wrote, and which requested cases it left out and why."""

    path: Path
    cases: list
    versions: dict
    files: list
    manifest_sha256: str
    skipped: list = field(default_factory=list)
    audit_seq: int = 0


def all_case_ids(session) -> list[str]:
    root = session.ws.root / "cases"
    return sorted(d.name for d in root.iterdir() if (d / "case.enc").exists()) \
        if root.is_dir() else []


# -- provenance -> algorithm ------------------------------------------------------------
def _parse_source(text: str) -> tuple[str, str, str]:
    """``(kind, name, version)`` of a provenance legend entry.

    ``model:<id>@sha256:<hash>`` -> ("model", id, "sha256:<16 hex>");
    ``auto:<id>[@sha256:<hash>];threshold=<t>;bound=<b>`` -> ("model", id, hash or "t=<t>");
    ``user:<id> ...`` -> ("user", id, "").
    """
    text = str(text)
    if text.startswith("user:"):
        return "user", text[5:].split()[0] if text[5:].split() else "", ""
    if text.startswith(("model:", "auto:")):
        body = text.split(":", 1)[1]
        parts = body.split(";")
        model, _, digest = parts[0].partition("@")
        version = digest[:23] if digest else ""
        if not version:
            thr = [p for p in parts[1:] if p.startswith("threshold=")]
            version = "t=" + thr[0].split("=", 1)[1] if thr else "unversioned"
        return "model", model[:64] or "unnamed model", version[:64]
    return "unknown", "", ""


def _algorithm(mask: np.ndarray, provenance, legend: dict) -> dict:
    """Algorithm type/name/version of one segment from the provenance of its voxels."""
    if provenance is None or not mask.any():
        return {"algorithm_type": "MANUAL"}
    codes, counts = np.unique(provenance[mask], return_counts=True)
    models: dict[tuple[str, str], int] = {}
    users = 0
    for code, count in zip(codes.tolist(), counts.tolist()):
        kind, name, version = _parse_source(legend.get(str(code), "")) if code else ("", "", "")
        if kind == "model":
            models[(name, version)] = models.get((name, version), 0) + count
        elif kind == "user":
            users += count
    if not models:
        return {"algorithm_type": "MANUAL"}
    (name, version), _ = max(models.items(), key=lambda kv: kv[1])
    return {"algorithm_type": "SEMIAUTOMATIC" if users else "AUTOMATIC",
            "algorithm_name": name, "algorithm_version": version}


def _model_versions(labels) -> list[str]:
    found = set()
    for text in (labels.provenance_legend or {}).values():
        kind, name, version = _parse_source(text)
        if kind == "model":
            found.add(f"{name} {version}")
    return sorted(found)


def masks_and_segments(labels) -> tuple[np.ndarray, list[dict]]:
    """``(masks (segments, k, j, i) bool, segment records)`` of a stored label set."""
    segs = sorted(labels.segments, key=lambda d: int(d.get("segment_id", 0)))
    if not segs:
        raise ExportError("the label set has no segments")
    shape = labels.layers[0].shape
    masks = np.zeros((len(segs),) + tuple(shape), dtype=bool)
    records = []
    for n, d in enumerate(segs):
        layer, value = int(d.get("layer", 0)), int(d.get("value", 1))
        if not 0 <= layer < len(labels.layers):
            raise ExportError(f"segment {d.get('segment_id')} names layer {layer}, which the "
                              "label set does not have")
        masks[n] = labels.layers[layer] == value
        record = {"name": str(d.get("name") or f"segment {d.get('segment_id')}"),
                  "category": d.get("category") or _TISSUE, "type": d.get("type") or _TISSUE}
        if d.get("color"):
            record["color"] = tuple(int(c) for c in d["color"])
        record.update(_algorithm(masks[n], labels.provenance, labels.provenance_legend or {}))
        records.append(record)
    return masks, records


# -- one case -----------------------------------------------------------------------------
def _chosen_version(session, case_id: str, include_unapproved: bool):
    """``(version, approve event or None)``, or raise a refusal naming the case."""
    nums = session._version_numbers(case_id)
    if not nums:
        raise NotFoundError(f"case {case_id} has no label version to export")
    events = session._events(case_id)
    approvals = [e for e in events if e.get("event") == "approve"]
    if include_unapproved:
        latest = nums[-1]
        return latest, next((e for e in reversed(approvals) if e["version"] == latest), None)
    if not approvals:
        state = session.review_state(case_id, _checked=True)["state"]
        raise ComplianceError(f"case {case_id} is {state}, not approved (export approved "
                              "cases, or add --include-unapproved)")
    event = approvals[-1]
    return event["version"], event


def _annotators(session, case_id: str, version: int) -> list[str]:
    out, n, seen = [], version, set()
    while n and n not in seen:
        seen.add(n)
        meta = session._version_meta(case_id, n)
        if meta["author_id"] not in out:
            out.append(meta["author_id"])
        n = meta.get("parent")
    return out


def _reviewer(event: dict | None, valid: bool) -> dict | None:
    if event is None:
        return None
    keep = ("signer_id", "meaning", "time", "version", "content_sha256",
            "workspace_id", "signature")
    out = {k: event[k] for k in keep if k in event}
    out["name"] = event.get("signer", "")  # dropped from de-identified manifests
    out["signature_valid"] = valid
    return out


def _person_name(user_name: str) -> str:
    """A user name as a DICOM PN: one family-name component ("rev" -> "rev^")."""
    return user_name if "^" in user_name or not user_name else user_name + "^"


def _stamp(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _source_images(session, case_id: str, record: dict):
    from compliance.export.geometry import source_grid
    from compliance.export.sources import datasets_from_bytes

    headers = session.dicom_headers(case_id)
    if not headers:
        if record.get("source_format") != "dicom":
            raise ExportError(f"case {case_id} was imported from "
                              f"{record.get('source_format') or 'a non-DICOM file'}, not DICOM: "
                              "a DICOM SEG needs a DICOM source series (export --format nifti)")
        raise ExportError(f"case {case_id}: its DICOM headers were not kept at import (imported "
                          "before annotrace stored them); re-import the series to export a SEG")
    datasets = datasets_from_bytes(headers, case_id)
    grid = source_grid(datasets)
    if tuple(grid.shape) != tuple(record["shape"]) or not np.allclose(
            grid.affine_lps, np.asarray(record["affine_lps"]), atol=1e-3):
        raise ExportError(f"case {case_id}: the stored DICOM headers do not describe the case's "
                          "grid (shape or geometry differs)")
    return datasets


def _burned_in(datasets) -> int:
    return sum(str(ds.get("BurnedInAnnotation", "")).upper() == "YES" for ds in datasets)


def _emergency(entries, case_id: str) -> list[dict] | None:
    try:
        from compliance.emergency import emergency_entries
    except ImportError:  # pragma: no cover - a tree without the break-glass module
        return None
    out = []
    for g in emergency_entries(entries, case_id):
        out.append({"seq": g["seq"], "user_id": g["user_id"], "role": g["role"],
                    "time": g["time"], "reason": g["reason"], "minutes": g["minutes"],
                    "until": g["until"], "ended": g["ended"],
                    "actions": sorted({e["action"] for e in g["entries"]})})
    return out


def _case_export(session, case_id: str, *, fmt: str, include_unapproved: bool, entries):
    record = session._case_record(case_id)
    version, event = _chosen_version(session, case_id, include_unapproved)
    meta, canon = session._read_version(case_id, version)
    digest = hashlib.sha256(canon).hexdigest()
    if digest != meta["content_sha256"]:
        raise IntegrityError(f"case {case_id} version {version}: content hash mismatch")
    valid = False
    if event is not None:
        valid = event.get("content_sha256") == digest and session.verify_approval(event)
        if not valid:
            raise IntegrityError(f"case {case_id} version {version}: the approval signature "
                                 "does not verify against the stored version")
    from compliance import records

    labels = records.from_canonical(canon)
    masks, segments = masks_and_segments(labels)
    sources = _source_images(session, case_id, record) if fmt == "seg" else None
    emergency = _emergency(entries, case_id)
    extra = {"version": version, "approved": event is not None,
             "content_sha256": digest, "source_format": record.get("source_format", "")}
    if emergency is not None:
        extra["emergency_access"] = emergency
    return CaseExport(
        case=case_id, masks=masks, segments=segments, source_images=sources,
        affine_lps=np.asarray(record["affine_lps"], float),
        annotators=_annotators(session, case_id, version), reviewer=_reviewer(event, valid),
        content_creator=_person_name((event or {}).get("signer") or meta.get("author", "")),
        content_datetime=_stamp((event or {}).get("time") or meta.get("created")),
        model_versions=_model_versions(labels), extra=extra)


# -- the export -----------------------------------------------------------------------------
def export_cases(session, case_ids, out_dir, *, fmt: str, deidentify: bool = False,
                 include_unapproved: bool = False, allow_burned_in: bool = False,
                 retain_longitudinal_dates: bool = False) -> ExportSummary:
    """Export cases of ``session``'s workspace as a signed bundle in ``out_dir``.

    Parameters
    ----------
    session : compliance.session.Session
        Logged in; needs the ``export`` permission (reviewers, admins).
    case_ids : list of str or None
        The cases to export; None exports every approved case (others are skipped and
        listed in ``ExportSummary.skipped``). A case named explicitly that cannot be
        exported (not approved, no DICOM source for a SEG) refuses the whole export.
    fmt : "seg" or "nifti"
    deidentify : bool
        Apply the Basic Profile (keyed UID remapping, date shift) to every DICOM file.
    include_unapproved : bool
        Export the latest version of each case, approved or not (``approved`` in the
        manifest says which).
    allow_burned_in : bool
        With ``deidentify``: export cases whose source images carry burned-in annotation
        (administrators only; audited as ``export.override``).

    Raises
    ------
    PermissionDenied, ExportError, ComplianceError
        One line naming the case and the reason; nothing is written then.
    """
    from compliance.keys import b64d

    keys = session.export_keys()  # require("export"): annotators refused here, audited
    if allow_burned_in and session.role != "admin":
        session.audit("access.denied", details={"attempted": "export.override"})
        raise PermissionDenied(f"user {session.name!r} (role {session.role}) may not override "
                               "the burned-in annotation check; an administrator must export")
    explicit = case_ids is not None
    ids = list(dict.fromkeys(case_ids)) if explicit else all_case_ids(session)
    for cid in ids:
        session._case_dir(cid)  # unknown ids: one line, before anything is decrypted
    _, entries = session.ws.audit_log.verify(session._audit_keys,
                                             b64d(session.ws.meta["signing_public"]))
    cases, skipped = [], []
    for cid in ids:
        try:
            cases.append(_case_export(session, cid, fmt=fmt,
                                      include_unapproved=include_unapproved, entries=entries))
        except (ExportError, NotFoundError, ComplianceError) as exc:
            if explicit or isinstance(exc, IntegrityError):
                raise
            skipped.append({"case": cid, "reason": str(exc)})
    if not cases:
        raise ExportError("nothing to export: " + ("; ".join(s["reason"] for s in skipped)
                                                   or "the workspace has no cases"))
    burned = {c.case: _burned_in(c.source_images) for c in cases if c.source_images}
    burned = {k: v for k, v in burned.items() if v}
    if deidentify and burned and not allow_burned_in:
        first = next(iter(burned))
        raise DeidentificationRefused(
            f"case {first}: {burned[first]} source image(s) have Burned In Annotation = YES "
            "(text in the pixels that de-identification cannot remove); an administrator may "
            "export with --allow-burned-in after checking the pixels")
    if deidentify and burned:
        session.audit("export.override", sorted(burned),
                      details={"burned_in_images": sum(burned.values()), "format": fmt})
    result = write_bundle(out_dir, cases, fmt=fmt, signing_key=keys.signing_key,
                          audit_head_hash=keys.audit_head_hash, exported_by=session.user_id,
                          deidentify_key=keys.deidentify_key if deidentify else None,
                          retain_longitudinal_dates=retain_longitudinal_dates,
                          override_burned_in=bool(deidentify and burned))
    manifest_sha = sha256_file(result.path / MANIFEST)
    versions = {c.case: c.extra["version"] for c in cases}
    seq = session.audit("export", [c.case for c in cases], after=manifest_sha, details={
        "format": fmt, "deidentify": bool(deidentify), "files": len(result.files),
        "manifest_sha256": manifest_sha, "versions": versions,
        "include_unapproved": bool(include_unapproved),
        "unapproved": [c.case for c in cases if not c.extra["approved"]],
        "skipped": [s["case"] for s in skipped], "audit_head_seq": keys.audit_head_seq})
    return ExportSummary(result.path, [c.case for c in cases], versions, result.files,
                         manifest_sha, skipped, seq)
