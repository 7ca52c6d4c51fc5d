"""``annotrace convert SRC DST``: write an image to NIfTI, NRRD or MHA."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="convert an image or DICOM series to .nii/.nii.gz/.nrrd/.mha",
        description="Read SRC (DICOM file/folder, NIfTI, NRRD, MHA) and write DST; the format "
                    "follows DST's suffix. Geometry and rescaled voxel values are kept exactly.")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--series", metavar="UID", help="the series to convert in a folder")
    p.add_argument("--skip-bad", action="store_true",
                   help="convert a DICOM series without its unreadable slices")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from viewers.io import WRITABLE_SUFFIXES, InputError, read_volume, write_volume

    if not args.dst.lower().endswith(WRITABLE_SUFFIXES):
        raise InputError(args.dst, "unsupported output format; use one of "
                                   + ", ".join(WRITABLE_SUFFIXES))
    volume = read_volume(args.src, series_uid=args.series, skip_bad=args.skip_bad)
    write_volume(volume, args.dst)
    for warning in volume.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.dst} ({' x '.join(map(str, volume.shape))}, {volume.array.dtype})")
    return 0
