"""The ``annotrace`` command line.

Each sub-command lives in its own module of :mod:`app.cli` that defines
``register(subparsers)``; the module is imported only when its command is
named, so ``annotrace info`` never pays for Qt, torch or MONAI.

Errors meant for the user carry an ``exit_code`` attribute (see
:mod:`app.cli.errors`): they are printed as one line, ``annotrace: <message>``,
and the process exits with that code (2 for usage and input errors). Anything
else is a bug: one line plus the hint to re-run with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command name -> module under app.cli that registers it.  A module that is not there
# yet (a capability still being built) is simply not offered.
COMMAND_MODULES: dict[str, str] = {
    "info": "info",
    "convert": "convert",
    "view": "view",
    "workspace": "workspace",
    "user": "users",
    "case": "cases",
    "label": "labels",
    "review": "review",
    "audit": "audit",
    "propose": "propose",
    "models": "models_cmd",
    "train": "train",
    "quality": "quality",
    "agreement": "agreement",
    "calibrate": "calibrate",
    "autolabel": "autolabel",
    "rank": "rank",
    "drift": "drift",
    "export": "export",
    "pacs": "pacs",
    "settings": "settings_cmd",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("annotrace")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _load(name: str):
    try:
        return importlib.import_module(f"app.cli.{COMMAND_MODULES[name]}")
    except ModuleNotFoundError as exc:
        if exc.name == f"app.cli.{COMMAND_MODULES[name]}":
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; with ``only`` set, import just that command's module."""
    parser = argparse.ArgumentParser(
        prog="annotrace",
        description="Annotate 3D medical images: linked views, MONAI proposals, "
        "encrypted annotations with a tamper-evident audit trail.",
    )
    parser.add_argument("--version", action="version", version=f"annotrace {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = [only] if only else list(COMMAND_MODULES)
    for name in names:
        module = _load(name)
        if module is not None:
            module.register(sub)
    return parser


def _command_named(argv: list[str]) -> str | None:
    for arg in argv:
        if arg.startswith("-"):
            continue
        return arg if arg in COMMAND_MODULES else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``annotrace`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # without building every command's parser (imports)
        print(f"annotrace {_version()}")
        return 0
    command = _command_named(argv)
    wants_help = any(a in ("-h", "--help") for a in argv) and command is None
    if command is None and not wants_help and not any(a == "--version" for a in argv):
        # No sub-command: the GUI, optionally on a path (``annotrace`` or ``annotrace PATH``).
        argv = ["view", *argv]
        command = "view"
    parser = build_parser(only=None if wants_help else command)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("annotrace: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        code = getattr(exc, "exit_code", None)
        if code is not None:
            print(f"annotrace: {exc}", file=sys.stderr)
            return int(code)
        if args.debug:
            raise
        print(f"annotrace: internal error: {type(exc).__name__}: {exc} (re-run with --debug)",
              file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
