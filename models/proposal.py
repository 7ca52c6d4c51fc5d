"""The result of a model run: a :class:`Proposal`, kept apart from accepted labels.

A proposal holds a label array on the input's exact grid, a compact per-voxel confidence
(the model's probability of the label it assigned, scaled to uint8 0-255) and the
provenance a later acceptance must record: the model id and the SHA-256 of its weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Confidence below this probability marks a voxel "uncertain" in the summaries.
DEFAULT_LOW_CONFIDENCE = 0.9


@dataclass(frozen=True)
class SegmentInfo:
    """One output label of a model.

    Attributes
    ----------
    value : int
        Label value in :attr:`Proposal.labels` (0 is background, never a segment).
    name : str
        Human-readable name ("brain", "spleen").
    code : str or None
        SNOMED CT concept id of the structure, when known (e.g. "12738006" for brain).
    """

    value: int
    name: str
    code: str | None = None

    def as_json(self) -> dict:
        return {"value": self.value, "name": self.name, "snomed": self.code}


def encode_confidence(probability, overwrite: bool = False) -> np.ndarray:
    """Probability in [0, 1] -> uint8 0..255 (rounded); 1 byte per voxel.

    With ``overwrite`` a float32 input is used as scratch space (no full-size temporaries).
    """
    p = np.asarray(probability, dtype=np.float32)
    if p is probability and not overwrite:  # asarray made no copy: do not clobber the input
        p = p.copy()
    np.clip(p, 0.0, 1.0, out=p)
    np.multiply(p, 255.0, out=p)
    np.rint(p, out=p)
    return p.astype(np.uint8)


def decode_confidence(confidence_u8) -> np.ndarray:
    """uint8 confidence -> float32 probability."""
    return np.asarray(confidence_u8, dtype=np.float32) / 255.0


@dataclass
class Proposal:
    """A model's proposal on one image, on that image's exact grid.

    Attributes
    ----------
    labels : ndarray, (k, j, i), uint8 or uint16
        0 = background, otherwise a :class:`SegmentInfo` value.
    confidence : ndarray, (k, j, i), uint8
        255 * probability of the label assigned to the voxel.
    affine_lps : (4, 4) ndarray
        The input's index->LPS affine (copied through, unchanged).
    segments : tuple of SegmentInfo
    model_id : str
        Registry name and version of the model (e.g. "deepbet@1.0.2").
    weights_sha256 : str
        SHA-256 of the weights file(s) that produced it.
    timings_s : dict
        Seconds per stage ("preprocess", "inference", "postprocess").
    """

    labels: np.ndarray
    confidence: np.ndarray
    affine_lps: np.ndarray
    segments: tuple[SegmentInfo, ...]
    model_id: str
    weights_sha256: str
    timings_s: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.labels.shape != self.confidence.shape:
            raise ValueError("labels and confidence must share one grid")
        if self.confidence.dtype != np.uint8:
            raise ValueError("confidence is stored as uint8 (255 * probability)")

    def segment_mask(self, value: int) -> np.ndarray:
        """Boolean ``(k, j, i)`` mask of one segment."""
        return self.labels == value

    def segment_masks(self) -> dict[str, np.ndarray]:
        """``{segment name: boolean mask}`` for every segment of the model."""
        return {s.name: self.segment_mask(s.value) for s in self.segments}

    def summary(self, low: float = DEFAULT_LOW_CONFIDENCE) -> dict:
        """Per-segment and per-case confidence summary (plain JSON-able dict).

        For each segment: voxel count, volume in ml, mean confidence inside it and the
        fraction of its voxels whose confidence is below ``low``. For the case: the same over
        all labelled voxels, plus the number of uncertain voxels anywhere (background
        included), which is where a reviewer should look.
        """
        voxel_ml = abs(np.linalg.det(self.affine_lps[:3, :3])) / 1000.0
        threshold = int(np.ceil(low * 255))
        low_mask = self.confidence < threshold
        # One pass over the volume: bincounts by label value.
        flat = self.labels.ravel()
        n_max = int(flat.max(initial=0)) + 1
        counts = np.bincount(flat, minlength=n_max)
        conf_sum = np.bincount(flat, weights=self.confidence.ravel(), minlength=n_max)
        low_counts = np.bincount(flat, weights=low_mask.ravel(), minlength=n_max)
        segments = {}
        for s in self.segments:
            n = int(counts[s.value]) if s.value < n_max else 0
            segments[s.name] = {
                "value": s.value,
                "voxels": n,
                "volume_ml": round(float(n * voxel_ml), 3),
                "mean_confidence": round(float(conf_sum[s.value] / n / 255.0), 4) if n else None,
                "low_confidence_fraction": round(float(low_counts[s.value] / n), 4) if n else None,
            }
        fg = int(counts[1:].sum())
        case = {
            "labelled_voxels": fg,
            "mean_confidence": round(float(conf_sum[1:].sum() / fg / 255.0), 4) if fg else None,
            "low_confidence_fraction": round(float(low_counts[1:].sum() / fg), 4) if fg else None,
            "uncertain_voxels": int(low_mask.sum()),
            "low_threshold": low,
        }
        return {"model_id": self.model_id, "weights_sha256": self.weights_sha256,
                "case": case, "segments": segments}
