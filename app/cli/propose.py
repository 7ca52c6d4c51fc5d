"""``annotrace propose IMAGE --model NAME|BUNDLE_DIR --out LABELS``: a model's proposal.

The labels (and optionally the per-voxel confidence, 0-255 = probability of the assigned
label) are written on the input's exact grid. Progress goes to stderr; Ctrl-C stops the
run at the next window batch. Outside a workspace a bundle folder runs as its caller names
it, like any local script; registered bundles are checked against their SHA-256 pins.

With ``--workspace WS --user U`` the model may also be one of the workspace's fine-tuned
versions (``NAME@VERSION``; weights decrypted into memory only) or a bundle registered in
the workspace; bundle folders are refused there (only what an admin registered runs), and
the proposal is permission-checked and audited.
"""

from __future__ import annotations

import sys

from app.cli.output import print_json
from app.cli.workspace import refuse_password_option


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "propose", help="propose a segmentation with a built-in model or a MONAI bundle",
        description="Run a proposal model on IMAGE and write its labels on IMAGE's exact grid. "
                    "Models: see `annotrace models list`; or a MONAI bundle folder.")
    p.add_argument("image", help="image file or DICOM folder")
    p.add_argument("--model", required=True, metavar="NAME|BUNDLE_DIR",
                   help="built-in model, registered bundle name, or a bundle folder")
    p.add_argument("--out", required=True, metavar="LABELS",
                   help="label map to write (.nii, .nii.gz, .nrrd, .mha)")
    p.add_argument("--confidence", metavar="C",
                   help="also write the per-voxel confidence (uint8, 255 = certain)")
    p.add_argument("--channel", action="append", default=[], metavar="IMAGE",
                   help="further input channel on the same grid (multi-channel bundles; "
                        "repeat in the bundle's channel order)")
    p.add_argument("--series", metavar="UID", help="the series to use in a DICOM folder")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available")
    p.add_argument("--plain", action="store_true",
                   help="MONAI's plain sliding window (no fast path); same output, slower")
    p.add_argument("--backend", choices=("torch", "openvino", "auto"), default="torch",
                   help="CPU engine for the network (openvino: faster on large networks, "
                        "after a one-time conversion of a few seconds; auto: openvino "
                        "where it converts the network, else torch -- the viewer's choice)")
    p.add_argument("--json", action="store_true", help="print the confidence summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    refuse_password_option(p)
    p.add_argument("--workspace", metavar="WS",
                   help="run a model of this workspace (NAME@VERSION of a fine-tuned version "
                        "or a bundle registered there); needs --user")
    p.add_argument("--user", help="your user name in the workspace")
    p.add_argument("--password-file", metavar="FILE",
                   help="read the password from the first line of FILE")
    p.set_defaults(func=run)


def _check_outputs(args):
    from pathlib import Path

    from viewers.io import WRITABLE_SUFFIXES, InputError

    for path in filter(None, (args.out, args.confidence)):
        if not path.lower().endswith(WRITABLE_SUFFIXES):
            raise InputError(path, "unsupported output format; use one of "
                                   + ", ".join(WRITABLE_SUFFIXES))
        parent = Path(path).parent
        if str(parent) and not parent.is_dir():
            raise InputError(path, "output folder does not exist")
        if Path(path).resolve() == Path(args.image).resolve():
            raise InputError(path, "refusing to overwrite the input image")


def _read_channels(args):
    import numpy as np

    from viewers.io import InputError, read_volume

    volume = read_volume(args.image, series_uid=args.series)
    arrays = [volume.array]
    for path in args.channel:
        extra = read_volume(path)
        if extra.shape != volume.shape or not np.allclose(extra.affine_lps, volume.affine_lps,
                                                          atol=1e-3):
            raise InputError(path, "not on the grid of the first image (register/resample "
                                   "the channels first)")
        arrays.append(extra.array)
    return volume, arrays


def _progress(quiet: bool):
    def report(done, total, stage):
        if not quiet:
            print(f"\r{stage}: {done}/{total} window batches", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    return report


def _warn_modality(model: str, modality: str) -> None:
    """Say so when the image's modality is known and is not the one the model expects."""
    from models.registry import builtin_models

    spec = next((s for s in builtin_models() if model in (s.name, s.model_id)), None)
    if spec is not None and modality and spec.modality and modality != spec.modality:
        print(f"warning: {spec.name} expects {spec.modality} images; this one is {modality}",
              file=sys.stderr)


def _workspace_session(args):
    if not getattr(args, "workspace", None):
        return None
    from app.cli.errors import UsageError
    from app.cli.workspace import open_session

    if not args.user:
        raise UsageError(f"{args.workspace}: a workspace needs --user (and --password-file "
                         "or the prompt)")
    return open_session(args, args.workspace)


def run(args) -> int:
    from models.errors import Cancelled
    from models.run import propose
    from viewers.io import write_volume

    _check_outputs(args)
    volume, arrays = _read_channels(args)
    _warn_modality(args.model, volume.modality)
    session = _workspace_session(args)
    try:
        model = args.model
        if session is not None:
            from app.workspace_models import load_model

            _, model, _ = load_model(session, args.model, device=args.device)
        else:
            from app.settings import load_settings
            from models.registry import resolve

            model = resolve(model, model_dir=load_settings()["model_directory"])
        proposal = propose(model, arrays if len(arrays) > 1 else arrays[0],
                           volume.affine_lps, progress=_progress(args.quiet),
                           fast=not args.plain, device=args.device, backend=args.backend)
    except (KeyboardInterrupt, Cancelled):
        print("\nannotrace: proposal cancelled; nothing written", file=sys.stderr)
        if session is not None:
            session.logout()
        return 130
    except BaseException:
        if session is not None:
            session.logout()
        raise
    if session is not None:
        # No file name (it may carry PHI): the model, its weights and the input's hash.
        import hashlib

        session.audit("proposal.generate", [], after=proposal.weights_sha256, details={
            "model": proposal.model_id, "weights_sha256": proposal.weights_sha256,
            "input_sha256": hashlib.sha256(volume.array.tobytes()).hexdigest(),
            "source": "annotrace propose"})
        session.logout()
    write_volume(volume.with_array(proposal.labels, modality="SEG",
                                   description=f"proposal {proposal.model_id}"), args.out)
    if args.confidence:
        write_volume(volume.with_array(proposal.confidence, modality="",
                                       description=f"confidence {proposal.model_id}"),
                     args.confidence)
    summary = proposal.summary()
    summary["timings_s"] = {k: round(v, 3) for k, v in proposal.timings_s.items()}
    if args.json:
        print_json(summary, indent=2)
        return 0
    print(f"model    {proposal.model_id}  weights sha256 {proposal.weights_sha256}")
    for name, s in summary["segments"].items():
        conf = "-" if s["mean_confidence"] is None else f"{s['mean_confidence']:.3f}"
        low = "-" if s["low_confidence_fraction"] is None else \
            f"{100 * s['low_confidence_fraction']:.1f}%"
        print(f"segment  {name:<24} {s['voxels']:>10} voxels {s['volume_ml']:>10.1f} ml  "
              f"mean confidence {conf}  below {summary['case']['low_threshold']}: {low}")
    case = summary["case"]
    print(f"case     {case['uncertain_voxels']} uncertain voxels; wrote {args.out}"
          + (f" and {args.confidence}" if args.confidence else ""))
    return 0
