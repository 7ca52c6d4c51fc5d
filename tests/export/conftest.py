"""Fixtures of the export tests: small synthetic series with known PHI, masks, records, tools."""

from __future__ import annotations


import numpy as np
import pytest

from export_dicom_factory import make_series, read_all

from export_common import (  # noqa: F401 - re-exported for fixtures
    CONTENT_TIME, LIVER, TUMOUR, VESSEL, dciodvfy_errors, overlapping_masks, tool,
)


@pytest.fixture(scope="session")
def ct_files(tmp_path_factory):
    return make_series(tmp_path_factory.mktemp("ct"), shape=(5, 12, 10))


@pytest.fixture(scope="session")
def oblique_files(tmp_path_factory):
    c, s = np.cos(0.3), np.sin(0.3)
    orientation = (c, s, 0.0, -s * 0.8, c * 0.8, 0.6)
    return make_series(tmp_path_factory.mktemp("oblique"), shape=(6, 11, 9),
                       spacing=(0.9, 0.75, 3.0), origin=(12.5, -7.0, 40.0),
                       orientation=orientation, modality="MR")


@pytest.fixture(scope="session")
def ct_datasets(ct_files):
    return read_all(ct_files)


@pytest.fixture(scope="session")
def records():
    return [LIVER, TUMOUR, VESSEL]

