"""Test-time augmentation views and the label maps mapped back to the case grid."""

from types import SimpleNamespace

import numpy as np
import pytest

from models.quality.ranking import label_disagreement
from models.tta import augmented_views, tta_label_maps

AFFINE = np.diag([-1.0, -1.0, 1.0, 1.0])


class Threshold:
    """A 'model' labelling voxels above a fixed intensity (a contrast change moves it)."""

    def __init__(self, level):
        self.level = level
        self.seen = []

    def propose(self, image, affine_lps):
        self.seen.append(image)
        return SimpleNamespace(labels=(image > self.level).astype(np.uint8))


class LeftHalf:
    """A 'model' that ignores the image and labels the array's first half along i."""

    def propose(self, image, affine_lps):
        labels = np.zeros(image.shape, np.uint8)
        labels[..., : image.shape[-1] // 2] = 1
        return SimpleNamespace(labels=labels)


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 100, (6, 8, 10)).astype(np.float32)


def test_views_are_a_mirror_and_two_contrast_changes(image):
    views = list(augmented_views(image))
    assert len(views) == 3
    mirrored, back = views[0]
    np.testing.assert_array_equal(mirrored, image[..., ::-1])
    np.testing.assert_array_equal(back(mirrored), image)
    lo, hi = np.percentile(image, (1, 99))
    for view, back in views[1:]:
        assert view.min() >= lo - 1e-3 and view.max() <= hi + 1e-3
        # a gamma change keeps the order of intensities inside [lo, hi]
        inside = (image > lo) & (image < hi)
        order = np.argsort(image[inside])
        assert np.all(np.diff(view[inside][order]) >= -1e-4)


def test_label_maps_come_back_on_the_case_grid(image):
    model = Threshold(level=50.0)
    maps = tta_label_maps(model, image, AFFINE)
    assert maps.shape == (4,) + image.shape
    np.testing.assert_array_equal(maps[1], maps[0])  # a voxel-wise model is mirror-invariant
    assert not np.array_equal(maps[2], maps[0])     # gamma 0.6 moves the fixed threshold
    assert 0 < label_disagreement(maps) < 0.5
    # a model that depends on position, not on the image, disagrees with its mirror
    fixed = tta_label_maps(LeftHalf(), image, AFFINE)
    assert label_disagreement(fixed[:2]) == 1.0


def test_given_labels_are_not_computed_again(image):
    model = Threshold(level=50.0)
    tta_label_maps(model, image, AFFINE, labels=(image > 50).astype(np.uint8))
    assert len(model.seen) == 3
