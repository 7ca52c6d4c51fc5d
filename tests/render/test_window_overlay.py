"""Window/level grey levels and the label overlay blend, pixel by pixel."""

import numpy as np
import pytest

from viewers.labels import Segmentation
from viewers.render import (PRESETS, SegmentStyle, SliceGeometry, WindowLevel, auto_window,
                            compose, grey_of_value, layer_key, outline_of, render_slice, rgba,
                            to_grey)
from viewers.volume import Volume


def reference_grey(values, wl, inverted=False):
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR, written out per value in plain Python."""
    out = []
    for x in np.asarray(values, dtype=float).ravel():
        c, w = wl.center, wl.width
        if x <= c - 0.5 - (w - 1) / 2:
            y = 0.0
        elif x > c - 0.5 + (w - 1) / 2:
            y = 255.0
        else:
            y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
        y = float(np.clip(np.rint(y), 0, 255))
        out.append(255 - y if inverted else y)
    return np.array(out).reshape(np.shape(values))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8, np.int8, np.float32,
                                   np.int32, np.float64])
@pytest.mark.parametrize("inverted", [False, True])
def test_grey_levels_match_the_dicom_linear_function(dtype, inverted):
    wl = WindowLevel(101, 40)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (max(info.min, -200), min(info.max, 300)) if info else (-200, 300)
    values = np.arange(lo, hi, dtype=dtype).reshape(1, -1)
    got = to_grey(values, wl, inverted)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, reference_grey(values, wl, inverted))


def test_known_intensities_map_to_expected_grey():
    wl = PRESETS["CT soft tissue"]  # 400 / 40: -160 -> black, 240 -> white
    values = np.array([[-1000, -160, 40, 239, 240, 3000]], dtype=np.int16)
    np.testing.assert_array_equal(to_grey(values, wl), [[0, 0, 128, 255, 255, 255]])
    assert grey_of_value(40, wl) == 128 and grey_of_value(-161, wl) == 0


def test_auto_window_spans_percentiles():
    arr = np.arange(1000, dtype=np.int16).reshape(10, 10, 10)
    wl = auto_window(arr, 1, 99)
    assert wl.center == pytest.approx(499.5) and wl.width == pytest.approx(0.98 * 999)


def seg_with_three(shape):
    seg = Segmentation(shape, np.eye(4))
    layer = seg.ensure_layer(0)
    ids = []
    for n, box in enumerate([(slice(1, 3), slice(1, 3)), (slice(4, 6), slice(0, 2)),
                             (slice(0, 2), slice(5, 8))]):
        s = seg.add_segment(f"s{n}", color=[(255, 0, 0), (0, 255, 0), (0, 0, 255)][n])
        layer[(slice(None),) + box] = s.value
        ids.append(s.segment_id)
    return seg, ids


def test_overlay_colour_exactly_on_labelled_voxels():
    arr = np.full((3, 6, 8), 100, dtype=np.uint8)
    vol = Volume.from_geometry(arr, (0, 0, 0), (1, 1, 1))  # LPS axial: no flips
    seg, ids = seg_with_three(arr.shape)
    wl = WindowLevel(256, 128)  # uint8 identity-ish: grey(100) = 100
    grey = grey_of_value(100, wl)
    styles = {ids[0]: SegmentStyle(1.0), ids[1]: SegmentStyle(0.5)}
    seg.update_segment(ids[2], visible=False)
    out = rgba(render_slice(vol, SliceGeometry.of(vol, "axial"), 1, wl, seg, styles))
    expected = np.empty((6, 8, 4), np.uint8)
    expected[...] = (grey, grey, grey, 255)
    expected[1:3, 1:3] = (255, 0, 0, 255)
    half = (grey * 128 + 255 * 128 + 128) >> 8
    expected[4:6, 0:2] = (grey * 128 + 128) >> 8, half, (grey * 128 + 128) >> 8, 255
    np.testing.assert_array_equal(out, expected)


def test_second_layer_blends_over_the_first():
    grey = np.full((4, 4), 0, np.uint8)
    lab0 = np.zeros((4, 4), np.uint8)
    lab0[:2] = 1
    lab1 = np.zeros((4, 4), np.uint8)
    lab1[:, :2] = 1
    k0 = ((1, (200, 0, 0), 1.0, False),)
    k1 = ((1, (0, 0, 200), 0.5, False),)
    out = rgba(compose(grey, [(lab0, k0), (lab1, k1)]))
    assert tuple(out[0, 0, :3]) == (100, 0, 100)  # both: red then half blue
    assert tuple(out[0, 3, :3]) == (200, 0, 0)
    assert tuple(out[3, 0, :3]) == (0, 0, 100)
    assert tuple(out[3, 3, :3]) == (0, 0, 0)


def test_outline_mode_draws_only_the_boundary():
    lab = np.zeros((7, 7), np.uint8)
    lab[1:6, 1:6] = 1
    key = ((1, (0, 255, 0), 1.0, True),)
    out = rgba(compose(np.zeros((7, 7), np.uint8), [(lab, key)]))
    green = out[..., 1] == 255
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    np.testing.assert_array_equal(green, ring)
    assert outline_of(lab)[3, 3] == False  # noqa: E712 - interior is not outline


def test_hidden_and_transparent_segments_are_not_drawn():
    seg, ids = seg_with_three((1, 6, 8))
    for sid in ids:
        seg.update_segment(sid, visible=False)
    assert layer_key(seg, 0, {}) == ()
    seg.update_segment(ids[0], visible=True)
    assert layer_key(seg, 0, {ids[0]: SegmentStyle(0.0)}) == ()
    assert len(layer_key(seg, 0, {})) == 1


def test_monochrome1_draws_low_values_white():
    arr = np.array([[[0, 255]]], dtype=np.uint8)
    vol = Volume.from_geometry(arr, (0, 0, 0), (1, 1, 1), display_inverted=True)
    out = rgba(render_slice(vol, SliceGeometry.of(vol, "axial"), 0, WindowLevel(256, 128)))
    assert tuple(out[0, 0, :3]) == (255, 255, 255) and tuple(out[0, 1, :3]) == (0, 0, 0)


@pytest.mark.parametrize("orientation", ["axial", "sagittal"])
def test_reused_buffers_give_the_same_frames(orientation):
    from viewers.render import FrameBuffers

    rng = np.random.default_rng(1)
    arr = rng.integers(-500, 500, size=(5, 6, 7)).astype(np.int16)
    vol = Volume.from_geometry(arr, (0, 0, 0), (1, 1, 1))
    seg, ids = seg_with_three((5, 6, 7))
    styles = {ids[1]: SegmentStyle(0.7, outline=True)}
    g = SliceGeometry.of(vol, orientation)
    buffers = FrameBuffers()
    for index in range(g.num_slices):
        fresh = render_slice(vol, g, index, WindowLevel(300, 0), seg, styles)
        reused = render_slice(vol, g, index, WindowLevel(300, 0), seg, styles, buffers)
        np.testing.assert_array_equal(reused, fresh)
    assert reused is buffers.get("frame", g.size, np.uint32)
