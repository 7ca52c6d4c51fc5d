"""Model versions and registered bundles kept inside a workspace, encrypted.

Functions taking a logged-in :class:`~compliance.session.Session` (no mixin: the session
class stays as it is). Nothing here imports torch or reads a model: the weights are bytes
to this layer, the caller (``app``) turns them into a network.

Layout (no model name, case id or weights byte in any plaintext file name or file):

``models/v/<random 16 hex>.enc``
    One immutable object per model version (object id ``model/<id>``, version 0):
    :func:`records.pack` of the version's record (name, version, parent, task, labels,
    modality, training and validation case ids, validation Dice, weights SHA-256, created,
    created_by) and the weights bytes. The record sits in the first chunk, so listing
    versions decrypts no weights.
``models/bundles.enc``
    The registered MONAI bundles: ``{name: {"folder", "files": {path: sha256},
    "weights_sha256"}}``, the same content as :class:`models.bundle_registry.BundleRegistry`'s
    JSON file; object id ``model-bundles``, versioned by its revision.

Every operation is permission-checked and audited: ``model.train`` (a version registered
from fine-tuning: parent, training cases, validation Dice, weights hash), ``model.register``
(a bundle pinned), ``model.list``, ``model.read`` (weights decrypted for a proposal or as a
parent).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from compliance import fsio, records
from compliance.audit import utc_now
from compliance.errors import ComplianceError, IntegrityError, NotFoundError

#: record fields a caller must give when registering a version
REQUIRED = ("name", "parent", "task", "labels", "modality", "training_cases",
            "validation_cases", "validation_dice")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _dir(session, sub: str):
    return session.ws.root / "models" / sub


def check_model_name(name: str) -> None:
    """Model names are what ``--model`` takes: no '@', no spaces, no path separators."""
    if not _NAME.match(name or ""):
        raise ComplianceError(f"model name {name!r} must be 1-64 letters, digits, '.', '_' or "
                              "'-', starting with a letter or digit")


def _record_of(session, path) -> dict:
    mid = path.stem
    meta = records.unpack_meta(session.ws.read_object_prefix(
        session._keys, f"model/{mid}", 0, path))
    if meta.get("model_version_id") != mid:
        raise IntegrityError(f"models/v/{path.name}: record names another model version")
    return meta


def _all_versions(session) -> list[dict]:
    folder = _dir(session, "v")
    out = [_record_of(session, p) for p in sorted(folder.glob("*.enc"))] \
        if folder.is_dir() else []
    return sorted(out, key=lambda r: (r["name"], int(r["version"])))


def register_version(session, record: dict, weights: bytes) -> dict:
    """Store a fine-tuned model version (audited as ``model.train``); return its record.

    Parameters
    ----------
    session : Session
    record : dict
        At least :data:`REQUIRED`; ``parent`` is ``{"model_id", "weights_sha256"}``,
        ``labels`` a list of ``{"value", "name", ...}``, ``validation_dice`` ``{case id:
        dice}``. Free-form extra fields (``steps``, ``seed``, ``holdout``) are kept.
    weights : bytes
        The serialized state dict; its SHA-256 becomes ``weights_sha256``.

    Returns
    -------
    dict
        The stored record, with ``model_version_id`` (random), ``version`` (the next number
        for ``name`` in this workspace), ``weights_sha256``, ``created``, ``created_by``.
    """
    session.require("model.train", list(record.get("training_cases", ())))
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ComplianceError(f"model version record lacks {', '.join(missing)}")
    check_model_name(record["name"])
    digest = hashlib.sha256(weights).hexdigest()
    if record.get("weights_sha256") not in (None, digest):
        raise IntegrityError(f"model {record['name']}: weights do not match their SHA-256")
    dice = record["validation_dice"]
    parent_dice = record.get("parent_validation_dice") or {}
    folder = _dir(session, "v")
    folder.mkdir(parents=True, exist_ok=True)
    # The version number is decided under a lock: two workstations training at once get
    # consecutive numbers, never the same one.
    with fsio.locked(session.ws.root / "locks" / "models.lock", "the model store"):
        taken = [int(r["version"]) for r in _all_versions(session)
                 if r["name"] == record["name"]]
        mid = secrets.token_hex(8)
        meta = {**record, "model_version_id": mid, "version": str(max(taken, default=0) + 1),
                "weights_sha256": digest, "weights_bytes": len(weights),
                "mean_validation_dice": (round(sum(dice.values()) / len(dice), 4)
                                         if dice else None),
                "mean_parent_validation_dice": (
                    round(sum(parent_dice.values()) / len(parent_dice), 4)
                    if parent_dice else None),
                "created": utc_now(), "created_by": session.name,
                "created_by_id": session.user_id}
        if not session.write_private(f"model/{mid}", 0, folder / f"{mid}.enc",
                                     records.pack(meta, weights), create_only=True):
            raise ComplianceError(f"model version id {mid} already taken")  # 2^-64
    session.audit("model.train", [mid, *record["training_cases"]], after=digest, details={
        "model": f"{meta['name']}@{meta['version']}", "parent": record["parent"],
        "training_cases": list(record["training_cases"]),
        "validation_cases": list(record["validation_cases"]),
        "validation_dice": dice, "mean_validation_dice": meta["mean_validation_dice"],
        "mean_parent_validation_dice": meta["mean_parent_validation_dice"],
        "weights_sha256": digest})
    return meta


def list_versions(session) -> list[dict]:
    """Records of every model version in the workspace (audited as ``model.list``)."""
    session.require("model.list")
    out = _all_versions(session)
    session.audit("model.list", details={"versions": len(out)})
    return out


def find_version(session, ref: str) -> dict | None:
    """The record ``ref`` names: ``NAME@VERSION``, ``NAME`` (its latest version) or a
    model version id; None when the workspace holds no such model."""
    session.require("model.list")
    versions = _all_versions(session)
    name, _, version = ref.partition("@")
    for r in versions:
        if ref == r["model_version_id"] or (version and (r["name"], r["version"]) ==
                                            (name, version)):
            return r
    same = [r for r in versions if r["name"] == ref]
    return same[-1] if same else None


def read_weights(session, ref: str, action: str = "proposal.generate") -> tuple[dict, bytes]:
    """Decrypt a version's weights into memory (audited as ``model.read``).

    ``action`` is the permission the use needs (``proposal.generate`` to run it,
    ``model.train`` to fine-tune from it). Raises IntegrityError when the weights do not
    hash to the recorded SHA-256 (the AEAD makes that unlikely short of a bug).
    """
    session.require(action)
    record = find_version(session, ref)
    if record is None:
        raise NotFoundError(f"no model {ref!r} in this workspace")
    mid = record["model_version_id"]
    meta, weights = records.unpack(session.read_private(
        f"model/{mid}", 0, _dir(session, "v") / f"{mid}.enc"))
    if hashlib.sha256(weights).hexdigest() != meta["weights_sha256"]:
        raise IntegrityError(f"model {meta['name']}@{meta['version']}: weights do not match "
                             "their recorded SHA-256")
    session.audit("model.read", [mid], after=meta["weights_sha256"],
                  details={"model": f"{meta['name']}@{meta['version']}", "for": action})
    return meta, weights


# -- registered bundles ------------------------------------------------------------------
def _bundles_path(session):
    return session.ws.root / "models" / "bundles.enc"


def read_bundles(session) -> dict:
    """``{name: {"folder", "files", "weights_sha256"}}`` of the registered bundles."""
    session.require("model.list")
    path = _bundles_path(session)
    if not path.exists():
        return {}
    return json.loads(session.read_private("model-bundles", None, path))["bundles"]


def write_bundles(session, bundles: dict, changed: str) -> None:
    """Replace the registered bundles (admins only; audited as ``model.register``).

    ``changed`` is the bundle name registered or removed; its pins go into the audit entry.
    """
    session.require("model.register")
    path = _bundles_path(session)
    path.parent.mkdir(parents=True, exist_ok=True)
    with fsio.locked(session.ws.root / "locks" / "models.lock", "the model store"):
        revision = 1
        if path.exists():
            revision = json.loads(session.read_private(
                "model-bundles", None, path))["revision"] + 1
        session.write_private("model-bundles", revision, path,
                              json.dumps({"revision": revision, "bundles": bundles}).encode())
    entry = bundles.get(changed)
    pins = hashlib.sha256(json.dumps(entry["files"], sort_keys=True).encode()).hexdigest() \
        if entry else None
    session.audit("model.register", [changed], after=pins, details={
        "bundle": changed, "removed": entry is None,
        "files": len(entry["files"]) if entry else 0,
        "weights_sha256": entry["weights_sha256"] if entry else None})
