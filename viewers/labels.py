"""Segmentations: named, coded, possibly overlapping segments on an image grid.

Segments are binary masks packed into a few ``uint8`` *layers* (as 3D Slicer
does): within one layer each voxel holds the value of at most one segment, so
two segments that overlap live in different layers. A segment's mask is
``layers[segment.layer] == segment.value``.

Nothing here knows about Qt; views observe :attr:`Segmentation.changed` and
:attr:`Segmentation.segments_changed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from viewers.events import Event

# A readable default palette (3D Slicer's GenericAnatomyColors first entries, roughly).
_PALETTE = [
    (128, 174, 128), (241, 214, 145), (177, 122, 101), (111, 184, 210), (216, 101, 79),
    (221, 130, 101), (144, 238, 144), (192, 104, 88), (220, 245, 20), (78, 63, 0),
    (255, 250, 220), (230, 220, 70), (200, 200, 235), (250, 250, 210), (244, 214, 49),
]


@dataclass(frozen=True)
class Code:
    """A coded concept (DICOM code sequence item): scheme designator, value, meaning."""

    scheme: str
    value: str
    meaning: str

    def as_json(self) -> dict:
        return {"scheme": self.scheme, "value": self.value, "meaning": self.meaning}

    @classmethod
    def from_json(cls, d: dict) -> "Code":
        return cls(d["scheme"], d["value"], d["meaning"])


#: SNOMED CT "Tissue" / "Anatomical structure" / "Morphologically abnormal structure".
CATEGORY_TISSUE = Code("SCT", "85756007", "Tissue")
CATEGORY_ANATOMY = Code("SCT", "123037004", "Anatomical Structure")
CATEGORY_ABNORMAL = Code("SCT", "49755003", "Morphologically Abnormal Structure")
TYPE_TISSUE = Code("SCT", "85756007", "Tissue")
TYPE_BRAIN = Code("SCT", "12738006", "Brain")


@dataclass
class Segment:
    """One segment: metadata plus where its mask lives.

    Attributes
    ----------
    segment_id : int
        Stable number (1, 2, ...), never reused within a segmentation.
    name : str
    color : tuple of 3 int
        RGB 0-255.
    category, type : Code
        SNOMED CT codes, as DICOM SEG requires.
    layer, value : int
        The mask is ``layers[layer] == value``.
    visible, locked : bool
    """

    segment_id: int
    name: str
    color: tuple[int, int, int]
    category: Code = CATEGORY_TISSUE
    type: Code = TYPE_TISSUE
    layer: int = 0
    value: int = 1
    visible: bool = True
    locked: bool = False

    def metadata_json(self) -> dict:
        return {
            "segment_id": self.segment_id, "name": self.name, "color": list(self.color),
            "category": self.category.as_json(), "type": self.type.as_json(),
            "layer": self.layer, "value": self.value,
            "visible": self.visible, "locked": self.locked,
        }


@dataclass
class Segmentation:
    """Overlapping segments on the voxel grid ``shape`` = (k, j, i) of an image.

    Parameters
    ----------
    shape : tuple of 3 int
        Grid of the image the segments belong to.
    affine_lps : ndarray
        The image's index->LPS affine (kept so that a segmentation can be saved alone).
    """

    shape: tuple[int, int, int]
    affine_lps: np.ndarray
    layers: list[np.ndarray] = field(default_factory=list)
    segments: dict[int, Segment] = field(default_factory=dict)
    #: emitted with ``(bbox)`` (a tuple of 3 slices in k, j, i) after voxels changed
    changed: Event = field(default_factory=Event, repr=False, compare=False)
    #: emitted after segments were added, removed, renamed, recoloured, shown or hidden
    segments_changed: Event = field(default_factory=Event, repr=False, compare=False)
    _next_id: int = 1
    #: set by an edit history (viewers.edit.Editor) so that :meth:`remove_segment` becomes an
    #: undoable command there instead of a change the undo history cannot see
    remover: object = field(default=None, repr=False, compare=False)
    #: per-voxel provenance code (uint16 on the grid), allocated at the first labelled write;
    #: 0 = unlabelled or unknown (e.g. labels loaded from a file that had none)
    provenance: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: ``{str(code): source}``, source = "user:<user_id>" | "model:<id>@sha256:<hash>" | "auto:..."
    provenance_legend: dict = field(default_factory=dict, compare=False)
    #: the source that edits made now are attributed to (the GUI sets "user:<user_id>")
    current_source: str = "user:local"

    # -- segments -------------------------------------------------------------------------
    def add_segment(self, name: str, color=None, category: Code = CATEGORY_TISSUE,
                    type: Code = TYPE_TISSUE, layer: int | None = None) -> Segment:  # noqa: A002
        """Add an empty segment and return it."""
        sid = self._next_id
        self._next_id += 1
        if color is None:
            color = _PALETTE[(sid - 1) % len(_PALETTE)]
        layer, value = self._free_slot() if layer is None else (layer, self._free_value(layer))
        seg = Segment(sid, name, tuple(int(c) for c in color), category, type, layer, value)
        self.segments[sid] = seg
        self.segments_changed.emit()
        return seg

    def remove_segment(self, segment_id: int) -> None:
        """Delete a segment and clear its voxels (undoably when an editor is attached)."""
        if self.remover is not None:
            self.remover(segment_id)
            return
        seg = self.segments.pop(segment_id)
        if seg.layer >= len(self.layers):  # never painted: its layer may not exist yet
            self.segments_changed.emit()
            return
        layer = self.layers[seg.layer]
        hit = layer == seg.value
        if hit.any():
            layer[hit] = 0
            self.changed.emit(_full(self.shape))
        self.segments_changed.emit()

    def update_segment(self, segment_id: int, **changes) -> None:
        """Change metadata (name, color, category, type, visible, locked)."""
        seg = self.segments[segment_id]
        for key, value in changes.items():
            if key in ("layer", "value", "segment_id"):
                raise ValueError(f"{key} is managed by the segmentation")
            setattr(seg, key, value)
        self.segments_changed.emit()

    def mask(self, segment_id: int, bbox=None) -> np.ndarray:
        """Boolean mask of a segment (within ``bbox`` slices when given)."""
        seg = self.segments[segment_id]
        if seg.layer >= len(self.layers):
            shape = self.shape if bbox is None else _bbox_shape(bbox, self.shape)
            return np.zeros(shape, dtype=bool)
        layer = self.layers[seg.layer]
        return (layer if bbox is None else layer[bbox]) == seg.value

    def segments_in_layer(self, layer: int) -> list[Segment]:
        return [s for s in self.segments.values() if s.layer == layer]

    # -- provenance -----------------------------------------------------------------------
    def provenance_code(self, source: str) -> int:
        """The code of ``source`` in :attr:`provenance_legend`, assigning the next free one.

        Codes are never reused for another source within a segmentation, so a saved map and
        its legend stay consistent across undo.
        """
        source = str(source)
        for code, known in self.provenance_legend.items():
            if known == source:
                return int(code)
        code = max((int(c) for c in self.provenance_legend), default=0) + 1
        if code > np.iinfo(np.uint16).max:
            raise ValueError("too many provenance sources for a uint16 map")
        self.provenance_legend[str(code)] = source
        return code

    def provenance_source(self, code: int) -> str | None:
        """The source string of a code (None for 0 or an unknown code)."""
        return self.provenance_legend.get(str(int(code))) if code else None

    def ensure_provenance(self) -> np.ndarray:
        """The provenance array, allocated (all 0 = unknown) on first use."""
        if self.provenance is None:
            self.provenance = np.zeros(self.shape, dtype=np.uint16)
        return self.provenance

    def labelled(self, flat_index: np.ndarray) -> np.ndarray:
        """True for each flat voxel index that some layer labels."""
        out = np.zeros(np.shape(flat_index), dtype=bool)
        for layer in self.layers:
            out |= layer.reshape(-1)[flat_index] != 0
        return out

    # -- helpers --------------------------------------------------------------------------
    def ensure_layer(self, layer: int) -> np.ndarray:
        """The array of ``layer``, allocating empty layers up to it."""
        while len(self.layers) <= layer:
            self.layers.append(np.zeros(self.shape, dtype=np.uint8))
        return self.layers[layer]

    def _free_value(self, layer: int) -> int:
        used = {s.value for s in self.segments.values() if s.layer == layer}
        for v in range(1, 256):
            if v not in used:
                return v
        raise ValueError(f"layer {layer} already holds 255 segments")

    def _free_slot(self) -> tuple[int, int]:
        for layer in range(max(1, len(self.layers))):
            used = {s.value for s in self.segments.values() if s.layer == layer}
            if len(used) < 255:
                return layer, self._free_value(layer)
        return len(self.layers), 1

    @classmethod
    def empty_like(cls, volume) -> "Segmentation":
        """An empty segmentation on the grid of a :class:`~viewers.volume.Volume`."""
        return cls(tuple(volume.shape), volume.affine_lps.copy())


def _full(shape):
    return tuple(slice(0, n) for n in shape)


def _bbox_shape(bbox, shape):
    return tuple(len(range(*s.indices(n))) for s, n in zip(bbox, shape))
