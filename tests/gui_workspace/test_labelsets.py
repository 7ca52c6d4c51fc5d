"""Qt-free conversions between compliance label sets / cases and viewer objects."""

from __future__ import annotations

import numpy as np

from app import labelsets
from compliance.casestore import CaseData
from compliance.records import LabelSet
from viewers.labels import Code, Segmentation


def test_segmentation_round_trips_through_a_labelset():
    seg = Segmentation((4, 5, 6), np.eye(4))
    a = seg.add_segment("organ", color=(1, 2, 3), category=Code("SCT", "123037004", "Anat"))
    b = seg.add_segment("lesion", layer=1)
    seg.ensure_layer(1)
    seg.layers[0][1, 2, 3] = a.value
    seg.layers[1][1, 2, 3] = b.value
    seg.update_segment(b.segment_id, visible=False)
    labels = labelsets.labelset_from_segmentation(seg, "user:u1")
    back = labelsets.segmentation_from_labelset(labels, seg.shape, seg.affine_lps)
    assert back.segments == seg.segments
    for x, y in zip(back.layers, seg.layers):
        np.testing.assert_array_equal(x, y)
    assert back.add_segment("next").segment_id == 3  # ids are never reused
    assert back.layers[0] is not labels.layers[0]  # a copy: edits never touch the stored set


def test_short_segment_dicts_get_defaults():
    layer = np.zeros((2, 2, 2), np.uint8)
    layer[0, 0, 0] = 7
    labels = LabelSet([layer], [{"segment_id": 7, "name": "label 7", "layer": 0, "value": 7}])
    seg = labelsets.segmentation_from_labelset(labels, (2, 2, 2), np.eye(4))
    s = seg.segments[7]
    assert s.color and s.category.meaning == "Tissue" and s.visible and not s.locked
    assert seg.mask(7).sum() == 1


def test_derived_provenance_attributes_changed_voxels_to_the_user(monkeypatch):
    # Without per-edit provenance tracking in the segmentation, it is derived at save time.
    monkeypatch.setattr(labelsets, "tracks_provenance", lambda seg: False)
    base_layer = np.zeros((3, 3, 3), np.uint8)
    base_layer[0] = 1
    base_prov = np.zeros((3, 3, 3), np.uint16)
    base_prov[0] = 1
    base = LabelSet([base_layer], [{"segment_id": 1, "name": "s", "layer": 0, "value": 1}],
                    base_prov, {"1": "model:m@sha256:ab"})
    seg = labelsets.segmentation_from_labelset(base, (3, 3, 3), np.eye(4))
    seg.layers[0][1, 1, 1] = 1  # painted by the user
    seg.layers[0][0, 0, 0] = 0  # erased
    out = labelsets.labelset_from_segmentation(seg, "user:u1", base)
    assert out.provenance_legend == {"1": "model:m@sha256:ab", "2": "user:u1"}
    assert out.provenance[1, 1, 1] == 2 and out.provenance[0, 0, 0] == 0
    assert out.provenance[0, 2, 2] == 1  # unchanged model voxels keep their source
    assert out.provenance.sum() == 8 * 1 + 2
    fresh = labelsets.labelset_from_segmentation(
        labelsets.segmentation_from_labelset(LabelSet([base_layer], base.segments), (3, 3, 3),
                                             np.eye(4)), "user:u1", None)
    assert fresh.provenance_legend == {"1": "user:u1"} and fresh.provenance.sum() == 9


def test_volume_from_case_keeps_geometry_and_phi_apart():
    affine = np.diag([0.5, 0.5, 2.0, 1.0])
    affine[:3, 3] = (10, 20, 30)
    case = CaseData("0123456789abcdef", np.zeros((3, 4, 5), np.int16), affine,
                    {"modality": "CT", "series_uid": "1.2.3", "source_format": "dicom",
                     "patient": {"name": "Doe^J", "patient_id": "X1"}})
    vol = labelsets.volume_from_case(case)
    assert vol.shape == (3, 4, 5) and vol.modality == "CT" and vol.series_uid == "1.2.3"
    np.testing.assert_allclose(vol.origin_lps, (10, 20, 30))
    assert vol.patient.name == "Doe^J" and "Doe" not in repr(vol) + repr(vol.patient)
