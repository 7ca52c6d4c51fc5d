"""Where the PACS password or token is kept: the OS keyring, else the encrypted workspace.

Settings files hold the URL and the kind of authentication, never a secret. The secret goes to

* the **OS keyring** (Windows Credential Manager, macOS Keychain, the Secret Service on a Linux
  desktop) under the service ``annotrace-pacs`` and the PACS URL as the entry name; or, where
  there is no usable keyring (a headless Linux workstation: keyring's ``fail`` backend, or a
  chainer with no backend behind it),
* the **encrypted workspace**, as one object per workspace user and PACS URL
  (``pacs/credentials/<user id>-<hash of the URL>.enc``), readable only after that user logged in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from app.pacs.client import PacsError

SERVICE = "annotrace-pacs"


@dataclass(frozen=True)
class Credential:
    """A PACS login. ``repr`` never shows the secret."""

    auth: str  # "basic" or "bearer"
    username: str = ""
    secret: str = field(default="", repr=False)

    def as_json(self) -> dict:
        return {"auth": self.auth, "username": self.username, "secret": self.secret}


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


def keyring_usable() -> bool:
    """True when the keyring package has a real backend (not ``fail``, not an empty chainer)."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except Exception:  # noqa: BLE001 - a broken keyring installation is "no keyring"
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001
        return False
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return False
    return getattr(backend, "priority", 1) > 0


def _object(session, url: str):
    digest = hashlib.sha256(normalise_url(url).encode()).hexdigest()[:24]
    name = f"{session.user_id}-{digest}"
    return f"pacs/credentials/{name}", session.ws.root / "pacs" / "credentials" / f"{name}.enc"


def save_credential(url: str, credential: Credential, session=None, where: str = "auto") -> str:
    """Store ``credential`` for ``url``; returns ``"keyring"`` or ``"workspace"``.

    ``where`` is "auto" (the keyring when usable, else the workspace), "keyring" or
    "workspace". Storing in the workspace needs a logged-in ``session`` and is audited as
    ``pacs.login`` (the kind of authentication and where it went; never the secret).
    """
    if credential.auth not in ("basic", "bearer"):
        raise PacsError(f"nothing to store for PACS authentication {credential.auth!r}")
    if not credential.secret:
        raise PacsError("the PACS password or token is empty")
    url = normalise_url(url)
    if where == "auto":
        where = "keyring" if keyring_usable() else "workspace"
    if where == "keyring":
        if not keyring_usable():
            raise PacsError("no usable OS keyring on this computer; keep the secret in the "
                            "workspace instead")
        import keyring

        try:
            keyring.set_password(SERVICE, url, json.dumps(credential.as_json()))
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own errors
            raise PacsError(f"OS keyring: cannot store the PACS secret ({type(exc).__name__})") \
                from None
    elif where == "workspace":
        if session is None:
            raise PacsError("no usable OS keyring on this computer: name a workspace (and "
                            "--user) to keep the PACS secret encrypted in it")
        session.require("pacs.query")
        oid, path = _object(session, url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Session keeps its keys private; the workspace's object API is what every other
        # encrypted record uses (cases, journals), so the secret gets the same protection.
        session.write_private(oid, 0, path,
                                json.dumps(credential.as_json()).encode())
    else:
        raise PacsError(f"unknown credential store {where!r} (auto, keyring, workspace)")
    if session is not None:
        session.audit("pacs.login", details={"url": url, "auth": credential.auth,
                                             "store": where})
    return where


def load_credential(url: str, session=None) -> tuple[Credential, str] | None:
    """The stored credential for ``url`` and where it came from, or None.

    The keyring is asked first (when usable), then the workspace (when a session is given).
    """
    url = normalise_url(url)
    if keyring_usable():
        import keyring

        try:
            text = keyring.get_password(SERVICE, url)
        except Exception as exc:  # noqa: BLE001
            raise PacsError(f"OS keyring: cannot read the PACS secret ({type(exc).__name__})") \
                from None
        if text:
            return _parse(text, "OS keyring"), "keyring"
    if session is not None:
        oid, path = _object(session, url)
        if path.exists():
            session.require("pacs.query")
            return _parse(session.read_private(oid, 0, path).decode(),
                          "workspace"), "workspace"
    return None


def forget_credential(url: str, session=None) -> list[str]:
    """Delete the stored credential for ``url`` from the keyring and/or the workspace.

    Returns where one was removed (audited as ``pacs.logout`` when a session is given).
    """
    url = normalise_url(url)
    removed = []
    if keyring_usable():
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            if keyring.get_password(SERVICE, url) is not None:
                keyring.delete_password(SERVICE, url)
                removed.append("keyring")
        except PasswordDeleteError:
            pass
    if session is not None:
        _, path = _object(session, url)
        if path.exists():
            path.unlink()
            removed.append("workspace")
        session.audit("pacs.logout", details={"url": url, "removed": removed})
    return removed


def _parse(text: str, where: str) -> Credential:
    try:
        d = json.loads(text)
        return Credential(str(d["auth"]), str(d.get("username", "")), str(d["secret"]))
    except (ValueError, KeyError, TypeError):
        raise PacsError(f"{where}: the stored PACS credential is not in annotrace's format; "
                        "run 'annotrace pacs login' again") from None
