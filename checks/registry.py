"""End to end without the daemon: the registry's /v2/ challenge, docker's own credentials, the manifest, and one
layer's download from S3 — the three network legs of a pull (aws-side.md A1 steps 2-4)."""

from __future__ import annotations

import base64
import contextlib
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from ecrdoctor.checks.docker_auth import DOCKER_AUTH_CONFIG_SINCE, docker_auth_config_command
from ecrdoctor.checks.docker_config import credhelper_command, login_command
from ecrdoctor.checks.ecr import MANIFEST_TYPES, Platform, host_platform, runs_on, target_manifest
from ecrdoctor.checks.helper import GET_TIMEOUT, HELPER, cache_dir, helper_credentials, target_host

from ecrdoctor import awsfacts
from ecrdoctor.api import Fix, Outcome, SkipCheck, check, fail, passed, skip, warn
from ecrdoctor.aws import CONNECT_TIMEOUT, client_error_code, client_error_message
from ecrdoctor.context import Context, parse_resolve
from ecrdoctor.distro import os_id
from ecrdoctor.dockerconfig import CredentialSource, config_key, default_store_candidate, resolve_credentials
from ecrdoctor.dockerfacts import docker_cli_version
from ecrdoctor.ecrtoken import TokenError, decode_basic_auth, ecr_password_expiry, format_time
from ecrdoctor.net import HttpResult
from ecrdoctor.proxyenv import ProxyEnvError, display_proxy, go_decide, go_settings, parse_proxy_url
from ecrdoctor.reference import RegistryHost
from ecrdoctor.registryauth import (
    ChallengeError,
    ChildManifest,
    LoginVerdict,
    ManifestError,
    ManifestVerdict,
    classify_login,
    classify_manifest,
    manifest_blobs,
    parse_challenges,
    parse_error_body,
    parse_s3_error,
    status_text,
)

PROBE_TIMEOUT = 5.0  # each request: connect and every read (SPEC §8 read timeout)
NO_CREDENTIALS = "no basic auth credentials"
TLS_UNTRUSTED = "x509: certificate signed by unknown authority"


# == shared pieces ======================================================================================

def _private_registry(ctx: Context) -> Optional[str]:
    reg = ctx.registry
    if reg is None:
        return "no IMAGE given: there is no registry to probe"
    if reg.kind == "public":
        return f"{reg.host} is ECR Public: anonymous pulls get a bearer token there, there is no Basic login to test"
    if reg.kind != "private":
        return f"{reg.host} is not an Amazon ECR registry"
    return None


def _private_image(ctx: Context) -> Optional[str]:
    why = _private_registry(ctx)
    if why is None and ctx.image is None:
        return "IMAGE names only a registry: there is no repository to look at"
    return why


def _region(reg: RegistryHost) -> str:
    return reg.region or "<region>"


def _timeout(ctx: Context) -> float:
    """A probe's timeout: PROBE_TIMEOUT, less when the run's deadline is nearer, so the check reports its own."""
    return max(0.5, min(PROBE_TIMEOUT, ctx.remaining() - 0.5))


@dataclass(frozen=True)
class Route:
    """How a probe reaches a URL: direct, pinned to an address by --resolve, or through a proxy."""

    proxy: Optional[str] = field(default=None, repr=False)  # may hold user:password
    described: str = "direct"
    pinned: bool = False


def _route(ctx: Context, url: str) -> Route:
    """The way dockerd's Go HTTP client would go if it had this process's proxy variables (net.proxy compares
    dockerd's own): --resolve pins the address, else HTTPS_PROXY unless NO_PROXY exempts the host."""
    parts = urlsplit(url)
    host, port = (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)
    pinned = parse_resolve(ctx.options.resolve).get((host, port))
    if pinned is not None:
        return Route(None, f"via {pinned} (--resolve)", pinned=True)
    settings = go_settings(ctx.host.env)
    decision = go_decide(settings, url)
    if decision.proxy is None:
        return Route()
    with contextlib.suppress(ProxyEnvError):
        ctx.redactor.add(parse_proxy_url(decision.proxy).password)
    return Route(decision.proxy, f"via the proxy {display_proxy(decision.proxy)} ({settings.name(parts.scheme)})")


def _get(ctx: Context, method: str, url: str, route: Route, headers: Optional[Mapping[str, str]] = None
         ) -> HttpResult:
    """One request. A direct one resolves the host first with the probe's bounded lookup (once per host and run):
    the HTTP client's own lookup has no timeout, and a resolver that never answers must not hold the check."""
    host = urlsplit(url).hostname or ""
    if route.proxy is None and not route.pinned:
        found = ctx.fact(f"registry.resolve.{host}", lambda: ctx.net.resolve(host, _timeout(ctx)))
        if not found.ok:
            return HttpResult(url, None, found.duration_ms, error=f"DNS lookup of {host} failed: {found.error}")
    return ctx.net.http(method, url, headers=dict(headers or {}), timeout=_timeout(ctx), proxy=route.proxy)


def _waited(error: Optional[str]) -> str:
    """"within 5 s" from the probe's "no answer within 5 s": the timeout it really used."""
    return (error or "").replace("no answer ", "", 1) or "in time"


