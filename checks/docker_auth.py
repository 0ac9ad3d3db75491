"""What docker authenticates with: stored ECR tokens, credential stores that cannot work here, and the sudo trap."""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ecrdoctor.checks.docker_config import credhelper_command, login_command
from ecrdoctor.checks.helper import helper_missing

from ecrdoctor.api import Fix, Outcome, Status, check, fail, passed, skip, warn
from ecrdoctor.context import Context
from ecrdoctor.distro import distro_ids, ecr_helper_install_commands
from ecrdoctor.dockerconfig import (
    AuthEntry,
    ConfigError,
    CredentialSource,
    DockerConfig,
    config_key,
    convert_to_hostname,
    default_store_candidate,
    find_key_near_misses,
    parse_config,
    resolve_credentials,
)
from ecrdoctor.dockerfacts import docker_cli_version
from ecrdoctor.ecrtoken import (
    TOKEN_LIFETIME,
    EcrTokenInfo,
    TokenError,
    decode_ecr_auth,
    format_duration,
    format_time,
    time_left,
)
from ecrdoctor.reference import RegistryHost, parse_registry_host

SOON = timedelta(hours=1)
DOCKER_AUTH_CONFIG_SINCE = (28, 3, 0)  # docker/cli commit 9b83d5b (research host-side.md 1.1)
HELPER_ERRORS_SHOWN_SINCE = (28, 4, 0)  # RetrieveAuthTokenFromImage returns helper errors (host-side.md 1.1 #5)
EXPIRED_SYMPTOM = "denied: Your authorization token has expired. Reauthenticate and try again."
DBUS_SYMPTOM = "Cannot autolaunch D-Bus without X11 $DISPLAY"
KNOWN_HELPERS = ("ecr-login", "desktop", "osxkeychain", "wincred", "secretservice", "pass", "gcloud", "acr-env")
# Where people put a helper binary by hand; sudo's secure_path usually has none of the per-user ones.
USER_BIN_DIRS = ("/usr/local/bin", "/usr/local/sbin", "{home}/bin", "{home}/.local/bin", "{home}/go/bin",
                 "/opt/bin", "/snap/bin", "/home/linuxbrew/.linuxbrew/bin")

Version = Tuple[int, int, int]


# == shared facts and small pure helpers ================================================================

def _v(version: Version) -> str:
    return ".".join(str(n) for n in version)


def _edit_command(path: str, code: str, *args: str) -> str:
    """A paste-able python3 one-liner that edits a docker config in place, keeping everything else."""
    script = f'import json,sys; p=sys.argv[1]; c=json.load(open(p)); {code}; json.dump(c,open(p,"w"),indent=2)'
    return f"python3 -c {shlex.quote(script)} " + " ".join(shlex.quote(a) for a in (path, *args))


def remove_auths_command(path: str, key: str) -> str:
    """Delete one `auths` entry (what `docker logout` should have done)."""
    return _edit_command(path, 'c.get("auths",{}).pop(sys.argv[2],None)', key)


def drop_creds_store_command(path: str, hosts: Sequence[str] = ()) -> str:
    """Delete `credsStore`; for each host given, add `credHelpers[host] = "ecr-login"` in the same edit."""
    code = 'c.pop("credsStore",None); [c.setdefault("credHelpers",{}).__setitem__(h,"ecr-login") for h in sys.argv[2:]]'
    return _edit_command(path, code, *hosts)


def set_creds_store_command(path: str, name: str) -> str:
    return _edit_command(path, 'c["credsStore"]=sys.argv[2]', name)


def set_cred_helper_command(path: str, host: str, name: str) -> str:
    return _edit_command(path, 'c.setdefault("credHelpers",{})[sys.argv[2]]=sys.argv[3]', host, name)


def docker_auth_config_command(reg: RegistryHost) -> str:
    """`export DOCKER_AUTH_CONFIG=...` with a fresh token for the registry (no secret in the command itself)."""
    login = "aws ecr-public get-login-password --region us-east-1" if reg.kind == "public" \
        else f"aws ecr get-login-password --region {reg.region}"
    script = ('import base64,json,sys; t=sys.stdin.read().strip(); '
              'print(json.dumps({"auths": {sys.argv[1]: {"auth": base64.b64encode(("AWS:" + t).encode()).decode()}}}))')
    return f'export DOCKER_AUTH_CONFIG="$({login} | python3 -c {shlex.quote(script)} {shlex.quote(reg.host)})"'


def _worst(outcomes: Iterable[Outcome]) -> Status:
    return max((o.status for o in outcomes), key=lambda s: s.severity)


def _merge_fixes(outcomes: Iterable[Outcome]) -> Optional[Fix]:
    texts: List[str] = []
    commands: List[str] = []
    for o in outcomes:
        if o.fix is None:
            continue
        new = [c for c in o.fix.commands if c not in commands]
        if o.fix.text not in texts and (new or not o.fix.commands):  # a fix whose commands are all there adds nothing
            texts.append(o.fix.text)
        commands += new
    return Fix(" ".join(texts), tuple(commands)) if texts else None


def _outcome(status: Status, summary: str, details: Iterable[str] = (), fix: Optional[Fix] = None,
             evidence: Optional[Dict[str, object]] = None) -> Outcome:
    return Outcome(status, summary, tuple(details), fix if status in (Status.WARN, Status.FAIL) else None,
                   dict(evidence or {}))


# == docker.token ======================================================================================

