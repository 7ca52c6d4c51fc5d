"""Radiological display orientation decided from the direction cosines."""

import numpy as np
import pytest

from viewers.geometry import ras_affine_to_lps
from viewers.render import SliceGeometry, closest_axes
from viewers.volume import Volume

DIRECTIONS = {
    # DICOM axial: i -> L, j -> P, k -> S
    "lps": np.eye(3),
    # typical NIfTI (RAS+ storage): i -> R, j -> A, k -> S
    "ras": np.diag([-1.0, -1.0, 1.0]),
    # a coronal acquisition: i -> L, j -> I, k -> A (slices stacked front to back)
    "coronal": np.array([[1, 0, 0], [0, 0, -1], [0, -1, 0]], dtype=float),
    # a sagittal acquisition: i -> P, j -> I, k -> L
    "sagittal": np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float),
}


def marker_volume(direction, shape=(6, 7, 8), spacing=(1.0, 1.0, 1.0)):
    """A volume whose voxel value encodes the LPS sign of its position: + for patient left."""
    arr = np.zeros(shape, dtype=np.int16)
    vol = Volume.from_geometry(arr, (0, 0, 0), spacing, direction)
    k, j, i = np.indices(shape)
    lps = vol.index_to_lps(np.stack([i, j, k], axis=-1).reshape(-1, 3)).reshape(shape + (3,))
    return vol, lps


@pytest.mark.parametrize("name", list(DIRECTIONS))
@pytest.mark.parametrize("orientation, right, down", [
    ("axial", (0, 1), (1, 1)), ("coronal", (0, 1), (2, -1)), ("sagittal", (1, 1), (2, -1))])
def test_screen_axes_follow_patient_axes(name, orientation, right, down):
    """Screen right is patient left (axial, coronal) or posterior (sagittal); down is P or I."""
    vol, lps = marker_volume(DIRECTIONS[name])
    g = SliceGeometry.of(vol, orientation)
    for axis_no in range(3):
        coord = g.extract(lps[..., axis_no], 2)
        if axis_no == right[0]:
            assert np.all(np.diff(coord, axis=1) * right[1] > 0)
            assert np.all(np.diff(coord, axis=0) == 0)
        if axis_no == down[0]:
            assert np.all(np.diff(coord, axis=0) * down[1] > 0)
            assert np.all(np.diff(coord, axis=1) == 0)


def test_letters_of_the_three_views():
    vol, _ = marker_volume(DIRECTIONS["ras"])
    expected = {"axial": "RLAP", "coronal": "RLSI", "sagittal": "APSI"}
    for orientation, letters in expected.items():
        got = SliceGeometry.of(vol, orientation).letters
        assert got["left"] + got["right"] + got["top"] + got["bottom"] == letters


def test_index_display_round_trip_and_pixel_centres():
    vol, _ = marker_volume(DIRECTIONS["ras"], shape=(5, 6, 7))
    g = SliceGeometry.of(vol, "axial")
    # RAS storage: i runs toward the patient's right, so column 0 is the highest i.
    ijk = g.to_index(0.5, 0.5, 3)
    np.testing.assert_allclose(ijk, [6, 5, 3])
    np.testing.assert_allclose(g.to_display([2.0, 1.0, 4.0]), (4.5, 4.5, 4.0))
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 5, 3)
        x, y, s = g.to_display(p)
        np.testing.assert_allclose(g.to_index(x, y, s), p)


def test_anisotropic_spacing_gives_pixel_aspect():
    vol = Volume.from_geometry(np.zeros((10, 20, 30), np.uint8), (0, 0, 0), (0.5, 0.8, 3.0))
    assert SliceGeometry.of(vol, "axial").pixel_mm == (0.5, 0.8)
    assert SliceGeometry.of(vol, "coronal").pixel_mm == (0.5, 3.0)
    assert SliceGeometry.of(vol, "sagittal").pixel_mm == (0.8, 3.0)
    assert SliceGeometry.of(vol, "sagittal").size == (10, 20)


def test_oblique_volume_uses_closest_voxel_axes_and_is_flagged():
    t = np.deg2rad(30)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    vol = Volume.from_geometry(np.zeros((4, 5, 6), np.uint8), (0, 0, 0), (1, 1, 1), rot)
    g = SliceGeometry.of(vol, "axial")
    assert g.oblique and not SliceGeometry.of(marker_volume(np.eye(3))[0], "axial").oblique
    assert (g.col_axis, g.row_axis, g.normal_axis) == (0, 1, 2)
    assert closest_axes(DIRECTIONS["sagittal"]) == (2, 0, 1)
    # the letters show the obliquity (dominant letter first, then the secondary one)
    assert g.letters["right"] == "LP" and g.letters["left"] == "RA"


def test_extract_is_a_view_of_the_array(colin_t1):
    from viewers.io import read_volume

    vol = read_volume(colin_t1)
    assert vol.affine_lps[0, 0] < 0  # stored RAS: i toward the right
    g = SliceGeometry.of(vol, "axial")
    plane = g.extract(vol.array, 90)
    assert np.shares_memory(plane, vol.array)
    # column 0 of the display is the patient's right: the highest i (i runs toward R)
    assert plane[10, 0] == vol.array[90, vol.shape[1] - 1 - 10, vol.shape[2] - 1]


def test_nifti_style_affine_is_converted():
    ras = np.diag([-1.0, 1.0, 1.0, 1.0])  # NIfTI with i toward the left
    vol = Volume(np.zeros((3, 4, 5), np.uint8), ras_affine_to_lps(ras))
    g = SliceGeometry.of(vol, "axial")
    assert not g.col_flip and g.row_flip  # j runs anterior, screen down is posterior
