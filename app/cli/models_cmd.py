"""``annotrace models``: list the proposal models; register or remove a MONAI bundle.

Outside a workspace the registry is the user's own file. With ``--workspace WS`` (or
``annotrace models register WS BUNDLE_DIR``) the registry is kept encrypted in the
workspace, only an admin registers (``model.register``, audited), and ``list`` also shows
the workspace's fine-tuned model versions with their parent and validation Dice.
"""

from __future__ import annotations

from pathlib import Path

from app.cli.output import print_json
from app.cli.workspace import refuse_password_option


def _add_workspace(p) -> None:
    refuse_password_option(p)
    p.add_argument("--workspace", metavar="WS",
                   help="use the workspace's (encrypted) model store; needs --user")
    p.add_argument("--user", help="your user name in the workspace")
    p.add_argument("--password-file", metavar="FILE",
                   help="read the password from the first line of FILE")


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list proposal models; register MONAI bundles",
                              description="Built-in models and registered MONAI bundles. "
                                          "Registered bundles are pinned by SHA-256.")
    p.add_argument("--registry", metavar="FILE",
                   help="bundle registry file (default: $ANNOTRACE_MODEL_REGISTRY or the user "
                        "configuration folder)")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = sub.add_parser("list", help="name, task, modality, labels, weights hash")
    ls.add_argument("--json", action="store_true")
    _add_workspace(ls)
    reg = sub.add_parser("register", help="register a bundle folder under a name (pins files)",
                         description="Pin every file of a MONAI bundle by SHA-256 under a "
                                     "name. `models register WS BUNDLE_DIR --user admin` "
                                     "registers it in workspace WS (admins only; the name "
                                     "is --name or the folder's name).")
    reg.add_argument("name", metavar="NAME|WS")
    reg.add_argument("folder", metavar="BUNDLE_DIR")
    reg.add_argument("--name", dest="bundle_name", metavar="NAME",
                     help="bundle name when the first argument is a workspace")
    _add_workspace(reg)
    unreg = sub.add_parser("unregister", help="forget a registered bundle")
    unreg.add_argument("name")
    _add_workspace(unreg)
    p.set_defaults(func=run)


def _workspace_form(args) -> None:
    """``models register WS BUNDLE_DIR``: the first argument is a workspace folder."""
    if getattr(args, "folder", None) and not args.workspace \
            and (Path(args.name) / "workspace.json").is_file():
        args.workspace = args.name
        args.name = args.bundle_name or Path(args.folder).resolve().name


def _session(args):
    from app.cli.errors import UsageError
    from app.cli.workspace import open_session

    if not args.user:
        raise UsageError(f"{args.workspace}: a workspace needs --user (and --password-file "
                         "or the prompt)")
    return open_session(args, args.workspace)


def _registry(args):
    from models.bundle_registry import BundleRegistry, default_registry_path

    return BundleRegistry(args.registry or default_registry_path())


def run(args) -> int:
    from app.cli.errors import UsageError

    action = args.models_command or "list"
    if not hasattr(args, "workspace"):  # `annotrace models` alone
        args.workspace, args.user, args.password_file = None, None, None
    _workspace_form(args)
    if args.workspace:
        return _run_workspace(args, action)
    if action == "register":
        entry = _registry(args).register(args.name, args.folder)
        print(f"registered {args.name}: {len(entry['files'])} files pinned, weights sha256 "
              f"{entry['weights_sha256']}")
        return 0
    if action == "unregister":
        _registry(args).unregister(args.name)
        print(f"unregistered {args.name}")
        return 0
    if action != "list":  # pragma: no cover - argparse restricts the choices
        raise UsageError(f"unknown action {action}")
    from models.errors import ModelError
    from app.settings import load_settings
    from models.bundle_spec import bundle_spec
    from models.registry import builtin_models, site_bundles

    registry = _registry(args)
    rows = [s.as_json() for s in builtin_models()]
    for name in registry.names():
        try:
            rows.append(registry.spec(name).as_json())
        except ModelError as exc:
            rows.append({"name": name, "kind": "bundle", "error": exc.reason})
    for name, folder in site_bundles(load_settings()["model_directory"]).items():
        try:
            row = bundle_spec(folder).as_json()
        except ModelError as exc:
            row = {"name": name, "kind": "bundle", "error": exc.reason}
        rows.append({**row, "name": name, "source": f"site model directory {folder}"})
    return _print_rows(args, rows)


def _run_workspace(args, action: str) -> int:
    from app.workspace_models import WorkspaceBundleRegistry, model_rows

    with _session(args) as s:
        if action == "register":
            entry = WorkspaceBundleRegistry(s).register(args.name, args.folder)
            print(f"registered {args.name} in {args.workspace}: {len(entry['files'])} files "
                  f"pinned, weights sha256 {entry['weights_sha256']}")
            return 0
        if action == "unregister":
            WorkspaceBundleRegistry(s).unregister(args.name)
            print(f"unregistered {args.name} from {args.workspace}")
            return 0
        rows = model_rows(s)
    return _print_rows(args, rows)


def _print_rows(args, rows) -> int:
    if getattr(args, "json", False):
        print_json({"models": rows}, indent=2)
        return 0
    for row in rows:
        if "error" in row:
            print(f"{row['name']:<18} bundle    REFUSED: {row['error']}")
            continue
        labels = ", ".join(f"{s['value']}={s['name']}" for s in row["labels"][:6])
        more = f" (+{len(row['labels']) - 6})" if len(row["labels"]) > 6 else ""
        name = row["name"] if row["kind"] != "workspace" else f"{row['name']}@{row['version']}"
        print(f"{name:<18} {row['kind']:<9} {row['modality']:<3} {row['task']}")
        if row["kind"] == "workspace":
            dice = row["mean_validation_dice"]
            print(f"{'':<18} parent {row['parent']}, {row['training_cases']} training "
                  f"case(s), validation Dice {'-' if dice is None else f'{dice:.4f}'}, "
                  f"id {row['model_version_id']}, by {row['created_by']} {row['created']}")
        print(f"{'':<18} labels: {labels}{more}")
        print(f"{'':<18} weights sha256 {row['weights_sha256']}")
    return 0
