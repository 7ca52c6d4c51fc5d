"""Helpers of the workspace-model tests: a real workspace with approved Colin27 cases."""

from __future__ import annotations

import nibabel as nib
import numpy as np
from cli_passwords import write_password_files

from compliance.keys import KdfParams
from compliance.records import LabelSet
from compliance.workspace import Workspace

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1",
             "rev": "second reader pw"}
ROLES = {"ann": "annotator", "rev": "reviewer"}


def colin_variants(colin_t1, colin_brain, n: int = 3, step: int = 2):
    """``n`` (image, mask, affine_lps) variants of Colin27 at ``step`` mm: the original, a
    left-right mirror and a darker contrast (distinct images with true brain masks)."""
    img = nib.load(str(colin_t1))
    image = np.asarray(img.dataobj).T[::step, ::step, ::step]
    mask = (np.asarray(nib.load(str(colin_brain)).dataobj).T > 0)[::step, ::step, ::step]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([step, step, step, 1.0])
    darker = (255 * (image / 255.0) ** 1.3).astype(image.dtype)
    brighter = np.clip(image.astype(np.float32) * 1.15, 0, 255).astype(image.dtype)
    variants = [(image, mask), (image[:, :, ::-1].copy(), mask[:, :, ::-1].copy()),
                (darker, mask), (brighter, mask)]
    return [(im, m, affine) for im, m in variants[:n]]


def make_workspace(path) -> Workspace:
    ws = Workspace.create(path, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        for name, role in ROLES.items():
            admin.add_user(name, role, PASSWORDS[name])
    return ws


def brain_labels(mask) -> LabelSet:
    layer = mask.astype(np.uint8)
    return LabelSet([layer], [{"segment_id": 1, "name": "brain", "layer": 0, "value": 1}],
                    layer.copy(), {"1": "user:test"})


def add_approved_cases(ws, variants, approve: bool = True) -> list[str]:
    """Import each (image, mask, affine) as a case; the annotator saves and submits the
    mask, the reviewer approves it (electronic signature). Returns the case ids."""
    ids = []
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        for image, mask, affine in variants:
            cid = ann.import_case(image, affine, modality="MR")
            ann.save_labels(cid, brain_labels(mask))
            ann.submit(cid)
            ids.append(cid)
    if approve:
        with ws.login("rev", PASSWORDS["rev"]) as rev:
            for cid in ids:
                rev.approve(cid, PASSWORDS["rev"])
    return ids


def password_file(tmp_path, name: str):
    return str(write_password_files(tmp_path, {name: PASSWORDS[name]})[name])


def make_bundle(tmp_path, name: str = "spleen_ct_segmentation", seed: int = 0):
    """Copy a real MONAI bundle config from tests/data/bundles and save random weights of
    its declared network (as tests/models/bundle_common.py does)."""
    import shutil
    from pathlib import Path

    import torch
    from monai.bundle import ConfigParser

    folder = Path(tmp_path) / name
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "bundles" / name, folder)
    (folder / "models").mkdir()
    parser = ConfigParser()
    parser.read_config(str(folder / "configs" / "inference.json"))
    torch.manual_seed(seed)
    torch.save(parser.get_parsed_content("network_def").state_dict(),
               folder / "models" / "model.pt")
    return folder


def audit_entries(ws, action: str) -> list[dict]:
    """Decrypted audit entries with ``action`` (read by the admin)."""
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        return [e for e in admin.read_audit() if e["action"] == action]
