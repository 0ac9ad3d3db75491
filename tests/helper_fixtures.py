"""Fixtures for the credential-helper tests: moto_proxy on loopback (the only way to point the real Go helper at
moto: it ignores AWS_ENDPOINT_URL), a listener that never answers, and writers for helper logs, caches and ELF files.

Recipes: research feasibility.md §2 (moto_proxy + AWS_CA_BUNDLE=<moto's ca.crt> + HTTPS_PROXY; IAM enforcement
through the proxy only via INITIAL_NO_AUTH_ACTION_COUNT, because /moto-api/reset-auth does not pass the proxy).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from tests.conftest import need, silent_port

HELPER_BIN = "/usr/bin/docker-credential-ecr-login"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
MOTO_TOKEN = "123456789012-auth-token"  # the password moto's GetAuthorizationToken hands out
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoProxy:
    """moto's HTTPS-intercepting proxy in its own process: the real helper's TLS and SigV4, answered by moto."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, ca: str, log: Path) -> None:
        self.proc, self.url, self.ca, self.log = proc, url, ca, log
        self.access_key, self.secret_key = "AKIAMOTOPROXYKEY0001", "moto-proxy-secret-never-printed"

    def env(self, with_ca: bool = True, keys: Optional[Tuple[str, str]] = None) -> Dict[str, str]:
        """What the helper needs to reach moto through the proxy (and nothing beyond loopback)."""
        key, secret = keys or (self.access_key, self.secret_key)
        env = {"HTTPS_PROXY": self.url, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_EC2_METADATA_DISABLED": "true"}
        if with_ca:
            env["AWS_CA_BUNDLE"] = self.ca
        return env

    def boto3_client(self, service: str, region: str = "us-east-1"):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(service, region_name=region, aws_access_key_id="AKIASETUP0000000TEST",
                            aws_secret_access_key="setup", verify=self.ca,
                            config=Config(proxies={"https": self.url}, retries={"total_max_attempts": 1}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_proxy(tmp: Path, extra_env: Dict[str, str]) -> MotoProxy:
    exe = shutil.which("moto_proxy", path=os.path.dirname(sys.executable))
    need("moto_proxy (pip install moto flask flask-cors)", exe is not None)
    assert exe is not None
    try:
        importlib.import_module("moto.proxy")
        missing = ""
    except ImportError as exc:  # moto 5.1 (the last for Python 3.9) needs the `multipart` package for its proxy
        missing = str(exc)
    need(f"moto_proxy's dependencies ({missing}; pip install multipart)", not missing)
    import moto

    ca = str(Path(moto.__file__).parent / "moto_proxy" / "ca.crt")
    need("moto_proxy's CA certificate", os.path.exists(ca))
    port = _free_port()
    log = tmp / "moto_proxy.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "PROXY" not in k.upper()}
    env.update(extra_env)
    with open(log, "wb") as fh:
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            _DIRECT.open(f"http://localhost:{port}/moto-api/", timeout=1).close()
            return MotoProxy(proc, url, ca, log)
        except urllib.error.HTTPError:  # it answers: up
            return MotoProxy(proc, url, ca, log)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"moto_proxy did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)


def _stop(proxy: MotoProxy) -> None:
    proxy.proc.terminate()
    try:
        proxy.proc.wait(5)
    except subprocess.TimeoutExpired:
        proxy.proc.kill()
        proxy.proc.wait(5)


@pytest.fixture(scope="session")
def moto_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoProxy]:
    """moto_proxy on a free loopback port, every call allowed."""
    proxy = _start_proxy(tmp_path_factory.mktemp("moto_proxy"), {})
    try:
        yield proxy
    finally:
        _stop(proxy)


# The setup calls moto lets through unauthenticated before it enforces IAM: create_user, put_user_policy,
# create_access_key.
_SETUP_CALLS = 3


@pytest.fixture(scope="session")
def moto_proxy_iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[MotoProxy, Tuple[str, str]]]:
    """A second moto_proxy that enforces IAM, with a user allowed only s3:GetObject (no ECR at all)."""
    proxy = _start_proxy(tmp_path_factory.mktemp("moto_proxy_iam"),
                         {"INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_CALLS)})
    try:
        # a client per call: moto_proxy may drop a kept-alive tunnel between calls ("Unable to connect to proxy")
        proxy.boto3_client("iam").create_user(UserName="ci-puller")
        proxy.boto3_client("iam").put_user_policy(UserName="ci-puller", PolicyName="s3-only", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
        key = proxy.boto3_client("iam").create_access_key(UserName="ci-puller")["AccessKey"]
        yield proxy, (key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        _stop(proxy)


@pytest.fixture
def helper_bin() -> str:
    """The distribution's docker-credential-ecr-login (scripts/install-test-deps installs it)."""
    need(f"{HELPER_BIN} (apt-get install amazon-ecr-credential-helper)", os.access(HELPER_BIN, os.X_OK))
    return HELPER_BIN


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A loopback HTTP endpoint that accepts connections and never answers (an IMDS that hangs)."""
    with silent_port() as port:
        yield f"http://127.0.0.1:{port}/"


def run_helper(host: str, env: Dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """`docker-credential-ecr-login get` as docker runs it, with the given (hermetic) environment."""
    return subprocess.run([HELPER_BIN, "get"], input=host + "\n", env=env, capture_output=True, text=True,
                          timeout=timeout)


# -- files the helper writes ---------------------------------------------------------------------------

def ago(**delta: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**delta)


def _go_quote(value: str) -> str:
    return value if value and all(c.isalnum() or c in "-._/:@" for c in value) else json.dumps(value)


def logrus_line(when: datetime, level: str, msg: str, **fields: str) -> str:
    """A line as logrus' TextFormatter writes it to a file (helper 0.2 .. 0.12): fields sorted by key."""
    parts = [f'time="{when.strftime("%Y-%m-%dT%H:%M:%SZ")}"', f"level={level}", f"msg={json.dumps(msg)}"]
    parts += [f"{k}={_go_quote(v)}" for k, v in sorted(fields.items())]
    return " ".join(parts)


def slog_line(when: datetime, level: str, msg: str, **fields: str) -> str:
    """A line as log/slog's TextHandler writes it (the helper after 0.12)."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return " ".join([f"time={stamp}", f"level={level.upper()}", f"msg={json.dumps(msg)}"]
                    + [f"{k}={_go_quote(v)}" for k, v in fields.items()])


def seelog_line(when: datetime, level: str, msg: str) -> str:
    """A line of the seelog era (before October 2018): `%UTCDate [%LEVEL] %Msg`."""
    return f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')} [{level.upper()}] {msg}"


def logrus_request(when: datetime, error: Optional[str] = None, host: str = HOST) -> List[str]:
    """The lines of one `get` for an ECR host: a success, or the failure with this SDK error."""
    account, region = host.split(".")[0], host.split(".")[3]
    lines = [logrus_line(when, "debug", "Retrieving credentials", region=region, registry=account, serverURL=host,
                         service="ecr"),
             logrus_line(when, "debug", "Checking file cache", registry=account),
             logrus_line(when, "debug", "Calling ECR.GetAuthorizationToken", registry=account)]
    if error is None:
        return lines + [logrus_line(when, "debug", "Saving credentials to file cache", registry=account,
                                    service="ecr")]
    return lines + [logrus_line(when, "error", "Error retrieving credentials", error=error)]


def write_log(home: Path, lines: List[str]) -> Path:
    path = home / ".ecr" / "log" / "ecr-login.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def cache_key(region: str, access_key_id: str, registry: str) -> str:
    """The cache key helper 0.6 computes: `<region>-` + base64(access key id + md5 of nothing) + `-<registry>`."""
    digest = hashlib.md5(b"").digest()
    return f"{region}-{base64.b64encode(access_key_id.encode() + digest).decode()}-{registry}"


def cache_entry(requested: datetime, expires: datetime, token: str = "cached-token-never-printed",
                registry: str = "123456789012", region: str = "us-east-1") -> Dict[str, str]:
    return {"AuthorizationToken": base64.b64encode(f"AWS:{token}".encode()).decode(),
            "RequestedAt": requested.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "ExpiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ProxyEndpoint": f"https://{registry}.dkr.ecr.{region}.amazonaws.com", "Service": "ecr"}


def write_cache(home: Path, entries: Dict[str, Dict[str, str]], version: str = "1.0") -> Path:
    path = home / ".ecr" / "cache.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Registries": entries, "Version": version}, indent=2))
    return path


def write_elf(path: Path, machine: int) -> Path:
    """An executable whose 64-bit little-endian ELF header names this e_machine (62 x86_64, 183 aarch64)."""
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + (2).to_bytes(2, "little") + machine.to_bytes(2, "little")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + bytes(64 - len(header)))
    path.chmod(0o755)
    return path


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def write_os_release(root: Path, text: str) -> Path:
    path = root / "etc" / "os-release"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


AL2023 = 'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n'
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
