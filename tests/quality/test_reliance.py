"""Reliance on proposals from a version's provenance (Qt-free, exact voxel counts)."""

from __future__ import annotations

import numpy as np
import pytest

from models.quality.reliance import (AS_PROPOSED_DICE, reader_summary, source_model,
                                     version_reliance)

SOURCE = "model:brainmask-unet@sha256:" + "ab" * 32
LEGEND = {"1": SOURCE, "2": "user:3f2a"}


def _block(shape=(10, 10, 10), box=(slice(2, 8),) * 3):
    m = np.zeros(shape, bool)
    m[box] = True
    return m


def test_source_model_splits_id_and_weights():
    assert source_model(SOURCE) == ("brainmask-unet", "ab" * 32)
    assert source_model("model:spleen@1@sha256:00") == ("spleen@1", "00")
    assert source_model("model:legacy") == ("legacy", "")


def test_kept_drawn_removed_and_added_are_counted_exactly():
    proposal = _block()                                # 216 voxels
    labelled = proposal.copy()
    labelled[2:8, 2:8, 2] = False                      # the reader erased one face: 36 voxels
    labelled[8, 2:8, 2:8] = True                       # ...and drew one layer more: 36 voxels
    prov = np.zeros(proposal.shape, np.uint16)
    prov[labelled & proposal] = 1
    prov[labelled & ~proposal] = 2
    r = version_reliance(labelled, prov, LEGEND, proposal)
    assert (r.voxels, r.from_proposal, r.drawn, r.proposal_voxels) == (216, 180, 36, 216)
    assert r.proposal_share == pytest.approx(180 / 216)
    assert r.dice_to_proposal == pytest.approx(2 * 180 / (216 + 216))
    assert r.removed == pytest.approx(36 / 216) and r.added == pytest.approx(36 / 216)
    assert r.as_proposed is False
    assert r.as_json()["proposal_share"] == pytest.approx(180 / 216)


def test_a_version_left_as_proposed_and_one_without_the_proposal_stored():
    proposal = _block()
    prov = proposal.astype(np.uint16)
    r = version_reliance(proposal, prov, LEGEND, proposal)
    assert r.dice_to_proposal == 1.0 >= AS_PROPOSED_DICE and r.as_proposed is True
    r = version_reliance(proposal, prov, LEGEND)  # the output was not stored: shares only
    assert r.proposal_share == 1.0 and r.dice_to_proposal is None and r.as_proposed is None


def test_only_the_structures_the_model_segments_are_compared():
    proposal = _block()
    lesion = _block(box=(slice(0, 1), slice(0, 2), slice(0, 2)))  # 4 voxels the model lacks
    labelled = proposal | lesion
    prov = np.where(proposal, 1, np.where(lesion, 2, 0)).astype(np.uint16)
    r = version_reliance(labelled, prov, LEGEND, proposal, compared=proposal)
    assert r.as_proposed is True and r.drawn == 4
    assert r.proposal_share == pytest.approx(216 / 220)


def test_versions_that_took_nothing_from_a_proposal_are_not_counted():
    drawn = _block()
    assert version_reliance(drawn, drawn.astype(np.uint16) * 2, LEGEND) is None
    assert version_reliance(drawn, None, LEGEND) is None
    assert version_reliance(drawn, drawn.astype(np.uint16), {"1": "user:3f2a"}) is None
    with pytest.raises(ValueError, match="not on the labels' grid"):
        version_reliance(drawn, np.ones((2, 2, 2), np.uint16), LEGEND)


def test_reader_summary_orders_cases_by_time_and_compares_halves():
    rows = [{"reader": "ann", "time": f"2026-12-0{d}T10:00:00Z", "proposal_share": s,
             "dice_to_proposal": dc, "removed": 0.0, "added": 0.0,
             "as_proposed": None if dc is None else dc >= AS_PROPOSED_DICE}
            for d, s, dc in [(4, 1.0, 1.0), (1, 0.6, 0.8), (3, 0.99, 0.9995), (2, 0.7, None)]]
    rows.append({"reader": "ben", "time": "2026-12-01T09:00:00Z", "proposal_share": 0.5,
                 "dice_to_proposal": 0.7, "removed": 0.3, "added": 0.1, "as_proposed": False})
    out = reader_summary(rows)
    ann = out["ann"]
    assert ann["cases"] == 4 and ann["shares"] == [0.6, 0.7, 0.99, 1.0]
    assert ann["earlier"] == pytest.approx(0.65) and ann["later"] == pytest.approx(0.995)
    assert (ann["as_proposed"], ann["known"]) == (2, 3)
    assert ann["dice_to_proposal"] == pytest.approx(0.9995)
    assert ann["earlier_dice"] == pytest.approx(0.8) and ann["later_dice"] == pytest.approx(
        (0.9995 + 1.0) / 2)  # case 2 has no stored proposal: its half has one Dice
    assert out["ben"]["earlier"] is None and out["ben"]["cases"] == 1  # too few to compare


@pytest.mark.parametrize("cases", [1, 2, 7])
def test_reliance_plot_counts_whole_cases(cases):
    # one reader with a single case had ticks 0.95 .. 1.05 on "reader's cases"
    from models.quality.report import _figure, _plot_reliance

    fig, ax = _figure()
    _plot_reliance(ax, {"reliance": {"readers": {"ann": {
        "shares": [1.0] * cases, "dices": [0.9] * cases}}}})
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert min(ticks) >= 1 and max(ticks) <= cases