def _shown(url: str) -> str:
    """scheme://host/path: never the query string (a pre-signed URL's signature and token are in it)."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc.rsplit('@', 1)[-1]}{p.path}"


# == which credentials docker sends ======================================================================

@dataclass(frozen=True)
class DockerCredentials:
    """The credentials docker would send to the registry, by docker's own precedence (docker.credentials).

    `auth` (base64 of user:password, as in the Authorization header) lives in memory only and is registered
    with the redactor; `missing` says why docker sends none; `untested` why ecrdoctor cannot reproduce them."""

    host: str
    source: str  # docker-auth-config | cred-helper | creds-store | auths | none
    described: str
    username: Optional[str] = None
    auth: Optional[str] = field(default=None, repr=False)
    missing: Optional[str] = None
    untested: Optional[str] = None
    expires_at: Optional[datetime] = None
    notes: Tuple[str, ...] = ()


def docker_credentials(ctx: Context) -> DockerCredentials:
    """What docker sends to the target registry, once per run (fact `registry.credentials`)."""
    return ctx.fact("registry.credentials", lambda: _docker_credentials(ctx))


def _described(src: CredentialSource) -> str:
    if src.kind == "docker-auth-config":
        return f"the DOCKER_AUTH_CONFIG variable (entry '{src.key}')"
    if src.kind == "cred-helper":
        return f"docker-credential-{src.helper} (credHelpers['{src.key}'])"
    if src.kind == "creds-store":
        return f"docker-credential-{src.helper} (credsStore)"
    if src.kind == "auths":
        return f"the auths entry '{src.key}'"
    return "nothing"


def _with_secret(ctx: Context, base: DockerCredentials, user: str, password: str) -> DockerCredentials:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    for secret in (password, auth):
        ctx.redactor.add(secret)
    try:
        expires = ecr_password_expiry(password)
    except TokenError:
        expires = None
    return DockerCredentials(base.host, base.source, base.described, user, auth, expires_at=expires,
                             notes=base.notes)


def _docker_credentials(ctx: Context) -> DockerCredentials:
    host = target_host(ctx)
    if host is None:
        raise SkipCheck("no registry to send credentials to: give an IMAGE")
    dc = ctx.docker_config()
    config, auth_config = dc.effective, dc.auth_config
    notes: List[str] = []
    if auth_config is not None and config_key(host) in auth_config.auths:
        version = docker_cli_version(ctx)
        if version is not None and version < DOCKER_AUTH_CONFIG_SINCE:
            notes.append(f"docker CLI {'.'.join(map(str, version))} ignores DOCKER_AUTH_CONFIG (read since 28.3.0)")
            auth_config = None
    src = resolve_credentials(config, host, auth_config)
    if src.kind == "none" and not (config.creds_store or config.cred_helpers or config.auths):
        candidate = default_store_candidate(config, ctx.host.which)
        if candidate:
            src = CredentialSource("creds-store", candidate)
            notes.append(f"the config names no credential store, so docker auto-detects docker-credential-{candidate}")
    notes += src.shadowed
    base = DockerCredentials(host, src.kind, _described(src), notes=tuple(notes))

    def without(missing: Optional[str] = None, untested: Optional[str] = None) -> DockerCredentials:
        return DockerCredentials(host, src.kind, base.described, missing=missing, untested=untested,
                                 notes=base.notes)

    if src.kind in ("auths", "docker-auth-config") and src.entry is not None:
        entry = src.entry
        if entry.secret_auth:
            ctx.redactor.add(entry.secret_auth)
            try:
                user, password = decode_basic_auth(entry.secret_auth)
            except TokenError as exc:
                return without(missing=f"{base.described} cannot be decoded ({exc})")
            return _with_secret(ctx, base, user, password)
        if entry.has_password:
            return without(untested=f"{base.described} holds username and password fields; ecrdoctor reads only "
                                    "`auth` values")
        if entry.has_identity_token:
            return without(untested=f"{base.described} holds only an identity token, which ECR's Basic login "
                                    "does not use")
        return without(missing=f"{base.described} is empty")
    if src.kind in ("cred-helper", "creds-store"):
        if src.helper != "ecr-login":
            return without(untested=f"docker asks docker-credential-{src.helper}; ecrdoctor runs only {HELPER}")
        if ctx.options.root:
            return without(untested=f"--root: {HELPER} would run on this machine, not on the mounted host")
        try:
            answer = helper_credentials(ctx)
        except SkipCheck as exc:
            return without(untested=f"{HELPER} was not run: {exc}")
        if answer.ok and answer.username and answer.secret:
            return _with_secret(ctx, base, answer.username, answer.secret)
        why = "timed out" if answer.timed_out else (answer.output[:160] or "returned nothing")
        return without(missing=f"{HELPER} returned no credentials ({why}; helper.get says why)")
    return without(missing="no credHelpers entry, no credsStore and no auths entry match it")


def _renew_fix(ctx: Context, creds: DockerCredentials, reg: RegistryHost, why: str) -> Fix:
    """How to get docker a fresh token, where docker takes its credentials from."""
    path = ctx.docker_config().location.path
    if creds.source == "docker-auth-config":
        return Fix(f"{why} DOCKER_AUTH_CONFIG overrides the config file for this host: set it again with a token "
                   f"from {_region(reg)}, or unset it.", (docker_auth_config_command(reg), "unset DOCKER_AUTH_CONFIG"))
    if creds.source in ("cred-helper", "creds-store"):
        cache = f"{cache_dir(ctx).rstrip('/')}/cache.json"
        return Fix(f"{why} {HELPER} handed docker this token (helper.get and helper.cache say why): delete its "
                   "token cache so that it asks ECR for a new one (the file is only a cache).",
                   (f"rm -f {shlex.quote(cache)}",))
    return Fix(f"{why} Log in again with a token from {_region(reg)} (it lasts 12 hours; first command), or let the "
               "Amazon ECR credential helper fetch fresh tokens for this registry (second).",
               (login_command(reg), credhelper_command(path, reg.host)))


# == registry.v2 =========================================================================================

def _unreachable(ctx: Context, url: str, res: HttpResult, route: Route, reg: RegistryHost,
                 evidence: Dict[str, Any]) -> Outcome:
    """A probe that got no HTTP answer: timeout, DNS, TLS trust, refused (host-side.md D1, D3, D4)."""
    host = urlsplit(url).hostname or reg.host
    hostport = f"{host}:{urlsplit(url).port or 443}"
    region = _region(reg)
    why = res.error or "no answer"
    evidence.update(error=why, timed_out=res.timed_out)
    check_cmd = f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 {url}"
    if res.timed_out:
        return fail(
            f"no answer from {url} {_waited(why)} ({route.described}): the network path to the "
            "registry is blocked",
            details=[f"docker pull says: Get \"{url}\": net/http: request canceled while waiting for connection "
                     "(Client.Timeout exceeded while awaiting headers)"],
            fix=Fix(f"Open a path to {hostport}: from a private subnet a NAT gateway, or the interface endpoint "
                    f"com.amazonaws.{region}.ecr.dkr with private DNS (plus ecr.api and the S3 gateway endpoint), "
                    "whose security group allows 443 from this host; behind a proxy, dockerd needs the proxy too "
                    "(net.proxy). The first command should print 401.",
                    (check_cmd, f"aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,"
                     f"Values=com.amazonaws.{region}.ecr.dkr --query 'VpcEndpoints[].[VpcEndpointId,State,"
                     "PrivateDnsEnabled]'")),
            evidence=evidence)
    if "CERTIFICATE_VERIFY_FAILED" in why or "certificate verify failed" in why.lower():
        debian = os_id(ctx) == "debian"
        install = ("sudo cp proxy-root-ca.crt /usr/local/share/ca-certificates/ && sudo update-ca-certificates"
                   if debian else
                   "sudo cp proxy-root-ca.crt /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust")
        return fail(
            f"the TLS certificate {host} presents is not trusted ({why}): something between this host and ECR "
            "intercepts TLS",
            details=[f"docker pull says: {TLS_UNTRUSTED}", "net.reach names the certificate's issuer"],
            fix=Fix("See who issued the certificate (Amazon's, or a proxy's such as Zscaler), then install that "
                    "proxy's root CA into the system store and restart docker, or bypass the proxy for "
                    "*.amazonaws.com.",
                    (f"openssl s_client -connect {hostport} -servername {host} </dev/null 2>/dev/null | "
                     "openssl x509 -noout -issuer -subject", install, "sudo systemctl restart docker")),
            evidence=evidence)
    lowered = why.lower()
    if lowered.startswith("dns lookup") or any(s in lowered for s in (
            "name or service not known", "no address associated", "temporary failure in name", "nodename nor servname",
            "getaddrinfo")):
        return fail(f"{host} does not resolve: {why.split(' failed: ', 1)[-1]}",
                    details=[f"docker pull says: dial tcp: lookup {host}: no such host"],
                    fix=Fix("Check the resolver this host uses (net.dns): VPC endpoints need Amazon's DNS "
                            "(Route 53 Resolver) or conditional forwarding.",
                            (f"getent hosts {host}", "cat /etc/resolv.conf")),
                    evidence=evidence)
    return fail(f"cannot connect to {url} ({route.described}): {why}",
                fix=Fix(f"Something refuses or drops connections to {hostport} (firewall, security group, proxy); the "
                        "first command should print 401.", (check_cmd,)),
                evidence=evidence)


def _challenge_words(res: HttpResult) -> Tuple[Optional[str], Dict[str, Any]]:
    """The scheme of the first challenge and what the evidence shows of it."""
    header = res.headers.get("www-authenticate", "")
    if not header:
        return None, {}
    try:
        challenge = parse_challenges(header)[0]
    except ChallengeError:
        return "unparseable", {"www_authenticate": header[:200]}
    return challenge.scheme, {"scheme": challenge.scheme, "realm": challenge.realm, "service": challenge.service}


@check("registry.v2", title="Does the registry answer /v2/ and accept the credentials docker sends?",
       applies_when=_private_registry, timeout=GET_TIMEOUT + 2 * PROBE_TIMEOUT + 2, network=True)
def registry_v2(ctx: Context) -> Outcome:
    """GETs `https://<registry>/v2/` twice, as docker does before a pull: first without credentials, then with
    exactly the credentials docker would send.

    ECR answers the first request with `401` and `WWW-Authenticate: Basic realm="https://<host>/",service=
    "ecr.amazonaws.com"`: that proves the registry itself is reachable (through a proxy only when HTTPS_PROXY
    applies to it; `--resolve HOST:PORT:ADDR` pins the address, `--ca-bundle` adds trust). The credentials
    follow docker.credentials' precedence (DOCKER_AUTH_CONFIG on CLI 28.3+, credHelpers by exact host,
    credsStore, auths): an `auth` value is decoded and sent as docker sends it, and docker-credential-ecr-login
    is asked once per run. The Authorization header is built in memory; the secret is registered with the
    redactor and never reported.

    Decides: pass when the registry accepts the credentials (200); fail when it cannot be reached (timeout,
    DNS, an untrusted certificate = TLS interception, refused), when it answers /v2/ with something other
    than a 401 challenge, when docker would send no credentials (`no basic auth credentials`), when it
    answers 401/403 `denied: Your authorization token has expired. Reauthenticate and try again.` (or the
    token's own expiry has passed), 400 (a token from another region or account: `login attempt to …/v2/
    failed with status: 400 Bad Request`), 401 (credentials it does not know) or 403 (denied); warn when it
    answers without asking for credentials or with a Bearer challenge (not ECR: a mirror or a proxy answers);
    skip without a private ECR registry, and when the credentials come from a store ecrdoctor does not run.

    References: aws-side.md A1 (the /v2/ challenge), A3 (region-bound tokens, 400), A5 (docker's words), B1
    AUTH-NO-CREDS, AUTH-TOKEN-EXPIRED, AUTH-WRONG-REGION-TOKEN, B4 NET-DKR-UNREACHABLE, C22; host-side.md D1,
    D3, D4; moby registry/auth.go (loginV2).
    """
    reg = ctx.registry
    host = target_host(ctx)
    assert reg is not None and host is not None
    url = f"https://{host}/v2/"
    route = _route(ctx, url)
    evidence: Dict[str, Any] = {"url": url, "route": route.described}
    first = _get(ctx, "GET", url, route)
    if first.status is None:
        return _unreachable(ctx, url, first, route, reg, evidence)
    scheme, challenge = _challenge_words(first)
    evidence.update(unauthenticated_status=first.status, challenge=challenge)
    if first.status == 200:
        return warn(f"{url} answers without asking for credentials ({route.described}): ECR always asks, so a "
                    "mirror or proxy answers for it", details=[f"body: {first.body[:160]}"] if first.body else [],
                    fix=Fix("Find what answers for the registry host: a proxy, a hosts-file entry or a mirror.",
                            (f"getent hosts {reg.host.split(':')[0]}",)), evidence=evidence)
    if first.status != 401 or scheme != "basic":
        what = (f"a {scheme.capitalize()} challenge" if first.status == 401 and scheme else status_text(first.status))
        answered = parse_error_body(first.body)
        lines = [f"it said: {answered[0].docker_text}"] if answered else []
        outcome = warn if first.status == 401 else fail
        extra = " (407: the proxy wants its own credentials)" if first.status == 407 else ""
        return outcome(f"{url} answered {what}{extra} ({route.described}), not ECR's 401 Basic challenge: something "
                       "else answers for the registry", details=lines,
                       fix=Fix("Compare with a direct request: ECR answers 401 with `WWW-Authenticate: Basic "
                               "realm=\"https://<host>/\",service=\"ecr.amazonaws.com\"`.",
                               (f"curl -sS -o /dev/null -D - --max-time 10 {url}",)), evidence=evidence)
    creds = docker_credentials(ctx)
    evidence.update(source=creds.source, credentials=creds.described, username=creds.username)
    details = list(creds.notes)
    reached = f"{url} answers with {'ECR' if challenge.get('service') == 'ecr.amazonaws.com' else 'a'} Basic " \
              f"challenge ({route.described})"
    if creds.missing:
        ref = ctx.image
        said = f"Head \"https://{host}/v2/{ref.repository}/manifests/{ref.reference}\": {NO_CREDENTIALS}" if ref \
            else NO_CREDENTIALS
        return fail(f"docker would send no credentials to {host}: {creds.missing}; the pull fails with "
                    f"`{NO_CREDENTIALS}`", details=[reached, f"docker pull says: {said}", *details],
                    fix=Fix("Let the Amazon ECR credential helper supply fresh tokens for this registry (durable), or "
                            "log in with a token that lasts 12 hours.",
                            (credhelper_command(ctx.docker_config().location.path, reg.host), login_command(reg))),
                    evidence=evidence)
    if creds.untested or creds.auth is None:
        return skip(f"{reached}; the credentials docker sends were not tried: {creds.untested}", details=details,
                    evidence=evidence)
    second = _get(ctx, "GET", url, route, {"Authorization": f"Basic {creds.auth}"})
    if second.status is None:
        return _unreachable(ctx, url, second, route, reg, evidence)
    now = ctx.now()
    expired = creds.expires_at is not None and creds.expires_at <= now
    verdict = classify_login(second.status, second.body, url, token_expired=expired if creds.expires_at else None)
    evidence.update(status=second.status, verdict=verdict.kind,
                    errors=[e.code for e in verdict.errors if e.code])
    if creds.expires_at is not None:
        evidence["expires_at"] = creds.expires_at.isoformat().replace("+00:00", "Z")
        details.append(f"the token itself says it {'expired' if expired else 'is valid until'} "
                       f"{format_time(creds.expires_at)}")
    who = f"from {creds.described}" + (f", user {creds.username}" if creds.username else "")
    if verdict.kind == "accepted":
        return passed(f"{host} accepts the credentials docker sends ({who}): GET /v2/ answered 200",
                      details=[reached, *details], evidence=evidence)
    return _rejected(ctx, verdict, creds, reg, who, details, evidence)


