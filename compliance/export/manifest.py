"""Signed manifests of export bundles, and their verification.

A bundle is a folder of exported files plus ``manifest.json`` and its detached signature
``manifest.sig``. The manifest lists every file with its size and SHA-256, and per case the
segments, annotators, reviewer signature, model versions and quality metrics, and the hash of
the audit-log head at export time. ``manifest.sig`` is a small JSON document holding an
Ed25519 signature over the exact bytes of ``manifest.json`` together with the SHA-256 of those
bytes and of the signer's public key, so that a verifier can say *which* part differs: a file,
the manifest, the signature, or the key.

Keys are parameters (``cryptography`` Ed25519 key objects or raw 32-byte keys); the workspace
supplies them.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from compliance.export.errors import ExportError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "annotrace-bundle/1"
_CHUNK = 1 << 20


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _public_bytes(key) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                   Ed25519PublicKey)
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return bytes(key)
    raise ExportError("the key must be an Ed25519 key (object or 32 raw bytes)")


def _bundle_files(bundle: Path) -> list[str]:
    """Relative POSIX paths of every regular file in the bundle, except the manifest pair."""
    out = []
    for root, dirs, files in os.walk(bundle):
        dirs.sort()
        for name in sorted(files):
            rel = (Path(root) / name).relative_to(bundle).as_posix()
            if rel not in (MANIFEST, SIGNATURE):
                out.append(rel)
    return out


def build_manifest(bundle_dir, cases, *, audit_head_hash: str, exported_by: str = "",
                   created_utc: _dt.datetime | None = None, deidentified: bool = False,
                   extra: dict | None = None) -> dict:
    """Describe every file of ``bundle_dir`` and the cases they hold.

    Parameters
    ----------
    bundle_dir : path
        Folder holding the exported files (already written).
    cases : list of dict
        Per case: ``case`` (id, no PHI), ``files`` (paths relative to the bundle),
        ``segments`` (segment records), ``annotators`` (user ids), ``reviewer_signature``
        (the e-signature record, or None), ``model_versions`` (list), ``quality_metrics``
        (dict, or None when unknown). Any further keys (``version``, ``approved``,
        ``emergency_access``...) are kept as given (JSON values).
    audit_head_hash : str
        Hash of the audit log head at export.
    """
    bundle = Path(bundle_dir)
    if not bundle.is_dir():
        raise ExportError("bundle folder does not exist", bundle)
    files = _bundle_files(bundle)
    listed = {}
    for rel in files:
        p = bundle / rel
        listed[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    case_entries = []
    for n, case in enumerate(cases, 1):
        if not case.get("case"):
            raise ExportError(f"case {n} has no id")
        missing = [f for f in case.get("files", []) if f not in listed]
        if missing:
            raise ExportError(f"case {case['case']}: listed file {missing[0]} is not in the bundle")
        known = {"case", "files", "segments", "annotators", "reviewer_signature",
                  "model_versions", "quality_metrics"}
        case_entries.append({
            **{k: v for k, v in case.items() if k not in known},
            "case": str(case["case"]),
            "files": list(case.get("files", [])),
            "segments": list(case.get("segments", [])),
            "annotators": list(case.get("annotators", [])),
            "reviewer_signature": case.get("reviewer_signature"),
            "model_versions": list(case.get("model_versions", [])),
            "quality_metrics": case.get("quality_metrics"),
        })
    stamp = created_utc or _dt.datetime.now(_dt.timezone.utc)
    manifest = {"format": FORMAT, "created_utc": stamp.isoformat(), "exported_by": exported_by,
                "deidentified": bool(deidentified), "audit_head_hash": audit_head_hash,
                "files": listed, "cases": case_entries}
    if extra:
        manifest["extra"] = extra
    return manifest


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".annotrace-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_signed_manifest(bundle_dir, manifest: dict, private_key) -> tuple[Path, Path]:
    """Write ``manifest.json`` and its detached Ed25519 signature ``manifest.sig``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not isinstance(private_key, Ed25519PrivateKey):
        raise ExportError("the signing key must be an Ed25519 private key")
    bundle = Path(bundle_dir)
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    signature = {
        "algorithm": "Ed25519",
        "manifest_sha256": hashlib.sha256(data).hexdigest(),
        "public_key_sha256": hashlib.sha256(_public_bytes(private_key)).hexdigest(),
        # The key travels with the bundle so that anyone can check it; *whose* key it is
        # is a separate question: pin it (verify_bundle's public_key) to answer that.
        "public_key": base64.b64encode(_public_bytes(private_key)).decode("ascii"),
        "signature": base64.b64encode(private_key.sign(data)).decode("ascii"),
    }
    _atomic_write(bundle / MANIFEST, data)
    _atomic_write(bundle / SIGNATURE, (json.dumps(signature, indent=2) + "\n").encode())
    return bundle / MANIFEST, bundle / SIGNATURE


