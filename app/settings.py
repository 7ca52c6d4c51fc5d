"""Site-wide settings that admins set, and per-user preferences.

Precedence, lowest first: built-in defaults, the site file, the user's own preferences, and
finally every value the site *locks* (users cannot override those).

* Site file: ``$ANNOTRACE_SITE_CONFIG`` or ``/etc/annotrace/site.toml`` (Windows:
  ``%PROGRAMDATA%\\annotrace\\site.toml``), written by IT::

      locked = ["auto_lock_minutes", "allowed_export_formats"]

      [settings]
      workspace_location = "/srv/annotrace/workspaces/neuro"
      auto_lock_minutes = 5
      allowed_export_formats = ["seg"]

* User preferences: ``settings.toml`` in the platform's per-user config folder
  (``platformdirs.user_config_dir("annotrace")``), or ``$ANNOTRACE_USER_CONFIG``.

No secret ever lives in these files: PACS credentials go to the OS keyring or the encrypted
workspace.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SettingsError(Exception):
    """A settings file or value that cannot be used (exit code 2)."""

    exit_code = 2


#: name -> (default, type, help)
DEFAULTS: dict[str, tuple[Any, type, str]] = {
    "workspace_location": ("", str, "folder of the workspace to open at start"),
    "auto_lock_minutes": (10, int, "lock the session after this many idle minutes"),
    "password_min_length": (12, int, "shortest password accepted"),
    "lockout_attempts": (5, int, "failed logins before a user is locked out"),
    "lockout_minutes": (15, int, "how long a locked-out user waits"),
    "blind_spot_checks": (1, int, "1: spot checks of auto-accepted cases open without the "
                                  "automatic label (from the site file: forced on)"),
    "model_directory": ("", str, "folder of site MONAI bundles and models"),
    "allowed_export_formats": (["seg", "nifti"], list, "export formats users may choose"),
    "pacs_url": ("", str, "DICOMweb base URL of the PACS"),
    "pacs_auth": ("none", str, "PACS authentication: none, basic or bearer"),
    "pacs_ca_bundle": ("", str, "CA bundle (PEM) for the hospital's certificates"),
    "autosave_seconds": (5, int, "seconds between encrypted autosave journal writes"),
    "undo_memory_mb": (512, int, "memory the undo history may hold"),
}


def site_config_path() -> Path:
    env = os.environ.get("ANNOTRACE_SITE_CONFIG")
    if env:
        return Path(env)
    if sys.platform == "win32":  # pragma: no cover - documented for the Windows build
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "annotrace" / "site.toml"
    return Path("/etc/annotrace/site.toml")


def user_config_path() -> Path:
    env = os.environ.get("ANNOTRACE_USER_CONFIG")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("annotrace", appauthor=False)) / "settings.toml"


def _coerce(name: str, value: Any, source: Path) -> Any:
    if name not in DEFAULTS:
        raise SettingsError(f"{source}: unknown setting {name!r}")
    kind = DEFAULTS[name][1]
    if kind is int and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise SettingsError(f"{source}: {name} must be a whole number, not {value!r}") from None
    if kind is list and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SettingsError(f"{source}: {name} must be {kind.__name__}, not {value!r}")
    if kind is int and value < 0:
        raise SettingsError(f"{source}: {name} must not be negative")
    return value


def _read_toml(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read ({exc.strerror})") from None


@dataclass
class Settings:
    """The effective settings, with where each value came from."""

    values: dict[str, Any]
    origin: dict[str, str]
    locked: frozenset[str] = field(default_factory=frozenset)
    site_path: Path | None = None
    user_path: Path | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_json(self) -> dict:
        return {name: {"value": self.values[name], "from": self.origin[name],
                       "locked": name in self.locked} for name in DEFAULTS}


def load_settings(site_path: Path | None = None, user_path: Path | None = None) -> Settings:
    """Read the site file and the user's preferences and merge them."""
    site_path = site_path or site_config_path()
    user_path = user_path or user_config_path()
    values = {name: default for name, (default, _, _) in DEFAULTS.items()}
    origin = {name: "default" for name in DEFAULTS}
    site = _read_toml(site_path)
    site_values = site.get("settings", {})
    locked = site.get("locked", [])
    if not isinstance(site_values, dict) or not isinstance(locked, list):
        raise SettingsError(f"{site_path}: expected a [settings] table and a 'locked' list")
    for name in locked:
        if name not in DEFAULTS:
            raise SettingsError(f"{site_path}: cannot lock unknown setting {name!r}")
    for name, value in site_values.items():
        values[name] = _coerce(name, value, site_path)
        origin[name] = "site"
    user = _read_toml(user_path)
    for name, value in user.get("settings", user).items():
        if name in locked:
            continue  # the site decides; the user's old preference is ignored, not an error
        values[name] = _coerce(name, value, user_path)
        origin[name] = "user"
    for name in locked:
        origin[name] = "site (locked)"
    return Settings(values, origin, frozenset(locked), site_path, user_path)


def set_user_preference(name: str, raw_value: str, settings: Settings | None = None) -> Settings:
    """Store one per-user preference (refused for a value the site locks)."""
    settings = settings or load_settings()
    if name not in DEFAULTS:
        raise SettingsError(f"unknown setting {name!r}; known: {', '.join(DEFAULTS)}")
    if name in settings.locked:
        raise SettingsError(f"{name} is locked by the site configuration "
                            f"({settings.site_path}); ask your administrator")
    value = _coerce(name, raw_value, Path("<command line>"))
    path = settings.user_path or user_config_path()
    current = _read_toml(path).get("settings", {})
    current[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("[settings]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                           for k, v in sorted(current.items())))
    os.replace(tmp, path)
    return load_settings(settings.site_path, path)


#: site setting -> the workspace setting it tightens (compliance.workspace.stricter_settings)
_SECURITY = {"password_min_length": "password_min_length", "lockout_attempts": "lockout_failures",
             "lockout_minutes": "lockout_minutes", "auto_lock_minutes": "idle_lock_minutes",
             "blind_spot_checks": "blind_spot_checks"}


def site_security_policy(settings: Settings | None = None) -> dict:
    """The security minimums the site file sets, as workspace setting names.

    Only values from the site file count (a user's preference cannot loosen them; the
    workspace applies whichever of its own value and the site's is stricter).
    """
    settings = settings or load_settings()
    return {ws_name: settings[name] for name, ws_name in _SECURITY.items()
            if settings.origin[name].startswith("site")}


def open_workspace(path):
    """``compliance.workspace.Workspace.open`` with the site's security policy applied."""
    from compliance.workspace import Workspace

    return Workspace.open(path, site_policy=site_security_policy())