def _config_age(ctx: Context, path: str, now: datetime) -> Optional[timedelta]:
    """How long ago the config file was last written: a lower bound of the age of any token inside."""
    st = ctx.host.stat(path)
    if not st.exists:
        return None
    return max(timedelta(0), now - datetime.fromtimestamp(st.mtime, tz=timezone.utc))


def _judge_entry(ctx: Context, entry: AuthEntry, where: str, file_path: Optional[str],
                 now: datetime) -> Optional[Tuple[Status, str, List[str], Dict[str, object]]]:
    """Status, phrase (completing "<where> ..."), details and evidence for one stored credential.

    None when the entry holds no credential at all (docker.credentials reports empty entries)."""
    if not entry.secret_auth:
        if entry.has_password or entry.has_identity_token:
            what = "a username and password" if entry.has_password else "only an identity token"
            return (Status.WARN, f"stores {what} instead of an `auth` value, so its expiry is unknown", [],
                    {"expiry": "unknown"})
        return None
    try:
        token: EcrTokenInfo = decode_ecr_auth(entry.secret_auth)
    except TokenError as exc:
        return Status.WARN, f"cannot be read as an ECR token ({exc}), so its expiry is unknown", [], \
            {"expiry": "unknown"}
    if not token.is_ecr:
        return (Status.WARN, "does not hold an ECR token (user AWS with an ECR token as password); ECR accepts "
                "only the tokens it issued, and its expiry is unknown", [], {"expiry": "unknown", "ecr_token": False})
    left = time_left(token, now)
    if left is None or token.expires_at is None:
        age = _config_age(ctx, file_path, now) if file_path else None
        evidence: Dict[str, object] = {"expiry": "unknown", "version": token.version}
        base = "holds an ECR token without an expiration field (as `aws ecr get-login` issued them)"
        if age is None:
            return Status.WARN, f"{base}, so its expiry is unknown", [], evidence
        evidence["min_age_seconds"] = int(age.total_seconds())
        if age >= TOKEN_LIFETIME:
            return (Status.FAIL, f"{base}; {file_path} was last written {format_duration(age)} ago, so the token "
                    f"is older than the 12 h an ECR token lasts: it has expired", [], evidence)
        return (Status.WARN, f"{base}, so its expiry is unknown", [f"{file_path} was last written "
                f"{format_duration(age)} ago: the token is at least that old, and ECR tokens last 12 h"], evidence)
    evidence = {"expires_at": token.expires_at.isoformat().replace("+00:00", "Z"),
                "seconds_left": int(left.total_seconds())}
    if left <= timedelta(0):
        return (Status.FAIL, f"expired {format_time(token.expires_at)} ({format_duration(left)} ago)",
                [f"docker still sends it, and ECR answers `{EXPIRED_SYMPTOM}`"], evidence)
    if left < SOON:
        return (Status.WARN, f"expires {format_time(token.expires_at)} (in {format_duration(left)})",
                ["ECR tokens last 12 h; after that docker still sends it and the pull is denied"], evidence)
    return Status.PASS, f"is valid until {format_time(token.expires_at)} ({format_duration(left)} left)", [], evidence


def _auths_keys_for(config: DockerConfig, host: str) -> List[str]:
    key = config_key(host)
    return sorted((k for k in config.auths if k == key or convert_to_hostname(k) == key), key=lambda k: k != key)


def _relogin_fix(reg: RegistryHost, path: str, key: str) -> Fix:
    if reg.kind == "public":
        return Fix("Remove the stale login so docker pulls ECR Public anonymously, or log in again (ECR Public tokens "
                   "come only from us-east-1).", ("docker logout public.ecr.aws", login_command(reg)))
    return Fix(f"Either log in again with a token from {reg.region} (it lasts 12 hours; first command), or switch to "
               "the Amazon ECR credential helper, which fetches fresh tokens itself (drop the stored token, then add "
               "the helper).",
               (login_command(reg), remove_auths_command(path, key), credhelper_command(path, reg.host)))


