"""AWS credentials, region, clock and identity: who ecrdoctor (and the credential helper beside it) would be in AWS."""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, Optional

from ecrdoctor.api import Fix, Outcome, SkipCheck, check, fail, info, passed, skip, warn
from ecrdoctor.aws import CredentialFacts, client_error_code, client_error_message
from ecrdoctor.context import Context
from ecrdoctor.dockerconfig import resolve_credentials

# botocore's names for the providers of its chain, as a user would say them.
PROVIDERS = {
    "env": "environment variables AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "sso": "IAM Identity Center (SSO) cached login",
    "login": "an `aws login` console session (~/.aws/login/cache)",
    "assume-role": "a role assumed from the profile's source credentials",
    "assume-role-with-web-identity": "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, e.g. IRSA)",
    "container-role": "the container credentials endpoint (ECS task role / EKS Pod Identity)",
    "iam-role": "the EC2 instance profile, through IMDS",
    "custom-process": "credential_process in the AWS config file",
    "ec2-credentials-file": "the legacy EC2 credentials file (/etc/boto.cfg)",
    "boto-config": "a boto2 config file (~/.boto)",
    "explicit": "credentials passed explicitly",
}

SSO_ERRORS = ("UnauthorizedSSOTokenError", "SSOTokenLoadError", "SSOError", "PendingAuthorizationExpiredError")
PROCESS_TIMEOUT = 4.0  # a credential_process that needs longer is waiting for someone
CLOCK_WARN_S = 60.0
CLOCK_FAIL_S = 300.0  # SigV4's documented 5-minute window


def _profile_hint(ctx: Context) -> Optional[str]:
    return ctx.options.profile or ctx.host.env.get("AWS_PROFILE") or ctx.host.env.get("AWS_DEFAULT_PROFILE")


def _config_file(ctx: Context) -> str:
    return ctx.host.env.get("AWS_CONFIG_FILE") or "~/.aws/config"


def aws_profiles(ctx: Context) -> dict[str, dict[str, Any]]:
    """The profiles of the AWS config and credentials files as botocore merged them (values can be secrets)."""

    def load() -> dict[str, dict[str, Any]]:
        profiles = ctx.aws.config_file().get("profiles", {})
        return {str(k): dict(v) for k, v in profiles.items() if isinstance(v, dict)}

    return ctx.fact("aws.profiles", load)


def _sso_sessions(ctx: Context) -> dict[str, Any]:
    sessions = ctx.aws.config_file().get("sso_sessions", {})
    return dict(sessions) if isinstance(sessions, dict) else {}


def _no_credentials_fix(ctx: Context) -> Fix:
    region = ctx.aws.region() or "<region>"
    imds_off = ctx.host.env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true"
    if ctx.host.on_ec2() and imds_off:
        return Fix(
            "This is an EC2 instance, but AWS_EC2_METADATA_DISABLED=true stops the SDKs (and the credential "
            "helper) from asking IMDS for the instance role's credentials. Unset it where docker runs.",
            ("unset AWS_EC2_METADATA_DISABLED",),
        )
    instance = ctx.host.ec2_instance_id() or "<instance-id>"
    if ctx.host.on_ec2() and ctx.host.in_container():
        return Fix(
            "Inside a container on EC2 the instance role is reached through IMDS, whose token answer needs a PUT "
            "response hop limit of 2 to cross the container's network hop (aws.imds tells whether it arrives). If "
            "no instance profile is attached at all, attach one whose role allows ECR pulls.",
            (f"aws ec2 modify-instance-metadata-options --region {region} --instance-id {instance} "
             "--http-put-response-hop-limit 2 --http-endpoint enabled",
             f"aws ec2 associate-iam-instance-profile --region {region} --instance-id {instance} "
             "--iam-instance-profile Name=<instance-profile-name>"),
        )
    if ctx.host.on_ec2():
        return Fix(
            "Attach an instance profile whose role allows ECR pulls (the managed policy "
            "AmazonEC2ContainerRegistryReadOnly covers GetAuthorizationToken and pulls).",
            (
                f"aws ec2 associate-iam-instance-profile --region {region} --instance-id "
                f"{ctx.host.ec2_instance_id() or '<instance-id>'} --iam-instance-profile Name=<instance-profile-name>",
            ),
        )
    return Fix(
        "Give this shell AWS credentials: configure keys or a profile, or log in with IAM Identity Center.",
        ("aws configure", "aws sso login --profile <profile>"),
    )


