"""Fixtures: a real Orthanc PACS on loopback (HTTP, and HTTPS behind a TLS proxy), a real
plastimatch-made DICOM series of Colin27, and small real workspaces.

The server code lives in pacs_orthanc_server.py so that the benchmark can start the same one.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from pacs_orthanc_server import (OrthancServer, make_tls_material, plastimatch_series,
                                 start_tls_proxy)
from pacs_common import make_workspace


#: nibabel (i, j, k) crop of Colin27: 64 x 64 x 40 voxels keep the tests quick
CROP = (slice(58, 122), slice(70, 134), slice(60, 100))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def orthanc_tls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("orthanc-tls")
    server_pem, ca_pem = make_tls_material(folder)
    server = OrthancServer(folder)
    proxy, port = start_tls_proxy(server_pem, server.port)
    server.url = f"https://127.0.0.1:{port}/dicom-web"
    server.ca_pem = ca_pem
    yield server
    proxy.terminate()
    proxy.wait(10)
    server.stop()


@pytest.fixture(scope="session")
def colin_dicom_series(tmp_path_factory, colin_t1):
    """A 40-slice crop of Colin27 as a real multi-file DICOM series written by plastimatch."""
    root = tmp_path_factory.mktemp("colin-dicom")
    img = nib.load(colin_t1).slicer[CROP]
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj).astype(np.int16), img.affine),
             root / "crop.nii.gz")
    return plastimatch_series(root / "crop.nii.gz", root / "series", "COLINTEST",
                              "ANNOTRACE-TEST-7")


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def no_keyring(monkeypatch):
    """A headless computer: keyring's fail backend (whatever this machine has)."""
    import keyring
    from keyring.backends import fail

    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(old)
