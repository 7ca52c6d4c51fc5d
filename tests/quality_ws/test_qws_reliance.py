"""Reliance on proposals per reader, from versions made with the real editor (accept, edit)."""

from __future__ import annotations

import gc
import json
import weakref

import numpy as np
import pytest
from qws_common import (PROPOSER, PROPOSER_SHA, SPACING_IJK, image, login,
                        read_with_proposal, sphere)

from app.cli.main import main
from app.cli.quality_ws import report_data, reliance_workspace
from compliance.workspace import Workspace
from models.quality.report import numbers, render_plots

MODEL_ID, SHA = PROPOSER, PROPOSER_SHA


def _shave(mask):
    out = mask.copy()
    out[:12] = False  # the reader removes the upper half of the proposed sphere
    return out


@pytest.fixture
def readings(scenario):
    """Four cases with a stored proposal: ann corrects the first two and leaves the last two
    (one with a lesion added) as proposed; ann2 corrects one and draws one without it."""
    ws_path, _, pw = scenario
    ws = Workspace.open(ws_path)
    ann, ann2, rev = login(ws, "ann"), login(ws, "ann2"), login(ws, "rev")
    output = sphere(radius=7.0).astype(np.uint8)
    cids = []
    for n in range(4):
        cid = ann.import_case(image(100 + n), np.diag([*SPACING_IJK, 1.0]), modality="MR")
        rev.store_model_output(cid, MODEL_ID, output, 0.9, 0.1, SHA, {1: "brain"})
        cids.append(cid)
    for n, cid in enumerate(cids):
        read_with_proposal(ann, cid, output, edit=_shave if n < 2 else None, lesion=n == 3)
    read_with_proposal(ann2, cids[0], output, edit=lambda m: m | sphere(radius=8.0))
    from compliance.qualitystore import labelset_from_map

    ann2.save_labels(cids[1], labelset_from_map(sphere(radius=6.0).astype(np.uint8),
                                                f"user:{ann2.user_id}"))
    return ws_path, pw, rev, output


def test_reliance_per_reader_from_the_editors_provenance(readings):
    _, _, rev, output = readings
    out = reliance_workspace(rev)
    assert out["versions"] == 5  # ann2's drawn-from-scratch case does not count
    ann, ann2 = out["readers"]["ann"], out["readers"]["ann2"]
    p = output.astype(bool)
    kept = p.copy()
    kept[:12] = False
    dice_shaved = 2 * kept.sum() / (p.sum() + kept.sum())
    assert ann["cases"] == 4 and ann["known"] == 4 and ann["as_proposed"] == 2
    assert ann["shares"][:2] == [1.0, 1.0]  # what is left of the proposal is untouched
    assert ann["shares"][3] == pytest.approx(p.sum() / (p.sum() + 8))  # the lesion is drawn
    assert ann["dice_to_proposal"] == pytest.approx((dice_shaved + 1.0) / 2)
    assert ann["removed"] == pytest.approx((1 - kept.sum() / p.sum()) / 2)
    assert ann["earlier"] == 1.0 and ann["later"] == pytest.approx((1.0 + ann["shares"][3]) / 2)
    assert ann["earlier_dice"] == pytest.approx(dice_shaved) and ann["later_dice"] == 1.0
    grown = sphere(radius=8.0)
    assert ann2["cases"] == 1 and ann2["proposal_share"] == pytest.approx(p.sum() / grown.sum())
    assert ann2["added"] == pytest.approx((grown.sum() - p.sum()) / p.sum())
    assert ann2["as_proposed"] == 0 and ann2["earlier"] is None
    from qws_common import PASSWORDS

    with rev.ws.login("admin", PASSWORDS["admin"]) as admin:
        assert admin.read_audit(user="rev")[-1]["action"] == "quality.reliance"


def test_an_output_made_since_by_other_weights_is_not_compared(readings):
    _, _, rev, output = readings
    ws_cases = rev.model_output_cases(MODEL_ID)
    for cid in ws_cases:
        rev.store_model_output(cid, MODEL_ID, output, 0.9, 0.1, "ef" * 32, {1: "brain"})
    ann = reliance_workspace(rev)["readers"]["ann"]
    assert ann["cases"] == 4 and ann["known"] == 0 and ann["dice_to_proposal"] is None


