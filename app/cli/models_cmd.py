"""``annotrace models``: list the proposal models; register or remove a MONAI bundle."""

from __future__ import annotations

from app.cli.output import print_json


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
    reg = sub.add_parser("register", help="register a bundle folder under a name (pins files)")
    reg.add_argument("name")
    reg.add_argument("folder")
    unreg = sub.add_parser("unregister", help="forget a registered bundle")
    unreg.add_argument("name")
    p.set_defaults(func=run)


def _registry(args):
    from models.bundle_registry import BundleRegistry, default_registry_path

    return BundleRegistry(args.registry or default_registry_path())


def run(args) -> int:
    from app.cli.errors import UsageError

    action = args.models_command or "list"
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
    from models.registry import builtin_models

    registry = _registry(args)
    rows = [s.as_json() for s in builtin_models()]
    for name in registry.names():
        try:
            rows.append(registry.spec(name).as_json())
        except ModelError as exc:
            rows.append({"name": name, "kind": "bundle", "error": exc.reason})
    if getattr(args, "json", False):
        print_json({"models": rows}, indent=2)
        return 0
    for row in rows:
        if "error" in row:
            print(f"{row['name']:<18} bundle   REFUSED: {row['error']}")
            continue
        labels = ", ".join(f"{s['value']}={s['name']}" for s in row["labels"][:6])
        more = f" (+{len(row['labels']) - 6})" if len(row["labels"]) > 6 else ""
        print(f"{row['name']:<18} {row['kind']:<8} {row['modality']:<3} {row['task']}")
        print(f"{'':<18} labels: {labels}{more}")
        print(f"{'':<18} weights sha256 {row['weights_sha256']}")
    return 0
