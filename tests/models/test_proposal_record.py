"""The Proposal record: compact confidence and exact per-segment / per-case summaries."""

import numpy as np
import pytest

from models.proposal import Proposal, SegmentInfo, decode_confidence, encode_confidence


def test_confidence_is_one_byte_per_voxel_and_round_trips_within_half_a_step():
    p = np.linspace(0, 1, 1001, dtype=np.float32)
    c = encode_confidence(p)
    assert c.dtype == np.uint8 and c[0] == 0 and c[-1] == 255
    assert np.abs(decode_confidence(c) - p).max() <= 0.5 / 255 + 1e-7


def _proposal():
    labels = np.zeros((2, 3, 4), np.uint8)
    labels[0, 0, :2] = 1          # 2 voxels of segment 1
    labels[1, :, :] = 2           # 12 voxels of segment 2
    conf = np.full(labels.shape, 255, np.uint8)
    conf[0, 0, 0] = 102           # 0.4: uncertain, inside segment 1
    conf[0, 2, 3] = 51            # 0.2: uncertain background
    affine = np.diag([2.0, 2.0, 2.5, 1.0])  # 10 mm^3 voxels
    return Proposal(labels, conf, affine, (SegmentInfo(1, "a"), SegmentInfo(2, "b", "123")),
                    "m@1", "ab" * 32)


def test_summary_counts_volumes_and_uncertain_voxels_exactly():
    s = _proposal().summary(low=0.9)
    a, b = s["segments"]["a"], s["segments"]["b"]
    assert a["voxels"] == 2 and a["volume_ml"] == 0.02
    assert a["mean_confidence"] == round((102 + 255) / 2 / 255, 4)
    assert a["low_confidence_fraction"] == 0.5
    assert b["voxels"] == 12 and b["low_confidence_fraction"] == 0.0
    assert s["case"]["labelled_voxels"] == 14
    assert s["case"]["uncertain_voxels"] == 2
    assert s["case"]["low_confidence_fraction"] == round(1 / 14, 4)
    assert s["model_id"] == "m@1"


def test_masks_per_segment():
    masks = _proposal().segment_masks()
    assert masks["a"].sum() == 2 and masks["b"].sum() == 12
    assert not (masks["a"] & masks["b"]).any()


def test_confidence_must_be_uint8_on_the_label_grid():
    with pytest.raises(ValueError):
        Proposal(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 2), np.float32), np.eye(4),
                 (), "m", "x")
    with pytest.raises(ValueError):
        Proposal(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3), np.uint8), np.eye(4),
                 (), "m", "x")


def test_encoding_leaves_the_input_alone_unless_told_to_overwrite():
    p = np.array([0.2, 0.5, 1.2], np.float32)
    assert encode_confidence(p).tolist() == [51, 128, 255]
    assert p.tolist() == pytest.approx([0.2, 0.5, 1.2])
    encode_confidence(p, overwrite=True)
    assert p.tolist() != pytest.approx([0.2, 0.5, 1.2])
