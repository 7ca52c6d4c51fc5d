"""Password files and a command-line runner shared by the CLI tests of several folders.

The command line reads passwords from a file (``--password-file``), never from its
arguments; each test writes one file per user of its scenario into its own temporary folder.
"""

from __future__ import annotations

from pathlib import Path


def write_password_files(folder: Path, passwords: dict[str, str]) -> dict[str, Path]:
    """One ``<user>.pw`` file per entry of ``passwords`` in ``folder``; their paths by user."""
    files = {}
    for name, password in passwords.items():
        files[name] = Path(folder) / f"{name}.pw"
        files[name].write_text(password + "\n")
    return files


def cli_runner(files: dict[str, Path], capsys):
    """``run(*args, user=None) -> (exit code, stdout, stderr)`` of ``annotrace``; ``user``
    adds ``--user`` and that user's ``--password-file``. ``run.files`` holds the files."""
    from app.cli.main import main

    def run(*args, user=None):
        argv = [str(a) for a in args]
        if user:
            argv += ["--user", user, "--password-file", str(files[user])]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    run.files = files
    return run
