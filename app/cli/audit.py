"""``annotrace audit verify|show`` (auditors and administrators)."""

from __future__ import annotations

import json

from app.cli.workspace import add_auth, open_session
from app.cli.output import print_json


def register(subparsers) -> None:
    p = subparsers.add_parser("audit", allow_abbrev=False, help="verify or read the audit trail")
    sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ver = sub.add_parser("verify", allow_abbrev=False,
                         help="verify the hash chain, checkpoints and head",
                         description="Exit 0 printing the number of entries verified, or 1 "
                                     "naming the first entry that was modified, inserted, "
                                     "deleted, reordered or truncated.")
    ver.add_argument("workspace", metavar="DIR")
    ver.add_argument("--deep", action="store_true",
                     help="also check that every case, label version and review event the "
                          "trail records is still in the workspace with the recorded content "
                          "hash, and that the user table is the last recorded revision")
    ver.add_argument("--anchor", metavar="SEQ:HASH",
                     help="a head printed by an earlier verify and kept outside the workspace: "
                          "the log must still contain it (detects rewrites by key holders and "
                          "rollback of the whole workspace)")
    add_auth(ver)
    ver.set_defaults(func=run_verify)
    show = sub.add_parser("show", allow_abbrev=False, help="print verified entries, filtered")
    show.add_argument("workspace", metavar="DIR")
    show.add_argument("--by", metavar="USER", help="only entries by this user "
                                                   "(--user is the one logging in)")
    show.add_argument("--since", metavar="T", help="UTC time, ISO 8601 (e.g. 2026-11-28T09:00)")
    show.add_argument("--case", metavar="C", help="only entries about this case id")
    show.add_argument("--json", action="store_true")
    add_auth(show)
    show.set_defaults(func=run_show)


def parse_anchor(text: str) -> tuple[int, str]:
    from app.cli.errors import UsageError

    seq, _, h = text.partition(":")
    if not seq.isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise UsageError(f"--anchor {text!r}: expected SEQ:HASH as printed by audit verify")
    return int(seq), h


def run_verify(args) -> int:
    anchor = parse_anchor(args.anchor) if args.anchor else None
    with open_session(args) as s:
        n, entries = s.verify_audit(anchor, deep=args.deep)
        seq, h = s.ws.audit_log.head()
    print(f"audit trail verified: {n} entries ({n - len(entries)} checkpoints), head sealed"
          + ("; every recorded case, version and review event present and unchanged, "
             "user table at its recorded revision" if args.deep else ""))
    print(f"anchor: {seq}:{h}  (keep it outside the workspace; check later with --anchor)")
    return 0


def utc_since(text: str) -> str:
    """ISO 8601 (naive = UTC) -> the audit trail's own time format, for ordering."""
    from datetime import datetime, timezone

    from app.cli.errors import UsageError

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: not an ISO 8601 time (e.g. 2026-11-28T09:00 "
                         "or 2026-11-28T09:00+01:00)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_show(args) -> int:
    since = utc_since(args.since) if args.since else None
    with open_session(args) as s:
        entries = s.read_audit(user=args.by, since=since, case=args.case)
    if args.json:
        print_json({"entries": entries}, indent=1)
        return 0
    for e in entries:
        objs = ",".join(e.get("objects", []))
        details = json.dumps(e.get("details", {}), sort_keys=True)
        flag = " [no login]" if e.get("sealed_without_login") else ""
        print(f"{e['seq']:>6} {e['time']} {e['user'] or '-':<12} {e['role'] or '-':<9} "
              f"{e['action']:<22} {objs} {details}{flag}")
    return 0
