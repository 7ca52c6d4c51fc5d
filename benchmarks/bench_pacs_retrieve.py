"""Retrieve a 300-slice series from a real Orthanc: annotrace vs a plain dicomweb-client loop.

Starts Orthanc with the DICOMweb plugin on loopback (the same server code as the tests,
tests/pacs/pacs_orthanc_server.py), uploads a synthetic 300-slice CT series written with
pydicom (512 x 512 int16 by default), then times, in the same run, alternating:

* annotrace: :meth:`app.pacs.PacsClient.retrieve_series` (streamed WADO-RS with the instance
  count checked) into memory, then :func:`viewers.io.dicom.datasets.read_datasets` (the file
  reader's ordering/geometry/rescale code) -> volume;
* plain: ``DICOMwebClient.retrieve_series`` then sort by position along z and
  ``np.stack`` of ``pixel_array * slope + intercept`` (the loop people write by hand);
* and, once, annotrace's full ``retrieve_case`` into an encrypted workspace (import included).

Usage::

    .venv/bin/python benchmarks/bench_pacs_retrieve.py [--slices 300] [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "pacs")]


def write_ct_series(folder: Path, slices: int, size: int) -> list[Path]:
    """A synthetic CT (a water cylinder with bone ring) as single-frame DICOM files."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)
    paths = []
    rng = np.random.default_rng(0)
    for k in range(slices):
        hu = np.where(r < 0.8, 0, -1000) + np.where((r > 0.7) & (r < 0.8), 1000, 0)
        stored = (hu + 1024 + rng.integers(-20, 20, hu.shape)).astype(np.uint16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.Modality = "BENCH^CT", "BENCH-1", "CT"
        ds.StudyDate, ds.InstanceNumber, ds.SeriesNumber = "20260101", k + 1, 1
        ds.ImagePositionPatient = [-size / 2 * 0.7, -size / 2 * 0.7, -150.0 + k * 1.0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = stored.tobytes()
        path = folder / f"ct{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def annotrace_retrieve(url: str, study: str, series: str):
    from app.pacs import PacsClient, PacsConfig
    from viewers.io.dicom.datasets import read_datasets

    received = []
    PacsClient(PacsConfig(url)).retrieve_series(study, series, received.append)
    return read_datasets(received, "PACS series").array


def plain_retrieve(url: str, study: str, series: str):
    from dicomweb_client import DICOMwebClient

    datasets = DICOMwebClient(url).retrieve_series(study, series)
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
                     for ds in datasets])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from pacs_common import PASSWORDS, make_workspace
    from pacs_orthanc_server import OrthancServer, upload_files

    with tempfile.TemporaryDirectory(prefix="annotrace-bench-pacs-") as tmp:
        tmp = Path(tmp)
        (tmp / "series").mkdir()
        files = write_ct_series(tmp / "series", args.slices, args.size)
        server = OrthancServer(tmp / "orthanc")
        try:
            t0 = time.perf_counter()
            upload_files(server, files)
            print(f"uploaded {len(files)} slices of {args.size}x{args.size} int16 in "
                  f"{time.perf_counter() - t0:.1f} s")
            import pydicom

            head = pydicom.dcmread(files[0], stop_before_pixels=True)
            study, series = head.StudyInstanceUID, head.SeriesInstanceUID
            times = {"annotrace": [], "plain": []}
            ours = theirs = None
            for _ in range(args.repeats):
                for name, func in (("annotrace", annotrace_retrieve), ("plain", plain_retrieve)):
                    t0 = time.perf_counter()
                    out = func(server.url, study, series)
                    times[name].append(time.perf_counter() - t0)
                    if name == "annotrace":
                        ours = out
                    else:
                        theirs = out
            same = np.array_equal(ours.astype(np.float64), theirs)
            ws = make_workspace(tmp / "ws")
            from app.pacs import PacsClient, PacsConfig
            from app.pacs.workflow import retrieve_case

            with ws.login("ann", PASSWORDS["ann"]) as session:
                t0 = time.perf_counter()
                retrieve_case(session, PacsClient(PacsConfig(server.url)), study, series)
                full = time.perf_counter() - t0
        finally:
            server.stop()
    a, p = statistics.median(times["annotrace"]), statistics.median(times["plain"])
    print(f"annotrace retrieve -> volume ({ours.dtype}): median {a:.2f} s "
          f"{[round(t, 2) for t in times['annotrace']]}")
    print(f"plain dicomweb-client loop -> volume ({theirs.dtype}): median {p:.2f} s "
          f"{[round(t, 2) for t in times['plain']]}")
    print(f"ratio plain/annotrace: {p / a:.2f}x  (same voxel values: {same})")
    print(f"annotrace retrieve_case into an encrypted workspace (import included): {full:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
