"""A DICOMweb client for one PACS, with failures turned into one-line messages.

Built on ``dicomweb-client`` (a maintained implementation of QIDO-RS, WADO-RS and STOW-RS)
and a ``requests`` session that carries the hospital's TLS settings and authentication.
What is retrieved is handed to a *sink* one instance at a time and never written to disk here,
so the caller decides where it goes (the workspace's encrypted cache); a retrieve that stops
half-way raises, and the caller discards what it had received — never a half series that looks
complete.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Callable, Iterable

import requests


class PacsError(Exception):
    """The PACS could not be reached or refused the request (exit code 3)."""

    exit_code = 3


class RetrieveCancelled(PacsError):
    """The user cancelled a retrieve; nothing of it was kept."""

    exit_code = 130


@dataclass(frozen=True)
class PacsConfig:
    """Where the PACS is and how to talk to it (no secret in here).

    Attributes
    ----------
    url : str
        DICOMweb base URL, e.g. ``https://pacs.example.org/dicom-web``.
    auth : str
        "none", "basic" or "bearer".
    username : str
        For basic authentication.
    ca_bundle : str
        PEM file of the CAs to trust ("" = the system's).
    timeout_s : float
        Connect and read timeout in seconds.
    """

    url: str
    auth: str = "none"
    username: str = ""
    ca_bundle: str = ""
    timeout_s: float = 30.0

    def __post_init__(self):
        if self.auth not in ("none", "basic", "bearer"):
            raise PacsError(f"unknown PACS authentication {self.auth!r} (none, basic, bearer)")
        if not self.url.startswith(("http://", "https://")):
            raise PacsError(f"PACS URL must start with http:// or https://: {self.url!r}")


#: QIDO-RS attributes shown in the results table.
STUDY_FIELDS = ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "AccessionNumber",
                "ModalitiesInStudy", "StudyDescription", "NumberOfStudyRelatedSeries")
SERIES_FIELDS = ("SeriesInstanceUID", "Modality", "SeriesDescription", "SeriesNumber",
                 "NumberOfSeriesRelatedInstances")


def _value(item: dict, keyword: str):
    from pydicom.datadict import tag_for_keyword

    tag = f"{tag_for_keyword(keyword):08X}"
    values = item.get(tag, {}).get("Value", [])
    if not values:
        return ""
    value = values[0]
    if isinstance(value, dict):  # PN in JSON
        return value.get("Alphabetic", "")
    if len(values) > 1:
        return "\\".join(str(v) for v in values)
    return value


class PacsClient:
    """Query, retrieve and store against one PACS.

    Parameters
    ----------
    config : PacsConfig
    secret : str, optional
        The password (basic) or token (bearer), read by the caller from the OS keyring or
        the encrypted workspace.
    """

    def __init__(self, config: PacsConfig, secret: str | None = None):
        from dicomweb_client import DICOMwebClient

        self.config = config
        session = _PinnedVerifySession()
        session.verify = config.ca_bundle or True
        headers = {}
        if config.auth == "basic":
            session.auth = (config.username, secret or "")
        elif config.auth == "bearer":
            headers["Authorization"] = f"Bearer {secret or ''}"
        self._client = DICOMwebClient(config.url.rstrip("/"), session=session, headers=headers,
                                      timeout=config.timeout_s)
        # dicomweb-client retries every failure 5 times with exponential back-off (30 s in
        # all), even a refused connection or a bad certificate; one quick retry is enough.
        self._client.set_http_retry_params(retry=True, max_attempts=2,
                                           wait_exponential_multiplier=250)

    # -- errors --------------------------------------------------------------------------------
    def _call(self, what: str, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except requests.exceptions.SSLError as exc:
            reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) \
                else "TLS handshake failed"
            raise PacsError(f"{self.config.url}: {what} failed: {reason} (check the CA bundle "
                            "in the PACS settings)") from None
        except requests.exceptions.ConnectTimeout:
            raise PacsError(f"{self.config.url}: {what} failed: connection timed out after "
                            f"{self.config.timeout_s:g} s") from None
        except requests.exceptions.ReadTimeout:
            raise PacsError(f"{self.config.url}: {what} failed: no answer within "
                            f"{self.config.timeout_s:g} s") from None
        except requests.exceptions.ConnectionError:
            raise PacsError(f"{self.config.url}: {what} failed: cannot connect (server down or "
                            "wrong address)") from None
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise PacsError(f"{self.config.url}: {what} failed: HTTP {status} "
                            f"({_hint(status)})") from None
        except _retry_error() as exc:
            # dicomweb-client retries 429/503/504 and, when the tries run out, raises the
            # retrying library's error holding the last response instead of an HTTPError.
            response = getattr(getattr(exc, "last_attempt", None), "value", None)
            status = getattr(response, "status_code", "?")
            raise PacsError(f"{self.config.url}: {what} failed: HTTP {status} "
                            f"({_hint(status)}), tried twice") from None
        except requests.exceptions.RequestException as exc:
            # ChunkedEncodingError and friends: the server went away in the middle of a reply.
            raise PacsError(f"{self.config.url}: {what} failed: connection lost "
                            f"({type(exc).__name__})") from None

    # -- QIDO-RS -------------------------------------------------------------------------------
    def query_studies(self, patient_id: str = "", patient_name: str = "", accession: str = "",
                      date_from: str = "", date_to: str = "", modality: str = "",
                      limit: int = 200) -> list[dict]:
        """Search studies; dates as YYYYMMDD (either end may be open).

        Returns a list of plain dicts keyed by :data:`STUDY_FIELDS`.
        """
        filters = {}
        if patient_id:
            filters["PatientID"] = patient_id
        if patient_name:
            filters["PatientName"] = patient_name
        if accession:
            filters["AccessionNumber"] = accession
        if modality:
            filters["ModalitiesInStudy"] = modality
        if date_from or date_to:
            for d in (date_from, date_to):
                if d:
                    _check_date(d)
            filters["StudyDate"] = f"{date_from}-{date_to}"
        items = self._call("query", self._client.search_for_studies, search_filters=filters,
                           fields=list(STUDY_FIELDS), limit=limit,
                           )
        return [{k: _value(item, k) for k in STUDY_FIELDS} for item in items]

    def query_series(self, study_uid: str) -> list[dict]:
        """The series of one study, keyed by :data:`SERIES_FIELDS`."""
        items = self._call("query", self._client.search_for_series,
                           study_instance_uid=study_uid, fields=list(SERIES_FIELDS))
        return [{k: _value(item, k) for k in SERIES_FIELDS} for item in items]

    # -- WADO-RS -------------------------------------------------------------------------------
    def retrieve_series(self, study_uid: str, series_uid: str,
                        sink: Callable[[object], None],
                        progress: Callable[[int, int], None] | None = None,
                        cancelled: Callable[[], bool] | None = None) -> int:
        """Stream every instance of a series into ``sink`` (a pydicom Dataset each).

        Raises :class:`PacsError` if the server fails or fewer instances arrive than it
        announced, and :class:`RetrieveCancelled` when ``cancelled()`` turns true; in both
        cases the caller must discard what ``sink`` received.

        Returns
        -------
        int
            Number of instances received (equal to the number announced).
        """
        expected = len(self._call("query", self._client.search_for_instances,
                                  study_instance_uid=study_uid, series_instance_uid=series_uid,
                                  fields=["SOPInstanceUID"], get_remaining=True))
        if expected == 0:
            raise PacsError(f"{self.config.url}: series {series_uid} not found")
        received = 0
        iterator = self._call("retrieve", self._client.iter_series, study_uid, series_uid)
        while True:
            if cancelled is not None and cancelled():
                raise RetrieveCancelled("retrieve cancelled; nothing was kept")
            try:
                item = self._call("retrieve", next, iterator, None)
            except PacsError:
                raise
            except Exception as exc:  # noqa: BLE001 - a cut multipart body fails in the parser
                raise PacsError(f"{self.config.url}: retrieve interrupted after {received} of "
                                f"{expected} instances ({type(exc).__name__}); nothing was "
                                "kept") from None
            if item is None:
                break
            if str(item.get("SeriesInstanceUID", "")) != series_uid:
                raise PacsError(f"{self.config.url}: retrieve returned an instance of another "
                                "series; nothing was kept")
            sink(item)
            received += 1
            if progress is not None:
                progress(received, expected)
        if received != expected:
            raise PacsError(f"{self.config.url}: retrieve interrupted: {received} of {expected} "
                            "instances arrived; nothing was kept")
        return received

    # -- STOW-RS -------------------------------------------------------------------------------
    def store(self, datasets: Iterable) -> int:
        """Send datasets (e.g. an exported DICOM SEG); returns how many the PACS accepted."""
        datasets = list(datasets)
        response = self._call("store", self._client.store_instances, datasets)
        failed = getattr(response, "FailedSOPSequence", None) or []
        if failed:
            raise PacsError(f"{self.config.url}: store failed for {len(failed)} of "
                            f"{len(datasets)} instances")
        return len(datasets)


class _PinnedVerifySession(requests.Session):
    """A session whose ``verify`` setting wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

    requests lets those environment variables replace a session's CA bundle, which would
    silently ignore the hospital CA configured in the PACS settings.
    """

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            settings["verify"] = self.verify
        return settings


def _hint(status) -> str:
    return {401: "authentication required or wrong credentials", 403: "access denied",
            404: "not found", 429: "too many requests", 503: "service unavailable",
            504: "gateway timeout"}.get(status, "server error")


def _retry_error():
    try:
        from retrying import RetryError
    except ImportError:  # pragma: no cover - a dicomweb-client without the retrying package
        return ()
    return RetryError


def _check_date(text: str) -> None:
    try:
        _dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise PacsError(f"study date must be YYYYMMDD, not {text!r}") from None
