"""viewers.io.dicom.datasets: a series from in-memory Datasets equals the same series read from
its files (same voxels, same affine), whatever the order the instances arrive in."""

from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest

from viewers.io.dicom import read
from viewers.io.dicom.datasets import read_datasets
from viewers.io.errors import InputError


@pytest.fixture(scope="module")
def datasets(colin_dicom_series):
    return [pydicom.dcmread(p) for p in sorted(colin_dicom_series.glob("*.dcm"))]


def test_shuffled_datasets_give_the_file_readers_volume(datasets, colin_dicom_series):
    shuffled = list(datasets)
    random.Random(3).shuffle(shuffled)
    landed = []
    volume = read_datasets(shuffled, "PACS series", progress=lambda d, t, a: landed.append(d))
    reference = read(colin_dicom_series)
    assert volume.array.dtype == reference.array.dtype
    np.testing.assert_array_equal(volume.array, reference.array)
    np.testing.assert_allclose(volume.affine_lps, reference.affine_lps)
    assert volume.series_uid == reference.series_uid and volume.patient == reference.patient
    assert landed[-1] == len(datasets)


def test_a_missing_slice_in_the_middle_is_reported(datasets):
    ordered = sorted(datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))
    volume = read_datasets(ordered[:10] + ordered[11:], "PACS series")
    assert any(w.startswith("missing slices") for w in volume.warnings)


def test_non_image_and_empty_inputs_are_one_line_errors(datasets):
    with pytest.raises(InputError, match="PACS series: no instances"):
        read_datasets([], "PACS series")
    header_only = pydicom.Dataset()
    header_only.update({e.tag: e for e in datasets[0] if e.tag.group != 0x7FE0})
    with pytest.raises(InputError, match="instance 1: no pixel data"):
        read_datasets([header_only], "PACS series")
    other = pydicom.Dataset()
    other.update({e.tag: e for e in datasets[1]})
    other.SeriesInstanceUID = "1.2.3.4"
    with pytest.raises(InputError, match="2 different series"):
        read_datasets([datasets[0], other], "PACS series")
