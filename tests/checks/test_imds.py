"""aws.imds through the real runner against loopback metadata services (and proxies) that behave like the real ones
and like the broken setups users hit: hop limit 1 in a container, IMDSv1 only, no role, a proxy capturing IMDS."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import urlsplit

import ecrdoctor.checks.imds as imds_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Result, Status
from ecrdoctor.net import SocketProbe
from tests.conftest import FakeImds, ec2_root
from tests.imds_fixtures import LoopbackImds

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
CATALOGUE = Catalogue((imds_checks.aws_imds,))
INSTANCE = "i-0123456789abcdef0"  # the DMI asset tag ec2_root writes
TOKEN = "AQAEAFakeImdsSessionToken0123456789abcdefgh=="
PROFILE_ARN = "arn:aws:iam::123456789012:instance-profile/ecr-nodes"
HTML = "<html><head><title>Access denied</title></head><body>Blocked by corporate proxy</body></html>"


class Imds(LoopbackImds):
    """The metadata service of an instance with role node-role in eu-west-1, set to each real-world variant
    (see LoopbackImds: token "hang" is what a container sees with hop limit 1)."""

    def __init__(self, token: object = "ok", require_token: bool = False, role: Optional[str] = "node-role",
                 region: Optional[str] = "eu-west-1", v1_status: Optional[int] = None, html: bool = False,
                 get_hangs: bool = False) -> None:
        super().__init__(token=token, token_value=TOKEN, require_token=require_token, role=role,
                         instance_id=INSTANCE, region=region, profile_arn=PROFILE_ARN, v1_status=v1_status,
                         html=HTML if html else None, get_hangs=get_hangs)


class Proxy:
    """An HTTP forward proxy on loopback: "deny" answers every request with its own HTML 403 page; "forward"
    passes requests on (adding X-Forwarded-For, as squid does); "other" is a proxy on another instance, whose
    own metadata service answers with that instance's role."""

    def __init__(self, mode: str) -> None:
        proxy = self
        self.mode = mode
        self.seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                proxy.seen.append(f"{self.command} {self.path}")
                if proxy.mode == "deny":
                    return self._send(403, HTML)
                if proxy.mode == "other":
                    path = urlsplit(self.path).path
                    if self.command == "PUT":
                        return self._send(200, "AQAEAOtherInstanceToken==")
                    if path == "/latest/meta-data/iam/security-credentials/":
                        return self._send(200, "proxy-host-role")
                    return self._send(404, "")
                target = urlsplit(self.path)
                conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=5)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")}
                headers["X-Forwarded-For"] = "127.0.0.1"
                conn.request(self.command, target.path, headers=headers)
                resp = conn.getresponse()
                self._send(resp.status, resp.read().decode())
                conn.close()
                return None

            do_GET = do_PUT = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Start an Imds variant and point the SDK settings (AWS_EC2_METADATA_SERVICE_ENDPOINT) at it."""
    started: list[Imds] = []

    def start(**kwargs: object) -> Imds:
        imds = Imds(**kwargs)  # type: ignore[arg-type]
        started.append(imds)
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url + "/")
        return imds

    yield start
    for imds in started:
        imds.close()


@pytest.fixture
def proxy() -> Iterator[object]:
    started: list[Proxy] = []

    def start(mode: str) -> Proxy:
        p = Proxy(mode)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def ec2(tmp_path: Path, container: bool = False) -> str:
    root = ec2_root(tmp_path / "root")
    if container:
        (root / ".dockerenv").write_text("")
    return str(root)


def run(root: str, image: Optional[str] = IMAGE, **opts: object) -> Result:
    report = run_check(RunOptions(image=image, timeout=15, root=root, **opts),  # type: ignore[arg-type]
                       catalogue=CATALOGUE)
    r = report.result("aws.imds")
    assert r is not None
    return r


HOP_FIX = (f"aws ec2 modify-instance-metadata-options --region us-east-1 --instance-id {INSTANCE} "
           "--http-put-response-hop-limit 2 --http-endpoint enabled")


# -- skip ------------------------------------------------------------------------------------------------------


def test_laptop_off_ec2_skips_in_well_under_300ms_without_any_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)  # IMDS would be used, but this is no EC2 host
    calls: list[str] = []
    real = SocketProbe.http
    monkeypatch.setattr(SocketProbe, "http", lambda self, method, url, *a, **k: calls.append(url) or real(
        self, method, url, *a, **k))
    (tmp_path / "laptop").mkdir()
    started = time.monotonic()
    r = run(str(tmp_path / "laptop"))
    assert time.monotonic() - started < 0.3
    assert r.status is Status.SKIP and r.summary.startswith("not an EC2 instance")
    assert calls == []


def test_metadata_disabled_by_environment_skips(tmp_path: Path) -> None:
    r = run(ec2(tmp_path))  # the hermetic environment sets AWS_EC2_METADATA_DISABLED=true
    assert r.status is Status.SKIP
    assert "AWS_EC2_METADATA_DISABLED=true" in r.summary


def test_ecs_task_with_a_task_role_skips_imds(fake_imds: FakeImds, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """awsvpc tasks often cannot reach IMDS at all, and need not: the task role comes from 169.254.170.2."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/0c8e5b0e")
    r = run(ec2(tmp_path, container=True))
    assert r.status is Status.SKIP
    assert r.summary.startswith("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set: credentials come from the container")


