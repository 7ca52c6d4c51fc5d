"""Plain segment records and their DICOM SEG descriptions.

A *segment record* is a plain dict, so that ``compliance`` never needs viewer objects::

    {"name": "Liver", "color": (221, 130, 101),
     "category": {"scheme": "SCT", "value": "123037004", "meaning": "Anatomical Structure"},
     "type": {"scheme": "SCT", "value": "10200004", "meaning": "Liver"},
     "algorithm_type": "AUTOMATIC",            # MANUAL | SEMIAUTOMATIC | AUTOMATIC
     "algorithm_name": "spleen_ct_unet",       # model or tool name; required unless MANUAL
     "algorithm_version": "0.5.3"}             # model version; required unless MANUAL

``model_name`` / ``model_version`` are accepted as aliases of ``algorithm_name`` /
``algorithm_version`` (provenance records use the model words).
"""

from __future__ import annotations

from dataclasses import dataclass

ALGORITHM_TYPES = ("MANUAL", "SEMIAUTOMATIC", "AUTOMATIC")

# Colours for records that bring none (3D Slicer's GenericAnatomyColors, first entries).
_PALETTE = [(128, 174, 128), (241, 214, 145), (177, 122, 101), (111, 184, 210), (216, 101, 79),
            (221, 130, 101), (144, 238, 144), (192, 104, 88), (220, 245, 20), (78, 63, 0)]


@dataclass(frozen=True)
class CodeRecord:
    """A coded concept: coding scheme designator, code value, code meaning."""

    scheme: str
    value: str
    meaning: str

    def as_json(self) -> dict:
        return {"scheme": self.scheme, "value": self.value, "meaning": self.meaning}


@dataclass(frozen=True)
class SegmentRecord:
    """One validated segment record (see the module docstring for the dict form)."""

    name: str
    color: tuple[int, int, int]
    category: CodeRecord
    type: CodeRecord
    algorithm_type: str = "MANUAL"
    algorithm_name: str = ""
    algorithm_version: str = ""

    def as_json(self) -> dict:
        """The record as plain JSON-able dict (used in label tables and manifests)."""
        out = {"name": self.name, "color": list(self.color),
               "category": self.category.as_json(), "type": self.type.as_json(),
               "algorithm_type": self.algorithm_type}
        if self.algorithm_name:
            out["algorithm_name"] = self.algorithm_name
            out["algorithm_version"] = self.algorithm_version
        return out


def _code(value, what: str, index: int) -> CodeRecord:
    from compliance.export.errors import ExportError

    if isinstance(value, CodeRecord):
        return value
    if hasattr(value, "scheme") and hasattr(value, "meaning"):  # viewers.labels.Code-like
        return CodeRecord(str(value.scheme), str(value.value), str(value.meaning))
    try:
        code = CodeRecord(str(value["scheme"]), str(value["value"]), str(value["meaning"]))
    except (TypeError, KeyError):
        raise ExportError(f"segment {index}: {what} must have scheme, value and meaning") from None
    if not all((code.scheme, code.value, code.meaning)):
        raise ExportError(f"segment {index}: {what} has an empty scheme, value or meaning")
    return code


def segment_record(record, index: int = 1) -> SegmentRecord:
    """Validate one plain record (dict or :class:`SegmentRecord`).

    Raises
    ------
    ExportError
        On a missing name or code, an unknown algorithm type, or an automatic/semi-automatic
        segment without an algorithm (model) name and version.
    """
    from compliance.export.errors import ExportError

    if isinstance(record, SegmentRecord):
        return record
    name = str(record.get("name", "")).strip()
    if not name:
        raise ExportError(f"segment {index}: name is empty")
    color = tuple(int(c) for c in record.get("color") or _PALETTE[(index - 1) % len(_PALETTE)])
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise ExportError(f"segment {index}: color must be three integers 0-255")
    algo = str(record.get("algorithm_type", "MANUAL")).upper()
    if algo not in ALGORITHM_TYPES:
        raise ExportError(f"segment {index}: algorithm_type {algo!r} is not one of "
                          + ", ".join(ALGORITHM_TYPES))
    algo_name = str(record.get("algorithm_name") or record.get("model_name") or "")
    algo_version = str(record.get("algorithm_version") or record.get("model_version") or "")
    if algo != "MANUAL" and not (algo_name and algo_version):
        # PS3.3 C.8.20.4: Segment Algorithm Name is required unless MANUAL; we also insist on
        # the version so that an automatic label always names the exact model that made it.
        raise ExportError(f"segment {index}: {algo} needs the algorithm (model) name and version")
    return SegmentRecord(name, color, _code(record.get("category"), "category", index),
                         _code(record.get("type"), "type", index), algo,
                         algo_name if algo != "MANUAL" else "",
                         algo_version if algo != "MANUAL" else "")


def segment_records(records) -> list[SegmentRecord]:
    """Validate a list of records; segment numbers are their 1-based positions."""
    return [segment_record(r, i) for i, r in enumerate(records, start=1)]
