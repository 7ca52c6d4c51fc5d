"""Save a grab of annotrace in a workspace: the worklist, an approved case with its verified
signature, the labels (docs/workspace.png).

Run by scripts/screenshot.sh --workspace under Xvfb:  python scripts/screenshot_workspace.py OUT.png
A throw-away workspace (fast test key derivation) gets the demo T1 as one case; the
annotator saves the brain (ch2bet.nii.gz > 0) and submits it, the reviewer approves it with
a signature, and the window shows the reviewer's view of the case.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1",
             "rev": "second reader pw"}


def build_workspace(root: Path) -> str:
    """The workspace with one approved case; returns its id."""
    import numpy as np

    from app.demo import DEMO_BRAIN, DEMO_T1
    from compliance.keys import KdfParams
    from compliance.qualitystore import labelset_from_map
    from compliance.workspace import Workspace
    from viewers.io import read_volume

    ws = Workspace.create(root, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        admin.add_user("ann", "annotator", PASSWORDS["ann"])
        admin.add_user("rev", "reviewer", PASSWORDS["rev"])
    t1 = read_volume(DEMO_T1)
    brain = (read_volume(DEMO_BRAIN).array > 0).astype(np.uint8)
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        cid = ann.import_case(t1.array, t1.affine_lps, modality="MR",
                              patient={"name": "Demo^Colin", "patient_id": "DEMO-1"},
                              description="T1 demo")
        ann.import_case(t1.array[::2, ::2, ::2].copy(),
                        t1.affine_lps @ np.diag([2.0, 2.0, 2.0, 1.0]), modality="MR",
                        patient={"name": "Demo^Colin", "patient_id": "DEMO-2"},
                        description="T1 demo, 2 mm")
        ann.save_labels(cid, labelset_from_map(brain, f"user:{ann.user_id}", names={1: "brain"}))
        ann.submit(cid)
    with ws.login("rev", PASSWORDS["rev"]) as rev:
        rev.approve(cid, PASSWORDS["rev"], meaning="approved as reference standard")
    return cid


def main(out: str) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.workspace_start import window_logged_in

    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        cid = build_workspace(Path(tmp) / "ws")
        window, controller = window_logged_in(Path(tmp) / "ws", "rev", PASSWORDS["rev"],
                                              Path(tmp) / "s.ini", size=(1500, 720))

        def open_case():
            controller.open_case(cid)
            QTimer.singleShot(800, save)

        def save():
            window.grab().save(out)
            print(f"saved {out} ({window.width()}x{window.height()})")
            window.detach_workspace()
            app.quit()

        QTimer.singleShot(800, open_case)
        QTimer.singleShot(120000, app.quit)
        return app.exec()


if __name__ == "__main__":  # the proposal process is started with spawn
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/workspace.png"))
