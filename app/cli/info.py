"""``annotrace info PATH``: what an image or a folder of series holds."""

from __future__ import annotations

from app.cli.output import print_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="describe an image, a DICOM series or a folder of series",
        description="Print the geometry and content of an image (DICOM, NIfTI, NRRD, MHA) or "
                    "list the series of a DICOM folder. No patient identifiers unless --phi.")
    p.add_argument("path", help="file or folder")
    p.add_argument("--series", metavar="UID", help="the series to describe in a folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--phi", action="store_true",
                   help="also print patient name, ID and other identifiers")
    p.add_argument("--skip-bad", action="store_true",
                   help="load a DICOM series without its unreadable slices")
    p.set_defaults(func=run)


def volume_json(volume, phi: bool = False) -> dict:
    """The JSON description of one loaded volume (the fields `info --json` promises)."""
    lo, hi = volume.value_range()
    as_number = (lambda x: int(x)) if volume.array.dtype.kind in "iub" else float
    out = {
        "format": volume.source_format,
        "series_uid": volume.series_uid or None,
        "modality": volume.modality or None,
        "description": volume.description,
        "shape": list(volume.shape),
        "spacing_mm": [round(float(x), 6) for x in volume.spacing_mm],
        "origin_lps": [round(float(x), 6) for x in volume.origin_lps],
        "direction": [round(float(x), 8) for x in volume.direction.ravel()],
        "dtype": str(volume.array.dtype),
        "value_range": [as_number(lo), as_number(hi)],
        "warnings": list(volume.warnings),
    }
    if phi:
        out["patient"] = volume.patient.as_dict()
    return out


def run(args) -> int:
    from viewers.io import MultipleSeriesError, read_volume, scan_series

    if args.series is None:
        try:
            volume = read_volume(args.path, skip_bad=args.skip_bad)
        except MultipleSeriesError:
            summaries = scan_series(args.path)
            _print_series(summaries, args.json)
            return 0
    else:
        volume = read_volume(args.path, series_uid=args.series, skip_bad=args.skip_bad)
    info = volume_json(volume, phi=args.phi)
    if args.json:
        print_json(info, indent=2)
    else:
        _print_volume(info)
    return 0


def _print_volume(info: dict) -> None:
    rows = [
        ("format", info["format"]),
        ("series", info["series_uid"] or "-"),
        ("modality", info["modality"] or "-"),
        ("description", info["description"] or "-"),
        ("shape (k, j, i)", " x ".join(map(str, info["shape"]))),
        ("spacing mm (i, j, k)", ", ".join(f"{x:g}" for x in info["spacing_mm"])),
        ("origin LPS mm", ", ".join(f"{x:g}" for x in info["origin_lps"])),
        ("direction", " ".join(f"{x:g}" for x in info["direction"])),
        ("dtype", info["dtype"]),
        ("value range", f"{info['value_range'][0]} .. {info['value_range'][1]}"),
    ]
    for key, value in info.get("patient", {}).items():
        rows.append((key, value or "-"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for warning in info["warnings"]:
        print(f"warning: {warning}")


def _print_series(summaries, as_json: bool) -> None:
    if as_json:
        print_json({"series": [s.as_json() for s in summaries]}, indent=2)
        return
    print(f"{len(summaries)} series:")
    for s in summaries:
        shape = " x ".join(map(str, s.shape))
        print(f"  {s.series_uid}  {s.modality or '?':<4} {s.num_images:>5} images  {shape:<15} "
              f"{s.description or ''}")
        for warning in s.warnings:
            print(f"      warning: {warning}")
