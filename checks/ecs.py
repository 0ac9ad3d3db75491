"""ECS container instances: what /etc/ecs/ecs.config does to the agent's image pulls."""

from __future__ import annotations

import datetime
import re
import shlex
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ecrdoctor.api import Finding, Outcome, check, conclude, skip
from ecrdoctor.context import Context
from ecrdoctor.ecsconfig import EcsConfig, EngineAuth, no_proxy_covers, parse_ecs_config, parse_engine_auth
from ecrdoctor.model import Status
from ecrdoctor.nodeconfig import NodeConfigError, describe_expiry
from ecrdoctor.reference import parse_registry_host

ECS_CONFIG = "/etc/ecs/ecs.config"
AGENT_LOG = "/var/log/ecs/ecs-agent.log"
RESTART = "sudo systemctl restart ecs"
# The agent's README: the proxy must not see IMDS (instance role), the task-credentials endpoint, or docker's socket
NO_PROXY_REQUIRED = ("169.254.169.254", "169.254.170.2")
NO_PROXY_RECOMMENDED = "/var/run/docker.sock"
MASKING_PULL_BEHAVIOURS = ("once", "prefer-cached")


def proxy_for_display(value: str) -> str:
    """A proxy URL without its user:password part."""
    return re.sub(r"(^[A-Za-z][A-Za-z0-9+.-]*://|^)[^@/]*@", r"\1", value.strip())


def _drop_auth_entries_command(path: str, keys: Sequence[str]) -> str:
    """Remove some registries from ECS_ENGINE_AUTH_DATA in place, without printing any credential."""
    script = (
        "import json,sys; p,drop=sys.argv[1],set(sys.argv[2:]); lines=open(p).read().split('\\n'); "
        "k='ECS_ENGINE_AUTH_DATA='; "
        "lines=[k+json.dumps({r:v for r,v in json.loads(l[len(k):]).items() if r not in drop},separators=(',',':')) "
        "if l.strip().startswith(k) else l for l in lines]; open(p,'w').write('\\n'.join(lines))"
    )
    return f"sudo python3 -c {shlex.quote(script)} {shlex.quote(path)} " + " ".join(shlex.quote(k) for k in keys)


def _applies(ctx: Context) -> Optional[str]:
    if ctx.host.exists(ECS_CONFIG):
        return None
    return f"no {ECS_CONFIG}: this host is not an ECS container instance"


def _auth_findings(ctx: Context, cfg: EcsConfig,
                   now: datetime.datetime) -> Tuple[List[Finding], List[str], Dict[str, Any]]:
    data = cfg.values.get("ECS_ENGINE_AUTH_DATA")
    auth_type = cfg.values.get("ECS_ENGINE_AUTH_TYPE", "")
    evidence: Dict[str, Any] = {"auth_type": auth_type or None, "auth_registries": []}
    if not data:
        return [], ["no ECS_ENGINE_AUTH_DATA: the agent holds no static registry credentials"], evidence
    delete_lines = f"sudo sed -i '/^ECS_ENGINE_AUTH_\\(TYPE\\|DATA\\)=/d' {ECS_CONFIG}"
    try:
        auth: EngineAuth = parse_engine_auth(auth_type, data)
    except NodeConfigError as exc:
        return [Finding(
            Status.WARN,
            f"{exc.message}: the agent logs `Could not parse '{auth_type}' type auth config` and uses none of it",
            [f"{ECS_CONFIG} line {_line_of(cfg, 'ECS_ENGINE_AUTH_DATA')}; the message appears in {AGENT_LOG}",
             "ECR images are not affected (the agent gets ECR credentials itself); other private registries "
             "listed there are pulled without credentials"],
            "Write ECS_ENGINE_AUTH_DATA as one line of unquoted JSON keyed by registry, or remove it.",
            (f"sudoedit {ECS_CONFIG}",))], [], evidence
    findings = [Finding(Status.WARN, p, [f"{ECS_CONFIG}: ECS_ENGINE_AUTH_TYPE={auth_type or '(unset)'}"],
                        "Match ECS_ENGINE_AUTH_DATA to its type: dockercfg is {\"<registry>\": {\"auth\": <base64 of "
                        "user:password>}} with no outer \"auths\"; docker is {\"<registry>\": {\"username\": ..., "
                        "\"password\": ...}}.", (f"sudoedit {ECS_CONFIG}",))
                for p in auth.problems]
    evidence["auth_registries"] = [e.host for e in auth.entries]
    target = ctx.registry.canonical_host if ctx.registry and ctx.registry.is_ecr else None
    ecr = [e for e in auth.entries if parse_registry_host(e.host).is_ecr]
    for entry in ecr:
        cred, reg = entry.credential, parse_registry_host(entry.host)
        expiry = describe_expiry(cred.expires_at, now) if cred.is_ecr_token else "a static password"
        commands = (delete_lines,) if len(ecr) == len(auth.entries) else \
            (_drop_auth_entries_command(ECS_CONFIG, [e.key for e in ecr]),)
        fix = ("Remove the ECR registries from ECS_ENGINE_AUTH_DATA: the agent pulls ECR images with credentials "
               "it fetches itself (ecr:GetAuthorizationToken with the task execution role, else the instance role).")
        why = ["ECR tokens last 12 hours; the agent itself refreshes ECR credentials 30-60 min before they expire",
               "ECR pulls that fail show as CannotPullECRContainerError in the stopped task's reason"]
        relevant = target is None or reg.canonical_host == target
        if cred.expired(now):
            findings.append(Finding(Status.FAIL if relevant else Status.WARN,
                                    f"ECS_ENGINE_AUTH_DATA in {ECS_CONFIG} holds an ECR token for {entry.host} that "
                                    f"{expiry}", why, fix, commands))
        else:
            findings.append(Finding(Status.WARN, f"ECS_ENGINE_AUTH_DATA in {ECS_CONFIG} holds static credentials for "
                                    f"the ECR registry {entry.host} ({expiry})", why, fix, commands))
    detail = f"ECS_ENGINE_AUTH_TYPE={auth_type}, registries: {', '.join(e.host for e in auth.entries) or 'none'}"
    return findings, [detail], evidence


