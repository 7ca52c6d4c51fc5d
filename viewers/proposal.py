"""A model's proposal as a display layer, kept apart from the accepted segmentation.

A :class:`ProposalLayer` holds what the views draw (as outlines, never filled, so it cannot
be mistaken for accepted labels) and what accepting needs: the proposed labels (uint8, one
value per model label), the per-voxel confidence (uint8, 255 * the model's probability of
the label it assigned: one byte per voxel), the model id and the SHA-256 of its weights.
Accepting voxels (viewers.edit.accept) takes them out of :attr:`ProposalLayer.labels`.

Nothing here knows about Qt or about the models package: the application converts a
``models.proposal.Proposal`` with :meth:`ProposalLayer.from_arrays`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewers.events import Event
from viewers.labels import _PALETTE

#: Voxels whose confidence is below this probability are "low confidence" (toggle, summary).
DEFAULT_LOW_CONFIDENCE = 0.8


@dataclass(frozen=True)
class ProposalSegment:
    """One label of the proposal: its value in :attr:`ProposalLayer.labels` and metadata.

    Attributes
    ----------
    value : int
        1..255 in the labels array.
    name : str
        The model's label name ("brain"); accepting creates (or fills) a segment of this name.
    code : str or None
        SNOMED CT concept id of the structure, when the model declares one.
    color : tuple of 3 int
        RGB of its outline (the colour of the segment it will become).
    """

    value: int
    name: str
    code: str | None
    color: tuple[int, int, int]


class ProposalLayer:
    """The current proposal of one image.

    Parameters
    ----------
    labels : (k, j, i) integer array
        0 = background; other values name :class:`ProposalSegment` s. Stored as uint8.
    confidence : (k, j, i) uint8
        255 * probability of the assigned label.
    segments : sequence of ProposalSegment
    model_id, weights_sha256 : str
        What produced it; accepted voxels are attributed to :attr:`source`.
    spacing_mm : (i, j, k) float, optional
        Voxel size, for volumes in the summary (ml).
    """

    def __init__(self, labels, confidence, segments, model_id: str, weights_sha256: str,
                 spacing_mm=(1.0, 1.0, 1.0)):
        labels = np.asarray(labels)
        if labels.size and int(labels.max()) > 255:
            raise ValueError("a proposal holds at most 255 labels")
        self.labels = np.ascontiguousarray(labels, dtype=np.uint8)
        self.confidence = np.ascontiguousarray(confidence, dtype=np.uint8)
        if self.labels.shape != self.confidence.shape:
            raise ValueError(f"labels {self.labels.shape} and confidence {self.confidence.shape} "
                             "must share one grid")
        self.segments = tuple(segments)
        #: voxels the model proposed (accepting takes them out of :attr:`labels`; this stays)
        self.proposed_voxels = int(np.count_nonzero(self.labels))
        self.model_id, self.weights_sha256 = str(model_id), str(weights_sha256)
        self.spacing_mm = tuple(float(s) for s in spacing_mm)
        self.rejected = False
        self.visible = True
        self.show_low_confidence = False
        self.low_threshold = DEFAULT_LOW_CONFIDENCE
        self._summaries: dict = {}  # low threshold -> summary of the current labels
        #: emitted (no arguments) after labels, visibility, rejection or the toggle changed
        self.changed = Event()

    @classmethod
    def from_arrays(cls, labels, confidence, segment_defs, model_id, weights_sha256,
                    spacing_mm=(1.0, 1.0, 1.0), segmentation=None) -> "ProposalLayer":
        """Build a layer from ``(value, name, code)`` triples.

        Each segment takes the colour of the segmentation's segment of the same name when
        there is one (it is where its voxels go), else a palette colour.
        """
        existing = {} if segmentation is None else {
            s.name: s.color for s in segmentation.segments.values()}
        segments = []
        for n, (value, name, code) in enumerate(segment_defs):
            color = existing.get(name, _PALETTE[(int(value) - 1 + n) % len(_PALETTE)])
            segments.append(ProposalSegment(int(value), str(name), code, tuple(color)))
        return cls(labels, confidence, segments, model_id, weights_sha256, spacing_mm)

    # -- identity ---------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The provenance source of accepted voxels: ``model:<model_id>@sha256:<hash>``."""
        return f"model:{self.model_id}@sha256:{self.weights_sha256}"

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.labels.shape

    @property
    def active(self) -> bool:
        """True when the views should draw it (not rejected, not hidden)."""
        return self.visible and not self.rejected

    def segment(self, value_or_name) -> ProposalSegment:
        for s in self.segments:
            if value_or_name in (s.value, s.name):
                return s
        raise KeyError(f"the proposal has no segment {value_or_name!r}")

    # -- display settings -------------------------------------------------------------------
    def set_show_low_confidence(self, on: bool, threshold: float | None = None) -> None:
        """Tint voxels whose confidence is below ``threshold`` (probability) in the views."""
        if threshold is not None:
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"confidence threshold {threshold} is not in (0, 1]")
            self.low_threshold = float(threshold)
        self.show_low_confidence = bool(on)
        self.changed.emit()

    def set_visible(self, on: bool) -> None:
        self.visible = bool(on)
        self.changed.emit()

    @property
    def low_threshold_u8(self) -> int:
        """The threshold on the uint8 confidence: voxels with ``confidence < this`` are low."""
        return int(np.ceil(self.low_threshold * 255))

    def outline_colors(self) -> np.ndarray:
        """(256, 3) uint8 RGB per label value (unused values black)."""
        table = np.zeros((256, 3), dtype=np.uint8)
        for s in self.segments:
            table[s.value] = s.color
        return table

    # -- content ----------------------------------------------------------------------------
    def labels_changed(self) -> None:
        """Call after writing :attr:`labels` (drops cached summaries, tells the views)."""
        self._summaries.clear()
        self.changed.emit()

    def set_summary(self, summary: dict) -> None:
        """Adopt a summary computed elsewhere (e.g. by the worker, off the GUI thread)."""
        self._summaries[float(summary["case"]["low_threshold"])] = summary

    def pending_voxels(self) -> int:
        """Proposed voxels not yet accepted (0 once rejected)."""
        return 0 if self.rejected else int(np.count_nonzero(self.labels))

    def summary(self, low: float | None = None) -> dict:
        """Per-segment and per-case confidence of the voxels still proposed.

        For each segment: voxels, volume (ml), mean confidence and the share of its voxels
        with confidence below ``low`` (default :attr:`low_threshold`); for the case the same
        over all proposed voxels, plus the low-confidence voxels anywhere (background
        included: where the model hesitated about the boundary).
        """
        low = self.low_threshold if low is None else float(low)
        if low not in self._summaries:
            self._summaries[low] = summarize(self.labels, self.confidence, self.segments,
                                             self.model_id, self.weights_sha256,
                                             self.spacing_mm, low)
        return self._summaries[low]


