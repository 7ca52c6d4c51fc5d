"""Failures without Orthanc: a server that never answers, HTTP errors, the bearer token header
(Orthanc 1.10 has no token authentication, so a tiny loopback server records what arrives)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from app.pacs import PacsClient, PacsConfig, PacsError


class _Recorder(BaseHTTPRequestHandler):
    seen: list = []
    status = 200

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).seen.append(dict(self.headers))
        body = json.dumps([]).encode() if self.status == 200 else b"no"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    handler = type("Handler", (_Recorder,), {"seen": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_bearer_token_is_sent_as_authorization_header(recorder):
    server, handler = recorder
    url = f"http://127.0.0.1:{server.server_port}/dicom-web"
    client = PacsClient(PacsConfig(url, auth="bearer"), secret="tok-123")
    assert client.query_studies(patient_id="X") == []
    assert handler.seen[-1]["Authorization"] == "Bearer tok-123"


@pytest.mark.parametrize("status,text", [(401, "HTTP 401 (authentication required"),
                                         (403, "HTTP 403 (access denied)"),
                                         (503, "HTTP 503 (service unavailable)")])
def test_http_errors_are_one_line(recorder, status, text):
    server, handler = recorder
    handler.status = status
    client = PacsClient(PacsConfig(f"http://127.0.0.1:{server.server_port}/dicom-web"))
    with pytest.raises(PacsError) as err:
        client.query_studies(patient_id="X")
    assert text in str(err.value) and "\n" not in str(err.value)


def test_a_server_that_never_answers_times_out_clearly():
    with socket.socket() as silent:  # accepts connections (backlog) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = PacsClient(PacsConfig(f"http://127.0.0.1:{port}/dicom-web", timeout_s=0.5))
        with pytest.raises(PacsError, match=r"no answer within 0\.5 s"):
            client.query_studies(patient_id="X")
