"""Write small, realistic DICOM series with pydicom, for the reader's tests and benchmark.

Every series is a stack of single-frame CT (or MR) images with the headers a scanner writes
(identifiers, patient module, geometry, rescale, window), so that both annotrace and SimpleITK
read exactly the same files.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, MRImageStorage,
                         PYDICOM_IMPLEMENTATION_UID, generate_uid)

#: Row and column direction cosines (ImageOrientationPatient) of the usual acquisitions.
ORIENTATIONS = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
}


def oblique_orientation(degrees_a: float = 17.0, degrees_b: float = 9.0) -> tuple:
    """An axial orientation rotated about two axes (a double-oblique acquisition)."""
    a, b = np.radians(degrees_a), np.radians(degrees_b)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    m = rz @ rx
    return tuple(float(x) for x in np.concatenate([m[:, 0], m[:, 1]]))


def base_dataset(sop_class=CTImageStorage, modality="CT", study_uid=None, series_uid=None,
                 frame_uid=None) -> Dataset:
    """The patient, study, series and equipment modules a CT scanner writes."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-12345"
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "F"
    ds.AccessionNumber = "ACC-777"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101010"
    ds.SeriesDate = "20240102"
    ds.InstitutionName = "General Hospital"
    ds.Manufacturer = "pydicom factory"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = frame_uid or generate_uid()
    ds.SeriesDescription = "test series"
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = "HFS"
    if modality == "CT":
        ds.KVP = 120
        ds.ConvolutionKernel = "B30f"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    return ds


def write_series(folder, n_slices=12, rows=32, cols=40, orientation="axial",
                 spacing=(0.8, 0.7), slice_step=2.5, origin=(-20.0, -15.0, 30.0),
                 dtype=np.int16, bits_stored=None, slope=1.0, intercept=0.0, seed=0,
                 transfer_syntax=ExplicitVRLittleEndian, shuffle_names=True, descending=False,
                 modality="CT", positions=None, photometric="MONOCHROME2", series_uid=None,
                 study_uid=None, values=None, name_prefix="", private_bytes=0) -> dict:
    """Write a series and return what was written.

    Parameters
    ----------
    orientation : str or 6-tuple
        A key of :data:`ORIENTATIONS`, or ImageOrientationPatient itself.
    spacing : (row spacing, column spacing)
        PixelSpacing as DICOM stores it (j, then i).
    positions : list of 3-tuples, optional
        ImagePositionPatient per slice (default: ``origin + k * slice_step * normal``).
    descending : bool
        Number instances against the normal (as many scanners do for head-first axials).
    shuffle_names : bool
        File names in random order, unrelated to position and InstanceNumber.
    values : ndarray (k, j, i), optional
        Stored pixel values; default random within the stored range.
    private_bytes : int
        Size of a vendor private block (scanners write several kB of them, e.g. Siemens CSA).

    Returns
    -------
    dict
        ``paths``, ``stored`` (the stored values, in ascending normal order), ``series_uid``,
        ``normal``, ``positions`` (ascending).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    iop = ORIENTATIONS[orientation] if isinstance(orientation, str) else tuple(orientation)
    row, col = np.array(iop[:3]), np.array(iop[3:])
    normal = np.cross(row, col)
    if positions is None:
        positions = [tuple(np.asarray(origin) + k * slice_step * normal) for k in range(n_slices)]
    n_slices = len(positions)
    dt = np.dtype(dtype)
    bits_alloc = dt.itemsize * 8
    bits_stored = bits_stored or bits_alloc
    rng = np.random.default_rng(seed)
    if values is None:
        lo = -(1 << (bits_stored - 1)) if dt.kind == "i" else 0
        hi = (1 << (bits_stored - 1)) - 1 if dt.kind == "i" else (1 << bits_stored) - 1
        values = rng.integers(lo, hi, size=(n_slices, rows, cols), endpoint=True).astype(dt)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    sop_class = MRImageStorage if modality == "MR" else CTImageStorage
    order = list(range(n_slices))
    names = [f"{name_prefix}IM{n:04d}.dcm" for n in range(n_slices)]
    if shuffle_names:
        random.Random(seed).shuffle(names)
    paths = []
    for k in order:
        ds = base_dataset(sop_class, modality, study_uid, series_uid, frame_uid)
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = (n_slices - k) if descending else (k + 1)
        ds.ImagePositionPatient = [round(float(x), 6) for x in positions[k]]
        ds.ImageOrientationPatient = [round(float(x), 8) for x in iop]
        ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
        ds.SliceThickness = abs(slice_step) * 1.5   # deliberately not the spacing
        ds.SliceLocation = float(np.dot(positions[k], normal))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_alloc, bits_stored, bits_stored - 1
        ds.PixelRepresentation = 1 if dt.kind == "i" else 0
        if modality == "CT" or slope != 1.0 or intercept != 0.0:
            ds.RescaleSlope = slope
            ds.RescaleIntercept = intercept
            ds.RescaleType = "HU" if modality == "CT" else "US"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        if private_bytes:
            block = ds.private_block(0x0029, "FACTORY CSA HEADER", create=True)
            block.add_new(0x10, "OB", bytes(private_bytes))
        ds.PixelData = np.ascontiguousarray(values[k]).astype(dt.newbyteorder("<")).tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, encoding_plugin=_plugin_for(transfer_syntax))
        path = folder / names[k]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return {"paths": paths, "stored": values, "series_uid": series_uid, "normal": normal,
            "positions": positions, "study_uid": study_uid}


def _plugin_for(uid) -> str:
    # pydicom's own RLE encoder needs no extra package; the others come from pylibjpeg/pyjpegls.
    from pydicom.uid import RLELossless

    return "pydicom" if uid == RLELossless else ""