def summarize(labels, confidence, segments, model_id: str, weights_sha256: str,
              spacing_mm=(1.0, 1.0, 1.0), low: float = DEFAULT_LOW_CONFIDENCE) -> dict:
    """The summary of :meth:`ProposalLayer.summary` from plain arrays (any thread).

    ``segments``: objects with ``value`` and ``name``.
    """
    threshold = int(np.ceil(low * 255))
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    flat = np.asarray(labels, dtype=np.uint8).reshape(-1)
    conf = np.asarray(confidence).reshape(-1)
    counts = np.bincount(flat, minlength=256)
    conf_sum = np.bincount(flat, weights=conf, minlength=256)
    low_mask = conf < threshold
    low_counts = np.bincount(flat[low_mask], minlength=256)

    def stats(n, csum, nlow):
        return {"voxels": int(n), "volume_ml": round(n * voxel_ml, 3),
                "mean_confidence": round(csum / n / 255.0, 4) if n else None,
                "low_confidence_fraction": round(nlow / n, 4) if n else None}

    per_segment = {s.name: stats(int(counts[s.value]), float(conf_sum[s.value]),
                                 int(low_counts[s.value])) for s in segments}
    case = stats(int(counts[1:].sum()), float(conf_sum[1:].sum()), int(low_counts[1:].sum()))
    case["uncertain_voxels"] = int(low_mask.sum())
    case["low_threshold"] = low
    return {"model_id": model_id, "weights_sha256": weights_sha256,
            "case": case, "segments": per_segment}
