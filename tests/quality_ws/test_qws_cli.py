"""Workspace forms of quality, agreement, calibrate, autolabel, rank and drift, through main()."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qws_common import MODEL, SPACING_IJK, login, sphere

from app.cli.main import main
from compliance.qualitystore import labelset_from_map, segment_masks
from compliance.workspace import Workspace


def run(capsys, *argv):
    code = main(["--debug", *[str(a) for a in argv]])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def auth(pw, who="rev"):
    return ["--user", who, "--password-file", pw[who]]


def audit_actions(ws_path, pw_name="admin"):
    from qws_common import PASSWORDS

    with Workspace.open(ws_path).login("admin", PASSWORDS["admin"]) as s:
        return s.read_audit()


def test_reference_refused_for_unapproved_case_and_audited(scenario, capsys):
    ws, ids, pw = scenario
    code, _, err = run(capsys, "quality", ws, "--task", "brain", "--reference", "mark",
                       ids["draft"], *auth(pw))
    assert code == 2
    assert ids["draft"] in err and "approved" in err and len(err.strip().splitlines()) == 1
    denied = [e for e in audit_actions(ws) if e["action"] == "access.denied"
              and e["details"].get("attempted") == "quality.reference"]
    assert denied and denied[-1]["objects"] == [ids["draft"]]
    # an annotator may not mark a reference at all
    code, _, err = run(capsys, "quality", ws, "--task", "brain", "--reference", "mark",
                       ids["reference"][0], *auth(pw, "ann"))
    assert code == 2 and "may not quality.reference" in err


def test_quality_json_equals_the_metric_functions(scenario, capsys):
    from models.quality.metrics import segment_metrics

    ws, ids, pw = scenario
    code, out, err = run(capsys, "quality", ws, "--task", "brain", "--reference", "mark",
                         *ids["reference"], *auth(pw))
    assert code == 0, err
    rep = run_json(capsys, "quality", ws, "--task", "brain", "--against", "ann2",
                   "--resamples", "200", *auth(pw))
    assert rep["reference_cases"] == 3 and list(rep["readers"]) == ["ann2"]
    rows = {c["case"]: c for c in rep["readers"]["ann2"]["cases"]}
    s = login(Workspace.open(ws), "rev")
    dices = []
    for cid in ids["reference"]:
        mark = s.references("brain")[cid]
        ref = segment_masks(s.load_labels(cid, mark["version"])[1])[1]
        test_v = rows[cid]["version"]
        test = segment_masks(s.load_labels(cid, test_v)[1])[1]
        want = segment_metrics(test, ref, SPACING_IJK, surface=True).as_json()
        got = rows[cid]["segments"]["1"]
        for key in ("dice", "iou", "precision", "recall", "hd95_mm", "asd_mm",
                    "volume_diff_ml", "lesion_f1"):
            assert got[key] == pytest.approx(want[key]), key
        dices.append(want["dice"])
    s.logout()
    summ = rep["readers"]["ann2"]["summary"]["1"]["dice"]
    assert summ["n"] == 3 and summ["mean"] == pytest.approx(np.mean(dices))
    assert summ["ci_low"] <= summ["mean"] <= summ["ci_high"]
    # the reference author's own approved version is the reference, not scored against itself
    rep_all = run_json(capsys, "quality", ws, "--task", "brain", "--no-surface",
                       "--resamples", "100", *auth(pw))
    assert set(rep_all["readers"]) == {"ann2"}
    # and a model's stored outputs
    rep_m = run_json(capsys, "quality", ws, "--task", "brain", "--model", MODEL,
                     "--no-surface", "--resamples", "100", *auth(pw))
    assert list(rep_m["readers"]) == [f"model:{MODEL}"]
    acts = [e["action"] for e in audit_actions(ws)]
    assert acts.count("quality.reference") == 3 and acts.count("quality.evaluate") == 3


def test_quality_without_reference_or_user_is_one_line_error(scenario, capsys):
    ws, ids, pw = scenario
    code, _, err = run(capsys, "quality", ws, "--task", "liver", *auth(pw))
    assert code == 2 and "no reference cases" in err
    code, _, err = run(capsys, "quality", ws, "--task", "liver")
    assert code == 2 and "--user" in err
    bad = ws.parent / "wrong.pw"
    bad.write_text("not the password\n")
    code, _, err = run(capsys, "quality", ws, "--task", "x", "--user", "rev",
                       "--password-file", bad)
    assert code == 2 and "wrong user name or password" in err


def cohen_by_hand(a, b):
    a, b = a.ravel(), b.ravel()
    po = np.mean(a == b)
    pe = sum(np.mean(a == v) * np.mean(b == v) for v in np.union1d(a, b))
    return (po - pe) / (1 - pe)


def test_agreement_kappa_dice_and_staple_reference(scenario, capsys):
    ws, ids, pw = scenario
    rep = run_json(capsys, "agreement", ws, "--cases", *ids["reference"][:2],
                   "--staple-reference", "brain", *auth(pw))
    s = login(Workspace.open(ws), "rev")
    for case_rep, cid in zip(rep["cases"], ids["reference"][:2]):
        assert case_rep["raters"] == ["ann", "ann2"] and case_rep["kappa_kind"] == "cohen"
        a = s.load_labels(cid, case_rep["versions"][0])[1].layers[0]
        b = s.load_labels(cid, case_rep["versions"][1])[1].layers[0]
        assert case_rep["kappa"] == pytest.approx(cohen_by_hand(a, b))
        inter = np.count_nonzero((a > 0) & (b > 0))
        dice = 2 * inter / (np.count_nonzero(a) + np.count_nonzero(b))
        assert case_rep["segments"]["1"]["dice_matrix"][0][1] == pytest.approx(dice, abs=1e-6)
        v = case_rep["staple"]["version"]
        meta, labels = s.load_labels(cid, v)
        assert labels.provenance_legend == {"1": "auto:staple"}
        assert s.references("brain")[cid] == {**s.references("brain")[cid], "version": v,
                                              "kind": "staple"}
    s.logout()
    saves = [e for e in audit_actions(ws) if e["action"] == "label.save"
             and e["details"].get("quality") == "staple"]
    assert len(saves) == 2 and all(e["details"]["decided_by"] == "quality.reference"
                                   for e in saves)


def test_calibrate_autolabel_versions_legend_and_audit(scenario, capsys):
    ws, ids, pw = scenario
    code, out, err = run(capsys, "calibrate", ws, "--model", MODEL, "--task", "brain",
                         "--epsilon", "0.5", "--delta", "0.1", "--tolerance", "0.8",
                         "--grid", "0.5:0.9:0.1", "--spot-check", "0.34", *auth(pw))
    assert code == 0, err
    cal = json.loads(out)
    # 8 validated units: 6 good at >= 0.91, 2 bad at 0.55/0.56; zero errors among 6 units
    # bound 1 - (0.1/5)^(1/6) = 0.479 <= 0.5 at t = 0.6
    assert cal["units"] == 8 and cal["errors"] == 2
    assert cal["threshold"] == pytest.approx(0.6) and cal["units_used"] == 6
    assert cal["bound"] == pytest.approx(1 - (0.1 / 5) ** (1 / 6), abs=1e-6)
    res = run_json(capsys, "autolabel", ws, "--model", MODEL, *auth(pw))
    assert res["pool_units"] == 4 and res["auto_accepted"] == 3 and res["to_humans"] == 1
    legend = f"auto:{MODEL};threshold=0.60;bound={cal['bound']:.4f}"
    assert res["provenance"] == legend and len(res["spot_checks"]) == 1
    s = login(Workspace.open(ws), "rev")
    states = {c["case_id"]: c for c in s.list_cases()}
    for d in res["decisions"]:
        if d["decision"] == "auto":
            meta, labels = s.load_labels(d["unit"])
            assert labels.provenance_legend == {"1": legend}
            assert np.array_equal(labels.layers[0] > 0, sphere(radius=6.5))
        else:
            assert states[d["unit"]]["versions"] == 0  # stays on the human worklist
    s.logout()
    entries = audit_actions(ws)
    acts = [e["action"] for e in entries]
    assert "autolabel.calibrate" in acts and "autolabel.apply" in acts and "drift.route" in acts
    auto_saves = [e for e in entries if e["action"] == "label.save"
                  and e["details"].get("quality") == "auto"]
    assert len(auto_saves) == 3 and {e["details"]["model_id"] for e in auto_saves} == {MODEL}
    # an annotator may not auto-label
    code, _, err = run(capsys, "autolabel", ws, "--model", MODEL, *auth(pw, "ann"))
    assert code == 2 and "autolabel.apply" in err


def test_drift_alert_suspends_autolabel_until_recalibrated(scenario, capsys):
    ws, ids, pw = scenario
    cal_args = ["--model", MODEL, "--task", "brain", "--epsilon", "0.5", "--delta", "0.1",
                "--tolerance", "0.8", "--grid", "0.5:0.9:0.1", "--spot-check", "1.0"]
    assert run(capsys, "calibrate", ws, *cal_args, *auth(pw))[0] == 0
    # 3 of the 4 pool cases are accepted, all spot-checked at rate 1.0
    res = run_json(capsys, "autolabel", ws, "--model", MODEL, "--batch", "b1", *auth(pw))
    assert sorted(res["spot_checks"]) == sorted(d["unit"] for d in res["decisions"]
                                                if d["decision"] == "auto")
    code, _, err = run(capsys, "drift", ws, "record", "--model", MODEL, "--batch", "b1",
                       *auth(pw, "ann"))
    assert code == 2 and "has a human correction yet" in err
    # the annotator corrects the spot checks: the auto contours were badly off
    ann = login(Workspace.open(ws), "ann")
    for cid in res["spot_checks"]:
        ann.save_labels(cid, labelset_from_map(
            sphere(center=(8, 8, 8), radius=4.0).astype(np.uint8), "user:ann"))
    ann.logout()
    rec = run_json(capsys, "drift", ws, "record", "--model", MODEL, "--batch", "b1",
                   *auth(pw, "ann"))
    assert rec["estimate"]["alert"] and rec["suspended"]
    assert rec["estimate"]["mean_dice"] < 0.8 and rec["estimate"]["checked"] == 3
    st = run_json(capsys, "drift", ws, "status", *auth(pw))
    assert st["models"][MODEL]["suspended"] and st["models"][MODEL]["threshold"] is None
    code, _, err = run(capsys, "autolabel", ws, "--model", MODEL, *auth(pw))
    assert code == 2 and "suspended" in err
    acts = [e["action"] for e in audit_actions(ws)]
    assert "drift.record" in acts and "autolabel.suspend" in acts and "autolabel.refused" in acts
    # recalibration lifts the suspension (nothing left to label: an empty batch)
    assert run(capsys, "calibrate", ws, *cal_args, *auth(pw))[0] == 0
    st = run_json(capsys, "drift", ws, "status", "--model", MODEL, *auth(pw))
    assert not st["models"][MODEL]["suspended"]
    assert len(st["models"][MODEL]["batches"]) == 1  # history kept


def test_rank_orders_unlabelled_by_uncertainty(scenario, capsys):
    ws, ids, pw = scenario
    rep = run_json(capsys, "rank", ws, "--model", MODEL, *auth(pw))
    # uncertainty = 1 - confidence: 0.52 first, then 0.94, 0.95, 0.97
    assert [r["case"] for r in rep["cases"]] == [ids["pool"][i] for i in (3, 1, 0, 2)]
    s = login(Workspace.open(ws), "rev")
    ranks = s.quality_state()["ranks"][MODEL]["cases"]
    assert ranks[ids["pool"][3]]["rank"] == 1
    s.logout()


def test_rank_run_model_proposes_on_the_new_cases_only_and_once(scenario, capsys):
    """``rank --run-model``: the real brainmask-unet proposes on the cases with no label
    version (the pool), each output is stored with the weights' hash and audited, the
    ranking covers exactly those cases, and a second run proposes on nothing again."""
    from qws_common import PASSWORDS

    from models.run import _spec

    ws, ids, pw = scenario
    model = "brainmask-unet"
    rep = run_json(capsys, "rank", ws, "--model", model, "--run-model", *auth(pw))
    assert sorted(r["case"] for r in rep["cases"]) == sorted(ids["pool"])
    scores = [r["score"] for r in rep["cases"]]
    assert scores == sorted(scores, reverse=True)
    score_of = {r["case"]: r["score"] for r in rep["cases"]}
    sha = _spec(model).weights_sha256
    with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as s:
        assert sorted(s.model_output_cases(model)) == sorted(ids["pool"])
        for cid in ids["pool"]:
            meta, labels = s.model_output(cid, model)
            assert meta["weights_sha256"] == sha and meta["by"] == s.user_id
            assert labels.shape == s.open_case(cid).array.shape
            assert meta["uncertainty"] == pytest.approx(score_of[cid])
        stamps = {cid: s.model_output_stamp(cid, model) for cid in ids["pool"]}
    stored = [e for e in audit_actions(ws) if e["action"] == "quality.model_output"
              and e["details"]["model_id"] == model]
    assert sorted(o for e in stored for o in e["objects"]) == sorted(ids["pool"])
    again = run_json(capsys, "rank", ws, "--model", model, "--run-model", *auth(pw))
    assert again["cases"] == rep["cases"]
    with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as s:
        assert {cid: s.model_output_stamp(cid, model) for cid in ids["pool"]} == stamps


def test_rank_with_diversity_spreads_the_order_in_the_models_own_description(scenario, capsys,
                                                                             colin_t1):
    """``rank WS --diversity W``: brainmask-unet describes every unlabelled and every approved
    case (its bottleneck activations); each pick maximises (1 - W) * score + W * distance to
    the nearest case approved or picked before. Recomputed here from the same descriptions;
    with W = 1 the real head, unlike every approved sphere, comes first. The weight is stored
    with the ranks and audited; a weight outside [0, 1] is a usage error."""
    import nibabel as nib
    from qws_common import PASSWORDS

    from app.cli.quality_ws import unlabelled_cases
    from models.embedding import CASE_EMBEDDING_METHOD, case_embedding
    from models.quality.ranking import rank_cases
    from models.run import _spec

    ws, ids, pw = scenario
    model = "brainmask-unet"
    img = nib.load(str(colin_t1))
    head = np.asarray(img.dataobj).T[::3, ::3, ::3].astype(np.int16)
    head_affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])
    with Workspace.open(ws).login("ann", PASSWORDS["ann"]) as ann:
        head_id = ann.import_case(head, head_affine, modality="MR")
    rep = run_json(capsys, "rank", ws, "--model", model, "--run-model", "--diversity", "1",
                   *auth(pw))
    assert rep["diversity"] == 1.0 and rep["cases"][0]["case"] == head_id
    first_run = audit_actions(ws)
    runnable = _spec(model).load(device="cpu")
    with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as s:
        pool = unlabelled_cases(s, model)
        approved = [c["case_id"] for c in s.list_cases() if c["state"] == "approved"]

        def described(cid):
            data = s.open_case(cid)
            return case_embedding(runnable, data.array, data.affine_lps)

        features, known = [described(c) for c in pool], [described(c) for c in approved]
        scores = [s.model_output(c, model)[0]["uncertainty"] for c in pool]
        assert s.quality_state()["ranks"][model]["diversity"] == 1.0
    assert len(approved) == len(ids["validated"]) and sorted(pool) == sorted(
        [*ids["pool"], head_id])
    # each case described once, and kept: the next ranking opens (and runs the model on) none
    described_cases = [e["objects"][0] for e in first_run if e["action"] == "quality.description"]
    assert sorted(described_cases) == sorted(pool + approved)
    before = len(audit_actions(ws))
    for w in (1.0, 0.5):
        expected = [pool[i] for i in rank_cases(scores, features, w, labelled_features=known)]
        if w != 1.0:
            rep = run_json(capsys, "rank", ws, "--model", model, "--diversity", str(w),
                           *auth(pw))
        assert [r["case"] for r in rep["cases"]] == expected
        assert [r["score"] for r in rep["cases"]] == pytest.approx(
            [scores[pool.index(c)] for c in expected])
    second_run = audit_actions(ws)[before:]
    assert [e["action"] for e in second_run if e["action"] in (
        "case.open", "quality.description")] == []
    rank = [e for e in second_run if e["action"] == "quality.rank"][-1]
    assert rank["details"]["diversity"] == 0.5
    # a description made by other weights is not used: that case alone is described again
    stale = approved[0]
    with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as s:
        s.store_case_description(stale, model, "0" * 64, CASE_EMBEDDING_METHOD,
                                 np.ones_like(known[0]))
        assert s.case_description(stale, model, _spec(model).weights_sha256,
                                  CASE_EMBEDDING_METHOD) is None
    before = len(audit_actions(ws))
    again = run_json(capsys, "rank", ws, "--model", model, "--diversity", "0.5", *auth(pw))
    assert again["cases"] == rep["cases"]
    third_run = audit_actions(ws)[before:]
    assert [(e["action"], e["objects"]) for e in third_run if e["action"] in (
        "case.open", "quality.description")] == [("case.open", [stale]),
                                                 ("quality.description", [stale])]
    code, _, err = run(capsys, "rank", ws, "--model", model, "--diversity", "1.5", *auth(pw))
    assert code == 2 and "--diversity must lie in [0, 1], got 1.5" in err


def test_rank_with_diversity_refuses_a_model_it_cannot_observe_before_it_runs(scenario,
                                                                              capsys):
    """deepbet is TorchScript: its layers cannot be observed, so ``--diversity`` is refused in
    one line before ``--run-model`` proposes on (and stores outputs for) any case."""
    from qws_common import PASSWORDS

    ws, _, pw = scenario
    code, _, err = run(capsys, "rank", ws, "--model", "deepbet", "--run-model", "--diversity",
                       "0.5", *auth(pw))
    assert code == 2 and err.strip().endswith(
        "deepbet: has no PyTorch network whose layers can be observed (a TorchScript or other "
        "model), so it cannot describe cases for diversity")
    with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as s:
        assert s.model_output_cases("deepbet") == []


def test_file_forms_still_work(tmp_path, capsys):
    csv = tmp_path / "val.csv"
    csv.write_text("unit,confidence,dice\n" + "".join(f"u{i},0.9,0.95\n" for i in range(10)))
    code, out, err = run(capsys, "calibrate", "--csv", csv, "--epsilon", "0.5", "--grid",
                         "0.5:0.9:0.1", "--delta", "0.1")
    assert code == 0, err
    assert json.loads(out)["threshold"] == 0.5
    code, _, err = run(capsys, "calibrate", tmp_path)
    assert code == 2 and "not an annotrace workspace" in err


def test_rank_by_test_time_augmentation_disagreement_runs_the_real_model(scenario, capsys,
                                                                        colin_t1):
    """The built-in brainmask-unet on the pool cases: its four segmentations per case (the
    stored output and three augmented views) give the score, recomputed here independently.
    The synthetic spheres give the brain model nothing to segment (score 0); a real head
    (Colin27 at 3 mm, imported into the pool) does, so the ranking has something to order."""
    import nibabel as nib
    from qws_common import PASSWORDS, image

    from models.quality.ranking import label_disagreement
    from models.run import _spec
    from models.tta import tta_label_maps

    ws, ids, pw = scenario
    model = "brainmask-unet"
    runnable = _spec(model).load(device="cpu")
    img = nib.load(str(colin_t1))
    head = np.asarray(img.dataobj).T[::3, ::3, ::3].astype(np.int16)
    head_affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])
    s = login(Workspace.open(ws), "rev")
    with Workspace.open(ws).login("ann", PASSWORDS["ann"]) as ann:
        head_id = ann.import_case(head, head_affine, modality="MR")
    stored, expected = {}, {}
    for n, cid in enumerate([*ids["pool"], head_id]):
        data = s.open_case(cid)
        stored[cid] = runnable.propose(data.array, data.affine_lps).labels
        s.store_model_output(cid, model, stored[cid], 0.9)
        if cid != head_id:
            np.testing.assert_array_equal(data.array, image(100 + n))
        expected[cid] = label_disagreement(tta_label_maps(runnable, data.array,
                                                          data.affine_lps, stored[cid]))
    s.logout()
    assert expected[head_id] > 0.01 and stored[head_id].any()
    rep = run_json(capsys, "rank", ws, "--model", model, "--method", "disagreement", *auth(pw))
    assert rep["method"] == "disagreement"
    got = {r["case"]: r["score"] for r in rep["cases"]}
    assert got == pytest.approx(expected)
    scores = [r["score"] for r in rep["cases"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == len(ids["pool"]) + 1
    assert rep["cases"][0]["case"] == head_id  # the only case the model disagrees on
    entries = audit_actions(ws)
    rank = [e for e in entries if e["action"] == "quality.rank"][-1]
    assert rank["details"]["method"] == "disagreement"
    opened = {c for e in entries if e["action"] == "case.open" for c in e["objects"]}
    assert set(ids["pool"]) <= opened
    # with diversity the scoring pass describes the cases it opens: every case is opened
    # (decrypted, audited) once, the approved ones only to be described
    rep = run_json(capsys, "rank", ws, "--model", model, "--method", "disagreement",
                   "--diversity", "0.5", *auth(pw))
    assert {r["case"]: r["score"] for r in rep["cases"]} == pytest.approx(expected)
    run_entries = audit_actions(ws)[len(entries):]
    opens = sorted(c for e in run_entries if e["action"] == "case.open" for c in e["objects"])
    described = sorted(c for e in run_entries if e["action"] == "quality.description"
                       for c in e["objects"])
    everything = sorted([*ids["pool"], head_id, *ids["validated"]])
    assert opens == described == everything
    code, _, err = run(capsys, "rank", ws, "--model", model, "--method", "variance", *auth(pw))
    assert code == 2 and "--method variance" in err


def test_rank_by_committee_runs_the_other_real_model_and_compares_by_segment(scenario, capsys,
                                                                           colin_t1):
    """Query by committee: brainmask-unet's stored outputs against deepbet's segmentations
    of the same cases (a real head among the spheres), each score recomputed here as 1 - the
    Dice of the two brain masks; the members are stored with the ranks and audited."""
    import nibabel as nib
    from qws_common import PASSWORDS

    from models.quality.agreement import dice
    from models.run import _spec

    ws, ids, pw = scenario
    model = "brainmask-unet"
    ours, theirs = _spec(model).load(device="cpu"), _spec("deepbet").load(device="cpu")
    img = nib.load(str(colin_t1))
    head = np.asarray(img.dataobj).T[::3, ::3, ::3].astype(np.int16)
    head_affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])
    with Workspace.open(ws).login("ann", PASSWORDS["ann"]) as ann:
        head_id = ann.import_case(head, head_affine, modality="MR")
    s = login(Workspace.open(ws), "rev")
    expected = {}
    for cid in [*ids["pool"], head_id]:
        data = s.open_case(cid)
        stored = ours.propose(data.array, data.affine_lps).labels
        s.store_model_output(cid, model, stored, 0.9)
        other = theirs.propose(data.array, data.affine_lps).labels
        expected[cid] = 1.0 - dice(stored == 1, other == 1)
    s.logout()
    assert 0.0 < expected[head_id] < 0.3  # two brain extractors, mostly agreeing on a head
    rep = run_json(capsys, "rank", ws, "--model", model, "--method", "committee", "--with",
                   "deepbet", *auth(pw))
    assert rep["method"] == "committee" and rep["members"] == ["deepbet"]
    assert {r["case"]: r["score"] for r in rep["cases"]} == pytest.approx(expected)
    scores = [r["score"] for r in rep["cases"]]
    assert scores == sorted(scores, reverse=True)
    s = login(Workspace.open(ws), "rev")
    stored_ranks = s.quality_state()["ranks"][model]
    s.logout()
    assert stored_ranks["method"] == "committee" and stored_ranks["members"] == ["deepbet"]
    rank = [e for e in audit_actions(ws) if e["action"] == "quality.rank"][-1]
    assert rank["details"]["members"] == ["deepbet"]


@pytest.mark.parametrize("extra, message", [
    (["--method", "committee"], "--method committee needs --with OTHER"),
    (["--with", "deepbet"], "--with is for --method committee only"),
    (["--method", "committee", "--with", "brainmask-unet"],
     "brainmask-unet: a committee needs a model other than brainmask-unet"),
    (["--method", "committee", "--with", "deepbett"], "deepbett"),
])
def test_rank_by_committee_refuses_a_missing_same_or_unknown_other_model(scenario, capsys,
                                                                         extra, message):
    ws, ids, pw = scenario
    s = login(Workspace.open(ws), "rev")
    s.store_model_output(ids["pool"][0], "brainmask-unet",
                         np.zeros(s.open_case(ids["pool"][0]).array.shape, np.uint8), 0.9)
    s.logout()
    code, out, err = run(capsys, "rank", ws, "--model", "brainmask-unet", *extra, *auth(pw))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out


def test_rank_committee_is_for_workspaces_only(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.full((2, 2, 2), 0.5, np.float32))
    code, _, err = run(capsys, "rank", tmp_path, "--method", "committee", "--with", "deepbet")
    assert code == 2 and "only for a workspace" in err


def test_rank_of_a_model_without_outputs_is_refused_and_keeps_the_stored_ranks(scenario, capsys):
    ws, ids, pw = scenario
    run_json(capsys, "rank", ws, "--model", MODEL, *auth(pw))
    code, _, err = run(capsys, "rank", ws, "--model", "sphere-net@2", *auth(pw))
    assert code == 2
    assert "model 'sphere-net@2' has no stored output on an unlabelled case" in err
    s = login(Workspace.open(ws), "rev")
    assert set(s.quality_state()["ranks"]) == {MODEL}  # nothing empty stored over it
    s.logout()