def _export_fix(profile: str, why: str) -> Fix:
    return Fix(f"{why} Do the interactive step once in a terminal and export the session credentials it yields "
               "in the shell that runs docker.",
               (f'eval "$(aws configure export-credentials --profile {profile} --format env)"',))


# -- credential_process: run it the way the credential helper does, before botocore runs it with our terminal ----


def _process_profile(ctx: Context) -> Optional[tuple[str, str]]:
    """(profile, command) when botocore's chain would end at a credential_process, following source_profile."""
    env = ctx.host.env
    explicit = ctx.options.profile is not None  # botocore drops env providers only for an explicit profile
    if not explicit and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return None
    if not explicit and env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return None
    profiles = aws_profiles(ctx)
    name = _profile_hint(ctx) or "default"
    for _ in range(5):  # role chains are short; a loop in the config must not hang the check
        cfg = profiles.get(name, {})
        if "role_arn" in cfg:
            source = cfg.get("source_profile")
            if not source or source == name:
                return None
            name = str(source)
            continue
        if any(k in cfg for k in ("web_identity_token_file", "sso_account_id", "sso_role_name",
                                  "aws_access_key_id", "login_session")):
            return None
        command = cfg.get("credential_process")
        return (name, str(command)) if command and str(command).strip() else None
    return None


