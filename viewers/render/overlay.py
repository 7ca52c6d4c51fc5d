"""Label overlay: blend the segments of a slice over its grey image.

The result is a ``(rows, cols)`` uint32 image of ``0xFFRRGGBB`` pixels, which is
what Qt's ``QImage.Format_RGB32`` draws without conversion; :func:`rgba` views it
as RGBA bytes for tests and other consumers.

Speed: on the first layer the blended colour depends only on the pair
(label value, grey level), so a 256 x 256 table of blended pixels (256 KiB,
rebuilt only when a colour, opacity or visibility changes) turns the whole blend
into one ``take``. Further layers (overlapping segments) are blended only where
they hold a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_GREY32 = (np.uint32(0xFF000000) | (np.arange(256, dtype=np.uint32) * np.uint32(0x010101)))


@dataclass(frozen=True)
class SegmentStyle:
    """How one segment is drawn: ``opacity`` 0..1 and filled or ``outline`` only."""

    opacity: float = 0.5
    outline: bool = False


# (value, (r, g, b), opacity, outline) for each visible segment of a layer
LayerKey = tuple[tuple[int, tuple[int, int, int], float, bool], ...]


def layer_key(segmentation, layer: int, styles: dict) -> LayerKey:
    """The drawing-relevant state of the visible segments of ``layer`` (hashable)."""
    key = []
    for seg in segmentation.segments.values():
        if seg.layer != layer or not seg.visible:
            continue
        style = styles.get(seg.segment_id, SegmentStyle())
        if style.opacity <= 0:
            continue
        key.append((seg.value, tuple(seg.color), float(style.opacity), bool(style.outline)))
    return tuple(sorted(key))


@lru_cache(maxsize=32)
def _tables(key: LayerKey):
    """Per label value: colour, alpha (0..256 fixed point), outline flag; and the pair table."""
    color = np.zeros((256, 3), dtype=np.int32)
    alpha = np.zeros(256, dtype=np.int32)
    outline = np.zeros(256, dtype=bool)
    for value, rgb, opacity, is_outline in key:
        color[value] = rgb
        alpha[value] = int(round(min(opacity, 1.0) * 256))
        outline[value] = is_outline
    g = np.arange(256, dtype=np.int32)[np.newaxis, :, np.newaxis]
    a = alpha[:, np.newaxis, np.newaxis]
    mixed = (g * (256 - a) + color[:, np.newaxis, :] * a + 128) >> 8  # (256 labels, 256 greys, 3)
    mixed = mixed.astype(np.uint32)
    pair = (np.uint32(0xFF000000) | (mixed[..., 0] << 16) | (mixed[..., 1] << 8)
            | mixed[..., 2]).reshape(-1)
    return color, alpha, outline, pair


def outline_of(labels: np.ndarray) -> np.ndarray:
    """True on labelled pixels with a 4-neighbour of another value (or at the image edge)."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[0, :] = edge[-1, :] = True
    edge[:, 0] = edge[:, -1] = True
    dy = labels[1:, :] != labels[:-1, :]
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    dx = labels[:, 1:] != labels[:, :-1]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    return edge


