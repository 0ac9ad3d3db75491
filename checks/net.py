"""The network path of a pull: names, TLS to the three hosts a pull touches, the proxies each client really uses,
and, on EC2, the VPC endpoints a private subnet needs."""

from __future__ import annotations

import functools
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ecrdoctor.checks.runtime import daemon_config, daemon_probe

from ecrdoctor.api import Finding, Outcome, Status, check, conclude, error, skip
from ecrdoctor.aws import client_error_code, client_error_message
from ecrdoctor.context import Context
from ecrdoctor.distro import os_id
from ecrdoctor.endpoints import (
    Endpoint,
    ResolvConf,
    address_scope,
    describe_name,
    issued_by_amazon,
    parse_resolv_conf,
    registry_endpoints,
    resolver_kind,
)
from ecrdoctor.iampolicy import CallerPrincipal, Decision, PolicyError, evaluate, parse_caller, parse_policy
from ecrdoctor.imdsprobe import (
    INSTANCE_ID_PATH,
    REGION_PATH,
    TOKEN_HEADER,
    TOKEN_PATH,
    TOKEN_TTL_HEADER,
    ImdsAnswerError,
    metadata_disabled,
    metadata_endpoint,
    parse_instance_id,
    parse_region,
    parse_token,
)
from ecrdoctor.kubeletconfig import parse_environment_file, parse_units
from ecrdoctor.net import ProbeResult, TlsResult
from ecrdoctor.proxyenv import (
    ProxyEnvError,
    ProxySettings,
    add_to_no_proxy,
    display_proxy,
    go_decide,
    go_settings,
    parse_proxy_url,
    python_decide,
    python_settings,
    same_proxy,
)

T = TypeVar("T")

CONNECT_TIMEOUT = 3.0  # SPEC §8: connect 3 s; it bounds each step of a probe (resolve, connect, CONNECT, handshake)
IMDS_TIMEOUT = 1.0  # as botocore's own IMDS client
SYSTEMD_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
DOCKER_DROPIN = "/etc/systemd/system/docker.service.d/http-proxy.conf"
IMDS_HOSTS = ("169.254.169.254",)
ECS_CREDENTIALS_HOST = "169.254.170.2"
BASE_NO_PROXY = ("localhost", "127.0.0.1", "169.254.169.254", "169.254.170.2")
RESTART_DOCKER = "sudo systemctl daemon-reload && sudo systemctl restart docker"
HELPER = "the credential helper"


def _ecr_target(ctx: Context) -> Optional[str]:
    if ctx.registry is None:
        return "no image or registry given: there are no ECR hosts to look at"
    if not ctx.registry.is_ecr:
        return f"{ctx.registry.host} is not an ECR registry"
    return None


def target_endpoints(ctx: Context) -> Tuple[Endpoint, ...]:
    """The API, registry and S3 layer hosts of the target registry, in the order a pull uses them."""
    return registry_endpoints(ctx.registry) if ctx.registry is not None else ()


def _probe_timeout(ctx: Context) -> float:
    """The per-step bound of one probe: 3 s, less when the run's deadline is closer."""
    return max(0.2, round(min(CONNECT_TIMEOUT, ctx.remaining() - 0.3), 1))