def _host_token(ctx: Context, host: str, now: datetime, version: Optional[Version]) -> Optional[Outcome]:
    """docker.token for one ECR host; None when docker sends no stored token there."""
    dc = ctx.docker_config()
    config, path = dc.effective, dc.location.path
    reg = parse_registry_host(host)
    auth_config = dc.auth_config
    notes: List[str] = []
    if auth_config is not None and version is not None and version < DOCKER_AUTH_CONFIG_SINCE \
            and config_key(host) in auth_config.auths:
        notes.append(f"docker CLI {_v(version)} ignores DOCKER_AUTH_CONFIG (read since 28.3.0), so the config file "
                     "decides")
        auth_config = None
    src: CredentialSource = resolve_credentials(config, host, auth_config)
    notes += list(src.shadowed)
    evidence: Dict[str, object] = {"host": host, "source": src.kind, "key": src.key}
    if src.kind == "docker-auth-config" and src.entry is not None:
        judged = _judge_entry(ctx, src.entry, "", None, now)
        if judged is None:
            return None
        status, phrase, details, ev = judged
        since = "" if version else " (docker CLI 28.3 and later)"
        return _outcome(status, f"the ECR token docker sends to {host} from DOCKER_AUTH_CONFIG{since} {phrase}",
                        details + notes,
                        Fix("DOCKER_AUTH_CONFIG overrides the config file for this host: unset it so docker uses "
                            "the file's credentials, or set it again with a fresh token.",
                            ("unset DOCKER_AUTH_CONFIG", docker_auth_config_command(reg))),
                        {**evidence, **ev})
    if src.kind == "auths" and src.entry is not None and src.key is not None:
        judged = _judge_entry(ctx, src.entry, src.key, path, now)
        if judged is None:
            return None
        status, phrase, details, ev = judged
        if reg.kind == "public" and status is not Status.PASS:
            details.append("without a stored login docker pulls ECR Public images anonymously")
        return _outcome(status, f"the ECR token docker sends to {host} (auths entry '{src.key}' in {path}) {phrase}",
                        details + notes, _relogin_fix(reg, path, src.key), {**evidence, **ev})
    if src.kind in ("cred-helper", "creds-store"):
        stale = [(k, _judge_entry(ctx, config.auths[k], k, path, now)) for k in _auths_keys_for(config, host)]
        found = [(k, j) for k, j in stale if j is not None]
        if not found:
            return None
        where = f"credHelpers['{src.key}']" if src.kind == "cred-helper" else "credsStore"
        lines = [f"auths entry '{k}' {j[1]}" for k, j in found]
        erase = "" if src.helper != "ecr-login" else \
            f" `docker logout {host}` leaves it in place while ecr-login is configured (the helper does not " \
            "implement erase, unless AWS_ECR_IGNORE_CREDS_STORAGE=true with helper 0.9.0+), so edit the file."
        commands = ([f"docker logout {host}"] if src.helper != "ecr-login" else []) + \
            [remove_auths_command(path, k) for k, _ in found]
        return _outcome(
            Status.WARN,
            f"{path} still holds a `docker login` token for {host} ({lines[0]}) that docker-credential-"
            f"{src.helper} ({where}) overrides: the docker CLI ignores it, but older CLIs and tools such as "
            "docker-py fall back to it",
            lines[1:], Fix("Delete the stale entry." + erase, tuple(commands)),
            {**evidence, "helper": src.helper, "stale_keys": [k for k, _ in found]})
    return None


def _other_host_token(ctx: Context, host: str, reg: RegistryHost, now: datetime) -> Optional[Outcome]:
    """B11: the only stored ECR token is under another region's or account's host than the image's."""
    dc = ctx.docker_config()
    misses = [m for m in find_key_near_misses(dc.effective, host, dc.auth_config)
              if m.section in ("auths", "DOCKER_AUTH_CONFIG")
              and m.kind in ("other-region", "other-account", "fips-or-dualstack-variant")]
    if not misses:
        return None
    m = misses[0]
    other = parse_registry_host(convert_to_hostname(m.key))
    if m.kind == "other-region":
        why = f"another region ({other.region}, the image is in {reg.region}); ECR tokens are region-bound"
    elif m.kind == "other-account":
        why = f"account {other.account}'s registry, not {reg.account}'s"
    else:
        why = "another endpoint of the registry"
    entry = (dc.auth_config.auths if m.section == "DOCKER_AUTH_CONFIG" and dc.auth_config else
             dc.effective.auths).get(m.key)
    judged = _judge_entry(ctx, entry, m.key, dc.location.path if m.section == "auths" else None, now) \
        if entry else None
    details = [m.reason, f"docker sends a stored token only to the host it was stored for, so it sends none to "
               f"{host}: `no basic auth credentials`"]
    if judged is not None:
        details.append(f"the token stored for {convert_to_hostname(m.key)} {judged[1]}")
    return fail(
        f"docker's stored ECR token is for {convert_to_hostname(m.key)}, not the image's {host}: {why}",
        details=details,
        fix=Fix(f"Log in to the image's registry with a token from its own region, {reg.region}.",
                (login_command(reg), credhelper_command(dc.location.path, host))),
        evidence={"host": host, "token_host": convert_to_hostname(m.key), "section": m.section, "kind": m.kind},
    )


@check("docker.token", title="Is the ECR token docker has stored still valid, and for this registry?",
       requires=["docker.config"])
