# ruff: noqa: F811  (the fixtures imported from tests.net_fixtures are named again as test parameters)
"""net.dns, net.reach, net.proxy and net.vpc-endpoints through the real runner: TLS servers with openssl-made
certificates on 127.x.y.z:443 reached through --resolve, a real CONNECT proxy, a real dockerd started with a proxy,
systemd drop-ins and daemon.json under --root, moto's EC2 for VPCs, routes and endpoints, and — for the resolver
and the "never hang" promise — the real ecrdoctor in a network namespace of its own where port 443 is blackholed
with iptables and a loopback DNS server answers. Nothing leaves loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Sequence

import ecrdoctor.checks.aws as aws_checks
import ecrdoctor.checks.net as net_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions, parse_target
from ecrdoctor.doctor import run_check
from ecrdoctor.endpoints import registry_endpoints
from ecrdoctor.model import Report, Result, Status
from ecrdoctor.net import SocketProbe
from tests.conftest import MotoServer, ecrdoctor_exe, hermetic_env
from tests.dockerd_fixtures import Dockerd, dockerd_fixture  # noqa: F401  (the session's dockerd)
from tests.net_fixtures import (  # noqa: F401  (fixtures)
    API,
    HOSTS,
    IMAGE,
    LAYERS,
    REGISTRY,
    ConnectProxy,
    InstanceImds,
    Pki,
    ProxiedDockerd,
    SilentServer,
    TlsServer,
    amazon_tls,
    connect_proxy,
    corp_tls,
    ec2_host,
    os_release,
    pki,
    proxied_dockerd,
    report_of,
    result_of,
    run_isolated,
    silent_server,
    unused_loopback,
    write,
)

NET = Catalogue((net_checks.net_dns, net_checks.net_proxy, net_checks.net_reach))
VPC = Catalogue((aws_checks.aws_credentials, net_checks.net_vpc_endpoints))
DROPIN = "/etc/systemd/system/docker.service.d/http-proxy.conf"


@pytest.fixture(autouse=True)
def _no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No docker daemon unless a test points DOCKER_HOST at one (this machine may or may not run one)."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


def run(image: Optional[str] = IMAGE, catalogue: Catalogue = NET, timeout: float = 15, **opts: object) -> Report:
    """Run checks in-process. The system resolver is never asked (getaddrinfo would send a real DNS query): every
    name a check may look up comes from --resolve, loopback unless the test says otherwise."""
    if image and "resolve" not in opts:
        spec = parse_target(image)
        opts["resolve"] = resolve_all("127.0.0.1", [e.host for e in registry_endpoints(spec.registry)])
    return run_check(RunOptions(image=image, timeout=timeout, **opts), catalogue=catalogue)  # type: ignore[arg-type]


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def resolve_all(address: str, hosts: Sequence[str] = HOSTS) -> tuple[str, ...]:
    return tuple(f"{h}:443:{address}" for h in hosts)


# ================================================================================================================
# net.dns
# ================================================================================================================


def test_names_given_to_resolve_answer_without_the_network_and_the_resolver_is_named(tmp_path: Path) -> None:
    root = write(tmp_path / "root", "/etc/resolv.conf", "nameserver 10.0.0.2\nsearch ec2.internal\n").parents[1]
    r = result(run(resolve=resolve_all("127.0.0.1"), root=str(root), only=("net.dns",)), "net.dns")
    assert r.status is Status.PASS
    assert r.summary.startswith("3 hosts resolve (loopback addresses), resolver 10.0.0.2: " + API)
    assert f"{LAYERS} -> 127.0.0.1 (from --resolve) (loopback)" in r.details
    assert "nameserver 10.0.0.2: probably the VPC resolver at the VPC CIDR base + 2" in r.details
    assert r.evidence["resolver"] == {"file": "/etc/resolv.conf", "nameservers": ["10.0.0.2"],
                                      "search": ["ec2.internal"]}


def test_interface_endpoints_with_private_dns_answer_with_vpc_addresses(tmp_path: Path) -> None:
    root = write(tmp_path / "root", "/etc/resolv.conf", "nameserver 127.0.0.53\n").parents[1]
    write(root, "/run/systemd/resolve/resolv.conf", "nameserver 169.254.169.253\n")
    resolve = (f"{API}:443:10.0.1.17", f"{REGISTRY}:443:10.0.2.9", f"{LAYERS}:443:52.217.1.10")
    r = result(run(resolve=resolve, root=str(root), only=("net.dns",)), "net.dns")
    assert r.status is Status.PASS
    assert f"{API} -> 10.0.1.17 (from --resolve) (private: a VPC interface endpoint answers)" in r.details
    assert f"{LAYERS} -> 52.217.1.10 (from --resolve) (public)" in r.details
    assert any("systemd-resolved (127.0.0.53); its upstream servers (/run/systemd/resolve/resolv.conf): "
               "169.254.169.253" in d for d in r.details)
    assert "nameserver 169.254.169.253: the Amazon-provided VPC resolver (Route 53 Resolver)" in r.details


def test_api_endpoint_private_but_registry_public_warns_that_ecr_dkr_endpoint_is_missing(tmp_path: Path) -> None:
    resolve = (f"{API}:443:10.0.1.17", f"{REGISTRY}:443:52.94.1.10", f"{LAYERS}:443:52.217.1.10")
    r = result(run(resolve=resolve, only=("net.dns",)), "net.dns")
    assert r.status is Status.WARN
    assert r.summary == (f"{API} resolves to a private address (a VPC interface endpoint) but {REGISTRY} to a public "
                         "one: the com.amazonaws.us-east-1.ecr.dkr endpoint is missing or has private DNS off")
    assert r.fix is not None and r.fix.commands == (
        "aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Interface --vpc-id <vpc-id> "
        "--service-name com.amazonaws.us-east-1.ecr.dkr --subnet-ids <subnet-id> --private-dns-enabled",)


def test_without_an_image_there_is_nothing_to_resolve() -> None:
    r = result(run(image=None, only=("net.dns",)), "net.dns")
    assert r.status is Status.SKIP and "no image or registry given" in r.summary
    other = result(run(image="ghcr.io/org/app:1", only=("net.dns",)), "net.dns")
    assert other.status is Status.SKIP and other.summary == "ghcr.io is not an ECR registry"


def _isolated_env(home: Path, **extra: str) -> Dict[str, str]:
    settings = {"AWS_ACCESS_KEY_ID": "AKIAISOLATEDKEY0TEST", "AWS_SECRET_ACCESS_KEY": "isolated-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "DOCKER_HOST": f"unix://{home}/no-docker.sock", **extra}
    return hermetic_env(home, **settings)


def test_registry_name_unknown_to_the_resolver_fails_with_the_resolvers_own_words(tmp_path: Path, home: Path) -> None:
    """The real resolver (glibc, via /etc/resolv.conf) against a loopback DNS server that knows only two names."""
    conf = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
    root = write(tmp_path / "root", "/etc/resolv.conf", conf).parents[1]
    proc, _ = run_isolated(
        [ecrdoctor_exe(), "check", IMAGE, "--only", "net.dns", "--format", "json", "--root", str(root)],
        _isolated_env(home), tmp_path, resolv_conf="nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        dns_answers={API: "10.0.1.17", LAYERS: "52.217.1.10"}, timeout=60)
    r = result_of(report_of(proc), "net.dns")
    assert r["status"] == "fail"
    assert r["summary"] == f"cannot resolve {REGISTRY}: Name or service not known (resolver 127.0.0.1)"
    assert f"{API} -> 10.0.1.17 (private: a VPC interface endpoint answers)" in r["details"]
    assert r["fix"]["commands"] == [f"getent hosts {REGISTRY}"]


def test_resolver_that_never_answers_is_abandoned_after_3_seconds(tmp_path: Path, home: Path) -> None:
    root = write(tmp_path / "root", "/etc/resolv.conf", "nameserver 127.0.0.1\n").parents[1]
    proc, wall = run_isolated(
        [ecrdoctor_exe(), "check", IMAGE, "--only", "net.dns", "--format", "json", "--root", str(root)],
        _isolated_env(home), tmp_path, resolv_conf="nameserver 127.0.0.1\n", drop_dns=True, timeout=60)
    r = result_of(report_of(proc), "net.dns")
    assert r["status"] == "fail"
    assert r["summary"] == f"cannot resolve {API}: no answer from the resolver within 3 s (resolver 127.0.0.1)"
    assert wall < 6


# ================================================================================================================
# net.reach
# ================================================================================================================


def test_tls_to_all_three_hosts_with_amazon_certificates_passes(amazon_tls: TlsServer, pki: Pki) -> None:
    r = result(run(resolve=resolve_all(amazon_tls.address), ca_bundle=str(pki.amazon.ca_pem), only=("net.reach",)),
               "net.reach")
    assert r.status is Status.PASS, r.summary
    assert r.summary == (f"TLS to 3 hosts on 443 works ({API}, {REGISTRY}, {LAYERS}); certificates issued by "
                         "CN=Amazon RSA 2048 M02, O=Amazon")
    assert sorted(amazon_tls.handshakes) == sorted(HOSTS)  # SNI named each host, though all went to one address
    assert f"{API}:443 (the credential helper, no HTTPS_PROXY: direct): verified, issuer CN=Amazon RSA 2048 M02, " \
           "O=Amazon" in r.details[0]


def test_tls_interception_by_an_untrusted_corporate_ca_fails_with_the_ca_install_fix(
        corp_tls: TlsServer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    os_release(root, "al2023")
    r = result(run(resolve=resolve_all(corp_tls.address), root=str(root), only=("net.reach",)), "net.reach")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"TLS to {API} is intercepted: its certificate is issued by CN=Zscaler Intermediate "
                                "Root CA, O=Zscaler Inc., not Amazon, and this host does not trust that CA (")
    assert "docker says `x509: certificate signed by unknown authority`" in r.details
    assert r.fix is not None
    assert r.fix.commands == ("sudo cp corp-ca.pem /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust",
                              "export AWS_CA_BUNDLE=/etc/pki/tls/certs/ca-bundle.crt",
                              "sudo systemctl restart docker")
    assert r.fix.text.count("Get the root CA certificate") == 1  # said once for the three hosts


def test_interception_fix_on_ubuntu_and_on_an_unknown_distribution(corp_tls: TlsServer, tmp_path: Path) -> None:
    root = tmp_path / "root"
    os_release(root, "ubuntu")
    r = result(run(resolve=resolve_all(corp_tls.address), root=str(root), only=("net.reach",)), "net.reach")
    assert r.fix is not None and r.fix.commands == (
        "sudo cp corp-ca.crt /usr/local/share/ca-certificates/ && sudo update-ca-certificates",
        "export AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt", "sudo systemctl restart docker")
    unknown = result(run(resolve=resolve_all(corp_tls.address), root=str(tmp_path / "bare"), only=("net.reach",)),
                     "net.reach")
    assert unknown.fix is not None and len(unknown.fix.commands) == 5


def test_interception_by_a_trusted_ca_warns_that_the_aws_cli_needs_aws_ca_bundle(
        corp_tls: TlsServer, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    os_release(root, "ubuntu")
    r = result(run(resolve=resolve_all(corp_tls.address), ca_bundle=str(pki.corp.ca_pem), root=str(root),
                   only=("net.reach",)), "net.reach")
    assert r.status is Status.WARN
    assert r.summary == (f"TLS to {API} is intercepted by CN=Zscaler Intermediate Root CA, O=Zscaler Inc., a CA this "
                         "host trusts: docker and the credential helper accept it, the AWS CLI and boto3 do not "
                         "(AWS_CA_BUNDLE unset)")
    assert r.fix is not None and r.fix.commands == ("export AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",)
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    ok = result(run(resolve=resolve_all(corp_tls.address), ca_bundle=str(pki.corp.ca_pem), only=("net.reach",)),
                "net.reach")
    assert ok.status is Status.PASS and "Zscaler" in ok.summary


def test_amazon_certificate_this_host_cannot_verify_means_a_broken_ca_store(amazon_tls: TlsServer,
                                                                            tmp_path: Path) -> None:
    root = tmp_path / "root"
    os_release(root, "al2023")
    r = result(run(resolve=resolve_all(amazon_tls.address), root=str(root), only=("net.reach",)), "net.reach")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the certificate of {API} (CN=Amazon RSA 2048 M02, O=Amazon) does not verify on "
                                "this host: ")
    assert r.fix is not None and r.fix.commands == ("sudo dnf install -y ca-certificates && sudo update-ca-trust",
                                                    "sudo systemctl restart docker")


def test_connection_refused_off_ec2_gives_the_curl_checks(tmp_path: Path) -> None:
    closed = unused_loopback()
    r = result(run(resolve=resolve_all(closed), only=("net.reach",)), "net.reach")
    assert r.status is Status.FAIL
    assert r.summary == f"{API}:443 ({closed}) refused the connection: Connection refused"
    assert f"also: {REGISTRY}:443 ({closed}) refused the connection: Connection refused" in r.details
    assert r.fix is not None
    assert r.fix.commands == tuple(f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 https://{h}/"
                                   for h in HOSTS)


def test_unreachable_endpoints_on_ec2_get_the_vpc_endpoint_commands(tmp_path: Path) -> None:
    root = ec2_host(tmp_path / "root")
    r = result(run(resolve=resolve_all(unused_loopback()), root=str(root), only=("net.reach",)), "net.reach")
    assert r.status is Status.FAIL
    assert r.fix is not None and r.fix.commands == (
        "aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Interface --vpc-id <vpc-id> "
        "--service-name com.amazonaws.us-east-1.ecr.api --subnet-ids <subnet-id> --private-dns-enabled",
        "aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Interface --vpc-id <vpc-id> "
        "--service-name com.amazonaws.us-east-1.ecr.dkr --subnet-ids <subnet-id> --private-dns-enabled",
        "aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Gateway --vpc-id <vpc-id> "
        "--service-name com.amazonaws.s3 --route-table-ids <route-table-id>".replace("com.amazonaws.s3",
                                                                                     "com.amazonaws.us-east-1.s3"))


def test_a_server_that_accepts_and_never_answers_times_out_the_handshake(silent_server: SilentServer) -> None:
    report = run(resolve=resolve_all(silent_server.address), timeout=4, only=("net.reach",))
    r = result(report, "net.reach")
    assert r.status is Status.FAIL
    assert r.summary == f"{API}:443 accepted the connection but sent no TLS answer within 3 s"
    assert report.duration_ms < 4000


def test_through_https_proxy_the_helper_and_dockerd_tunnel_with_connect(
        amazon_tls: TlsServer, pki: Pki, connect_proxy: ConnectProxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    connect_proxy.routes = {h: amazon_tls.address for h in HOSTS}
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    root = write(tmp_path / "root", DROPIN, f'[Service]\nEnvironment="HTTPS_PROXY={connect_proxy.url}"\n').parents[4]
    # --resolve points at a closed address: only the proxy can have reached the hosts
    r = result(run(resolve=resolve_all(unused_loopback()), ca_bundle=str(pki.amazon.ca_pem), root=str(root),
                   only=("net.reach",)), "net.reach")
    assert r.status is Status.PASS, r.summary
    assert sorted(connect_proxy.requests) == sorted(f"{h}:443" for h in HOSTS)
    assert f"{API}:443 (the credential helper, HTTPS_PROXY={connect_proxy.url}): verified" in r.details[0]


def test_no_proxy_sends_amazonaws_direct(amazon_tls: TlsServer, pki: Pki, connect_proxy: ConnectProxy,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    monkeypatch.setenv("no_proxy", "localhost,.amazonaws.com")
    r = result(run(resolve=resolve_all(amazon_tls.address), ca_bundle=str(pki.amazon.ca_pem), only=("net.reach",)),
               "net.reach")
    assert r.status is Status.PASS
    assert connect_proxy.requests == []
    assert "no_proxy entry '.amazonaws.com' exempts it: direct" in r.details[0]


def test_proxy_that_wants_credentials_answers_407(connect_proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    connect_proxy.password = "proxy-pass-never-shown"
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    r = result(run(resolve=resolve_all(unused_loopback(), hosts=(REGISTRY, LAYERS)), only=("net.reach",)),
               "net.reach")
    assert r.status is Status.FAIL
    assert r.summary == (f"the proxy answered CONNECT {API}:443 with 407 Proxy Authentication Required (proxy "
                         f"{connect_proxy.url}, used by the credential helper)")
    assert r.fix is not None and "wants credentials" in r.fix.text


def test_proxy_credentials_are_sent_and_never_shown(amazon_tls: TlsServer, pki: Pki, connect_proxy: ConnectProxy,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    connect_proxy.password = "proxy-pass-never-shown"
    connect_proxy.routes = {API: amazon_tls.address}
    monkeypatch.setenv("HTTPS_PROXY", f"http://proxyuser:proxy-pass-never-shown@127.0.0.1:{connect_proxy.port}")
    report = run(resolve=resolve_all(amazon_tls.address, hosts=(REGISTRY, LAYERS)), ca_bundle=str(pki.amazon.ca_pem),
                 only=("net.reach",))
    assert result(report, "net.reach").status is Status.PASS
    assert connect_proxy.auth_seen[0] is not None and connect_proxy.auth_seen[0].startswith("Basic ")
    assert "proxy-pass-never-shown" not in json.dumps(report.to_dict())


def test_proxy_that_refuses_the_host_answers_403(connect_proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    r = result(run(resolve=resolve_all(unused_loopback(), hosts=(REGISTRY, LAYERS)), only=("net.reach",)),
               "net.reach")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the proxy answered CONNECT {API}:443 with 403 Forbidden")
    assert r.fix is not None and "ask for *.amazonaws.com" in r.fix.text


def test_proxy_that_is_not_listening_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = unused_loopback()
    monkeypatch.setenv("HTTPS_PROXY", f"http://{closed}:443")
    r = result(run(resolve=resolve_all(unused_loopback(), hosts=(REGISTRY, LAYERS)), only=("net.reach",)),
               "net.reach")
    assert r.status is Status.FAIL
    assert r.summary == (f"the proxy http://{closed}:443 refused the connection: Connection refused (the credential "
                         f"helper, for {API})")
    assert r.fix is not None and r.fix.commands[0] == (f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 "
                                                       f"-x http://{closed}:443 https://{API}/")


def test_dockerd_without_the_shells_proxy_cannot_reach_the_registry(
        amazon_tls: TlsServer, pki: Pki, connect_proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    connect_proxy.routes = {h: amazon_tls.address for h in HOSTS}
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost")
    r = result(run(resolve=resolve_all(unused_loopback()), ca_bundle=str(pki.amazon.ca_pem), only=("net.reach",)),
               "net.reach")
    assert r.status is Status.FAIL
    assert r.summary == (f"dockerd goes direct to {REGISTRY} and gets no answer, but the shell's "
                         f"HTTPS_PROXY={connect_proxy.url} reaches it: dockerd needs the proxy")
    assert r.fix is not None and r.fix.commands == (
        "sudo mkdir -p /etc/systemd/system/docker.service.d",
        "printf '[Service]\\nEnvironment=\"HTTPS_PROXY=" + connect_proxy.url
        + "\" \"NO_PROXY=localhost,127.0.0.1,169.254.169.254,169.254.170.2\"\\n' | sudo tee " + DROPIN,
        "sudo systemctl daemon-reload && sudo systemctl restart docker")


def test_net_reach_skips_without_an_ecr_target() -> None:
    assert result(run(image=None, only=("net.reach",)), "net.reach").status is Status.SKIP


# ================================================================================================================
# Never hang: every endpoint blackholed
# ================================================================================================================


def test_every_endpoint_blackholed_the_run_ends_in_time_and_names_the_network(
        tmp_path: Path, home: Path, dockerd: Dockerd) -> None:  # noqa: F811
    """SYNs to 443 dropped by iptables in a network namespace of its own; the probes reach it through --resolve,
    botocore through AWS_ENDPOINT_URL; dockerd (a real one, over its unix socket) answers, so the only cause is the
    network."""
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {REGISTRY: "ecr-login"}}))
    args = [ecrdoctor_exe(), "check", IMAGE, "--timeout", "8", "--format", "json"]
    for h in HOSTS:
        args += ["--resolve", f"{h}:443:127.0.0.1"]
    env = _isolated_env(home, AWS_ENDPOINT_URL="https://127.0.0.1:443", DOCKER_HOST=dockerd.url)
    proc, wall = run_isolated(args, env, tmp_path, drop_tcp_443=True, timeout=60)
    doc = report_of(proc)
    assert wall < 9.0, f"the run took {wall:.1f} s"
    diagnosis = doc["diagnosis"]
    assert isinstance(diagnosis, list) and diagnosis and str(diagnosis[0]).startswith("net."), diagnosis
    reach = result_of(doc, "net.reach")
    assert reach["status"] == "fail"
    assert reach["summary"] == f"no answer from {API}:443 within 3 s"
    assert f"also: no answer from {REGISTRY}:443 within 3 s" in reach["details"]
    statuses = {r["id"]: (r["status"], r["summary"]) for r in doc["results"]}  # type: ignore[union-attr]
    assert statuses["net.dns"][0] == "pass" and statuses["runtime.docker"][0] == "pass"
    # every check that needed AWS says so in its own words, or was cut off by the run's deadline
    for cid in ("aws.identity", "iam.auth-token"):
        status, summary = statuses[cid]
        assert status in ("fail", "error", "skip"), (cid, status, summary)
        assert status == "skip" or any(w in summary.lower() for w in ("timed out", "timeout", "could not connect",
                                                                       "no answer")), (cid, summary)


# ================================================================================================================
# net.proxy
# ================================================================================================================


def test_no_proxy_anywhere_passes() -> None:
    r = result(run(only=("net.proxy",)), "net.proxy")
    assert r.status is Status.PASS
    assert r.summary == "no proxy: the credential helper, the AWS CLI and dockerd all connect directly"


def test_shell_and_dockerd_dropin_with_the_same_proxy_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    root = write(tmp_path / "root", DROPIN, '[Service]\nEnvironment="HTTPS_PROXY=http://proxy.corp.example:3128" '
                                            '"NO_PROXY=localhost"\n').parents[4]
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.PASS, r.summary
    assert r.summary == ("the credential helper uses http://proxy.corp.example:3128, dockerd "
                         "http://proxy.corp.example:3128; NO_PROXY covers what it must")
    assert f"dockerd ({DROPIN}): HTTPS http://proxy.corp.example:3128, HTTP -, NO_PROXY localhost" in r.details


def test_proxy_only_in_the_shell_warns_that_docker_pull_goes_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example")
    r = result(run(only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary == (f"the shell sends HTTPS through http://proxy.corp.example:3128 but dockerd has no proxy for "
                         f"{REGISTRY}: the credential helper uses the proxy, docker pull goes direct")
    assert r.fix is not None and r.fix.commands == (
        "sudo mkdir -p /etc/systemd/system/docker.service.d",
        "printf '[Service]\\nEnvironment=\"HTTPS_PROXY=http://proxy.corp.example:3128\" \"NO_PROXY=localhost,"
        ".corp.example,127.0.0.1,169.254.169.254,169.254.170.2\"\\n' | sudo tee " + DROPIN,
        "sudo systemctl daemon-reload && sudo systemctl restart docker")


def test_proxy_only_in_daemon_json_warns_that_the_helper_asks_directly(tmp_path: Path) -> None:
    root = write(tmp_path / "root", "/etc/docker/daemon.json", json.dumps(
        {"proxies": {"https-proxy": "http://proxy.corp.example:3128", "no-proxy": "localhost"}})).parents[2]
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary == ("dockerd pulls through http://proxy.corp.example:3128 but the shell has no HTTPS proxy for "
                         f"{API}: the credential helper asks for tokens directly")
    assert r.fix is not None and r.fix.commands == (
        "export HTTPS_PROXY=http://proxy.corp.example:3128 NO_PROXY=localhost,127.0.0.1,169.254.169.254,169.254.170.2",)


def test_daemon_json_proxies_override_the_systemd_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://json-proxy:3128")
    root = write(tmp_path / "root", DROPIN, '[Service]\nEnvironment="HTTPS_PROXY=http://unit-proxy:3128"\n').parents[4]
    write(root, "/etc/docker/daemon.json", json.dumps({"proxies": {"https-proxy": "http://json-proxy:3128"}}))
    write(root, "/usr/lib/systemd/system/docker.service",
          "[Service]\nEnvironmentFile=-/etc/sysconfig/docker\nExecStart=/usr/bin/dockerd\n")
    write(root, "/etc/sysconfig/docker", "NO_PROXY=169.254.169.254\n")
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.PASS, r.summary
    assert ("dockerd (/etc/docker/daemon.json, /etc/sysconfig/docker): HTTPS http://json-proxy:3128, HTTP -, "
            "NO_PROXY 169.254.169.254") in r.details


def test_shell_and_dockerd_with_different_proxies_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy-a:3128")
    root = write(tmp_path / "root", DROPIN, '[Service]\nEnvironment="HTTPS_PROXY=http://proxy-b:3128"\n').parents[4]
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary == ("the shell uses the proxy http://proxy-a:3128 but dockerd http://proxy-b:3128: the helper "
                         "and the pull leave through different proxies")


def test_dropin_written_but_dockerd_not_restarted_fails(tmp_path: Path, dockerd: Dockerd,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    root = write(tmp_path / "root", DROPIN,
                 '[Service]\nEnvironment="HTTPS_PROXY=http://proxy.corp.example:3128"\n').parents[4]
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.FAIL
    assert r.summary == (f"dockerd runs with HTTPS proxy -, but {DROPIN} sets http://proxy.corp.example:3128: it was "
                         "not restarted since")
    assert r.fix is not None and r.fix.commands == ("sudo systemctl daemon-reload && sudo systemctl restart docker",)


def test_running_dockerd_reports_the_proxy_its_dropin_sets(tmp_path: Path, proxied_dockerd: ProxiedDockerd,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", proxied_dockerd.url)
    monkeypatch.setenv("HTTPS_PROXY", proxied_dockerd.https_proxy)
    root = write(tmp_path / "root", DROPIN, f'[Service]\nEnvironment="HTTPS_PROXY={proxied_dockerd.https_proxy}" '
                                            f'"NO_PROXY={proxied_dockerd.no_proxy}"\n').parents[4]
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.PASS, r.summary
    assert r.details[1] == (f"dockerd (the running dockerd (docker info)): HTTPS {proxied_dockerd.https_proxy}, "
                            f"HTTP -, NO_PROXY {proxied_dockerd.no_proxy}")


def test_http_proxy_captures_imds_on_ec2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    root = ec2_host(tmp_path / "root")
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary == ("the credential helper and the AWS CLI send requests for the instance metadata service (IMDS)"
                         " (169.254.169.254) to the proxy http://proxy.corp.example:3128: NO_PROXY lacks "
                         "169.254.169.254")
    assert r.fix is not None and r.fix.commands == ("export NO_PROXY=localhost,169.254.169.254",)


def test_a_cidr_in_no_proxy_exempts_imds_for_the_helper_but_not_for_the_aws_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "169.254.0.0/16")
    r = result(run(root=str(ec2_host(tmp_path / "root")), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary.startswith("the AWS CLI sends requests for the instance metadata service (IMDS)")
    assert "a CIDR range such as 169.254.0.0/16 exempts it for Go programs only; botocore needs the address" in \
        r.details


def test_ecs_container_credentials_endpoint_must_be_in_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
    r = result(run(only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert "the ECS container credentials endpoint (169.254.170.2)" in r.summary
    assert r.fix is not None and r.fix.commands == ("export NO_PROXY=169.254.170.2",)


def test_star_dot_in_no_proxy_splits_the_helper_from_the_aws_cli(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "*.amazonaws.com")
    root = write(tmp_path / "root", DROPIN, '[Service]\nEnvironment="HTTPS_PROXY=http://proxy.corp.example:3128" '
                                            '"NO_PROXY=*.amazonaws.com"\n').parents[4]
    r = result(run(root=str(root), only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary == (f"the credential helper and the AWS CLI disagree about {API}: helper direct (NO_PROXY entry "
                         "'*.amazonaws.com' exempts it: direct), AWS CLI via http://proxy.corp.example:3128 "
                         "(HTTPS_PROXY=http://proxy.corp.example:3128)")
    assert r.fix is not None and r.fix.commands == ("export NO_PROXY=*.amazonaws.com,.amazonaws.com",)


def test_proxy_in_front_of_private_vpc_endpoints_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    root = write(tmp_path / "root", DROPIN,
                 '[Service]\nEnvironment="HTTPS_PROXY=http://proxy.corp.example:3128"\n').parents[4]
    resolve = (f"{API}:443:10.0.1.17", f"{REGISTRY}:443:10.0.2.9", f"{LAYERS}:443:52.217.1.10")
    r = result(run(root=str(root), resolve=resolve, only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary == (f"{API} resolves to the VPC endpoint 10.0.1.17, but the credential helper sends it to the "
                         "proxy http://proxy.corp.example:3128: NO_PROXY lacks .amazonaws.com")
    assert any(d.startswith(f"also (warn): {REGISTRY} resolves to the VPC endpoint 10.0.2.9, but dockerd")
               for d in r.details)
    assert r.fix is not None and r.fix.commands[0] == "export NO_PROXY=.amazonaws.com"


def test_unparseable_proxy_value_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:notaport")
    r = result(run(image=None, only=("net.proxy",)), "net.proxy")
    assert r.status is Status.WARN
    assert r.summary.startswith("HTTPS_PROXY is not a usable proxy address: ")


# ================================================================================================================
# net.vpc-endpoints (moto's EC2)
# ================================================================================================================


class Vpc:
    """A VPC in moto with one subnet, its own route table and an instance in it."""

    def __init__(self, moto: MotoServer, region: str = "us-east-1") -> None:
        self.ec2 = moto.boto3_client("ec2", region)
        self.region = region
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.rtb = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        self.ec2.associate_route_table(RouteTableId=self.rtb, SubnetId=self.subnet)
        self.instance = self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                               SubnetId=self.subnet)["Instances"][0]["InstanceId"]

    def interface(self, service: str, private_dns: bool = True, policy: Optional[dict[str, object]] = None) -> str:
        extra = {"PolicyDocument": json.dumps(policy)} if policy else {}
        return str(self.ec2.create_vpc_endpoint(
            VpcId=self.vpc, ServiceName=f"com.amazonaws.{self.region}.{service}", VpcEndpointType="Interface",
            SubnetIds=[self.subnet], PrivateDnsEnabled=private_dns, **extra)["VpcEndpoint"]["VpcEndpointId"])

    def gateway(self, route_tables: Sequence[str], policy: Optional[dict[str, object]] = None) -> str:
        extra = {"PolicyDocument": json.dumps(policy)} if policy else {}
        return str(self.ec2.create_vpc_endpoint(
            VpcId=self.vpc, ServiceName=f"com.amazonaws.{self.region}.s3", VpcEndpointType="Gateway",
            RouteTableIds=list(route_tables), **extra)["VpcEndpoint"]["VpcEndpointId"])

    def nat(self) -> str:
        alloc = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = self.ec2.create_nat_gateway(SubnetId=self.subnet, AllocationId=alloc)["NatGateway"]["NatGatewayId"]
        self.ec2.create_route(RouteTableId=self.rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        return str(nat)

    def full(self) -> None:
        self.interface("ecr.api")
        self.interface("ecr.dkr")
        self.gateway([self.rtb])


@pytest.fixture
def vpc(moto: MotoServer) -> Vpc:
    return Vpc(moto)


def _vpc_run(tmp_path: Path, instance: Optional[str], image: str = IMAGE, **opts: object) -> Result:
    root = ec2_host(tmp_path / "root", instance)
    return result(run(image=image, catalogue=VPC, root=str(root), **opts), "net.vpc-endpoints")


def test_private_subnet_with_all_three_endpoints_passes(vpc: Vpc, tmp_path: Path) -> None:
    vpc.full()
    r = _vpc_run(tmp_path, vpc.instance, resolve=(f"{API}:443:10.0.1.17", f"{REGISTRY}:443:10.0.1.18",
                                                  f"{LAYERS}:443:52.217.1.10"))
    assert r.status is Status.PASS, (r.summary, r.details)
    assert r.summary.startswith(f"{vpc.instance} in {vpc.vpc}/{vpc.subnet} reaches ECR through VPC endpoints (vpce-")
    assert r.evidence["route_table"] == vpc.rtb and r.evidence["egress"] is None


def test_nat_gateway_without_endpoints_passes(vpc: Vpc, tmp_path: Path) -> None:
    nat = vpc.nat()
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.PASS
    assert r.summary == (f"{vpc.instance} in {vpc.vpc}/{vpc.subnet} reaches ECR through {nat} (route table "
                         f"{vpc.rtb}), no ECR VPC endpoints")


def test_private_subnet_without_endpoints_or_nat_fails_with_the_three_create_commands(vpc: Vpc,
                                                                                       tmp_path: Path) -> None:
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.FAIL
    assert r.summary == (f"no com.amazonaws.us-east-1.ecr.api interface endpoint in {vpc.vpc}, and {vpc.subnet} has "
                         f"no default route (NAT or internet gateway): {API} is unreachable")
    assert r.fix is not None and r.fix.commands == (
        f"aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Interface --vpc-id {vpc.vpc} "
        f"--service-name com.amazonaws.us-east-1.ecr.api --subnet-ids {vpc.subnet} --private-dns-enabled",
        f"aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Interface --vpc-id {vpc.vpc} "
        f"--service-name com.amazonaws.us-east-1.ecr.dkr --subnet-ids {vpc.subnet} --private-dns-enabled",
        f"aws ec2 create-vpc-endpoint --region us-east-1 --vpc-endpoint-type Gateway --vpc-id {vpc.vpc} "
        f"--service-name com.amazonaws.us-east-1.s3 --route-table-ids {vpc.rtb}")


def test_ecr_dkr_endpoint_with_private_dns_off_fails(vpc: Vpc, tmp_path: Path) -> None:
    vpc.interface("ecr.api")
    dkr = vpc.interface("ecr.dkr", private_dns=False)
    vpc.gateway([vpc.rtb])
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the com.amazonaws.us-east-1.ecr.dkr endpoint {dkr} has private DNS off")
    assert r.fix is not None and r.fix.commands == (
        f"aws ec2 modify-vpc-endpoint --region us-east-1 --vpc-endpoint-id {dkr} --private-dns-enabled",)


def test_s3_gateway_not_on_the_subnets_route_table_fails(vpc: Vpc, tmp_path: Path) -> None:
    vpc.interface("ecr.api")
    vpc.interface("ecr.dkr")
    other = vpc.ec2.create_route_table(VpcId=vpc.vpc)["RouteTable"]["RouteTableId"]
    s3 = vpc.gateway([other])
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the S3 gateway endpoint {s3} is not associated with the subnet's route table "
                                f"{vpc.rtb}")
    assert r.fix is not None and r.fix.commands == (
        f"aws ec2 modify-vpc-endpoint --region us-east-1 --vpc-endpoint-id {s3} --add-route-table-ids {vpc.rtb}",)


def test_endpoint_policy_that_denies_the_pull_fails_even_with_nat(vpc: Vpc, tmp_path: Path) -> None:
    vpc.nat()
    deny = {"Statement": [{"Sid": "NoPulls", "Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage",
                           "Resource": "*"}, {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    vpc.interface("ecr.api")
    dkr = vpc.interface("ecr.dkr", policy=deny)
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the com.amazonaws.us-east-1.ecr.dkr endpoint {dkr} is in the path of every pull, and "
                                "its policy denies ecr:BatchGetImage (statement 'NoPulls'")
    assert r.fix is not None and r.fix.commands[1] == (
        f"aws ec2 modify-vpc-endpoint --region us-east-1 --vpc-endpoint-id {dkr} --reset-policy")


def test_s3_gateway_policy_without_the_layer_bucket_fails(vpc: Vpc, tmp_path: Path) -> None:
    vpc.interface("ecr.api")
    vpc.interface("ecr.dkr")
    only_ours = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::my-team-bucket/*"}]}
    s3 = vpc.gateway([vpc.rtb], policy=only_ours)
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.FAIL
    assert r.summary == (f"the com.amazonaws.us-east-1.s3 endpoint {s3} is in the path of every pull, and its policy "
                         "allows no s3:GetObject for the pre-signed layer requests")


def test_endpoint_policy_with_conditions_warns(vpc: Vpc, tmp_path: Path) -> None:
    vpc.nat()
    conditional = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*",
                                  "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]}
    vpc.interface("ecr.api", policy=conditional)
    r = _vpc_run(tmp_path, vpc.instance)
    assert r.status is Status.WARN
    assert "its policy decides ecr:GetAuthorizationToken by conditions ecrdoctor does not evaluate" in r.summary


def test_endpoint_with_private_dns_but_public_answers_means_a_custom_resolver(vpc: Vpc, tmp_path: Path) -> None:
    vpc.full()
    root = ec2_host(tmp_path / "root", vpc.instance)
    write(root, "/etc/resolv.conf", "nameserver 10.20.30.40\n")
    resolve = (f"{API}:443:10.0.1.17", f"{REGISTRY}:443:52.94.1.10", f"{LAYERS}:443:52.217.1.10")
    r = result(run(catalogue=VPC, root=str(root), resolve=resolve), "net.vpc-endpoints")
    assert r.status is Status.FAIL
    assert r.summary.endswith(f"has private DNS, but this host resolves {REGISTRY} to the public 52.94.1.10: its "
                              "resolver (10.20.30.40) does not answer from the VPC's private zone")


def test_registry_in_another_region_from_an_endpoint_only_subnet_fails(vpc: Vpc, tmp_path: Path) -> None:
    vpc.full()
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1.4"
    r = _vpc_run(tmp_path, vpc.instance, image=image)
    assert r.status is Status.FAIL
    assert r.summary == (f"the registry is in us-west-2 but this instance in us-east-1, whose subnet {vpc.subnet} has "
                         "no NAT or internet route: VPC endpoints do not serve cross-Region requests")


def test_subnet_without_its_own_route_table_uses_the_vpcs_main_table(moto: MotoServer, tmp_path: Path) -> None:
    ec2 = moto.boto3_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    r = _vpc_run(tmp_path, instance["InstanceId"])
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
    assert r.status is Status.FAIL
    assert any(f"route table {main['RouteTableId']} (the VPC's main table), no default route" in d for d in r.details)


def test_instance_id_and_region_from_imds_when_dmi_has_none(vpc: Vpc, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    vpc.nat()
    imds = InstanceImds(vpc.instance, "us-east-1")
    try:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
        r = _vpc_run(tmp_path, None)
    finally:
        imds.close()
    assert r.status is Status.PASS, r.summary
    assert r.summary.startswith(f"{vpc.instance} in {vpc.vpc}")


def test_instance_not_found_with_these_credentials_skips(moto: MotoServer, tmp_path: Path) -> None:
    r = _vpc_run(tmp_path, "i-0123456789abcdef0")
    assert r.status is Status.SKIP
    assert r.summary == ("instance i-0123456789abcdef0 not found in us-east-1 with these credentials (another "
                         "account's instance?)")


def test_ec2_api_that_does_not_answer_is_an_error_not_a_verdict(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOENDPOINTKEY000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # AWS_ENDPOINT_URL: the hermetic closed port 9
    r = _vpc_run(tmp_path, "i-0123456789abcdef0")
    assert r.status is Status.ERROR
    assert r.summary.startswith("ec2:DescribeInstances for i-0123456789abcdef0 in us-east-1 failed: Could not connect")


def test_off_ec2_there_is_no_vpc_to_look_at(moto: MotoServer) -> None:
    r = result(run(catalogue=VPC), "net.vpc-endpoints")
    assert r.status is Status.SKIP and r.summary.startswith("not an EC2 instance")


def test_without_credentials_the_vpc_cannot_be_read(moto: MotoServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = _vpc_run(tmp_path, "i-0123456789abcdef0")
    assert r.status is Status.SKIP
    assert r.summary == "no AWS credentials to read the VPC with (aws.credentials says why)"


# ================================================================================================================
# the probe seam itself
# ================================================================================================================


def test_resolve_prefers_the_override_and_bounds_the_system_resolver() -> None:
    probe = SocketProbe(overrides={(API, 443): "10.0.1.17", (API, 8443): "10.0.1.18"})
    found = probe.resolve(API, 1.0)
    assert found.ok and found.overridden and found.addresses == ("10.0.1.17", "10.0.1.18")
    local = probe.resolve("localhost", 1.0)  # /etc/hosts: the system resolver without the network
    assert local.ok and not local.overridden and "127.0.0.1" in local.addresses


def test_tcp_uses_the_override_for_exactly_that_port(silent_server: SilentServer) -> None:
    probe = SocketProbe(overrides={(API, 443): silent_server.address})
    ok = probe.tcp(API, 443, 2.0)
    assert ok.ok and ok.address == silent_server.address


def test_tls_reports_the_stage_it_stopped_at(silent_server: SilentServer, amazon_tls: TlsServer, pki: Pki) -> None:
    probe = SocketProbe(overrides={(API, 443): silent_server.address, (REGISTRY, 443): amazon_tls.address},
                        ca_bundle=str(pki.amazon.ca_pem))
    hung = probe.tls(API, 443, 0.5)
    assert (hung.stage, hung.timed_out, hung.error) == ("tls", True, "no TLS answer within 0.5 s")
    done = probe.tls(REGISTRY, 443, 2.0)
    assert done.ok and done.stage == "done" and done.version in ("TLSv1.2", "TLSv1.3")
    assert done.subject == {"CN": API} and done.issuer["O"] == "Amazon"
    bad = probe.tls(API, 443, 1.0, proxy="socks5://127.0.0.1:1080")
    assert bad.stage == "proxy" and bad.error == "socks5 proxies are not probed"