def _rejected(ctx: Context, verdict: LoginVerdict, creds: DockerCredentials, reg: RegistryHost, who: str,
              details: List[str], evidence: Dict[str, Any]) -> Outcome:
    host = creds.host
    said = f"docker says: {verdict.docker_says}" if verdict.docker_says else ""
    lines = [line for line in (said, *details) if line]
    if verdict.kind == "expired":
        return fail(f"{host} refuses the token docker sends ({who}): it has expired (HTTP {verdict.status})",
                    details=lines, fix=_renew_fix(ctx, creds, reg, "ECR tokens last 12 hours."), evidence=evidence)
    if verdict.kind == "other-region":
        return fail(f"{host} cannot use the token docker sends ({who}): HTTP 400, a token issued for another "
                    f"region (or by another account or profile) than {_region(reg)}",
                    details=lines + ["ECR tokens are bound to the region that issued them (aws-side.md A3)"],
                    fix=_renew_fix(ctx, creds, reg, f"Get the token from {_region(reg)}, the registry's region."),
                    evidence=evidence)
    first = verdict.first
    quoted = f": {first.docker_text}" if first else ""
    if verdict.kind == "rejected":
        return fail(f"{host} does not accept the credentials docker sends ({who}): HTTP 401{quoted}",
                    details=lines + ["a wrong password, a login meant for another registry, or a value that is not "
                                     "an ECR token"],
                    fix=_renew_fix(ctx, creds, reg, "ECR accepts only the tokens it issued."), evidence=evidence)
    if verdict.kind == "denied":
        return fail(f"{host} denies the credentials docker sends ({who}): HTTP 403{quoted}", details=lines,
                    fix=_renew_fix(ctx, creds, reg, "ECR refused this token."), evidence=evidence)
    return fail(f"{host} answered GET /v2/ with the credentials docker sends ({who}) with "
                f"{status_text(verdict.status)}{quoted}", details=lines,
                fix=Fix("Retry; a 5xx answer that persists is ECR's or a proxy's problem.",
                        (f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 https://{host}/v2/",)),
                evidence=evidence)


# == registry.manifest ===================================================================================

def _import_risk(ctx: Context) -> Optional[str]:
    """None when requesting the manifest cannot start a pull-through-cache import (the repository exists, or
    no cache rule covers it); else why the manifest is not requested. SPEC §7."""
    ref = ctx.image
    assert ref is not None
    lookup: Optional[awsfacts.RepositoryLookup] = None
    try:
        lookup = awsfacts.repository(ctx)
    except Exception as exc:
        seen = f"{client_error_code(exc)}: {client_error_message(exc)}"[:200]
    else:
        if lookup.exists:
            return None
        seen = "it does not exist" if lookup.missing else f"{lookup.error_code}: {lookup.error_message}"[:200]
    try:
        rule = awsfacts.target_rule(ctx)
    except Exception as exc:
        why = f"{client_error_code(exc)}: {client_error_message(exc)}"[:200]
        return (f"cannot tell whether {ref.repository} is a pull-through-cache repository not created yet "
                f"(DescribeRepositories: {seen}; DescribePullThroughCacheRules: {why}): requesting its manifest "
                "would then import the image from upstream, so it is not requested")
    if rule is None:
        return None
    if lookup is not None and lookup.missing:
        return (f"{ref.repository} falls under the pull-through-cache rule '{rule.prefix}' ({rule.upstream_url}) and "
                "does not exist yet: requesting its manifest would create it and import the image from upstream, "
                "so it is not requested (ptc.first-pull covers the first pull)")
    return (f"{ref.repository} falls under the pull-through-cache rule '{rule.prefix}' and whether it exists is "
            f"unknown (DescribeRepositories: {seen}): its manifest is not requested")


def _manifest_fix(ctx: Context, verdict: ManifestVerdict, reg: RegistryHost) -> Fix:
    ref = ctx.image
    assert ref is not None
    cli = f"--region {_region(reg)} --registry-id {reg.account}"
    if verdict.kind == "manifest-unknown":
        return Fix(f"Pull a tag that exists (the first command lists them), or push {ref.reference}.",
                   (f"aws ecr list-images --repository-name {ref.repository} {cli} --filter tagStatus=TAGGED "
                    "--query 'imageIds[].imageTag'",))
    if verdict.kind == "name-unknown":
        return Fix("Check the repository name, account and region (first command); new repositories must be created "
                   "explicitly (second).",
                   (f"aws ecr describe-repositories {cli} --query 'repositories[].repositoryName'",
                    f"aws ecr create-repository --repository-name {ref.repository} --region {_region(reg)}"))
    if verdict.kind in ("expired", "unauthorized"):
        return _renew_fix(ctx, docker_credentials(ctx), reg, "The token no longer works for this repository.")
    if verdict.kind == "denied":
        return Fix("The principal that issued the token needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on "
                   "the repository (identity policy, or the repository policy; both across accounts): iam.pull "
                   "and iam.repository-policy say which is missing.",
                   (f"aws ecr get-repository-policy --repository-name {ref.repository} {cli}",))
    return Fix("Retry; a 5xx answer that persists is ECR's or a proxy's problem.", ())


@check("registry.manifest", title="Does the registry serve the image's manifest with docker's credentials?",
       requires=["registry.v2"], applies_when=_private_image, timeout=2 * PROBE_TIMEOUT + 8, network=True)
def registry_manifest(ctx: Context) -> Outcome:
    """HEADs `https://<registry>/v2/<repository>/manifests/<tag or digest>` with the credentials docker sends
    and an Accept header naming all four manifest types (OCI index and manifest, Docker list and v2
    manifest: a probe that leaves one out can be told "not found" for an image that exists); when the HEAD
    is refused it GETs the same URL for the error body, whose code docker prints.

    A pull-through-cache repository that does not exist yet is never probed: the request would create it and
    import the image from upstream. So the repository must be known to exist (DescribeRepositories), or no
    cache rule may cover it (DescribePullThroughCacheRules); otherwise the check skips.

    Decides: pass when the manifest is there (its digest and media type); fail for `manifest for <image> not
    found: manifest unknown: …` (no such tag or digest), `repository <name> not found: name unknown: …`, `pull
    access denied for <name>, repository does not exist or may require 'docker login': denied: …` (IAM or the
    repository policy), an expired token, or no answer; skip when registry.v2 did not pass, for a
    registry-only target, and when the repository may be a pull-through-cache repository not created yet.

    References: aws-side.md A1 (BatchGetImage behind the manifest), A5 (docker's words), B2 IAM-PULL-*, B5
    IMG-REPO-NOT-FOUND, IMG-TAG-NOT-FOUND, IMG-MEDIA-TYPE-PROBE, A7/C10 (first pulls import); host-side.md C1,
    C2; moby distribution/errors.go (notFoundError).
    """
    ref, reg = ctx.image, ctx.registry
    assert ref is not None and reg is not None
    risk = _import_risk(ctx)
    if risk:
        return skip(risk)
    creds = docker_credentials(ctx)
    if creds.auth is None:
        return skip(f"no credentials to send to {ref.registry}: registry.v2 says why")
    reference = f"@{ref.digest}" if ref.digest else f":{ref.tag or 'latest'}"
    name = f"{ref.registry}/{ref.repository}"
    url = f"https://{ref.registry}/v2/{ref.repository}/manifests/{ref.digest or ref.tag or 'latest'}"
    route = _route(ctx, url)
    headers = {"Authorization": f"Basic {creds.auth}", "Accept": ", ".join(MANIFEST_TYPES)}
    head = _get(ctx, "HEAD", url, route, headers)
    evidence: Dict[str, Any] = {"url": url, "route": route.described, "head_status": head.status}
    answer = head
    if head.status is not None and head.status != 200:
        body = _get(ctx, "GET", url, route, headers)  # HEAD answers carry no body: the GET's says why
        answer = body if body.status is not None else head
        evidence["get_status"] = body.status
    if answer.status is None:
        return _unreachable(ctx, url, answer, route, reg, evidence)
    verdict = classify_manifest(answer.status, answer.headers, answer.body, name, reference, url)
    evidence.update(verdict=verdict.kind, errors=[e.code for e in verdict.errors if e.code])
    if verdict.kind == "found":
        evidence.update(digest=verdict.digest, media_type=verdict.media_type)
        return passed(f"{name}{reference} is there: {verdict.digest or 'no digest header'} "
                      f"({verdict.media_type or 'no media type'})", evidence=evidence)
    lines = [f"docker pull says: Error response from daemon: {verdict.docker_says}"]
    lookup = ctx.known_fact("aws.repository")
    if verdict.kind == "manifest-unknown" and isinstance(lookup, awsfacts.RepositoryLookup) and lookup.missing:
        # ECR says NAME_UNKNOWN for a missing repository; other registries (distribution) say manifest unknown
        lines.append(f"DescribeRepositories: repository {ref.repository} does not exist in {reg.account} "
                     f"({_region(reg)}), yet the registry answered `manifest unknown`")
        verdict = ManifestVerdict("name-unknown", verdict.status, verdict.errors, verdict.docker_says)
    summaries = {
        "manifest-unknown": f"{ref.repository} has no image {ref.digest or ref.tag or 'latest'} in {reg.account} "
                            f"({_region(reg)}): `manifest unknown`",
        "name-unknown": f"there is no repository {ref.repository} in registry {reg.account} ({_region(reg)}): "
                        "`name unknown`",
        "denied": f"{ref.registry} denies the manifest of {ref.repository}{reference} to docker's credentials",
        "expired": f"{ref.registry} refuses the manifest of {ref.repository}{reference}: the token has expired",
        "unauthorized": f"{ref.registry} does not accept docker's credentials for {ref.repository}{reference}",
    }
    summary = summaries.get(verdict.kind, f"{ref.registry} answered {status_text(verdict.status)} for the manifest "
                                          f"of {ref.repository}{reference}")
    return fail(summary, details=lines, fix=_manifest_fix(ctx, verdict, reg), evidence=evidence)


# == net.s3 ===============================================================================================

def _pick_child(ctx: Context, children: Tuple[ChildManifest, ...]) -> str:
    """The child manifest docker would pull on this host (else the first real platform)."""
    host, _ = host_platform(ctx)
    real = [c for c in children if not c.attestation] or list(children)
    match = next((c for c in real if runs_on(host, Platform(c.os, c.architecture, c.variant))), real[0])
    return str(match.digest)


def _one_layer(ctx: Context) -> str:
    """A layer digest of the target image (through its index, the child for this host); SkipCheck when none."""
    ref, reg = ctx.image, ctx.registry
    assert ref is not None and reg is not None
    lookup = awsfacts.repository(ctx)
    if not lookup.exists:
        why = "it does not exist" if lookup.missing else f"{lookup.error_code}: {lookup.error_message}"
        raise SkipCheck(f"no layer to fetch: repository {ref.repository} cannot be read ({why})")
    got = target_manifest(ctx)
    if got.manifest is None:
        raise SkipCheck(f"no layer to fetch: BatchGetImage found no manifest for {ref.repository}:{ref.reference} "
                        f"({got.failure_code}{': ' + got.failure_reason if got.failure_reason else ''})")
    try:
        blobs = manifest_blobs(got.manifest)
        if blobs.children:
            digest = _pick_child(ctx, blobs.children)
            resp = awsfacts.batch_get_image(ctx, reg.account, ref.repository, {"imageDigest": digest}, MANIFEST_TYPES)
            images = resp.get("images") or []
            if not images:
                raise SkipCheck(f"no layer to fetch: the index's manifest {digest} is missing")
            blobs = manifest_blobs(str(images[0].get("imageManifest") or ""))
    except ManifestError as exc:
        raise SkipCheck(f"no layer to fetch: {exc}") from None
    if not blobs.layers:
        raise SkipCheck("no layer to fetch: the index points at another index")
    return blobs.layers[0]


def _api_skip(exc: BaseException, what: str) -> SkipCheck:
    if isinstance(exc, SkipCheck):
        return exc
    return SkipCheck(f"cannot {what}: {client_error_code(exc)}: {client_error_message(exc)}"[:300])


def _endpoints_command(reg: RegistryHost) -> str:
    region = _region(reg)
    return (f"aws ec2 describe-vpc-endpoints --region {region} --filters Name=service-name,Values=com.amazonaws."
            f"{region}.s3 --query 'VpcEndpoints[].[VpcEndpointId,VpcEndpointType,RouteTableIds,PolicyDocument]'")


def _reach_command(bucket_host: str) -> str:
    """Any HTTP status (S3 answers 403 to an unsigned request) proves the path; a timeout does not."""
    return f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 10 https://{bucket_host}/"


def _subnet_route(ctx: Context, reg: RegistryHost) -> Tuple[str, str]:
    """(VPC id, route table id) of this instance's subnet for the endpoint command: DescribeInstances, then
    DescribeRouteTables (the subnet's own table, else the VPC's main one). Placeholders off EC2 or on any error."""
    unknown = ("<vpc-id>", "<route-table-id>")
    instance = ctx.host.ec2_instance_id()
    if instance is None or ctx.remaining() < 2 * CONNECT_TIMEOUT + 2:  # an unreachable EC2 API: 2 connect timeouts
        return unknown
    try:
        ec2 = ctx.aws.client("ec2", region=ctx.aws.configured_region() or reg.region)
        found = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
        vpc, subnet = str(found["VpcId"]), str(found["SubnetId"])
        tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
        tables = tables.get("RouteTables") or ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]).get("RouteTables")
        return vpc, str(tables[0]["RouteTableId"]) if tables else unknown[1]
    except Exception:
        return unknown


