"""Commands with sparse diffs, a history bounded in bytes, and plain change records.

Every edit ends as one :class:`Command` (a whole brush drag included). The
:class:`History` keeps commands for undo/redo until their bytes exceed
``max_bytes`` (default 512 MB), but always keeps the last ``min_steps`` of them,
as ITK-SNAP does. Each apply, undo and redo emits a :class:`ChangeRecord` through
:attr:`History.recorded` so that the application can append it to the audit
trail; nothing here knows about compliance.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from viewers.edit.diff import LayerDiff
from viewers.edit.transaction import Transaction, restore_segments, snapshot_segments
from viewers.events import Event
from viewers.labels import Segmentation

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MIN_STEPS = 10
#: Python objects held by one command besides its diffs (the command, hashes, lists), and per
#: segment copy in its two snapshots: calibrated with tracemalloc (benchmarks/bench_brush.py
#: prints the traced figure next to this estimate) so that the byte budget is not optimistic.
COMMAND_OVERHEAD_BYTES = 1500
SEGMENT_SNAPSHOT_BYTES = 600


@dataclass(frozen=True)
class ChangeRecord:
    """What one command did to the label map, as plain data for the audit trail.

    The content hashes are SHA-256 over the *changed region* only: for each
    touched layer, its index, its bounding box and the bytes of that box before
    (``hash_before``) and after (``hash_after``). A full-volume hash per stroke
    (one 78 MB layer of a 512x512x300 grid hashes in tens of milliseconds)
    would break the 8 ms brush budget; the region hashes still bind the record
    to the exact voxels changed, and the saved version is hashed whole when it
    is written.

    Attributes
    ----------
    tool : str
        "paint", "erase", "threshold", "grow", ...
    action : str
        "apply", "undo" or "redo".
    segment_id : int or None
    segment_name : str
    voxels_changed : int
        Layer voxels whose value changed (a voxel moved between layers counts twice).
    bbox : tuple of 3 (start, stop)
        Union bounding box ``(k, j, i)`` of the changed voxels, stop exclusive (None if none).
    hash_before, hash_after : str
        Hex SHA-256 of the changed region before and after this action.
    segments_changed : bool
        True when segments were created, removed or moved between layers.
    """

    tool: str
    action: str
    segment_id: int | None
    segment_name: str
    voxels_changed: int
    bbox: tuple | None
    hash_before: str
    hash_after: str
    segments_changed: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


class Command:
    """One undoable edit: layer diffs plus segment bookkeeping."""

    def __init__(self, txn: Transaction):
        seg = txn.segmentation
        self.tool, self.segment_id, self.segment_name = txn.tool, txn.segment_id, txn.segment_name
        self.diffs: list[LayerDiff] = []
        for layer, idx, old, new in txn.merged_changes():
            diff = LayerDiff.from_changes(layer, seg.shape, idx, old, new)
            if diff is not None:
                self.diffs.append(diff)
        merged = txn.merged_provenance()
        #: provenance codes changed (a uint16 diff, layer -1), or None
        self.provenance = None if merged is None else LayerDiff.from_changes(
            -1, seg.shape, *merged, dtype="uint16")
        self.side_effects = list(txn.side_effects)
        self.segments_before = txn.segments_before
        self.segments_after = snapshot_segments(seg)
        self.n_layers_before = txn.n_layers_before
        self.n_layers_after = len(seg.layers)
        self.meta_changed = _meta(self.segments_before) != _meta(self.segments_after)
        h_old, h_new = hashlib.sha256(), hashlib.sha256()
        for d in self.diffs:
            head = f"{d.layer}:{d.bbox}".encode()
            h_old.update(head + d.region_bytes(seg.layers[d.layer], "old"))
            h_new.update(head + d.region_bytes(seg.layers[d.layer], "new"))
        self.hash_before, self.hash_after = h_old.hexdigest(), h_new.hexdigest()
        self.voxels_changed = sum(d.count for d in self.diffs)
        self.bbox = _union([d.bbox for d in self.diffs])

    @property
    def empty(self) -> bool:
        return (not self.diffs and not self.meta_changed and self.provenance is None
                and not self.side_effects and self.n_layers_before == self.n_layers_after)

    @property
    def nbytes(self) -> int:
        """Bytes held by this command (diff payloads, fixed overhead, segment copies)."""
        segments = len(self.segments_before) + len(self.segments_after)
        extra = sum(int(getattr(e, "nbytes", 0)) for e in self.side_effects)
        if self.provenance is not None:
            extra += self.provenance.nbytes
        return (sum(d.nbytes for d in self.diffs) + COMMAND_OVERHEAD_BYTES
                + SEGMENT_SNAPSHOT_BYTES * segments + extra)

    def record(self, action: str) -> ChangeRecord:
        """The change record of this command for ``action`` ("apply", "undo", "redo")."""
        before, after = self.hash_before, self.hash_after
        if action == "undo":
            before, after = after, before
        return ChangeRecord(self.tool, action, self.segment_id, self.segment_name,
                            self.voxels_changed, self.bbox, before, after, self.meta_changed)

    def undo(self, seg: Segmentation) -> None:
        """Restore the state before the command: old voxel values, segment slots, layers."""
        for d in reversed(self.diffs):
            d.apply(seg.layers[d.layer], "old")
        if self.provenance is not None:
            self.provenance.apply(seg.ensure_provenance(), "old")
        for effect in reversed(self.side_effects):
            effect.undo()
        del seg.layers[self.n_layers_before:]
        self._emit(seg, restore_segments(seg, self.segments_after, self.segments_before))

    def redo(self, seg: Segmentation) -> None:
        """Replay the command: new voxel values, segment slots, layers."""
        if self.n_layers_after:
            seg.ensure_layer(self.n_layers_after - 1)
        for d in self.diffs:
            d.apply(seg.layers[d.layer], "new")
        if self.provenance is not None:
            self.provenance.apply(seg.ensure_provenance(), "new")
        for effect in self.side_effects:
            effect.redo()
        self._emit(seg, restore_segments(seg, self.segments_before, self.segments_after))

    def _emit(self, seg: Segmentation, meta: bool) -> None:
        if meta:
            seg.segments_changed.emit()
        if self.bbox is not None:
            seg.changed.emit(tuple(slice(a, b) for a, b in self.bbox))


def _meta(segments):
    return {sid: (s.layer, s.value) for sid, s in segments.items()}


def _union(boxes):
    if not boxes:
        return None
    return tuple((min(b[a][0] for b in boxes), max(b[a][1] for b in boxes)) for a in range(3))


class History:
    """Undo/redo stacks bounded in bytes.

    Parameters
    ----------
    segmentation : Segmentation
    max_bytes : int
        Budget for all kept commands (undo and redo). Oldest undo steps are dropped
        beyond it ...
    min_steps : int
        ... except that the newest ``min_steps`` undo steps are always kept.
    """

    def __init__(self, segmentation: Segmentation, max_bytes: int = DEFAULT_MAX_BYTES,
                 min_steps: int = DEFAULT_MIN_STEPS):
        if max_bytes < 0 or min_steps < 0:
            raise ValueError("max_bytes and min_steps must be >= 0")
        self.segmentation = segmentation
        self.max_bytes = int(max_bytes)
        self.min_steps = int(min_steps)
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._open: Transaction | None = None
        #: emitted with a :class:`ChangeRecord` after every apply, undo and redo
        self.recorded = Event()
        #: emitted (no arguments) when can_undo / can_redo may have changed
        self.changed = Event()

    # -- transactions ---------------------------------------------------------------------
    def begin(self, tool: str, segment_id: int | None) -> Transaction:
        """Open a transaction (aborting one left open, e.g. a drag cut short)."""
        if self._open is not None and not self._open.closed:
            self._open.abort()
        self._open = Transaction(self.segmentation, tool, segment_id)
        self.changed.emit()  # undo is now possible (it cancels this transaction)
        return self._open

    def commit(self, txn: Transaction) -> Command | None:
        """Close ``txn`` into a command and push it; None when it changed nothing."""
        if txn.closed:
            raise RuntimeError("transaction already closed")
        txn.closed = True
        if self._open is txn:
            self._open = None
        txn.notify()
        cmd = Command(txn)
        if cmd.empty:
            self.changed.emit()
            return None
        if cmd.meta_changed:
            self.segmentation.segments_changed.emit()
        self._undo.append(cmd)
        self._redo.clear()
        self._trim()
        self.recorded.emit(cmd.record("apply"))
        self.changed.emit()
        return cmd

    def abort(self, txn: Transaction) -> None:
        """Undo everything ``txn`` wrote and forget it (nothing is recorded)."""
        if not txn.closed:
            txn.abort()
        if self._open is txn:
            self._open = None
        self.changed.emit()

    # -- undo / redo ----------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """True when undo would do something (a step to undo, or a stroke in progress)."""
        return bool(self._undo) or (self._open is not None and not self._open.closed)

    @property
    def can_redo(self) -> bool:
        """True when there is an undone step to redo."""
        return bool(self._redo)

    def undo(self) -> Command | None:
        """Undo the newest step; None when there is none.

        During an open stroke (Ctrl+Z while the mouse is still down) only that stroke is
        cancelled: it is the edit the user sees as the last one.
        """
        if self._open is not None and not self._open.closed:
            self._abort_open()
            self.changed.emit()
            return None
        self._open = None
        if not self._undo:
            return None
        cmd = self._undo.pop()
        cmd.undo(self.segmentation)
        self._redo.append(cmd)
        self._trim()
        self.recorded.emit(cmd.record("undo"))
        self.changed.emit()
        return cmd

    def redo(self) -> Command | None:
        """Redo the newest undone step; None when there is none."""
        self._abort_open()
        if not self._redo:
            return None
        cmd = self._redo.pop()
        cmd.redo(self.segmentation)
        self._undo.append(cmd)
        self._trim()
        self.recorded.emit(cmd.record("redo"))
        self.changed.emit()
        return cmd

    def clear(self) -> None:
        """Forget every step (after the label map was replaced outside the history)."""
        self._undo.clear()
        self._redo.clear()
        self.changed.emit()

    # -- bounds ---------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes held by all kept commands (undo and redo)."""
        return sum(c.nbytes for c in self._undo) + sum(c.nbytes for c in self._redo)

    @property
    def undo_steps(self) -> int:
        return len(self._undo)

    @property
    def redo_steps(self) -> int:
        return len(self._redo)

    def _abort_open(self) -> None:
        if self._open is not None and not self._open.closed:
            self._open.abort()
        self._open = None

    def _trim(self) -> None:
        total = self.nbytes
        # Redo steps beyond the budget go first (they are the least likely to be used) ...
        while total > self.max_bytes and self._redo and len(self._undo) + len(self._redo) > self.min_steps:
            total -= self._redo.pop(0).nbytes
        # ... then the oldest undo steps, keeping at least min_steps of them.
        while total > self.max_bytes and len(self._undo) > self.min_steps:
            total -= self._undo.pop(0).nbytes
