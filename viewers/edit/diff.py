"""Sparse, compressed voxel diffs: what one command changed in one uint8 layer.

A :class:`LayerDiff` holds the bounding box of the changed voxels, the mask of
changed voxels inside it (bit-packed, then zlib-compressed) and their old and
new values in C order (a single number when they are all equal, which is the
common case: a brush stroke turns 0 into one segment value). Memory is thus
proportional to the voxels changed (usually well under one byte per voxel),
never to the volume, unlike the full-copy undo of 3D Slicer that DESIGN.md
warns about.

Applying the old values restores the layer bit-exactly; applying the new values
replays the edit.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass

import numpy as np

#: Estimated fixed bytes held by one diff besides its payload (object, tuple, ints).
DIFF_OVERHEAD_BYTES = 400


def _pack_values(values: np.ndarray, dtype=np.uint8):
    """A plain int when all values are equal, else zlib-compressed bytes."""
    if values.size and (values == values[0]).all():
        return int(values[0])
    return zlib.compress(np.ascontiguousarray(values, dtype=dtype).tobytes(), 1)


def _unpack_values(packed, count: int, dtype=np.uint8):
    if isinstance(packed, int):
        return np.dtype(dtype).type(packed)
    return np.frombuffer(zlib.decompress(packed), dtype=dtype, count=count)


@dataclass(frozen=True)
class LayerDiff:
    """Changed voxels of one layer.

    Attributes
    ----------
    layer : int
        Index into ``Segmentation.layers``.
    bbox : tuple of 3 (start, stop)
        Bounding box ``(k, j, i)`` of the changed voxels, stop exclusive.
    count : int
        Number of changed voxels.
    mask_z : bytes
        ``zlib(packbits(mask))`` of the changed voxels inside ``bbox``.
    old, new : int or bytes
        Values before and after, in C order of the mask (an int when uniform).
    dtype : str
        Value type: "uint8" for label layers, "uint16" for the provenance map (layer -1).
    """

    layer: int
    bbox: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    count: int
    mask_z: bytes
    old: int | bytes
    new: int | bytes
    dtype: str = "uint8"

    @classmethod
    def from_changes(cls, layer: int, shape, flat_index, old, new,
                     dtype: str = "uint8") -> "LayerDiff | None":
        """Build a diff from sorted, unique flat indices with their old and new values.

        Voxels whose old and new values are equal are dropped; ``None`` when nothing is left.
        """
        keep = old != new
        if not keep.all():
            flat_index, old, new = flat_index[keep], old[keep], new[keep]
        if flat_index.size == 0:
            return None
        k, j, i = np.unravel_index(flat_index, shape)
        # flat_index is sorted: the k range is its ends; j and i need a reduction
        lo = (int(k[0]), int(j.min()), int(i.min()))
        hi = (int(k[-1]) + 1, int(j.max()) + 1, int(i.max()) + 1)
        box_shape = tuple(h - lo_ for lo_, h in zip(lo, hi))
        mask = np.zeros(box_shape, dtype=bool)
        local = ((k - lo[0]) * box_shape[1] + (j - lo[1])) * box_shape[2] + (i - lo[2])
        mask.reshape(-1)[local] = True
        # Sorted global flat order equals C order inside the box, so values line up.
        mask_z = zlib.compress(np.packbits(mask, axis=None).tobytes(), 1)
        return cls(layer, tuple(zip(lo, hi)), int(flat_index.size), mask_z,
                   _pack_values(old, dtype), _pack_values(new, dtype), dtype)

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in self.bbox)

    def mask(self) -> np.ndarray:
        """Boolean mask of the changed voxels inside :attr:`bbox`."""
        shape = tuple(b - a for a, b in self.bbox)
        bits = np.frombuffer(zlib.decompress(self.mask_z), dtype=np.uint8)
        return np.unpackbits(bits, count=int(np.prod(shape))).astype(bool).reshape(shape)

    def values(self, which: str) -> np.ndarray:
        """Old (``"old"``) or new (``"new"``) values as an array or uint8 scalar."""
        return _unpack_values(self.old if which == "old" else self.new, self.count, self.dtype)

    def apply(self, layer_array: np.ndarray, which: str) -> None:
        """Write the old or new values into ``layer_array`` (in place)."""
        region = layer_array[self.slices]
        region[self.mask()] = self.values(which)

    def region_bytes(self, layer_array: np.ndarray, which: str) -> bytes:
        """Bytes of the bounding box as it is (``"new"``) or as it was before (``"old"``).

        ``layer_array`` must hold the state after the edit.
        """
        region = np.ascontiguousarray(layer_array[self.slices])
        if which == "old":
            region = region.copy()
            region[self.mask()] = self.values("old")
        return region.tobytes()

    @property
    def nbytes(self) -> int:
        """Bytes held: payloads plus an estimate of the fixed object overhead."""
        payload = sys.getsizeof(self.mask_z)
        for v in (self.old, self.new):
            payload += sys.getsizeof(v)
        return payload + DIFF_OVERHEAD_BYTES
