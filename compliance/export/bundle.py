"""One call that writes a signed export bundle from plain case records.

``annotrace export`` (with the workspace: roles, approved versions, audit) gathers the cases and
calls :func:`write_bundle`; everything here is Qt-, viewer- and workspace-free.

Layout of a bundle (``fmt="seg"``)::

    manifest.json, manifest.sig
    <case>/segmentation.dcm            DICOM SEG referencing the source series
    <case>/images/0001.dcm ...         the source images (``include_images=True``)

and with ``fmt="nifti"``: ``<case>/labels.nii.gz`` (+ ``labels_layerN.nii.gz`` for overlapping
segments) and ``<case>/labels.json``. The bundle is assembled in a hidden sibling folder and
renamed into place at the end, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compliance.export.deid import deidentify
from compliance.export.dicom_seg import build_dicom_seg, save_dataset
from compliance.export.errors import ExportError
from compliance.export.geometry import source_grid
from compliance.export.manifest import build_manifest, write_signed_manifest
from compliance.export.nifti import write_label_nifti
from compliance.export.segments import segment_records

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORMATS = ("seg", "nifti")


@dataclass
class CaseExport:
    """What one case contributes to a bundle (plain data; no PHI in ``case``).

    Attributes
    ----------
    case : str
        Case id: letters, digits, ``.``, ``_``, ``-`` (it becomes a folder name).
    masks : ndarray (segments, k, j, i)
    segments : list of dict
        Segment records (:mod:`compliance.export.segments`).
    source_images : list of pydicom.Dataset, optional
        The DICOM source series (required for ``fmt="seg"`` and for ``include_images``).
    affine_lps : ndarray, optional
        Index->LPS affine of the mask grid (NIfTI sources); derived from the DICOM sources
        when absent.
    annotators : list of str
        User ids of the annotators.
    reviewer : dict, optional
        The approval e-signature record (e.g. user, name, meaning, utc, version hash).
    content_creator : str
        DICOM person name for the SEG's Content Creator; defaults to ``reviewer["name"]``.
    content_datetime : datetime, optional
        Approval/creation time (defaults to the export time).
    model_versions : list of str, optional
        Defaults to the algorithm name/version of the non-manual segments.
    quality_metrics : dict, optional
    extra : dict
        Further JSON values for the case's manifest entry (``version``, ``approved``,
        ``emergency_access``...).
    """

    case: str
    masks: np.ndarray
    segments: list
    source_images: list | None = None
    affine_lps: np.ndarray | None = None
    annotators: list = field(default_factory=list)
    reviewer: dict | None = None
    content_creator: str = ""
    content_datetime: _dt.datetime | None = None
    model_versions: list | None = None
    quality_metrics: dict | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class BundleResult:
    """Where the bundle went, what it holds, and what the caller must audit."""

    path: Path
    files: list
    burned_in_overrides: list = field(default_factory=list)


def _model_versions(case: CaseExport) -> list[str]:
    if case.model_versions is not None:
        return list(case.model_versions)
    found = {f"{r.algorithm_name} {r.algorithm_version}" for r in segment_records(case.segments)
             if r.algorithm_type != "MANUAL"}
    return sorted(found)


class _Writer:
    def __init__(self, root: Path, now: _dt.datetime, key: bytes | None, retain_dates: bool,
                 override_burned_in: bool):
        self.root, self.now, self.key = root, now, key
        self.retain_dates, self.override = retain_dates, override_burned_in
        self.overrides: list[str] = []

    def _deid(self, ds, rel: str):
        if self.key is None:
            return ds
        burned = str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
        out = deidentify(ds, self.key, retain_longitudinal_dates=self.retain_dates,
                         override_burned_in=self.override, name=rel)
        if burned:
            self.overrides.append(rel)
        return out

    def seg(self, case: CaseExport, folder: Path, include_images: bool) -> list[str]:
        if not case.source_images:
            raise ExportError(f"case {case.case}: a DICOM SEG needs the DICOM source images")
        creator = case.content_creator or (case.reviewer or {}).get("name", "")
        if not creator:
            raise ExportError(f"case {case.case}: no content creator (reviewer name) for the SEG")
        files = []
        if include_images:
            (folder / "images").mkdir()
            grid = source_grid(case.source_images)
            order = [d for d, _ in grid.frames] if not grid.multiframe else [0]
            for n, index in enumerate(order, start=1):
                rel = f"{case.case}/images/{n:04d}.dcm"
                save_dataset(self._deid(case.source_images[index], rel), self.root / rel)
                files.append(rel)
        seg = build_dicom_seg(case.source_images, case.masks, case.segments,
                              content_creator=creator,
                              content_datetime=case.content_datetime or self.now)
        rel = f"{case.case}/segmentation.dcm"
        save_dataset(self._deid(seg, rel), self.root / rel)
        return [rel] + files

    def nifti(self, case: CaseExport, folder: Path) -> list[str]:
        affine = case.affine_lps
        if affine is None:
            if not case.source_images:
                raise ExportError(f"case {case.case}: NIfTI export needs an affine or the sources")
            grid = source_grid(case.source_images)
            if not grid.regular:
                raise ExportError(f"case {case.case}: the source slices are not evenly spaced; "
                                  "a NIfTI grid cannot describe them (export a SEG)")
            affine = grid.affine_lps
        written = write_label_nifti(folder / "labels.nii.gz", case.masks, affine, case.segments)
        return [f"{case.case}/{p.name}" for p in written]


def write_bundle(out_dir, cases, *, fmt: str, signing_key, audit_head_hash: str,
                 exported_by: str, deidentify_key: bytes | None = None,
                 retain_longitudinal_dates: bool = False, include_images: bool = False,
                 override_burned_in: bool = False, now: _dt.datetime | None = None
                 ) -> BundleResult:
    """Write the files of ``cases``, a manifest and its signature into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Must not exist yet, or be an empty folder.
    cases : list of CaseExport
    fmt : "seg" or "nifti"
    signing_key : Ed25519PrivateKey
        The workspace's export signing key.
    audit_head_hash, exported_by : str
        Recorded in the manifest.
    deidentify_key : bytes, optional
        De-identify every DICOM file with this key (:func:`compliance.export.deid.deidentify`);
        the reviewer's name is then left out of the manifest too (the user id stays).
    include_images : bool
        Also export the (de-identified) source images, so the SEG's references resolve.
    override_burned_in : bool
        De-identify images with Burned In Annotation = YES; they are listed in
        ``BundleResult.burned_in_overrides`` for the caller's audit record.

    Raises
    ------
    ExportError
        Bad format, case id, or output folder; any export error of a case (nothing is left).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of " + ", ".join(FORMATS))
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError("output folder exists and is not empty", out)
    if not out.parent.is_dir():
        raise ExportError("parent folder does not exist", out)
    seen = set()
    for case in cases:
        if not _CASE_ID.match(str(case.case)) or case.case in seen:
            raise ExportError(f"case id {case.case!r} is repeated or not of letters, digits, "
                              "'.', '_', '-'")
        seen.add(case.case)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        writer = _Writer(tmp, now, deidentify_key, retain_longitudinal_dates, override_burned_in)
        entries = []
        for case in cases:
            folder = tmp / case.case
            folder.mkdir()
            files = (writer.seg(case, folder, include_images) if fmt == "seg"
                     else writer.nifti(case, folder))
            reviewer = dict(case.reviewer) if case.reviewer else None
            if reviewer and deidentify_key is not None:
                reviewer.pop("name", None)
            entries.append({**case.extra, "case": case.case, "files": files,
                            "segments": [r.as_json() for r in segment_records(case.segments)],
                            "annotators": list(case.annotators), "reviewer_signature": reviewer,
                            "model_versions": _model_versions(case),
                            "quality_metrics": case.quality_metrics})
        manifest = build_manifest(tmp, entries, audit_head_hash=audit_head_hash,
                                  exported_by=exported_by, created_utc=now,
                                  deidentified=deidentify_key is not None)
        write_signed_manifest(tmp, manifest, signing_key)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return BundleResult(out, sorted(manifest["files"]), writer.overrides)