@dataclass(frozen=True)
class Problem:
    """One difference found by :func:`verify_bundle`.

    ``kind`` is one of: missing, extra, changed (a listed file), manifest (manifest.json
    altered or unreadable), signature (manifest.sig altered, unreadable or invalid), key
    (signed with another key).
    """

    kind: str
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_bundle`; ``ok`` only when nothing differs."""

    problems: list = field(default_factory=list)
    files_checked: int = 0
    #: SHA-256 of the public key the signature was checked with
    key_sha256: str = ""
    #: True when the caller pinned the key; False when the key came from the bundle itself
    key_pinned: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"bundle verified: {self.files_checked} files and the signature"
        return "; ".join(str(p) for p in self.problems)


def _check_signature(bundle: Path, data: bytes, public_key, report: VerifyReport) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig_path = bundle / SIGNATURE
    if not sig_path.is_file():
        report.problems.append(Problem("missing", SIGNATURE))
        return
    try:
        sig = json.loads(sig_path.read_text(encoding="utf-8"))
        raw = base64.b64decode(sig["signature"], validate=True)
        recorded_manifest, recorded_key = sig["manifest_sha256"], sig["public_key_sha256"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        report.problems.append(Problem("signature", SIGNATURE, "unreadable"))
        return
    key_bytes = _public_bytes(public_key)
    if recorded_key != hashlib.sha256(key_bytes).hexdigest():
        report.problems.append(Problem("key", SIGNATURE, "signed with another key, or altered"))
    if recorded_manifest != hashlib.sha256(data).hexdigest():
        report.problems.append(Problem("manifest", MANIFEST, "does not match its signature"))
        return
    try:
        Ed25519PublicKey.from_public_bytes(key_bytes).verify(raw, data)
    except InvalidSignature:
        if not any(p.kind == "key" for p in report.problems):
            report.problems.append(Problem("signature", SIGNATURE, "invalid signature"))


def embedded_public_key(bundle_dir) -> bytes | None:
    """The signer's public key that ``manifest.sig`` carries (None when absent or unreadable)."""
    try:
        sig = json.loads((Path(bundle_dir) / SIGNATURE).read_text(encoding="utf-8"))
        raw = base64.b64decode(sig["public_key"], validate=True)
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return raw if len(raw) == 32 else None


def verify_bundle(bundle_dir, public_key=None) -> VerifyReport:
    """Check every file of a bundle against its manifest, and the manifest's signature.

    Parameters
    ----------
    bundle_dir : path
    public_key : Ed25519PublicKey or bytes, optional
        The workspace's export public key (pins the signer). Without it the key carried in
        ``manifest.sig`` is used: that proves the bundle is intact as signed, not who
        signed it (``VerifyReport.key_pinned`` is then False).

    Returns
    -------
    VerifyReport
        ``ok`` when nothing differs; otherwise one :class:`Problem` per difference, each
        naming the file (missing, extra, changed file; manifest or signature tampered).
    """
    bundle = Path(bundle_dir)
    report = VerifyReport(key_pinned=public_key is not None)
    if not bundle.is_dir():
        raise ExportError("bundle folder does not exist", bundle)
    if public_key is None:
        public_key = embedded_public_key(bundle)
    if public_key is None:
        if (bundle / SIGNATURE).is_file():
            report.problems.append(Problem("key", SIGNATURE, "carries no public key; give "
                                                             "the signer's key"))
        else:
            report.problems.append(Problem("missing", SIGNATURE))
    else:
        report.key_sha256 = hashlib.sha256(_public_bytes(public_key)).hexdigest()
    manifest_path = bundle / MANIFEST
    if not manifest_path.is_file():
        report.problems.append(Problem("missing", MANIFEST))
        if not (bundle / SIGNATURE).is_file() and \
                not any(p.path == SIGNATURE for p in report.problems):
            report.problems.append(Problem("missing", SIGNATURE))
        return report
    data = manifest_path.read_bytes()
    if public_key is not None:  # without a key the files are still checked, and named
        _check_signature(bundle, data, public_key, report)
    try:
        manifest = json.loads(data)
        listed = manifest["files"]
        if not isinstance(listed, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        if not any(p.kind == "manifest" for p in report.problems):
            report.problems.append(Problem("manifest", MANIFEST, "unreadable"))
        return report
    present = set(_bundle_files(bundle))
    for rel in sorted(listed):
        entry = listed[rel]
        if rel not in present:
            report.problems.append(Problem("missing", rel))
            continue
        report.files_checked += 1
        if sha256_file(bundle / rel) != entry.get("sha256"):
            report.problems.append(Problem("changed", rel, "SHA-256 differs"))
    for rel in sorted(present - set(listed)):
        report.problems.append(Problem("extra", rel, "not in the manifest"))
    return report
