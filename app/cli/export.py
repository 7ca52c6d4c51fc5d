"""``annotrace export WORKSPACE ...`` (signed, audited bundles) and ``annotrace export verify DIR``.

Exporting needs a reviewer or administrator login; the format must be one the site allows
(``allowed_export_formats`` in the site settings, :mod:`app.settings`). Verifying needs no
workspace: the bundle carries its signer's public key, and ``--public-key FILE`` or
``--workspace WS`` pins whose key it must be.
"""

from __future__ import annotations

import argparse
import sys

from app.cli.errors import UsageError
from app.cli.output import print_json
from app.cli.workspace import open_session, refuse_password_option


class VerificationFailed(Exception):
    """A bundle that differs from its signed manifest (exit code 1, like audit verify)."""

    exit_code = 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", allow_abbrev=False,
        help="export approved label sets as a signed bundle, or verify one",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="annotrace export WORKSPACE (--cases ID[,ID...] | --all) --format {seg,nifti} "
              "--out DIR [--deidentify] [--include-unapproved] [--allow-burned-in] --user U "
              "[--password-file F]\n       annotrace export verify DIR [--public-key FILE | "
              "--workspace WS] [--json]",
        description="Write the approved versions of cases as DICOM SEG (referencing the "
                    "source series) or NIfTI label maps, with manifest.json (SHA-256 of every "
                    "file, segments, annotators, reviewer signature, model versions, audit "
                    "head) and its detached signature manifest.sig.\n\n"
                    "'export verify DIR' checks every file and the signature and names what "
                    "differs (exit 0: verified; 1: a difference).")
    p.add_argument("target", metavar="WORKSPACE", help="the workspace (or the word 'verify')")
    p.add_argument("bundle", nargs="?", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--cases", metavar="ID[,ID...]", help="case ids, comma-separated")
    p.add_argument("--all", action="store_true", help="every approved case of the workspace")
    p.add_argument("--format", dest="fmt", choices=("seg", "nifti"),
                   help="seg: DICOM SEG (DICOM sources); nifti: label maps + JSON label table")
    p.add_argument("--out", metavar="DIR", help="new (or empty) output folder")
    p.add_argument("--deidentify", action="store_true",
                   help="DICOM PS3.15 Annex E Basic Profile (UIDs remapped, dates shifted)")
    p.add_argument("--include-unapproved", action="store_true",
                   help="export the latest version even when not approved (marked so)")
    p.add_argument("--allow-burned-in", action="store_true",
                   help="administrators: de-identify images with burned-in annotation anyway")
    p.add_argument("--retain-dates", action="store_true",
                   help="with --deidentify: keep dates (Retain Longitudinal Temporal "
                        "Information Full Dates Option) instead of shifting them")
    refuse_password_option(p)
    p.add_argument("--user", help="your user name in the workspace (export)")
    p.add_argument("--password-file", metavar="FILE",
                   help="read the password from the first line of FILE")
    p.add_argument("--public-key", metavar="FILE",
                   help="verify: the signer's Ed25519 public key (PEM, base64 or 32 bytes)")
    p.add_argument("--workspace", metavar="WS",
                   help="verify: pin the signer to this workspace's public key")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.target == "verify" and args.bundle:
        return run_verify(args)
    if args.bundle:
        raise UsageError(f"unexpected argument {args.bundle!r} (did you mean "
                         f"'annotrace export verify {args.bundle}'?)")
    return run_export(args)


# -- export ---------------------------------------------------------------------------------
def _case_ids(args) -> list[str] | None:
    if bool(args.cases) == bool(args.all):
        raise UsageError("name the cases: --cases ID[,ID...] or --all (one of them)")
    if args.all:
        return None
    ids = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not ids:
        raise UsageError("--cases: no case id given")
    return ids


def run_export(args) -> int:
    from app.settings import load_settings

    missing = [name for name, value in (("--format", args.fmt), ("--out", args.out),
                                        ("--user", args.user)) if not value]
    if missing:
        raise UsageError(f"export needs {', '.join(missing)}")
    ids = _case_ids(args)
    allowed = [str(f) for f in load_settings()["allowed_export_formats"]]
    if args.fmt not in allowed:
        raise UsageError(f"export format {args.fmt!r} is not allowed on this site "
                         f"(allowed_export_formats: {', '.join(allowed) or 'none'})")
    if args.retain_dates and not args.deidentify:
        raise UsageError("--retain-dates applies to --deidentify only")
    from compliance.export.workspace_export import export_cases

    args.workspace = args.target
    with open_session(args) as session:
        result = export_cases(session, ids, args.out, fmt=args.fmt,
                              deidentify=args.deidentify,
                              include_unapproved=args.include_unapproved,
                              allow_burned_in=args.allow_burned_in,
                              retain_longitudinal_dates=args.retain_dates)
    if args.json:
        print_json({"path": str(result.path), "cases": result.cases,
                    "versions": result.versions, "files": result.files,
                    "manifest_sha256": result.manifest_sha256, "skipped": result.skipped,
                    "audit_seq": result.audit_seq}, indent=2)
        return 0
    for skip in result.skipped:
        print(f"annotrace: skipped {skip['reason']}", file=sys.stderr)
    print(f"exported {len(result.cases)} case(s), {len(result.files)} file(s) to "
          f"{result.path} ({args.fmt}{', de-identified' if args.deidentify else ''}); "
          f"manifest sha256 {result.manifest_sha256}")
    return 0


# -- verify ---------------------------------------------------------------------------------
def _read_public_key(path: str) -> bytes:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the public key ({exc.strerror})") from None
    if len(data) == 32:
        return data
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise UsageError(f"{path}: not an Ed25519 public key (PEM)")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise UsageError(f"{path}: not an Ed25519 public key (PEM, base64 or 32 raw bytes)")
    return raw


def _workspace_key(path: str) -> bytes:
    from pathlib import Path

    from compliance.keys import b64d
    from compliance.workspace import Workspace

    return b64d(Workspace.open(Path(path)).meta["signing_public"])


def run_verify(args) -> int:
    from compliance.export.manifest import verify_bundle

    if args.public_key and args.workspace:
        raise UsageError("pin the signer with --public-key or --workspace, not both")
    key = (_read_public_key(args.public_key) if args.public_key
           else _workspace_key(args.workspace) if args.workspace else None)
    report = verify_bundle(args.bundle, key)
    if args.json:
        print_json({"ok": report.ok, "files_checked": report.files_checked,
                    "key_sha256": report.key_sha256, "key_pinned": report.key_pinned,
                    "problems": [{"kind": p.kind, "path": p.path, "detail": p.detail}
                                 for p in report.problems]}, indent=2)
    if not report.ok:
        if not args.json:
            for problem in report.problems:
                print(f"{args.bundle}: {problem}", file=sys.stderr)
        raise VerificationFailed(f"{args.bundle}: bundle does NOT verify ("
                                 f"{len(report.problems)} difference(s))")
    if not args.json:
        signer = ("the pinned key" if report.key_pinned else
                  "the key in the bundle (not pinned; use --workspace or --public-key to check "
                  "who signed it)")
        print(f"{report.files_checked} files verified; signature valid with {signer}, "
              f"key sha256 {report.key_sha256[:16]}")
    return 0
