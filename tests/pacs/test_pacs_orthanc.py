"""Query, retrieve and store against a real Orthanc over DICOMweb (HTTP and HTTPS)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from app.pacs import PacsClient, PacsConfig, PacsError, RetrieveCancelled


@pytest.fixture(scope="module")
def stored_series(orthanc, colin_dicom_series):
    client = PacsClient(PacsConfig(orthanc.url))
    datasets = [pydicom.dcmread(p) for p in sorted(colin_dicom_series.glob("*.dcm"))]
    assert client.store(datasets) == len(datasets)
    return datasets


def test_query_by_patient_id_finds_the_study(orthanc, stored_series):
    client = PacsClient(PacsConfig(orthanc.url))
    studies = client.query_studies(patient_id="ANNOTRACE-TEST-7")
    assert len(studies) == 1
    assert studies[0]["StudyInstanceUID"] == stored_series[0].StudyInstanceUID
    series = client.query_series(studies[0]["StudyInstanceUID"])
    assert [s["SeriesInstanceUID"] for s in series] == [stored_series[0].SeriesInstanceUID]
    assert int(series[0]["NumberOfSeriesRelatedInstances"]) == len(stored_series)
    assert client.query_studies(patient_id="NOBODY") == []


def test_query_by_name_modality_and_date_range(orthanc, stored_series):
    client = PacsClient(PacsConfig(orthanc.url))
    date = stored_series[0].get("StudyDate", "")
    # Orthanc 1.10's DICOMweb plugin does not percent-decode QIDO parameters, so wildcards and
    # "^" (which every client must encode) never match there; an exact plain name does.
    found = client.query_studies(patient_name="COLINTEST", modality="MR",
                                 date_from=date or "19000101", date_to=date or "21000101")
    assert [s["StudyInstanceUID"] for s in found] == [stored_series[0].StudyInstanceUID]
    assert client.query_studies(patient_name="COLINTEST", modality="CT") == []
    with pytest.raises(PacsError, match="YYYYMMDD"):
        client.query_studies(date_from="2024-01-01")


def test_retrieve_series_streams_every_instance_with_identical_pixels(orthanc, stored_series):
    client = PacsClient(PacsConfig(orthanc.url))
    received, seen = [], []
    first = stored_series[0]
    n = client.retrieve_series(first.StudyInstanceUID, first.SeriesInstanceUID, received.append,
                               progress=lambda done, total: seen.append((done, total)))
    assert n == len(stored_series) == len(received)
    assert seen[-1] == (n, n)
    by_uid = {ds.SOPInstanceUID: ds for ds in stored_series}
    for ds in received:
        np.testing.assert_array_equal(ds.pixel_array, by_uid[ds.SOPInstanceUID].pixel_array)


def test_cancelled_retrieve_raises_and_says_nothing_was_kept(orthanc, stored_series):
    client = PacsClient(PacsConfig(orthanc.url))
    got = []
    first = stored_series[0]
    with pytest.raises(RetrieveCancelled, match="nothing was kept"):
        client.retrieve_series(first.StudyInstanceUID, first.SeriesInstanceUID, got.append,
                               cancelled=lambda: len(got) >= 5)
    assert len(got) == 5


def test_server_down_is_one_clear_line():
    client = PacsClient(PacsConfig("http://127.0.0.1:9/dicom-web", timeout_s=3))
    with pytest.raises(PacsError) as err:
        client.query_studies(patient_id="X")
    assert "cannot connect" in str(err.value) and "\n" not in str(err.value)


def test_unknown_series_is_reported(orthanc, stored_series):
    client = PacsClient(PacsConfig(orthanc.url))
    with pytest.raises(PacsError, match="not found"):
        client.retrieve_series(stored_series[0].StudyInstanceUID, "1.2.3.4.5", lambda ds: None)


def test_tls_with_hospital_ca_bundle_works(orthanc_tls):
    client = PacsClient(PacsConfig(orthanc_tls.url, ca_bundle=str(orthanc_tls.ca_pem)))
    assert client.query_studies(patient_id="NOBODY") == []


def test_tls_with_untrusted_certificate_is_refused_clearly(orthanc_tls):
    client = PacsClient(PacsConfig(orthanc_tls.url))  # system CAs do not know the test CA
    with pytest.raises(PacsError) as err:
        client.query_studies(patient_id="X")
    assert "certificate verify failed" in str(err.value)
    assert "CA bundle" in str(err.value)
