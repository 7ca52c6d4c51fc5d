"""``annotrace user add|disable|reset-password|list`` (administrators)."""

from __future__ import annotations


from app.cli.workspace import add_auth, new_password, open_session
from app.cli.output import print_json


def register(subparsers) -> None:
    p = subparsers.add_parser("user", allow_abbrev=False,
                              help="manage the users of a workspace (admin)")
    sub = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", allow_abbrev=False, help="add a user with a role")
    add.add_argument("workspace")
    add.add_argument("name")
    add.add_argument("--role", required=True,
                     choices=["annotator", "reviewer", "admin", "auditor"])
    add.add_argument("--new-password-file", metavar="FILE",
                     help="the new user's initial password (asked twice otherwise)")
    add_auth(add)
    add.set_defaults(func=run_add)
    dis = sub.add_parser("disable", allow_abbrev=False,
                         help="disable a user (their key slot is destroyed)")
    dis.add_argument("workspace")
    dis.add_argument("name")
    add_auth(dis)
    dis.set_defaults(func=run_disable)
    rst = sub.add_parser("reset-password", allow_abbrev=False,
                         help="set a new password (re-enables the account)")
    rst.add_argument("workspace")
    rst.add_argument("name")
    rst.add_argument("--new-password-file", metavar="FILE")
    add_auth(rst)
    rst.set_defaults(func=run_reset)
    lst = sub.add_parser("list", allow_abbrev=False, help="list users and roles")
    lst.add_argument("workspace")
    lst.add_argument("--json", action="store_true")
    add_auth(lst)
    lst.set_defaults(func=run_list)


def run_add(args) -> int:
    with open_session(args) as s:
        uid = s.add_user(args.name, args.role, new_password(args, args.name))
    print(f"added {args.name} ({args.role}), user id {uid}")
    return 0


def run_disable(args) -> int:
    with open_session(args) as s:
        s.disable_user(args.name)
    print(f"disabled {args.name}")
    return 0


def run_reset(args) -> int:
    with open_session(args) as s:
        s.reset_password(args.name, new_password(args, args.name))
    print(f"new password set for {args.name}")
    return 0


def run_list(args) -> int:
    with open_session(args) as s:
        users = s.list_users()
    if args.json:
        print_json({"users": users}, indent=2)
        return 0
    for u in users:
        flags = " ".join(f for f, on in (("disabled", u["disabled"]),
                                         ("locked-out", u["locked_out"])) if on)
        print(f"{u['name']:<20} {u['role']:<10} {u['user_id']}  {flags}".rstrip())
    return 0