def _parallel(jobs: Sequence[Callable[[], T]], limit: float) -> List[Optional[T]]:
    """Run jobs on daemon threads at once; a job still running after `limit` seconds counts as None."""
    out: List[Optional[T]] = [None] * len(jobs)

    def run(i: int, job: Callable[[], T]) -> None:
        out[i] = job()

    threads = [threading.Thread(target=run, args=(i, job), name="net-probe", daemon=True) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + limit
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return list(out)


# -- shared facts: DNS answers and dockerd's proxy ----------------------------------------------------------------


@dataclass(frozen=True)
class DnsAnswer:
    """What one endpoint's name resolved to, and what kind of addresses those are."""

    endpoint: Endpoint
    result: ProbeResult

    @property
    def scopes(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(address_scope(a) for a in self.result.addresses))

    @property
    def private(self) -> bool:
        return "private" in self.scopes

    @property
    def public(self) -> bool:
        return self.scopes == ("public",)


def dns_answers(ctx: Context) -> Tuple[DnsAnswer, ...]:
    """Each target endpoint's name resolved once per run (--resolve entries answer for their host)."""

    def resolve_all() -> Tuple[DnsAnswer, ...]:
        endpoints = target_endpoints(ctx)
        limit = _probe_timeout(ctx)
        found = _parallel([functools.partial(ctx.net.resolve, ep.host, limit) for ep in endpoints], limit + 0.5)
        return tuple(DnsAnswer(ep, r or ProbeResult(ep.host, False, int(limit * 1000),
                                                      error=f"no answer from the resolver within {limit:g} s",
                                                      timed_out=True))
                     for ep, r in zip(endpoints, found))

    return ctx.fact("net.dns", resolve_all)


@dataclass(frozen=True)
class DaemonProxy:
    """The proxy dockerd pulls through: what the running daemon reports, and what its config files set."""

    configured: ProxySettings  # from the systemd unit, its drop-ins and EnvironmentFiles, then daemon.json
    origins: Mapping[str, str] = field(default_factory=dict)  # "https" -> the file that set it
    running: Optional[ProxySettings] = None  # `docker info` HttpProxy/HttpsProxy/NoProxy, when the daemon answered
    daemon_error: Optional[str] = None

    @property
    def effective(self) -> ProxySettings:
        return self.running if self.running is not None else self.configured

    @property
    def source(self) -> str:
        if self.running is not None:
            return "the running dockerd (docker info)"
        files = sorted(set(self.origins.values()))
        return ", ".join(files) if files else "dockerd's configuration (no proxy set)"


def _systemd_env(ctx: Context) -> Tuple[Dict[str, str], Dict[str, str]]:
    """docker.service's environment: its unit, then drop-ins by file name (/etc over /run over /usr/lib), then
    EnvironmentFile= files (which override Environment=). Values, and the file that set each variable."""
    unit = next((f"{d}/docker.service" for d in SYSTEMD_DIRS if ctx.host.exists(f"{d}/docker.service")), None)
    dropins: Dict[str, str] = {}
    for d in reversed(SYSTEMD_DIRS):  # a drop-in in /etc replaces one of the same name further down
        for name in ctx.host.listdir(f"{d}/docker.service.d").names:
            if name.endswith(".conf"):
                dropins[name] = f"{d}/docker.service.d/{name}"
    files = ([unit] if unit else []) + [dropins[n] for n in sorted(dropins)]
    env: Dict[str, str] = {}
    origin: Dict[str, str] = {}
    env_files: List[str] = []
    for path in files:
        settings = parse_units([(path, ctx.host.read_text(path).text or "")])
        for name, value in settings.environment:
            env[name], origin[name] = value, path
        env_files.extend(p for p, _ in settings.environment_files)
    for path in env_files:
        for name, value in parse_environment_file(ctx.host.read_text(path).text or "").items():
            env[name], origin[name] = value, path
    return env, origin


def daemon_proxy(ctx: Context) -> DaemonProxy:
    """dockerd's proxy, once per run (host-side.md §1.7, D2): daemon.json `proxies` override the environment the
    systemd unit gives it (docs.docker.com/engine/daemon/proxy); `docker info` shows what it runs with."""

    def load() -> DaemonProxy:
        env, origin = _systemd_env(ctx)
        configured = go_settings(env)
        origins = {key: origin.get(name, "") for key, name in configured.names}
        values = {"http": configured.http_proxy, "https": configured.https_proxy, "no": configured.no_proxy}
        names = dict(configured.names)
        cfg = daemon_config(ctx)
        proxies = cfg.config.proxies if cfg.config is not None else None
        if proxies is not None:
            for key, value in (("http", proxies.http_proxy), ("https", proxies.https_proxy), ("no", proxies.no_proxy)):
                if value:
                    values[key], names[key], origins[key] = value, f"{key}-proxy", cfg.path
        configured = ProxySettings(values["http"], values["https"], values["no"], tuple(names.items()))
        probe = daemon_probe(ctx)
        running: Optional[ProxySettings] = None
        if probe.reachable:
            info = probe.info
            running = ProxySettings(str(info.get("HttpProxy") or "") or None, str(info.get("HttpsProxy") or "") or None,
                                    str(info.get("NoProxy") or "") or None,
                                    (("http", "HttpProxy"), ("https", "HttpsProxy"), ("no", "NoProxy")))
        return DaemonProxy(configured, origins, running, probe.error)

    return ctx.fact("net.daemon_proxy", load)


def _dropin_commands(https_proxy: str, http_proxy: Optional[str], no_proxy: str) -> Tuple[str, ...]:
    """Give dockerd a proxy through a systemd drop-in, then restart it (host-side.md §1.7)."""
    assignments = [f"HTTPS_PROXY={https_proxy}"] + ([f"HTTP_PROXY={http_proxy}"] if http_proxy else [])
    assignments.append(f"NO_PROXY={no_proxy}")
    line = "[Service]\\nEnvironment=" + " ".join(f'"{a}"' for a in assignments) + "\\n"
    return (f"sudo mkdir -p {DOCKER_DROPIN.rsplit('/', 1)[0]}",
            f"printf {shlex.quote(line)} | sudo tee {DOCKER_DROPIN}",
            RESTART_DOCKER)


# -- net.dns ---------------------------------------------------------------------------------------------------


def _resolvers(ctx: Context) -> Tuple[str, ResolvConf, List[str]]:
    """The resolv.conf in use (under --root), parsed, and notes; systemd-resolved's upstreams when it is a stub."""
    read = ctx.host.read_text("/etc/resolv.conf")
    conf = parse_resolv_conf(read.text or "")
    notes: List[str] = []
    where = "/etc/resolv.conf"
    if ctx.options.root:
        notes.append(f"the names were resolved by this machine's resolver; the resolv.conf shown is the one under "
                     f"--root {ctx.options.root}")
    if read.text is None:
        notes.append(f"/etc/resolv.conf: {read.error}")
    elif conf.stub:
        upstream = parse_resolv_conf(ctx.host.read_text("/run/systemd/resolve/resolv.conf").text or "")
        if upstream.nameservers:
            notes.append(f"/etc/resolv.conf points at systemd-resolved ({conf.nameservers[0]}); its upstream "
                         f"servers (/run/systemd/resolve/resolv.conf): {', '.join(upstream.nameservers)}")
            where, conf = "/run/systemd/resolve/resolv.conf", upstream
    for ns in conf.nameservers:
        kind = resolver_kind(ns)
        if kind == "amazon":
            notes.append(f"nameserver {ns}: the Amazon-provided VPC resolver (Route 53 Resolver)")
        elif kind == "vpc-base+2":
            notes.append(f"nameserver {ns}: probably the VPC resolver at the VPC CIDR base + 2")
        elif kind == "custom" and ctx.host.on_ec2():
            notes.append(f"nameserver {ns} is not the Amazon-provided resolver: the private names of VPC interface "
                         "endpoints resolve only if it forwards amazonaws.com queries to the VPC resolver")
    return where, conf, notes


def _describe_answer(a: DnsAnswer) -> str:
    r = a.result
    if not r.ok:
        return f"{a.endpoint.host}: {r.error}"
    scopes = a.scopes
    what = ("private: a VPC interface endpoint answers" if scopes == ("private",) else
            "public" if scopes == ("public",) else "/".join(scopes))
    via = " (from --resolve)" if r.overridden else ""
    return f"{a.endpoint.host} -> {', '.join(r.addresses[:4])}{via} ({what})"


def _endpoint_command(ctx: Context, ep: Endpoint, vpc: str = "<vpc-id>", subnet: str = "<subnet-id>",
                      route_table: str = "<route-table-id>") -> str:
    region = ctx.registry.region if ctx.registry and ctx.registry.region else "<region>"
    if ep.vpce_type == "Gateway":
        return (f"aws ec2 create-vpc-endpoint --region {region} --vpc-endpoint-type Gateway --vpc-id {vpc} "
                f"--service-name {ep.vpce_service} --route-table-ids {route_table}")
    return (f"aws ec2 create-vpc-endpoint --region {region} --vpc-endpoint-type Interface --vpc-id {vpc} "
            f"--service-name {ep.vpce_service} --subnet-ids {subnet} --private-dns-enabled")


@check("net.dns", title="Do the ECR API, registry and S3 layer hosts resolve, to private or public addresses?",
       applies_when=_ecr_target, network=True, timeout=8)
def net_dns(ctx: Context) -> Outcome:
    """Resolves the three names a pull needs — the ECR API host of the registry's partition (standard, FIPS,
    dual-stack or China form), the registry host itself, and the region's S3 layer bucket
    (`prod-<region>-starport-layer-bucket.s3.<region>.amazonaws.com`) — through the system resolver, each lookup
    abandoned after 3 s. Private answers (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) mean a VPC interface
    endpoint with private DNS serves the name; public ones, that traffic leaves the VPC. It names the resolver
    from /etc/resolv.conf (under --root; systemd-resolved's upstreams when it is the stub), because VPC
    endpoints' private names resolve only through the Amazon-provided resolver. Names given to --resolve are
    answered from it, as curl does.

    Decides: pass when every name resolves. fail when one does not (no such host, or no answer from the
    resolver in time): docker then says `dial tcp: lookup <host> ...`. warn when the API host resolves to a
    private address but the registry host to a public one, or the other way round: one of the ecr.api /
    ecr.dkr interface endpoints is missing or has private DNS off, so in a subnet without NAT that half of the
    pull fails. skip without an ECR image or registry.

    References: aws-side.md A1 (what one pull touches), A2 (API host forms per partition), B4 NET-DNS,
    NET-DKR-UNREACHABLE (private IPs mean an interface endpoint answers); host-side.md D1, D4.
    """
    answers = dns_answers(ctx)
    where, conf, notes = _resolvers(ctx)
    servers = ", ".join(conf.nameservers) or "none"
    details = [_describe_answer(a) for a in answers] + notes
    evidence = {"resolver": {"file": where, "nameservers": list(conf.nameservers), "search": list(conf.search)},
                "answers": {a.endpoint.host: {"addresses": list(a.result.addresses), "scopes": list(a.scopes),
                                              "error": a.result.error, "overridden": a.result.overridden}
                            for a in answers}}
    findings: List[Finding] = []
    vpc_hint = (" (on EC2, the Amazon-provided 169.254.169.253, in a VPC with DNS resolution enabled)"
                if ctx.host.on_ec2() else "")
    for a in answers:
        if a.result.ok:
            continue
        why = a.result.error or "no address"
        if not conf.nameservers and not a.result.timed_out and not ctx.options.root:
            why += f"; {where} lists no nameserver"
        findings.append(Finding(
            Status.FAIL, f"cannot resolve {a.endpoint.host}: {why} (resolver {servers})",
            fix_text=f"docker and the credential helper fail with `dial tcp: lookup <host>`. Make sure {where} names "
                     f"a resolver this host can reach{vpc_hint}; then each of these must print an address:",
            commands=(f"getent hosts {a.endpoint.host}",)))
    by_role = {a.endpoint.role: a for a in answers if a.result.ok}
    api, reg = by_role.get("api"), by_role.get("registry")
    if api is not None and reg is not None and api.private != reg.private:
        private, public = (api, reg) if api.private else (reg, api)
        findings.append(Finding(
            Status.WARN, f"{private.endpoint.host} resolves to a private address (a VPC interface endpoint) but "
                         f"{public.endpoint.host} to a public one: the {public.endpoint.vpce_service} endpoint is "
                         "missing or has private DNS off",
            fix_text=f"Without NAT, traffic to {public.endpoint.host} cannot leave the VPC. Create the missing "
                     "interface endpoint with private DNS (net.vpc-endpoints names the VPC and subnet):",
            commands=(_endpoint_command(ctx, public.endpoint),)))
    kinds = {s for a in answers for s in a.scopes}
    summary = (f"{len(answers)} hosts resolve ({'/'.join(sorted(kinds)) or 'no'} addresses), resolver {servers}: "
               + ", ".join(a.endpoint.host for a in answers))
    return conclude(_distinct_texts(findings), summary, details=details, evidence=evidence)


# -- net.reach -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    endpoint: Endpoint
    proxy: Optional[str]  # the proxy its client sends it through, or None: direct
    why: str  # the proxy decision in words
    client: str


def _plans(ctx: Context) -> List[_Plan]:
    """Which proxy each endpoint's real client uses: the credential helper (Go) reads the shell's variables for
    the API host; dockerd (Go) uses its own environment for the registry and the layer bucket."""
    shell = go_settings(ctx.host.env)
    daemon = daemon_proxy(ctx).effective
    plans = []
    for ep in target_endpoints(ctx):
        settings, client = (shell, HELPER) if ep.role == "api" else (daemon, "dockerd")
        decision = go_decide(settings, f"https://{ep.host}:{ep.port}/")
        plans.append(_Plan(ep, decision.proxy, decision.reason, client))
    return plans


def _ca_fix(ctx: Context, issuer: Mapping[str, str]) -> Tuple[str, Tuple[str, ...]]:
    """Trust an intercepting proxy's root CA: the system store (docker, the Go helper) and AWS_CA_BUNDLE (botocore,
    which ships its own bundle) — host-side.md D3."""
    family = os_id(ctx)
    al = ("sudo cp corp-ca.pem /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust",
          "export AWS_CA_BUNDLE=/etc/pki/tls/certs/ca-bundle.crt")
    deb = ("sudo cp corp-ca.crt /usr/local/share/ca-certificates/ && sudo update-ca-certificates",
           "export AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt")
    commands = al if family in ("amzn2", "amzn2023") else deb if family == "debian" else al + deb
    text = (f"Get the root CA certificate of the TLS-inspecting proxy (issuer {describe_name(dict(issuer))}) from "
            "your network team as corp-ca.pem (corp-ca.crt on Debian/Ubuntu) and add it to the system's trust "
            "store, which docker and the credential helper use; point AWS_CA_BUNDLE at the updated bundle for the "
            "AWS CLI, which ships its own; restart docker so it reloads the store. Or have the proxy bypass "
            "inspection for *.amazonaws.com.")
    return text, (*commands, "sudo systemctl restart docker")


def _unreachable(ctx: Context, failed: Sequence[Tuple[_Plan, str]]) -> Finding:
    """One finding for every host that gave no answer or refused, when connecting directly (aws-side.md B4
    NET-API-UNREACHABLE, NET-DKR-UNREACHABLE, NET-S3-LAYER-PATH; host-side.md D1)."""
    heads = [head for _, head in failed]
    hosts = [p.endpoint for p, _ in failed]
    if ctx.host.on_ec2():
        text = ("This instance cannot open HTTPS connections to " + ", ".join(e.host for e in hosts) + ". In a private "
                "subnet, give it a NAT gateway route, or create the VPC endpoints below (net.vpc-endpoints fills in "
                "the VPC, subnet and route table); otherwise a security group, network ACL or firewall blocks "
                "outbound 443.")
        commands = tuple(_endpoint_command(ctx, e) for e in hosts if e.vpce_service)
    else:
        text = ("Outbound HTTPS to these hosts fails: a firewall blocks it, or this network needs a proxy (export "
                "HTTPS_PROXY in the shell that runs docker, and give dockerd the same). Each must print an HTTP "
                "status:")
        commands = tuple(f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 https://{e.host}/" for e in hosts)
    return Finding(Status.FAIL, heads[0], details=[f"also: {h}" for h in heads[1:]], fix_text=text, commands=commands)


def _judge(ctx: Context, plan: _Plan, r: TlsResult, limit: float) -> Optional[Finding]:
    ep = plan.endpoint
    via = f" through the proxy {r.proxy}" if r.proxy else ""
    if r.stage == "resolve":
        return Finding(Status.FAIL, f"cannot resolve {ep.host if not r.proxy else r.proxy}: {r.error}",
                       fix_text="net.dns has the details; docker fails with `dial tcp: lookup ...`.",
                       commands=(f"getent hosts {ep.host}",))
    if r.stage == "connect":
        if r.proxy is None:
            return None  # reported together with the other unreachable hosts
        head = (f"the proxy {r.proxy} did not answer within {limit:g} s" if r.timed_out else
                f"the proxy {r.proxy} refused the connection: {r.error}")
        shown = r.proxy
        return Finding(Status.FAIL, f"{head} ({plan.client}, for {ep.host})",
                       fix_text=f"The proxy {shown} gets no connection from this host. Check the proxy address and "
                                "that this host may reach it:",
                       commands=(f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 -x {shown} "
                                 f"https://{ep.host}/",))
    if r.stage == "proxy":
        auth = r.proxy_status == 407
        return Finding(
            Status.FAIL, f"{r.error} (proxy {r.proxy}, used by {plan.client})",
            fix_text=("The proxy wants credentials: put them in the proxy URL (http://user:password@host:port) of "
                      f"{plan.client}'s environment." if auth else
                      f"The proxy will not open a tunnel to {ep.host}: ask for *.amazonaws.com (and the S3 layer "
                      "bucket host) to be allowed, or exempt them in NO_PROXY if this host may go direct."))
    if r.stage == "tls":
        if r.timed_out:
            return Finding(Status.FAIL, f"{ep.label} accepted the connection{via} but sent no TLS answer within "
                                        f"{limit:g} s",
                           fix_text="Something between this host and AWS holds connections open without answering "
                                    "(a half-configured firewall or proxy).")
        return Finding(Status.FAIL, f"TLS with {ep.label}{via} failed: {r.error}")
    if not r.verified:
        if r.issuer and not issued_by_amazon(dict(r.issuer)):
            text, commands = _ca_fix(ctx, r.issuer)
            return Finding(Status.FAIL, f"TLS to {ep.host} is intercepted: its certificate is issued by "
                                        f"{describe_name(dict(r.issuer))}, not Amazon, and this host does not trust "
                                        f"that CA ({r.verify_error})",
                           details=["docker says `x509: certificate signed by unknown authority`"],
                           fix_text=text, commands=commands)
        family = os_id(ctx)
        install = ("sudo dnf install -y ca-certificates && sudo update-ca-trust" if family == "amzn2023" else
                   "sudo yum install -y ca-certificates && sudo update-ca-trust" if family == "amzn2" else
                   "sudo apt-get install -y ca-certificates && sudo update-ca-certificates")
        return Finding(Status.FAIL, f"the certificate of {ep.host} ({describe_name(dict(r.issuer))}) does not verify "
                                    f"on this host: {r.verify_error}",
                       fix_text="This host's CA store lacks the Amazon Trust Services roots; reinstall it.",
                       commands=(install, "sudo systemctl restart docker"))
    if r.issuer and not issued_by_amazon(dict(r.issuer)):
        who = describe_name(dict(r.issuer))
        if ctx.host.env.get("AWS_CA_BUNDLE"):
            return None
        text, commands = _ca_fix(ctx, r.issuer)
        return Finding(Status.WARN, f"TLS to {ep.host} is intercepted by {who}, a CA this host trusts: docker and the "
                                    "credential helper accept it, the AWS CLI and boto3 do not (AWS_CA_BUNDLE unset)",
                       fix_text="Point AWS_CA_BUNDLE at the system bundle that holds the proxy's CA.",
                       commands=tuple(c for c in commands if c.startswith("export AWS_CA_BUNDLE")))
    return None


@check("net.reach", title="Can this host open TLS connections to the ECR API, the registry and the S3 layer bucket?",
       applies_when=_ecr_target, network=True, timeout=12)
def net_reach(ctx: Context) -> Outcome:
    """Opens a TCP connection and then a TLS handshake with SNI to each host a pull touches, on 443, at once, each
    step bounded by 3 s (less near the run's deadline): the ECR API host through the proxy the credential helper
    would use (the shell's HTTPS_PROXY/NO_PROXY, applied as Go applies them), the registry host and the S3 layer
    bucket through dockerd's proxy (docker info, else its systemd environment and daemon.json). Through a proxy
    it asks for a CONNECT tunnel, as those clients do. The certificate is verified against the system CAs (and
    --ca-bundle); its issuer tells a TLS-inspecting proxy (Zscaler, Netskope, a corporate CA) from Amazon Trust
    Services. --resolve HOST:443:ADDR connects to ADDR while TLS still names HOST.

    Decides: pass when every host completes a verified handshake with an Amazon-issued certificate (or an
    intercepting CA the system trusts while AWS_CA_BUNDLE is set). fail when a host or its proxy gives no answer
    in time ("no answer from api.ecr.<region>.amazonaws.com:443 within 3 s": docker says `i/o timeout`), refuses
    the connection, the proxy refuses the tunnel (403/407), the handshake never completes, or the certificate does
    not verify — issued by someone other than Amazon means TLS interception (docker says `x509: certificate signed
    by unknown authority`), the fix installs that CA (Amazon Linux: /etc/pki/ca-trust/source/anchors +
    update-ca-trust; Debian/Ubuntu: /usr/local/share/ca-certificates + update-ca-certificates) and sets
    AWS_CA_BUNDLE for the AWS CLI. Also fail when dockerd goes direct and gets no answer while the shell's
    proxy reaches the host: dockerd needs the proxy too. warn when the interception is trusted by the system
    (docker works) but AWS_CA_BUNDLE is unset (the AWS CLI and boto3 use their own CA bundle and fail). skip
    without an ECR image or registry.

    References: aws-side.md A1, B4 NET-API-UNREACHABLE, NET-DKR-UNREACHABLE, NET-S3-LAYER-PATH, NET-PROXY;
    host-side.md B8 (the helper uses the CLI's HTTPS_PROXY), D1, D2, D3 (TLS interception and the CA fix);
    botocore httpsession.py (its own CA bundle, AWS_CA_BUNDLE); golang.org/x/net/http/httpproxy.
    """
    plans = _plans(ctx)
    limit = _probe_timeout(ctx)
    results = _parallel([functools.partial(ctx.net.tls, p.endpoint.host, p.endpoint.port, limit, p.proxy)
                         for p in plans], limit * 4 + 1)
    probes: List[TlsResult] = [r or TlsResult(f"{p.endpoint.label}", False, int(limit * 4000), "connect",
                                              error=f"no answer within {limit * 4:g} s", timed_out=True)
                               for p, r in zip(plans, results)]
    findings: List[Finding] = []
    unreachable: List[Tuple[_Plan, str]] = []
    first_unreachable = -1
    details: List[str] = []
    shell_https = go_settings(ctx.host.env)
    retry: List[Tuple[_Plan, str]] = []
    for p, r in zip(plans, probes):
        found = _judge(ctx, p, r, limit)
        if found is not None:
            findings.append(found)
        elif r.stage == "connect" and not r.proxy:
            first_unreachable = len(findings) if first_unreachable < 0 else first_unreachable
            unreachable.append((p, f"no answer from {p.endpoint.label} within {limit:g} s" if r.timed_out else
                                f"{p.endpoint.label} ({r.address}) refused the connection: {r.error}"))
        if p.client == "dockerd" and not p.proxy and r.stage in ("connect", "tls"):
            alt = go_decide(shell_https, f"https://{p.endpoint.host}:{p.endpoint.port}/").proxy
            if alt:
                retry.append((p, alt))
        state = ("verified" if r.ok else f"not verified: {r.verify_error}") if r.stage == "done" else \
            f"{r.stage} failed: {r.error}"
        issuer = f", issuer {describe_name(dict(r.issuer))}" if r.issuer else ""
        details.append(f"{p.endpoint.label} ({p.client}, {p.why}): {state}{issuer}, {r.duration_ms} ms")
    needs_proxy: Optional[Finding] = None
    if retry:  # dockerd went direct and failed: would the shell's proxy have worked?
        again = _parallel([functools.partial(ctx.net.tls, p.endpoint.host, p.endpoint.port, limit, alt)
                           for p, alt in retry], limit * 4 + 1)
        for (p, alt), second in zip(retry, again):
            if second is None or second.stage != "done":
                continue
            unreachable = [u for u in unreachable if u[0] is not p]  # explained: dockerd lacks the proxy
            if needs_proxy is None:
                https_proxy = display_proxy(alt)
                no_proxy = add_to_no_proxy(shell_https.no_proxy, *BASE_NO_PROXY)
                needs_proxy = Finding(
                    Status.FAIL, f"dockerd goes direct to {p.endpoint.host} and gets no answer, but the shell's "
                                 f"{shell_https.name('https')}={https_proxy} reaches it: dockerd needs the proxy",
                    fix_text="dockerd does not read the shell's proxy variables; give it the proxy in a systemd "
                             "drop-in (or daemon.json `proxies` on Engine 23+) and restart it:",
                    commands=_dropin_commands(https_proxy, None, no_proxy))
    if unreachable:
        findings.insert(first_unreachable, _unreachable(ctx, unreachable))
    if needs_proxy is not None:
        findings.insert(0, needs_proxy)
    endpoint_url = ctx.host.env.get("AWS_ENDPOINT_URL_ECR") or ctx.host.env.get("AWS_ENDPOINT_URL")
    if endpoint_url:
        details.append(f"AWS_ENDPOINT_URL{'_ECR' if ctx.host.env.get('AWS_ENDPOINT_URL_ECR') else ''} is set: "
                       "botocore (the AWS CLI, ecrdoctor's own calls) sends ECR API calls there instead")
    evidence = {"probes": [{"host": p.endpoint.host, "port": p.endpoint.port, "client": p.client,
                            "proxy": display_proxy(p.proxy) if p.proxy else None, "stage": r.stage,
                            "error": r.error, "timed_out": r.timed_out, "address": r.address,
                            "issuer": dict(r.issuer), "verified": r.verified, "duration_ms": r.duration_ms}
                           for p, r in zip(plans, probes)],
                "timeout_s": limit}
    issuers = sorted({describe_name(dict(r.issuer)) for r in probes if r.issuer})
    summary = (f"TLS to {len(probes)} hosts on 443 works ({', '.join(p.endpoint.host for p in plans)}); "
               f"certificates issued by {'; '.join(issuers) or 'unknown'}")
    return conclude(_distinct_texts(findings), summary, details=details, evidence=evidence)


def _distinct_texts(findings: List[Finding]) -> List[Finding]:
    """conclude() joins every finding's fix text: say each one once."""
    seen: set[str] = set()
    for f in findings:
        if f.fix_text in seen:
            f.fix_text = ""
        seen.add(f.fix_text)
    return findings


# -- net.proxy -------------------------------------------------------------------------------------------------


def _settings_line(who: str, s: ProxySettings) -> str:
    if not s.any and not s.no_proxy:
        return f"{who}: no proxy"
    return (f"{who}: HTTPS {display_proxy(s.https_proxy)}, HTTP {display_proxy(s.http_proxy)}, "
            f"NO_PROXY {s.no_proxy or '-'}")


def _proxy_value_findings(env_name: str, value: Optional[str]) -> List[Finding]:
    if not value:
        return []
    try:
        parse_proxy_url(value)
    except ProxyEnvError as exc:
        return [Finding(Status.WARN, f"{env_name} is not a usable proxy address: {exc}",
                        fix_text=f"Set {env_name} to http://host:port.")]
    return []


@check("net.proxy", title="Do the CLI, the credential helper and dockerd use the proxies they should?", timeout=10)
def net_proxy(ctx: Context) -> Outcome:
    """Compares the proxy settings of the two sides of a pull. The docker CLI runs the credential helper in the
    shell's environment, so the helper (a Go program) and the AWS CLI (botocore) use the shell's
    HTTPS_PROXY/HTTP_PROXY/NO_PROXY; dockerd, which fetches manifests and layers, never reads the shell: it takes
    its proxy from its systemd unit (drop-ins under /etc/systemd/system/docker.service.d/, EnvironmentFile=) and
    from daemon.json `proxies`, which override them; `docker info` shows what the running daemon uses. The two
    families read the variables differently — Go takes upper case first, understands CIDR ranges and `*.`; botocore
    takes lower case first and understands neither — so one NO_PROXY can exempt a host for the helper and not for
    the AWS CLI. It also looks for NO_PROXY gaps: 169.254.169.254 (IMDS, on EC2) and 169.254.170.2 (ECS container
    credentials) when HTTP_PROXY is set, and `.amazonaws.com` when the ECR names resolve to VPC endpoints.

    Decides: fail when daemon.json or the systemd unit sets a proxy (or NO_PROXY) that the running dockerd does not
    report — it was not restarted since (`systemctl daemon-reload && systemctl restart docker`). warn when the
    shell has an HTTPS proxy for the registry and dockerd none (pulls go direct: host-side D2) or the reverse (the
    helper's token requests go direct: B8), when they name different proxies, when NO_PROXY sends IMDS or the ECS
    credentials endpoint to the proxy, when a proxy would carry traffic meant for a VPC endpoint, when the helper
    and the AWS CLI decide differently for the API host, or when a proxy value cannot be parsed. pass otherwise
    (including no proxy anywhere).

    References: host-side.md §1.3 (helper: HTTPS_PROXY/NO_PROXY via the SDK), §1.7 and D2 (dockerd's proxy,
    drop-ins, daemon.json, docker info), B5 (NO_PROXY and 169.254.169.254), B8, F2 (169.254.170.2); aws-side.md B4
    NET-PROXY; docs.docker.com/engine/daemon/proxy; golang.org/x/net/http/httpproxy; CPython urllib.request
    getproxies_environment / proxy_bypass_environment (botocore.utils.get_environ_proxies).
    """
    env = ctx.host.env
    shell, shell_py = go_settings(env), python_settings(env)
    dp = daemon_proxy(ctx)
    daemon = dp.effective
    findings: List[Finding] = []
    details = [_settings_line(f"shell ({HELPER}, Go rules)", shell),
               _settings_line(f"dockerd ({dp.source})", daemon)]
    if dp.running is not None and (dp.configured.any or dp.configured.no_proxy):
        details.append(_settings_line("dockerd's files (" + (", ".join(sorted(set(dp.origins.values()))) or "-") + ")",
                                      dp.configured))
    if dp.daemon_error:
        details.append(f"dockerd not asked: {dp.daemon_error.splitlines()[0][:160]}")
    if env.get("ALL_PROXY") or env.get("all_proxy"):
        details.append("ALL_PROXY is set; neither Go programs nor botocore read it")
    for key, name in shell.names:
        findings += _proxy_value_findings(name, {"http": shell.http_proxy, "https": shell.https_proxy}.get(key))

    # dockerd's files versus the running daemon
    if dp.running is not None and (dp.configured.https_proxy or dp.configured.no_proxy or dp.configured.http_proxy):
        changed = [(k, getattr(dp.configured, f"{k}_proxy"), getattr(dp.running, f"{k}_proxy"))
                   for k in ("https", "http", "no")]
        differ = [(k, want, have) for k, want, have in changed if want and not (
            same_proxy(want, have) if k != "no" else (want or "").replace(" ", "") == (have or "").replace(" ", ""))]
        if differ:
            key, want, have = differ[0]
            what = {"https": "HTTPS proxy", "http": "HTTP proxy", "no": "NO_PROXY"}[key]
            shown = (lambda v: v or "none") if key == "no" else display_proxy
            findings.append(Finding(
                Status.FAIL, f"dockerd runs with {what} {shown(have)}, but {dp.origins.get(key) or 'its configuration'}"
                             f" sets {shown(want)}: it was not restarted since",
                details=[f"also differs: {k}_proxy" for k, _, _ in differ[1:]],
                fix_text="Reload systemd and restart docker so the daemon picks up its proxy settings:",
                commands=(RESTART_DOCKER,)))

    endpoints = target_endpoints(ctx)
    api_url = next((f"https://{e.host}/" for e in endpoints if e.role == "api"), None)
    if not any(f.status is Status.FAIL for f in findings):  # else the files already say what dockerd should use
        findings += _shell_versus_dockerd(ctx, shell, daemon, api_url)

    if api_url is not None:  # the helper (Go rules) and the AWS CLI (botocore rules) can disagree
        go_api, py_api = go_decide(shell, api_url), python_decide(shell_py, api_url)
        if bool(go_api.proxy) != bool(py_api.proxy) or not same_proxy(go_api.proxy, py_api.proxy):
            findings.append(Finding(
                Status.WARN, f"the credential helper and the AWS CLI disagree about {api_url[8:-1]}: helper "
                             f"{'via ' + display_proxy(go_api.proxy) if go_api.proxy else 'direct'} ({go_api.reason}),"
                             f" AWS CLI {'via ' + display_proxy(py_api.proxy) if py_api.proxy else 'direct'} "
                             f"({py_api.reason})",
                details=["Go reads upper case names first and understands `*.` and CIDR ranges in NO_PROXY; botocore "
                         "reads lower case names first and understands neither"],
                fix_text="Set each variable once, in one case, and write NO_PROXY entries both understand "
                         "(`.amazonaws.com`, plain IP addresses).",
                commands=(f"export NO_PROXY={add_to_no_proxy(shell.no_proxy, '.amazonaws.com')}",)))

    findings += _no_proxy_gaps(ctx, shell, shell_py)
    findings += _private_endpoint_gaps(ctx, shell, daemon)
    evidence = {
        "shell": {"https_proxy": display_proxy(shell.https_proxy), "http_proxy": display_proxy(shell.http_proxy),
                  "no_proxy": shell.no_proxy, "names": dict(shell.names)},
        "dockerd": {"https_proxy": display_proxy(daemon.https_proxy), "http_proxy": display_proxy(daemon.http_proxy),
                    "no_proxy": daemon.no_proxy, "source": dp.source},
    }
    if not shell.any and not daemon.any:
        summary = "no proxy: the credential helper, the AWS CLI and dockerd all connect directly"
    else:
        summary = (f"the credential helper uses {display_proxy(shell.https_proxy)}, dockerd "
                   f"{display_proxy(daemon.https_proxy)}; NO_PROXY covers what it must")
    return conclude(findings, summary, details=details, evidence=evidence)


def _shell_versus_dockerd(ctx: Context, shell: ProxySettings, daemon: ProxySettings,
                          api_url: Optional[str]) -> List[Finding]:
    """The two sides of a pull with different proxies (host-side.md D2: proxy only in the shell; B8: only in dockerd,
    so the helper goes direct)."""
    registry_url = f"https://{ctx.registry.host}/" if ctx.registry is not None and ctx.registry.is_ecr else None
    probe_url = registry_url or "https://api.ecr.us-east-1.amazonaws.com/"
    shell_reg, daemon_reg = go_decide(shell, probe_url), go_decide(daemon, probe_url)
    if shell_reg.proxy and not daemon_reg.proxy:
        no_proxy = add_to_no_proxy(shell.no_proxy, *BASE_NO_PROXY)
        return [Finding(
            Status.WARN, f"the shell sends HTTPS through {display_proxy(shell_reg.proxy)} but dockerd has no proxy for "
                         f"{probe_url[8:-1]}: the credential helper uses the proxy, docker pull goes direct",
            details=[f"dockerd: {daemon_reg.reason}"],
            fix_text="If this network needs the proxy, give dockerd the same one (net.reach tells whether direct "
                     "connections work):",
            commands=_dropin_commands(display_proxy(shell_reg.proxy), display_proxy(shell.http_proxy)
                                      if shell.http_proxy else None, no_proxy))]
    if daemon_reg.proxy and not go_decide(shell, api_url or probe_url).proxy:
        target = (api_url or "https://api.ecr.<region>.amazonaws.com/")[8:-1]
        return [Finding(
            Status.WARN, f"dockerd pulls through {display_proxy(daemon_reg.proxy)} but the shell has no HTTPS proxy "
                         f"for {target}: the credential helper asks for tokens directly",
            fix_text="The helper runs in the docker CLI's environment, not dockerd's; export the proxy where docker "
                     "runs (and in ~/.bashrc or the service's environment):",
            commands=(f"export HTTPS_PROXY={display_proxy(daemon_reg.proxy)} "
                      f"NO_PROXY={add_to_no_proxy(daemon.no_proxy or shell.no_proxy, *BASE_NO_PROXY)}",))]
    if shell_reg.proxy and daemon_reg.proxy and not same_proxy(shell_reg.proxy, daemon_reg.proxy):
        return [Finding(
            Status.WARN, f"the shell uses the proxy {display_proxy(shell_reg.proxy)} but dockerd "
                         f"{display_proxy(daemon_reg.proxy)}: the helper and the pull leave through different proxies",
            fix_text="Make sure both proxies allow the ECR hosts, or configure the same one in both places.")]
    return []


def _no_proxy_gaps(ctx: Context, shell: ProxySettings, shell_py: ProxySettings) -> List[Finding]:
    """HTTP_PROXY capturing IMDS (on EC2) or the ECS container credentials endpoint (host-side.md B5, F2)."""
    env = ctx.host.env
    targets: List[Tuple[str, str]] = []
    if ctx.host.on_ec2() and not metadata_disabled(env):
        targets.append((metadata_endpoint(env).rstrip("/") + "/", "the instance metadata service (IMDS)"))
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        targets.append((f"http://{ECS_CREDENTIALS_HOST}/", "the ECS container credentials endpoint"))
    out: List[Finding] = []
    for url, what in targets:
        clients = [name for name, decision in ((HELPER, go_decide(shell, url)), ("the AWS CLI",
                                                                                 python_decide(shell_py, url)))
                   if decision.proxy]
        if not clients:
            continue
        host = url.split("//", 1)[1].split("/", 1)[0].split(":")[0]
        proxy = shell.http_proxy or shell_py.http_proxy
        out.append(Finding(
            Status.WARN, f"{' and '.join(clients)} send{'s' if len(clients) == 1 else ''} requests for {what} "
                         f"({host}) to the proxy {display_proxy(proxy)}: NO_PROXY lacks {host}",
            details=["a CIDR range such as 169.254.0.0/16 exempts it for Go programs only; botocore needs the address"]
            if clients == ["the AWS CLI"] else [],
            fix_text=f"Exempt {host} from the proxy for every client (an exact address, which Go and botocore both "
                     "understand):",
            commands=(f"export NO_PROXY={add_to_no_proxy(shell.no_proxy or shell_py.no_proxy, host)}",)))
    return out


def _private_endpoint_gaps(ctx: Context, shell: ProxySettings, daemon: ProxySettings) -> List[Finding]:
    """A proxy in front of names that resolve to VPC interface endpoints (host-side.md D2: NO_PROXY needs
    .amazonaws.com when endpoints are private)."""
    if ctx.options.offline or _ecr_target(ctx) is not None or not (shell.https_proxy or daemon.https_proxy):
        return []
    out: List[Finding] = []
    for a in dns_answers(ctx):
        if not a.private:
            continue
        ep = a.endpoint
        settings, who = (shell, HELPER) if ep.role == "api" else (daemon, "dockerd")
        decision = go_decide(settings, f"https://{ep.host}:{ep.port}/")
        if not decision.proxy:
            continue
        fix = (f"export NO_PROXY={add_to_no_proxy(settings.no_proxy, '.amazonaws.com')}",) if ep.role == "api" else \
            _dropin_commands(display_proxy(daemon.https_proxy), None,
                             add_to_no_proxy(daemon.no_proxy, *BASE_NO_PROXY, ".amazonaws.com"))
        out.append(Finding(
            Status.WARN, f"{ep.host} resolves to the VPC endpoint {a.result.addresses[0]}, but {who} sends it to the "
                         f"proxy {display_proxy(decision.proxy)}: NO_PROXY lacks .amazonaws.com",
            fix_text="Traffic meant for the VPC endpoint goes to the proxy instead (which may not reach AWS, and "
                     "bypasses the endpoint's policy). Exempt the AWS names:",
            commands=fix))
    return out


# -- net.vpc-endpoints -----------------------------------------------------------------------------------------


def _vpc_applies(ctx: Context) -> Optional[str]:
    if ctx.registry is None:
        return "no image or registry given"
    if ctx.registry.kind != "private":
        return f"{ctx.registry.host} is not a private ECR registry"
    if not ctx.host.on_ec2():
        return "not an EC2 instance (no EC2 signature in DMI or /sys/hypervisor/uuid): no VPC to look at"
    return None


def _imds(ctx: Context) -> Tuple[Optional[str], Optional[str]]:
    """(instance id, region) from IMDSv2, 1 s per request; (None, None) when IMDS is off or does not answer."""
    env = ctx.host.env
    if metadata_disabled(env):
        return None, None
    base = metadata_endpoint(env)
    put = ctx.net.http("PUT", base + TOKEN_PATH, headers={TOKEN_TTL_HEADER: "300"}, timeout=IMDS_TIMEOUT)
    headers: Dict[str, str] = {}
    if put.status == 200:
        try:
            token = parse_token(put.body)
        except ImdsAnswerError:
            return None, None
        ctx.redactor.add(token)
        headers = {TOKEN_HEADER: token}
    elif put.status is None:
        return None, None

    def get(path: str, parse: Callable[[str], str]) -> Optional[str]:
        r = ctx.net.http("GET", base + path, headers=headers, timeout=IMDS_TIMEOUT)
        if r.status != 200:
            return None
        try:
            return parse(r.body)
        except ImdsAnswerError:
            return None

    return get(INSTANCE_ID_PATH, parse_instance_id), get(REGION_PATH, parse_region)


@dataclass
class _Network:
    instance_id: str
    region: str
    vpc: str
    subnet: str
    route_table: Optional[str] = None
    route_table_main: bool = False
    egress: Optional[str] = None  # the default route's target: nat-…, igw-…, tgw-…
    egress_blackhole: Optional[str] = None  # a default route whose target is gone
    endpoints: List[Dict[str, Any]] = field(default_factory=list)


def _find_instance(ctx: Context) -> Tuple[Optional[_Network], Optional[Outcome]]:
    instance_id, imds_region = ctx.host.ec2_instance_id(), None
    if instance_id is None or not metadata_disabled(ctx.host.env):
        found_id, imds_region = _imds(ctx)
        instance_id = instance_id or found_id
    if instance_id is None:
        return None, skip("the instance id is unknown: no EC2 asset tag in DMI and no answer from IMDS")
    regions = list(dict.fromkeys(r for r in (imds_region, ctx.registry.region if ctx.registry else None,
                                            ctx.aws.configured_region()) if r))
    for region in regions:
        try:
            resp = ctx.aws.client("ec2", region=region).describe_instances(InstanceIds=[instance_id])
        except Exception as exc:
            code = client_error_code(exc)
            if code in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
                continue
            if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
                return None, skip(f"cannot look at the VPC: ec2:DescribeInstances is not allowed ({code})")
            return None, error(f"ec2:DescribeInstances for {instance_id} in {region} failed: "
                               f"{client_error_message(exc)}")
        for res in resp.get("Reservations", []):
            for inst in res.get("Instances", []):
                if inst.get("VpcId") and inst.get("SubnetId"):
                    return _Network(instance_id, region, inst["VpcId"], inst["SubnetId"]), None
        return None, skip(f"{instance_id} has no VPC subnet (EC2-Classic or terminated)")
    return None, skip(f"instance {instance_id} not found in {', '.join(regions) or 'any region'} with these "
                      "credentials (another account's instance?)")


def _route_table(ctx: Context, net: _Network) -> None:
    ec2 = ctx.aws.client("ec2", region=net.region)
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [net.subnet]}]).get("RouteTables", [])
    if not tables:  # a subnet without its own association uses the VPC's main route table
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [net.vpc]},
                                                    {"Name": "association.main", "Values": ["true"]}]).get(
            "RouteTables", [])
        net.route_table_main = True
    if not tables:
        return
    table = tables[0]
    net.route_table = table.get("RouteTableId")
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" and route.get("DestinationIpv6CidrBlock") != "::/0":
            continue
        target = next((route[k] for k in ("NatGatewayId", "TransitGatewayId", "NetworkInterfaceId", "InstanceId",
                                          "VpcPeeringConnectionId", "GatewayId") if route.get(k)), None)
        if target is None or target == "local":
            continue
        if route.get("State") == "blackhole":
            net.egress_blackhole = target
        elif net.egress is None:
            net.egress = target


