"""Run the whole quality flow on a scenario workspace (shared by the report and GUI tests)."""

from __future__ import annotations

import numpy as np
from qws_common import MODEL, PASSWORDS, login, sphere

from app.cli.main import main
from compliance.qualitystore import labelset_from_map
from compliance.workspace import Workspace


def full_flow(ws, ids, pw) -> None:
    """References, agreement, calibration, one auto-labelled batch with a bad spot check."""
    rev = ["--user", "rev", "--password-file", pw["rev"]]
    assert main(["quality", str(ws), "--task", "brain", "--reference", "mark",
                 *ids["reference"], *rev]) == 0
    assert main(["agreement", str(ws), "--cases", *ids["reference"], *rev]) == 0
    assert main(["calibrate", str(ws), "--model", MODEL, "--task", "brain", "--epsilon", "0.5",
                 "--delta", "0.1", "--tolerance", "0.8", "--grid", "0.5:0.9:0.1",
                 "--spot-check", "1.0", *rev]) == 0
    assert main(["autolabel", str(ws), "--model", MODEL, "--batch", "b1", *rev]) == 0
    ann = login(Workspace.open(ws), "ann")
    with ann:
        for n, cid in enumerate(ids["pool"][:3]):
            # two spot checks confirmed as they were, one badly corrected
            mask = sphere(radius=6.5) if n < 2 else sphere(center=(8, 8, 8), radius=4.0)
            ann.save_labels(cid, labelset_from_map(mask.astype(np.uint8), "user:ann"))
    assert main(["drift", str(ws), "record", "--model", MODEL, "--batch", "b1",
                 "--user", "ann", "--password-file", pw["ann"]]) == 0
    assert PASSWORDS  # the flow uses the scenario's users
