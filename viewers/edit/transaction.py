"""An open edit: every voxel write goes through here so that it can be undone.

A :class:`Transaction` records, per layer, the flat indices, old values and new
values of every voxel it changes, plus the segment bookkeeping (layer/value
moves, segments created). A brush drag keeps one transaction open across all
its mouse events; :meth:`Transaction.commit` turns it into one
:class:`~viewers.edit.history.Command` holding compressed sparse diffs, and
:meth:`Transaction.abort` puts every voxel back.

Provenance: a voxel written with a segment value is attributed to :attr:`Transaction.source`
(by default the segmentation's ``current_source``, e.g. "user:<user_id>"; accepting a proposal
uses "model:<id>@sha256:<hash>") in ``Segmentation.provenance``; a voxel that no layer labels
any more gets code 0. Those changes are recorded like the layer writes (flat index, old, new),
so undo restores them and their memory is proportional to the voxels changed. Moving a segment
between layers (:func:`viewers.edit.painter.relocate`) writes with ``mark=False``: the voxels
keep where they came from.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from viewers.labels import Segment, Segmentation


def snapshot_segments(seg: Segmentation) -> dict[int, Segment]:
    """Copies of the segments' metadata (segments are small; copying them is free)."""
    return {sid: dataclasses.replace(s) for sid, s in seg.segments.items()}


def restore_segments(seg: Segmentation, frm: dict[int, Segment], to: dict[int, Segment]) -> bool:
    """Apply to ``seg`` the segment changes that lead from snapshot ``frm`` to snapshot ``to``.

    Only what the command itself changed is replayed (segments it created or deleted,
    layer/value moves), so a segment the user added, renamed or recoloured outside the
    command since it ran is left alone. Returns True when anything changed.
    """
    changed = False
    for sid in frm:
        if sid not in to and sid in seg.segments:
            del seg.segments[sid]
            changed = True
    for sid, want in to.items():
        have = seg.segments.get(sid)
        if sid not in frm:
            if have is None:
                seg.segments[sid] = dataclasses.replace(want)
                seg._next_id = max(seg._next_id, sid + 1)
                changed = True
        elif have is not None and (frm[sid].layer, frm[sid].value) != (want.layer, want.value):
            have.layer, have.value = want.layer, want.value
            changed = True
    return changed


class SegmentLocked(Exception):
    """The segment to be edited is locked."""

    exit_code = 2


