"""A real Orthanc PACS with the DICOMweb plugin on loopback, started and stopped by the tests.

Debian's ``orthanc`` and ``orthanc-dicomweb`` packages (installed by scripts/bootstrap.sh).
Each server gets a temporary configuration and storage, a free port, and is stopped by its
process id at the end.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancServer:
    """One Orthanc process; ``url`` is its DICOMweb root."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/dicom-web"
        config = {
            "Name": "annotrace-test",
            "StorageDirectory": str(workdir / "db"),
            "IndexDirectory": str(workdir / "db"),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpsVerifyPeers": False,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StableAge": 1,
        }
        (workdir / "db").mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "orthanc.json"
        self.config_path.write_text(json.dumps(config))
        self.log = open(workdir / "orthanc.log", "w")
        self.process = subprocess.Popen([ORTHANC, str(self.config_path)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: see {self.log.name}")
            try:
                if requests.get(f"{self.base}/system", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def make_tls_material(folder: Path) -> tuple[Path, Path]:
    """A test CA and a server certificate for 127.0.0.1; returns (server PEM, CA PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "annotrace test hospital CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    server_pem = folder / "server.pem"
    server_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    ca_pem = folder / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return server_pem, ca_pem


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


def start_tls_proxy(server_pem: Path, backend_port: int) -> tuple[subprocess.Popen, int]:
    """Start tests/pacs/tls_proxy.py in its own process; returns (process, port)."""
    import sys

    port = _free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("tls_proxy.py")),
                                str(server_pem), str(port), str(backend_port)],
                               stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the TLS proxy did not start")
    return process, port


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
def colin_dicom_series(tmp_path_factory, colin_t1) -> Path:
    """Colin27 as a real multi-file DICOM series written by plastimatch (Debian)."""
    out = tmp_path_factory.mktemp("colin-dicom") / "series"
    subprocess.run(["plastimatch", "convert", "--input", str(colin_t1), "--output-dicom", str(out),
                    "--patient-name", "COLINTEST", "--patient-id", "ANNOTRACE-TEST-7",
                    "--modality", "MR"], check=True, capture_output=True, timeout=120)
    return out
