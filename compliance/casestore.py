"""Cases, immutable label versions and the autosave journal (a Session mixin).

A case is imported once (``case.enc``: geometry, modality, UIDs and the
patient record, encrypted; ``image.enc``: the voxels). Each label save is a
new immutable version ``v/<n>.enc`` with a parent pointer (by default the
author's own previous version, so several readers keep separate lines).

Concurrency policy: **lock, not merge.** Saving takes the case's edit lock
(``locks/<case>.lock``, created with O_EXCL); a version file is created with
``link`` so that even a writer that bypassed the lock can never overwrite a
version: it gets the next free number instead. Concurrent edits on one case by
two workstations are therefore serialised; nothing is merged automatically.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from compliance import fsio, records
from compliance.audit import utc_now
from compliance.errors import ComplianceError, NotFoundError, PermissionDenied
from compliance.records import LabelSet


@dataclass
class CaseData:
    """An opened case: voxels, geometry and its (PHI) record."""

    case_id: str
    array: np.ndarray
    affine_lps: np.ndarray
    record: dict


def _vname(n: int) -> str:
    return f"{n:06d}.enc"


class CaseStore:
    """Mixed into :class:`~compliance.session.Session`."""

    def _case_dir(self, case_id: str):
        if not (len(case_id) == 16 and all(c in "0123456789abcdef" for c in case_id)):
            raise NotFoundError(f"no case {case_id!r} (case ids are 16 hex digits)")
        d = self.ws.root / "cases" / case_id
        if not d.is_dir():
            raise NotFoundError(f"no case {case_id!r} in this workspace")
        return d

    def _case_record(self, case_id: str) -> dict:
        d = self._case_dir(case_id)
        return json.loads(self.ws.read_object(self._keys, f"case/{case_id}", 0, d / "case.enc"))

    # -- cases ---------------------------------------------------------------------------
    def import_case(self, array: np.ndarray, affine_lps: np.ndarray, *, modality: str = "",
                    series_uid: str = "", study_uid: str = "", description: str = "",
                    source_format: str = "", patient: dict | None = None,
                    dicom_headers: list[bytes] | None = None) -> str:
        """Store an image and its record encrypted; return the new random case id.

        ``dicom_headers``: the source series' DICOM files without pixel data (Part 10 bytes,
        e.g. :func:`compliance.export.sources.series_header_bytes`), kept encrypted as
        ``dicom.enc`` so that a DICOM SEG can later reference the series.
        """
        self.require("case.import")
        if array.ndim != 3:
            raise ComplianceError(f"a case needs a 3D image, got shape {array.shape}")
        case_id = secrets.token_hex(8)
        d = self.ws.root / "cases" / case_id
        d.mkdir(parents=True)
        record = {"case_id": case_id, "shape": list(array.shape), "dtype": array.dtype.str,
                  "affine_lps": np.asarray(affine_lps, float).tolist(), "modality": modality,
                  "series_uid": series_uid, "study_uid": study_uid, "description": description,
                  "source_format": source_format, "patient": patient or {},
                  "dicom_headers": len(dicom_headers or []),
                  "imported_by": self.user_id, "imported": utc_now()}
        # The image first, the record last: a case exists once its record does.
        image = records.pack_array({"case_id": case_id}, array)
        self.ws.write_object(self._keys, self.key_gen, f"case/{case_id}/image", 0,
                             d / "image.enc", image)
        if dicom_headers:
            self.ws.write_object(self._keys, self.key_gen, f"case/{case_id}/dicom", 0,
                                 d / "dicom.enc", records.pack(
                                     {"sizes": [len(h) for h in dicom_headers]},
                                     list(dicom_headers)))
        self.ws.write_object(self._keys, self.key_gen, f"case/{case_id}", 0, d / "case.enc",
                             json.dumps(record).encode())
        self.audit("case.import", [case_id], after=hashlib.sha256(array.tobytes()).hexdigest(),
                   details={"modality": modality, "shape": list(array.shape)})
        return case_id

    def list_cases(self) -> list[dict]:
        """Summaries without PHI: id, modality, shape, versions, review state."""
        self.require("case.list")
        out = []
        root = self.ws.root / "cases"
        for d in sorted(root.iterdir()) if root.is_dir() else []:
            if not (d / "case.enc").exists():
                continue  # an import killed before its record (written last) was committed
            rec = self._case_record(d.name)
            out.append({"case_id": d.name, "modality": rec["modality"], "shape": rec["shape"],
                        "imported": rec["imported"], "versions": len(self._version_numbers(d.name)),
                        "state": self.review_state(d.name, _checked=True)["state"]})
        self.audit("case.list", details={"cases": len(out)})
        return out

    def open_case(self, case_id: str) -> CaseData:
        """Decrypt a case's image and record (PHI access: audited as ``case.open``)."""
        self.require("case.open", [case_id])
        d = self._case_dir(case_id)
        rec = self._case_record(case_id)
        with self.edit_lock(case_id):
            self._recover_unaudited(case_id)
        _, array = records.unpack_array(self.ws.read_object(
            self._keys, f"case/{case_id}/image", 0, d / "image.enc"))
        self.audit("case.open", [case_id])
        return CaseData(case_id, array, np.array(rec["affine_lps"]), rec)

    def dicom_headers(self, case_id: str, action: str = "export") -> list[bytes] | None:
        """The source DICOM headers stored at import (None when there are none).

        ``action`` is what the caller does with them (``export``, ``pacs.store``); it is
        permission-checked like any operation, and audited by the caller's own record.
        """
        self.require(action, [case_id])
        path = self._case_dir(case_id) / "dicom.enc"
        if not path.exists():
            return None
        meta, raw = records.unpack(self.ws.read_object(self._keys, f"case/{case_id}/dicom", 0,
                                                       path))
        out, pos = [], 0
        for size in meta["sizes"]:
            out.append(raw[pos:pos + size])
            pos += size
        return out

    def case_grid(self, case_id: str) -> tuple[tuple[int, int, int], np.ndarray]:
        """(shape, affine) of a case, for checking a label map before saving it."""
        self.require("label.read", [case_id])
        rec = self._case_record(case_id)
        return tuple(rec["shape"]), np.array(rec["affine_lps"])

    # -- label versions ------------------------------------------------------------------
    def _version_numbers(self, case_id: str) -> list[int]:
        vdir = self._case_dir(case_id) / "v"
        return sorted(int(p.stem) for p in vdir.glob("*.enc")) if vdir.is_dir() else []

    def _read_version(self, case_id: str, n: int) -> tuple[dict, bytes]:
        d = self._case_dir(case_id)
        meta, canon = records.unpack(self.ws.read_object(
            self._keys, f"case/{case_id}/labels", n, d / "v" / _vname(n)))
        return meta, canon

    def _version_meta(self, case_id: str, n: int) -> dict:
        """A version's metadata from its first chunk only (no voxels decrypted)."""
        d = self._case_dir(case_id)
        return records.unpack_meta(self.ws.read_object_prefix(
            self._keys, f"case/{case_id}/labels", n, d / "v" / _vname(n)))

    def _blinded(self) -> bool:
        """Double reading: annotators see only their own versions (setting blind_readers)."""
        return bool(self.ws.settings["blind_readers"]) and self.role == "annotator"

    def _visible_numbers(self, case_id: str) -> list[int]:
        nums = self._version_numbers(case_id)
        if self._blinded():
            nums = [n for n in nums
                    if self._version_meta(case_id, n)["author_id"] == self.user_id]
        return nums

    def versions(self, case_id: str) -> list[dict]:
        """Metadata of every version the user may see: number, parent, author, time, hash."""
        self.require("label.read", [case_id])
        return [self._version_meta(case_id, n) for n in self._visible_numbers(case_id)]

    def require_own_reading(self, case_id: str) -> None:
        """Refuse (and audit) a proposal on ``case_id`` before this annotator's own reading.

        Workspace setting ``proposals_after_reading`` (0 by default): an annotator gets a
        model's proposal on a case only once they saved a version of their own on it, so
        that a study can have readings no proposal anchored (automation bias); the proposal
        can then be compared with, or merged into, that reading. Other roles are not bound.
        """
        if not self.ws.settings.get("proposals_after_reading") or self.role != "annotator":
            return
        if any(self._version_meta(case_id, n)["author_id"] == self.user_id
               for n in self._version_numbers(case_id)):
            return
        self.audit("access.denied", [case_id], details={
            "attempted": "proposal.generate", "reason": "before the reader's own version"})
        raise PermissionDenied(f"case {case_id}: save your own reading first; this workspace "
                               "shows proposals only after it (setting proposals_after_reading)")

    def load_labels(self, case_id: str, version: int | None = None) -> tuple[dict, LabelSet]:
        """A version's metadata and label set (the latest when ``version`` is None)."""
        self.require("label.read", [case_id])
        nums = self._visible_numbers(case_id)
        if version is not None and version not in nums and self._blinded() \
                and version in self._version_numbers(case_id):
            self.audit("access.denied", [case_id], details={"attempted": "label.read",
                                                            "version": version, "blinded": True})
            raise PermissionDenied(f"version {version} of case {case_id} is another reader's "
                                   "(blinded double reading)")
        if not nums:
            raise NotFoundError(f"case {case_id} has no label version yet")
        n = nums[-1] if version is None else version
        if n not in nums:
            raise NotFoundError(f"case {case_id} has no version {n}")
        meta, canon = self._read_version(case_id, n)
        if hashlib.sha256(canon).hexdigest() != meta["content_sha256"]:
            raise ComplianceError(f"case {case_id} version {n}: content hash mismatch")
        self.audit("label.open", [case_id], after=meta["content_sha256"], details={"version": n})
        return meta, records.from_canonical(canon)

    @contextmanager
    def edit_lock(self, case_id: str, timeout: float = 10.0):
        """Hold the case's edit lock; another process trying to save waits, then fails.

        Saves take it for their duration. A GUI may hold it for a whole editing session
        (exclusive checkout across workstations). It is re-entrant within one thread of
        this session only: the viewer calls the session from worker threads too (ranking,
        the quality dashboard), and a worker must wait for a save on the GUI thread as
        another process would, not slip into the same case's critical section.
        """
        self._case_dir(case_id)
        local = self.__dict__.setdefault("_lock_owner", threading.local())
        held = local.__dict__.setdefault("cases", set())
        if case_id in held:
            yield
            return
        with fsio.locked(self.ws.root / "locks" / f"{case_id}.lock", f"case {case_id}", timeout):
            held.add(case_id)
            try:
                yield
            finally:
                held.discard(case_id)

    def save_labels(self, case_id: str, labels: LabelSet, parent: int | None = None,
                    message: str = "", lock_timeout: float = 10.0) -> dict:
        """Save a new immutable version; return its metadata (audited as ``label.save``).

        Waits up to ``lock_timeout`` seconds for another process's edit lock on the case.
        """
        self.require("label.save", [case_id])

        def choose_parent(nums):
            if parent is None:
                mine = [n for n in nums
                        if self._version_meta(case_id, n)["author_id"] == self.user_id]
                return mine[-1] if mine else (nums[-1] if nums and not self._blinded() else None)
            if parent not in self._visible_numbers(case_id):
                raise NotFoundError(f"case {case_id} has no version {parent} to build on")
            return parent

        return self._write_version(case_id, labels, choose_parent, {"message": message}, {},
                                   lock_timeout)

    def _write_version(self, case_id: str, labels: LabelSet, choose_parent, extra_meta: dict,
                       extra_details: dict, lock_timeout: float) -> dict:
        """Write the next version number under the edit lock and audit it as ``label.save``.

        The caller has checked the permission. ``choose_parent(version numbers)`` runs under
        the lock and returns the parent version (or None); ``extra_meta`` goes into the
        version's metadata, ``extra_details`` into the audit entry.
        """
        rec = self._case_record(case_id)
        labels.check(tuple(rec["shape"]))
        canon = records.canonical_parts(labels)  # zero-copy views: hashed, then compressed
        digest = records.content_hash(labels, canon)
        d = self._case_dir(case_id)
        fsio.remove_stale_tmp(d / "v")
        with self.edit_lock(case_id, lock_timeout):
            self._recover_unaudited(case_id)
            nums = self._version_numbers(case_id)
            parent = choose_parent(nums)
            before = self._version_meta(case_id, parent)["content_sha256"] if parent else None
            n = (nums[-1] if nums else 0) + 1
            while True:
                meta = {"version": n, "parent": parent, "author_id": self.user_id,
                        "author": self.name, "created": utc_now(), "content_sha256": digest,
                        **extra_meta}
                plain = records.pack(meta, canon)
                if self.ws.write_object(self._keys, self.key_gen, f"case/{case_id}/labels", n,
                                        d / "v" / _vname(n), plain, create_only=True):
                    break
                n += 1  # someone bypassed the lock and took n: never overwrite
            self.audit("label.save", [case_id], before=before, after=digest,
                       details={"version": n, "parent": parent,
                                "segments": len(labels.segments), **extra_details})
            fsio.atomic_create(d / "v" / f"{n:06d}.audited", b"")
        return meta

    def _recover_unaudited(self, case_id: str) -> None:
        """Audit versions whose writer was killed between the version and its audit entry.

        A ``v/<n>.audited`` marker follows each ``label.save`` entry; a version without
        one and without an entry in the log since it was created gets a ``label.save``
        entry now, flagged ``recovered`` and naming its author. Called under the case's
        edit lock.
        """
        vdir = self._case_dir(case_id) / "v"
        for n in self._version_numbers(case_id):
            if not (vdir / f"{n:06d}.audited").exists():
                meta = self._version_meta(case_id, n)
                if self.ws.audit_log.find_recent(
                        self._audit_keys, meta["created"],
                        lambda e: e.get("action") == "label.save"
                        and e.get("objects") == [case_id]
                        and e.get("details", {}).get("version") == n):
                    # Killed between its audit entry and the marker: the entry exists.
                    fsio.atomic_create(vdir / f"{n:06d}.audited", b"")
                    continue
                before = (self._version_meta(case_id, meta["parent"])["content_sha256"]
                          if meta["parent"] else None)
                self.audit("label.save", [case_id], before=before, after=meta["content_sha256"],
                           details={"version": n, "parent": meta["parent"], "recovered": True,
                                    "author_id": meta["author_id"]})
                fsio.atomic_create(vdir / f"{n:06d}.audited", b"")

    # -- autosave journal ----------------------------------------------------------------
    def _journal_path(self, case_id: str):
        self._case_dir(case_id)
        return self.ws.root / "journal" / self.user_id / f"{case_id}.enc"

    def journal_write(self, case_id: str, labels: LabelSet, base_version: int | None,
                      note: str = "") -> None:
        """Autosave unsaved edits (encrypted, atomic; called every few seconds, not audited)."""
        self.require("journal", [case_id])
        meta = {"base_version": base_version, "time": utc_now(), "note": note,
                "content_sha256": records.content_hash(labels)}
        self.ws.write_object(self._keys, self.key_gen, f"journal/{self.user_id}/{case_id}", 0,
                             self._journal_path(case_id),
                             records.pack(meta, records.canonical_bytes(labels)))

    def journal_read(self, case_id: str) -> tuple[dict, LabelSet] | None:
        """Unsaved edits left by a crash (metadata, labels), or None."""
        self.require("journal", [case_id])
        path = self._journal_path(case_id)
        if not path.exists():
            return None
        meta, canon = records.unpack(self.ws.read_object(
            self._keys, f"journal/{self.user_id}/{case_id}", 0, path))
        self.audit("journal.recover", [case_id], after=meta["content_sha256"],
                   details={"base_version": meta["base_version"]})
        return meta, records.from_canonical(canon)

    def pending_journals(self) -> list[str]:
        """Case ids with unsaved edits of this user left by a crash (offer to recover them)."""
        self.require("journal")
        folder = self.ws.root / "journal" / self.user_id
        return sorted(p.stem for p in folder.glob("*.enc")) if folder.is_dir() else []

    def journal_discard(self, case_id: str) -> None:
        self.require("journal", [case_id])
        self._journal_path(case_id).unlink(missing_ok=True)
