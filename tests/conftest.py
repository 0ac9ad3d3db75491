"""Shared fixtures: a hermetic environment, a real moto server on loopback, and plugin packages on disk."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from tests.imds_fixtures import LoopbackImds

IN_CI = os.environ.get("CI", "").lower() == "true"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "ecrdoctor" / "report.schema.json"

# Variables of the machine that would leak into what the tool sees, or send botocore to AWS.
_SCRUB_PREFIXES = ("AWS_", "DOCKER_", "SUDO_")
_SCRUB = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "ALL_PROXY")


def need(component: str, available: bool) -> None:
    """Skip when a real component is missing on a laptop; under CI=true that is a failure instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{component} is required under CI=true but is not available")
    pytest.skip(f"{component} not available")


def hermetic_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for a subprocess: no AWS or docker settings of the machine, IMDS off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB}
    env.update(
        HOME=str(home),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / ".aws" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
        AWS_ECR_CACHE_DIR=str(home / ".ecr"),
        # a safety net: any AWS call a test forgot to point at moto is refused on loopback (port 9)
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test starts with an empty HOME and no AWS, docker or proxy settings from this machine."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES) or name in _SCRUB:
            monkeypatch.delenv(name, raising=False)
    for key, value in hermetic_env(home).items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return home


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse, inside the test process, any connection that would leave loopback."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = str(address[0])
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = host == "localhost"
            if not ok:
                raise ConnectionRefusedError(f"test tried to leave loopback: {host}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)

    # a name lookup sends a DNS query to the machine's resolver, which is not on loopback: only
    # IP literals and localhost may be resolved in-process (tests use --resolve or patch the resolver)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            if name not in ("localhost", "None"):
                why = f"test tried to resolve {name} (DNS leaves loopback)"
                raise socket.gaierror(socket.EAI_NONAME, why) from None
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def home(_hermetic: Path) -> Path:
    return _hermetic


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto's HTTP server in its own process: real botocore signing and HTTP, nothing leaves loopback."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=5)

    def require_auth(self, on: bool) -> None:
        """Switch moto's IAM enforcement on (unknown keys and missing permissions are denied) or off."""
        req = urllib.request.Request(self.url + "/moto-api/reset-auth", data=b"0" if on else b"inf",
                                     method="POST", headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=5)

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "AKIAMOTOTESTKEY0ABCD",
            "AWS_SECRET_ACCESS_KEY": "moto-secret-key-do-not-print",
            "AWS_DEFAULT_REGION": region,
        }

    def boto3_client(self, service: str, region: str = "us-east-1"):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            aws_access_key_id="AKIAMOTOTESTKEY0ABCD", aws_secret_access_key="x")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    need("moto_server (pip install 'moto[server]')", exe is not None)
    assert exe is not None
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    try:
        yield MotoServer(proc, url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean moto server, with this process's AWS settings pointing at it."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


class FakeImds(LoopbackImds):
    """A loopback instance-metadata service: IMDSv2 token, and an instance role only if one is attached."""

    def __init__(self) -> None:
        super().__init__()
        self.url = self.base + "/"

    def attach_role(self, name: str, access_key: str, secret: str, token: str) -> None:
        self.role = name
        self.credentials = {"AccessKeyId": access_key, "SecretAccessKey": secret, "Token": token,
                            "Expiration": "2099-01-01T00:00:00Z", "LastUpdated": "2026-01-01T00:00:00Z"}


@pytest.fixture
def fake_imds(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeImds]:
    """IMDS on loopback instead of 169.254.169.254; this process's SDK settings point at it."""
    imds = FakeImds()
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
    try:
        yield imds
    finally:
        imds.close()


def ec2_root(root: Path) -> Path:
    """A --root that looks like an EC2 instance by its DMI asset tag (how ecrdoctor tells, offline)."""
    dmi = root / "sys/devices/virtual/dmi/id"
    dmi.mkdir(parents=True, exist_ok=True)
    (dmi / "board_asset_tag").write_text("i-0123456789abcdef0\n")
    return root


class AwsStubs:
    """Canned answers for the few AWS operations moto does not implement, on otherwise real moto clients.

    Only for APIs moto lacks (pull-through cache, lifecycle preview, policy simulation,
    GetDownloadUrlForLayer, creation templates): a test that uses it says so. Each answer is validated
    against botocore's service model, as botocore's Stubber does; everything else still goes to moto,
    and the allow-list guard still runs first.
    """

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[tuple[int, dict[str, object]]]] = {}
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def add(self, service: str, operation: str, response: Optional[dict[str, object]] = None,
            error_code: Optional[str] = None, message: str = "", status: int = 400) -> None:
        if error_code is None:
            answer: dict[str, object] = dict(response or {})
            answer.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
            self.answers.setdefault((service, operation), []).append((200, answer))
        else:
            self.answers.setdefault((service, operation), []).append(
                (status, {"Error": {"Code": error_code, "Message": message},
                          "ResponseMetadata": {"HTTPStatusCode": status}}))

    def hook(self, client: object) -> None:
        from botocore.awsrequest import AWSResponse
        from botocore.validate import ParamValidator

        meta = client.meta  # type: ignore[attr-defined]
        service = meta.service_model.service_name
        for (svc, operation) in self.answers:
            if svc != service:
                continue
            shape = meta.service_model.operation_model(operation).output_shape

            def answer(params: dict[str, object], _op: str = operation, _shape: object = shape,
                       **_: object) -> tuple[object, dict[str, object]]:
                queue = self.answers[(service, _op)]
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                self.calls.append((service, _op, params))
                if status == 200 and _shape is not None:
                    check = {k: v for k, v in body.items() if k != "ResponseMetadata"}
                    report = ParamValidator().validate(check, _shape)
                    assert not report.has_errors(), report.generate_report()
                return AWSResponse("https://stub.invalid/", status, {}, None), body

            meta.events.register(f"before-call.{meta.service_model.service_id.hyphenize()}.{operation}", answer)