@check("net.s3", title="Can this host download image layers from S3 (a pre-signed layer URL)?",
       requires=["aws.credentials"], applies_when=_private_image, timeout=20, network=True)
def net_s3(ctx: Context) -> Outcome:
    """Asks ECR for the download URL of one layer of the target (GetDownloadUrlForLayer, as the registry does when
    docker fetches a blob), then GETs one byte of it (`Range: bytes=0-0`) from S3, as dockerd would.

    Layers do not come from the registry host: ECR redirects each blob to a pre-signed URL of
    `prod-<region>-starport-layer-bucket.s3.<region>.amazonaws.com`. A host that reaches the registry (and
    so resolves the manifest) can still hang on every layer: a private subnet without an S3 gateway endpoint
    on its route table or a NAT, an endpoint policy that does not allow the layer bucket, security group
    egress without the S3 prefix list, a firewall or proxy without S3. The layer comes from the manifest
    (BatchGetImage, only on a repository that exists; for an index the manifest of this host's platform).
    The URL's query string (signature and token) is never shown: evidence has scheme://host/path only.

    Decides: pass when S3 answers 206 or 200; fail when it answers 403 (AccessDenied: the S3 endpoint policy,
    or a URL that expired on the way) or another status, or does not answer (timeout: no route to S3), or
    cannot be reached; skip when the repository, manifest or a layer URL cannot be had (missing image,
    AccessDenied for GetDownloadUrlForLayer: iam.pull covers that).

    References: aws-side.md A1 (step 4, the layer bucket), B4 NET-S3-LAYER-PATH, NET-PROXY, NET-CROSS-REGION,
    C16; host-side.md 1.7, D1; ECR API GetDownloadUrlForLayer.
    """
    ref, reg = ctx.image, ctx.registry
    assert ref is not None and reg is not None
    try:
        layer = _one_layer(ctx)
        resp = awsfacts.ecr(ctx).get_download_url_for_layer(repositoryName=ref.repository, registryId=reg.account,
                                                             layerDigest=layer)
    except Exception as exc:
        raise _api_skip(exc, f"get a layer URL for {ref.repository}:{ref.reference}") from None
    url = str(resp.get("downloadUrl") or "")
    ctx.redactor.add(url)
    ctx.redactor.add(urlsplit(url).query)
    if not url.startswith(("https://", "http://")):
        return skip("GetDownloadUrlForLayer returned no usable URL", evidence={"layer": layer})
    bucket_host = urlsplit(url).hostname or ""
    route = _route(ctx, url)
    evidence: Dict[str, Any] = {"layer": layer, "url": _shown(url), "route": route.described}
    got = _get(ctx, "GET", url, route, {"Range": "bytes=0-0"})
    evidence.update(status=got.status, duration_ms=got.duration_ms)
    region = _region(reg)
    if got.status in (200, 206):
        return passed(f"one byte of layer {layer[:19]}… came from {bucket_host} (HTTP {got.status} in "
                      f"{got.duration_ms} ms, {route.described})", evidence=evidence)
    policy = ('{"Sid":"Access-to-specific-bucket-only","Principal":"*","Action":["s3:GetObject"],"Effect":"Allow",'
              f'"Resource":["arn:aws:s3:::prod-{region}-starport-layer-bucket/*"]}}')
    if got.status == 403:
        err = parse_s3_error(got.body)
        evidence["error"] = err.code if err else None
        said = f"{err.code}: {err.message}" if err else "403 Forbidden"
        if err is not None and err.expired:
            return fail(f"S3 ({bucket_host}) says the pre-signed layer URL had expired when it arrived ({said})",
                        details=["ECR signs each layer URL for a short time; something between this host and S3 "
                                 "held the request (a proxy that queues or replays requests)"],
                        fix=Fix("Retry; if it repeats, take the proxy out of the path to S3.", ()),
                        evidence=evidence)
        return fail(f"S3 ({bucket_host}) refuses the layer download ({said}, {route.described}): docker pulls the "
                    "manifest, then fails on the layers",
                    details=["with an S3 gateway endpoint, its policy must allow s3:GetObject on the layer bucket; "
                             "without one, a proxy or firewall may refuse S3"],
                    fix=Fix(f"Make the S3 gateway endpoint's policy (first command shows it) allow the layer bucket "
                            f"with this statement: {policy}", (_endpoints_command(reg),)),
                    evidence=evidence)
    if got.status is None and got.timed_out:
        vpc, table = _subnet_route(ctx, reg)
        endpoint = (f"aws ec2 create-vpc-endpoint --region {region} --vpc-endpoint-type Gateway --vpc-id {vpc} "
                    f"--service-name com.amazonaws.{region}.s3 --route-table-ids {table}")
        return fail(f"no answer from {bucket_host} {_waited(got.error)} ({route.described}): docker resolves "
                    "the manifest, then hangs on every layer",
                    details=[f"docker pull says: … {bucket_host} … i/o timeout (or `filesystem layer verification "
                             "failed`)"],
                    fix=Fix(f"Give this host a route to S3 in {region}: in a private subnet an S3 gateway endpoint "
                            "associated with its route table (or a NAT gateway), security-group egress to the S3 "
                            "prefix list on 443, and S3 allowed through any firewall or proxy. S3 gateway endpoints "
                            "only reach buckets of their own region. The first command prints an HTTP status (even "
                            "403) once S3 is reachable; the second lists the endpoints; the third creates one.",
                            (_reach_command(bucket_host), _endpoints_command(reg), endpoint)),
                    evidence=evidence)
    if got.status is None:
        evidence["error"] = got.error
        return fail(f"cannot connect to {bucket_host} ({route.described}): {got.error}",
                    fix=Fix("Allow HTTPS to the S3 layer bucket of the registry's region; the command prints an HTTP "
                            "status (even 403) once S3 is reachable.", (_reach_command(bucket_host),)),
                    evidence=evidence)
    err = parse_s3_error(got.body)
    return fail(f"S3 ({bucket_host}) answered {status_text(got.status)} for the layer"
                + (f" ({err.code}: {err.message})" if err else ""),
                fix=Fix("Retry; a 5xx answer that persists is S3's or a proxy's problem.", ()),
                evidence=evidence)