def _line_of(cfg: EcsConfig, key: str) -> int:
    return next((ln.line for ln in reversed(cfg.lines) if ln.key == key), 0)


def _proxy_findings(cfg: EcsConfig) -> Tuple[List[Finding], List[str], Dict[str, Any]]:
    proxy = cfg.get("HTTP_PROXY", "http_proxy")
    no_proxy = cfg.get("NO_PROXY", "no_proxy") or ""
    evidence: Dict[str, Any] = {"http_proxy": bool(proxy), "no_proxy": no_proxy or None}
    if not proxy:
        return [], [], evidence
    shown = proxy_for_display(proxy)
    missing = [ip for ip in NO_PROXY_REQUIRED if not no_proxy_covers(no_proxy, ip)]
    socket_missing = NO_PROXY_RECOMMENDED not in [e.strip() for e in no_proxy.split(",")]
    wanted = [e for e in no_proxy.split(",") if e.strip()]
    wanted += [e for e in (*missing, NO_PROXY_RECOMMENDED if socket_missing else "") if e]
    command = f"echo {shlex.quote('NO_PROXY=' + ','.join(wanted))} | sudo tee -a {ECS_CONFIG}"
    fix = ("Exempt the metadata and task-credential endpoints from the proxy (ecs-init uses the last NO_PROXY "
           "line, so appending one is enough).")
    if missing:
        return [Finding(
            Status.FAIL,
            f"HTTP_PROXY={shown} is set in {ECS_CONFIG} but NO_PROXY does not exempt {', '.join(missing)}: the agent "
            "sends its instance-metadata and task-credential requests to the proxy",
            ["169.254.169.254 serves the instance role's credentials, 169.254.170.2 the task roles'; through a proxy "
             "they fail, and the agent cannot call ecr:GetAuthorizationToken for ECR pulls",
             f"NO_PROXY={no_proxy or '(unset)'}"],
            fix, (command,))], [], evidence
    if socket_missing:
        return [Finding(Status.WARN, f"HTTP_PROXY={shown} is set in {ECS_CONFIG} and NO_PROXY lacks "
                        f"{NO_PROXY_RECOMMENDED}, which the ECS agent's documentation lists",
                        [f"NO_PROXY={no_proxy}"], fix, (command,))], [], evidence
    return [], [f"HTTP_PROXY={shown}, NO_PROXY exempts {', '.join(NO_PROXY_REQUIRED)}"], evidence


def _pull_behaviour(cfg: EcsConfig) -> Tuple[List[Finding], List[str]]:
    value = cfg.values.get("ECS_IMAGE_PULL_BEHAVIOR", "")
    shown = value or "default (unset)"
    if value in MASKING_PULL_BEHAVIOURS:
        return [Finding(
            Status.WARN,
            f"ECS_IMAGE_PULL_BEHAVIOR={value}: an image already on this instance is not pulled again, so a broken "
            "ECR pull shows only on instances that do not have it yet",
            ["once: pulled only if no earlier task on the instance pulled it (or cleanup removed it); prefer-cached: "
             "pulled only when there is no cached copy, and automated image cleanup is off"],
            "To see pull failures where they happen, let the agent pull every time.",
            (f"sudo sed -i 's/^ECS_IMAGE_PULL_BEHAVIOR=.*/ECS_IMAGE_PULL_BEHAVIOR=always/' {ECS_CONFIG}",))], []
    if value in ("", "default"):
        return [], [f"ECS_IMAGE_PULL_BEHAVIOR={shown}: a failed pull falls back to a cached copy, so a broken pull "
                    "shows first for images this instance does not have"]
    if value == "always":
        return [], ["ECS_IMAGE_PULL_BEHAVIOR=always: a failed pull fails the task"]
    return [Finding(Status.WARN, f"ECS_IMAGE_PULL_BEHAVIOR={value} in {ECS_CONFIG} is not one of default, always, "
                    "once, prefer-cached", [], "Use one of the documented values.", (f"sudoedit {ECS_CONFIG}",))], []


