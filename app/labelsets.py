"""Glue between the compliance layer's plain records and the viewer's objects (no Qt).

``compliance`` stores label sets as :class:`compliance.records.LabelSet` (uint8 layers,
segment dicts, an optional provenance map) and cases as
:class:`compliance.casestore.CaseData` (array + index->LPS affine + record); the viewer
works on :class:`viewers.volume.Volume` and :class:`viewers.labels.Segmentation`. The
conversions both ways live here so that both sides stay ignorant of each other.
"""

from __future__ import annotations

import numpy as np

from compliance.records import LabelSet
from viewers.labels import Code, Segment, Segmentation, _PALETTE
from viewers.volume import PatientInfo, Volume

#: the keys of a case's ``record["patient"]`` that map onto PatientInfo fields
_PATIENT_FIELDS = {"name": "name", "patient_name": "name", "patient_id": "patient_id",
                   "id": "patient_id", "birth_date": "birth_date", "sex": "sex",
                   "accession_number": "accession_number", "study_date": "study_date",
                   "institution": "institution"}


def volume_from_case(case) -> Volume:
    """A :class:`Volume` of an opened case (``CaseData``: array, affine_lps, record).

    The patient record (PHI) goes into :class:`PatientInfo`, which never prints it.
    """
    rec = case.record
    patient = {}
    for key, value in (rec.get("patient") or {}).items():
        name = _PATIENT_FIELDS.get(key)
        if name and value:
            patient[name] = str(value)
    return Volume(case.array, np.asarray(case.affine_lps, float),
                  modality=rec.get("modality", ""), series_uid=rec.get("series_uid", ""),
                  study_uid=rec.get("study_uid", ""), description=rec.get("description", ""),
                  source_format=rec.get("source_format", ""), patient=PatientInfo(**patient))


def _code(d, default: Code) -> Code:
    try:
        return Code.from_json(d) if d else default
    except (KeyError, TypeError):
        return default


def segmentation_from_labelset(labels: LabelSet, shape, affine_lps) -> Segmentation:
    """A :class:`Segmentation` holding (copies of) a stored label set.

    Segment dicts may be as complete as :meth:`Segment.metadata_json` writes them or as
    short as the command line's (``segment_id``, ``name``, ``layer``, ``value``): missing
    colours come from the palette, missing codes default to "Tissue".
    """
    seg = Segmentation(tuple(shape), np.asarray(affine_lps, float).copy())
    seg.layers = [np.array(layer, dtype=np.uint8, copy=True) for layer in labels.layers]
    default = Segment(0, "", (0, 0, 0))
    for d in labels.segments:
        sid = int(d["segment_id"])
        color = d.get("color") or _PALETTE[(sid - 1) % len(_PALETTE)]
        seg.segments[sid] = Segment(
            sid, str(d.get("name", f"segment {sid}")), tuple(int(c) for c in color),
            _code(d.get("category"), default.category), _code(d.get("type"), default.type),
            int(d.get("layer", 0)), int(d.get("value", 1)), bool(d.get("visible", True)),
            bool(d.get("locked", False)))
    seg._next_id = max(seg.segments, default=0) + 1
    if labels.provenance is not None:
        # setattr: the provenance attributes belong to the proposals work on Segmentation
        setattr(seg, "provenance", np.asarray(labels.provenance, np.uint16).copy())
    setattr(seg, "provenance_legend", dict(labels.provenance_legend or {}))
    return seg


def _layers_for_save(seg: Segmentation) -> list[np.ndarray]:
    n = max([len(seg.layers)] + [s.layer + 1 for s in seg.segments.values()] + [1])
    return [seg.layers[i] if i < len(seg.layers) else np.zeros(seg.shape, np.uint8)
            for i in range(n)]


def tracks_provenance(seg: Segmentation) -> bool:
    """True when the segmentation's editor keeps provenance itself (``ensure_provenance``)."""
    return hasattr(seg, "ensure_provenance")


def labelset_from_segmentation(seg: Segmentation, user_label: str,
                               base: LabelSet | None = None) -> LabelSet:
    """The label set to save (or journal) for ``seg``.

    Provenance: when the segmentation keeps it per edit (``seg.provenance``), that map and
    legend are saved as they are. Otherwise it is derived here: voxels whose labels differ
    from ``base`` (the version the edits started from) are attributed to ``user_label``,
    unchanged voxels keep the base's code, unlabelled voxels get 0.
    """
    layers = _layers_for_save(seg)
    segments = [s.metadata_json() for s in sorted(seg.segments.values(),
                                                  key=lambda s: s.segment_id)]
    prov = getattr(seg, "provenance", None)
    legend = dict(getattr(seg, "provenance_legend", None) or {})
    if tracks_provenance(seg):  # kept per edit (None: nothing labelled since it was made)
        return LabelSet(layers, segments, None if prov is None else np.asarray(prov, np.uint16),
                        legend)
    labelled = np.zeros(seg.shape, bool)
    for layer in layers:
        labelled |= layer != 0
    if not labelled.any() and prov is None:
        return LabelSet(layers, segments, None, legend)
    changed = labelled.copy()
    out = np.zeros(seg.shape, np.uint16)
    if base is not None:
        base_layers = list(base.layers)
        changed = np.zeros(seg.shape, bool)
        for i in range(max(len(layers), len(base_layers))):
            a = layers[i] if i < len(layers) else None
            b = base_layers[i] if i < len(base_layers) else None
            if a is None:
                changed |= b != 0
            elif b is None:
                changed |= a != 0
            else:
                changed |= a != b
        if base.provenance is not None:
            out[...] = base.provenance
            legend = {**dict(base.provenance_legend or {}), **legend}
    code = next((int(c) for c, s in legend.items() if s == user_label), None)
    if code is None:
        code = max((int(c) for c in legend), default=0) + 1
        legend[str(code)] = user_label
    out[changed & labelled] = code
    out[~labelled] = 0
    return LabelSet(layers, segments, out, legend)


def labelsets_equal(a: LabelSet, b: LabelSet) -> bool:
    """Same layers (ignoring trailing empty layers) and the same segment metadata."""
    def trimmed(layers):
        layers = list(layers)
        while layers and not layers[-1].any():
            layers.pop()
        return layers

    la, lb = trimmed(a.layers), trimmed(b.layers)
    return (len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))
            and a.segments == b.segments)