def docker_token(ctx: Context) -> Outcome:
    """Reads, offline, the expiry of the static ECR token docker would send (`docker login` in `auths`, or
    the `DOCKER_AUTH_CONFIG` variable, which wins on docker CLI 28.3 and later).

    An ECR token lasts 12 hours and works only in the region it was issued for. docker keeps sending a
    stored token after it expires, and ECR answers `denied: Your authorization token has expired.
    Reauthenticate and try again.` The token is base64 of `AWS:<password>`, and the password is base64
    of a JSON document whose `expiration` is in Unix seconds; tokens of the old `aws ecr get-login`
    have none, and then the expiry is reported unknown (with the config file's last write as a lower
    bound of the token's age), never guessed. A stored login beside a credential helper for the same
    host is ignored by the modern docker CLI, but older CLIs and docker-py fall back to it.

    Decides: fail when the token has expired (or the config was last written more than 12 h before a
    token without expiry), when the only stored token is for another region's or account's host than the
    image, and for an expired ECR Public login (fix: `docker logout public.ecr.aws`); warn when it expires
    within 1 h, when its expiry is unknown, and when a stale `auths` entry sits beside the helper; pass
    with the expiry time; skip when docker gets credentials from a helper with no `auths` entry, without
    any stored token, or for a registry that is not ECR. Without IMAGE every ECR token in the config is
    judged and the worst counts.

    References: aws-side.md A3 (token format, 12 h, region-bound), B1 AUTH-TOKEN-EXPIRED,
    AUTH-WRONG-REGION-TOKEN, AUTH-STALE-AUTHS-SHADOWS-HELPER, AUTH-PUBLIC-STALE-TOKEN; host-side.md 1.1
    (DOCKER_AUTH_CONFIG), 1.2 (docker-py falls back to auths), K7, B11; amazon-ecr-credential-helper
    README "Troubleshooting"; ECR user guide common-errors-docker.md.
    """
    now = ctx.now()
    dc = ctx.docker_config()
    reg = ctx.registry
    version = docker_cli_version(ctx) if dc.auth_config is not None else None
    if reg is not None:
        host = ctx.image.registry if ctx.image else reg.host
        if not reg.is_ecr:
            return skip(f"{host} is not an ECR registry")
        outcome = _host_token(ctx, host, now, version)
        if outcome is not None:
            return outcome
        if reg.kind == "private":
            other = _other_host_token(ctx, host, reg, now)
            if other is not None:
                return other
        src = resolve_credentials(dc.effective, host, dc.auth_config)
        if src.kind in ("cred-helper", "creds-store"):
            return skip(f"docker gets credentials for {host} from docker-credential-{src.helper}; no token is stored")
        return skip(f"no stored ECR token for {host} in {dc.location.path} or DOCKER_AUTH_CONFIG")
    keys = list(dc.effective.auths) + list(dc.auth_config.auths if dc.auth_config else ())
    hosts = sorted({convert_to_hostname(k) for k in keys if parse_registry_host(convert_to_hostname(k)).is_ecr})
    outcomes = [o for o in (_host_token(ctx, h, now, version) for h in hosts) if o is not None]
    if not outcomes:
        return skip(f"no stored ECR token in {dc.location.path} or DOCKER_AUTH_CONFIG")
    if len(outcomes) == 1:
        return outcomes[0]
    worst = _worst(outcomes)
    counts = {s: sum(o.status is s for o in outcomes) for s in (Status.FAIL, Status.WARN, Status.PASS)}
    words = {Status.FAIL: "expired or unusable", Status.WARN: "at risk", Status.PASS: "valid"}
    tally = ", ".join(f"{n} {words[s]}" for s, n in counts.items() if n)
    return _outcome(worst, f"{len(outcomes)} stored ECR tokens in the docker config: {tally}",
                    [o.summary for o in outcomes], _merge_fixes(outcomes),
                    {"hosts": [o.evidence.get("host") for o in outcomes]})


# == docker.credsstore =================================================================================

