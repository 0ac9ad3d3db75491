"""registry.v2, registry.manifest and net.s3 through the real runner and the real HTTP probe.

The registry is the Debian `docker-registry` (distribution 2.8) on loopback with htpasswd and TLS, holding a pushed
image; docker's credentials come from real docker configs, DOCKER_AUTH_CONFIG, and the real
docker-credential-ecr-login talking to moto through moto_proxy. The image references carry the registry's port
(`<ecr host>:<port>/team/app:v1`), as a reference to a registry on another port would: the checks then build the
URLs and look up the docker config key exactly as docker does, and `--resolve <ecr host>:<port>:127.0.0.1` plus
`--ca-bundle` keep the ECR host name for TLS while connecting to loopback (tests/registry_fixtures.py).

Where distribution's answers differ from ECR's (its challenge has no service="ecr.amazonaws.com"; it never
answers 400, `denied: …expired…` or NAME_UNKNOWN), fake_ecr answers with ECR's documented wording (aws-side.md
A1, A3, A5). net.s3 reads the image from moto; GetDownloadUrlForLayer comes from aws_stubs because moto does not
implement it, and the pre-signed URL points at fake_s3 (the layer bucket host on loopback) or a port that hangs.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import ecrdoctor.checks.aws as aws_checks
import ecrdoctor.checks.registry as registry_checks
import pytest
from ecrdoctor.checks.docker_auth import docker_auth_config_command
from ecrdoctor.checks.docker_config import credhelper_command, login_command

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from ecrdoctor.reference import parse_registry_host
from tests.conftest import AwsStubs, MotoServer, need, write_docker_config
from tests.helper_fixtures import MotoProxy, helper_bin, moto_proxy
from tests.registry_fixtures import (
    ACCOUNT,
    EXPIRED,
    HOST,
    MOTO_TOKEN,
    OCI_MANIFEST,
    S3_HOST,
    FakeEcr,
    FakeS3,
    Registry,
    basic,
    ecr_errors,
    ecr_password,
    fake_ecr,
    fake_s3,
    in_hours,
    registry,
    silent_tls,
    tls,
)

__all__ = ["fake_ecr", "fake_s3", "helper_bin", "moto_proxy", "registry", "silent_tls", "tls"]  # fixtures

V2 = Catalogue((registry_checks.registry_v2,))
REGISTRY = Catalogue((registry_checks.registry_v2, registry_checks.registry_manifest))
S3 = Catalogue((aws_checks.aws_credentials, registry_checks.net_s3))
ALL_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
             "application/vnd.docker.distribution.manifest.list.v2+json, "
             "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
SIGNED = "X-Amz-Security-Token=FwoGZXIvYXdzEBAaDSecretSessionToken&X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def run(image: Optional[str], catalogue: Catalogue = REGISTRY, resolve: Sequence[str] = (),
        ca: Optional[Path] = None, **opts: Any) -> Report:
    opts.setdefault("timeout", 15)
    return run_check(RunOptions(image=image, resolve=tuple(resolve), ca_bundle=str(ca) if ca else None, **opts),
                     catalogue=catalogue)


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def on(server: Any, image: Optional[str] = None, catalogue: Catalogue = REGISTRY, **opts: Any) -> Report:
    """Run against a loopback registry, reached by --resolve under its ECR name and trusted by --ca-bundle."""
    return run(image or server.image(), catalogue, server.resolve, server.cert, **opts)


def commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


def text(report: Report) -> str:
    return json.dumps(report.to_dict())


def login(home: Path, host: str, password: str, user: str = "AWS") -> Path:
    """What `docker login` leaves behind: an auths entry with base64 user:password."""
    return write_docker_config(home, {"auths": {host: {"auth": basic(user, password)}}})


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only this directory: no docker CLI (its version is unknown) and no credential stores."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


def fake_docker(bin_dir: Path, version: str) -> None:
    """A `docker` that only answers --version (DOCKER_AUTH_CONFIG is read from CLI 28.3 on)."""
    exe = bin_dir / "docker"
    exe.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "Docker version {version}, build 0000000" && exit 0\n'
                   "exit 1\n")
    exe.chmod(0o755)


# == registry.v2 ===========================================================================================

def test_docker_login_token_is_accepted_and_the_password_never_shows(registry: Registry, home: Path) -> None:
    login(home, registry.host, MOTO_TOKEN)
    report = on(registry, catalogue=V2)
    r = result(report, "registry.v2")
    assert r.status is Status.PASS, r
    assert r.summary == (f"{registry.host} accepts the credentials docker sends (from the auths entry "
                         f"'{registry.host}', user AWS): GET /v2/ answered 200")
    assert r.evidence["unauthenticated_status"] == 401
    assert r.evidence["challenge"] == {"scheme": "basic", "realm": f"https://{HOST}/", "service": None}
    assert r.evidence["route"] == "via 127.0.0.1 (--resolve)"
    assert MOTO_TOKEN not in text(report) and basic("AWS", MOTO_TOKEN) not in text(report)


def test_wrong_password_is_refused_with_401(registry: Registry, home: Path) -> None:
    config = login(home, registry.host, "a-password-from-somewhere-else")
    r = result(on(registry, catalogue=V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary == (f"{registry.host} does not accept the credentials docker sends (from the auths entry "
                         f"'{registry.host}', user AWS): HTTP 401: unauthorized: authentication required")
    assert f"docker says: login attempt to https://{registry.host}/v2/ failed with status: 401 Unauthorized" \
        in r.details
    reg = parse_registry_host(registry.host)
    assert commands(r) == (login_command(reg), credhelper_command(str(config), registry.host))
    assert commands(r)[0] == ("aws ecr get-login-password --region us-east-1 | docker login --username AWS "
                              f"--password-stdin {registry.host}")


def test_no_credentials_at_all_fails_with_no_basic_auth_credentials(registry: Registry, home: Path) -> None:
    report = on(registry)
    r = result(report, "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary == (f"docker would send no credentials to {registry.host}: no credHelpers entry, no credsStore "
                         "and no auths entry match it; the pull fails with `no basic auth credentials`")
    assert f"docker pull says: Head \"https://{registry.host}/v2/team/app/manifests/v1\": no basic auth " \
           "credentials" in r.details
    config = str(home / ".docker" / "config.json")
    assert commands(r) == (credhelper_command(config, registry.host), login_command(parse_registry_host(registry.host)))
    manifest = result(report, "registry.manifest")
    assert manifest.status is Status.SKIP and manifest.summary == "needs registry.v2"


def test_token_for_another_region_gets_400_bad_request(fake_ecr: FakeEcr, home: Path) -> None:
    token = ecr_password(in_hours(11))  # valid, but issued by us-west-2's ECR
    fake_ecr.tokens[token] = (400, {"Content-Type": "application/json; charset=utf-8"}, "")
    login(home, fake_ecr.host, token)
    r = result(on(fake_ecr, catalogue=V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{fake_ecr.host} cannot use the token docker sends (from the auths entry "
                                f"'{fake_ecr.host}', user AWS): HTTP 400, a token issued for another region (or by "
                                "another account or profile) than us-east-1")
    assert f"docker says: login attempt to https://{fake_ecr.host}/v2/ failed with status: 400 Bad Request" \
        in r.details
    assert any(d.startswith("the token itself says it is valid until ") for d in r.details)
    assert commands(r)[0] == ("aws ecr get-login-password --region us-east-1 | docker login --username AWS "
                              f"--password-stdin {fake_ecr.host}")
    assert r.evidence["challenge"]["service"] == "ecr.amazonaws.com"
    assert token not in json.dumps(r.to_dict())


def test_expired_login_token_is_denied_with_ecrs_words(fake_ecr: FakeEcr, home: Path) -> None:
    token = ecr_password(in_hours(-3))
    fake_ecr.tokens[token] = (403, {"Content-Type": "application/json"}, ecr_errors("DENIED", EXPIRED))
    login(home, fake_ecr.host, token)
    report = on(fake_ecr, catalogue=V2)
    r = result(report, "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary == (f"{fake_ecr.host} refuses the token docker sends (from the auths entry '{fake_ecr.host}', "
                         "user AWS): it has expired (HTTP 403)")
    assert f"docker says: denied: {EXPIRED}" in r.details
    assert any(d.startswith("the token itself says it expired ") for d in r.details)
    assert r.fix is not None and r.fix.text.startswith("ECR tokens last 12 hours. Log in again with a token from "
                                                       "us-east-1")
    assert token not in text(report)


def test_expired_token_in_docker_auth_config_read_by_docker_28_4(fake_ecr: FakeEcr, home: Path, bin_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(bin_dir, "28.4.0")
    token = ecr_password(in_hours(-1))
    fake_ecr.tokens[token] = (403, {}, ecr_errors("DENIED", EXPIRED))
    write_docker_config(home, {"credHelpers": {fake_ecr.host: "ecr-login"}})
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {fake_ecr.host: {"auth": basic("AWS", token)}}}))
    r = result(on(fake_ecr, catalogue=V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{fake_ecr.host} refuses the token docker sends (from the DOCKER_AUTH_CONFIG "
                                f"variable (entry '{fake_ecr.host}'), user AWS): it has expired")
    assert f"credHelpers entry '{fake_ecr.host}' (ecr-login) is ignored because DOCKER_AUTH_CONFIG has an entry " \
           "for this host" in r.details
    reg = parse_registry_host(fake_ecr.host)
    assert commands(r) == (docker_auth_config_command(reg), "unset DOCKER_AUTH_CONFIG")


def test_docker_28_2_ignores_docker_auth_config_so_nothing_is_sent(registry: Registry, home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    docker_28_2 = Path("/usr/local/bin/docker")
    need(f"the docker 28.2 CLI at {docker_28_2}", docker_28_2.exists())
    monkeypatch.setenv("PATH", f"{docker_28_2.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {registry.host: {"auth": basic("AWS", MOTO_TOKEN)}}}))
    r = result(on(registry, catalogue=V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"docker would send no credentials to {registry.host}: ")
    assert "docker CLI 28.2.2 ignores DOCKER_AUTH_CONFIG (read since 28.3.0)" in r.details


def test_docker_auth_config_token_is_accepted_by_docker_28_4(registry: Registry, bin_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(bin_dir, "28.4.0")
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {registry.host: {"auth": basic("AWS", MOTO_TOKEN)}}}))
    r = result(on(registry, catalogue=V2), "registry.v2")
    assert r.status is Status.PASS
    assert "from the DOCKER_AUTH_CONFIG variable" in r.summary


def test_proxy_block_page_on_v2_is_a_403_denial(fake_ecr: FakeEcr, home: Path) -> None:
    fake_ecr.tokens[MOTO_TOKEN] = (403, {"Content-Type": "text/html"},
                                   "<html><body><h1>Access to this site is blocked by policy</h1></body></html>")
    login(home, fake_ecr.host, MOTO_TOKEN)
    r = result(on(fake_ecr, catalogue=V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary == (f"{fake_ecr.host} denies the credentials docker sends (from the auths entry "
                         f"'{fake_ecr.host}', user AWS): HTTP 403: Access to this site is blocked by policy")


def test_helper_credentials_from_moto_are_accepted_end_to_end(registry: Registry, helper_bin: str, home: Path,
                                                              moto_proxy: MotoProxy,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # credHelpers -> the real docker-credential-ecr-login -> GetAuthorizationToken at moto (through moto_proxy)
    # -> AWS:123456789012-auth-token, which the registry's htpasswd holds
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in moto_proxy.env().items():
        monkeypatch.setenv(key, value)
    write_docker_config(home, {"credHelpers": {registry.host: "ecr-login"}})
    report = on(registry, catalogue=V2, timeout=25)
    r = result(report, "registry.v2")
    assert r.status is Status.PASS, r
    assert r.summary.startswith(f"{registry.host} accepts the credentials docker sends (from "
                                f"docker-credential-ecr-login (credHelpers['{registry.host}']), user AWS)")
    assert r.evidence["route"] == "via 127.0.0.1 (--resolve)"  # not through HTTPS_PROXY: --resolve pins it
    assert MOTO_TOKEN not in text(report)


def test_helper_without_aws_credentials_leaves_docker_with_none(registry: Registry, helper_bin: str, home: Path,
                                                                moto_proxy: MotoProxy,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in moto_proxy.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    write_docker_config(home, {"credHelpers": {registry.host: "ecr-login"}})
    r = result(on(registry, catalogue=V2, timeout=25), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"docker would send no credentials to {registry.host}: docker-credential-ecr-login "
                                "returned no credentials (credentials not found in native keychain")
    assert r.summary.endswith("the pull fails with `no basic auth credentials`")


def test_credentials_kept_in_a_desktop_keychain_are_not_tried(registry: Registry, home: Path) -> None:
    write_docker_config(home, {"credsStore": "desktop"})
    r = result(on(registry, catalogue=V2), "registry.v2")
    assert r.status is Status.SKIP
    assert r.summary == (f"https://{registry.host}/v2/ answers with a Basic challenge (via 127.0.0.1 (--resolve)); "
                         "the credentials docker sends were not tried: docker asks docker-credential-desktop; "
                         "ecrdoctor runs only docker-credential-ecr-login")


def test_helper_not_run_while_an_aws_endpoint_override_is_set(registry: Registry, home: Path) -> None:
    write_docker_config(home, {"credHelpers": {registry.host: "ecr-login"}})  # AWS_ENDPOINT_URL is set (conftest)
    r = result(on(registry, catalogue=V2), "registry.v2")
    assert r.status is Status.SKIP
    assert "docker-credential-ecr-login was not run: AWS_ENDPOINT_URL is set" in r.summary


def test_registry_that_never_answers_times_out_on_its_own(silent_tls: int, home: Path) -> None:
    host = f"{HOST}:{silent_tls}"
    login(home, host, MOTO_TOKEN)
    report = run(f"{host}/team/app:v1", V2, (f"{HOST}:{silent_tls}:127.0.0.1",), timeout=3)
    r = result(report, "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"no answer from https://{host}/v2/ within ")
    assert r.summary.endswith(" s (via 127.0.0.1 (--resolve)): the network path to the registry is blocked")
    assert r.duration_ms < 3000
    assert commands(r)[0] == f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 https://{host}/v2/"
    assert "com.amazonaws.us-east-1.ecr.dkr" in commands(r)[1]


def test_closed_port_is_refused(tls: Any, home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = result(run(f"{HOST}:{port}/team/app:v1", V2, (f"{HOST}:{port}:127.0.0.1",), tls.cert), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary == f"cannot connect to https://{HOST}:{port}/v2/ (via 127.0.0.1 (--resolve)): Connection refused"


def _resolver(monkeypatch: pytest.MonkeyPatch, answer: Callable[[], Any]) -> None:
    """The host's resolver for amazonaws.com names (a DNS query would leave loopback); others resolve as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".amazonaws.com"):
            return answer()
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_registry_name_that_does_not_resolve(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain() -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    _resolver(monkeypatch, nxdomain)
    r = result(run(f"{HOST}/team/app:v1", V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary == f"{HOST} does not resolve: Name or service not known"
    assert commands(r) == (f"getent hosts {HOST}", "cat /etc/resolv.conf")


def test_resolver_that_never_answers_does_not_hold_the_check(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hang() -> Any:
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    _resolver(monkeypatch, hang)
    try:
        r = result(run(f"{HOST}/team/app:v1", V2, timeout=3), "registry.v2")
    finally:
        release.set()
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{HOST} does not resolve: no answer from the resolver within ")
    assert r.duration_ms < 3000


def test_certificate_not_trusted_means_tls_interception(registry: Registry, home: Path) -> None:
    login(home, registry.host, MOTO_TOKEN)
    r = result(run(registry.image(), V2, registry.resolve), "registry.v2")  # no --ca-bundle
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the TLS certificate {HOST} presents is not trusted (")
    assert "docker pull says: x509: certificate signed by unknown authority" in r.details
    assert commands(r)[0].startswith(f"openssl s_client -connect {registry.host} -servername {HOST} ")
    assert commands(r)[1] in ("sudo cp proxy-root-ca.crt /usr/local/share/ca-certificates/ && sudo "
                              "update-ca-certificates",
                              "sudo cp proxy-root-ca.crt /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust")


def test_bearer_challenge_is_another_registry_not_ecr(fake_ecr: FakeEcr, home: Path) -> None:
    fake_ecr.unauthenticated = (401, {"WWW-Authenticate": 'Bearer realm="https://auth.example.com/token",'
                                                          'service="registry.example.com"'}, "")
    r = result(on(fake_ecr, catalogue=V2), "registry.v2")
    assert r.status is Status.WARN
    assert r.summary == (f"https://{fake_ecr.host}/v2/ answered a Bearer challenge (via 127.0.0.1 (--resolve)), not "
                         "ECR's 401 Basic challenge: something else answers for the registry")
    assert r.evidence["challenge"] == {"scheme": "bearer", "realm": "https://auth.example.com/token",
                                       "service": "registry.example.com"}


def test_answer_without_asking_for_credentials_is_a_mirror(fake_ecr: FakeEcr, home: Path) -> None:
    fake_ecr.unauthenticated = (200, {"Content-Type": "application/json"}, "{}")
    r = result(on(fake_ecr, catalogue=V2), "registry.v2")
    assert r.status is Status.WARN
    assert r.summary.startswith(f"https://{fake_ecr.host}/v2/ answers without asking for credentials")


def test_proxy_error_instead_of_a_challenge_fails(fake_ecr: FakeEcr, home: Path) -> None:
    fake_ecr.unauthenticated = (502, {"Content-Type": "text/plain"}, "upstream connect error")
    r = result(on(fake_ecr, catalogue=V2), "registry.v2")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"https://{fake_ecr.host}/v2/ answered 502 Bad Gateway (via 127.0.0.1 (--resolve)), "
                                "not ECR's 401 Basic challenge")
    assert "it said: upstream connect error" in r.details


class _RefusingProxy:
    """A forward proxy on loopback that refuses every CONNECT, as a corporate proxy blocking a host does."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_CONNECT(self) -> None:
                proxy.seen.append(self.path)
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def refusing_proxy() -> Iterator[_RefusingProxy]:
    proxy = _RefusingProxy()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()


def test_https_proxy_that_blocks_the_registry(refusing_proxy: _RefusingProxy, home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", refusing_proxy.url.replace("http://", "http://squid:pw-never-shown@"))
    r = result(run(f"{HOST}/team/app:v1", V2), "registry.v2")  # no --resolve: the proxy is asked for the real host
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"cannot connect to https://{HOST}/v2/ (via the proxy {refusing_proxy.url} "
                                "(HTTPS_PROXY)): Tunnel connection failed: 403")
    assert refusing_proxy.seen == [f"{HOST}:443"]
    assert "pw-never-shown" not in json.dumps(r.to_dict())


def test_no_proxy_covering_amazonaws_sends_the_probe_direct(refusing_proxy: _RefusingProxy, registry: Registry,
                                                            home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", refusing_proxy.url)
    monkeypatch.setenv("no_proxy", "169.254.169.254,.amazonaws.com")
    login(home, registry.host, MOTO_TOKEN)
    # the probe goes direct to the host name, which this test resolves nowhere but loopback: through --resolve
    # the route would be pinned anyway, so ask the route function itself what NO_PROXY decides
    from ecrdoctor.context import Context

    ctx = Context.create(RunOptions(image=registry.image()))
    assert registry_checks._route(ctx, f"https://{HOST}/v2/").proxy is None
    monkeypatch.setenv("no_proxy", "169.254.169.254")
    ctx = Context.create(RunOptions(image=registry.image()))
    assert registry_checks._route(ctx, f"https://{HOST}/v2/").described == \
        f"via the proxy {refusing_proxy.url} (https_proxy)"


@pytest.mark.parametrize("image, why", [
    ("public.ecr.aws/docker/library/nginx:latest", "public.ecr.aws is ECR Public"),
    ("quay.io/team/app:1", "quay.io is not an Amazon ECR registry"),
    (None, "no IMAGE given: there is no registry to probe"),
])
def test_registries_that_are_not_private_ecr_are_skipped(image: Optional[str], why: str) -> None:
    report = run(image)
    assert result(report, "registry.v2").status is Status.SKIP
    assert result(report, "registry.v2").summary.startswith(why)
    assert result(report, "registry.manifest").status is Status.SKIP


def test_offline_skips_the_probes() -> None:
    r = result(run(f"{HOST}/team/app:v1", offline=True), "registry.v2")
    assert r.status is Status.SKIP and r.summary.startswith("offline")


# == registry.manifest =======================================================================================

@pytest.fixture
def ecr_repo(moto: MotoServer) -> Any:
    """The repository exists in ECR (moto), so requesting its manifest cannot start a pull-through-cache import."""
    client = moto.boto3_client("ecr")
    client.create_repository(repositoryName="team/app")
    return client


def no_cache_rules(stubs: AwsStubs) -> None:
    """moto does not implement DescribePullThroughCacheRules: a registry without rules."""
    stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": []})


def test_manifest_is_found_with_every_manifest_type_accepted(registry: Registry, home: Path, ecr_repo: Any) -> None:
    login(home, registry.host, MOTO_TOKEN)
    report = on(registry)
    r = result(report, "registry.manifest")
    assert r.status is Status.PASS, r
    assert r.summary == f"{registry.host}/team/app:v1 is there: {registry.digest} ({OCI_MANIFEST})"
    assert r.evidence["head_status"] == 200 and "get_status" not in r.evidence
    assert MOTO_TOKEN not in text(report)


def test_manifest_pinned_by_digest_is_found(registry: Registry, home: Path, ecr_repo: Any) -> None:
    login(home, registry.host, MOTO_TOKEN)
    r = result(on(registry, f"{registry.host}/team/app@{registry.digest}"), "registry.manifest")
    assert r.status is Status.PASS, r
    assert r.summary.startswith(f"{registry.host}/team/app@{registry.digest} is there: {registry.digest} ")
    assert r.evidence["url"] == f"https://{registry.host}/v2/team/app/manifests/{registry.digest}"


def test_missing_tag_is_manifest_unknown_in_dockers_words(registry: Registry, home: Path, ecr_repo: Any) -> None:
    login(home, registry.host, MOTO_TOKEN)
    r = result(on(registry, registry.image(tag="v9")), "registry.manifest")
    assert r.status is Status.FAIL
    assert r.summary == f"team/app has no image v9 in {ACCOUNT} (us-east-1): `manifest unknown`"
    assert r.details[0] == (f"docker pull says: Error response from daemon: manifest for {registry.host}/team/app:v9 "
                            "not found: manifest unknown: manifest unknown")
    assert commands(r) == (f"aws ecr list-images --repository-name team/app --region us-east-1 --registry-id {ACCOUNT}"
                           " --filter tagStatus=TAGGED --query 'imageIds[].imageTag'",)
    assert (r.evidence["head_status"], r.evidence["get_status"]) == (404, 404)


def test_missing_repository_on_distribution_reads_as_manifest_unknown(registry: Registry, home: Path,
                                                                      moto: MotoServer, aws_stubs: AwsStubs) -> None:
    no_cache_rules(aws_stubs)
    login(home, registry.host, MOTO_TOKEN)
    r = result(on(registry, registry.image("team/gone")), "registry.manifest")
    assert r.status is Status.FAIL
    assert r.summary == f"there is no repository team/gone in registry {ACCOUNT} (us-east-1): `name unknown`"
    assert r.details == (f"docker pull says: Error response from daemon: manifest for {registry.host}/team/gone:v1 not "
                         "found: manifest unknown: manifest unknown",
                         f"DescribeRepositories: repository team/gone does not exist in {ACCOUNT} (us-east-1), yet the "
                         "registry answered `manifest unknown`")
    assert commands(r)[1] == "aws ecr create-repository --repository-name team/gone --region us-east-1"


def test_missing_repository_on_ecr_is_name_unknown(fake_ecr: FakeEcr, home: Path, moto: MotoServer,
                                                   aws_stubs: AwsStubs) -> None:
    no_cache_rules(aws_stubs)
    fake_ecr.tokens[MOTO_TOKEN] = (200, {}, "{}")
    message = f"The repository with name 'team/gone' does not exist in the registry with id '{ACCOUNT}'"
    fake_ecr.manifests["/v2/team/gone/manifests/v1"] = (404, {}, ecr_errors("NAME_UNKNOWN", message))
    login(home, fake_ecr.host, MOTO_TOKEN)
    r = result(on(fake_ecr, fake_ecr.image("team/gone")), "registry.manifest")
    assert r.status is Status.FAIL
    assert r.summary == f"there is no repository team/gone in registry {ACCOUNT} (us-east-1): `name unknown`"
    assert r.details[0] == (f"docker pull says: Error response from daemon: repository {fake_ecr.host}/team/gone not "
                            f"found: name unknown: {message}")
    assert commands(r) == (f"aws ecr describe-repositories --region us-east-1 --registry-id {ACCOUNT} --query "
                           "'repositories[].repositoryName'",
                           "aws ecr create-repository --repository-name team/gone --region us-east-1")
    heads = [(m, p, h.get("Accept")) for m, p, h in fake_ecr.requests if p != "/v2/"]
    assert heads == [("HEAD", "/v2/team/gone/manifests/v1", ALL_TYPES), ("GET", "/v2/team/gone/manifests/v1",
                                                                          ALL_TYPES)]


def test_pull_denied_by_iam_quotes_the_denial(fake_ecr: FakeEcr, home: Path, moto: MotoServer) -> None:
    moto.boto3_client("ecr").create_repository(repositoryName="team/app")
    fake_ecr.tokens[MOTO_TOKEN] = (200, {}, "{}")
    denial = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/node-role/i-0123456789abcdef0 is not authorized to perform: "
              f"ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app because no "
              "identity-based policy allows the ecr:BatchGetImage action")
    fake_ecr.manifests["/v2/team/app/manifests/v1"] = (403, {}, ecr_errors("DENIED", denial))
    login(home, fake_ecr.host, MOTO_TOKEN)
    r = result(on(fake_ecr), "registry.manifest")
    assert r.status is Status.FAIL
    assert r.summary == f"{fake_ecr.host} denies the manifest of team/app:v1 to docker's credentials"
    assert r.details[0] == (f"docker pull says: Error response from daemon: pull access denied for {fake_ecr.host}/"
                            f"team/app, repository does not exist or may require 'docker login': denied: {denial}")
    assert commands(r) == (f"aws ecr get-repository-policy --repository-name team/app --region us-east-1 "
                           f"--registry-id {ACCOUNT}",)


def test_token_expiring_between_login_and_manifest(fake_ecr: FakeEcr, home: Path, moto: MotoServer) -> None:
    moto.boto3_client("ecr").create_repository(repositoryName="team/app")
    fake_ecr.tokens[MOTO_TOKEN] = (200, {}, "{}")
    fake_ecr.manifests["/v2/team/app/manifests/v1"] = (403, {}, ecr_errors("DENIED", EXPIRED))
    login(home, fake_ecr.host, MOTO_TOKEN)
    r = result(on(fake_ecr), "registry.manifest")
    assert r.status is Status.FAIL
    assert r.summary == f"{fake_ecr.host} refuses the manifest of team/app:v1: the token has expired"
    assert r.details[0].endswith(f"pull access denied for {fake_ecr.host}/team/app, repository does not exist or may "
                                 f"require 'docker login': denied: {EXPIRED}")


def test_pull_through_cache_repository_not_created_yet_is_never_requested(fake_ecr: FakeEcr, home: Path,
                                                                         moto: MotoServer,
                                                                         aws_stubs: AwsStubs) -> None:
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": [
        {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io", "registryId": ACCOUNT}]})
    fake_ecr.tokens[MOTO_TOKEN] = (200, {}, "{}")
    login(home, fake_ecr.host, MOTO_TOKEN)
    r = result(on(fake_ecr, fake_ecr.image("docker-hub/library/nginx", "1.27")), "registry.manifest")
    assert r.status is Status.SKIP
    assert r.summary.startswith("docker-hub/library/nginx falls under the pull-through-cache rule 'docker-hub' "
                                "(registry-1.docker.io) and does not exist yet: requesting its manifest would create "
                                "it and import the image from upstream")
    assert [p for _, p, _ in fake_ecr.requests if p != "/v2/"] == []


def test_without_aws_access_an_unknown_cache_repository_is_not_requested(fake_ecr: FakeEcr, home: Path) -> None:
    fake_ecr.tokens[MOTO_TOKEN] = (200, {}, "{}")
    login(home, fake_ecr.host, MOTO_TOKEN)
    r = result(on(fake_ecr), "registry.manifest")  # AWS_ENDPOINT_URL points at a closed loopback port
    assert result(on(fake_ecr), "registry.v2").status is Status.PASS
    assert r.status is Status.SKIP
    assert r.summary.startswith("cannot tell whether team/app is a pull-through-cache repository not created yet")
    assert [p for _, p, _ in fake_ecr.requests if p != "/v2/"] == []


def test_registry_only_target_has_no_manifest_to_ask_for(registry: Registry, home: Path) -> None:
    login(home, registry.host, MOTO_TOKEN)
    report = on(registry, registry.host)
    assert result(report, "registry.v2").status is Status.PASS
    r = result(report, "registry.manifest")
    assert r.status is Status.SKIP
    assert r.summary == "IMAGE names only a registry: there is no repository to look at"


# == net.s3 ==================================================================================================

def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(arch: str) -> tuple[str, str]:
    """An OCI manifest whose config and layer descriptors are unique per architecture; (manifest, layer digest)."""
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = _sha(f"layer for {arch}".encode())
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha(config),
                                  "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                                   "size": 31_457_280}]}), layer


@pytest.fixture
def pushed(moto: MotoServer) -> str:
    """team/app:v1 in ECR (moto): the layer digest of its only layer."""
    client = moto.boto3_client("ecr")
    client.create_repository(repositoryName="team/app")
    manifest, layer = image_manifest("amd64")
    client.put_image(repositoryName="team/app", imageManifest=manifest, imageTag="v1")
    return layer


def layer_url(stubs: AwsStubs, url: str, layer: str) -> None:
    """moto does not implement GetDownloadUrlForLayer: ECR's answer, a pre-signed URL of the layer bucket."""
    stubs.add("ecr", "GetDownloadUrlForLayer", {"downloadUrl": url, "layerDigest": layer})


def sent(stubs: AwsStubs, operation: str) -> list[dict[str, Any]]:
    """The parameters of every call of `operation` that reached aws_stubs (botocore's serialized JSON body)."""
    return [json.loads(p["body"]) for _, op, p in stubs.calls if op == operation]  # type: ignore[arg-type]


def s3(server: Any, image: str = f"{HOST}/team/app:v1", **opts: Any) -> Result:
    return result(run(image, S3, server.resolve, server.cert, **opts), "net.s3")


def test_one_byte_of_a_layer_comes_from_the_layer_bucket(pushed: str, aws_stubs: AwsStubs, fake_s3: FakeS3) -> None:
    layer_url(aws_stubs, fake_s3.url(query=SIGNED), pushed)
    report = run(f"{HOST}/team/app:v1", S3, fake_s3.resolve, fake_s3.cert)
    r = result(report, "net.s3")
    assert r.status is Status.PASS, r
    assert r.summary.startswith(f"one byte of layer {pushed[:19]}… came from {S3_HOST} (HTTP 206 in ")
    assert r.evidence["url"] == f"https://{S3_HOST}:{fake_s3.port}/123456789012/layer-id"
    assert [(m, p, h.get("Range")) for m, p, h in fake_s3.requests] == \
        [("GET", f"/123456789012/layer-id?{SIGNED}", "bytes=0-0")]
    assert sent(aws_stubs, "GetDownloadUrlForLayer") == [{"repositoryName": "team/app", "registryId": ACCOUNT,
                                                          "layerDigest": pushed}]
    assert "SecretSessionToken" not in text(report) and "X-Amz-Signature" not in text(report)


def test_s3_endpoint_policy_refuses_the_layer_bucket(pushed: str, aws_stubs: AwsStubs, fake_s3: FakeS3) -> None:
    fake_s3.mode = "denied"
    layer_url(aws_stubs, fake_s3.url(query=SIGNED), pushed)
    r = s3(fake_s3)
    assert r.status is Status.FAIL
    assert r.summary == (f"S3 ({S3_HOST}) refuses the layer download (AccessDenied: Access Denied, via 127.0.0.1 "
                         "(--resolve)): docker pulls the manifest, then fails on the layers")
    assert r.fix is not None and '"Resource":["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"]' in r.fix.text
    assert commands(r)[0] == ("aws ec2 describe-vpc-endpoints --region us-east-1 --filters Name=service-name,Values="
                              "com.amazonaws.us-east-1.s3 --query 'VpcEndpoints[].[VpcEndpointId,VpcEndpointType,"
                              "RouteTableIds,PolicyDocument]'")
    assert "SecretSessionToken" not in json.dumps(r.to_dict())


def test_presigned_url_expired_on_the_way(pushed: str, aws_stubs: AwsStubs, fake_s3: FakeS3) -> None:
    fake_s3.mode = "expired"
    layer_url(aws_stubs, fake_s3.url(query=SIGNED), pushed)
    r = s3(fake_s3)
    assert r.status is Status.FAIL
    assert r.summary == (f"S3 ({S3_HOST}) says the pre-signed layer URL had expired when it arrived (AccessDenied: "
                         "Request has expired)")


def test_s3_that_never_answers_is_a_missing_route(pushed: str, aws_stubs: AwsStubs, silent_tls: int,
                                                  tls: Any) -> None:
    url = f"https://{S3_HOST}:{silent_tls}/123456789012/layer-id?{SIGNED}"
    layer_url(aws_stubs, url, pushed)
    r = result(run(f"{HOST}/team/app:v1", S3, (f"{S3_HOST}:{silent_tls}:127.0.0.1",), tls.cert, timeout=5), "net.s3")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"no answer from {S3_HOST} within ")
    assert r.summary.endswith("docker resolves the manifest, then hangs on every layer")
    assert commands(r) == (f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 https://{S3_HOST}/",
                           "aws ec2 describe-vpc-endpoints --region us-east-1 --filters Name=service-name,Values="
                           "com.amazonaws.us-east-1.s3 --query 'VpcEndpoints[].[VpcEndpointId,VpcEndpointType,"
                           "RouteTableIds,PolicyDocument]'",
                           "aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Gateway --vpc-id "
                           "<vpc-id> --service-name com.amazonaws.us-east-1.s3 --route-table-ids <route-table-id>")
    assert r.duration_ms < 5000


def test_s3_timeout_on_ec2_names_the_instances_vpc_and_route_table(moto: MotoServer, aws_stubs: AwsStubs,
                                                                  silent_tls: int, tls: Any, tmp_path: Path) -> None:
    ec2 = moto.boto3_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet
                                 )["Instances"][0]["InstanceId"]
    root = tmp_path / "root"
    dmi = root / "sys/devices/virtual/dmi/id"
    dmi.mkdir(parents=True)
    (dmi / "board_asset_tag").write_text(instance + "\n")  # an EC2 (Nitro) instance, by its DMI asset tag
    ecr = moto.boto3_client("ecr")
    ecr.create_repository(repositoryName="team/app")
    manifest, layer = image_manifest("amd64")
    ecr.put_image(repositoryName="team/app", imageManifest=manifest, imageTag="v1")
    layer_url(aws_stubs, f"https://{S3_HOST}:{silent_tls}/123456789012/layer-id?{SIGNED}", layer)
    r = result(run(f"{HOST}/team/app:v1", S3, (f"{S3_HOST}:{silent_tls}:127.0.0.1",), tls.cert, timeout=15,
                   root=str(root)), "net.s3")
    assert r.status is Status.FAIL
    assert commands(r)[-1] == (f"aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Gateway --vpc-id "
                               f"{vpc} --service-name com.amazonaws.us-east-1.s3 --route-table-ids {table}")


def test_s3_slowing_down_is_another_status(pushed: str, aws_stubs: AwsStubs, fake_s3: FakeS3) -> None:
    fake_s3.mode = "slowdown"
    layer_url(aws_stubs, fake_s3.url(query=SIGNED), pushed)
    r = s3(fake_s3)
    assert r.status is Status.FAIL
    assert r.summary == (f"S3 ({S3_HOST}) answered 503 Service Unavailable for the layer (SlowDown: Please reduce "
                         "your request rate.)")


def test_multi_platform_image_fetches_a_layer_of_this_hosts_platform(moto: MotoServer, aws_stubs: AwsStubs,
                                                                     fake_s3: FakeS3,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_DEFAULT_PLATFORM", "linux/arm64")
    client = moto.boto3_client("ecr")
    client.create_repository(repositoryName="team/app")
    entries, layers = [], {}
    for arch in ("amd64", "arm64"):
        manifest, layers[arch] = image_manifest(arch)
        client.put_image(repositoryName="team/app", imageManifest=manifest, imageDigest=_sha(manifest.encode()))
        entries.append({"mediaType": OCI_MANIFEST, "digest": _sha(manifest.encode()), "size": len(manifest),
                        "platform": {"architecture": arch, "os": "linux"}})
    client.put_image(repositoryName="team/app", imageTag="v1", imageManifest=json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}))
    layer_url(aws_stubs, fake_s3.url(query=SIGNED), layers["arm64"])
    r = s3(fake_s3)
    assert r.status is Status.PASS, r
    assert [p["layerDigest"] for p in sent(aws_stubs, "GetDownloadUrlForLayer")] == [layers["arm64"]]


def test_missing_tag_has_no_layer_to_fetch(pushed: str, aws_stubs: AwsStubs, fake_s3: FakeS3) -> None:
    r = s3(fake_s3, f"{HOST}/team/app:v9")
    assert r.status is Status.SKIP
    assert r.summary.startswith("no layer to fetch: BatchGetImage found no manifest for team/app:v9 (ImageNotFound")
    assert fake_s3.requests == []


def test_missing_repository_has_no_layer_to_fetch(moto: MotoServer, fake_s3: FakeS3) -> None:
    r = s3(fake_s3)
    assert r.status is Status.SKIP
    assert r.summary == "no layer to fetch: repository team/app cannot be read (it does not exist)"


def test_layer_url_denied_by_iam_is_left_to_iam_pull(pushed: str, aws_stubs: AwsStubs, fake_s3: FakeS3) -> None:
    aws_stubs.add("ecr", "GetDownloadUrlForLayer", error_code="AccessDeniedException",
                  message=f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: "
                          "ecr:GetDownloadUrlForLayer on resource: arn:aws:ecr:us-east-1:123456789012:repository/"
                          "team/app")
    r = s3(fake_s3)
    assert r.status is Status.SKIP
    assert r.summary.startswith("cannot get a layer URL for team/app:v1: AccessDeniedException: User: ")
    assert fake_s3.requests == []


def test_net_s3_needs_aws_credentials(fake_s3: FakeS3) -> None:
    r = s3(fake_s3)
    assert r.status is Status.SKIP and r.summary == "needs aws.credentials"


def test_net_s3_skips_a_registry_only_target(moto: MotoServer) -> None:
    r = result(run(HOST, S3), "net.s3")
    assert r.status is Status.SKIP
    assert r.summary == "IMAGE names only a registry: there is no repository to look at"
