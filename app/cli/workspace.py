"""``annotrace workspace init|rotate-keys|settings``, and the shared login helpers.

Passwords are read from a prompt (getpass) or, for automation, from the first
line of ``--password-file``; never from the command line or the environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.errors import UsageError
from compliance.roles import DEFAULT_SETTINGS


def read_password_file(path: str, what: str = "password") -> str:
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline().rstrip("\r\n")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what} file ({exc.strerror})") from None
    if not line:
        raise UsageError(f"{path}: the {what} file is empty")
    return line


def prompt_password(prompt: str, confirm: bool = False) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for a password; use --password-file FILE")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat: ") != first:
        raise UsageError("the two passwords differ")
    return first


def password(args, prompt: str = "Password: ") -> str:
    """The login password: from ``--password-file`` or a prompt."""
    if getattr(args, "password_file", None):
        return read_password_file(args.password_file)
    return prompt_password(prompt)


def new_password(args, who: str) -> str:
    """A new password for ``who``: ``--new-password-file`` or a prompt asked twice."""
    if getattr(args, "new_password_file", None):
        return read_password_file(args.new_password_file, "new password")
    return prompt_password(f"New password for {who}: ", confirm=True)


class _RefusePassword(argparse.Action):
    """``--password VALUE`` is refused without echoing VALUE (argparse would print it)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("passwords are never taken on the command line (they would stay in the "
                     "shell history and the process list); use --password-file FILE or the "
                     "prompt")


def refuse_password_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password", "--new-password", "--pass", "--passwd", "--pw", nargs="?",
                   action=_RefusePassword, help=argparse.SUPPRESS)


def add_auth(p: argparse.ArgumentParser) -> None:
    """``--user`` and ``--password-file`` (every command on a workspace authenticates)."""
    refuse_password_option(p)
    p.add_argument("--user", required=True, help="your user name in the workspace")
    p.add_argument("--password-file", metavar="FILE",
                   help="read the password from the first line of FILE (for automation; "
                        "keep the file private). Without it the password is asked for.")


def open_session(args, path=None):
    """Open the workspace named by ``args.workspace`` and log in (audited)."""
    return _login(Path(path or args.workspace), args.user, password(args))


def _login(path: Path, user: str, pw: str):
    """Log in to the workspace at ``path``; a refused login names the workspace (the reason
    stays "wrong user name or password": which of the two is never said)."""
    from app.settings import open_workspace
    from compliance.errors import AuthenticationError

    ws = open_workspace(path)
    try:
        return ws.login(user, pw)
    except AuthenticationError as exc:
        raise type(exc)(f"{path}: {exc}") from None  # locked-out and disabled stay so


def register(subparsers) -> None:
    p = subparsers.add_parser("workspace", allow_abbrev=False,
                              help="create and administer an encrypted workspace")
    sub = p.add_subparsers(dest="workspace_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", allow_abbrev=False,
                          help="create a workspace with its first administrator",
                          description="Create an encrypted workspace in DIR (new or empty) "
                                      "and its administrator account.")
    init.add_argument("dir")
    init.add_argument("--admin", required=True, metavar="NAME", help="administrator user name")
    refuse_password_option(init)
    init.add_argument("--password-file", metavar="FILE",
                      help="the administrator's password (first line); asked twice otherwise")
    init.set_defaults(func=run_init)
    rot = sub.add_parser("rotate-keys", allow_abbrev=False,
                         help="replace the workspace key (admin)",
                         description="Generate a new workspace key and re-wrap every object's "
                                     "data key under it (object data is not re-encrypted).")
    rot.add_argument("workspace")
    add_auth(rot)
    rot.add_argument("--revoke-old-slots", action="store_true",
                     help="invalidate every other user's key slot (they need reset-password)")
    rot.set_defaults(func=run_rotate)
    st = sub.add_parser("settings", allow_abbrev=False, help="show or change a setting (admin)")
    st.add_argument("workspace")
    add_auth(st)
    st.add_argument("--set", nargs=2, metavar=("KEY", "VALUE"),
                    help="one of: " + ", ".join(DEFAULT_SETTINGS))
    st.set_defaults(func=run_settings)


def run_init(args) -> int:
    from compliance.workspace import Workspace

    if args.password_file:
        pw = read_password_file(args.password_file)
    else:
        pw = prompt_password(f"Password for {args.admin}: ", confirm=True)
    from app.settings import site_security_policy

    ws = Workspace.create(Path(args.dir), args.admin, pw, site_policy=site_security_policy())
    print(f"created workspace {args.dir} (id {ws.meta['workspace_id']}), administrator "
          f"{args.admin}")
    return 0


def run_rotate(args) -> int:
    pw = password(args)
    session = _login(Path(args.workspace), args.user, pw)
    with session:
        n = session.rotate_keys(pw, revoke_old_slots=args.revoke_old_slots)
        print(f"key generation {session.key_gen}: re-wrapped {n} objects")
    return 0


def run_settings(args) -> int:
    with open_session(args) as session:
        if args.set:
            key, value = args.set
            try:
                number = int(value)
            except ValueError:
                raise UsageError(f"setting {key}: {value!r} is not a whole number") from None
            session.change_setting(key, number)
        else:
            session.audit("settings.read")
        for key, value in sorted(session.ws.settings.items()):
            print(f"{key} = {value}")
    return 0
