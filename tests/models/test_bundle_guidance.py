"""Click guidance for the real DeepEdit bundle config (tests/data/bundles), with weights made by
the test for its declared DynUNet: guidance channels at the clicks, local effect, refusals.

The bundle resizes every image to 128^3; ``spatial_size`` is cut to 64x64x32 here only to keep
CPU time low (the smallest size DynUNet's strides and instance norm accept is 64x64x32).
"""

from __future__ import annotations

import numpy as np
import pytest

from models.bundle_spec import bundle_spec
from models.errors import BundleRefused
from models.guidance import (GuidanceClick, clicks_by_label, map_points, plan_guidance,
                             propose_with_clicks, requires_clicks)
from models.refine import Click

SMALL = {"spatial_size": [64, 64, 32]}
SHAPE = (20, 24, 28)                                   # (k, j, i)
AFFINE = np.diag([1.5, -1.2, 2.0, 1.0])                # i runs to the patient's left: flipped
A, B = (10, 12, 8), (6, 6, 22)                         # (k, j, i) far apart


@pytest.fixture(scope="module")
def deepedit(tmp_path_factory):
    from bundle_common import make_bundle

    folder = make_bundle(tmp_path_factory.mktemp("deepedit"), "spleen_deepedit_annotation")
    spec = bundle_spec(folder)
    return spec, spec.load(device="cpu")


def _body(bright=()):
    """A soft-tissue ellipse in air; ``bright``: (k, j, i, HU) cubes of 3^3 voxels."""
    k, j, i = np.indices(SHAPE)
    vol = np.where(((i - 14) ** 2 / 144 + (j - 12) ** 2 / 100) < 1, 40, -1000).astype(np.int16)
    vol = vol + np.random.default_rng(7).normal(0, 5, SHAPE).astype(np.int16)
    for kk, jj, ii, hu in bright:
        vol[kk - 1:kk + 2, jj - 1:jj + 2, ii - 1:ii + 2] = hu
    return vol


def _centroid(mask):
    return np.argwhere(mask).mean(axis=0)


def test_guidance_channels_are_built_at_the_clicks(deepedit):
    spec, model = deepedit
    assert requires_clicks(spec) and model.label_names() == ["spleen", "background"]
    # two marked spots in the image itself: MONAI's own resampling of the image says where
    # each click must land on the network grid, independently of annotrace's point mapping
    vol = _body([(*A, 250), (*B, 600)])
    seen = {}
    proposal = propose_with_clicks(model, vol, AFFINE, [Click(A, True), Click(B, False)],
                                   overrides=SMALL, input_hook=lambda x: seen.update(x=x[0]))
    assert proposal.labels.shape == SHAPE
    x = seen["x"].numpy()
    assert x.shape == (3, 64, 64, 32)                  # image + spleen + background channels
    image, spleen, background = x
    near_a = image > 0.97                              # both spots clip at 1.0 (a_max 250)
    labels = _label_spots(near_a)
    peaks = [np.array(np.unravel_index(c.argmax(), c.shape)) for c in (spleen, background)]
    assert spleen.max() == pytest.approx(1.0) and background.max() == pytest.approx(1.0)
    spot_of = [labels[tuple(p)] for p in peaks]
    assert 0 not in spot_of and spot_of[0] != spot_of[1]
    for peak, spot in zip(peaks, spot_of):
        assert np.abs(peak - _centroid(labels == spot)).max() <= 1.0
    # the source's i axis points to the patient's left (LPS x = +1.5 i), so after the
    # bundle's Orientationd to RAS it is reversed: A (i=8) ends at a larger i' than B (i=22)
    assert peaks[0][0] > peaks[1][0]


def _label_spots(mask):
    from scipy import ndimage

    labels, _ = ndimage.label(mask)
    return labels


def test_a_click_changes_the_output_near_it(deepedit):
    _, model = deepedit
    vol = _body()
    first = propose_with_clicks(model, vol, AFFINE, [Click(A, True)], overrides=SMALL)
    second = propose_with_clicks(model, vol, AFFINE, [Click(A, True), Click(B, False)],
                                 overrides=SMALL)
    k, j, i = np.indices(SHAPE)
    mm = np.sqrt(((k - B[0]) * 2.0) ** 2 + ((j - B[1]) * 1.2) ** 2 + ((i - B[2]) * 1.5) ** 2)
    change = np.abs(first.confidence.astype(int) - second.confidence.astype(int))
    near, far = change[mm < 8].mean(), change[mm > 20].mean()
    assert near > 3 * far, (near, far)
    assert second.model_id == first.model_id and second.labels.shape == SHAPE


def test_click_driven_bundle_refuses_without_clicks(deepedit):
    from models.run import propose

    spec, model = deepedit
    vol = _body()
    with pytest.raises(BundleRefused, match="needs click guidance"):
        propose(model, vol, AFFINE)
    with pytest.raises(BundleRefused, match="give at least one click"):
        propose_with_clicks(model, vol, AFFINE, [])
    with pytest.raises(BundleRefused, match="click for label 'liver'"):
        propose_with_clicks(model, vol, AFFINE, [GuidanceClick(A, "liver")], overrides=SMALL)


def test_clicks_group_by_label_in_channel_order():
    grouped = clicks_by_label([Click((1, 2, 3), False), Click((4, 5, 6), True),
                               GuidanceClick((7, 8, 9), "spleen")], ["spleen", "background"])
    assert list(grouped) == ["spleen", "background"]
    assert grouped == {"spleen": [(4, 5, 6), (7, 8, 9)], "background": [(1, 2, 3)]}


def test_plain_bundles_take_no_clicks_and_other_guidance_kinds_are_refused(bundle_factory):
    assert not requires_clicks(bundle_spec(bundle_factory("spleen_ct_segmentation")))
    assert plan_guidance({"preprocessing": {"transforms": [{"_target_": "Orientationd"}]}}) is None
    deepgrow = {"label_names": {"spleen": 1},
                "pre": [{"_target_": "monai.apps.deepgrow.transforms.AddGuidanceSignald"}]}
    with pytest.raises(BundleRefused, match=r"cannot build \(AddGuidanceSignald\)"):
        plan_guidance(deepgrow)


def test_map_points_follows_the_affines():
    """A source voxel lands where the network grid's affine puts the same RAS point."""
    src = np.array([[0.0, 0, 1.1, -20], [1.3, 0, 0, 5], [0, -0.9, 0, 7], [0, 0, 0, 1]])
    net = np.diag([0.5, 0.5, 0.8, 1.0])
    net[:3, 3] = [-30.0, -10.0, -25.0]
    (point,) = map_points([(4, 6, 2)], src, net, (200, 200, 200))
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ src @ [2, 6, 4, 1]
    assert np.allclose(net @ [*point, 1], ras, atol=0.5 * 0.8)
    # k = 400 is 440 mm to the patient's left, far below i' = 0: clipped onto the grid
    assert map_points([(400, 6, 2)], src, net, (10, 10, 10))[0][0] == 0
