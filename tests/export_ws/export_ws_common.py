"""A real workspace with a DICOM case imported, labelled, submitted and approved (helpers shared
by the workspace export tests; imported by name, never through conftest)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cli_passwords import write_password_files

from app.cli.main import main
from compliance.export.sources import series_header_bytes
from compliance.keys import KdfParams
from compliance.records import LabelSet
from compliance.workspace import Workspace

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1",
             "rev": "second reader pw", "aud": "privacy officer 9"}
ROLES = {"ann": "annotator", "rev": "reviewer", "aud": "auditor"}
MODEL = "model:liver-unet@sha256:" + "ab12" * 16

LIVER_CODES = {"category": {"scheme": "SCT", "value": "123037004",
                            "meaning": "Anatomical Structure"},
               "type": {"scheme": "SCT", "value": "10200004", "meaning": "Liver"}}
TUMOUR_CODES = {"category": {"scheme": "SCT", "value": "49755003",
                             "meaning": "Morphologically Abnormal Structure"},
                "type": {"scheme": "SCT", "value": "108369006", "meaning": "Neoplasm"}}


@dataclass
class Env:
    """The workspace, its users' password files, and a runner of the real command line."""

    root: Path
    ws: Workspace
    files: dict
    capsys: object
    user_ids: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.ws.root

    def login(self, name: str):
        return self.ws.login(name, PASSWORDS[name])

    def cli(self, *args, user: str | None = None):
        """``annotrace ARGS`` in this process: (exit code, stdout, stderr)."""
        argv = [str(a) for a in args]
        if user:
            argv += ["--user", user, "--password-file", str(self.files[user])]
        code = main(argv)
        out, err = self.capsys.readouterr()
        return code, out, err

    def audit(self, action: str | None = None) -> list[dict]:
        with self.login("aud") as aud:
            _, entries = aud.verify_audit()
        return [e for e in entries if action is None or e.get("action") == action]


def make_env(tmp_path: Path, capsys) -> Env:
    ws = Workspace.create(tmp_path / "ws", "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    files = write_password_files(tmp_path, PASSWORDS)
    env = Env(tmp_path, ws, files, capsys)
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        for name, role in ROLES.items():
            admin.add_user(name, role, PASSWORDS[name])
    for name in PASSWORDS:
        with env.login(name) as s:
            env.user_ids[name] = s.user_id
    return env


def import_dicom(env: Env, folder: Path) -> str:
    """Import a DICOM folder as ``annotrace case import`` does, keeping the series headers."""
    from viewers.io import read_volume

    volume = read_volume(folder)
    with env.login("ann") as s:
        return s.import_case(volume.array, volume.affine_lps, modality=volume.modality,
                             series_uid=volume.series_uid, study_uid=volume.study_uid,
                             source_format=volume.source_format,
                             patient=volume.patient.as_dict(),
                             dicom_headers=series_header_bytes(folder, volume.series_uid))


def case_grid(env: Env, case_id: str):
    with env.login("rev") as s:
        return s.case_grid(case_id)


def masks_for(shape) -> np.ndarray:
    """Two overlapping segments (k, j, i): a liver and a tumour inside it reaching out."""
    k, j, i = shape
    masks = np.zeros((2,) + tuple(shape), dtype=bool)
    masks[0, 1:k - 1, 2:j - 2, 2:i - 3] = True
    masks[1, 2:4, 4:8, 5:i - 1] = True
    masks[0, 0, 0, 0] = True  # a corner voxel: orientation check
    return masks


def label_set(masks: np.ndarray, ann_id: str) -> LabelSet:
    """Liver painted by the user; tumour proposed by a model and partly corrected by hand."""
    liver, tumour = masks
    layers = [liver.astype(np.uint8), tumour.astype(np.uint8)]
    provenance = np.zeros(liver.shape, np.uint8)
    provenance[liver] = 1
    provenance[tumour & ~liver] = 2  # the model's tumour; where it meets the liver the user
    # painted over it, so the tumour is SEMIAUTOMATIC and the liver MANUAL
    segments = [{"segment_id": 1, "name": "Liver", "layer": 0, "value": 1,
                 "color": [221, 130, 101], **LIVER_CODES},
                {"segment_id": 2, "name": "Tumour", "layer": 1, "value": 1,
                 "color": [216, 101, 79], **TUMOUR_CODES}]
    return LabelSet(layers, segments, provenance, {"1": f"user:{ann_id}", "2": MODEL})


def label_and_approve(env: Env, case_id: str, approve: bool = True) -> np.ndarray:
    """Save a version (annotator), submit it, and approve it (reviewer): the masks saved."""
    shape, _ = case_grid(env, case_id)
    masks = masks_for(shape)
    with env.login("ann") as ann:
        ann.save_labels(case_id, label_set(masks, ann.user_id))
        ann.submit(case_id)
    if approve:
        with env.login("rev") as rev:
            rev.approve(case_id, PASSWORDS["rev"])
    return masks


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())
