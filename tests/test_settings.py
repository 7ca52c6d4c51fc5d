"""Site settings that admins lock, and per-user preferences (issue 9)."""

from __future__ import annotations

import pytest

from app.cli.main import main
from app.settings import SettingsError, load_settings, set_user_preference

SITE = """
locked = ["auto_lock_minutes", "allowed_export_formats"]

[settings]
auto_lock_minutes = 5
allowed_export_formats = ["seg"]
workspace_location = "/srv/annotrace/neuro"
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    site, user = tmp_path / "site.toml", tmp_path / "user" / "settings.toml"
    site.write_text(SITE)
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(site))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(user))
    return site, user


def test_site_values_apply_and_user_overrides_unlocked_ones(config):
    settings = set_user_preference("workspace_location", "/home/me/ws")
    assert settings["workspace_location"] == "/home/me/ws"
    assert settings.origin["workspace_location"] == "user"
    assert settings["auto_lock_minutes"] == 5
    assert settings["lockout_attempts"] == 5 and settings.origin["lockout_attempts"] == "default"


def test_locked_value_cannot_be_set_by_a_user(config):
    with pytest.raises(SettingsError, match="locked by the site"):
        set_user_preference("auto_lock_minutes", "60")


def test_locked_value_wins_over_an_older_user_file(config):
    site, user = config
    user.parent.mkdir(parents=True)
    user.write_text("[settings]\nauto_lock_minutes = 60\nallowed_export_formats = ['nifti']\n")
    settings = load_settings()
    assert settings["auto_lock_minutes"] == 5
    assert settings["allowed_export_formats"] == ["seg"]
    assert settings.origin["auto_lock_minutes"] == "site (locked)"


def test_broken_site_file_is_one_line_exit_2(config, capsys):
    site, _ = config
    site.write_text("locked = [\n")
    assert main(["settings", "show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"annotrace: {site}: not valid TOML") and err.count("\n") == 1


def test_unknown_and_mistyped_settings_are_refused(config, capsys):
    site, _ = config
    site.write_text("[settings]\nauto_lock_minutes = 'ten'\n")
    with pytest.raises(SettingsError, match="must be a whole number"):
        load_settings()
    site.write_text("[settings]\nfavourite_colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings()


def test_cli_set_then_show(config, capsys):
    assert main(["settings", "set", "undo_memory_mb", "256"]) == 0
    assert main(["settings", "show", "--json"]) == 0
    import json

    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["undo_memory_mb"] == {"value": 256, "from": "user", "locked": False}
    assert shown["auto_lock_minutes"]["locked"] is True
    assert main(["settings", "set", "allowed_export_formats", "nifti"]) == 2


POLICY_SITE = """
[settings]
password_min_length = 16
lockout_attempts = 2
auto_lock_minutes = 3
blind_spot_checks = 1
"""


def test_site_security_policy_tightens_every_workspace(tmp_path, monkeypatch, capsys):
    """The hospital's password, lockout and auto-lock minimums apply to workspaces whose own
    settings are looser, and a workspace admin cannot loosen them."""
    from compliance.keys import KdfParams
    from compliance.workspace import Workspace

    site = tmp_path / "site.toml"
    site.write_text(POLICY_SITE)
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(site))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "user.toml"))
    ws = Workspace.create(tmp_path / "ws", "admin", "a sixteen+ char pw", kdf=KdfParams.testing())
    with ws.login("admin", "a sixteen+ char pw") as admin:
        admin.change_setting("lockout_failures", 50)  # looser than the site: stays 2
        admin.change_setting("blind_spot_checks", 0)  # the site forces blind spot checks
    admin_pw, short_pw, good_pw = (tmp_path / n for n in ("a.pw", "s.pw", "g.pw"))
    admin_pw.write_text("a sixteen+ char pw\n")
    short_pw.write_text("only 13 chars\n")
    good_pw.write_text("long enough for the site\n")
    auth = ["--user", "admin", "--password-file", str(admin_pw)]
    assert main(["user", "add", str(ws.root), "ann", "--role", "annotator",
                 "--new-password-file", str(short_pw), *auth]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert main(["user", "add", str(ws.root), "ann", "--role", "annotator",
                 "--new-password-file", str(good_pw), *auth]) == 0
    bad = ["--user", "ann", "--password-file", str(short_pw)]
    for _ in range(2):
        assert main(["case", "list", str(ws.root), *bad]) != 0
    capsys.readouterr()
    ok = ["--user", "ann", "--password-file", str(good_pw)]
    assert main(["case", "list", str(ws.root), *ok]) != 0  # locked out after 2, not 50
    assert "locked" in capsys.readouterr().err
    from app.settings import open_workspace

    settings = open_workspace(ws.root).settings
    assert (settings["idle_lock_minutes"], settings["lockout_failures"]) == (3, 2)
    assert settings["blind_spot_checks"] == 1
    assert Workspace.open(ws.root).settings["lockout_failures"] == 50  # its own value, kept
    site.write_text("")  # the site lifts its policy: the workspace's own settings apply
    assert open_workspace(ws.root).settings["password_min_length"] == 12