def _try_credential_process(ctx: Context, profile: str, command: str) -> Optional[Outcome]:
    """Run credential_process with no terminal and empty stdin, as docker's credential helper does: an Outcome
    when it cannot work there (it prompts, waits, or fails), None when it printed credentials."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        argv, bad = [], str(exc)
    else:
        bad = "" if argv else "it is empty"
    program = os.path.basename(argv[0]) if argv else command
    evidence = {"provider": "custom-process", "profile": profile, "program": program}
    where = f"credential_process ({program}) of profile '{profile}'"
    if bad:
        return fail(f"{where} cannot be parsed: {bad}", evidence=evidence,
                    fix=Fix(f"Correct credential_process in {_config_file(ctx)}.", ()))
    setsid = ctx.host.which("setsid")  # a new session has no controlling terminal: /dev/tty prompts fail too
    res = ctx.run(([setsid, "-w"] if setsid else []) + argv, timeout=PROCESS_TIMEOUT, input="")
    why = "The credential helper runs credential_process without a terminal, so it cannot answer prompts."
    if res.not_found or (setsid and res.returncode == 127 and "failed to execute" in res.stderr):
        return fail(f"{where}: the program {argv[0]} is not installed or not on PATH", evidence=evidence,
                    fix=Fix(f"Install {program}, or correct credential_process in {_config_file(ctx)}.", ()))
    if res.timed_out:
        return fail(f"{where} did not finish within {PROCESS_TIMEOUT:g} s without a terminal: it waits for input "
                    "(an MFA code, a browser login), which docker's credential helper can never give",
                    evidence=evidence, fix=_export_fix(profile, why))
    if res.returncode != 0:
        stderr = " ".join(res.stderr.split())[:200]
        prompt = any(w in stderr.lower() for w in ("tty", "terminal", "mfa", "token code", "prompt", "input"))
        what = ("needs an interactive terminal, and docker's credential helper runs it without one" if prompt
                else f"fails (exit {res.returncode}) when run without a terminal, as docker's credential helper "
                "runs it")
        return fail(f"{where} {what}",
                    details=[f"stderr: {stderr}"] if stderr else [], evidence=evidence,
                    fix=_export_fix(profile, why))
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("Version") != 1 or not doc.get("AccessKeyId"):
        return fail(f"{where} printed no credentials: its output is not the credential_process JSON "
                    "(Version 1, AccessKeyId, SecretAccessKey)", evidence=evidence,
                    fix=Fix(f"Correct credential_process in {_config_file(ctx)}.", ()))
    return None  # its secrets were masked in the captured output; botocore's run registers them with the redactor


# -- SSO token cache -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SsoCache:
    path: str
    expires: Optional[datetime.datetime]  # None: the file is missing or unreadable
    state: str  # "missing", "expired at ...", "valid until ..."


def sso_cache(ctx: Context, profile: str) -> Optional[SsoCache]:
    """The IAM Identity Center token cache file botocore reads for a profile, and its expiry (never the token)."""
    cfg = aws_profiles(ctx).get(profile, {})
    session = cfg.get("sso_session")
    key = session or cfg.get("sso_start_url")
    if not key:
        return None
    if session and session not in _sso_sessions(ctx):
        return None  # botocore reports the undefined sso-session itself
    home = ctx.host.home or "~"
    path = f"{home.rstrip('/')}/.aws/sso/cache/{hashlib.sha1(str(key).encode()).hexdigest()}.json"
    read = ctx.host.read_text(path, limit=64 * 1024)
    if not read.ok:
        return SsoCache(path, None, "missing" if read.missing else f"unreadable ({read.error})")
    expires = _sso_expiry(read.text or "")
    if expires is None:
        return SsoCache(path, None, "has no readable expiresAt")
    now = ctx.now()
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return SsoCache(path, expires, f"expired at {stamp}" if expires <= now else f"valid until {stamp}")


def _sso_expiry(text: str) -> Optional[datetime.datetime]:
    """expiresAt of an SSO token cache file (ISO 8601, UTC); None when absent or malformed."""
    try:
        doc = json.loads(text)
        raw = str(doc["expiresAt"]).replace("Z", "+00:00")
        when = datetime.datetime.fromisoformat(raw.replace("UTC", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


# -- aws.credentials -------------------------------------------------------------------------------------------


@check("aws.credentials", title="Which AWS credentials would be used?", network=True, timeout=10)
def aws_credentials(ctx: Context) -> Outcome:
    """Resolves AWS credentials through botocore's own provider chain, as the AWS CLI and SDKs do.

    The credential helper, the AWS CLI and ecrdoctor all walk the same chain: environment variables,
    the shared credentials and config files (profiles, SSO, assume-role, credential_process), web
    identity, the container credentials endpoint, and the EC2 instance profile through IMDS. Without
    credentials there is no ECR token, and docker reports only `no basic auth credentials`. A
    credential_process is first run the way docker's credential helper runs it (no terminal, empty
    stdin, a few seconds), so one that prompts is named instead of prompting; MFA prompts are refused.

    Decides: pass when a provider supplies credentials (named, with the access key's last four
    characters); fail when none does, when the selected profile does not exist, when an SSO login
    has expired or was never made (the token cache file under ~/.aws/sso/cache is named), when a
    profile needs an interactive MFA code, when credential_process needs a terminal, waits, fails or
    prints no credentials, when the web identity token file is missing, and when the container
    credentials endpoint does not answer. Fixes: an instance profile on EC2, `aws configure`, `aws sso
    login`, or exporting session credentials made once in a terminal.

    References: botocore credentials.py (the provider chain, ProcessProvider, SSOProvider); aws-side.md
    B1 AUTH-NO-AWS-CREDENTIALS; host-side.md B1 (no credentials), B3 (SSO session expired), B4 (MFA /
    interactive credential_process: the helper has no TTY); docs.aws.amazon.com/sdkref ("Standardized
    credential providers"); the ECR user guide, "Private registry authentication".
    """
    profile = _profile_hint(ctx)
    process = _process_profile(ctx)
    if process is not None:
        verdict = _try_credential_process(ctx, *process)
        if verdict is not None:
            return verdict
    facts: CredentialFacts = ctx.aws.credentials()
    evidence = {"provider": facts.method, "profile": profile, "access_key": facts.access_key_hint}
    if facts.error_type == "ProfileNotFound":
        return fail(
            f"the AWS profile '{profile}' is not defined in ~/.aws/config or ~/.aws/credentials",
            fix=Fix("Create the profile, or select one that exists.",
                    (f"aws configure --profile {profile}", "aws configure list-profiles")),
            evidence=evidence,
        )
    if facts.error is not None:
        return _credential_error(ctx, facts, profile or "default", evidence)
    if facts.method is None:
        details = []
        if ctx.host.env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            details.append("AWS_EC2_METADATA_DISABLED=true is set, so an instance profile cannot be used")
        if ctx.host.sudo_user:
            details.append(f"running under sudo (from {ctx.host.sudo_user}): sudo drops AWS_* variables and "
                           "uses root's ~/.aws")
        return fail(
            "no AWS credentials found: environment, ~/.aws files, SSO, container endpoint and instance "
            "profile all came up empty",
            details=details,
            fix=_no_credentials_fix(ctx),
            evidence=evidence,
        )
    source = PROVIDERS.get(facts.method, facts.method)
    suffix = f", profile '{profile}'" if profile else ""
    return passed(f"credentials from {source}{suffix} (access key {facts.access_key_hint})",
                  details=_provider_details(ctx, facts.method, profile or "default"), evidence=evidence)


def _provider_details(ctx: Context, method: str, profile: str) -> list[str]:
    env, cfg = ctx.host.env, aws_profiles(ctx).get(profile, {})
    if method == "assume-role":
        source = cfg.get("source_profile") or cfg.get("credential_source")
        return [f"role {cfg.get('role_arn')} assumed with the credentials of {source}"]
    if method == "assume-role-with-web-identity":
        return [f"role {env.get('AWS_ROLE_ARN') or cfg.get('role_arn')} with the token in "
                f"{env.get('AWS_WEB_IDENTITY_TOKEN_FILE') or cfg.get('web_identity_token_file')}"]
    if method == "container-role":
        return [f"endpoint {_container_endpoint(ctx)}"]
    if method == "iam-role":
        return ["the instance role's credentials come from IMDS (aws.imds checks the path)"]
    if method == "custom-process":
        command = str(cfg.get("credential_process") or "")
        return [f"program {os.path.basename(command.split()[0])}"] if command.split() else []
    if method == "sso":
        cache = sso_cache(ctx, profile)
        return [f"SSO token cache {cache.path}: {cache.state}"] if cache else []
    return []


def _container_endpoint(ctx: Context) -> str:
    env = ctx.host.env
    return env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or (
        "http://169.254.170.2" + env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""))


def _credential_error(ctx: Context, facts: CredentialFacts, profile: str, evidence: dict[str, Any]) -> Outcome:
    """Name the provider that broke the chain, and its fix."""
    error, kind = facts.error or "", facts.error_type or ""
    cfg = aws_profiles(ctx).get(profile, {})
    if kind in SSO_ERRORS or (kind in ("TokenRetrievalError", "InvalidConfigError") and "sso" in error.lower()):
        cache = sso_cache(ctx, profile)
        state = f" ({cache.path}: {cache.state})" if cache else ""
        if kind == "InvalidConfigError":
            return fail(f"the SSO configuration of profile '{profile}' is incomplete: {error}", evidence=evidence,
                        fix=Fix(f"Complete the profile in {_config_file(ctx)}.", (f"aws configure sso --profile "
                                                                                  f"{profile}",)))
        return fail(
            f"the IAM Identity Center (SSO) login for profile '{profile}' has expired or is missing{state}",
            details=[error], evidence=evidence,
            fix=Fix("Log in again; the helper and docker pick up the new session.",
                    (f"aws sso login --profile {profile}",)),
        )
    if "MFA code" in error or "mfa" in error.lower():
        mfa = cfg.get("mfa_serial")
        return fail("AWS credentials could not be loaded: the profile needs an interactive MFA code, which "
                    "docker's credential helper cannot ask for",
                    details=[error] + ([f"mfa_serial {mfa}, role {cfg.get('role_arn')}"] if mfa else []),
                    evidence=evidence,
                    fix=_export_fix(profile, "The credential helper runs without a terminal and cannot ask for "
                                             "the MFA code."))
    if "container-role" in error:
        endpoint = _container_endpoint(ctx)
        return fail(f"the container credentials endpoint {endpoint} gave no credentials (ECS task role / EKS Pod "
                    "Identity)", details=[error], evidence=evidence,
                    fix=Fix("The agent serving this endpoint (the ECS agent, or the EKS Pod Identity agent) must "
                            "run and be reachable from here, and the task or pod must have a role.",
                            (f"curl -s -o /dev/null -w '%{{http_code}}\\n' {endpoint}",)))
    token_file = ctx.host.env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or cfg.get("web_identity_token_file")
    if kind == "FileNotFoundError" and token_file and str(token_file) in error:
        return fail(f"the web identity token file {token_file} does not exist (AWS_WEB_IDENTITY_TOKEN_FILE)",
                    details=[error], evidence=evidence,
                    fix=Fix("The projected service-account token is missing: check the service account's "
                            "eks.amazonaws.com/role-arn annotation and restart the pod, or unset "
                            "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN outside Kubernetes.", ()))
    if "custom-process" in error:
        return fail(f"credential_process of profile '{profile}' failed: {error}", evidence=evidence,
                    fix=Fix(f"Correct credential_process in {_config_file(ctx)}.", ()))
    return fail(f"AWS credentials could not be loaded: {kind}: {error}", details=[error], evidence=evidence,
                fix=_no_credentials_fix(ctx))


# -- aws.region ------------------------------------------------------------------------------------------------


def configured_region(ctx: Context) -> tuple[Optional[str], str]:
    """The region the AWS CLI would use here, and where it comes from (--region, AWS_REGION,
    AWS_DEFAULT_REGION, then the profile's `region`, as AWS CLI v2 orders them)."""
    if ctx.options.region:
        return ctx.options.region, "--region"
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = ctx.host.env.get(var, "").strip()
        if value:
            return value, var
    name = _profile_hint(ctx) or "default"
    region = str(aws_profiles(ctx).get(name, {}).get("region") or "").strip()
    if region:
        return region, f"the region of profile '{name}' in {_config_file(ctx)}"
    return None, ""


def _docker_uses_ecr_login(ctx: Context, host: str) -> bool:
    docker = ctx.docker_config()
    source = resolve_credentials(docker.effective, host, docker.auth_config)
    return source.kind in ("cred-helper", "creds-store") and source.helper == "ecr-login"


@check("aws.region", title="Does the configured AWS region match the registry's?", timeout=5)
def aws_region(ctx: Context) -> Outcome:
    """Compares the region in the image's registry host with the region the AWS CLI is configured for
    (--region, AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`).

    ECR tokens are region-bound: `aws ecr get-login-password` run for another region yields a token the
    registry rejects (`docker login` answers `400 Bad Request`), and with no region at all the CLI stops
    with `You must specify a region`. The credential helper (docker-credential-ecr-login) takes the region
    from the registry host itself, so for hosts docker sends to it the configured region does not matter.

    Decides: pass when the regions agree, or when docker uses the ecr-login helper for this host; warn
    when the configured region differs from the registry's or none is configured and docker does not use
    the helper (the fix is the login command with the right --region); info for ECR Public (tokens come
    only from us-east-1); skip without an ECR image.

    References: aws-side.md A3 (tokens are region-bound), B1 AUTH-WRONG-REGION-TOKEN and
    AUTH-NO-AWS-CREDENTIALS ("You must specify a region"), A2 (the helper parses the region from the
    host; ECR Public tokens only from us-east-1); AWS CLI user guide, "Environment variables"
    (AWS_REGION overrides AWS_DEFAULT_REGION and the profile).
    """
    reg = ctx.registry
    if reg is None:
        raise SkipCheck("no image given: there is no registry region to compare with")
    if not reg.is_ecr:
        raise SkipCheck(f"{reg.host} is not an ECR registry")
    region, source = configured_region(ctx)
    evidence = {"registry_region": reg.api_region, "configured_region": region, "source": source or None}
    profile = f" --profile {_profile_hint(ctx)}" if _profile_hint(ctx) else ""
    if reg.kind == "public":
        return info(f"ECR Public tokens come only from us-east-1 (configured region: {region or 'none'})",
                    details=[f"aws ecr-public get-login-password --region us-east-1{profile} | docker login "
                             "--username AWS --password-stdin public.ecr.aws"], evidence=evidence)
    host_region = str(reg.region)
    login = (f"aws ecr get-login-password --region {host_region}{profile} | docker login --username AWS "
             f"--password-stdin {reg.host}")
    if region and region.lower() == host_region.lower():
        return passed(f"configured region {region} ({source}) matches the registry's", evidence=evidence)
    said = f"region {region} ({source})" if region else "no region"
    if _docker_uses_ecr_login(ctx, reg.host):
        return passed(f"docker uses the ecr-login helper for {reg.host}, which takes the region {host_region} "
                      f"from the host; the AWS CLI has {said}",
                      details=[f"a manual login needs the region: {login}"], evidence=evidence)
    if region is None:
        return warn(f"no AWS region is configured: `aws ecr get-login-password` stops with \"You must specify a "
                    f"region\"; the registry is in {host_region}",
                    fix=Fix("Log in with the registry's region, or configure it.",
                            (login, f"aws configure set region {host_region}{profile}")),
                    evidence=evidence)
    return warn(f"the AWS CLI's region is {region} ({source}) but the registry is in {host_region}: a token from "
                "`aws ecr get-login-password` is for the wrong region and docker login fails with 400 Bad Request",
                fix=Fix("ECR tokens only work in the region they were issued for; log in with the registry's "
                        "region.", (login,)),
                evidence=evidence)


# -- aws.clock -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTime:
    """The Date an AWS endpoint answered with, and the local clock at the moment it answered."""

    endpoint: str
    date: Optional[str] = None
    skew: Optional[float] = None  # local minus AWS, seconds: positive = this host is ahead
    status: Optional[int] = None
    from_aws: bool = False
    error: Optional[str] = None


def parse_http_date(value: str) -> Optional[datetime.datetime]:
    """An RFC 7231 Date header as an aware datetime, or None."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


# Calls that need no permission and, unsigned, cannot succeed: AWS answers them with an error and its Date.
_CLOCK_PROBES = (("sts", "get_caller_identity"), ("ecr", "get_authorization_token"))


def aws_server_time(ctx: Context) -> tuple[ServerTime, ...]:
    """AWS's clock, from STS, or from the ECR API when STS gives no usable answer (a private subnet with an
    ECR endpoint and no STS endpoint); every attempt made, the one with a Date last."""
    seen: list[ServerTime] = []
    for service, operation in _CLOCK_PROBES:
        seen.append(server_time(ctx, service, operation))
        if seen[-1].skew is not None:
            break
    return tuple(seen)


def server_time(ctx: Context, service: str, operation: str) -> ServerTime:
    """Read AWS's clock from the Date header of one unsigned request (see AwsGateway.probe_date)."""
    probe = ctx.aws.probe_date(service, operation)
    endpoint, headers, error = probe.endpoint, dict(probe.headers), probe.error
    if probe.received is None:
        if endpoint == "" and error:
            raise SkipCheck(error)
        return ServerTime(endpoint, error=error or "no answer")
    local = ((probe.sent if probe.sent is not None else probe.received) + probe.received) / 2
    server = parse_http_date(headers.get("date", ""))
    if server is None:
        return ServerTime(endpoint, date=headers.get("date"), status=probe.status,
                          error="the answer has no valid Date header")
    # Date has whole seconds, truncated: AWS's clock was, on average, half a second past it
    from_aws = "x-amzn-requestid" in headers or "x-amz-request-id" in headers
    return ServerTime(endpoint, date=headers["date"], skew=local - (server.timestamp() + 0.5),
                      status=probe.status, from_aws=from_aws)


def _duration(seconds: float) -> str:
    s = int(round(abs(seconds)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min {s % 60} s"
    return f"{s} s"


def _clock_fix(ctx: Context) -> Fix:
    text = "Resynchronise the system clock and keep an NTP client running."
    if ctx.host.on_ec2():
        text += (" On EC2, use the Amazon Time Sync Service: a `server 169.254.169.123 prefer iburst` line in "
                 "/etc/chrony.conf, then restart chronyd.")
    if ctx.host.which("chronyc"):
        return Fix(text, ("sudo chronyc makestep", "chronyc tracking"))
    return Fix(text, ("sudo timedatectl set-ntp true", "timedatectl status"))


@check("aws.clock", title="Does this host's clock agree with AWS's?", network=True, timeout=10)
def aws_clock(ctx: Context) -> Outcome:
    """Compares this host's clock with the Date header of an answer from AWS STS (one unsigned
    GetCallerIdentity: it works without credentials, since even the error answer carries the Date), or
    from the ECR API (an unsigned GetAuthorizationToken) when STS cannot be reached.

    AWS rejects SigV4-signed requests whose timestamp is more than 5 minutes off (`Signature expired`,
    `SignatureDoesNotMatch`, `InvalidSignatureException`), so a skewed clock breaks GetAuthorizationToken,
    and with it the credential helper and `aws ecr get-login-password`, with errors that look like bad keys.

    Decides: pass within 1 minute; warn beyond 1 minute (drifting, no NTP); fail beyond 5 minutes (ECR has
    been seen to tolerate up to 15, other services reject at 5); skip when neither STS nor the ECR API
    answers with a Date header.

    References: aws-side.md B1 AUTH-CLOCK-SKEW (compare local UTC with the API's Date header; resync with
    chrony; Amazon Time Sync Service at 169.254.169.123 on EC2) and Part C 19 (ECR's 15-minute window,
    observed); host-side.md B7 (SignatureDoesNotMatch / InvalidSignatureException for clock skew).
    """
    attempts = aws_server_time(ctx)
    seen = attempts[-1]
    evidence = {"endpoint": seen.endpoint, "server_date": seen.date, "status": seen.status,
                "skew_seconds": round(seen.skew, 1) if seen.skew is not None else None}
    if seen.skew is None:
        tried = " or ".join(f"{a.endpoint} ({a.error})" for a in attempts)
        return skip(f"no usable Date header from {tried}", evidence=evidence)
    direction = "ahead of" if seen.skew > 0 else "behind"
    where = f"(Date header from {seen.endpoint})"
    details = [] if seen.from_aws else [f"the answer carried no AWS request id: {seen.endpoint} may be a proxy "
                                        "speaking for AWS, with its own clock"]
    if abs(seen.skew) > CLOCK_FAIL_S:
        return fail(f"this host's clock is {_duration(seen.skew)} {direction} AWS {where}: AWS rejects signatures "
                    "more than 5 minutes off",
                    details=details + ["ECR has been seen to accept up to 15 minutes, STS and most services "
                                       "reject at 5: GetAuthorizationToken may still work while other calls fail"],
                    fix=_clock_fix(ctx), evidence=evidence)
    if abs(seen.skew) > CLOCK_WARN_S:
        return warn(f"this host's clock is {_duration(seen.skew)} {direction} AWS {where}: at 5 minutes every "
                    "signed request fails", details=details, fix=_clock_fix(ctx), evidence=evidence)
    return passed(f"this host's clock agrees with AWS within {_duration(seen.skew)} {where}", details=details,
                  evidence=evidence)


# -- aws.identity ----------------------------------------------------------------------------------------------


@check("aws.identity", title="Who is the caller in AWS?", requires=["aws.credentials"], network=True, timeout=10)
def aws_identity(ctx: Context) -> Outcome:
    """Calls sts:GetCallerIdentity with the resolved credentials: account, principal ARN, partition.

    It proves the credentials work at all (GetCallerIdentity needs no IAM permission, so a failure
    here is the keys, the session or the network, never a policy), and names the principal that the
    IAM checks judge. When the image lives in another account, it says so: such pulls need a
    repository policy that grants this principal.

    Decides: info with the identity; fail for invalid or expired keys, a bad signature (wrong secret
    key or a skewed clock), or an STS endpoint that cannot be reached.

    References: STS API reference, GetCallerIdentity ("No permissions are required");
    the ECR user guide, "Private repository policies" (cross-account access).
    """
    try:
        ident = ctx.caller_identity()
    except Exception as exc:
        code = client_error_code(exc)
        message = client_error_message(exc)
        return fail(*_identity_failure(ctx, code, message), evidence={"error_code": code})
    arn = ident.get("Arn", "")
    account = ident.get("Account", "")
    partition = arn.split(":")[1] if arn.count(":") >= 2 else None
    details = []
    target_account = ctx.registry.account if ctx.registry else None
    if target_account and target_account != account:
        details.append(
            f"the image is in account {target_account}, the caller in {account}: a cross-account pull needs "
            f"a repository policy in {target_account} that allows this principal"
        )
    return info(f"{arn} (account {account})", details=details,
                evidence={"account": account, "arn": arn, "partition": partition})


def _identity_failure(ctx: Context, code: str, message: str) -> tuple[str, list[str], Fix]:
    region = ctx.aws.region() or "<region>"
    if code in ("InvalidClientTokenId", "UnrecognizedClientException"):
        return (f"AWS rejected the access key as invalid ({code}): deleted, rotated, or from another partition",
                [message], Fix("Replace the keys with current ones, or use a role instead of static keys.",
                               ("aws configure",)))
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return (f"the session credentials have expired ({code})", [message],
                Fix("Refresh the session (log in again, or re-assume the role).",
                    ("aws sso login --profile <profile>",)))
    if code in ("SignatureDoesNotMatch", "InvalidSignatureException"):
        return (f"AWS rejected the request signature ({code}): the secret key is wrong or the clock is skewed",
                [message], Fix("Check the secret key, and resync the clock.",
                               ("aws configure", "sudo chronyc makestep")))
    if code in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                "ProxyConnectionError", "SSLError"):
        return (f"cannot reach AWS STS in {region}: {code}", [message],
                Fix("Check the network path to AWS (proxy, NAT, VPC endpoint for sts).", ()))
    return (f"sts:GetCallerIdentity failed: {code}: {message}", [],
            Fix("Check the credentials and network; `aws sts get-caller-identity` should succeed.",
                (f"aws sts get-caller-identity --region {region}",)))
