"""A real Orthanc PACS with the DICOMweb plugin on loopback: start, stop, TLS in front.

Importable by the PACS tests (tests/pacs/conftest.py) and by benchmarks/bench_pacs_retrieve.py.
Debian's ``orthanc`` and ``orthanc-dicomweb`` packages (installed by scripts/bootstrap.sh).
Each server gets a temporary configuration and storage, a free port, and is stopped by its
process id.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancServer:
    """One Orthanc process; ``url`` is its DICOMweb root (HTTP basic auth with ``users``)."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/dicom-web"
        config = {
            "Name": "annotrace-test",
            "StorageDirectory": str(workdir / "db"),
            "IndexDirectory": str(workdir / "db"),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(users),
            "RegisteredUsers": users or {},
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
                reply = requests.get(f"{self.base}/system", timeout=1)
                if reply.ok or reply.status_code == 401:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start within 30 s")

    def stop(self) -> None:
        if self.process.poll() is not None:  # killed by a test already
            self.log.close()
            return
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


def start_tls_proxy(server_pem: Path, backend_port: int) -> tuple[subprocess.Popen, int]:
    """Start tests/pacs/tls_proxy.py in its own process; returns (process, port)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("tls_proxy.py")),
                                str(server_pem), str(port), str(backend_port)],
                               stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the TLS proxy did not start")
    return process, port



def plastimatch_series(nifti: Path, out: Path, patient_name: str, patient_id: str,
                       modality: str = "MR") -> Path:
    """Write ``nifti`` as a real multi-file DICOM series with plastimatch (Debian)."""
    subprocess.run(["plastimatch", "convert", "--input", str(nifti), "--output-dicom", str(out),
                    "--patient-name", patient_name, "--patient-id", patient_id,
                    "--modality", modality], check=True, capture_output=True, timeout=120)
    return out


def upload_files(server: OrthancServer, files, auth=None) -> int:
    """POST DICOM files to Orthanc's REST API (quicker than STOW-RS for test set-up)."""
    session = requests.Session()
    session.auth = auth
    for path in files:
        session.post(f"{server.base}/instances", data=Path(path).read_bytes(),
                     timeout=30).raise_for_status()
    return len(files)
