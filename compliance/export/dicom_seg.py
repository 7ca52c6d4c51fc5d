"""DICOM Segmentation (SEG) export with highdicom.

One BINARY SEG per label set: one frame per segment per source slice (empty frames omitted by
default), so overlapping segments stay overlapping. The SEG references its source series and
copies its geometry frame by frame (highdicom takes the plane positions from the sources, so
oblique and enhanced multi-frame sources keep their exact geometry). Each segment carries its
SNOMED CT category/type, its Segment Algorithm Type from provenance and, unless MANUAL, the
model or tool name and version in the Segment Algorithm Identification (PS3.3 C.8.20.4).

The file is written with pydicom's writing validation set to raise, so an invalid value stops
the export instead of leaving the hospital.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import tempfile
from pathlib import Path

import numpy as np

from compliance.export.errors import ExportError
from compliance.export.geometry import source_grid
from compliance.export.segments import SegmentRecord, segment_records

MANUFACTURER = "annotrace"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("annotrace")
    except Exception:  # noqa: BLE001 - running from a source tree without metadata
        return "0+unknown"


@contextlib.contextmanager
def raise_on_invalid_values():
    """Make pydicom raise on invalid values for the duration of the block.

    pydicom 3 checks a value when an element is created or assigned, with
    ``reading_validation_mode``, and checks character sets on writing with
    ``writing_validation_mode``; both are set to RAISE here.
    """
    from pydicom import config

    old = (config.settings.reading_validation_mode, config.settings.writing_validation_mode)
    config.settings.reading_validation_mode = config.RAISE
    config.settings.writing_validation_mode = config.RAISE
    try:
        yield
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = old


def validate_dataset(ds, path=None) -> None:
    """Check every value of ``ds`` (recursively) against its VR; raise on the first bad one.

    The message names the attribute and its VR, never the value (it may be PHI).
    """
    from pydicom import config
    from pydicom.valuerep import validate_value

    for elem in ds.iterall():
        if elem.VR in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.value is None:
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        try:
            for value in values:
                # IS/DS/PN hold Python objects; their validators check the encoded text.
                text = str(value) if elem.VR in ("IS", "DS", "PN") else value
                validate_value(elem.VR, text, config.RAISE)
        except ValueError:
            name = elem.keyword or str(elem.tag)
            raise ExportError(f"invalid DICOM value for {name} ({elem.VR})", path) from None


def _description(number: int, rec: SegmentRecord):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algo_id = None
    if rec.algorithm_type != "MANUAL":
        # In annotrace both automatic and semi-automatic segments come from a model (a
        # proposal, or a proposal a clinician refined interactively).
        family = codes.cid7162.ArtificialIntelligence
        algo_id = hd.AlgorithmIdentificationSequence(
            name=rec.algorithm_name, family=family, version=rec.algorithm_version)
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=rec.name,
        segmented_property_category=hd.sr.CodedConcept(
            rec.category.value, rec.category.scheme, rec.category.meaning),
        segmented_property_type=hd.sr.CodedConcept(
            rec.type.value, rec.type.scheme, rec.type.meaning),
        algorithm_type=rec.algorithm_type,
        algorithm_identification=algo_id,
        display_color=hd.color.CIELabColor.from_rgb(*rec.color),
    )


@contextlib.contextmanager
def _value_errors():
    """Turn pydicom's value errors into an ExportError without the (possibly PHI) value."""
    try:
        yield
    except ValueError as exc:
        text = str(exc)
        vr = next((w for w in text.replace(".", " ").split() if len(w) == 2 and w.isupper()), "?")
        raise ExportError(f"invalid DICOM value (VR {vr}) for the SEG") from None


def _stack_masks(masks, shape) -> np.ndarray:
    arr = np.asarray(masks) if not isinstance(masks, (list, tuple)) else np.stack(
        [np.asarray(m) for m in masks])
    if arr.ndim == 3:
        arr = arr[np.newaxis]
    if arr.ndim != 4 or arr.shape[1:] != tuple(shape):
        raise ExportError(f"masks of shape {arr.shape} do not match the source grid "
                          f"(segments, {shape[0]}, {shape[1]}, {shape[2]})")
    return arr.astype(bool, copy=False)


