"""aws.imds: the EC2 instance metadata service as the SDKs and the credential helper on this host reach it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import urlsplit

from ecrdoctor.api import Fix, Outcome, Status, check, fail, passed, warn
from ecrdoctor.context import Context
from ecrdoctor.imdsprobe import (
    IAM_INFO_PATH,
    INSTANCE_ID_PATH,
    REGION_PATH,
    ROLES_PATH,
    TOKEN_HEADER,
    TOKEN_PATH,
    TOKEN_TTL_HEADER,
    ImdsAnswerError,
    metadata_disabled,
    metadata_endpoint,
    no_proxy_has_cidr_for,
    parse_iam_info,
    parse_instance_id,
    parse_region,
    parse_role_list,
    parse_token,
    proxy_for,
)
from ecrdoctor.net import HttpResult

PROBE_TIMEOUT = 1.0  # per request, as botocore's own IMDS client (AWS_METADATA_SERVICE_TIMEOUT defaults to 1 s)


@dataclass(frozen=True)
class _Finding:
    status: Status
    summary: str
    fix: Optional[Fix] = None


@dataclass
class _Probe:
    """What one pass over the metadata service saw, directly or through a proxy."""

    token_put: HttpResult
    token: Optional[str] = None
    roles: Optional[HttpResult] = None  # the role list, with the token when there is one
    v1: Optional[HttpResult] = None  # the role list without a token: HttpTokens optional (200/404) or required (401)
    role: Optional[str] = None
    not_imds: Optional[str] = None  # why an answer cannot have come from IMDS
    notes: list[str] = field(default_factory=list)


def _applies(ctx: Context) -> Optional[str]:
    env = ctx.host.env
    if metadata_disabled(env):
        return "AWS_EC2_METADATA_DISABLED=true: the SDKs and the credential helper here never ask IMDS"
    container_creds = [v for v in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                       if env.get(v)]
    if container_creds:  # ECS task roles, EKS Pod Identity: the SDKs ask that endpoint before IMDS
        return (f"{container_creds[0]} is set: credentials come from the container credentials endpoint, which "
                "the SDKs ask before IMDS (aws.credentials checks it)")
    if env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or ctx.host.on_ec2():
        return None
    return "not an EC2 instance (no EC2 signature in DMI or /sys/hypervisor/uuid)"


def _status(r: Optional[HttpResult]) -> str:
    if r is None:
        return "not asked"
    if r.status is not None:
        return f"HTTP {r.status}"
    return "timed out" if r.timed_out else (r.error or "failed")


def _probe(ctx: Context, base: str, proxy: Optional[str] = None) -> _Probe:
    def get(path: str, token: Optional[str]) -> HttpResult:
        return ctx.net.http("GET", base + path, headers={TOKEN_HEADER: token} if token else None,
                            timeout=PROBE_TIMEOUT, proxy=proxy)

    probe = _Probe(ctx.net.http("PUT", base + TOKEN_PATH, headers={TOKEN_TTL_HEADER: "21600"},
                                timeout=PROBE_TIMEOUT, proxy=proxy))
    if probe.token_put.status == 200:
        try:
            probe.token = parse_token(probe.token_put.body)
            ctx.redactor.add(probe.token)
        except ImdsAnswerError as exc:
            probe.not_imds = str(exc)
            return probe
        probe.roles = get(ROLES_PATH, probe.token)
    if probe.token_put.status is not None or probe.token_put.timed_out:
        probe.v1 = get(ROLES_PATH, None)
    probe.roles = probe.roles or probe.v1
    if probe.roles is not None and probe.roles.status == 200:
        try:
            probe.role = parse_role_list(probe.roles.body)
        except ImdsAnswerError as exc:
            probe.not_imds = str(exc)
    return probe


def _metadata(ctx: Context, base: str, path: str, token: Optional[str],
              parse: Callable[[str], str]) -> Optional[str]:
    r = ctx.net.http("GET", base + path, headers={TOKEN_HEADER: token} if token else None, timeout=PROBE_TIMEOUT)
    if r.status != 200:
        return None
    try:
        return parse(r.body)
    except ImdsAnswerError:
        return None


@check("aws.imds", title="Does the EC2 instance metadata service answer, with an instance role?",
       applies_when=_applies, network=True, timeout=8)
def aws_imds(ctx: Context) -> Outcome:
    """Asks the instance metadata service (IMDS) what the AWS SDKs ask it: an IMDSv2 session token (PUT
    /latest/api/token), then the instance role (/latest/meta-data/iam/security-credentials/), with 1 s
    timeouts. On EC2 without other credentials, the credential helper, the AWS CLI and ecrdoctor all get
    the instance role's credentials from here; when IMDS fails, docker says only `no basic auth
    credentials`. AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_EC2_METADATA_DISABLED are honoured as the
    SDKs honour them. Off EC2 (no EC2 DMI signature) it decides without touching the network.

    Decides: pass when a token is issued and an instance role is attached (the HttpTokens behaviour
    seen is reported: IMDSv1 refused with 401 means credential helpers before 0.5.0 cannot work).
    fail when, inside a container, the token PUT gets no answer while IMDS requires tokens (the
    instance's PUT response hop limit is 1); when IMDS does not answer at all; when the answers are not
    IMDS's (an HTML page); when HTTP_PROXY captures 169.254.169.254 (NO_PROXY lacks it) and the proxy
    answers differently than IMDS. warn when the token PUT is refused or times out but IMDSv1 still
    answers, when no instance profile is attached, or when the proxy captures IMDS but passes it on.
    skip off EC2, when AWS_EC2_METADATA_DISABLED=true, and in ECS tasks and EKS Pod Identity pods
    (AWS_CONTAINER_CREDENTIALS_*), whose credentials come from the container endpoint instead.

    References: aws-side.md B1 AUTH-IMDS-HOP-LIMIT and AUTH-NO-AWS-CREDENTIALS, Part C 17 (hop limit 1
    breaks only containerised credential fetchers; AL2023 defaults to 2); host-side.md B5 (IMDSv2 with
    helpers < 0.5.0, hop limit, proxy intercepting 169.254.169.254); EC2 user guide, "Configure the
    instance metadata options"; botocore utils.py IMDSFetcher (token PUT, 1 s timeout, env proxies).
    """
    env = ctx.host.env
    base = metadata_endpoint(env)
    host = urlsplit(base).hostname or base
    in_container = ctx.host.in_container()
    direct = _probe(ctx, base)
    findings: list[_Finding] = []
    details: list[str] = []

    instance_id = ctx.host.ec2_instance_id()
    region: Optional[str] = None
    if direct.token or (direct.v1 is not None and direct.v1.status in (200, 404)):
        instance_id = instance_id or _metadata(ctx, base, INSTANCE_ID_PATH, direct.token, parse_instance_id)
        region = _metadata(ctx, base, REGION_PATH, direct.token, parse_region)
    region = region or ctx.aws.region()
    where = (f"--region {region} " if region else "") + f"--instance-id {instance_id or '<instance-id>'}"
    hop_fix = Fix(
        "Raise the instance's IMDS PUT response hop limit to 2 so the token answer survives the extra hop "
        "of the container bridge (or run the container with host networking).",
        (f"aws ec2 modify-instance-metadata-options {where} --http-put-response-hop-limit 2 "
         "--http-endpoint enabled",),
    )
    enable_fix = Fix("Make sure the instance metadata endpoint is enabled, and that no firewall rule drops "
                     f"traffic to {host}.",
                     (f"aws ec2 modify-instance-metadata-options {where} --http-endpoint enabled",))

    put, v1 = direct.token_put, direct.v1
    overridden = bool(env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
    if direct.not_imds:
        findings.append(_Finding(Status.FAIL, f"what answers at {host} is not IMDS: {direct.not_imds}",
                                 Fix(f"Something intercepts {host} (a proxy, a firewall appliance); let the "
                                     "instance reach its metadata service directly.", ())))
    elif put.timed_out and v1 is not None and v1.status == 401:
        why = (" inside this container, and IMDS requires a token (401 without): the instance's PUT response "
               "hop limit is 1" if in_container else ", and IMDS requires a token (401 without); if this runs "
               "in a container ecrdoctor did not recognise, the PUT response hop limit of 1 is the cause")
        findings.append(_Finding(
            Status.FAIL, f"IMDSv2 token request to {host} got no answer within {PROBE_TIMEOUT:g} s{why}", hop_fix))
    elif put.timed_out and v1 is not None and v1.status in (200, 404):
        why = (" inside this container: the instance's PUT response hop limit is 1" if in_container
               else "; the SDKs wait for it on every refresh")
        findings.append(_Finding(
            Status.WARN, f"IMDSv2 token request to {host} got no answer within {PROBE_TIMEOUT:g} s{why}; "
            "IMDSv1 still answers, so the SDKs fall back to it until IMDSv2 becomes required",
            hop_fix if in_container else enable_fix))
    elif put.status is None:
        where_from = " from inside this container" if in_container else ""
        silent_fix = enable_fix
        if overridden and not put.timed_out:
            silent_fix = Fix(f"AWS_EC2_METADATA_SERVICE_ENDPOINT sends the SDKs to {base}, where nothing listens; "
                             "unset it.", ("unset AWS_EC2_METADATA_SERVICE_ENDPOINT",))
        elif in_container:  # GETs are not hop-limited: this container's network does not reach IMDS at all
            silent_fix = Fix("This container's network does not reach IMDS: run it with host networking, or pass "
                             "it credentials explicitly (a task role, environment variables).", ())
        findings.append(_Finding(
            Status.FAIL, f"IMDS at {host} does not answer{where_from} (token PUT: {_status(put)}; GET: "
            f"{_status(v1)}): the SDKs and the credential helper get no instance role credentials", silent_fix))
    elif put.status != 200 and v1 is not None and v1.status in (200, 404):
        findings.append(_Finding(
            Status.WARN, f"IMDS at {host} refuses the IMDSv2 token request ({_status(put)}) but answers IMDSv1: "
            "SDKs configured to require IMDSv2 (AWS_EC2_METADATA_V1_DISABLED) get no credentials",
            Fix("Read the instance's metadata options; IMDSv2 should be available (HttpEndpoint enabled).",
                (f"aws ec2 describe-instances {where.replace('--instance-id', '--instance-ids')} --query "
                 "'Reservations[0].Instances[0].MetadataOptions'",))))
    elif put.status != 200:
        findings.append(_Finding(
            Status.FAIL, f"IMDS at {host} refuses requests (token PUT: {_status(put)}; GET: {_status(v1)}): "
            "access to instance metadata is turned off or forbidden on the way", enable_fix))

    if direct.role is None and direct.roles is not None and direct.roles.status == 404 and not direct.not_imds:
        findings.append(_Finding(
            Status.WARN, f"IMDS answers but no instance profile is attached to {instance_id or 'this instance'}: "
            "without other credentials the credential helper has none",
            Fix("Attach an instance profile whose role allows ECR pulls (AmazonEC2ContainerRegistryReadOnly).",
                (f"aws ec2 associate-iam-instance-profile {where} "
                 "--iam-instance-profile Name=<instance-profile-name>",))))
    profile_arn = None
    if direct.role:
        info_answer = ctx.net.http("GET", base + IAM_INFO_PATH, timeout=PROBE_TIMEOUT,
                                   headers={TOKEN_HEADER: direct.token} if direct.token else None)
        if info_answer.status == 200:
            try:
                profile_arn = parse_iam_info(info_answer.body).arn
            except ImdsAnswerError as exc:
                details.append(f"iam/info: {exc}")

    proxy = proxy_for(base + "/", env)
    via: Optional[_Probe] = None
    if proxy:
        via = _probe(ctx, base, proxy=proxy)
        findings.append(_proxy_finding(ctx, host, proxy, direct, via))

    evidence = {
        "endpoint": base, "in_container": in_container, "token_put": _status(put), "imdsv1": _status(v1),
        "http_tokens": _http_tokens(direct), "role": direct.role, "instance_profile": profile_arn,
        "proxy": proxy, "via_proxy": _status(via.token_put) if via else None,
    }
    tokens = _http_tokens(direct)
    if tokens == "required":
        details.append("IMDSv1 is refused (HttpTokens=required): credential helper versions before 0.5.0 "
                       "speak only IMDSv1 and fail here with NoCredentialProviders")
    elif tokens == "optional":
        details.append("IMDSv1 also answers (HttpTokens=optional)")
    if direct.token and in_container:
        details.append("inside a container and the token PUT was answered: the hop limit is high enough")
    worst = next((f for f in findings if f.status is Status.FAIL), None) or next(
        (f for f in findings if f.status is Status.WARN), None)
    if worst is not None:
        details = [f.summary for f in findings if f is not worst] + details
        make = fail if worst.status is Status.FAIL else warn
        return make(worst.summary, details=details, fix=worst.fix, evidence=evidence)
    profile = f" ({profile_arn})" if profile_arn else ""
    return passed(f"IMDSv2 at {host} issues tokens; instance profile role '{direct.role}'{profile}",
                  details=details, evidence=evidence)


def _http_tokens(probe: _Probe) -> Optional[str]:
    if probe.token is None or probe.v1 is None:
        return None
    if probe.v1.status == 401:
        return "required"
    return "optional" if probe.v1.status in (200, 404) else None


def _proxy_finding(ctx: Context, host: str, proxy: str, direct: _Probe, via: _Probe) -> _Finding:
    """HTTP_PROXY without NO_PROXY for the IMDS address: botocore and the AWS CLI ask the proxy instead."""
    env = ctx.host.env
    current = env.get("NO_PROXY") or env.get("no_proxy") or ""
    wanted = ",".join(x for x in (current.strip(","), host) if x)
    fix = Fix("Exempt the metadata address from the proxy in the environment of whoever runs docker and the "
              "AWS CLI (and in dockerd's and the ECS agent's proxy settings).",
              (f"export NO_PROXY={shlex.quote(wanted)}", f"export no_proxy={shlex.quote(wanted)}"))
    why = f"HTTP_PROXY sends IMDS requests to {proxy} (NO_PROXY does not list {host})"
    if no_proxy_has_cidr_for(host, env):
        why += "; NO_PROXY covers it only as an IP range, which Go programs honour but botocore and the AWS CLI do not"
    if via.not_imds:
        return _Finding(Status.FAIL, f"{why}, and the proxy's answer is not IMDS: {via.not_imds}", fix)
    if via.token is None:
        return _Finding(Status.FAIL, f"{why}, and through it the IMDSv2 token request fails "
                                     f"({_status(via.token_put)})", fix)
    if via.role != direct.role:
        return _Finding(Status.FAIL, f"{why}, and through it IMDS names role '{via.role}' instead of "
                                     f"'{direct.role}': another machine's metadata", fix)
    return _Finding(Status.WARN, f"{why}; the proxy passes them on for now, but proxies that add "
                                 "X-Forwarded-For get IMDSv2 tokens refused", fix)
