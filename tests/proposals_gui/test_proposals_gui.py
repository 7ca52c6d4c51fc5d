"""The Proposals menu on the real main window: background run (a real model end to end, and
plumbing with a replaced inference function), outlines and the low-confidence toggle,
accept/reject as undoable commands, click refinement, audit records in a real workspace."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from proposals_gui_common import colin_crop, colin_small, fake_proposal, make_window


def _wait_done(qtbot, ctl, timeout=600_000):
    qtbot.waitUntil(lambda: ctl.worker is not None and not ctl.worker.is_running()
                    and not ctl.timer.isActive(), timeout=timeout)


def _fake(ctl, window):
    ctl.propose_fn = lambda model, image, affine, progress=None, **kw: fake_proposal(window.volume)


def test_real_builtin_model_end_to_end(qtbot, tmp_path):
    volume, reference = colin_small(4)
    window, ctl = make_window(qtbot, tmp_path, volume)
    spec = next(s for s in ctl.models() if s.name == "brainmask-unet")
    assert ctl.propose(spec) is not None
    assert ctl.progress.isVisible() and ctl.cancel_button.isVisible()
    _wait_done(qtbot, ctl)
    assert ctl.error is None
    layer = ctl.layer
    assert layer.model_id == spec.model_id and layer.weights_sha256 == spec.weights_sha256
    proposed = layer.labels == 1
    # a real brain mask: close to the reference brain extraction (Dice 0.90 when written)
    dice = 2 * (proposed & reference).sum() / (proposed.sum() + reference.sum())
    assert dice > 0.8
    assert not ctl.progress.isVisible()
    assert all(v.proposal is layer for v in window.views)
    ctl.actions["accept_all"].trigger()
    seg = window.segmentation
    (brain,) = [s for s in seg.segments.values() if s.name == "brain"]
    np.testing.assert_array_equal(seg.mask(brain.segment_id), proposed)
    code = seg.provenance_code(f"model:{spec.model_id}@sha256:{spec.weights_sha256}")
    np.testing.assert_array_equal(seg.provenance == code, proposed)
    window.edit_controller.undo()
    assert not seg.segments and int(np.count_nonzero(layer.labels)) == int(proposed.sum())


def test_gui_start_does_not_import_torch():
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from app.gui.mainwindow import MainWindow, install_editor\n"
            "from app.gui.proposals import install_proposals\n"
            "w = MainWindow(); install_editor(w); ctl = install_proposals(w)\n"
            "from app.gui.proposals import _fill_models_menu\n"
            "_fill_models_menu(ctl, ctl.propose_menu)\n"
            "assert ctl.propose_menu.actions(), 'no models listed'\n"
            "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _frame(view):
    view._stale = True
    return view.current_frame().copy()


def test_outline_and_low_confidence_toggle(qtbot, tmp_path):
    window, ctl = make_window(qtbot, tmp_path, colin_crop(32))
    _fake(ctl, window)
    view = window.views[0]
    plain = _frame(view)
    ctl.propose("fake")
    _wait_done(qtbot, ctl)
    layer = ctl.layer
    drawn = _frame(view)
    color = layer.segment("brain").color
    rgb = np.uint32(0xFF000000 | (color[0] << 16) | (color[1] << 8) | color[2])
    changed = drawn != plain
    assert (drawn[changed] == rgb).all() and changed.any()  # outline only, segment colour
    labels = view.slice_geometry.extract(layer.labels, view.slice_index)
    assert changed.sum() < (labels != 0).sum()  # not filled
    ctl.low_action.trigger()
    assert layer.show_low_confidence
    tinted = _frame(view)
    conf = view.slice_geometry.extract(layer.confidence, view.slice_index)
    low = conf < layer.low_threshold_u8
    assert low.any() and (tinted[low & (labels == 0)] != plain[low & (labels == 0)]).all()
    assert (tinted[~low & (labels == 0)] == plain[~low & (labels == 0)]).all()
    text = ctl.panel.tree.topLevelItem(0).text(0)
    assert text == "brain" and ctl.panel.tree.topLevelItemCount() == 2


def test_accept_slice_segment_reject_and_undo(qtbot, tmp_path):
    window, ctl = make_window(qtbot, tmp_path, colin_crop(32))
    _fake(ctl, window)
    ctl.propose("fake")
    _wait_done(qtbot, ctl)
    layer, seg = ctl.layer, window.segmentation
    total = int(np.count_nonzero(layer.labels))
    view = window.views[0]  # axial: array axis 0
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    k = view.slice_index
    ctl.actions["accept_slice"].trigger()
    (brain,) = seg.segments.values()
    mask = seg.mask(brain.segment_id)
    assert mask.any() and not np.delete(mask, k, axis=0).any()
    ctl.accept("segment", "brain")
    assert int(seg.mask(brain.segment_id).sum()) == total and not layer.labels.any()
    assert not ctl.actions["accept_all"].isEnabled()
    # accepted in full: the panel says so, lists no row of zeros, and Reject is off
    assert "nothing left to review" in ctl.panel.title.text()
    assert [ctl.panel.tree.topLevelItem(i).text(0)
            for i in range(ctl.panel.tree.topLevelItemCount())] == ["case (proposed)"]
    assert not ctl.actions["reject"].isEnabled()
    window.edit_controller.undo()
    window.edit_controller.undo()
    assert ctl.actions["reject"].isEnabled()
    assert "nothing left" not in ctl.panel.title.text()
    assert not seg.segments and int(np.count_nonzero(layer.labels)) == total
    ctl.actions["reject"].trigger()
    assert layer.rejected and not ctl.actions["accept_all"].isEnabled()
    assert all(v.proposal is layer for v in window.views)
    window.edit_controller.undo()
    assert not layer.rejected and ctl.actions["accept_all"].isEnabled()


def test_an_empty_proposal_is_not_called_accepted(qtbot, tmp_path):
    window, ctl = make_window(qtbot, tmp_path, colin_crop(32))

    def nothing(model, image, affine, progress=None, **kw):
        proposal = fake_proposal(window.volume)
        proposal.labels[...] = 0
        return proposal

    ctl.propose_fn = nothing
    ctl.propose("fake")
    _wait_done(qtbot, ctl)
    assert ctl.layer.proposed_voxels == 0
    assert "the model proposed nothing" in ctl.panel.title.text()
    assert "accepted" not in ctl.panel.title.text()
    assert not ctl.actions["accept_all"].isEnabled() and not ctl.actions["reject"].isEnabled()


def test_cancel_and_failure_keep_the_window_usable(qtbot, tmp_path):
    window, ctl = make_window(qtbot, tmp_path, colin_crop(32))
    started = []

    def slow(model, image, affine, progress=None, **kw):
        for n in range(2000):
            started.append(n)
            progress(n + 1, 2000, "inference")
            time.sleep(0.005)
        raise AssertionError("not cancelled")

    ctl.propose_fn = slow
    ctl.propose("slow")
    qtbot.waitUntil(lambda: ctl.progress.maximum() == 2000, timeout=10000)
    qtbot.mouseClick(ctl.cancel_button, Qt.LeftButton)
    _wait_done(qtbot, ctl)
    assert ctl.layer is None and ctl.error is None and len(started) < 2000
    assert "cancelled" in window.statusBar().currentMessage()

    from models.errors import ModelError

    def broken(model, image, affine, progress=None, **kw):
        raise ModelError("brainmask-unet", "weights file missing: /x/brainmask_unet.pt")

    ctl.propose_fn = broken
    ctl.propose("broken")
    _wait_done(qtbot, ctl)
    assert "weights file missing" in ctl.error and "brainmask-unet" in ctl.error
    assert ctl.layer is None and ctl.propose_menu.isEnabled()


def test_ctrl_click_refines_the_proposal(qtbot, tmp_path):
    window, ctl = make_window(qtbot, tmp_path, colin_crop(32))
    _fake(ctl, window)
    ctl.propose("fake")
    _wait_done(qtbot, ctl)
    layer, view = ctl.layer, window.views[0]
    before = layer.labels.copy()
    centre = np.array([16.0, 16.0, float(view.slice_index)])  # i, j, k: inside the ball
    pos = view.screen_point(centre)
    press = QMouseEvent(QEvent.MouseButtonPress, QPointF(pos), view.mapToGlobal(QPointF(pos)),
                        Qt.LeftButton, Qt.LeftButton, Qt.ControlModifier | Qt.ShiftModifier)
    QApplication.sendEvent(view, press)
    removed = before.astype(bool) & ~layer.labels.astype(bool)
    assert removed.any() and not (layer.labels.astype(bool) & ~before.astype(bool)).any()
    window.edit_controller.undo()
    np.testing.assert_array_equal(layer.labels, before)


def test_workspace_audit_and_permissions(qtbot, tmp_path):
    from compliance.keys import KdfParams
    from compliance.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "admin", "correct horse battery", kdf=KdfParams.testing())
    with ws.login("admin", "correct horse battery") as admin:
        admin.add_user("ann", "annotator", "first reader pw 1")
        admin.add_user("rev", "reviewer", "second reader pw")
    vol = colin_crop(32)
    ann = ws.login("ann", "first reader pw 1")
    cid = ann.import_case(vol.array, vol.affine_lps, modality="MR", patient={"name": "Test^P"})
    window, ctl = make_window(qtbot, tmp_path, vol)
    # a stand-in for app.gui.workspace.WorkspaceController: what the proposals use of it
    window.workspace = _controller(ann, cid)
    _fake(ctl, window)
    ctl.propose("fake")
    _wait_done(qtbot, ctl)
    n = int(np.count_nonzero(ctl.layer.labels))
    ctl.accept("all")
    ctl.reject()  # dismisses what is left of it (nothing here): recorded with 0 voxels

    rev = ws.login("rev", "second reader pw")
    window.workspace = _controller(rev, cid)
    ctl.propose("fake")
    _wait_done(qtbot, ctl)
    before = [a.copy() for a in window.segmentation.layers]
    assert ctl.accept("all") is None  # reviewers may not accept
    assert "proposal.accept" in window.statusBar().currentMessage()
    for a, b in zip(window.segmentation.layers, before):
        np.testing.assert_array_equal(a, b)

    entries = ws.login("admin", "correct horse battery").read_audit(case=cid)
    actions = [e["action"] for e in entries]
    gen = [e for e in entries if e["action"] == "proposal.generated"]
    acc = [e for e in entries if e["action"] == "proposal.accepted"]
    assert len(gen) == 2 and gen[0]["details"]["model_id"] == "fake@1"
    assert len(acc) == 1 and acc[0]["user"] == "ann"
    d = acc[0]["details"]
    assert d == {"model_id": "fake@1", "weights_sha256": "cd" * 32, "scope": "all",
                 "segment": None, "voxels": n, "segments": {"brain": n}}
    assert "access.denied" in actions
    # each proposal on a workspace case is kept as the model's output for calibrate/rank
    from compliance.qualitystore import quality_ops

    meta, output = quality_ops(rev).model_output(cid, "fake")
    assert meta["model_id"] == "fake" and meta["weights_sha256"] == "cd" * 32
    assert output.shape == vol.shape and int(np.count_nonzero(output)) == n
    assert 0.0 <= meta["confidence"] <= 1.0 and meta["uncertainty"] >= 0.0
    assert actions.count("quality.model_output") == 2
    (rej,) = [e for e in entries if e["action"] == "proposal.rejected"]
    assert rej["details"] == {"model_id": "fake@1", "weights_sha256": "cd" * 32, "voxels": 0}
    window.workspace = None


def test_proposals_only_after_the_readers_own_reading_when_the_workspace_says_so(qtbot,
                                                                                tmp_path):
    from compliance.keys import KdfParams
    from compliance.records import LabelSet
    from compliance.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "admin", "correct horse battery", kdf=KdfParams.testing())
    with ws.login("admin", "correct horse battery") as admin:
        admin.add_user("ann", "annotator", "first reader pw 1")
        admin.add_user("rev", "reviewer", "second reader pw")
        admin.change_setting("proposals_after_reading", 1)
    vol = colin_crop(32)
    ann = ws.login("ann", "first reader pw 1")
    cid = ann.import_case(vol.array, vol.affine_lps, modality="MR", patient={"name": "Test^P"})
    window, ctl = make_window(qtbot, tmp_path, vol)
    _fake(ctl, window)
    window.workspace = _controller(ann, cid)
    assert ctl.propose("fake") is None
    assert window.statusBar().currentMessage() == (
        f"case {cid}: save your own reading first; this workspace shows proposals only after "
        "it (setting proposals_after_reading)")
    assert ctl.layer is None
    reading = np.zeros(vol.shape, np.uint8)
    reading[10:20, 10:20, 10:20] = 1
    ann.save_labels(cid, LabelSet([reading], [{"segment_id": 1, "name": "brain", "layer": 0,
                                               "value": 1}], None, {}))
    assert ctl.propose("fake") is not None  # after the reading, the proposal to compare
    _wait_done(qtbot, ctl)
    assert ctl.layer is not None
    rev = ws.login("rev", "second reader pw")
    window.workspace = _controller(rev, cid)  # a reviewer is not bound by it
    assert ctl.propose("fake") is not None
    _wait_done(qtbot, ctl)
    denied = [e for e in ws.login("admin", "correct horse battery").read_audit(case=cid)
              if e["action"] == "access.denied"]
    assert [e["details"] for e in denied] == [
        {"attempted": "proposal.generate", "reason": "before the reader's own version"}]
    window.workspace = None


def _controller(session, case_id):
    return SimpleNamespace(session=session, case_id=case_id, user_label=f"user:{session.user_id}",
                           confirm_leave=lambda: True, close=lambda: None)


def test_proposal_process_runs_cancels_and_reports_errors(qtbot, tmp_path):
    """The real path of the window: a spawned child process, shared-memory results."""
    from proposals_gui_common import SlowModel

    window, ctl = make_window(qtbot, tmp_path, colin_crop(32))
    try:
        ctl.propose(SlowModel(steps=3000))
        assert ctl.process is not None and ctl.process.alive()
        qtbot.waitUntil(lambda: ctl.progress.maximum() == 3000, timeout=60000)
        ctl.cancel()
        _wait_done(qtbot, ctl, timeout=30000)
        assert ctl.layer is None and "cancelled" in window.statusBar().currentMessage()

        ctl.propose(SlowModel(steps=5, fail="weights do not fit the network"))
        _wait_done(qtbot, ctl, timeout=30000)
        assert ctl.error == "slow: weights do not fit the network"  # one line, exit_code kept

        proc = ctl.process
        ctl.propose(SlowModel(steps=5))
        _wait_done(qtbot, ctl, timeout=30000)
        assert ctl.process is proc  # the same child, kept between proposals
        layer = ctl.layer
        np.testing.assert_array_equal(layer.labels, fake_proposal(window.volume).labels)
        assert layer.model_id == "slow@1" and layer.summary()["case"]["voxels"] > 0
    finally:
        ctl.close()
    assert not proc.alive()
