"""The Qt-free editing facade: one image, its segmentation, a history and a policy.

Views and the command line drive the tools through an :class:`Editor`; the Qt
glue (``viewers/qt/editor.py``) only maps mouse and keys onto these calls.

Examples
--------
>>> import numpy as np
>>> from viewers.volume import Volume
>>> from viewers.labels import Segmentation
>>> vol = Volume(np.zeros((4, 8, 8), np.int16), np.diag([1.0, 1.0, 2.0, 1.0]))
>>> ed = Editor(vol, Segmentation.empty_like(vol))
>>> sid = ed.segmentation.add_segment("lesion").segment_id
>>> stroke = ed.begin_stroke(sid, radius_mm=1.0)
>>> n = stroke.add((4, 4, 1)) + stroke.add((5, 4, 1))
>>> int(stroke.commit().voxels_changed)
8
>>> _ = ed.history.undo(); int(ed.segmentation.mask(sid).sum())
0
"""

from __future__ import annotations

import numpy as np

from viewers.edit import logical, painter, shapes
from viewers.edit.history import Command, History
from viewers.edit.policy import EditPolicy
from viewers.labels import Segmentation


class Editor:
    """Editing context shared by all tools.

    Parameters
    ----------
    volume : viewers.volume.Volume
        The image (intensities for threshold and growing, affine for millimetres).
    segmentation : Segmentation
        Must be on the volume's grid.
    history : History, optional
    policy : EditPolicy, optional
    """

    def __init__(self, volume, segmentation: Segmentation, history: History | None = None,
                 policy: EditPolicy | None = None):
        if tuple(segmentation.shape) != tuple(volume.shape):
            raise ValueError(f"segmentation grid {segmentation.shape} is not the image grid {volume.shape}")
        self.volume = volume
        self.segmentation = segmentation
        self.history = history if history is not None else History(segmentation)
        self.policy = policy if policy is not None else EditPolicy()
        # Removals made through the segmentation (the segment panel) become undoable commands.
        segmentation.remover = self._remove_segment

    def _remove_segment(self, segment_id: int):
        return logical.remove_segment(self, segment_id)

    @property
    def image(self) -> np.ndarray:
        return self.volume.array

    @property
    def affine(self) -> np.ndarray:
        return self.volume.affine_lps

    def run(self, tool: str, segment_id: int | None, fn) -> Command | None:
        """Run ``fn(txn)`` as one command; abort (and re-raise) if it fails."""
        txn = self.history.begin(tool, segment_id)
        try:
            fn(txn)
        except BaseException:
            self.history.abort(txn)
            raise
        return self.history.commit(txn)

    # -- brush ----------------------------------------------------------------------------
    def begin_stroke(self, segment_id: int, radius_mm: float, erase: bool = False,
                     slice_axis: int | None = None, policy: EditPolicy | None = None) -> "BrushStroke":
        """Start a brush drag: every :meth:`BrushStroke.add` paints, one command at the end."""
        return BrushStroke(self, segment_id, radius_mm, erase, slice_axis, policy or self.policy)

    # -- polygon --------------------------------------------------------------------------
    def fill_polygon(self, segment_id: int, points_ijk, slice_axis: int, erase: bool = False):
        """Fill (or erase) the voxels of one slice whose centres are inside a polygon.

        Half-open rule: a centre exactly on a left/lower edge is inside, on a right/upper
        edge outside, so that two polygons sharing an edge never both take a voxel.
        """
        bbox, mask = shapes.polygon(self.segmentation.shape, points_ijk, slice_axis)
        if bbox is None:
            return None
        op = painter.erase if erase else painter.add
        return self.run("polygon_erase" if erase else "polygon", segment_id,
                        lambda txn: op(txn, segment_id, bbox, mask, self.policy, self.image))

    # -- threshold ------------------------------------------------------------------------
    def value_at(self, ijk) -> float:
        """Image value of the voxel nearest to continuous index ``(i, j, k)``."""
        i, j, k = (int(np.floor(c + 0.5)) for c in ijk)
        return float(self.image[k, j, i])

    def histogram(self, bins: int = 256, bbox=None):
        """``(counts, edges)`` of the image intensities (within ``bbox`` when given)."""
        data = self.image if bbox is None else self.image[bbox]
        lo, hi = float(data.min()), float(data.max())
        return np.histogram(data, bins=bins, range=(lo, hi if hi > lo else lo + 1))

    def threshold(self, segment_id: int, lo: float, hi: float, bbox=None):
        """Add every voxel with intensity in ``[lo, hi]`` (inside ``bbox``) to the segment."""
        if lo > hi:
            raise ValueError(f"threshold range [{lo}, {hi}] is empty")
        bbox = bbox if bbox is not None else painter.full_box(self.segmentation.shape)
        region = self.image[bbox]
        mask = (region >= lo) & (region <= hi)
        return self.run("threshold", segment_id,
                        lambda txn: painter.add(txn, segment_id, bbox, mask, self.policy, self.image))

    def set_mask(self, tool: str, segment_id: int, bbox, mask: np.ndarray):
        """Replace the segment inside ``bbox`` by ``mask`` as one command (tools, proposals)."""
        return self.run(tool, segment_id,
                        lambda txn: painter.set_mask(txn, segment_id, bbox, mask, self.policy, self.image))

    # -- undo -----------------------------------------------------------------------------
    def undo(self):
        return self.history.undo()

    def redo(self):
        return self.history.redo()


class BrushStroke:
    """One brush drag: many :meth:`add` calls, then :meth:`commit` (one command) or :meth:`abort`.

    Between two consecutive positions the brush is swept (a capsule), so a fast
    drag leaves no gaps.
    """

    def __init__(self, editor: Editor, segment_id: int, radius_mm: float, erase: bool,
                 slice_axis: int | None, policy: EditPolicy):
        if radius_mm <= 0:
            raise ValueError("brush radius must be > 0 mm")
        self.editor, self.segment_id = editor, segment_id
        self.radius_mm, self.erase, self.slice_axis, self.policy = radius_mm, erase, slice_axis, policy
        seg = editor.segmentation.segments[segment_id]
        if seg.locked:
            raise painter.SegmentLocked(f"segment '{seg.name}' is locked")
        self.txn = editor.history.begin("erase" if erase else "paint", segment_id)
        self._last = None

    def add(self, center_ijk) -> int:
        """Paint (or erase) at continuous index ``(i, j, k)``; return voxels written."""
        if self.txn.closed:
            raise RuntimeError("stroke already ended")
        c = np.asarray(center_ijk, dtype=float)
        start = c if self._last is None else self._last
        self._last = c
        bbox, mask = shapes.capsule(self.editor.segmentation.shape, self.editor.affine,
                                    start, c, self.radius_mm, self.slice_axis)
        if bbox is None:
            return 0
        op = painter.erase if self.erase else painter.add
        n = op(self.txn, self.segment_id, bbox, mask, self.policy, self.editor.image)
        self.txn.notify()
        return n

    def commit(self) -> Command | None:
        return self.editor.history.commit(self.txn)

    def abort(self) -> None:
        self.editor.history.abort(self.txn)
