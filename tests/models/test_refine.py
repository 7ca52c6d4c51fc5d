"""Click refinement and the simulated clicker / NoC on volumes with known answers."""

import numpy as np
import pytest

from models.clicker import dice, next_click, noc
from models.refine import Click, refine


def _sphere(shape, center, radius):
    k, j, i = np.indices(shape)
    return ((k - center[0]) ** 2 + (j - center[1]) ** 2 + (i - center[2]) ** 2) <= radius ** 2


@pytest.fixture
def scene():
    """A bright organ (value 100) with a bright lobe, on a dark background (value 10)."""
    rng = np.random.default_rng(0)
    shape = (48, 64, 64)
    organ = _sphere(shape, (24, 32, 26), 12) | _sphere(shape, (24, 32, 44), 7)
    image = np.where(organ, 100.0, 10.0) + rng.normal(0, 2, shape)
    return image.astype(np.float32), organ


def test_a_positive_click_adds_the_missed_lobe_and_nothing_else(scene):
    image, organ = scene
    proposal = (organ & ~_sphere(organ.shape, (24, 32, 44), 7)).astype(np.uint8)  # lobe missed
    edit = refine(proposal, image, Click((24, 32, 46), positive=True))
    edit.apply(proposal)
    assert dice(proposal == 1, organ) > 0.99
    assert not (proposal.astype(bool) & ~organ).any()       # no leak into the background
    assert edit.changed.shape == tuple(s.stop - s.start for s in edit.box)


def test_a_negative_click_removes_a_false_positive_blob(scene):
    image, organ = scene
    blob = _sphere(organ.shape, (10, 10, 10), 4)
    proposal = (organ | blob).astype(np.uint8)
    refine(proposal, image, Click((10, 10, 10), positive=False)).apply(proposal)
    assert not (proposal.astype(bool) & blob).any()
    assert (proposal.astype(bool) == organ).all()


def test_the_edit_is_local_and_sparse(scene):
    image, organ = scene
    proposal = np.zeros(organ.shape, np.uint8)
    edit = refine(proposal, image, Click((24, 32, 26), positive=True), max_radius=10)
    assert all(s.stop - s.start <= 21 for s in edit.box)
    assert 0 < edit.voxels < organ.sum()


def test_a_click_outside_the_volume_is_refused(scene):
    image, organ = scene
    with pytest.raises(ValueError, match="outside the volume"):
        refine(organ.astype(np.uint8), image, Click((48, 0, 0), positive=True))


def test_the_clicker_clicks_the_centre_of_the_largest_error_region():
    truth = np.zeros((20, 20, 20), bool)
    pred = truth.copy()
    truth[2:9, 2:9, 2:9] = True          # 7^3 false negative, centre (5, 5, 5)
    pred[14:17, 14:17, 14:17] = True     # 3^3 false positive, smaller
    click = next_click(pred, truth)
    assert click == Click((5, 5, 5), positive=True)
    assert next_click(truth, truth) is None


def test_noc_counts_one_click_per_missed_lobe(scene):
    image, organ = scene
    second = _sphere(organ.shape, (38, 12, 12), 5)
    image = np.where(second, 100.0, image).astype(np.float32)
    truth = organ | second
    proposal = (organ & ~_sphere(organ.shape, (24, 32, 44), 7)).astype(np.uint8)
    result = noc(proposal, image, truth, targets=(0.90, 0.99), max_clicks=5)
    assert result["dice_curve"][0] < 0.90
    assert result["noc"] == {"90": 1, "99": 2}


def test_a_click_never_undoes_an_earlier_click_of_the_other_kind(scene):
    image, organ = scene
    proposal = np.zeros(organ.shape, np.uint8)
    earlier = Click((24, 32, 20), positive=False)      # "not here", inside the bright organ
    edit = refine(proposal, image, Click((24, 32, 32), positive=True), history=(earlier,))
    edit.apply(proposal)
    assert proposal[24, 32, 32] == 1 and proposal[24, 32, 20] == 0
    # the organ is split at the midplane between the two clicks (i = 26)
    assert proposal[24, 32, 27] == 1 and proposal[24, 32, 25] == 0