def test_a_session_reads_each_version_once_until_its_output_changes(readings):
    from qws_common import PASSWORDS

    _, _, rev, output = readings

    def opened():
        with rev.ws.login("admin", PASSWORDS["admin"]) as admin:
            return sum(e["action"] == "label.open" for e in admin.read_audit(user="rev"))

    first = reliance_workspace(rev)
    reads = opened()
    assert reads >= 5
    again = reliance_workspace(rev)  # a dashboard refresh: nothing changed, nothing decrypted
    assert again == first and opened() == reads
    ann_s = login(rev.ws, "ann")
    cids = rev.model_output_cases(MODEL_ID)
    untouched = next(c for c in cids  # the case ann left exactly as proposed
                     if np.array_equal(ann_s.load_labels(c)[1].layers[0] > 0, output > 0))
    replaced = next(c for c in cids if c != untouched)
    rev.store_model_output(replaced, MODEL_ID, output, 0.9, 0.1, "ef" * 32, {1: "brain"})
    ann = reliance_workspace(rev)["readers"]["ann"]  # a replaced output is compared no more
    assert ann["cases"] == 4 and ann["known"] == 3 and opened() > reads
    reads, as_proposed = opened(), ann["as_proposed"]
    read_with_proposal(ann_s, untouched, output, edit=_shave)  # a new version of ann's
    ann = reliance_workspace(rev)["readers"]["ann"]
    assert ann["cases"] == 4 and ann["as_proposed"] == as_proposed - 1
    assert opened() == reads + 1  # only the new version was read
    # the rows belong to the login that read them: another login of the same reader reads
    # every version again, and the first session's rows go with it
    from app.cli.quality_ws import _RELIANCE_ROWS

    again_s = login(rev.ws, "rev")
    assert reliance_workspace(again_s)["readers"]["ann"] == ann and opened() > reads + 1
    assert again_s in _RELIANCE_ROWS and rev in _RELIANCE_ROWS
    gone = weakref.ref(again_s)
    again_s.logout()
    del again_s
    gc.collect()
    assert gone() is None  # the cache does not keep a logged-out session alive


def test_cli_reliance_text_json_and_errors(readings, capsys, tmp_path):
    ws_path, pw, _, _ = readings
    auth = ["--user", "rev", "--password-file", pw["rev"]]
    code = main(["quality", str(ws_path), "--reliance", "--json", *auth])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["readers"]["ann"]["as_proposed"] == 2
    code = main(["quality", str(ws_path), "--reliance", *auth])
    text = capsys.readouterr().out
    assert code == 0 and text.splitlines()[0].split()[:3] == ["reader", "cases", "kept"]
    assert any(line.startswith("ann ") and "2 of 4" in line and "1.00 ->" in line
               and line.endswith("-> 1.000") for line in text.splitlines())
    code = main(["quality", str(ws_path), "--reliance", "--task", "brain", *auth])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "annotrace: --task: not with --reliance"
    code = main(["quality", str(tmp_path), "x.nii.gz", "--reliance"])
    err = capsys.readouterr().err
    assert code == 2 and "--reliance: only for a workspace" in err
    code = main(["quality", str(ws_path), "--reliance", "--user", "ann", "--password-file",
                 pw["ann"]])
    assert code == 2 and "may not quality.read" in capsys.readouterr().err


def test_report_shows_the_reliance_plot_and_numbers(readings):
    _, _, rev, _ = readings
    data = report_data(rev, None)
    rows = dict(numbers(data))
    assert rows["ann: kept from proposals"].startswith("median 1.00 over 4 case(s); earlier "
                                                       "half 1.00, later half")
    assert rows["ann: kept from proposals"].endswith("left as proposed 2 of 4")
    pngs = render_plots(data)
    assert set(pngs) == {"dice", "coverage", "agreement", "drift", "reliance"}
    assert pngs["reliance"] != render_plots({})["reliance"]  # drawn, not "no data"


def test_a_proposal_kept_under_the_models_name_is_compared(scenario):
    """The viewer keeps a proposal under the name the user picked (``sphere-unet``) while
    the accepted voxels' provenance names the versioned id (``sphere-unet@2``): the
    reliance still finds the output (same weights) and compares the reading with it."""
    from compliance.qualitystore import labelset_from_map

    ws_path, _, _ = scenario
    ws = Workspace.open(ws_path)
    ann, rev = login(ws, "ann"), login(ws, "rev")
    output = sphere(radius=7.0).astype(np.uint8)
    cid = ann.import_case(image(200), np.diag([*SPACING_IJK, 1.0]), modality="MR")
    rev.store_model_output(cid, MODEL_ID, output, 0.9, 0.1, SHA, {1: "brain"})
    kept = _shave(output.astype(bool)).astype(np.uint8)
    ann.save_labels(cid, labelset_from_map(kept, f"model:{MODEL_ID}@2@sha256:{SHA}",
                                           names={1: "brain"}))
    ann_row = reliance_workspace(rev)["readers"]["ann"]
    assert ann_row["cases"] == 1 and ann_row["known"] == 1
    assert ann_row["dice_to_proposal"] == pytest.approx(
        2 * kept.sum() / (kept.sum() + output.sum()))
    # other weights under that name are not the accepted proposal
    rev.store_model_output(cid, MODEL_ID, output, 0.9, 0.1, "ef" * 32, {1: "brain"})
    assert reliance_workspace(rev)["readers"]["ann"]["known"] == 0