def test_offline_run_skips(fake_imds: FakeImds, tmp_path: Path) -> None:
    r = run(ec2(tmp_path), offline=True)
    assert r.status is Status.SKIP and "offline" in r.summary


# -- pass ------------------------------------------------------------------------------------------------------


def test_ec2_instance_with_role_passes_over_imdsv2(fake_imds: FakeImds, tmp_path: Path) -> None:
    fake_imds.attach_role("node-role", "ASIAIMDSROLEKEY0QRST", "imds-secret-never-shown", "imds-session-token")
    r = run(ec2(tmp_path))
    assert r.status is Status.PASS
    assert r.summary == "IMDSv2 at 127.0.0.1 issues tokens; instance profile role 'node-role'"
    assert "IMDSv1 also answers (HttpTokens=optional)" in r.details
    assert r.evidence["http_tokens"] == "optional"
    assert "fake-imds-token" not in json.dumps(r.to_dict())  # the IMDS session token is a secret too


def test_imdsv2_required_instance_passes_and_names_the_old_helper_risk(serve: object, tmp_path: Path) -> None:
    serve(require_token=True)  # type: ignore[operator]
    r = run(ec2(tmp_path))
    assert r.status is Status.PASS
    assert r.summary == f"IMDSv2 at 127.0.0.1 issues tokens; instance profile role 'node-role' ({PROFILE_ARN})"
    assert any("HttpTokens=required" in d and "before 0.5.0" in d for d in r.details)
    assert TOKEN not in json.dumps(r.to_dict())


def test_container_with_hop_limit_2_passes(serve: object, tmp_path: Path) -> None:
    serve(require_token=True)  # type: ignore[operator]
    r = run(ec2(tmp_path, container=True))
    assert r.status is Status.PASS
    assert "inside a container and the token PUT was answered: the hop limit is high enough" in r.details


# -- hop limit -------------------------------------------------------------------------------------------------


def test_ci_job_container_with_hop_limit_1_and_imdsv2_required_fails(serve: object, tmp_path: Path) -> None:
    """The token PUT's answer dies at the container bridge; IMDSv1 is refused: the SDKs inside get nothing."""
    serve(token="hang", require_token=True)  # type: ignore[operator]
    r = run(ec2(tmp_path, container=True))
    assert r.status is Status.FAIL
    assert "inside this container" in r.summary and "hop limit is 1" in r.summary
    assert r.fix is not None and r.fix.commands == (HOP_FIX,)


def test_container_with_hop_limit_1_but_imdsv1_allowed_warns(serve: object, tmp_path: Path) -> None:
    serve(token="hang")  # type: ignore[operator]
    r = run(ec2(tmp_path, container=True))
    assert r.status is Status.WARN
    assert "hop limit is 1" in r.summary and "IMDSv1 still answers" in r.summary
    assert r.fix is not None and r.fix.commands == (
        "aws ec2 modify-instance-metadata-options --region eu-west-1 --instance-id i-0123456789abcdef0 "
        "--http-put-response-hop-limit 2 --http-endpoint enabled",)  # the region IMDS itself reported


def test_token_put_times_out_on_the_host_with_imdsv2_required_fails(serve: object, tmp_path: Path) -> None:
    serve(token="hang", require_token=True)  # type: ignore[operator]
    r = run(ec2(tmp_path))
    assert r.status is Status.FAIL
    assert "container ecrdoctor did not recognise" in r.summary
    assert r.fix is not None and r.fix.commands == (HOP_FIX,)


# -- unreachable, refused, not IMDS ----------------------------------------------------------------------------


