"""Crash-safe file writes and inter-process locks for a workspace folder.

Atomic write: write a temporary file in the same folder, fsync it, then
``rename`` (replace) or ``link`` (create-only) it into place and fsync the
folder, so that after a crash a reader sees the old file or the new one,
never a mix.

Locks: a lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local
disks and on NFSv3+/SMB shares, unlike ``fcntl`` locks over some network file
systems) holding the owner's host, pid and time. A lock left by a killed
process on the same host (its pid no longer alive) is stale and is broken;
a lock held by another host is honoured until an administrator removes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from compliance.errors import BusyError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_tmp(path: Path, data: bytes) -> Path:
    tmp = path.parent / f".tmp-{path.name}-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def atomic_replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, replacing any previous content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_tmp(path, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_create(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically only if ``path`` does not exist yet.

    Returns False (and writes nothing) when another writer got there first; an
    immutable version is therefore never overwritten, even without a lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_tmp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)
    return True


def remove_stale_tmp(folder: Path) -> None:
    """Remove temporary files a killed writer left behind (they were never visible)."""
    if folder.is_dir():
        for p in folder.glob(".tmp-*"):
            p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}


def try_break_stale(lock: Path, max_age: float | None = None) -> bool:
    """Remove ``lock`` if its owner was a process of this host that no longer runs.

    With ``max_age`` (for locks only ever held for moments, like the audit log's), a
    lock older than that is broken too, whichever host holds it: a workstation that
    crashed while holding it must not block the share for ever.
    """
    try:
        owner = json.loads(lock.read_text())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        # A lock file torn by a crash between create and write: stale if old enough.
        try:
            if time.time() - lock.stat().st_mtime > 5:
                lock.unlink(missing_ok=True)
                return True
        except FileNotFoundError:
            return True
        return False
    if owner.get("host") == socket.gethostname() and not _alive(int(owner.get("pid", -1))):
        lock.unlink(missing_ok=True)
        return True
    if max_age is not None and time.time() - float(owner.get("time", 0)) > max_age:
        lock.unlink(missing_ok=True)
        return True
    return False


def acquire(lock: Path, what: str, timeout: float = 10.0, max_age: float | None = None) -> None:
    """Create ``lock`` exclusively, waiting up to ``timeout`` seconds (see try_break_stale)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if try_break_stale(lock, max_age):
                continue
            if time.monotonic() >= deadline:
                raise BusyError(f"{what} is locked by another process ({lock.name}); "
                                "try again later") from None
            time.sleep(0.02)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(_owner(), f)
        return


def release(lock: Path) -> None:
    lock.unlink(missing_ok=True)


@contextmanager
def locked(lock: Path, what: str, timeout: float = 10.0, max_age: float | None = None):
    """Hold ``lock`` for the duration of a ``with`` block."""
    acquire(lock, what, timeout, max_age)
    try:
        yield
    finally:
        release(lock)