def _effective(labels: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Labels with the interior of outline-mode segments removed."""
    if not outline.any():
        return labels
    # One gather first: the neighbour comparisons are several passes, slow on a strided
    # (sagittal) view of the layer.
    labels = np.ascontiguousarray(labels)
    keep = ~outline[labels] | outline_of(labels)
    return np.where(keep, labels, np.uint8(0))


def grey_rgb32(grey: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The grey image as ``0xFFgggggg`` pixels."""
    return np.take(_GREY32, grey, out=out)


def compose(grey: np.ndarray, label_planes: list[tuple[np.ndarray, LayerKey]],
            out: np.ndarray | None = None, scratch: np.ndarray | None = None) -> np.ndarray:
    """Blend label planes over a grey image.

    Parameters
    ----------
    grey : (rows, cols) uint8
        The windowed slice.
    label_planes : list of (labels, key)
        Each layer's slice (uint8, same shape as ``grey``, any strides) with its
        :func:`layer_key`; layers with an empty key are skipped.

    out, scratch : ndarray, optional
        Reused buffers: uint32 and uint16 of the slice's shape (``out`` is returned).

    Returns
    -------
    (rows, cols) uint32 of 0xFFRRGGBB
    """
    planes = [(lab, key) for lab, key in label_planes if key]
    if not planes:
        return grey_rgb32(grey, out)
    labels, key = planes[0]
    color, alpha, outline, pair = _tables(key)
    labels = _effective(labels, outline)
    index = np.empty(grey.shape, np.uint16) if scratch is None else scratch
    np.left_shift(labels, 8, out=index, dtype=np.uint16)
    np.bitwise_or(index, grey, out=index)
    out = np.take(pair, index, out=out)
    for labels, key in planes[1:]:
        color, alpha, outline, _ = _tables(key)
        labels = _effective(np.ascontiguousarray(labels), outline)
        where = np.flatnonzero(labels)
        if where.size == 0:
            continue
        values = labels.reshape(-1)[where]
        a = alpha[values][:, np.newaxis]
        flat = out.reshape(-1)
        px = flat[where]
        rgb = np.stack([(px >> 16) & 0xFF, (px >> 8) & 0xFF, px & 0xFF], axis=1).astype(np.int32)
        mixed = ((rgb * (256 - a) + color[values] * a + 128) >> 8).astype(np.uint32)
        flat[where] = (np.uint32(0xFF000000) | (mixed[:, 0] << 16) | (mixed[:, 1] << 8)
                       | mixed[:, 2])
    return out


def rgba(rgb32: np.ndarray) -> np.ndarray:
    """``(rows, cols, 4)`` uint8 RGBA copy of a 0xAARRGGBB image."""
    out = np.empty(rgb32.shape + (4,), dtype=np.uint8)
    out[..., 0] = (rgb32 >> 16) & 0xFF
    out[..., 1] = (rgb32 >> 8) & 0xFF
    out[..., 2] = rgb32 & 0xFF
    out[..., 3] = rgb32 >> 24
    return out


#: Tint of low-confidence proposal voxels (magenta: no default segment colour is near it).
LOW_CONFIDENCE_RGB = (255, 0, 220)
LOW_CONFIDENCE_ALPHA = 0.45


def draw_proposal(frame: np.ndarray, labels: np.ndarray, colors: np.ndarray,
                  confidence: np.ndarray | None = None, low_u8: int | None = None) -> np.ndarray:
    """Draw a proposal slice over a composed frame, in place: outlines, optional low tint.

    A proposal is never filled, so it cannot be mistaken for accepted labels: each proposed
    segment is drawn as its 1-voxel contour in the segment's colour (fully opaque). With
    ``low_u8``, voxels whose ``confidence`` is below it are tinted magenta first (proposed
    or not: low confidence on background is where the model hesitated about the boundary).

    Parameters
    ----------
    frame : (rows, cols) uint32 0xFFRRGGBB
    labels : (rows, cols) uint8
        Proposal labels of the slice (any strides).
    colors : (256, 3) uint8
        RGB per label value.
    confidence : (rows, cols) uint8, optional
    low_u8 : int, optional
        Tint where ``confidence < low_u8``.
    """
    flat = frame.reshape(-1)
    if confidence is not None and low_u8 is not None:
        where = np.flatnonzero(np.ascontiguousarray(confidence) < low_u8)
        if where.size:
            px = flat[where]
            a = int(round(LOW_CONFIDENCE_ALPHA * 256))
            out = np.uint32(0xFF000000)
            for shift, c in zip((16, 8, 0), LOW_CONFIDENCE_RGB):
                ch = ((px >> shift) & 0xFF).astype(np.int32)
                out = out | (((ch * (256 - a) + c * a + 128) >> 8).astype(np.uint32) << shift)
            flat[where] = out
    labels = np.ascontiguousarray(labels)
    if labels.any():
        edge = np.flatnonzero(outline_of(labels) & (labels != 0))
        values = labels.reshape(-1)[edge]
        rgb = colors[values].astype(np.uint32)
        flat[edge] = np.uint32(0xFF000000) | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return frame
