"""``annotrace pacs login|logout|query|retrieve|store``: the hospital PACS over DICOMweb.

The PACS is configured in the settings (``pacs_url``, ``pacs_auth``, ``pacs_ca_bundle``);
``--url``, ``--auth`` and ``--ca-bundle`` override them for one command. Secrets are stored by
``pacs login`` in the OS keyring or, where there is none, encrypted in the workspace; they are
read from a prompt or ``--secret-file``, never from the command line or the environment.
Exit codes: 0 done, 2 usage or configuration, 3 the PACS failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from app.cli.errors import UsageError
from app.cli.output import print_json
from app.cli.workspace import add_auth, open_session, prompt_password, read_password_file


def _connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="DICOMweb base URL (default: the pacs_url setting)")
    p.add_argument("--auth", choices=("none", "basic", "bearer"),
                   help="authentication (default: the stored credential's, else pacs_auth)")
    p.add_argument("--ca-bundle", metavar="PEM",
                   help="CA certificates to trust (default: pacs_ca_bundle, else the system's)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="connect/read timeout in seconds (default 30)")


class _RefuseSecret(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("PACS secrets are never taken on the command line; use --secret-file FILE "
                     "or the prompt")


def register(subparsers) -> None:
    p = subparsers.add_parser("pacs", allow_abbrev=False,
                              help="query, retrieve from and store to the hospital PACS",
                              description="DICOMweb (QIDO-RS, WADO-RS, STOW-RS) against the PACS "
                                          "in the settings. Exit code 3 when the PACS fails.")
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)

    login = sub.add_parser("login", allow_abbrev=False,
                           help="store the PACS password or token (OS keyring or workspace)",
                           description="Store the PACS secret in the OS keyring (service "
                                       "annotrace-pacs, entry = the URL) or, where there is no "
                                       "keyring, encrypted in WORKSPACE for --user.")
    login.add_argument("workspace", nargs="?", help="workspace to keep the secret in when there "
                                                    "is no OS keyring")
    _connection(login)
    login.add_argument("--username", default="", help="PACS user name (basic authentication)")
    login.add_argument("--secret-file", metavar="FILE",
                       help="read the password/token from the first line of FILE")
    login.add_argument("--store", choices=("auto", "keyring", "workspace"), default="auto",
                       help="where to keep the secret (default: keyring if usable)")
    login.add_argument("--secret", "--token", nargs="?", action=_RefuseSecret,
                       help=argparse.SUPPRESS)
    login.add_argument("--user", help="your user name in the workspace")
    login.add_argument("--password-file", metavar="FILE",
                       help="your workspace password (first line); asked for otherwise")
    login.set_defaults(func=run_login)

    logout = sub.add_parser("logout", allow_abbrev=False,
                            help="delete the stored PACS secret (keyring and/or workspace)")
    logout.add_argument("workspace", nargs="?")
    logout.add_argument("--url", help="DICOMweb base URL (default: the pacs_url setting)")
    logout.add_argument("--user", help="your user name in the workspace")
    logout.add_argument("--password-file", metavar="FILE")
    logout.set_defaults(func=run_logout)

    q = sub.add_parser("query", allow_abbrev=False, help="search studies (QIDO-RS)",
                       description="Search the PACS for studies. Patient name matches exactly "
                                   "(some servers, e.g. Orthanc, ignore encoded wildcards).")
    q.add_argument("workspace")
    q.add_argument("--patient-id", default="")
    q.add_argument("--patient-name", default="")
    q.add_argument("--accession", default="")
    q.add_argument("--date-from", default="", metavar="YYYYMMDD")
    q.add_argument("--date-to", default="", metavar="YYYYMMDD")
    q.add_argument("--modality", default="")
    q.add_argument("--series", action="store_true", help="list each study's series too")
    q.add_argument("--json", action="store_true")
    _connection(q)
    add_auth(q)
    q.set_defaults(func=run_query)

    r = sub.add_parser("retrieve", allow_abbrev=False,
                       help="retrieve a series into the workspace as a new encrypted case",
                       description="WADO-RS retrieve of one series into memory, checked "
                                   "complete, then imported encrypted (no plaintext copy on "
                                   "disk). Prints the new case id.")
    r.add_argument("workspace")
    r.add_argument("study_uid")
    r.add_argument("series_uid")
    r.add_argument("--accept-gaps", action="store_true",
                   help="import even when the slice positions show missing slices")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _connection(r)
    add_auth(r)
    r.set_defaults(func=run_retrieve)

    s = sub.add_parser("store", allow_abbrev=False,
                       help="send a case's approved labels to the PACS as DICOM SEG",
                       description="Build a DICOM SEG of the approved version of CASE on its "
                                   "retrieved source series and send it (STOW-RS).")
    s.add_argument("workspace")
    s.add_argument("case")
    _connection(s)
    add_auth(s)
    s.set_defaults(func=run_store)


def _client(args, session):
    from app.pacs.workflow import make_client

    return make_client(args.url or "", args.auth or "", args.ca_bundle or "", args.timeout,
                       session=session)


def run_login(args) -> int:
    from app.pacs.credentials import Credential, keyring_usable, save_credential
    from app.settings import load_settings

    settings = load_settings()
    url = args.url or settings["pacs_url"]
    if not url:
        raise UsageError("no PACS URL: pass --url or set pacs_url in the settings")
    auth = args.auth or settings["pacs_auth"]
    if auth == "none":
        raise UsageError("authentication 'none' needs no login; pass --auth basic or bearer")
    if auth == "basic" and not args.username:
        raise UsageError("basic authentication needs --username")
    where = args.store
    if where == "auto" and not keyring_usable():
        where = "workspace"
    if where == "workspace" and not args.workspace:
        raise UsageError("no usable OS keyring on this computer: name a workspace (and --user) "
                         "to keep the PACS secret encrypted in it")
    if args.workspace and not args.user:
        raise UsageError("--user is required with a workspace")
    if args.secret_file:
        secret = read_password_file(args.secret_file, "secret")
    elif not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the PACS secret; use --secret-file FILE")
    else:
        secret = prompt_password(f"PACS {'password' if auth == 'basic' else 'token'}: ")
    credential = Credential(auth, args.username, secret)
    if args.workspace:
        with open_session(args) as session:
            stored = save_credential(url, credential, session, where)
    else:
        stored = save_credential(url, credential, None, where)
    print(f"stored the PACS {auth} credential for {url} in the "
          f"{'OS keyring' if stored == 'keyring' else 'encrypted workspace'}")
    return 0


def run_logout(args) -> int:
    from app.pacs.credentials import forget_credential
    from app.settings import load_settings

    url = args.url or load_settings()["pacs_url"]
    if not url:
        raise UsageError("no PACS URL: pass --url or set pacs_url in the settings")
    if args.workspace and not args.user:
        raise UsageError("--user is required with a workspace")
    if args.workspace:
        with open_session(args) as session:
            removed = forget_credential(url, session)
    else:
        removed = forget_credential(url)
    print(f"removed the PACS credential for {url} from the "
          + " and the ".join("OS keyring" if r == "keyring" else "workspace" for r in removed)
          if removed else f"no stored PACS credential for {url}")
    return 0


def run_query(args) -> int:
    from app.pacs import workflow

    filters = {"patient_id": args.patient_id, "patient_name": args.patient_name,
               "accession": args.accession, "date_from": args.date_from,
               "date_to": args.date_to, "modality": args.modality}
    with open_session(args) as session:
        client = _client(args, session)
        studies = workflow.query_studies(session, client, **filters)
        if args.series:
            for study in studies:
                study["series"] = workflow.query_series(session, client,
                                                        study["StudyInstanceUID"])
    if args.json:
        print_json({"studies": studies}, indent=2)
        return 0
    if not studies:
        print("no studies found")
    for st in studies:
        print(f"{st['StudyInstanceUID']}  {st['StudyDate'] or '-':<8}  "
              f"{st['ModalitiesInStudy'] or '-':<6} {st['PatientID']:<16} {st['PatientName']}  "
              f"acc {st['AccessionNumber'] or '-'}  {st['StudyDescription']}")
        for se in st.get("series", []):
            print(f"    {se['SeriesInstanceUID']}  {se['Modality']:<4} "
                  f"{se['NumberOfSeriesRelatedInstances']:>5} images  {se['SeriesDescription']}")
    return 0


class _Progress:
    """``retrieving: 37/181 instances`` on stderr (one updating line on a terminal)."""

    def __init__(self, quiet: bool):
        self.quiet, self.tty, self.last = quiet, sys.stderr.isatty(), -1

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        percent = 100 * done // max(total, 1)
        if self.tty:
            print(f"\rretrieving: {done}/{total} instances ({percent} %)", end="",
                  file=sys.stderr, flush=True)
            if done == total:
                print(file=sys.stderr)
        elif percent // 10 != self.last // 10 or done == total:
            print(f"retrieving: {done}/{total} instances ({percent} %)", file=sys.stderr)
        self.last = percent


def run_retrieve(args) -> int:
    from app.pacs import workflow

    with open_session(args) as session:
        client = _client(args, session)
        case_id = workflow.retrieve_case(session, client, args.study_uid, args.series_uid,
                                         progress=_Progress(args.quiet),
                                         accept_gaps=args.accept_gaps)
    print(case_id)
    return 0


def run_store(args) -> int:
    from app.pacs import workflow

    with open_session(args) as session:
        client = _client(args, session)
        uid = workflow.store_case(session, client, args.case)
    print(f"stored DICOM SEG {uid} for case {args.case}")
    return 0