@check("runtime.ecs-agent", title="Does the ECS agent's ecs.config let it pull from ECR?", applies_when=_applies)
def ecs_agent(ctx: Context) -> Outcome:
    """Reads /etc/ecs/ecs.config exactly as ecs-init does and looks for what breaks or hides agent pulls.

    ecs-init splits each line on the first `=` and passes it verbatim: no comments, no `export`, and
    quotes stay part of the value. For ECR images the agent does not use ECS_ENGINE_AUTH_* at all: it
    calls ecr:GetAuthorizationToken itself with the task execution role (else the instance role) and
    refreshes the token. A static ECR token copied into ECS_ENGINE_AUTH_DATA only goes stale after 12
    hours. Behind a proxy the agent must reach 169.254.169.254 (instance role) and 169.254.170.2 (task
    roles) directly, or it gets no credentials. ECS_IMAGE_PULL_BEHAVIOR=once or prefer-cached keeps
    running cached images, so a broken pull shows only on fresh instances.

    Decides: fail when ECS_ENGINE_AUTH_DATA holds an ECR token for the target registry (or any, without
    IMAGE) that has expired (the expiry is read offline from the token), and when HTTP_PROXY is set
    but NO_PROXY does not exempt 169.254.169.254 and 169.254.170.2; warn for a static ECR credential
    that has not expired yet (or one for another registry), ECS_ENGINE_AUTH_DATA that is not valid
    JSON (`Could not parse`), an outer `auths` object, dockercfg-shaped data under type `docker`, a
    missing or unknown ECS_ENGINE_AUTH_TYPE, a `Malformed auth data` entry, a line the agent never
    sees (`export KEY=`, spaces around `=`), NO_PROXY without /var/run/docker.sock, and
    ECS_IMAGE_PULL_BEHAVIOR once/prefer-cached (masks failures); pass otherwise, noting the pull
    behaviour (`default` falls back to a cached image when a pull fails); skip when the file does not
    exist (not an ECS instance) or cannot be read. Credentials are never shown: only registry names
    and token expiry times.

    References: aws/amazon-ecs-agent ecs-init/docker/docker.go (getEnvVars),
    agent/dockerclient/dockerauth/dockerauth.go (parse messages), dockerauth/ecr.go (ECR tokens,
    refresh); ECS developer guide private-auth-container-instances, pull-behavior, http_proxy_config;
    research host-side §1.4 and Part 2 F1-F4.
    """
    read = ctx.host.read_text(ECS_CONFIG)
    if read.text is None:
        return skip(f"cannot read {ECS_CONFIG}: {read.error} (run ecrdoctor as root)")
    cfg = parse_ecs_config(read.text)
    now = ctx.now()
    findings: List[Finding] = []
    details: List[str] = []
    for line in cfg.unseen:
        bare = line.key.strip().removeprefix("export ").strip() if hasattr(str, "removeprefix") else \
            re.sub(r"^export\s+", "", line.key.strip())
        findings.append(Finding(
            Status.WARN, f"{ECS_CONFIG} line {line.line} sets '{line.key}' instead of {bare}: ecs-init passes the "
            f"name verbatim, so the agent never sees {bare}",
            ["ecs.config is not a shell script: no `export`, no spaces around `=`, no quotes"],
            f"Write the line as {bare}=<value>.", (f"sudoedit {ECS_CONFIG}",)))
    auth_findings, auth_details, evidence = _auth_findings(ctx, cfg, now)
    proxy_findings, proxy_details, proxy_evidence = _proxy_findings(cfg)
    pull_findings, pull_details = _pull_behaviour(cfg)
    findings += auth_findings + proxy_findings + pull_findings
    details += auth_details + proxy_details + pull_details
    if cfg.duplicates:
        details.append(f"set more than once (the last line wins): {', '.join(cfg.duplicates)}")
    details.append("ECR pulls: the agent calls ecr:GetAuthorizationToken with the task execution role, else the "
                   "instance role; grant that role ECR pull permissions")
    evidence.update(proxy_evidence, path=ECS_CONFIG, keys=sorted({ln.key for ln in cfg.lines}),
                    pull_behavior=cfg.values.get("ECS_IMAGE_PULL_BEHAVIOR") or "default")
    ok = f"{ECS_CONFIG}: no static ECR credentials, " + \
        ("proxy exemptions in place, " if proxy_evidence["http_proxy"] else "no proxy, ") + \
        f"ECS_IMAGE_PULL_BEHAVIOR={evidence['pull_behavior']}"
    return conclude(findings, ok, details, evidence, after=(RESTART,))