def _policy_problem(ctx: Context, endpoint: Dict[str, Any], actions: Sequence[Tuple[str, str]],
                    caller: CallerPrincipal) -> Optional[Tuple[Status, str]]:
    text = endpoint.get("PolicyDocument")
    if not text:
        return None
    try:
        policy = parse_policy(text)
    except PolicyError as exc:
        return Status.WARN, f"its policy cannot be read ({exc})"
    for action, resource in actions:
        ev = evaluate(policy, caller, action, resource)
        if ev.decision is Decision.DENY:
            return Status.FAIL, f"its policy denies {action} ({ev.denies[0].describe()})"
        if ev.decision is Decision.NONE:
            return Status.FAIL, f"its policy allows no {action} for {_who(caller)}"
        if ev.decision in (Decision.CONDITIONAL_DENY, Decision.CONDITIONAL_ALLOW):
            return Status.WARN, f"its policy decides {action} by conditions ecrdoctor does not evaluate"
    return None


def _who(caller: CallerPrincipal) -> str:
    return caller.arn if caller.kind != "anonymous" else "the pre-signed layer requests"


def _caller(ctx: Context) -> CallerPrincipal:
    try:
        ident = ctx.caller_identity()
        return parse_caller(ident["Arn"], ident.get("UserId"))
    except Exception:  # no identity: judge the policy for "any principal" statements only
        return CallerPrincipal("anonymous", "000000000000", "aws", "anonymous", None)


