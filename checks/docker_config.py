"""The docker client: which config file it reads, and which credentials it would send for the image."""

from __future__ import annotations

import shlex
from typing import Optional

from ecrdoctor.api import Fix, Outcome, check, fail, info, passed, warn
from ecrdoctor.context import Context
from ecrdoctor.dockerconfig import (
    CredentialSource,
    DockerConfig,
    convert_to_hostname,
    default_store_candidate,
    find_key_near_misses,
    resolve_credentials,
)
from ecrdoctor.reference import RegistryHost, parse_registry_host

# Helpers that only hand back what `docker login` stored; they cannot mint ECR tokens themselves.
DESKTOP_STORES = ("desktop", "osxkeychain", "wincred", "secretservice", "pass")


def credhelper_command(config_path: str, host: str) -> str:
    """A paste-able command that adds `credHelpers[host] = "ecr-login"` to a docker config, keeping the rest."""
    script = (
        'import json,os,sys; p,h=sys.argv[1],sys.argv[2]; '
        'c=json.load(open(p)) if os.path.exists(p) else {}; '
        'c.setdefault("credHelpers",{})[h]="ecr-login"; '
        'os.makedirs(os.path.dirname(p),exist_ok=True); json.dump(c,open(p,"w"),indent=2)'
    )
    return f"python3 -c {shlex.quote(script)} {shlex.quote(config_path)} {shlex.quote(host)}"


def login_command(reg: RegistryHost, tool: str = "docker") -> str:
    """`aws ecr get-login-password | docker login …` (or `podman login`) for the registry's region."""
    if reg.kind == "public":
        return "aws ecr-public get-login-password --region us-east-1 | " \
               f"{tool} login --username AWS --password-stdin public.ecr.aws"
    return f"aws ecr get-login-password --region {reg.region} | " \
           f"{tool} login --username AWS --password-stdin {reg.host}"


@check("docker.config", title="Which docker config file is read, and is it valid?")
def docker_config(ctx: Context) -> Outcome:
    """Finds the config.json the docker CLI will read, exactly as docker resolves it, and parses it.

    docker reads `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json` — under `sudo`
    that is root's file, not the invoking user's. A file that is not valid JSON, or whose `auths`
    entry holds an `auth` value that is not base64 of `user:password`, makes docker print a
    warning and carry on with an EMPTY config: no credential helper, no logins, and the pull fails
    with `no basic auth credentials`. An invalid `DOCKER_AUTH_CONFIG` variable is ignored the same way.

    Decides: pass for a readable, valid config; warn when the file does not exist (docker then has
    no credential source unless one is auto-detected); fail when it cannot be read or parsed.

    References: docker/cli cli/config/config.go (location, parse warning) and
    cli/config/configfile/file.go (decodeAuth, DOCKER_AUTH_CONFIG).
    """
    dc = ctx.docker_config()
    path = dc.location.path
    details = [dc.location.explanation]
    sudo_user = ctx.host.sudo_user
    if sudo_user:
        user_home = ctx.host.user_home(sudo_user)  # None for a directory (SSSD/LDAP) user not in /etc/passwd
        user_path = f"{user_home.rstrip('/')}/.docker/config.json" if user_home else f"~{sudo_user}/.docker/config.json"
        if path != user_path:  # `sudo -E` keeps HOME, and docker then reads the user's own file
            details.append(f"running under sudo from {sudo_user}: docker reads {path}, not {user_path}")
    evidence: dict[str, object] = {"path": path, "source": dc.location.source}
    if dc.auth_config_error is not None:
        return fail(
            f"DOCKER_AUTH_CONFIG is set but invalid ({dc.auth_config_error.message}); docker ignores it",
            details=details,
            # the placeholder is unquoted: the report's redactor masks any quoted "auth" value
            fix=Fix("Unset it, or set it to {\"auths\": {\"<host>\": {\"auth\": <base64 of user:password>}}}.",
                    ("unset DOCKER_AUTH_CONFIG",)),
            evidence=evidence,
        )
    if dc.read.missing:
        return warn(
            f"{path} does not exist: docker starts with an empty config (no credential helper, no logins)",
            details=details,
            fix=_helper_fix(ctx, path),
            evidence=evidence,
        )
    if dc.read.error == "is a directory":  # `docker run -v ~/.docker/config.json:...` of a missing file makes one
        return fail(
            f"docker cannot read {path}: is a directory",
            details=details,
            fix=Fix("Remove the directory (a bind mount of a config.json that did not exist creates it); docker "
                    "needs a file there.", (f"sudo rmdir {shlex.quote(path)}",)),
            evidence=evidence,
        )
    if dc.read.error is not None:
        return fail(
            f"docker cannot read {path}: {dc.read.error}",
            details=details,
            fix=Fix("Give the user who runs docker read access to its own config.",
                    (f"sudo chown \"$(id -u):$(id -g)\" {shlex.quote(path)}",)),
            evidence=evidence,
        )
    if dc.error is not None:
        where = f" at line {dc.error.line}, column {dc.error.column}" if getattr(dc.error, "line", None) else ""
        return fail(
            f"{path} is invalid{where}: {dc.error.message}; docker ignores the whole file and pulls with no "
            "credentials",
            details=details + ["docker prints only `WARNING: Error parsing config file`, then "
                               "`no basic auth credentials`"],
            fix=Fix("Repair the file (a trailing comma is the usual culprit); this shows where it breaks.",
                    (f"python3 -m json.tool {shlex.quote(path)}",)),
            evidence=evidence,
        )
    config = dc.config
    assert config is not None
    evidence.update(credHelpers=len(config.cred_helpers), credsStore=config.creds_store, auths=len(config.auths))
    parts = [f"credHelpers for {len(config.cred_helpers)} host(s)"] if config.cred_helpers else []
    parts += [f"credsStore {config.creds_store}"] if config.creds_store else []
    parts += [f"{len(config.auths)} auths entr{'y' if len(config.auths) == 1 else 'ies'}"] if config.auths else []
    return passed(f"docker reads {path} ({', '.join(parts) or 'no credential settings'})", details=details,
                  evidence=evidence)