def _headless(ctx: Context) -> bool:
    env = ctx.host.env
    return ctx.host.platform().system == "Linux" and not any(
        env.get(n) for n in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"))


@dataclass(frozen=True)
class _Use:
    """One helper the config makes docker run, in which role, and whether the image's registry depends on it."""

    name: str
    role: str
    covers_target: bool
    auto: bool = False
    host: Optional[str] = None


def _helper_uses(ctx: Context) -> List[_Use]:
    config = ctx.docker_config().effective
    reg = ctx.registry
    host = (ctx.image.registry if ctx.image else reg.host) if reg else None
    uses: List[_Use] = []
    if host is not None:
        helper = config.cred_helpers.get(config_key(host))
        if helper:
            uses.append(_Use(helper, f"credHelpers['{config_key(host)}']", True, host=host))
        if config.creds_store:
            uses.append(_Use(config.creds_store, "credsStore", helper is None, host=host))
    else:
        if config.creds_store:
            uses.append(_Use(config.creds_store, "credsStore", True))
        seen = {config.creds_store}
        for key, helper in config.cred_helpers.items():
            if helper and helper not in seen:
                seen.add(helper)
                uses.append(_Use(helper, f"credHelpers['{key}']", True, host=key))
    if not (config.creds_store or config.cred_helpers or config.auths):
        candidate = default_store_candidate(config, ctx.host.which)
        if candidate:
            uses.append(_Use(candidate, "the store docker auto-detects (the config names no credsStore, credHelpers "
                             "or auths)", True, auto=True, host=host))
    return uses


def _replace_store_fix(ctx: Context, use: _Use, why: str) -> Fix:
    """Stop docker asking a store that cannot work here; put the ECR helper in for the target host."""
    path = ctx.docker_config().location.path
    reg = ctx.registry
    private = reg is not None and reg.kind == "private" and use.host is not None
    if use.auto:
        cmds = [credhelper_command(path, use.host)] if private and use.host else []
        if distro_ids(ctx) & {"debian", "ubuntu"}:
            cmds.append("sudo apt-get remove -y golang-docker-credential-helpers")
        return Fix(f"{why} Any credHelpers entry stops docker auto-detecting a store; or remove the distribution "
                   "package that installed the store's helper.", tuple(cmds))
    if use.role == "credsStore":
        hosts = [use.host] if private and use.host else []
        what = f" and let docker-credential-ecr-login answer for {use.host}" if hosts else ""
        return Fix(f"{why} Remove credsStore{what}.", (drop_creds_store_command(path, hosts),))
    target = use.host or ""
    if parse_registry_host(target).is_ecr:
        return Fix(f"{why} Use the Amazon ECR credential helper for {target}.",
                   (set_cred_helper_command(path, target, "ecr-login"),))
    return Fix(f"{why} Remove the credHelpers entry or name a helper that is installed.", ())


def _judge_use(ctx: Context, use: _Use, version: Optional[Version]) -> Tuple[Status, str, List[str], Optional[Fix]]:
    exe = f"docker-credential-{use.name}"
    bad = Status.FAIL if use.covers_target else Status.WARN
    path = ctx.docker_config().location.path
    where = ctx.host.which(exe)
    if where is None:
        exec_error = f'error getting credentials - err: exec: "{exe}": executable file not found in $PATH, out: ``'
        if version is not None and version >= HELPER_ERRORS_SHOWN_SINCE:
            symptom, details = f"docker CLI {_v(version)} stops with: {exec_error}", []
        elif version is not None:
            symptom = f"docker CLI {_v(version)} hides the error and the pull fails with `no basic auth credentials`"
            details = [f"docker CLI 28.4 and later report it as: {exec_error}"]
        else:
            symptom = "the pull fails with `no basic auth credentials` (docker CLI 28.3 and older)"
            details = [f"docker CLI 28.4 and later report: {exec_error}"]
        summary = f"{use.role} names {exe}, which is not on docker's PATH: {symptom}"
        details.append(f"PATH: {ctx.host.env.get('PATH', '')}")
        close = difflib.get_close_matches(use.name, KNOWN_HELPERS, n=1, cutoff=0.75)
        if use.name == "ecr-login":  # the helper area knows whether it is off PATH or misnamed: its fix
            fix = helper_missing(ctx, use.role).fix or Fix(
                "Install the Amazon ECR credential helper where docker finds it (/usr/bin).",
                ecr_helper_install_commands(ctx))
        elif close and close[0] != use.name:
            summary += f" (did you mean {close[0]}?)"
            cmd = set_creds_store_command(path, close[0]) if use.role == "credsStore" else \
                set_cred_helper_command(path, use.host or "", close[0])
            fix = Fix(f"Correct the helper name to {close[0]}.", (cmd,))
        else:
            fix = _replace_store_fix(ctx, use, f"{exe} is not installed (it ships with Docker Desktop or a desktop "
                                     "keyring, not for a server).")
        return bad, summary, details, fix
    details = [f"{exe} is {where}"]
    if use.name in ("secretservice", "desktop") and _headless(ctx):
        symptom = f"error getting credentials - err: exit status 1, out: `{DBUS_SYMPTOM}`"
        status = bad if use.name == "secretservice" else Status.WARN
        return (status, f"{use.role} names {exe} on a headless host (no DISPLAY, no DBUS_SESSION_BUS_ADDRESS): it "
                f"fails with `{DBUS_SYMPTOM}`",
                details + [f"docker CLI 28.4+, login, compose and buildx show: {symptom}; older CLIs pull with no "
                           "credentials: `no basic auth credentials`"],
                _replace_store_fix(ctx, use, "A desktop keyring needs a desktop session."))
    if use.name == "pass":
        if ctx.host.which("pass") is None:
            return (bad, f"{use.role} names {exe}, but the `pass` program it runs is not on PATH", details,
                    _replace_store_fix(ctx, use, "docker-credential-pass keeps secrets with `pass`."))
        store = ctx.host.env.get("PASSWORD_STORE_DIR") or f"{(ctx.host.home or '~').rstrip('/')}/.password-store"
        if not ctx.host.exists(f"{store}/.gpg-id"):
            return (bad, f"{use.role} names {exe}, but the password store {store} is not initialised (no .gpg-id): "
                    "pulls get no stored credentials and `docker login` fails with `pass not initialized`",
                    details, Fix("Initialise the store with your GPG key, or stop using pass for docker.",
                                 ("pass init <gpg-key-id>",) + (_replace_store_fix(ctx, use, "").commands)))
    if use.name == "ecr-login" and use.role == "credsStore" and \
            ctx.host.env.get("AWS_ECR_IGNORE_CREDS_STORAGE") != "true":
        hosts = [use.host] if use.host and parse_registry_host(use.host).kind == "private" else []
        return (Status.WARN, "credsStore is ecr-login, which cannot store or erase: `docker login` and "
                "`docker logout` to any registry fail with: error storing credentials - err: exit status 1, out: "
                "`not implemented`", details + ["the classic builder (DOCKER_BUILDKIT=0) also asks it to list "
                "registries and sees only the ones in its cache"],
                Fix("Name the helper per ECR registry in credHelpers instead, or set AWS_ECR_IGNORE_CREDS_STORAGE=true "
                    "where docker runs (helper 0.9.0 and later).",
                    (drop_creds_store_command(path, hosts), "export AWS_ECR_IGNORE_CREDS_STORAGE=true")))
    return Status.PASS, f"{exe} ({use.role}) is usable", details, None


@check("docker.credsstore", title="Can the credential store the docker config names work on this host?",
       requires=["docker.config"])
def docker_credsstore(ctx: Context) -> Outcome:
    """Looks at every credential helper the docker config makes docker run for the image's registry —
    `credsStore`, the `credHelpers` entry for the host, or the store docker auto-detects on Linux when
    the config names none (`pass` if the `pass` program is on PATH, else `secretservice`, used only when
    `docker-credential-<name>` exists) — and asks whether it can work here.

    A config copied from a Mac (`"credsStore": "desktop"`), or Ubuntu's golang-docker-credential-helpers
    package on a server, sends docker to a keyring that needs a desktop session: it fails with `Cannot
    autolaunch D-Bus without X11 $DISPLAY`. A helper that is not on docker's PATH makes docker CLI 28.4+
    stop with `error getting credentials - err: exec: "docker-credential-<name>": executable file not
    found in $PATH`, while 28.3 and older hide the error and the pull fails with `no basic auth
    credentials`. `pass` needs an initialised store. `credsStore: ecr-login` breaks `docker login` and
    `logout` for every registry (`not implemented`).

    Decides: fail when the helper for the image's registry is missing from PATH, is secretservice on a
    headless Linux host, or is pass without the `pass` program or an initialised store; warn for the
    same problems in a store that does not serve this registry, for Docker Desktop's helper on a headless
    host, and for `credsStore: ecr-login` without AWS_ECR_IGNORE_CREDS_STORAGE=true; pass when every
    helper is usable; skip when the config names no helper and docker auto-detects none.

    References: host-side.md 1.1 (default store auto-detection, CLI 28.3 vs 28.4 error propagation),
    1.3 (store/erase `not implemented`, AWS_ECR_IGNORE_CREDS_STORAGE), K4, K5, K8, K9; docker/cli
    default_store_linux.go; docker-credential-helpers client/client.go and pass/pass.go.
    """
    uses = _helper_uses(ctx)
    if not uses:
        reg = ctx.registry
        if reg is not None and (ctx.docker_config().effective.creds_store or
                                ctx.docker_config().effective.cred_helpers):
            return skip(f"no credential helper applies to {ctx.image.registry if ctx.image else reg.host}")
        return skip("the docker config names no credsStore or credHelpers, and docker auto-detects no store")
    version = docker_cli_version(ctx)
    judged = [(u, _judge_use(ctx, u, version)) for u in uses]
    evidence: Dict[str, object] = {
        "helpers": [{"name": u.name, "role": u.role, "status": j[0].value} for u, j in judged],
        "cli_version": _v(version) if version else None}
    bad = [(u, j) for u, j in judged if j[0] is not Status.PASS]
    if not bad:
        return passed("; ".join(j[1] for _, j in judged),
                      details=[d for _, j in judged for d in j[2]], evidence=evidence)
    bad.sort(key=lambda uj: -uj[1][0].severity)
    first = bad[0][1]
    details = list(first[2]) + [j[1] for _, j in bad[1:]]
    fixes = [Outcome(j[0], j[1], (), j[3]) for _, j in bad]
    return _outcome(first[0], first[1], details, _merge_fixes(fixes), evidence)


# == docker.sudo ========================================================================================

def parse_sudoers(text: str, user: str) -> List[Tuple[str, str]]:
    """The directives of a sudoers file that decide sudo's PATH, in order, for `sudo` run by `user`.

    Yields ("secure_path", value), ("unset", "") for `!secure_path`, ("include", path) and
    ("includedir", dir). Only Defaults that apply to every user, to `user`, or to commands run as root
    are kept. Pure and total: any text gives a list."""
    out: List[Tuple[str, str]] = []
    joined = re.sub(r"\\\r?\n", " ", text if isinstance(text, str) else "")
    for raw in joined.splitlines():
        line = raw.strip()
        inc = re.match(r"^[#@](include|includedir)\s+(\S.*)$", line)
        if inc:
            out.append((inc.group(1), inc.group(2).strip().strip('"')))
            continue
        m = re.match(r"^Defaults(?:([:>@!])(\S+))?\s+(.*)$", line)
        if not m:
            continue
        scope, names, body = m.group(1), m.group(2) or "", m.group(3)
        listed = {n.strip() for n in names.split(",")}
        if scope in ("@", "!") or (scope == ":" and not listed & {user, "ALL"}) or \
                (scope == ">" and not listed & {"root", "ALL"}):
            continue
        for s in re.finditer(r'(!?)\s*secure_path\b(?:\s*=\s*(?:"([^"]*)"|([^,\s#]+)))?', body):
            if s.group(1):
                out.append(("unset", ""))
            elif s.group(2) is not None or s.group(3) is not None:
                out.append(("secure_path", s.group(2) if s.group(2) is not None else s.group(3) or ""))
    return out


def sudo_secure_path(ctx: Context, user: str) -> Tuple[Optional[str], Optional[str]]:
    """sudo's secure_path from /etc/sudoers and its includes (under --root), and the file that set it."""
    value: Optional[str] = None
    source: Optional[str] = None
    budget = [64]

    def walk(path: str, depth: int) -> None:
        nonlocal value, source
        budget[0] -= 1
        if depth > 8 or budget[0] < 0:
            return
        read = ctx.host.read_text(path, limit=1024 * 1024)
        for kind, arg in parse_sudoers(read.text or "", user):
            if kind in ("include", "includedir") and not arg.startswith("/"):
                arg = f"{path.rsplit('/', 1)[0]}/{arg}"  # relative to the including file (sudo 1.9.1+)
            if kind == "secure_path":
                value, source = arg, path
            elif kind == "unset":
                value, source = None, path
            elif kind == "include":
                walk(arg, depth + 1)
            elif kind == "includedir":
                names = [name for name, kind in ctx.host.listdir(arg).entries if kind == "file"]
                for name in names:
                    if not name.endswith("~") and "." not in name:  # sudo skips these in an includedir
                        walk(f"{arg.rstrip('/')}/{name}", depth + 1)

    walk("/etc/sudoers", 0)
    return value, source


def aws_profile_names(config_text: str, credentials_text: str) -> List[str]:
    """Profile names defined in ~/.aws/config (`[profile x]`, `[default]`) and ~/.aws/credentials (`[x]`)."""
    names: List[str] = []
    for text, prefixed in ((config_text, True), (credentials_text, False)):
        for m in re.finditer(r"(?m)^\s*\[\s*([^\]]+?)\s*\]", text or ""):
            name = m.group(1)
            if prefixed and name.startswith("profile "):
                name = name[len("profile "):].strip()
            elif prefixed and name != "default":
                continue  # [sso-session x], [services x]
            if name not in names:
                names.append(name)
    return names


def _describe(src: CredentialSource) -> str:
    if src.kind == "cred-helper":
        return f"docker-credential-{src.helper} (credHelpers)"
    if src.kind == "creds-store":
        return f"docker-credential-{src.helper} (credsStore)"
    if src.kind == "auths":
        return f"a stored `docker login` (auths entry '{src.key}')"
    if src.kind == "docker-auth-config":
        return "DOCKER_AUTH_CONFIG"
    return "nothing"


def _copy_command(user_path: str, root_path: str) -> str:
    root_dir = shlex.quote(root_path.rsplit("/", 1)[0] or "/")
    if root_path.endswith("/config.json"):
        return f"sudo mkdir -p {root_dir} && sudo cp {shlex.quote(user_path)} {root_dir}/"
    return f"sudo mkdir -p {root_dir} && sudo cp {shlex.quote(user_path)} {shlex.quote(root_path)}"


def _load_user_config(ctx: Context, path: str) -> Tuple[DockerConfig, Optional[str]]:
    read = ctx.host.read_text(path)
    if read.text is None:
        return parse_config("{}"), f"{path}: {read.error or 'unreadable'}"
    try:
        return parse_config(read.text), None
    except ConfigError as exc:
        return parse_config("{}"), f"{path} is invalid ({exc.message})"


@check("docker.sudo", title="Under sudo, does docker still find the invoking user's credentials?",
       applies_when=lambda ctx: None if ctx.host.sudo_user else "not running under sudo")
def docker_sudo(ctx: Context) -> Outcome:
    """Compares what docker reads when run with sudo (root's HOME, sudo's secure_path, an environment
    without the user's AWS_* variables) with what the invoking user (SUDO_USER) set up.

    `sudo docker pull` runs the docker CLI as root: it reads /root/.docker/config.json, not
    /home/<user>/.docker/config.json, so the credential helper the user configured is never asked and
    the pull fails with `no basic auth credentials`. The helper also runs with sudo's PATH
    (`Defaults secure_path` in /etc/sudoers, which on Amazon Linux lacks /usr/local/bin), root's
    ~/.aws, and no AWS_PROFILE. ecrdoctor cannot see the user's environment from root; it reports what
    the files show.

    Decides: fail when the user's config gives docker credentials for the registry and root's does not
    (the sudo trap), or when a helper is installed only in a directory sudo's secure_path leaves out;
    warn when the user has ~/.aws but root has none, or only named AWS profiles while AWS_PROFILE is
    unset under sudo; pass when root's config covers the registry as the user's does; skip when not
    running under sudo or when the user's home is unknown.

    References: host-side.md 1.1 (sudo), K3, K4 (sudo secure_path), B1, B2; aws-side.md B1
    AUTH-NO-CREDS; docker/cli#5384 (docs warning about `sudo docker login`); sudoers(5) (secure_path,
    #includedir).
    """
    user = ctx.host.sudo_user or ""
    user_home = ctx.host.user_home(user)
    if not user_home:
        return skip(f"the home directory of {user} is unknown (not in /etc/passwd): cannot compare configs")
    user_home = user_home.rstrip("/") or "/"
    dc = ctx.docker_config()
    root_path = dc.location.path
    user_path = f"{user_home}/.docker/config.json"
    user_config, user_problem = _load_user_config(ctx, user_path)
    reg = ctx.registry
    target = (ctx.image.registry if ctx.image else reg.host) if reg else None
    image = ctx.image.full if ctx.image else "<image>"
    if target is not None:
        hosts = [target]
    else:
        keys = list(user_config.cred_helpers) + list(user_config.auths)
        hosts = sorted({convert_to_hostname(k) for k in keys if parse_registry_host(convert_to_hostname(k)).is_ecr})
    problems: List[Outcome] = []
    details: List[str] = [f"docker under sudo reads {root_path}; {user}'s docker reads {user_path}"]
    if user_problem:
        details.append(user_problem)
    helpers: List[str] = []
    covered: List[str] = []
    same_file = root_path == user_path
    for host in hosts:
        user_src = resolve_credentials(user_config, host)
        root_src = resolve_credentials(dc.effective, host, dc.auth_config)
        for s in (user_src, root_src):
            if s.helper and s.helper not in helpers:
                helpers.append(s.helper)
        if same_file or user_src.kind == "none":
            continue
        if root_src.kind == "none":
            root_exists = not dc.read.missing
            copy = _copy_command(user_path, root_path)
            problems.append(fail(
                f"docker run with sudo reads {root_path}, which has no credentials for {host}; {user}'s "
                f"{user_path} uses {_describe(user_src)}: the pull fails with `no basic auth credentials`",
                fix=Fix(f"Run docker without sudo (add {user} to the docker group, then log out and back in); or give "
                        "root the same config" + (" (this replaces root's current file)" if root_exists else "") +
                        "; or keep your HOME and AWS_PROFILE through sudo.",
                        (f"sudo usermod -aG docker {user}", copy,
                         f"sudo --preserve-env=HOME,AWS_PROFILE docker pull {image}")),
                evidence={"host": host, "user_source": user_src.kind, "root_source": "none"}))
        else:
            covered.append(f"{host}: root uses {_describe(root_src)}, {user} uses {_describe(user_src)}")
    if target is None and not hosts and user_config.creds_store and not same_file \
            and dc.effective.creds_store != user_config.creds_store:
        helpers.append(user_config.creds_store)
        problems.append(fail(
            f"{user}'s {user_path} sets credsStore {user_config.creds_store}, but {root_path}, which docker reads "
            "under sudo, does not",
            fix=Fix("Give root the same config, or run docker without sudo.",
                    (_copy_command(user_path, root_path), f"sudo usermod -aG docker {user}")),
            evidence={"user_creds_store": user_config.creds_store}))
    problems += _sudo_path_problems(ctx, user, user_home, helpers)
    if "ecr-login" in helpers:
        problems += _sudo_aws_problems(ctx, user, user_home, image)
    evidence: Dict[str, object] = {"user": user, "root_config": root_path, "user_config": user_path,
                                   "hosts": hosts, "helpers": helpers}
    if problems:
        problems.sort(key=lambda o: -o.status.severity)
        fix = _merge_fixes(problems)
        if fix is not None:  # `export AWS_PROFILE=...` belongs just before the sudo that keeps it
            exports = [c for c in fix.commands if c.startswith("export AWS_PROFILE=")]
            rest = [c for c in fix.commands if c not in exports]
            keep = next((i for i, c in enumerate(rest) if c.startswith("sudo --preserve-env=")), len(rest))
            fix = Fix(fix.text, tuple(rest[:keep] + exports + rest[keep:]))
        return _outcome(problems[0].status, problems[0].summary,
                        details + [p.summary for p in problems[1:]] + covered, fix,
                        {**evidence, **problems[0].evidence})
    if same_file:
        return passed(f"docker under sudo reads {user}'s own {user_path} (HOME was kept)", details=details,
                      evidence=evidence)
    if not covered:
        return passed(f"{user}'s {user_path} names no ECR credentials either: sudo changes nothing docker sends",
                      details=details, evidence=evidence)
    return passed(f"docker run with sudo reads {root_path}, which covers "
                  f"{', '.join(c.split(':', 1)[0] for c in covered)} as {user}'s config does",
                  details=details + covered, evidence=evidence)


def _sudo_path_problems(ctx: Context, user: str, user_home: str, helpers: Sequence[str]) -> List[Outcome]:
    """K4: a helper the user's shell finds (e.g. /usr/local/bin) that sudo's secure_path leaves out."""
    if not helpers:
        return []
    secure_path, source = sudo_secure_path(ctx, user)
    sudo_path = secure_path if secure_path is not None else ctx.host.env.get("PATH", "")
    out: List[Outcome] = []
    for name in helpers:
        exe = f"docker-credential-{name}"
        if ctx.host.which(exe, path=sudo_path):
            continue
        dirs = [d.format(home=user_home) for d in USER_BIN_DIRS]
        dirs += sorted(f"/opt/{name}/bin" for name, kind in ctx.host.listdir("/opt").entries
                       if kind == "dir" and ctx.host.stat(f"/opt/{name}/bin").is_dir)
        found = next((d for d in dirs if ctx.host.which(exe, path=d)), None)
        if found is None:
            continue  # not installed anywhere we know: docker.credsstore and helper.installed report it
        where = f"sudo's secure_path ({secure_path}, set in {source})" if secure_path is not None \
            else f"the PATH under sudo ({sudo_path})"
        out.append(fail(
            f"{exe} is in {found}, which is not on {where}: docker run with sudo cannot start it",
            details=[f"{user}'s shell finds it there; sudo replaces PATH"],
            fix=Fix(f"Install the helper into /usr/bin, which every PATH has; or add {found} to `Defaults "
                    "secure_path` with visudo.",
                    (f"sudo install -m 0755 {shlex.quote(found + '/' + exe)} /usr/bin/{exe}", "sudo visudo")),
            evidence={"helper": exe, "found_in": found, "sudo_path": sudo_path}))
    return out


def _sudo_aws_problems(ctx: Context, user: str, user_home: str, image: str) -> List[Outcome]:
    """B1/B2 under sudo: the helper (run as root) sees root's ~/.aws and no AWS_PROFILE."""
    env = ctx.host.env
    out: List[Outcome] = []
    root_home = (ctx.host.home or "/root").rstrip("/") or "/"
    keep = f"sudo --preserve-env=HOME,AWS_PROFILE docker pull {image}"
    user_aws = [f"{user_home}/.aws/{n}" for n in ("config", "credentials")]
    user_has = [p for p in user_aws if ctx.host.exists(p)]
    root_has = any(ctx.host.exists(f"{root_home}/.aws/{n}") for n in ("config", "credentials"))
    explicit = any(env.get(n) for n in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ACCESS_KEY_ID"))
    if user_has and root_home != user_home and not root_has and not explicit:
        out.append(warn(
            f"{user} has {' and '.join(user_has)}, but root has no {root_home}/.aws: under sudo the credential "
            "helper runs as root and never reads the user's AWS profiles",
            details=["without them it falls back to the instance profile, if any, which may be another identity"],
            fix=Fix("Keep your HOME (and AWS_PROFILE) through sudo, or run docker without sudo.",
                    (keep, f"sudo usermod -aG docker {user}")),
            evidence={"user_aws": user_has}))
    if not env.get("AWS_PROFILE") and not env.get("AWS_DEFAULT_PROFILE") and user_has:
        read = [ctx.host.read_text(p).text or "" for p in user_aws]
        names = aws_profile_names(read[0], read[1])
        if names and "default" not in names:
            profile = names[0] if len(names) == 1 else "<profile>"
            out.append(warn(
                f"AWS_PROFILE is not set under sudo, and {user}'s ~/.aws defines only named profiles "
                f"({', '.join(names)}): the credential helper finds no profile to use",
                details=["sudo drops AWS_* variables unless told to keep them"],
                fix=Fix("Pass the profile through sudo explicitly.",
                        (f"export AWS_PROFILE={profile}", keep)),
                evidence={"profiles": names}))
    return out
