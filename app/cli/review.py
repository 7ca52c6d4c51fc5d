"""``annotrace review submit|approve|request-changes|show``."""

from __future__ import annotations


from app.cli.workspace import add_auth, open_session, password
from app.cli.output import print_json


def register(subparsers) -> None:
    p = subparsers.add_parser("review", allow_abbrev=False,
                              help="submit, approve (e-signature) or send back a case")
    sub = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    for name, helptext in (("submit", "submit a version for review (annotators)"),
                           ("approve", "approve with an electronic signature (reviewers); "
                                       "asks for the password again"),
                           ("request-changes", "send the submitted version back (reviewers)"),
                           ("show", "the review state and history of a case")):
        q = sub.add_parser(name, allow_abbrev=False, help=helptext)
        q.add_argument("workspace")
        q.add_argument("case")
        if name == "submit":
            q.add_argument("--version", type=int, metavar="N", help="default: the latest")
        if name == "approve":
            q.add_argument("--meaning", default="approved as reference standard",
                           help="what the signature means (recorded and signed)")
        if name == "request-changes":
            q.add_argument("--meaning", "--reason", dest="reason", default="",
                           help="why (kept encrypted with the case)")
        if name == "show":
            q.add_argument("--json", action="store_true")
        add_auth(q)
        q.set_defaults(func=run, action=name)


def run(args) -> int:
    with open_session(args) as s:
        if args.action == "submit":
            ev = s.submit(args.case, args.version)
            print(f"case {args.case}: version {ev['version']} submitted for review")
        elif args.action == "approve":
            # Re-authentication for the signature (21 CFR 11.200): asked again, or read
            # again from the password file in automation.
            again = password(args, prompt="Password again to sign: ")
            ev = s.approve(args.case, again, args.meaning)
            print(f"case {args.case}: version {ev['version']} approved by {ev['signer']} at "
                  f"{ev['time']} ({ev['meaning']}); signature {ev['signature'][:16]}...")
        elif args.action == "request-changes":
            ev = s.request_changes(args.case, args.reason)
            print(f"case {args.case}: changes requested on version {ev['version']}")
        else:
            st = s.review_state(args.case)
            for ev in st["events"]:
                if ev["event"] == "approve":
                    ev["signature_valid"] = s.verify_approval(ev)
            if args.json:
                print_json(st, indent=2)
            else:
                print(f"case {args.case}: {st['state']} (version {st['version']})")
                for ev in st["events"]:
                    extra = (f" '{ev['meaning']}' signature "
                             f"{'valid' if ev['signature_valid'] else 'INVALID'}"
                             if ev["event"] == "approve" else "")
                    print(f"  {ev['time']}  {ev['event']:<16} v{ev['version']}  "
                          f"{ev['user']}{extra}")
    return 0