def _helper_fix(ctx: Context, config_path: str) -> Optional[Fix]:
    reg = ctx.registry
    if reg is None or reg.kind != "private":
        return None
    return Fix(
        "Let the Amazon ECR credential helper supply fresh tokens for this registry (durable), or log in "
        "with a token that lasts 12 hours.",
        (credhelper_command(config_path, reg.host), login_command(reg)),
    )


def _source_phrase(src: CredentialSource) -> str:
    if src.kind == "docker-auth-config":
        return f"the DOCKER_AUTH_CONFIG variable (entry '{src.key}')"
    if src.kind == "cred-helper":
        return f"docker-credential-{src.helper} (credHelpers['{src.key}'])"
    if src.kind == "creds-store":
        return f"docker-credential-{src.helper} (credsStore)"
    return f"the auths entry '{src.key}' stored by `docker login`"


def _resolve(ctx: Context, config: DockerConfig, host: str) -> tuple[CredentialSource, Optional[str]]:
    """docker's resolution, including the store docker auto-detects when the config names none."""
    dc = ctx.docker_config()
    src = resolve_credentials(config, host, dc.auth_config)
    if src.kind == "none" and not (config.creds_store or config.cred_helpers or config.auths):
        candidate = default_store_candidate(config, ctx.host.which)
        if candidate:
            return CredentialSource(kind="creds-store", helper=candidate, key=None, entry=None, shadowed=()), \
                f"the config names no credential store, so docker auto-detects docker-credential-{candidate}"
    return src, None


@check("docker.credentials", title="Which credentials will docker send for this registry?",
       requires=["docker.config"])