@pytest.fixture
def aws_stubs(monkeypatch: pytest.MonkeyPatch) -> AwsStubs:
    from ecrdoctor.aws import AwsGateway

    stubs = AwsStubs()
    monkeypatch.setattr(AwsGateway, "default_client_hooks", [stubs.hook])
    return stubs


@pytest.fixture
def schema_validator() -> Callable[[object], None]:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)

    def validate(document: object) -> None:
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)

    return validate


def write_plugin(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """Lay out an installed distribution (dist-info + modules) in `root`, to put on PYTHONPATH."""
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = ["[ecrdoctor.checks]"] + [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    return root


def ecrdoctor_exe() -> str:
    exe = Path(sys.executable).parent / "ecrdoctor"
    need("the installed ecrdoctor console script (pip install -e .)", exe.exists())
    return str(exe)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60,
            cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    """The real console script in a subprocess, as a user runs it."""
    return subprocess.run([ecrdoctor_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says anything (a hung IMDS, registry, S3)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    import threading

    threading.Thread(target=hold, daemon=True).start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
        for s in held:
            s.close()


def ecr_password_for(marker: str, expiration: float) -> str:
    """An ECR password in the real shape: base64 of the JSON with `expiration` (aws-side.md A3)."""
    import base64

    doc = {"payload": marker, "datakey": "AQEBAHij" + marker, "version": "2", "type": "DATA_KEY",
           "expiration": int(expiration)}
    return base64.b64encode(json.dumps(doc).encode()).decode()


class SecretLedger:
    """The credentials a test's fixtures wrote, to prove a check's own outcome (before the runner's
    redaction) holds none of them."""

    def __init__(self, check: Callable[..., object]) -> None:
        self.check = check
        self.values: set[str] = set()

    def add(self, value: str) -> str:
        self.values.add(value)
        return value

    def assert_clean(self, root: Path, image: Optional[str]) -> None:
        from ecrdoctor.context import Context, RunOptions

        outcome = self.check(Context.create(RunOptions(image=image, root=str(root), timeout=15)))
        fix = getattr(outcome, "fix", None)
        text = json.dumps([getattr(outcome, "summary", ""), list(getattr(outcome, "details", ())),
                           fix.text if fix else "", list(fix.commands) if fix else [],
                           dict(getattr(outcome, "evidence", {}))], default=str)
        leaked = [v for v in self.values if v in text or v[:24] in text]
        assert not leaked, "a credential reached the check's outcome"


def write_docker_config(home: Path, config: dict[str, object]) -> Path:
    path = home / ".docker" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive under test: CI's prebuilt one (ECRDOCTOR_PYZ), else one built now (needs PyPI)."""
    prebuilt = os.environ.get("ECRDOCTOR_PYZ")
    if prebuilt:
        assert Path(prebuilt).is_file(), f"ECRDOCTOR_PYZ={prebuilt} does not exist"
        return Path(prebuilt)
    out = tmp_path_factory.mktemp("pyz") / "ecrdoctor.pyz"
    build = Path(__file__).resolve().parent.parent / "scripts" / "build-pyz"
    proc = subprocess.run([sys.executable, str(build), "-o", str(out)],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def read_until_closed(fd: int) -> bytes:
    """Everything a pseudo-terminal's primary side receives until the other side is closed (EIO ends it)."""
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return seen
        if not chunk:
            return seen
        seen += chunk
