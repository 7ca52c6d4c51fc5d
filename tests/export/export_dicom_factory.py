"""Small synthetic CT/MR series written with pydicom, with known PHI and known geometry.

The values in :data:`PHI` are what de-identification must remove; each is distinctive enough
that finding it in the bytes of an exported file means it leaked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PHI = {
    "PatientName": "Quixote^Alonso",
    "PatientID": "PID-7734921",
    "PatientBirthDate": "19470312",
    "AccessionNumber": "ACC99182734",
    "StudyDate": "20190517",
    "InstitutionName": "Sancho Panza Memorial Hospital",
    "ReferringPhysicianName": "Rocinante^Doctor",
    "OtherPatientIDs": "OTHER-5566123",
    "StudyDescription": "Quixote liver follow-up",
}

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


def make_series(folder: Path, shape=(5, 12, 10), spacing=(0.8, 0.7, 2.5),
                origin=(-40.0, -30.0, 12.0), orientation=(1, 0, 0, 0, 1, 0), modality="CT",
                phi=None, burned_in: str | None = "NO", private: bool = True,
                shuffle: bool = True) -> list[Path]:
    """Write a single-frame series; returns the file paths (in shuffled order by default).

    Parameters
    ----------
    shape : (slices, rows, columns)
    spacing : (i, j, k) mm: column spacing, row spacing, slice step
    orientation : ImageOrientationPatient (row direction, column direction)
    """
    folder.mkdir(parents=True, exist_ok=True)
    phi = dict(PHI if phi is None else phi)
    orient = np.array(orientation, float)
    row_dir, col_dir = orient[:3], orient[3:]
    normal = np.cross(row_dir, col_dir)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(7)
    paths = []
    order = rng.permutation(shape[0]) if shuffle else np.arange(shape[0])
    for k in order:
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CT_IMAGE if modality == "CT" else MR_IMAGE
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        for key, value in phi.items():
            setattr(ds, key, value)
        ds.PatientSex = "M"
        ds.StudyTime = "101112"
        ds.SeriesDate = phi.get("StudyDate", "")
        ds.ContentDate = phi.get("StudyDate", "")
        ds.StudyID = "S1"
        ds.Modality = modality
        ds.Manufacturer = "Synthetic"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame_of_ref
        ds.SeriesNumber, ds.InstanceNumber = 3, int(k) + 1
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition, ds.Laterality, ds.AcquisitionNumber = "HFS", "", 1
        ds.ImageOrientationPatient = [float(v) for v in orient]
        pos = np.array(origin, float) + normal * spacing[2] * int(k)
        ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = shape[1], shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
            ds.KVP = 120
        if burned_in is not None:
            ds.BurnedInAnnotation = burned_in
        if private:
            block = ds.private_block(0x0029, "SYNTH PRIVATE", create=True)
            block.add_new(0x10, "LO", phi.get("PatientName", "x") + " private copy")
        pixels = (np.arange(shape[1] * shape[2], dtype=np.int16).reshape(shape[1:]) + 10 * int(k))
        ds.PixelData = pixels.tobytes()
        path = folder / f"img{len(paths):03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def read_all(paths) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in paths]
