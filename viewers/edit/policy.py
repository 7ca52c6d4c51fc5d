"""Where an edit may write, and how it treats the other segments.

The three questions 3D Slicer's Segment Editor asks in its "Masking" section:

* editable area: everywhere, only inside one segment, or only outside every other
  segment ("never over other segments");
* an optional editable intensity range (threshold painting);
* what painting does to other segments where it lands: leave them (overlap,
  the default, since segments may overlap in annotrace) or take the voxels
  from them (overwrite). Locked segments are never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from viewers.labels import Segmentation


class EditableArea(str, Enum):
    EVERYWHERE = "everywhere"
    INSIDE_SEGMENT = "inside_segment"
    OUTSIDE_SEGMENTS = "outside_segments"


class Overwrite(str, Enum):
    #: painting over another segment keeps it: the two overlap
    ALLOW_OVERLAP = "allow_overlap"
    #: painting over another (unlocked) segment removes those voxels from it
    OVERWRITE_OTHERS = "overwrite_others"


@dataclass(frozen=True)
class EditPolicy:
    """Masking settings applied by every tool.

    Parameters
    ----------
    area : EditableArea or str
    area_segment_id : int, optional
        The segment inside which editing is allowed (``area="inside_segment"``).
    overwrite : Overwrite or str
    intensity_range : (float, float), optional
        Only voxels whose image intensity lies in ``[lo, hi]`` are edited.
    """

    area: EditableArea = EditableArea.EVERYWHERE
    area_segment_id: int | None = None
    overwrite: Overwrite = Overwrite.ALLOW_OVERLAP
    intensity_range: tuple[float, float] | None = None

    def __post_init__(self):
        object.__setattr__(self, "area", EditableArea(self.area))
        object.__setattr__(self, "overwrite", Overwrite(self.overwrite))
        if self.area is EditableArea.INSIDE_SEGMENT and self.area_segment_id is None:
            raise ValueError("area 'inside_segment' needs area_segment_id")
        if self.intensity_range is not None:
            lo, hi = (float(v) for v in self.intensity_range)
            if lo > hi:
                raise ValueError(f"intensity range [{lo}, {hi}] is empty")
            object.__setattr__(self, "intensity_range", (lo, hi))


def occupied_by_others(seg: Segmentation, segment_id: int, bbox, locked_only=False) -> np.ndarray:
    """Voxels of ``bbox`` that belong to any segment other than ``segment_id``."""
    me = seg.segments[segment_id]
    shape = tuple(len(range(*s.indices(n))) for s, n in zip(bbox, seg.shape))
    out = np.zeros(shape, dtype=bool)
    for layer_index, layer in enumerate(seg.layers):
        values = [s.value for s in seg.segments.values()
                  if s.layer == layer_index and s.segment_id != segment_id
                  and (s.locked or not locked_only)]
        if not values:
            continue
        region = layer[bbox]
        if layer_index != me.layer and not locked_only:
            out |= region != 0  # every non-zero value of this layer is another segment
        elif len(values) == 1:
            out |= region == values[0]
        else:
            out |= np.isin(region, values)
    return out


def editable_mask(seg: Segmentation, image: np.ndarray | None, segment_id: int, bbox,
                  policy: EditPolicy, adding: bool) -> np.ndarray | None:
    """Boolean mask of the voxels of ``bbox`` this edit may write (None = all of them)."""
    mask = None

    def _and(m):
        nonlocal mask
        mask = m if mask is None else (mask & m)

    if policy.area is EditableArea.INSIDE_SEGMENT:
        if policy.area_segment_id not in seg.segments:
            raise ValueError(f"the editable area's segment {policy.area_segment_id} no longer exists")
        _and(seg.mask(policy.area_segment_id, bbox))
    elif policy.area is EditableArea.OUTSIDE_SEGMENTS:
        _and(~occupied_by_others(seg, segment_id, bbox))
    if policy.intensity_range is not None:
        if image is None:
            raise ValueError("an intensity range needs the image")
        lo, hi = policy.intensity_range
        region = image[bbox]
        _and((region >= lo) & (region <= hi))
    if adding and policy.overwrite is Overwrite.OVERWRITE_OTHERS and policy.area is not EditableArea.OUTSIDE_SEGMENTS:
        # Overwriting may not take voxels from a locked segment: leave those out.
        if any(s.locked for sid, s in seg.segments.items() if sid != segment_id):
            _and(~occupied_by_others(seg, segment_id, bbox, locked_only=True))
    return mask