@check("net.vpc-endpoints", title="Does this instance's VPC give it a way to ECR: VPC endpoints or NAT?",
       applies_when=_vpc_applies, network=True, timeout=15)
def net_vpc_endpoints(ctx: Context) -> Outcome:
    """On EC2, finds the instance's VPC and subnet (DescribeInstances with the instance id from the DMI asset tag or
    IMDSv2), the route table of the subnet (DescribeRouteTables by association.subnet-id, else the VPC's main
    table) and its default route (NAT gateway, internet gateway, transit gateway...), then the VPC endpoints a
    private subnet needs for ECR (DescribeVpcEndpoints filtered by vpc-id and service-name): the ecr.api and
    ecr.dkr interface endpoints with private DNS, and the S3 gateway endpoint associated with that route table
    (layers come from the region's starport S3 bucket). Endpoint policies are evaluated locally for
    ecr:GetAuthorizationToken (ecr.api), ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository
    (ecr.dkr), and s3:GetObject on the layer bucket (S3). It compares with net.dns: an interface endpoint with
    private DNS whose name still resolves to a public address means the host's resolver bypasses the VPC's.

    Decides: fail when the subnet has no working default route and an endpoint is missing, not available, has
    private DNS off, or (S3) is not associated with the subnet's route table; when the default route points at a
    NAT gateway that no longer exists (blackhole) and endpoints are missing; when an endpoint in use has a policy
    that denies the pull (or allows none of it); when the registry is in another region than the instance and the
    subnet has only endpoints (VPC endpoints do not serve cross-Region requests); when an interface endpoint
    with private DNS exists but the registry or API name resolves to a public address on this host. warn when an
    endpoint is still pending, or its policy depends on conditions. pass when NAT/internet egress or complete
    endpoints give the pull its way out. skip off EC2, without a private ECR registry, without AWS credentials,
    or when ec2:DescribeInstances is not allowed or the instance is not found.

    References: aws-side.md B4 NET-API-UNREACHABLE, NET-DKR-UNREACHABLE (private DNS must be enabled),
    NET-S3-LAYER-PATH (gateway endpoint and route table, endpoint policy on the starport bucket), NET-CROSS-REGION,
    NET-VPCE-POLICY, NET-DNS; host-side.md D1; AWS ECR user guide, vpc-endpoints.md.
    """
    creds = ctx.aws.credentials()
    if creds.method is None:  # not `requires`: the catalogue ranks net.* before aws.* as causes
        return skip("no AWS credentials to read the VPC with (aws.credentials says why)")
    net, stop = _find_instance(ctx)
    if stop is not None or net is None:
        return stop or skip("the instance's network is unknown")
    reg = ctx.registry
    assert reg is not None
    try:
        _route_table(ctx, net)
        wanted = {e.vpce_service: e for e in target_endpoints(ctx) if e.vpce_service}
        resp = ctx.aws.client("ec2", region=net.region).describe_vpc_endpoints(
            Filters=[{"Name": "vpc-id", "Values": [net.vpc]}, {"Name": "service-name", "Values": sorted(wanted)}])
        net.endpoints = list(resp.get("VpcEndpoints", []))
    except Exception as exc:
        code = client_error_code(exc)
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return skip(f"cannot look at the VPC's routes and endpoints: not allowed ({code})")
        return error(f"looking at {net.vpc} failed: {client_error_message(exc)}")
    return _judge_vpc(ctx, net, wanted)


