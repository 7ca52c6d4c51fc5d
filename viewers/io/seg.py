"""Import existing segmentations: DICOM SEG, and NIfTI/NRRD label maps with a label table.

Every importer returns an :class:`ImportedSegmentation`: a :class:`~viewers.labels.Segmentation`
(overlapping segments packed into uint8 layers) on the grid of the image it belongs to, plus the
plain per-segment records (codes, algorithm type, model name/version) that
``compliance.export`` writes back out, so that SEG -> import -> SEG keeps everything.

* DICOM SEG is decoded with highdicom's reader (``Segmentation.get_volume``) and placed on the
  grid of its referenced series when that series is given as a :class:`~viewers.volume.Volume`
  (the mask of slice ``k`` of the result is the segment on slice ``k`` of the series);
  otherwise on the SEG's own grid (slices ascending along the normal, as annotrace orders them).
* A label map (``.nii``, ``.nii.gz``, ``.nrrd``) takes its segment names, colours and codes from
  a JSON sidecar written by :func:`compliance.export.nifti.write_label_nifti` (``<stem>.json``),
  or from 3D Slicer's ``.seg.nrrd`` header fields (``SegmentN_Name``, ``_LabelValue``, ``_Layer``,
  ``_Color``, ``_Tags``); without either, each label value becomes a segment "Label N".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from viewers.io.errors import InputError
from viewers.labels import CATEGORY_TISSUE, TYPE_TISSUE, Code, Segmentation
from viewers.volume import Volume

LABEL_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd")


@dataclass
class ImportedSegmentation:
    """A segmentation read from a file, with what the file says about its segments.

    Attributes
    ----------
    segmentation : Segmentation
        Segment ``n`` of ``records`` has ``segment_id`` ``n + 1``.
    records : list of dict
        Per segment: name, color, category, type (``{scheme, value, meaning}``),
        algorithm_type, and algorithm_name/algorithm_version when not MANUAL.
    referenced_series_uid, frame_of_reference_uid : str
        DICOM SEG only ("" otherwise).
    content_creator, content_date, content_time : str
        DICOM SEG only.
    """

    segmentation: Segmentation
    records: list = field(default_factory=list)
    referenced_series_uid: str = ""
    frame_of_reference_uid: str = ""
    content_creator: str = ""
    content_date: str = ""
    content_time: str = ""

    def masks(self) -> np.ndarray:
        """Boolean masks ``(segments, k, j, i)`` in record order."""
        seg = self.segmentation
        return np.stack([seg.mask(sid) for sid in sorted(seg.segments)]) if seg.segments \
            else np.zeros((0,) + tuple(seg.shape), dtype=bool)


def segmentation_from_masks(masks, affine_lps, records) -> Segmentation:
    """Pack binary masks ``(segments, k, j, i)`` into a :class:`Segmentation`.

    Each segment goes to the first layer where it overlaps no segment already there, so
    non-overlapping label sets need one layer and overlaps are never forced away.
    """
    masks = np.asarray(masks, dtype=bool)
    seg = Segmentation(tuple(masks.shape[1:]), np.asarray(affine_lps, float))
    occupied: list[np.ndarray] = []
    for mask, rec in zip(masks, records):
        layer = next((n for n, occ in enumerate(occupied)
                      if not (occ & mask).any()
                      and len(seg.segments_in_layer(n)) < 255), len(occupied))
        if layer == len(occupied):
            occupied.append(np.zeros(masks.shape[1:], dtype=bool))
        s = seg.add_segment(rec["name"], color=rec.get("color"),
                            category=Code.from_json(rec["category"]),
                            type=Code.from_json(rec["type"]), layer=layer)
        seg.ensure_layer(layer)[mask] = s.value
        occupied[layer] |= mask
    return seg


# -- DICOM SEG ---------------------------------------------------------------------------------
def _code_json(concept) -> dict:
    return {"scheme": str(concept.scheme_designator), "value": str(concept.value),
            "meaning": str(concept.meaning)}


def _seg_records(seg) -> list[dict]:
    records = []
    for number in seg.segment_numbers:
        desc = seg.get_segment_description(number)
        rec = {"name": str(desc.segment_label),
               "category": _code_json(desc.segmented_property_category),
               "type": _code_json(desc.segmented_property_type),
               "algorithm_type": desc.algorithm_type.value}
        if "RecommendedDisplayCIELabValue" in desc:
            import highdicom as hd

            lab = hd.color.CIELabColor.from_dicom_value(desc.RecommendedDisplayCIELabValue)
            rec["color"] = tuple(int(c) for c in lab.to_rgb())
        ident = desc.get("SegmentationAlgorithmIdentificationSequence")
        if ident:
            rec["algorithm_name"] = str(ident[0].get("AlgorithmName", ""))
            rec["algorithm_version"] = str(ident[0].get("AlgorithmVersion", ""))
        elif "SegmentAlgorithmName" in desc:
            rec["algorithm_name"] = str(desc.SegmentAlgorithmName)
            rec["algorithm_version"] = ""
        records.append(rec)
    return records


def _seg_volume(seg, path):
    """(masks (s, k, j, i), index->LPS affine) on the SEG's own grid, annotrace slice order."""
    fractional = seg.segmentation_type.value == "FRACTIONAL"
    try:
        vol = seg.get_volume(combine_segments=False,
                             dtype=np.float32 if fractional else np.uint8)
    except (ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(path, f"SEG frames do not form a regular volume ({reason})") from None
    hd_affine = np.asarray(vol.affine, float)
    affine = hd_affine[:, [2, 1, 0, 3]]  # highdicom indexes (slice, row, column)
    array = np.moveaxis(np.asarray(vol.array), -1, 0)
    # A fractional SEG (probability or occupancy, rescaled to 0..1) becomes binary at one half.
    array = array >= 0.5 if fractional else array.astype(bool)
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    if array.shape[1] > 1 and float(affine[:3, 2] @ normal) < 0:
        array = array[:, ::-1]
        affine[:3, 3] = affine[:3, 3] + affine[:3, 2] * (array.shape[1] - 1)
        affine[:3, 2] = -affine[:3, 2]
    return np.ascontiguousarray(array), affine


def _place_on(masks, affine, reference: Volume, path) -> np.ndarray:
    """Put SEG masks into the grid of ``reference``; both must share one voxel lattice.

    The SEG's axes may be flipped or permuted relative to the reference (e.g. a reference read
    by a tool that keeps a multi-frame image's stored frame order): each SEG voxel is mapped to
    its reference voxel exactly.
    """
    ref = reference.affine_lps
    steps = np.linalg.solve(ref[:3, :3], affine[:3, :3])  # SEG index steps, in reference indices
    offset = np.linalg.solve(ref[:3, :3], affine[:3, 3] - ref[:3, 3])
    cols = [0, 1] if masks.shape[1] == 1 else [0, 1, 2]  # one slice: its k step is moot
    axes = np.round(steps[:, cols])
    signed_permutation = (np.all(np.abs(axes).sum(axis=0) == 1)
                          and len({int(np.argmax(np.abs(c))) for c in axes.T}) == len(cols))
    if not signed_permutation or not np.allclose(steps[:, cols], axes, atol=1e-3):
        raise InputError(path, "SEG is not on the voxel grid of the given series")
    start = np.round(offset)
    if np.abs(offset - start).max() > 1e-2:
        raise InputError(path, "SEG frames fall between the slices of the given series")
    seg_n, k, j, i = np.nonzero(masks)
    ijk = np.stack([i, j, k])[cols]
    target = (axes @ ijk + start[:, np.newaxis]).astype(np.int64)  # reference (i, j, k)
    limits = np.array(reference.shape[::-1])[:, np.newaxis]
    if target.size and (np.any(target < 0) or np.any(target >= limits)):
        raise InputError(path, "SEG extends beyond the given series")
    out = np.zeros((masks.shape[0],) + tuple(reference.shape), dtype=bool)
    out[seg_n, target[2], target[1], target[0]] = True
    return out


def read_dicom_seg(path, reference: Volume | None = None) -> ImportedSegmentation:
    """Read a DICOM SEG as an :class:`ImportedSegmentation`.

    Parameters
    ----------
    path : str or Path
    reference : Volume, optional
        The referenced series; when given, the masks are placed on its grid.

    Raises
    ------
    InputError
        Not a SEG, or frames that do not form a volume or do not fit the reference grid.
    """
    import highdicom as hd
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        seg = hd.seg.segread(path)
    except (InvalidDicomError, OSError) as exc:
        raise InputError(path, f"not a readable DICOM file ({exc.__class__.__name__})") from None
    except (ValueError, AttributeError, KeyError):
        try:
            sop = pydicom.dcmread(path, stop_before_pixels=True).get("SOPClassUID", "")
        except Exception:  # noqa: BLE001 - any failure here means "not a SEG"
            sop = ""
        reason = "not a DICOM Segmentation" if sop != "1.2.840.10008.5.1.4.1.1.66.4" \
            else "invalid DICOM Segmentation"
        raise InputError(path, reason) from None
    masks, affine = _seg_volume(seg, path)
    if reference is not None:
        masks = _place_on(masks, affine, reference, path)
        affine = reference.affine_lps
    records = _seg_records(seg)
    series = ""
    if "ReferencedSeriesSequence" in seg and seg.ReferencedSeriesSequence:
        series = str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    return ImportedSegmentation(segmentation_from_masks(masks, affine, records), records,
                                series, str(seg.get("FrameOfReferenceUID", "")),
                                str(seg.get("ContentCreatorName", "")),
                                str(seg.get("ContentDate", "")), str(seg.get("ContentTime", "")))


# -- label maps --------------------------------------------------------------------------------
def sidecar_path(path) -> Path:
    """``x.nii.gz`` -> ``x.json`` (the label table written next to a label map)."""
    path = Path(path)
    name = path.name
    for suffix in LABEL_SUFFIXES:
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_name(name + ".json")


def _default_record(value: int) -> dict:
    return {"name": f"Label {value}", "category": CATEGORY_TISSUE.as_json(),
            "type": TYPE_TISSUE.as_json(), "algorithm_type": "MANUAL"}


def _read_labels(path) -> Volume:
    from viewers.io import read_volume

    volume = read_volume(path)
    if volume.array.dtype.kind not in "iub":
        values = volume.array
        if not np.array_equal(values, np.round(values)):
            raise InputError(path, "a label map must hold integer values")
    return volume


def read_label_map(path) -> ImportedSegmentation:
    """Read a NIfTI/NRRD label map and its label table (JSON sidecar or ``.seg.nrrd`` header).

    With a sidecar that lists several files (a label set with overlaps is written as one file
    per layer), every listed file is read; they must share one grid.
    """
    path = Path(path)
    if not path.name.lower().endswith(LABEL_SUFFIXES):
        raise InputError(path, "not a label map file (" + ", ".join(LABEL_SUFFIXES) + ")")
    if not path.is_file():
        raise InputError(path, "no such file")
    table_path = sidecar_path(path)
    if path.name.lower().endswith(".seg.nrrd"):
        return _read_slicer_seg_nrrd(path)
    if not table_path.exists():
        volume = _read_labels(path)
        values = [int(v) for v in np.unique(volume.array) if v != 0]
        records = [_default_record(v) for v in values]
        masks = np.stack([volume.array == v for v in values]) if values else \
            np.zeros((0,) + volume.shape, dtype=bool)
        return ImportedSegmentation(segmentation_from_masks(masks, volume.affine_lps, records),
                                    records)
    try:
        table = json.loads(table_path.read_text(encoding="utf-8"))
        entries = table["segments"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(table_path, "not a label table (JSON with a 'segments' list)") from None
    volumes: dict[str, Volume] = {}
    masks, records = [], []
    for n, entry in enumerate(entries, 1):
        try:
            name = entry.get("file") or path.name
            value = int(entry["label_value"])
            rec = {k: v for k, v in entry.items() if k not in ("file", "label_value")}
            rec.setdefault("category", CATEGORY_TISSUE.as_json())
            rec.setdefault("type", TYPE_TISSUE.as_json())
            rec["name"] = str(rec["name"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError(table_path, f"segment {n} needs name and label_value") from None
        if name not in volumes:
            volumes[name] = _read_labels(table_path.parent / name)
        masks.append(volumes[name].array == value)
        if "color" in rec:
            rec["color"] = tuple(int(c) for c in rec["color"])
        records.append(rec)
    grids = list(volumes.values())
    for other in grids[1:]:
        if other.shape != grids[0].shape or not np.allclose(other.affine_lps, grids[0].affine_lps,
                                                            atol=1e-4):
            raise InputError(table_path, "the label files of this table are on different grids")
    stack = np.stack(masks) if masks else np.zeros((0,) + grids[0].shape, dtype=bool)
    return ImportedSegmentation(segmentation_from_masks(stack, grids[0].affine_lps, records),
                                records)


_TAG_CODES = re.compile(r"~([^~^|]*)\^([^~^|]*)\^([^~|]*)")


def _slicer_codes(tags: str):
    """Category and type codes from Slicer's ``TerminologyEntry`` tag, if present."""
    entry = next((t.split(":", 1)[1] for t in tags.split("|") if t.startswith("TerminologyEntry:")),
                 "")
    parts = entry.split("~")
    # TerminologyEntry = context~category~type~type modifier~anatomic context~region~modifier
    if len(parts) < 3:
        return None, None
    codes = []
    for part in parts[1:3]:
        bits = part.split("^")
        if len(bits) != 3 or not all(bits):
            return None, None
        codes.append({"scheme": bits[0], "value": bits[1], "meaning": bits[2]})
    return codes[0], codes[1]


def _nrrd_header(path) -> dict:
    header = {}
    with open(path, "rb") as handle:
        first = handle.readline()
        if not first.startswith(b"NRRD"):
            raise InputError(path, "not a NRRD file")
        for raw in handle:
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            if ":=" in line:
                key, value = line.split(":=", 1)
                header[key] = value
    return header


def _read_slicer_seg_nrrd(path) -> ImportedSegmentation:
    import SimpleITK as sitk

    from viewers.io.itk import from_sitk

    header = _nrrd_header(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(path, "not a readable NRRD file") from None
    layers = sitk.GetArrayFromImage(image)  # (k, j, i) or (k, j, i, layers)
    if layers.ndim == 3:
        layers = layers[..., np.newaxis]
    scalar = sitk.VectorIndexSelectionCast(image, 0) if image.GetNumberOfComponentsPerPixel() > 1 \
        else image
    grid = from_sitk(scalar)
    masks, records = [], []
    n = 0
    while f"Segment{n}_Name" in header:
        name = header[f"Segment{n}_Name"]
        value = int(header.get(f"Segment{n}_LabelValue", n + 1))
        layer = int(header.get(f"Segment{n}_Layer", 0))
        rec = _default_record(value)
        rec["name"] = name
        if f"Segment{n}_Color" in header:
            rgb = [float(c) for c in header[f"Segment{n}_Color"].split()[:3]]
            rec["color"] = tuple(int(round(c * 255)) for c in rgb)
        category, type_ = _slicer_codes(header.get(f"Segment{n}_Tags", ""))
        if category:
            rec["category"], rec["type"] = category, type_
        if layer >= layers.shape[-1]:
            raise InputError(path, f"segment {name!r} is in layer {layer}, the file has "
                                   f"{layers.shape[-1]}")
        masks.append(layers[..., layer] == value)
        records.append(rec)
        n += 1
    stack = np.stack(masks) if masks else np.zeros((0,) + grid.shape, dtype=bool)
    return ImportedSegmentation(segmentation_from_masks(stack, grid.affine_lps, records), records)
