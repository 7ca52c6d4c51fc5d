"""``annotrace settings``: show the effective settings, set a per-user preference."""

from __future__ import annotations

from app.cli.output import print_json


def register(subparsers) -> None:
    p = subparsers.add_parser("settings", help="show settings; set a per-user preference",
                              description="Settings come from built-in defaults, the site file "
                                          "(admins), and your own preferences; values the site "
                                          "locks cannot be overridden.")
    sub = p.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="every setting, its value and where it comes from")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    put = sub.add_parser("set", help="store a per-user preference")
    put.add_argument("name")
    put.add_argument("value", help="lists as comma-separated values")
    put.set_defaults(func=run_set)


def run_show(args) -> int:
    from app.settings import DEFAULTS, load_settings

    settings = load_settings()
    if args.json:
        print_json(settings.as_json(), indent=2)
        return 0
    print(f"site file: {settings.site_path}  user file: {settings.user_path}")
    for name in DEFAULTS:
        value = settings[name]
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{name:<24} {shown!s:<32} ({settings.origin[name]})")
    return 0


def run_set(args) -> int:
    from app.settings import set_user_preference

    settings = set_user_preference(args.name, args.value)
    print(f"{args.name} = {settings[args.name]!r} (saved in {settings.user_path})")
    return 0