def _judge_vpc(ctx: Context, net: _Network, wanted: Mapping[str, Endpoint]) -> Outcome:
    reg = ctx.registry
    assert reg is not None and reg.region is not None
    region = reg.region
    findings: List[Finding] = []
    details = [f"{net.instance_id}: {net.vpc}, {net.subnet}, route table {net.route_table or 'none'}"
               + (" (the VPC's main table)" if net.route_table_main else "")
               + (f", default route to {net.egress}" if net.egress else ", no default route")]
    by_service: Dict[str, List[Dict[str, Any]]] = {}
    for e in net.endpoints:
        by_service.setdefault(str(e.get("ServiceName")), []).append(e)
    caller = _caller(ctx)
    anonymous = CallerPrincipal("anonymous", "000000000000", "aws", "anonymous", None)
    partition = reg.partition or "aws"
    repo_arn = (f"arn:{partition}:ecr:{region}:{reg.account}:repository/{ctx.image.repository}"
                if ctx.image is not None else None)
    egress = net.egress is not None
    if net.egress_blackhole and not egress:
        details.append(f"the default route points at {net.egress_blackhole}, which no longer exists (blackhole)")
    dns = {a.endpoint.host: a for a in dns_answers(ctx)} if not ctx.options.offline else {}
    cross_region = net.region != region
    for service, ep in wanted.items():
        found = [e for e in by_service.get(service, []) if e.get("VpcEndpointType") == ep.vpce_type]
        live = [e for e in found if str(e.get("State", "")).lower() == "available"]
        pending = [e for e in found if str(e.get("State", "")).lower() in ("pending", "pendingacceptance")]
        for e in found:
            details.append(f"{e.get('VpcEndpointId')}: {service} {e.get('VpcEndpointType')}, state {e.get('State')}"
                           + (f", private DNS {'on' if e.get('PrivateDnsEnabled') else 'off'}"
                              if ep.vpce_type == "Interface" else
                              f", route tables {', '.join(e.get('RouteTableIds') or []) or 'none'}"))
        usable: List[Dict[str, Any]] = []
        problem: Optional[str] = None
        fix_commands: Tuple[str, ...] = ()
        if ep.vpce_type == "Interface":
            usable = [e for e in live if e.get("PrivateDnsEnabled")]
            if live and not usable:
                problem = f"the {service} endpoint {live[0].get('VpcEndpointId')} has private DNS off"
                fix_commands = (f"aws ec2 modify-vpc-endpoint --region {net.region} --vpc-endpoint-id "
                                f"{live[0].get('VpcEndpointId')} --private-dns-enabled",)
        else:
            usable = [e for e in live if net.route_table and net.route_table in (e.get("RouteTableIds") or [])]
            if live and not usable and net.route_table:
                problem = (f"the S3 gateway endpoint {live[0].get('VpcEndpointId')} is not associated with the "
                           f"subnet's route table {net.route_table}")
                fix_commands = (f"aws ec2 modify-vpc-endpoint --region {net.region} --vpc-endpoint-id "
                                f"{live[0].get('VpcEndpointId')} --add-route-table-ids {net.route_table}",)
        if not found:
            problem = f"no {service} {ep.vpce_type.lower() if ep.vpce_type else ''} endpoint in {net.vpc}"
            fix_commands = (_endpoint_command(ctx, ep, net.vpc, net.subnet, net.route_table or "<route-table-id>"),)
        elif not live and pending:
            findings.append(Finding(Status.WARN, f"the {service} endpoint {pending[0].get('VpcEndpointId')} is still "
                                                 f"{pending[0].get('State')}"))
            problem = None if egress else f"the {service} endpoint is not available yet"
        elif not live:
            problem = f"the {service} endpoint {found[0].get('VpcEndpointId')} is {found[0].get('State')}"
            fix_commands = (_endpoint_command(ctx, ep, net.vpc, net.subnet, net.route_table or "<route-table-id>"),)
        if problem and not egress:
            why = (f"{net.subnet} has no default route (NAT or internet gateway)"
                   + (f"; its route to {net.egress_blackhole} is a blackhole" if net.egress_blackhole else ""))
            findings.append(Finding(Status.FAIL, f"{problem}, and {why}: {ep.host} is unreachable",
                                    fix_text="Create or repair the endpoint (interface endpoints get the VPC's "
                                             "default security group unless you add --security-group-ids; it must "
                                             "allow inbound 443 from the subnet), or route the subnet through a NAT "
                                             "gateway:", commands=fix_commands))
        elif problem:
            details.append(f"{problem}; traffic leaves through {net.egress} instead")
        for e in usable:
            if ep.role == "api":
                actions: List[Tuple[str, str]] = [("ecr:GetAuthorizationToken", "*")]
                who = caller
            elif ep.role == "registry":
                actions = [(a, repo_arn) for a in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")] if repo_arn \
                    else []
                who = caller
            else:
                actions = [("s3:GetObject", f"arn:{partition}:s3:::prod-{region}-starport-layer-bucket/layer")]
                who = anonymous
            bad = _policy_problem(ctx, e, actions, who)
            if bad is not None:
                status, text = bad
                findings.append(Finding(
                    status, f"the {service} endpoint {e.get('VpcEndpointId')} is in the path of every pull, and {text}",
                    fix_text="Widen the endpoint policy to allow the pull (or reset it to the default, full access):",
                    commands=(f"aws ec2 describe-vpc-endpoints --region {net.region} --vpc-endpoint-ids "
                              f"{e.get('VpcEndpointId')} --query 'VpcEndpoints[0].PolicyDocument' --output text",
                              f"aws ec2 modify-vpc-endpoint --region {net.region} --vpc-endpoint-id "
                              f"{e.get('VpcEndpointId')} --reset-policy")))
            answer = dns.get(ep.host)
            if ep.vpce_type == "Interface" and answer is not None and answer.public:
                servers = ", ".join(_resolvers(ctx)[1].nameservers) or "none"
                findings.append(Finding(
                    Status.FAIL, f"{e.get('VpcEndpointId')} ({service}) has private DNS, but this host resolves "
                                 f"{ep.host} to the public {answer.result.addresses[0]}: its resolver ({servers}) "
                                 "does not answer from the VPC's private zone",
                    fix_text="VPC endpoints' private names resolve only through the Amazon-provided VPC resolver: "
                             "use it (169.254.169.253), or forward amazonaws.com from your DNS servers to it; the "
                             "VPC needs DNS resolution and DNS hostnames on.",
                    commands=(f"aws ec2 describe-vpc-attribute --region {net.region} --vpc-id {net.vpc} "
                              "--attribute enableDnsSupport",
                              f"aws ec2 describe-vpc-attribute --region {net.region} --vpc-id {net.vpc} "
                              "--attribute enableDnsHostnames")))
    if cross_region and not egress:
        findings.insert(0, Finding(
            Status.FAIL, f"the registry is in {region} but this instance in {net.region}, whose subnet {net.subnet} "
                         "has no NAT or internet route: VPC endpoints do not serve cross-Region requests",
            fix_text=f"Replicate the image to {net.region} (ECR replication, or a pull-through cache rule there), or "
                     "give the subnet a NAT gateway route."))
    elif cross_region:
        details.append(f"the registry is in {region}, this instance in {net.region}: pulls cross Regions via "
                       f"{net.egress}")
    evidence = {"instance": net.instance_id, "region": net.region, "vpc": net.vpc, "subnet": net.subnet,
                "route_table": net.route_table, "egress": net.egress,
                "endpoints": [{k: e.get(k) for k in ("VpcEndpointId", "ServiceName", "VpcEndpointType", "State",
                                                      "PrivateDnsEnabled", "RouteTableIds")} for e in net.endpoints]}
    if egress:
        how = (f"through {net.egress} (route table {net.route_table})"
               + (f" and {len(net.endpoints)} VPC endpoints" if net.endpoints else ", no ECR VPC endpoints"))
    else:
        how = f"through VPC endpoints ({', '.join(str(e.get('VpcEndpointId')) for e in net.endpoints)})"
    return conclude(findings, f"{net.instance_id} in {net.vpc}/{net.subnet} reaches ECR {how}", details=details,
                    evidence=evidence)