class Transaction:
    """Records every voxel and segment change of one command while it runs.

    Parameters
    ----------
    segmentation : Segmentation
    tool : str
        Name of the tool, for the change record ("paint", "erase", "threshold", ...).
    segment_id : int or None
        The segment the command is about (None for commands on several segments).
    """

    def __init__(self, segmentation: Segmentation, tool: str, segment_id: int | None):
        self.segmentation = segmentation
        self.tool = tool
        self.segment_id = segment_id
        self.segment_name = (segmentation.segments[segment_id].name
                             if segment_id in segmentation.segments else "")
        self.segments_before = snapshot_segments(segmentation)
        self.n_layers_before = len(segmentation.layers)
        self._chunks: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._pending: list[int] | None = None  # union box (k0, j0, i0, k1, j1, i1) not yet notified
        #: the provenance source of the voxels this transaction labels
        self.source = segmentation.current_source
        self._prov_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        #: objects with ``undo()``, ``redo()`` and ``nbytes`` that undo/redo with the command
        #: (e.g. the proposal voxels an accept took from the proposal layer)
        self.side_effects: list = []
        self.closed = False

    # -- writes ---------------------------------------------------------------------------
    def ensure_layer(self, layer: int) -> np.ndarray:
        return self.segmentation.ensure_layer(layer)

    def write_where(self, layer: int, bbox, where: np.ndarray, value: int, mark: bool = True) -> int:
        """Set ``layers[layer][bbox][where] = value``; return the number of voxels changed.

        With ``mark`` the provenance of the voxels changed is updated (see the module notes).
        """
        arr = self.ensure_layer(layer)
        region = arr[bbox]
        sel = where & (region != value)
        lf = np.flatnonzero(sel)  # C order inside the box: the global flat indices come sorted
        n = lf.size
        if n == 0:
            return 0
        starts = [s.start or 0 for s in bbox]
        k, j, i = np.unravel_index(lf, region.shape)  # (faster than divmod in numpy 2)
        if region.shape == arr.shape:
            flat = lf
        else:
            _, nj, ni = arr.shape
            flat = ((k + starts[0]) * nj + (j + starts[1])) * ni + (i + starts[2])
        old = region[sel]
        region[sel] = value
        flat = flat.astype(np.int64, copy=False)
        self._record(layer, flat, old, np.full(n, value, dtype=np.uint8))
        if mark:
            self._mark(flat, value)
        self._touch((k[[0, -1]], j, i), starts)
        return n

    def write_flat(self, layer: int, flat_index: np.ndarray, value: int, mark: bool = True) -> int:
        """Set the voxels at sorted (ascending) flat indices of ``layers[layer]`` to ``value``."""
        arr = self.ensure_layer(layer)
        flat_index = np.asarray(flat_index, dtype=np.int64)
        old = arr.reshape(-1)[flat_index] if arr.flags.c_contiguous else arr.flat[flat_index]
        sel = old != value
        flat_index, old = flat_index[sel], old[sel]
        if flat_index.size == 0:
            return 0
        np.put(arr, flat_index, value)
        self._record(layer, flat_index, old, np.full(old.size, value, dtype=np.uint8))
        if mark:
            self._mark(flat_index, value)
        # A coarse box (whole rows and columns of the slices touched) is enough to re-render,
        # and costs nothing next to unravelling millions of indices.
        plane = arr.shape[1] * arr.shape[2]
        ks = np.array([flat_index.min() // plane, flat_index.max() // plane])
        self._touch((ks, np.array([0, arr.shape[1] - 1]), np.array([0, arr.shape[2] - 1])), (0, 0, 0))
        return int(flat_index.size)

    def add_segment(self, name: str, color=None, like: Segment | None = None) -> Segment:
        """Create a segment (undone with the command); codes are copied from ``like``."""
        kwargs = {} if like is None else {"category": like.category, "type": like.type}
        with self.segmentation.segments_changed.blocked():
            return self.segmentation.add_segment(name, color, **kwargs)

    def _record(self, layer, flat, old, new):
        self._chunks.setdefault(layer, []).append((flat, old, new))

    def _mark(self, flat: np.ndarray, value: int) -> None:
        """Provenance of voxels just written: the source's code, or 0 where now unlabelled."""
        seg = self.segmentation
        if value:
            code = seg.provenance_code(self.source)
            prov = seg.ensure_provenance().reshape(-1)
        else:
            if seg.provenance is None:
                return  # nothing was ever attributed: nothing to clear
            prov = seg.provenance.reshape(-1)
            code = 0
            flat = flat[~seg.labelled(flat)]  # still labelled in another layer: keep its source
        old = prov[flat]
        sel = old != code
        if not sel.all():
            flat, old = flat[sel], old[sel]
        if flat.size == 0:
            return
        prov[flat] = code
        self._prov_chunks.append((flat, old, np.full(flat.size, code, dtype=np.uint16)))

    def _touch(self, local, starts):
        box = [int(c.min()) + s for c, s in zip(local, starts)]
        box += [int(c.max()) + 1 + s for c, s in zip(local, starts)]
        if self._pending is None:
            self._pending = box
        else:
            p = self._pending
            self._pending = [min(p[a], box[a]) for a in range(3)] + [max(p[a], box[a]) for a in range(3, 6)]

    def notify(self) -> None:
        """Emit ``segmentation.changed`` for what was written since the last call."""
        if self._pending is not None:
            p, self._pending = self._pending, None
            self.segmentation.changed.emit(tuple(slice(p[a], p[a + 3]) for a in range(3)))

    # -- ending ---------------------------------------------------------------------------
    def merged_changes(self):
        """Per layer: sorted unique flat indices, first old value, last new value."""
        for layer, chunks in sorted(self._chunks.items()):
            yield (layer, *_merge(chunks))

    def merged_provenance(self):
        """Sorted unique flat indices, first old and last new provenance codes (or None)."""
        if not self._prov_chunks:
            return None
        return _merge(self._prov_chunks)

    def abort(self) -> None:
        """Put every voxel and segment back as it was when the transaction began."""
        seg = self.segmentation
        for layer, chunks in self._chunks.items():
            for flat, old, _new in reversed(chunks):
                np.put(seg.layers[layer], flat, old)
        for flat, old, _new in reversed(self._prov_chunks):
            np.put(seg.provenance, flat, old)
        for effect in reversed(self.side_effects):
            effect.undo()
        del seg.layers[self.n_layers_before:]
        self._chunks.clear()
        self._prov_chunks.clear()
        self.side_effects.clear()
        meta = restore_segments(seg, snapshot_segments(seg), self.segments_before)
        self.closed = True
        seg.changed.emit(tuple(slice(0, n) for n in seg.shape))
        if meta:
            seg.segments_changed.emit()


def _merge(chunks):
    """(flat, old, new) chunks -> sorted unique flat indices, first old, last new values."""
    idx = np.concatenate([c[0] for c in chunks])
    old = np.concatenate([c[1] for c in chunks])
    new = np.concatenate([c[2] for c in chunks])
    if len(chunks) > 1 or np.any(np.diff(idx) <= 0):
        order = np.argsort(idx, kind="stable")
        idx, old, new = idx[order], old[order], new[order]
        step = idx[1:] != idx[:-1]
        first = np.concatenate(([True], step))
        last = np.concatenate((step, [True]))
        idx, old, new = idx[first], old[first], new[last]
    return idx, old, new
