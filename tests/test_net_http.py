"""The HTTP probe: --resolve overrides keep the host name for TLS, and --ca-bundle adds trust."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from ecrdoctor.net import SocketProbe
from tests.conftest import need

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on loopback whose certificate names the ECR host (self-signed)."""
    import shutil

    need("openssl", shutil.which("openssl") is not None)
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = f"host={self.headers.get('Host')}".encode()
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Basic realm="https://{HOST}/",service="ecr.amazonaws.com"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.socket.settimeout(1.0)  # accept() must not block for ever on a connection that went away
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert
    server.shutdown()


def test_resolve_override_connects_to_loopback_but_speaks_tls_to_the_host(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    probe = SocketProbe(overrides={(HOST, port): "127.0.0.1"}, ca_bundle=str(cert))
    result = probe.http("GET", f"https://{HOST}:{port}/v2/", timeout=5)
    assert result.status == 401, result.error
    assert result.headers["www-authenticate"].startswith("Basic realm=")
    assert result.body == f"host={HOST}:{port}"


def test_without_the_ca_bundle_the_self_signed_registry_is_not_trusted(tls_server: tuple[int, Path]) -> None:
    port, _ = tls_server
    result = SocketProbe(overrides={(HOST, port): "127.0.0.1"}).http("GET", f"https://{HOST}:{port}/v2/", timeout=5)
    assert result.status is None and result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