def build_dicom_seg(source_images, masks, segments, *, content_creator: str,
                    content_datetime: _dt.datetime, series_number: int = 900,
                    instance_number: int = 1, content_label: str = "ANNOTRACE",
                    content_description: str | None = None,
                    series_description: str = "annotrace segmentation",
                    series_instance_uid: str | None = None, sop_instance_uid: str | None = None,
                    device_serial_number: str = "annotrace", omit_empty_frames: bool = True):
    """Build a BINARY DICOM SEG of ``masks`` on the grid of ``source_images``.

    Parameters
    ----------
    source_images : list of pydicom.Dataset
        The single-frame images of the source series (any order) or one enhanced multi-frame
        image. Pixel data is not needed.
    masks : array (segments, k, j, i) or list of (k, j, i) arrays
        One binary mask per segment on the annotrace grid of the source (slices ascending
        along the normal row x column, see :func:`compliance.export.geometry.source_grid`).
        Segments may overlap.
    segments : list of dict or SegmentRecord
        One record per mask (:mod:`compliance.export.segments`); segment numbers are 1..n.
    content_creator : str
        DICOM person name (``Family^Given``) of who is responsible for the content: the
        reviewer who approved it, or the annotator when there is no review.
    content_datetime : datetime
        When the content was approved/created; written as Content Date/Time (and Series
        Date/Time). An aware datetime is converted to UTC; a naive one is taken as given.

    Returns
    -------
    highdicom.seg.Segmentation
    """
    import highdicom as hd

    if len({str(ds.get("SeriesInstanceUID", "")) for ds in source_images}) > 1:
        raise ExportError("the source images belong to more than one series")
    grid = source_grid(source_images)
    stamp = content_datetime.astimezone(_dt.timezone.utc) if content_datetime.tzinfo \
        else content_datetime
    records = segment_records(segments)
    stack = _stack_masks(masks, grid.shape)
    if len(records) != stack.shape[0]:
        raise ExportError(f"{stack.shape[0]} masks but {len(records)} segment records")
    if grid.multiframe:
        # highdicom wants the frames in the order the source stores them.
        pixel = np.zeros((grid.shape[0],) + grid.shape[1:] + (len(records),), dtype=np.uint8)
        for k, (_, frame) in enumerate(grid.frames):
            pixel[frame] = np.moveaxis(stack[:, k], 0, -1)
        sources = list(source_images)
    else:
        pixel = np.moveaxis(stack, 0, -1).astype(np.uint8)
        sources = [source_images[d] for d, _ in grid.frames]
    with raise_on_invalid_values(), _value_errors():
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=pixel,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[_description(n, r) for n, r in enumerate(records, 1)],
            series_instance_uid=series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or hd.UID(),
            instance_number=instance_number,
            manufacturer=MANUFACTURER,
            manufacturer_model_name="annotrace",
            software_versions=_version(),
            device_serial_number=device_serial_number,
            content_label=content_label,
            content_description=content_description,
            content_creator_name=content_creator,
            omit_empty_frames=omit_empty_frames,
            series_description=series_description,
            content_date=stamp.date(), content_time=stamp.time(),
            series_date=stamp.date(), series_time=stamp.time(),
        )
    return seg


def save_dataset(ds, path) -> Path:
    """Write ``ds`` atomically (temporary file, fsync, rename) with validation set to raise."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError("output folder does not exist", path)
    fd, tmp = tempfile.mkstemp(prefix=".annotrace-", suffix=".dcm", dir=path.parent)
    os.close(fd)
    try:
        validate_dataset(ds, path)
        with raise_on_invalid_values():
            ds.save_as(tmp, enforce_file_format=True)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except ValueError as exc:
        raise ExportError(f"cannot encode: {exc.__class__.__name__}", path) from None
    except OSError as exc:
        raise ExportError(f"cannot write: {exc.strerror or exc}", path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_dicom_seg(path, source_images, masks, segments, **kwargs) -> Path:
    """Build (:func:`build_dicom_seg`) and write a SEG to ``path``; returns the path."""
    return save_dataset(build_dicom_seg(source_images, masks, segments, **kwargs), path)