def docker_credentials(ctx: Context) -> Outcome:
    """Applies docker's own precedence to the image's registry host, and explains near misses.

    For a host, the docker CLI uses: a `DOCKER_AUTH_CONFIG` entry (CLI 28.3+); else the helper in
    `credHelpers` under the EXACT host key — no scheme, no path, no wildcard; else the helper named
    by `credsStore`; else the `auths` entry (whose keys docker does normalise). With no source at
    all docker sends nothing and ECR answers `no basic auth credentials`.

    Decides: pass when the ECR credential helper or a stored login covers the host (and for
    anonymous ECR Public pulls); warn when a desktop/keychain store that cannot mint ECR tokens
    would answer; fail when nothing covers the host, listing keys that were probably meant for it
    (a `https://` scheme, a path, a `*` wildcard, another region or account); info without an
    IMAGE, listing the ECR registries the config covers (warn when one of its keys can never match).

    References: docker/cli cli/config/configfile/file.go (GetAuthConfig, getConfiguredCredentialStore),
    cli/config/credentials/file_store.go (auths key normalisation), default_store_linux.go;
    amazon-ecr-credential-helper README (configuration, troubleshooting).
    """
    dc = ctx.docker_config()
    config = dc.effective
    reg = ctx.registry
    if reg is None:
        # the host each key stands for; docker itself looks credHelpers and DOCKER_AUTH_CONFIG keys up exactly
        keys = list(config.cred_helpers) + list(config.auths) + list(dc.auth_config.auths if dc.auth_config else ())
        hosts = sorted({convert_to_hostname(k) for k in keys if parse_registry_host(k).is_ecr})
        if not hosts:
            return info("the docker config names no ECR registry", evidence={"hosts": []})
        lines, covered = [], 0
        for h in hosts:
            src = _resolve(ctx, config, h)[0]
            if src.kind == "none":
                misses = find_key_near_misses(config, h, dc.auth_config)
                lines.append(f"{h}: no credentials" + (f" ({misses[0].reason})" if misses else ""))
            else:
                covered += 1
                lines.append(f"{h}: {_source_phrase(src)}")
        names = f"{len(hosts)} ECR registr{'y' if len(hosts) == 1 else 'ies'}"
        if covered == len(hosts):
            return info(f"the docker config covers {names}", details=lines, evidence={"hosts": hosts})
        return warn(f"the docker config covers {covered} of the {names} it names", details=lines,
                    fix=Fix("Key credHelpers by the bare registry host, exactly as it appears in image names.", ()),
                    evidence={"hosts": hosts})
    host = ctx.image.registry if ctx.image else reg.host
    src, note = _resolve(ctx, config, host)
    misses = find_key_near_misses(config, host, dc.auth_config)
    details = ([note] if note else []) + list(src.shadowed) + [m.reason for m in misses]
    evidence: dict[str, object] = {"host": host, "source": src.kind, "helper": src.helper, "key": src.key,
                                   "near_misses": [{"section": m.section, "key": m.key, "kind": m.kind}
                                                   for m in misses]}
    if src.kind == "none":
        if reg.kind == "public":
            return passed(f"no credentials for {host}: docker pulls from ECR Public anonymously", evidence=evidence)
        lower = parse_registry_host(host.lower())  # an ECR host with capitals: docker keeps them in the key
        if reg.kind == "other" and not lower.is_ecr:
            return info(f"no credentials for {host}: docker pulls anonymously", details=details, evidence=evidence)
        fix = _helper_fix(ctx, dc.location.path)
        if reg.kind == "other" and ctx.image is not None:
            fix = Fix("Pull with the registry host in lower case: docker looks credentials up by the host exactly "
                      "as written.", (f"docker pull {lower.host}/{ctx.image.full[len(host) + 1:]}",))
        lead = misses[0].reason if misses else "no credHelpers entry, no credsStore and no auths entry match it"
        return fail(
            f"docker has no credentials for {host}: {lead}",
            details=details + ["so docker sends none, and the pull fails with `no basic auth credentials`"],
            fix=fix,
            evidence=evidence,
        )
    if src.kind == "auths" and src.entry is not None and not (src.entry.has_auth or src.entry.has_identity_token
                                                               or src.entry.has_password):
        return fail(
            f"the auths entry '{src.key}' for {host} is empty: docker sends no credentials",
            details=details,
            fix=_helper_fix(ctx, dc.location.path),
            evidence=evidence,
        )
    if src.helper in DESKTOP_STORES and reg.is_ecr:
        return warn(
            f"docker asks {_source_phrase(src)} for {host}: a keychain store returns only what `docker login` "
            "saved, never a fresh ECR token",
            details=details,
            fix=_helper_fix(ctx, dc.location.path),
            evidence=evidence,
        )
    return passed(f"docker will use {_source_phrase(src)} for {host}", details=details, evidence=evidence)
