"""A small real workspace for the workspace quality commands (shared by tests/quality_ws).

Readers ``ann`` and ``ann2`` (annotators), reviewer ``rev`` (the study lead). Cases are tiny
24^3 volumes whose labels are synthetic spheres; spacing (1.0, 1.2, 1.5) mm.
"""

from __future__ import annotations

import numpy as np
from cli_passwords import write_password_files

from compliance.keys import KdfParams
from compliance.qualitystore import labelset_from_map, quality_ops
from compliance.workspace import Workspace

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1",
             "ann2": "another reader 22", "rev": "second reader pw"}
ROLES = {"ann": "annotator", "ann2": "annotator", "rev": "reviewer"}
SHAPE = (24, 24, 24)
SPACING_IJK = (1.0, 1.2, 1.5)
AFFINE = np.diag([*SPACING_IJK, 1.0])
MODEL = "sphere-net@1"
#: (case confidence, shift of the model's sphere in voxels) of the approved cases: six good
#: proposals with high confidence, two bad ones with low confidence
VALIDATED = [(0.92, 1), (0.95, 0), (0.91, 1), (0.96, 0), (0.93, 1), (0.97, 0), (0.55, 6),
             (0.56, 7)]
#: unlabelled cases: three confident, one not
POOL = [0.95, 0.94, 0.97, 0.52]


def sphere(center=(12, 12, 12), radius=7.0, shape=SHAPE) -> np.ndarray:
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    c = np.asarray(center, float)
    return ((k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2]) ** 2) <= radius ** 2


def image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(100, 10, SHAPE) + 200 * sphere()).astype(np.int16)


def write_passwords(folder) -> dict:
    return {name: str(path) for name, path in write_password_files(folder, PASSWORDS).items()}


def login(ws, name):
    return quality_ops(ws.login(name, PASSWORDS[name]))


def build(root) -> dict:
    """Create the workspace; return the case ids by role in the scenario.

    ``reference``: 3 approved cases double-read (ann2 shifted by one voxel, ann approved);
    ``validated``: the 8 approved cases with a stored model output (the 3 above + 5 more);
    ``draft``: one case ann saved but nobody approved; ``pool``: 4 cases without labels with
    a stored model output.
    """
    ws = Workspace.create(root, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        for name, role in ROLES.items():
            admin.add_user(name, role, PASSWORDS[name])
    ann, ann2, rev = login(ws, "ann"), login(ws, "ann2"), login(ws, "rev")
    ids = {"reference": [], "validated": [], "draft": None, "pool": []}
    for n, (conf, shift) in enumerate(VALIDATED):
        cid = ann.import_case(image(n), AFFINE, modality="MR")
        truth = sphere(radius=6.0 + n % 3)
        if n < 3:  # double reading: ann2 first, so that ann's submitted version is the latest
            ann2.save_labels(cid, labelset_from_map(
                np.roll(truth, 1, axis=2).astype(np.uint8), "user:ann2"))
            ids["reference"].append(cid)
        ann.save_labels(cid, labelset_from_map(truth.astype(np.uint8), "user:ann"))
        ann.submit(cid)
        rev.approve(cid, PASSWORDS["rev"])
        rev.store_model_output(cid, MODEL, np.roll(truth, shift, axis=1).astype(np.uint8),
                               conf, uncertainty=1.0 - conf)
        ids["validated"].append(cid)
    cid = ann.import_case(image(50), AFFINE, modality="MR")
    ann.save_labels(cid, labelset_from_map(sphere().astype(np.uint8), "user:ann"))
    ids["draft"] = cid
    for n, conf in enumerate(POOL):
        cid = ann.import_case(image(100 + n), AFFINE, modality="MR")
        rev.store_model_output(cid, MODEL, sphere(radius=6.5).astype(np.uint8), conf,
                               uncertainty=1.0 - conf)
        ids["pool"].append(cid)
    for s in (ann, ann2, rev):
        s.logout()
    return ids


#: the model of the proposals readers accept in :func:`read_with_proposal`
PROPOSER, PROPOSER_SHA = "sphere-unet", "cd" * 32


def read_with_proposal(reader, cid, output, edit=None, lesion=False):
    """``reader`` opens the case in the real editor, accepts the proposal ``output`` (all of
    it), applies ``edit`` (mask -> new mask of the accepted segment) and optionally draws a
    small "lesion" segment, then saves: provenance as the viewer writes it."""
    from app.labelsets import labelset_from_segmentation
    from viewers.edit import Editor, accept
    from viewers.labels import Segmentation
    from viewers.proposal import ProposalLayer
    from viewers.volume import Volume

    data = reader.open_case(cid)
    vol = Volume.from_geometry(data.array, (0.0, 0.0, 0.0), SPACING_IJK, np.eye(3))
    seg = Segmentation.empty_like(vol)
    seg.current_source = f"user:{reader.user_id}"
    ed = Editor(vol, seg)
    # the layer gives accepted voxels up: hand it a copy, as the viewer does
    layer = ProposalLayer.from_arrays(np.array(output, np.uint8), np.full(output.shape, 250,
                                      np.uint8), [(1, "brain", None)], PROPOSER, PROPOSER_SHA)
    (sid,) = accept(ed, layer).created
    box = tuple(slice(0, n) for n in output.shape)
    if edit is not None:
        ed.set_mask("brush", sid, box, edit(seg.mask(sid)))
    if lesion:
        les = seg.add_segment("lesion")
        extra = np.zeros(output.shape, bool)
        extra[0:2, 0:2, 0:2] = True
        ed.set_mask("brush", les.segment_id, box, extra)
    reader.save_labels(cid, labelset_from_segmentation(seg, seg.current_source))


def add_proposal_readings(root, cases: int = 4) -> list[str]:
    """New cases whose proposal (stored by ``rev``) ``ann`` accepts: the first half
    corrected (upper half of the sphere erased), the rest left as proposed."""
    ws = Workspace.open(root)
    ann, rev = login(ws, "ann"), login(ws, "rev")
    output = sphere(radius=7.0).astype(np.uint8)
    cids = []
    for n in range(cases):
        cid = ann.import_case(image(300 + n), AFFINE, modality="MR")
        rev.store_model_output(cid, PROPOSER, output, 0.9, 0.1, PROPOSER_SHA, {1: "brain"})
        read_with_proposal(ann, cid, output,
                           edit=(lambda m: m & (np.arange(SHAPE[0]) >= 12)[:, None, None])
                           if n < cases // 2 else None)
        cids.append(cid)
    for s in (ann, rev):
        s.logout()
    return cids
