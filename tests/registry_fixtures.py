"""Registries and S3 on loopback for the registry.* and net.s3 tests.

- `registry`: the Debian `docker-registry` (distribution 2.8) with htpasswd (bcrypt) and TLS, holding a pushed image
  (research feasibility.md §3). Its certificate names the ECR host, so the checks probe it as
  `123456789012.dkr.ecr.us-east-1.amazonaws.com:<port>` through a `--resolve HOST:PORT:127.0.0.1` override and
  trust it with `--ca-bundle`. The image reference carries the port, as a user's reference to a registry on a
  non-standard port would: every URL the checks build, and the docker config key docker looks up, is then the
  one docker itself would use; nothing maps ports behind the checks' backs.
- `fake_ecr`: a small HTTPS server answering with ECR's own wording where distribution differs (its challenge
  names service="ecr.amazonaws.com"; 400 for a token of another region; `denied: Your authorization token has
  expired…`; NAME_UNKNOWN with ECR's message; IAM denials), from research aws-side.md A1, A3, A5.
- `fake_s3`: the layer bucket's host answering one ranged GET (206, 403 AccessDenied, 403 expired), and
  `silent_tls`: a port that accepts connections and never answers.
Every server binds 127.0.0.1; every subprocess has a timeout.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tests.conftest import need, silent_port

ACCOUNT = "123456789012"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
S3_HOST = "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com"
REALM = f"https://{HOST}/"
ECR_CHALLENGE = f'Basic realm="{REALM}",service="ecr.amazonaws.com"'
MOTO_TOKEN = "123456789012-auth-token"  # what moto's GetAuthorizationToken hands out, the registry's AWS password
REPOSITORY, TAG = "team/app", "v1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EXPIRED = "Your authorization token has expired. Reauthenticate and try again."


def ecr_password(expires: datetime) -> str:
    """A password in the shape of a real ECR token (aws-side.md A3): base64 of the token JSON document."""
    doc = {"payload": base64.b64encode(hashlib.sha256(str(expires).encode()).digest()).decode(),
           "datakey": "AQEBAHij" + "x" * 40, "version": "2", "type": "DATA_KEY",
           "expiration": int(expires.timestamp())}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def in_hours(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed certificate for the ECR registry host and the S3 layer bucket host (and 127.0.0.1)."""
    need("openssl", shutil.which("openssl") is not None)
    d = tmp_path_factory.mktemp("registry-tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST},DNS:{S3_HOST},IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return Tls(cert, key)


# -- the real registry -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Registry:
    port: int
    cert: Path
    digest: str  # of team/app:v1
    layer: str  # its only layer's digest

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    def image(self, repository: str = REPOSITORY, tag: str = TAG) -> str:
        return f"{self.host}/{repository}:{tag}"

    @property
    def resolve(self) -> Tuple[str, ...]:
        return (f"{HOST}:{self.port}:127.0.0.1",)


def _request(port: int, cert: Path, method: str, path: str, body: bytes = b"",
             headers: Optional[Dict[str, str]] = None) -> http.client.HTTPResponse:
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    conn.request(method, path, body=body, headers={"Authorization": f"Basic {basic('AWS', MOTO_TOKEN)}",
                                                   **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def _push_blob(port: int, cert: Path, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = _request(port, cert, "POST", f"/v2/{repository}/blobs/uploads/")
    assert started.status == 202, started.status
    location = started.headers["Location"]
    path = location.split(f"127.0.0.1:{port}", 1)[-1] if "://" in location else location
    done = _request(port, cert, "PUT", path + ("&" if "?" in path else "?") + f"digest={digest}", data,
                    {"Content-Type": "application/octet-stream"})
    assert done.status == 201, done.status
    return digest


def push_image(port: int, cert: Path, repository: str = REPOSITORY, tag: str = TAG) -> Tuple[str, str]:
    """Push a one-layer OCI image over HTTP (feasibility.md §3); returns (manifest digest, layer digest)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        payload = b"hello from the loopback registry\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    tar = buf.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
                        ).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _push_blob(port, cert, repository, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _push_blob(port, cert, repository, layer), "size": len(layer)}],
    }).encode()
    resp = _request(port, cert, "PUT", f"/v2/{repository}/manifests/{tag}", manifest, {"Content-Type": OCI_MANIFEST})
    assert resp.status == 201, resp.status
    return resp.headers["Docker-Content-Digest"], json.loads(manifest)["layers"][0]["digest"]


@pytest.fixture(scope="session")
def registry(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """distribution 2.8 on 127.0.0.1 with TLS and htpasswd (user AWS, moto's token as password), ECR's realm."""
    exe, htpasswd = shutil.which("docker-registry"), shutil.which("htpasswd")
    need("docker-registry (apt-get install docker-registry)", exe is not None)
    need("htpasswd (apt-get install apache2-utils)", htpasswd is not None)
    assert exe is not None and htpasswd is not None
    d = tmp_path_factory.mktemp("registry")
    users = subprocess.run([htpasswd, "-Bbn", "AWS", MOTO_TOKEN], check=True, capture_output=True, text=True,
                           timeout=30).stdout
    (d / "htpasswd").write_text(users)
    port = _free_port()
    (d / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage:\n  filesystem: {{rootdirectory: {d / 'data'}}}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  tls: {{certificate: {tls.cert}, key: {tls.key}}}\n"
        f"auth:\n  htpasswd: {{realm: \"{REALM}\", path: {d / 'htpasswd'}}}\n")
    log = d / "registry.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([exe, "serve", str(d / "config.yml")], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if _request(port, tls.cert, "GET", "/v2/").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"docker-registry did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        digest, layer = push_image(port, tls.cert)
        yield Registry(port, tls.cert, digest, layer)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- ECR's own answers -----------------------------------------------------------------------------------

Answer = Tuple[int, Dict[str, str], str]


def ecr_errors(code: str, message: str) -> str:
    return json.dumps({"errors": [{"code": code, "message": message}]})


class _TlsServer:
    """A threaded HTTPS server on 127.0.0.1 with the test certificate; subclasses answer."""

    def __init__(self, tls: Tls) -> None:
        server_self = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self) -> None:
                status, headers, body = server_self.answer(self.command, self.path, dict(self.headers.items()))
                data = body.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = _reply

        self.requests: List[Tuple[str, str, Dict[str, str]]] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.cert), str(tls.key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self.cert = tls.cert
        self.server.socket.settimeout(1.0)  # accept() must not block for ever on a connection that went away
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, headers: Dict[str, str]) -> Answer:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeEcr(_TlsServer):
    """ECR's answers, scripted per password: `tokens[password]` answers GET /v2/ (and, unless 200, every other
    request too); `manifests[path]` answers accepted requests elsewhere (default: 404 MANIFEST_UNKNOWN)."""

    def __init__(self, tls: Tls) -> None:
        super().__init__(tls)
        self.unauthenticated: Answer = (401, {"WWW-Authenticate": ECR_CHALLENGE,
                                              "Docker-Distribution-Api-Version": "registry/2.0"}, "Not Authorized")
        self.tokens: Dict[str, Answer] = {}
        self.manifests: Dict[str, Answer] = {}

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    def image(self, repository: str = REPOSITORY, tag: str = TAG) -> str:
        return f"{self.host}/{repository}:{tag}"

    @property
    def resolve(self) -> Tuple[str, ...]:
        return (f"{HOST}:{self.port}:127.0.0.1",)

    def answer(self, method: str, path: str, headers: Dict[str, str]) -> Answer:
        self.requests.append((method, path, headers))
        auth = headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return self.unauthenticated
        password = base64.b64decode(auth[6:]).decode().partition(":")[2]
        v2 = self.tokens.get(password, (401, {"WWW-Authenticate": ECR_CHALLENGE}, "Not Authorized"))
        if path == "/v2/" or v2[0] != 200:
            return v2
        return self.manifests.get(path, (404, {"Content-Type": "application/json; charset=utf-8"},
                                         ecr_errors("MANIFEST_UNKNOWN", "Requested image not found")))


@pytest.fixture
def fake_ecr(tls: Tls) -> Iterator[FakeEcr]:
    server = FakeEcr(tls)
    try:
        yield server
    finally:
        server.close()


class FakeS3(_TlsServer):
    """The layer bucket host: one ranged GET answered as S3 does, by `mode` (ok, denied, expired, error)."""

    def __init__(self, tls: Tls) -> None:
        super().__init__(tls)
        self.mode = "ok"

    def url(self, path: str = "/123456789012/layer-id", query: str = "") -> str:
        return f"https://{S3_HOST}:{self.port}{path}" + (f"?{query}" if query else "")

    @property
    def resolve(self) -> Tuple[str, ...]:
        return (f"{S3_HOST}:{self.port}:127.0.0.1",)

    def answer(self, method: str, path: str, headers: Dict[str, str]) -> Answer:
        self.requests.append((method, path, headers))
        xml = {"Content-Type": "application/xml"}
        if self.mode == "ok":
            return 206, {"Content-Range": "bytes 0-0/31457280", "Content-Type": "application/octet-stream"}, "\x1f"
        if self.mode == "denied":
            return 403, xml, ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
                              "<Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>")
        if self.mode == "expired":
            return 403, xml, ("<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                              "<Expires>2026-01-01T00:00:00Z</Expires></Error>")
        return 503, xml, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


@pytest.fixture
def fake_s3(tls: Tls) -> Iterator[FakeS3]:
    server = FakeS3(tls)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def silent_tls() -> Iterator[int]:
    """A loopback port that accepts connections and never says anything: a TLS handshake there hangs."""
    with silent_port() as port:
        yield port
