"""PACS credentials: the OS keyring when there is one, else the encrypted workspace; never argv,
never a plaintext file. Tested end to end against an Orthanc that requires basic auth."""

from __future__ import annotations

import json

import pytest
from keyring.backend import KeyringBackend
from pacs_common import PASSWORDS
from pacs_orthanc_server import OrthancServer

from app.cli.main import main
from app.pacs.credentials import SERVICE, Credential, keyring_usable, load_credential

SECRET = "pacs-secret-77"


class MemoryKeyring(KeyringBackend):
    """A real keyring backend class that keeps entries in memory (a desktop keyring stand-in)."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.entries = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    import keyring

    old = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(old)


@pytest.fixture(scope="module")
def orthanc_auth(tmp_path_factory):
    server = OrthancServer(tmp_path_factory.mktemp("orthanc-auth"), users={"pacsuser": SECRET})
    yield server
    server.stop()


@pytest.fixture
def run(tmp_path, capsys, monkeypatch, orthanc_auth):
    settings = tmp_path / "settings.toml"
    settings.write_text(f'pacs_url = "{orthanc_auth.url}"\npacs_auth = "basic"\n')
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(settings))
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "ann.pw").write_text(PASSWORDS["ann"] + "\n")

    def _run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    _run.secret = tmp_path / "secret"
    _run.pw = tmp_path / "ann.pw"
    _run.settings = settings
    return _run


def test_headless_fail_backend_is_not_usable(no_keyring):
    assert not keyring_usable()


def test_headless_login_keeps_the_secret_encrypted_in_the_workspace(run, workspace, no_keyring,
                                                                   orthanc_auth):
    code, _, err = run("pacs", "login", "--username", "pacsuser", "--secret-file", run.secret)
    assert code == 2 and "no usable OS keyring" in err
    code, out, err = run("pacs", "login", workspace.root, "--username", "pacsuser",
                         "--secret-file", run.secret, "--user", "ann", "--password-file", run.pw)
    assert code == 0, err
    assert "encrypted workspace" in out
    stored = list((workspace.root / "pacs" / "credentials").glob("*.enc"))
    assert len(stored) == 1
    everything = b"".join(p.read_bytes() for p in workspace.root.rglob("*") if p.is_file())
    assert SECRET.encode() not in everything and SECRET not in run.settings.read_text()
    # The stored credential opens the password-protected PACS
    code, out, err = run("pacs", "query", workspace.root, "--patient-id", "NOBODY",
                         "--user", "ann", "--password-file", run.pw)
    assert code == 0 and out.strip() == "no studies found", err
    with workspace.login("admin", PASSWORDS["admin"]) as admin:
        logins = [e for e in admin.read_audit() if e["action"] == "pacs.login"]
    assert logins[-1]["details"] == {"url": orthanc_auth.url, "auth": "basic",
                                     "store": "workspace"}
    assert SECRET not in json.dumps(logins)


def test_logout_removes_the_workspace_credential(run, workspace, no_keyring, orthanc_auth):
    run("pacs", "login", workspace.root, "--username", "pacsuser", "--secret-file", run.secret,
        "--user", "ann", "--password-file", run.pw)
    code, out, err = run("pacs", "logout", workspace.root, "--user", "ann", "--password-file",
                         run.pw)
    assert code == 0 and "from the workspace" in out, err
    assert list((workspace.root / "pacs" / "credentials").glob("*.enc")) == []
    code, _, err = run("pacs", "query", workspace.root, "--user", "ann", "--password-file", run.pw)
    assert code == 2 and "pacs login" in err


def test_another_user_does_not_get_my_workspace_credential(run, workspace, no_keyring,
                                                          orthanc_auth):
    run("pacs", "login", workspace.root, "--username", "pacsuser", "--secret-file", run.secret,
        "--user", "ann", "--password-file", run.pw)
    with workspace.login("rev", PASSWORDS["rev"]) as rev:
        assert load_credential(orthanc_auth.url, rev) is None
    with workspace.login("ann", PASSWORDS["ann"]) as ann:
        cred, where = load_credential(orthanc_auth.url + "/", ann)
    assert (cred.username, cred.secret, where) == ("pacsuser", SECRET, "workspace")
    assert SECRET not in repr(cred)


def test_desktop_login_uses_the_os_keyring(run, workspace, memory_keyring, orthanc_auth):
    code, out, err = run("pacs", "login", "--username", "pacsuser", "--secret-file", run.secret)
    assert code == 0 and "OS keyring" in out, err
    assert json.loads(memory_keyring.entries[(SERVICE, orthanc_auth.url)]) == \
        Credential("basic", "pacsuser", SECRET).as_json()
    assert not (workspace.root / "pacs").exists()
    code, out, err = run("pacs", "query", workspace.root, "--patient-id", "NOBODY",
                         "--user", "ann", "--password-file", run.pw)
    assert code == 0, err
    code, out, _ = run("pacs", "logout")
    assert code == 0 and "OS keyring" in out and memory_keyring.entries == {}


def test_wrong_or_missing_secret_is_a_clear_error(run, workspace, memory_keyring, tmp_path):
    code, _, err = run("pacs", "query", workspace.root, "--user", "ann", "--password-file", run.pw)
    assert code == 2 and "run 'annotrace pacs login' first" in err
    (tmp_path / "wrong").write_text("not-the-secret\n")
    run("pacs", "login", "--username", "pacsuser", "--secret-file", tmp_path / "wrong")
    code, _, err = run("pacs", "query", workspace.root, "--user", "ann", "--password-file", run.pw)
    assert code == 3 and "HTTP 401" in err and "not-the-secret" not in err


def test_secret_on_the_command_line_is_refused(run):
    with pytest.raises(SystemExit) as exc:
        run("pacs", "login", "--username", "pacsuser", "--secret", SECRET)
    assert exc.value.code == 2


def test_workspace_credential_survives_a_key_rotation(run, workspace, no_keyring, orthanc_auth):
    run("pacs", "login", workspace.root, "--username", "pacsuser", "--secret-file", run.secret,
        "--user", "ann", "--password-file", run.pw)
    with workspace.login("admin", PASSWORDS["admin"]) as admin:
        assert admin.rotate_keys(PASSWORDS["admin"]) >= 1
    from compliance.workspace import Workspace

    with Workspace.open(workspace.root).login("ann", PASSWORDS["ann"]) as ann:
        cred, _ = load_credential(orthanc_auth.url, ann)
    assert cred.secret == SECRET