def test_imds_blackholed_on_the_host_fails_within_its_timeouts(serve: object, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    serve(token="hang", get_hangs=True)  # type: ignore[operator]
    started = time.monotonic()
    r = run(ec2(tmp_path))
    assert time.monotonic() - started < 4
    assert r.status is Status.FAIL
    assert "does not answer (token PUT: timed out; GET: timed out)" in r.summary


def test_container_whose_network_does_not_reach_imds_at_all_fails(serve: object, tmp_path: Path) -> None:
    """Not the hop limit (that drops only the PUT's answer): nothing answers from this container."""
    serve(token="hang", get_hangs=True)  # type: ignore[operator]
    r = run(ec2(tmp_path, container=True))
    assert r.status is Status.FAIL
    assert "does not answer from inside this container" in r.summary
    assert r.fix is not None and "host networking" in r.fix.text and r.fix.commands == ()


def test_endpoint_override_pointing_at_nothing_is_told_to_unset_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/")  # discard port: refused
    r = run(ec2(tmp_path))
    assert r.status is Status.FAIL
    assert r.summary.startswith("IMDS at 127.0.0.1 does not answer (token PUT: ")
    assert r.fix is not None and r.fix.commands == ("unset AWS_EC2_METADATA_SERVICE_ENDPOINT",)


def test_imdsv1_only_service_refusing_the_token_put_warns(serve: object, tmp_path: Path) -> None:
    serve(token=405)  # type: ignore[operator]
    r = run(ec2(tmp_path))
    assert r.status is Status.WARN
    assert "refuses the IMDSv2 token request (HTTP 405) but answers IMDSv1" in r.summary
    assert r.fix is not None and r.fix.commands == (
        f"aws ec2 describe-instances --region eu-west-1 --instance-ids {INSTANCE} "
        "--query 'Reservations[0].Instances[0].MetadataOptions'",)


def test_metadata_access_turned_off_answers_403_and_fails(serve: object, tmp_path: Path) -> None:
    serve(token=403, v1_status=403)  # type: ignore[operator]
    r = run(ec2(tmp_path))
    assert r.status is Status.FAIL
    assert "refuses requests (token PUT: HTTP 403; GET: HTTP 403)" in r.summary
    assert r.fix is not None and r.fix.commands == (
        f"aws ec2 modify-instance-metadata-options --region us-east-1 --instance-id {INSTANCE} "
        "--http-endpoint enabled",)


def test_captive_portal_answering_html_is_not_taken_for_imds(serve: object, tmp_path: Path) -> None:
    serve(html=True)  # type: ignore[operator]
    r = run(ec2(tmp_path))
    assert r.status is Status.FAIL
    assert r.summary == "what answers at 127.0.0.1 is not IMDS: the token answer is not an IMDS token but an HTML page"


# -- instance profile ------------------------------------------------------------------------------------------


def test_instance_without_an_instance_profile_warns_with_the_associate_command(fake_imds: FakeImds,
                                                                              tmp_path: Path) -> None:
    r = run(ec2(tmp_path))
    assert r.status is Status.WARN
    assert f"no instance profile is attached to {INSTANCE}" in r.summary
    assert r.fix is not None and r.fix.commands == (
        f"aws ec2 associate-iam-instance-profile --region us-east-1 --instance-id {INSTANCE} "
        "--iam-instance-profile Name=<instance-profile-name>",)


# -- proxy -----------------------------------------------------------------------------------------------------


def test_http_proxy_without_no_proxy_for_imds_gets_the_proxys_error_page(
        serve: object, proxy: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve()  # type: ignore[operator]
    p = proxy("deny")  # type: ignore[operator]
    monkeypatch.setenv("HTTP_PROXY", p.url)
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example")
    r = run(ec2(tmp_path))
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"HTTP_PROXY sends IMDS requests to {p.url} (NO_PROXY does not list 127.0.0.1)")
    assert "through it the IMDSv2 token request fails (HTTP 403)" in r.summary
    wanted = "localhost,.internal.example,127.0.0.1"
    assert r.fix is not None and r.fix.commands == (f"export NO_PROXY={wanted}", f"export no_proxy={wanted}")
    assert p.seen and p.seen[0].startswith("PUT http://127.0.0.1:")


def test_proxy_on_another_instance_answers_with_that_instances_role(
        serve: object, proxy: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve()  # type: ignore[operator]
    p = proxy("other")  # type: ignore[operator]
    monkeypatch.setenv("http_proxy", p.url)
    r = run(ec2(tmp_path))
    assert r.status is Status.FAIL
    assert "names role 'proxy-host-role' instead of 'node-role': another machine's metadata" in r.summary


def test_proxy_that_passes_imds_through_warns(serve: object, proxy: object, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    serve()  # type: ignore[operator]
    p = proxy("forward")  # type: ignore[operator]
    monkeypatch.setenv("HTTP_PROXY", p.url)
    r = run(ec2(tmp_path))
    assert r.status is Status.WARN
    assert "the proxy passes them on for now" in r.summary
    assert r.evidence["via_proxy"] == "HTTP 200"


def test_no_proxy_listing_the_metadata_address_keeps_imds_direct(
        serve: object, proxy: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve()  # type: ignore[operator]
    p = proxy("deny")  # type: ignore[operator]
    monkeypatch.setenv("HTTP_PROXY", p.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,169.254.169.254")
    r = run(ec2(tmp_path))
    assert r.status is Status.PASS
    assert p.seen == []
