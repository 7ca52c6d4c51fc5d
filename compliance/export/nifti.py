"""NIfTI export of label maps for NIfTI sources and training pipelines.

A label set is written as integer label maps plus one JSON label table (``<stem>.json``) that
says which value of which file is which segment, with its codes and provenance. Segments that
do not overlap share one file (values 1..n, the usual training-pipeline form); segments that
overlap another are put in further files (``<stem>_layer2.nii.gz``, ...), so an overlap is
never forced away. The header carries no identifying text: ``descrip``, ``aux_file``,
``intent_name`` and ``db_name`` are empty.

Coordinates: the masks are ``(k, j, i)`` on an index->LPS affine (annotrace's convention);
NIfTI stores RAS, so the affine is converted here, once.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from compliance.export.errors import ExportError
from compliance.export.segments import segment_records

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
TABLE_FORMAT = "annotrace-label-table/1"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    raise ExportError("a NIfTI label map must end in .nii or .nii.gz", path)


def _layers(masks: np.ndarray) -> list[list[int]]:
    """Assign each segment index to the first layer where it overlaps nothing."""
    layers: list[list[int]] = []
    occupied: list[np.ndarray] = []
    for n, mask in enumerate(masks):
        for layer, occ in zip(layers, occupied):
            if len(layer) < 255 and not (occ & mask).any():
                layer.append(n)
                occ |= mask
                break
        else:
            layers.append([n])
            occupied.append(mask.copy())
    return layers


def _write_atomic(img, path: Path) -> None:
    import nibabel as nib

    suffix = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    fd, tmp = tempfile.mkstemp(prefix=".annotrace-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        nib.save(img, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def label_image(labels: np.ndarray, affine_lps):
    """A NIfTI-1 image of a ``(k, j, i)`` uint8 label map with an anonymous header."""
    import nibabel as nib

    affine_ras = _LPS_TO_RAS @ np.asarray(affine_lps, float)
    img = nib.Nifti1Image(np.asarray(labels).T, affine_ras)
    img.set_qform(affine_ras, code=1)
    img.set_sform(affine_ras, code=1)
    header = img.header
    for key in ("descrip", "aux_file", "intent_name", "db_name"):
        header[key] = b""
    header.set_intent("label", name="")
    header["cal_min"], header["cal_max"] = 0, int(labels.max()) if labels.size else 0
    return img


def write_label_nifti(path, masks, affine_lps, segments) -> list[Path]:
    """Write binary masks as NIfTI label map(s) plus the JSON label table.

    Parameters
    ----------
    path : str or Path
        ``<stem>.nii.gz`` (or ``.nii``); further layers become ``<stem>_layerN.nii.gz`` and the
        table ``<stem>.json``.
    masks : array (segments, k, j, i) or list of (k, j, i)
    affine_lps : (4, 4) array
        Index ``(i, j, k, 1)`` -> LPS mm.
    segments : list of dict
        Segment records (:mod:`compliance.export.segments`).

    Returns
    -------
    list of Path
        The label map files, then the table.
    """
    path = Path(path)
    stem = _stem(path)
    if not path.parent.is_dir():
        raise ExportError("output folder does not exist", path)
    stack = np.stack([np.asarray(m, bool) for m in masks]) if isinstance(masks, (list, tuple)) \
        else np.asarray(masks, bool)
    if stack.ndim != 4:
        raise ExportError(f"masks must be (segments, k, j, i), got shape {stack.shape}", path)
    records = segment_records(segments)
    if len(records) != stack.shape[0]:
        raise ExportError(f"{stack.shape[0]} masks but {len(records)} segment records", path)
    suffix = path.name[len(stem):]
    written, entries = [], []
    for number, members in enumerate(_layers(stack), start=1):
        out = path if number == 1 else path.with_name(f"{stem}_layer{number}{suffix}")
        labels = np.zeros(stack.shape[1:], dtype=np.uint8)
        for value, n in enumerate(members, start=1):
            labels[stack[n]] = value
            entries.append((n, {"file": out.name, "label_value": value, **records[n].as_json()}))
        _write_atomic(label_image(labels, affine_lps), out)
        written.append(out)
    table = {"format": TABLE_FORMAT, "coordinate_note": "NIfTI affine is RAS (nibabel)",
             "segments": [entry for _, entry in sorted(entries, key=lambda e: e[0])]}
    table_path = path.with_name(stem + ".json")
    fd, tmp = tempfile.mkstemp(prefix=".annotrace-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(table, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, table_path)
    written.append(table_path)
    return written
