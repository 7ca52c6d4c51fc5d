"""``annotrace label save|export``: label maps in and out of a workspace."""

from __future__ import annotations

from app.cli.workspace import add_auth, open_session


class LabelFileError(Exception):
    exit_code = 2


def register(subparsers) -> None:
    p = subparsers.add_parser("label", allow_abbrev=False,
                              help="save or export annotation versions")
    sub = p.add_subparsers(dest="label_command", metavar="ACTION", required=True)
    save = sub.add_parser("save", allow_abbrev=False,
                          help="save a label map as a new annotation version",
                          description="Read an integer label map on the case's grid (each "
                                      "non-zero value becomes a segment) and save it as a new "
                                      "immutable, encrypted version.")
    save.add_argument("workspace")
    save.add_argument("case")
    save.add_argument("labels", help="label map (.nii.gz, .nrrd, .mha, DICOM)")
    save.add_argument("--parent", type=int, metavar="N",
                      help="the version this one corrects (default: your latest)")
    save.add_argument("--message", default="", help="a note kept with the version")
    add_auth(save)
    save.set_defaults(func=run_save)
    exp = sub.add_parser("export", allow_abbrev=False, help="write a version as a label map file")
    exp.add_argument("workspace")
    exp.add_argument("case")
    exp.add_argument("output", help=".nii.gz, .nii, .nrrd or .mha")
    exp.add_argument("--version", type=int, metavar="N", help="default: the latest")
    exp.add_argument("--layer", type=int, default=0, help="which uint8 layer (default 0)")
    add_auth(exp)
    exp.set_defaults(func=run_export)


def label_set_from_array(array, path: str, user: str):
    """Integer label map -> one-layer LabelSet (values 1-255 become segments)."""
    import numpy as np

    from compliance.records import LabelSet

    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise LabelFileError(f"{path}: not a label map (non-integer values)")
    elif array.dtype.kind not in "iub":
        raise LabelFileError(f"{path}: not a label map (dtype {array.dtype})")
    lo, hi = (array.min(), array.max()) if array.size else (0, 0)
    if lo < 0 or hi > 255:
        raise LabelFileError(f"{path}: label values must be 0..255, found {lo}..{hi}")
    layer = array.astype(np.uint8)
    values = [int(v) for v in np.unique(layer) if v]
    segments = [{"segment_id": v, "name": f"label {v}", "layer": 0, "value": v} for v in values]
    provenance = (layer > 0).astype(np.uint8)
    return LabelSet([layer], segments, provenance,
                    {"1": f"user:{user} (label map imported from a file)"})


def run_save(args) -> int:
    import numpy as np

    from viewers.io import read_volume

    volume = read_volume(args.labels)
    with open_session(args) as s:
        shape, affine = s.case_grid(args.case)
        if volume.shape != shape:
            raise LabelFileError(f"{args.labels}: grid {volume.shape} does not match case "
                                 f"{args.case} grid {shape} (k, j, i)")
        if not np.allclose(volume.affine_lps, affine, atol=1e-3):
            raise LabelFileError(f"{args.labels}: geometry (origin/spacing/direction) does not "
                                 f"match case {args.case}")
        labels = label_set_from_array(volume.array, args.labels, s.name)
        meta = s.save_labels(args.case, labels, parent=args.parent, message=args.message)
    print(f"case {args.case}: saved version {meta['version']} (parent {meta['parent']}, "
          f"{len(labels.segments)} segments, sha256 {meta['content_sha256'][:16]})")
    return 0


def run_export(args) -> int:
    import numpy as np

    from viewers.io import write_volume
    from viewers.volume import Volume

    with open_session(args) as s:
        shape, affine = s.case_grid(args.case)
        meta, labels = s.load_labels(args.case, args.version)
    if not 0 <= args.layer < len(labels.layers):
        raise LabelFileError(f"version {meta['version']} has {len(labels.layers)} layers")
    write_volume(Volume(np.ascontiguousarray(labels.layers[args.layer]), affine), args.output)
    print(f"wrote {args.output} (case {args.case} version {meta['version']})")
    return 0
