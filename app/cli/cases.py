"""``annotrace case import|list``: store images encrypted, list the worklist."""

from __future__ import annotations


from app.cli.workspace import add_auth, open_session
from app.cli.output import print_json


def register(subparsers) -> None:
    p = subparsers.add_parser("case", allow_abbrev=False,
                              help="import and list the cases of a workspace")
    sub = p.add_subparsers(dest="case_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", allow_abbrev=False,
                         help="import an image or DICOM series as a new case",
                         description="Read SRC (DICOM file/folder, NIfTI, NRRD, MHA) and store "
                                     "it encrypted under a random case id (no patient "
                                     "identifier in any file name).")
    imp.add_argument("workspace")
    imp.add_argument("src")
    imp.add_argument("--series", metavar="UID", help="the series to import from a folder")
    add_auth(imp)
    imp.set_defaults(func=run_import)
    lst = sub.add_parser("list", allow_abbrev=False,
                         help="list cases with their review state (no PHI)")
    lst.add_argument("workspace")
    lst.add_argument("--json", action="store_true")
    add_auth(lst)
    lst.set_defaults(func=run_list)


def run_import(args) -> int:
    from viewers.io import read_volume

    volume = read_volume(args.src, series_uid=args.series)
    headers = None
    if volume.source_format == "dicom":
        # Kept (encrypted, without pixels) so that the case can later export as DICOM SEG
        # referencing its source series.
        from compliance.export.sources import series_header_bytes

        headers = series_header_bytes(args.src, volume.series_uid) or None
    with open_session(args) as s:
        cid = s.import_case(volume.array, volume.affine_lps, modality=volume.modality,
                            series_uid=volume.series_uid, study_uid=volume.study_uid,
                            description=volume.description, source_format=volume.source_format,
                            patient=volume.patient.as_dict(), dicom_headers=headers)
    print(cid)
    return 0


def run_list(args) -> int:
    with open_session(args) as s:
        cases = s.list_cases()
    if args.json:
        print_json({"cases": cases}, indent=2)
        return 0
    for c in cases:
        shape = " x ".join(map(str, c["shape"]))
        print(f"{c['case_id']}  {c['modality'] or '-':<4} {shape:<16} {c['versions']:>3} versions  "
              f"{c['state']}")
    return 0
