"""podman, buildah and skopeo (containers/image): which auth file answers for the registry, and with what."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ecrdoctor.checks.docker_config import credhelper_command, login_command

from ecrdoctor.api import Finding, Outcome, check, conclude, info
from ecrdoctor.containersauth import (
    AuthFileCandidate,
    ContainersAuth,
    ContainersSource,
    containers_auth_files,
    find_containers_auth,
    parse_containers_auth,
    registries_conf_blocked,
    registries_conf_helpers,
)
from ecrdoctor.context import Context
from ecrdoctor.distro import ecr_helper_install_commands
from ecrdoctor.model import Status
from ecrdoctor.nodeconfig import NodeConfigError, describe_expiry
from ecrdoctor.reference import parse_registry_host
from ecrdoctor.tomlsubset import parse_toml

TOOLS = ("podman", "buildah", "skopeo")
SYSTEM_REGISTRIES_CONF = "/etc/containers/registries.conf"
AUTH_FILE_HELPER = "containers-auth.json"
# Stores that hand back only what `podman login` saved; they cannot mint ECR tokens.
DESKTOP_STORES = ("desktop", "osxkeychain", "wincred", "secretservice", "pass")


@dataclass(frozen=True)
class AuthFileState:
    candidate: AuthFileCandidate
    auth: Optional[ContainersAuth] = None
    problem: Optional[str] = None  # unreadable or invalid: containers/image stops with an error
    skipped: Optional[str] = None  # not consulted at all


def _user_registries_conf(ctx: Context) -> str:
    home = ctx.host.home or ""
    return f"{home.rstrip('/')}/.config/containers/registries.conf"


def _applies(ctx: Context) -> Optional[str]:
    if any(ctx.host.which(t) for t in TOOLS) or ctx.host.env.get("REGISTRY_AUTH_FILE"):
        return None
    files = [SYSTEM_REGISTRIES_CONF, _user_registries_conf(ctx)]
    files += [c.path for c in containers_auth_files(ctx.host.env, ctx.host.home, ctx.host.current_user().uid)
              if c.path.endswith("containers/auth.json")]
    if any(ctx.host.exists(f) for f in files):
        return None
    return "no podman, buildah or skopeo on PATH and no containers auth.json or registries.conf"


def _read_auth_files(ctx: Context) -> List[AuthFileState]:
    states: List[AuthFileState] = []
    for c in containers_auth_files(ctx.host.env, ctx.host.home, ctx.host.current_user().uid):
        if c.needs_dir and not ctx.host.exists(c.needs_dir):
            states.append(AuthFileState(c, skipped=f"XDG_RUNTIME_DIR={c.needs_dir} does not exist"))
            continue
        read = ctx.host.read_text(c.path)
        if read.missing:
            states.append(AuthFileState(c, ContainersAuth()))
        elif read.text is None:
            states.append(AuthFileState(c, problem=f"cannot read {c.path}: {read.error}"))
        else:
            try:
                states.append(AuthFileState(c, parse_containers_auth(read.text, legacy=c.legacy)))
            except NodeConfigError as exc:
                states.append(AuthFileState(c, problem=f"{c.path} is invalid: {exc.message}"))
    return states


def _registries_conf(ctx: Context) -> Tuple[str, Dict[str, Any], Optional[str]]:
    path = _user_registries_conf(ctx)
    if not ctx.host.exists(path):
        path = SYSTEM_REGISTRIES_CONF
    read = ctx.host.read_text(path)
    if read.text is None:
        return path, {}, None
    try:
        return path, parse_toml(read.text), None
    except NodeConfigError as exc:
        return path, {}, None if exc.unsupported else f"{path} is not valid TOML ({exc})"


def _writable_auth_file(ctx: Context) -> str:
    explicit = ctx.host.env.get("REGISTRY_AUTH_FILE")
    if explicit:
        return explicit
    xdg = ctx.host.env.get("XDG_CONFIG_HOME") or f"{(ctx.host.home or '').rstrip('/')}/.config"
    return f"{xdg.rstrip('/')}/containers/auth.json"


def _resolve(ctx: Context, states: List[AuthFileState], helpers: Tuple[str, ...], host: str,
             repository: Optional[str]) -> Tuple[Optional[ContainersSource], Optional[str], List[str]]:
    """containers/image's GetCredentials: registries.conf helpers in order; the auth files are one of them.

    Returns (source, where it came from, notes)."""
    notes: List[str] = []
    for helper in helpers:
        if helper != AUTH_FILE_HELPER:
            if ctx.host.which(f"docker-credential-{helper}"):
                return ContainersSource("cred-helper", host, helper=helper), "registries.conf credential-helpers", \
                    notes
            notes.append(f"registries.conf names credential helper '{helper}', but docker-credential-{helper} is "
                         "not on PATH")
            continue
        for state in states:
            if state.auth is None:
                continue
            found = find_containers_auth(state.auth, host, repository, state.candidate.legacy)
            if found is not None:
                return found, state.candidate.path, notes
    return None, None, notes


@check("runtime.podman", title="Which credentials will podman, buildah and skopeo use for this registry?",
       applies_when=_applies)
def podman_credentials(ctx: Context) -> Outcome:
    """Walks the containers-auth.json(5) search order and finds the file (or helper) that answers.

    podman, buildah and skopeo read `$REGISTRY_AUTH_FILE` alone when it is set; otherwise
    `$XDG_RUNTIME_DIR/containers/auth.json` (root: /run/containers/0/auth.json), then
    `$XDG_CONFIG_HOME/containers/auth.json` (~/.config/containers/auth.json), then
    `$DOCKER_CONFIG/config.json` or ~/.docker/config.json, then ~/.dockercfg. In each file a
    `credHelpers` entry for the exact host wins (ecr-login works: docker-credential-ecr-login must be
    on PATH), then an `auths` entry for the repository, its namespaces, or the host. registries.conf
    `credential-helpers` sets the order of external helpers and the auth files. A token stored by
    `podman login` to ECR expires after 12 hours; its expiry is read offline from the token.

    Decides: fail when REGISTRY_AUTH_FILE names a file that does not exist, when an auth file in the
    search order is unreadable or not valid JSON (podman stops with `reading JSON file`), when the
    answering credHelpers entry names a helper that is not on PATH, when the answering static ECR
    token has expired, when registries.conf blocks the registry, and when nothing answers for an ECR
    private registry (`No credentials for <host> found`); warn when a still-valid static ECR token
    answers (it expires), when a keychain-style store answers, and when XDG_RUNTIME_DIR points at a
    missing directory (the primary auth file is skipped); pass when the ECR credential helper
    answers; info without IMAGE (the search order and the ECR registries covered); skip when
    neither podman, buildah, skopeo nor their config files are present.

    References: containers/image pkg/docker/config/config.go (getAuthFilePaths, findAuthentication,
    GetCredentials), containers-auth.json(5), containers-registries.conf(5); amazon-ecr-credential-helper
    README; research host-side §1.6 and Part 2 H1-H2, aws-side A3.
    """
    now = ctx.now()
    findings: List[Finding] = []
    details: List[str] = []
    explicit = ctx.host.env.get("REGISTRY_AUTH_FILE")
    states = _read_auth_files(ctx)
    order = [f"{s.candidate.path} ({s.candidate.why})" for s in states]
    evidence: Dict[str, Any] = {"search_order": [s.candidate.path for s in states],
                                "present": [s.candidate.path for s in states
                                            if ctx.host.exists(s.candidate.path)]}
    details.append("auth file search order: " + "; ".join(order))
    reg = ctx.registry if ctx.registry is not None and ctx.registry.is_ecr else None
    if explicit and not ctx.host.exists(explicit):
        fix_cmds = (credhelper_command(explicit, reg.host),) if reg and reg.kind == "private" else ()
        findings.append(Finding(
            Status.FAIL, f"REGISTRY_AUTH_FILE={explicit} does not exist: podman, buildah and skopeo read only that "
            "file, so they have no credentials" + (f" for {reg.host}" if reg else ""),
            ["with REGISTRY_AUTH_FILE set, ~/.config/containers/auth.json and ~/.docker/config.json are not read"],
            "Point REGISTRY_AUTH_FILE at an existing auth file, or unset it.",
            ("unset REGISTRY_AUTH_FILE",) + fix_cmds))
    for s in states:
        if s.skipped:
            findings.append(Finding(
                Status.WARN, f"{s.skipped}: containers/image skips the primary auth file {s.candidate.path} "
                "(it warns `Trying to pull image in the event that it is a public image`)",
                ["a stale XDG_RUNTIME_DIR is common after `sudo su` or in non-login sessions"],
                "Unset XDG_RUNTIME_DIR (or create the directory) in the shell that runs podman.",
                ("unset XDG_RUNTIME_DIR",)))
        if s.problem:
            findings.append(Finding(Status.FAIL, f"{s.problem}: podman, buildah and skopeo stop with `reading JSON "
                                    f"file {s.candidate.path}`", [], "Repair the file.",
                                    (f"python3 -m json.tool {shlex.quote(s.candidate.path)}",)))
    conf_path, conf, conf_error = _registries_conf(ctx)
    if conf_error:
        findings.append(Finding(Status.FAIL, f"{conf_error}: podman refuses to start with it", [],
                                "Repair the file.", (f"sudoedit {conf_path}",)))
    helpers = registries_conf_helpers(conf)
    if helpers != (AUTH_FILE_HELPER,):
        details.append(f"{conf_path}: credential-helpers = {list(helpers)}")
    if reg is None:
        return _overview(ctx, states, findings, details, evidence, now)
    host = ctx.image.registry if ctx.image else reg.host
    blocked = registries_conf_blocked(conf, host)
    if blocked:
        findings.append(Finding(Status.FAIL, f"{conf_path} blocks pulls from {host} ([[registry]] prefix "
                                f"\"{blocked}\" has blocked = true)", [], "Remove `blocked = true` for it.",
                                (f"sudoedit {conf_path}",)))
    source, where, notes = _resolve(ctx, states, helpers, host, ctx.image.repository if ctx.image else None)
    details += notes
    evidence.update(host=host, source=source.kind if source else "none", file=where,
                    key=source.key if source else None, helper=source.helper if source else None)
    target_file = _writable_auth_file(ctx)
    helper_fix = (credhelper_command(target_file, host),) if reg.kind == "private" else ()
    if source is None:
        if reg.kind == "private":
            findings.append(Finding(
                Status.FAIL, f"no auth file or helper has credentials for {host}: podman pulls anonymously and ECR "
                "answers 401 (debug log: `No credentials for " + host + " found`)", [],
                f"Let the ECR credential helper answer for {host} (add credHelpers to {target_file}), or log in "
                "for 12 hours.", helper_fix + (login_command(reg, "podman"),)))
        else:
            details.append(f"no credentials for {host}: podman pulls from ECR Public anonymously")
    elif source.kind == "cred-helper":
        helper = source.helper or ""
        exe = ctx.host.which(f"docker-credential-{helper}") if helper else None
        origin = where if where != "registries.conf credential-helpers" else conf_path
        if not exe:
            findings.append(Finding(
                Status.FAIL, f"{origin} sends {host} to credential helper '{helper}', but docker-credential-{helper} "
                "is not on PATH: podman fails with `executable file not found in $PATH`", [],
                "Install the Amazon ECR credential helper." if helper == "ecr-login" else
                f"Install docker-credential-{helper}, or point the entry at ecr-login.",
                ecr_helper_install_commands(ctx) if helper == "ecr-login" else helper_fix))
        elif helper in DESKTOP_STORES:
            findings.append(Finding(
                Status.WARN, f"{origin} sends {host} to '{helper}', a store that returns only what `podman login` "
                "saved, never a fresh ECR token", [], "Use ecr-login for ECR registries.", helper_fix))
        else:
            details.append(f"docker-credential-{helper} is at {exe}")
    else:
        cred = source.credential
        if cred is not None and cred.is_ecr_token:
            expiry = describe_expiry(cred.expires_at, now)
            status = Status.FAIL if cred.expired(now) else Status.WARN
            findings.append(Finding(
                status, f"{where} answers for {host} with a static ECR token (auths key '{source.key}') that {expiry}"
                if cred.expired(now) else
                f"{where} answers for {host} with a static ECR token (auths key '{source.key}'; {expiry})",
                ["ECR tokens last 12 hours; the ECR credential helper fetches fresh ones"],
                "Let the ECR credential helper answer instead (a credHelpers entry in the same file wins over "
                "auths), or log in again.",
                (credhelper_command(where or target_file, host), login_command(reg, "podman"))))
    summary_source = (f"credential helper {source.helper} ({where})" if source and source.kind == "cred-helper"
                      else f"the auths entry '{source.key}' in {where}" if source else "anonymous access")
    return conclude(findings, f"podman, buildah and skopeo use {summary_source} for {host}", details, evidence)


def _overview(ctx: Context, states: List[AuthFileState], findings: List[Finding], details: List[str],
              evidence: Dict[str, Any], now: Any) -> Outcome:
    """Without IMAGE: the ECR registries each file covers, and stale tokens anywhere in the search order."""
    covered: List[str] = []
    for s in states:
        if s.auth is None:
            continue
        for key, helper in s.auth.cred_helpers.items():
            if parse_registry_host(key).is_ecr:
                covered.append(f"{key}: credential helper {helper} ({s.candidate.path})")
        for key in s.auth.auths:
            found = find_containers_auth(s.auth, key.split("/", 1)[0], None, s.candidate.legacy)
            if found is None or found.kind != "auths" or not parse_registry_host(key).is_ecr:
                continue
            cred = found.credential
            if cred is not None and cred.is_ecr_token and cred.expired(now):
                findings.append(Finding(Status.WARN, f"{s.candidate.path} holds an ECR token for {key} that "
                                        f"{describe_expiry(cred.expires_at, now)}", [],
                                        "Use the ECR credential helper for this registry.",
                                        (credhelper_command(s.candidate.path, key),)))
            covered.append(f"{key}: stored login ({s.candidate.path})")
    evidence["ecr_registries"] = covered
    if any(f.status in (Status.FAIL, Status.WARN) for f in findings):
        return conclude(findings, "", details + covered, evidence)
    if not covered:
        return info("no containers auth file names an ECR registry", details=details, evidence=evidence)
    return info(f"the containers auth files cover {len(covered)} ECR registr{'y' if len(covered) == 1 else 'ies'}",
                details=covered + details, evidence=evidence)
