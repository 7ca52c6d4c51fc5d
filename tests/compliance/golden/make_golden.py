"""Write the golden files of on-disk format version 1 (run once; never regenerate).

    .venv/bin/python tests/compliance/golden/make_golden.py

The files are committed; tests/compliance/test_golden.py decrypts them with the
current code, so any change that breaks reading an existing workspace fails the
suite. A new format version gets new golden files next to these, not instead.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from compliance import crypto
from compliance.keys import KdfParams
from compliance.records import LabelSet
from compliance.workspace import Workspace

HERE = Path(__file__).resolve().parent
PASSWORDS = {"admin": "golden first key", "ann": "golden second key", "rev": "golden third key",
             "aud": "golden fourth key"}


def labels() -> LabelSet:
    layer = (np.arange(3 * 4 * 5).reshape(3, 4, 5) % 3).astype(np.uint8)
    over = (np.arange(3 * 4 * 5).reshape(3, 4, 5) % 2).astype(np.uint8)
    return LabelSet([layer, over], [{"segment_id": 1, "name": "a", "layer": 0, "value": 1},
                                    {"segment_id": 2, "name": "b", "layer": 0, "value": 2},
                                    {"segment_id": 3, "name": "c", "layer": 1, "value": 1}],
                    (layer > 0).astype(np.uint8), {"1": "user:golden"})


def main() -> None:
    # 1. one object, three chunks
    plaintext = bytes(range(256)) + b"annotrace golden object v1" * 2
    wid, key = bytes(range(16)), bytes(range(100, 132))
    blob = crypto.encrypt_object({7: key}, 7, wid, "case/00112233aabbccdd/labels", 3, plaintext,
                                 chunk_bytes=128)
    (HERE / "object_v1.bin").write_bytes(blob)
    (HERE / "object_v1.json").write_text(json.dumps({
        "workspace_id": wid.hex(), "key_gen": 7, "key": key.hex(),
        "object_id": "case/00112233aabbccdd/labels", "version": 3, "chunks": 3,
        "plaintext_hex": plaintext.hex()}, indent=1) + "\n")
    # 2. a whole workspace: users, a case, two versions, a submit and a signed approval
    root = HERE / "workspace_v1"
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.create(root, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    admin = ws.login("admin", PASSWORDS["admin"])
    for name, role in (("ann", "annotator"), ("rev", "reviewer"), ("aud", "auditor")):
        admin.add_user(name, role, PASSWORDS[name])
    ann = ws.login("ann", PASSWORDS["ann"])
    image = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    cid = ann.import_case(image, np.diag([0.5, 0.5, 2.0, 1.0]), modality="CT",
                          patient={"name": "Golden^Test"})
    ann.save_labels(cid, labels())
    v2 = labels()
    v2.layers[1][:] = 0
    ann.save_labels(cid, v2)
    ann.submit(cid)
    ws.login("rev", PASSWORDS["rev"]).approve(cid, PASSWORDS["rev"], "approved as golden")
    expected = {"case_id": cid, "passwords": PASSWORDS,
                "image_sha256": hashlib.sha256(image.tobytes()).hexdigest(),
                "versions": [m["content_sha256"] for m in ann.versions(cid)]}
    (HERE / "workspace_v1.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
