"""Plain records the compliance layer stores: label sets and their canonical bytes.

A :class:`LabelSet` is what one annotation version holds: overlapping segments
packed into ``uint8`` layers (a segment's mask is ``layers[layer] == value``),
segment metadata, and an optional per-voxel provenance array with its legend
(``{"1": "model:spleen-unet@sha256:...", "2": "user:<id>"}``).

The *content hash* of a label set is the SHA-256 of its canonical bytes (a
sorted-key JSON header followed by the raw C-order arrays); it is what the audit
trail records and what a reviewer's signature covers.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from compliance.errors import ComplianceError, IntegrityError

_MAGIC = b"ATLB1"


@dataclass
class LabelSet:
    """One annotation: uint8 layers + segment metadata + optional provenance."""

    layers: list[np.ndarray]
    segments: list[dict]
    provenance: np.ndarray | None = None
    provenance_legend: dict = field(default_factory=dict)

    def check(self, shape: tuple[int, int, int]) -> None:
        """Raise a one-line :class:`ComplianceError` unless every array is on ``shape``."""
        if not self.layers:
            raise ComplianceError("a label set needs at least one layer")
        for i, layer in enumerate(self.layers):
            if layer.dtype != np.uint8 or layer.shape != tuple(shape):
                raise ComplianceError(f"label layer {i} is {layer.dtype} {layer.shape}, the case "
                                      f"grid needs uint8 {tuple(shape)}")
        if self.provenance is not None and (self.provenance.shape != tuple(shape)
                                            or self.provenance.dtype.kind not in "u"):
            raise ComplianceError(f"provenance must be unsigned integers on {tuple(shape)}")


def _arrays(labels: LabelSet) -> list[np.ndarray]:
    out = [np.ascontiguousarray(a) for a in labels.layers]
    if labels.provenance is not None:
        out.append(np.ascontiguousarray(labels.provenance))
    return out


def canonical_parts(labels: LabelSet) -> list:
    """The canonical serialisation as pieces (header bytes, then zero-copy array views)."""
    arrays = _arrays(labels)
    header = {
        "arrays": [[list(a.shape), a.dtype.str] for a in arrays],
        "n_layers": len(labels.layers),
        "has_provenance": labels.provenance is not None,
        "segments": labels.segments,
        "provenance_legend": labels.provenance_legend,
    }
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return [_MAGIC + struct.pack(">I", len(h)) + h] + [memoryview(a).cast("B") for a in arrays]


def canonical_bytes(labels: LabelSet) -> bytes:
    """The canonical serialisation (hashed, and compressed for storage)."""
    return b"".join(canonical_parts(labels))


def content_hash(labels: LabelSet, parts: list | None = None) -> str:
    h = hashlib.sha256()
    for part in parts if parts is not None else canonical_parts(labels):
        h.update(part)
    return h.hexdigest()


def from_canonical(data: bytes) -> LabelSet:
    if data[:5] != _MAGIC:
        raise IntegrityError("label set: unknown serialisation")
    (n,) = struct.unpack_from(">I", data, 5)
    header = json.loads(data[9:9 + n])
    pos, arrays = 9 + n, []
    for shape, dtype in header["arrays"]:
        dt = np.dtype(dtype)
        size = int(np.prod(shape)) * dt.itemsize
        arrays.append(np.frombuffer(data, dt, count=size // dt.itemsize, offset=pos)
                      .reshape(shape).copy())
        pos += size
    k = header["n_layers"]
    return LabelSet(arrays[:k], header["segments"], arrays[k] if header["has_provenance"] else None,
                    header["provenance_legend"])


def pack(meta: dict, payload, level: int = 1) -> bytes:
    """``meta`` JSON + zlib-compressed payload (label maps compress 50-500x).

    ``payload`` is bytes or a list of pieces (compressed as one stream, without
    first joining them into one copy).
    """
    m = json.dumps(meta, sort_keys=True).encode()
    comp = zlib.compressobj(level)
    pieces = payload if isinstance(payload, list) else [payload]
    out = [struct.pack(">I", len(m)), m] + [comp.compress(p) for p in pieces] + [comp.flush()]
    return b"".join(out)


def unpack(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack_from(">I", data)
    return json.loads(data[4:4 + n]), zlib.decompress(data[4 + n:])


def unpack_meta(prefix: bytes) -> dict:
    """The metadata of a packed record from its first bytes (see :func:`pack`)."""
    (n,) = struct.unpack_from(">I", prefix)
    if 4 + n > len(prefix):
        raise IntegrityError("record metadata longer than the first chunk")
    return json.loads(prefix[4:4 + n])


def pack_array(meta: dict, array: np.ndarray) -> bytes:
    a = np.ascontiguousarray(array)
    return pack({**meta, "shape": list(a.shape), "dtype": a.dtype.str}, a.tobytes())


def unpack_array(data: bytes) -> tuple[dict, np.ndarray]:
    meta, raw = unpack(data)
    return meta, np.frombuffer(raw, np.dtype(meta["dtype"])).reshape(meta["shape"]).copy()
