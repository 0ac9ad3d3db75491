"""The Amazon ECR credential helper docker runs: installed, answering, what its log and cache say."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ecrdoctor.api import Fix, Outcome, SkipCheck, check, error, fail, info, passed, skip, warn
from ecrdoctor.context import Context
from ecrdoctor.daemon import parse_version
from ecrdoctor.distro import ecr_helper_install_commands, os_id
from ecrdoctor.dockerconfig import resolve_credentials
from ecrdoctor.ecrlogin import (
    CACHE_VERSION,
    CAUSES,
    ELF_MACHINES,
    TAIL_BYTES,
    CacheError,
    FixFacts,
    HelperCause,
    HelperLogEntry,
    HelperRequest,
    binary_kind,
    fix_for,
    group_requests,
    parse_cache,
    parse_helper_version,
    parse_log,
    parse_time,
)
from ecrdoctor.host import FileRead

HELPER = "docker-credential-ecr-login"
GET_TIMEOUT = 14.0  # the helper waits 11-15 s for an unreachable IMDS (research feasibility.md §2, B/B2)
RECENT = timedelta(hours=24)  # helper.log's window for "recent" errors
LATEST_KNOWN = "0.12.0"  # the newest release the research read (host-side.md §1.3)
_NOT_FOUND = "credentials not found in native keychain"


# -- shared facts ------------------------------------------------------------------------------------

def target_host(ctx: Context) -> Optional[str]:
    """The registry host docker passes to the helper: as written in the image reference."""
    if ctx.registry is None:
        return None
    return ctx.image.registry if ctx.image else ctx.registry.host


def helper_not_used(ctx: Context) -> Optional[str]:
    """None when docker would run docker-credential-ecr-login for the target (or, without one, for any
    registry); else why not. The helper's name comes from credHelpers or credsStore (docker's precedence)."""
    dc = ctx.docker_config()
    config = dc.effective
    host = target_host(ctx)
    if host is None:
        if config.creds_store == "ecr-login" or "ecr-login" in config.cred_helpers.values():
            return None
        return f"{dc.location.path} names no ecr-login credential helper"
    src = resolve_credentials(config, host, dc.auth_config)
    if src.helper == "ecr-login":
        return None
    used = {"docker-auth-config": "the DOCKER_AUTH_CONFIG variable has an entry for it",
            "auths": f"it uses the auths entry '{src.key}' (a `docker login`)",
            "none": "no credHelpers or credsStore entry names ecr-login for it"}.get(
        src.kind, f"it runs docker-credential-{src.helper}")
    return f"docker does not run {HELPER} for {host}: {used} ({dc.location.path})"


def cache_dir(ctx: Context) -> str:
    """`$AWS_ECR_CACHE_DIR` (a leading ~ expanded, as go-homedir does), else ~/.ecr (config/cache_dir.go)."""
    home = (ctx.host.home or "~").rstrip("/")
    configured = ctx.host.env.get("AWS_ECR_CACHE_DIR") or "~/.ecr"
    return home + configured[1:] if configured == "~" or configured.startswith("~/") else configured


def log_paths(ctx: Context) -> Tuple[str, str]:
    """Where the helper logs, and its fallback when that directory cannot be made (config/log.go)."""
    tmp = (ctx.host.env.get("TMPDIR") or "/tmp").rstrip("/") or "/tmp"
    return f"{cache_dir(ctx).rstrip('/')}/log/ecr-login.log", f"{tmp}/ecr-login.log"


@dataclass(frozen=True)
class HelperFiles:
    """The helper's log sizes and cache.json as they were before ecrdoctor ran the helper itself, so that
    helper.log and helper.cache describe the host's history whichever check runs first."""

    log_sizes: Dict[str, Optional[int]]
    latest_log: Optional[str]  # the log written last
    cache: FileRead


def helper_files(ctx: Context) -> HelperFiles:
    return ctx.fact("helper_files", lambda: _snapshot(ctx))


def _snapshot(ctx: Context) -> HelperFiles:
    sizes: Dict[str, Optional[int]] = {}
    found = []
    for p in log_paths(ctx):
        st = ctx.host.stat(p)
        sizes[p] = st.size if st.is_file else None
        if st.exists:
            found.append((st.mtime, p))
    cache = ctx.host.read_text(f"{cache_dir(ctx).rstrip('/')}/cache.json")
    return HelperFiles(sizes, max(found)[1] if found else None, cache)


def fix_facts(ctx: Context) -> FixFacts:
    env, reg = ctx.host.env, ctx.registry
    region = reg.api_region if reg and reg.is_ecr else env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    return FixFacts(
        host=target_host(ctx), region=region, on_ec2=ctx.host.on_ec2(), instance_id=ctx.host.ec2_instance_id(),
        in_container=ctx.host.in_container(), profile=env.get("AWS_PROFILE") or None,
        proxy_set=bool(env.get("HTTPS_PROXY") or env.get("https_proxy")),
        no_proxy=env.get("NO_PROXY") or env.get("no_proxy") or "", ca_bundle=env.get("AWS_CA_BUNDLE") or None,
        user=ctx.host.current_user().name, sudo_user=ctx.host.sudo_user, cache_dir=cache_dir(ctx),
        log_path=log_paths(ctx)[0], os_id=os_id(ctx), config_path=ctx.docker_config().location.path,
    )


def _ago(when: Optional[datetime], now: datetime) -> str:
    if when is None:
        return "at an unknown time"
    seconds = max(0, int((now - when).total_seconds()))
    span = (f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200
            else f"{seconds // 3600} h" if seconds < 172800 else f"{seconds // 86400} days")
    return f"at {when.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC ({span} ago)"


# -- helper.installed --------------------------------------------------------------------------------

def _path_dirs(ctx: Context) -> List[str]:
    return [d for d in ctx.host.env.get("PATH", os.defpath).split(os.pathsep) if d]


def _find_files(ctx: Context, name: str, dirs: Sequence[str]) -> List[str]:
    return [f"{d.rstrip('/')}/{name}" for d in dirs if ctx.host.stat(f"{d.rstrip('/')}/{name}").is_file]


def _link_dir(ctx: Context) -> str:
    dirs = _path_dirs(ctx)
    return next((d for d in ("/usr/local/bin", "/usr/bin") if d in dirs), dirs[0] if dirs else "/usr/local/bin")


def _search(ctx: Context) -> Tuple[str, List[str]]:
    """Where a helper docker cannot run lies, once per run (docker.credsstore and helper.installed both ask),
    looking in this order and stopping at the first find: on PATH but not executable ("unexecutable"), on
    PATH under the short name `ecr-login` ("misnamed"), executable but off PATH ("off-path"); else ("", [])."""

    def look() -> Tuple[str, List[str]]:
        dirs = _path_dirs(ctx)
        for kind, found in (("unexecutable", lambda: _find_files(ctx, HELPER, dirs)),
                            ("misnamed", lambda: _find_files(ctx, "ecr-login", dirs))):
            paths = found()
            if paths:
                return kind, paths
        home = (ctx.host.home or "").rstrip("/")
        elsewhere = [d for d in ("/usr/local/bin", "/usr/bin", "/bin", "/opt/bin", "/snap/bin", f"{home}/go/bin",
                                 f"{home}/bin", f"{home}/.local/bin") if d not in dirs]
        off_path = [p for p in _find_files(ctx, HELPER, elsewhere) if ctx.host.stat(p).executable]
        return ("off-path", off_path) if off_path else ("", [])

    return ctx.fact("helper.search", look)


def helper_missing(ctx: Context, who: str) -> Outcome:
    """Why docker finds no docker-credential-ecr-login on its PATH, and the fix for exactly that (not executable,
    saved under the wrong name, installed off PATH, or not installed)."""
    dirs = _path_dirs(ctx)
    path = os.pathsep.join(dirs)
    evidence: Dict[str, Any] = {"path": path, "found": None}
    kind, found = _search(ctx)
    unexecutable, misnamed, off_path = (found if kind == k else [] for k in ("unexecutable", "misnamed", "off-path"))
    if unexecutable:
        evidence["found"] = unexecutable[0]
        return fail(f"{unexecutable[0]} is not executable: docker cannot run the helper {who} names",
                    fix=Fix("Make it executable.", (f"sudo chmod +x {shlex.quote(unexecutable[0])}",)),
                    evidence=evidence)
    if misnamed:  # issue #135: docker runs docker-credential-<name>, never <name>
        evidence["found"] = misnamed[0]
        target = f"{misnamed[0].rsplit('/', 1)[0]}/{HELPER}"
        return fail(f"the helper is installed as {misnamed[0]}, but docker runs {HELPER}",
                    details=["docker looks up `docker-credential-` + the name in credHelpers/credsStore on PATH"],
                    fix=Fix(f"Give it the name docker runs (a link keeps {misnamed[0]} working).",
                            (f"sudo ln -s {shlex.quote(misnamed[0])} {shlex.quote(target)}",)),
                    evidence=evidence)
    details = [f"docker CLI 28.4 and later say `error getting credentials - err: exec: \"{HELPER}\": executable "
               "file not found in $PATH`; older ones only `no basic auth credentials`"]
    if ctx.host.sudo_user:
        details.append("under sudo, PATH is sudo's secure_path, not the invoking user's")
    if off_path:
        evidence["found"] = off_path[0]
        link = f"{_link_dir(ctx)}/{HELPER}"
        return fail(f"{HELPER} is installed at {off_path[0]}, which is not on docker's PATH ({path})",
                    details=details,
                    fix=Fix("Link it into a directory on PATH (or add its directory to the PATH of the shell, cron "
                            "job or systemd unit that runs docker).",
                            (f"sudo ln -s {shlex.quote(off_path[0])} {shlex.quote(link)}",)),
                    evidence=evidence)
    return fail(f"{HELPER} is not installed: {who} names it, but no {HELPER} is on PATH ({path})",
                details=details, fix=Fix("Install the Amazon ECR credential helper.", ecr_helper_install_commands(ctx)),
                evidence=evidence)


def _version(ctx: Context, exe: str) -> Tuple[Optional[str], List[str]]:
    notes: List[str] = []
    try:
        res = ctx.run([exe, "-v"], timeout=3)
    except OSError as exc:
        return None, [f"{exe} -v could not run: {exc.strerror or exc}"]
    version = parse_helper_version(res.stdout) if res.returncode == 0 else None
    if version is None:
        res = ctx.run([exe, "version"], timeout=3)
        version = parse_helper_version(res.stdout) if res.returncode == 0 else None
        if version is None and res.stdout.strip():
            notes.append(f"`{HELPER} version` printed {res.stdout.strip()[:40]!r}: builds before 0.8 print the "
                         "docker-credential-helpers library's version there, not their own")
    return version, notes


def _who(ctx: Context) -> str:
    host = target_host(ctx)
    config = ctx.docker_config().effective
    if host and host in config.cred_helpers:
        return f"credHelpers['{host}']"
    return "credsStore" if config.creds_store == "ecr-login" else "credHelpers"


def _aws_config_has_sso_session(ctx: Context) -> bool:
    home = (ctx.host.home or "~").rstrip("/")
    path = ctx.host.env.get("AWS_CONFIG_FILE") or f"{home}/.aws/config"
    return "sso_session" in (ctx.host.read_text(path).text or "")


@check("helper.installed", title="Is docker-credential-ecr-login installed where docker looks for it?",
       applies_when=helper_not_used, timeout=10)
def helper_installed(ctx: Context) -> Outcome:
    """Looks for docker-credential-ecr-login on the PATH docker will search, as docker would run it.

    docker runs `docker-credential-` + the helper name from credHelpers/credsStore, found on the CLI's
    own PATH (under sudo: secure_path; under cron or systemd: their minimal PATH). A helper that is
    missing, not executable, installed as `ecr-login` (issue #135), or built for another CPU (`exec
    format error`) leaves docker with no credentials: only `no basic auth credentials` on CLIs
    before 28.4. It reads the binary's ELF header (e_machine) against this host, and its version with
    `-v` (`version` prints the docker-credential-helpers library's version on builds before 0.8).

    Decides: skip when docker would not run the helper for this registry; fail when it is missing
    (install commands for Amazon Linux and Debian/Ubuntu), not executable (`chmod +x`), installed
    under another name or outside PATH (`ln -s`), or built for another architecture; warn for a
    version with a known gap that applies here (no IMDSv2 before 0.5.0; `sso_session` profiles need
    0.8.0; AWS_ECR_IGNORE_CREDS_STORAGE needs 0.9.0); pass otherwise, naming path, version, architecture.

    References: research host-side.md §1.3 (packages, version output) and Part 2 K4, K8, B3, B5;
    amazon-ecr-credential-helper issues #52, #116, #117, #135, #162, #215, #771; CHANGELOG 0.5.0, 0.9.0.
    """
    who = _who(ctx)
    exe = ctx.host.which(HELPER)
    if exe is None:
        return helper_missing(ctx, who)
    evidence: Dict[str, Any] = {"path": exe}
    head = ctx.host.read_head(exe, 20)
    if head.data is None:
        return fail(f"{exe} cannot be read: {head.error}",
                    fix=Fix("Reinstall the helper.", ecr_helper_install_commands(ctx)), evidence=evidence)
    kind = binary_kind(head.data)
    machine = ctx.host.platform().machine
    expected = ELF_MACHINES.get(machine.lower())
    evidence.update(format=kind.format, architecture=kind.machine_name, host_architecture=machine)
    reinstall = Fix(f"Replace it with the helper built for {machine} (this removes the wrong binary).",
                    (f"sudo rm {shlex.quote(exe)}", *ecr_helper_install_commands(ctx)))
    if kind.format in ("mach-o", "pe", "unknown"):
        what = {"mach-o": "a macOS (Mach-O) binary", "pe": "a Windows (PE) binary"}.get(kind.format, "no executable")
        return fail(f"{exe} is {what}, not a Linux executable: docker gets `exec format error`",
                    fix=reinstall, evidence=evidence)
    if kind.format == "elf" and expected is not None and kind.machine != expected:
        return fail(f"{exe} is built for {kind.machine_name}, but this host is {machine}: docker gets "
                    f"`fork/exec {exe}: exec format error`", fix=reinstall, evidence=evidence)
    if ctx.options.root:
        return passed(f"{HELPER} at {exe} ({kind.machine_name}); its version is not run under --root",
                      evidence=evidence)
    version, details = _version(ctx, exe)
    evidence["version"] = version
    label = f"{HELPER} {version or '(version unknown)'} at {exe} ({kind.machine_name})"
    if version is None:
        return passed(label, details=details, evidence=evidence)
    vt = parse_version(version).key
    if vt < parse_version(LATEST_KNOWN).key:
        details.append(f"the newest release the research knows is {LATEST_KNOWN}")
    if vt == (0, 3, 0):
        details.append("0.3.0 does not create ~/.ecr/log, so it writes no log until the directory exists (#162)")
    upgrade = Fix("Upgrade the helper (distribution packages can lag; the release binaries are newer).",
                  ecr_helper_install_commands(ctx))
    gaps = []
    if vt < (0, 5, 0):
        gaps.append("it cannot use IMDSv2, so on instances that require IMDSv2 it finds no instance-role "
                    "credentials (`NoCredentialProviders`, #215; fixed in 0.5.0)")
    if vt < (0, 8, 0) and _aws_config_has_sso_session(ctx):
        gaps.append("the AWS config uses `sso_session`, which builds before 0.8.0 cannot read (#771)")
    if vt < (0, 9, 0) and ctx.host.env.get("AWS_ECR_IGNORE_CREDS_STORAGE") == "true":
        gaps.append("AWS_ECR_IGNORE_CREDS_STORAGE=true is set but needs 0.9.0: `docker login` still fails with "
                    "`not implemented`")
    if gaps:
        return warn(f"{label}: " + gaps[0], details=gaps[1:] + details, fix=upgrade, evidence=evidence)
    return passed(label, details=details, evidence=evidence)


# -- helper.get --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HelperAnswer:
    """What `docker-credential-ecr-login get` answered for the target, once per run. The secret is kept in
    memory only (and registered with the redactor); nothing else here can reveal it."""

    host: str
    executable: Optional[str]
    ok: bool
    username: Optional[str] = None
    secret: Optional[str] = field(default=None, repr=False)
    duration_s: float = 0.0
    timed_out: bool = False
    timeout_s: float = 0.0
    returncode: Optional[int] = None
    output: str = ""  # redacted stdout + stderr, only when it failed
    log_path: Optional[str] = None
    entries: Tuple[HelperLogEntry, ...] = ()  # what it logged during this call

    @property
    def requests(self) -> List[HelperRequest]:
        return group_requests(self.entries)


def helper_credentials(ctx: Context) -> HelperAnswer:
    """The credentials docker would get from the helper for the target registry (one helper run per
    ecrdoctor run). Raises SkipCheck when there is no registry to ask for."""
    return ctx.fact("helper_credentials", lambda: _ask_helper(ctx))


def _ask_helper(ctx: Context) -> HelperAnswer:
    host = target_host(ctx)
    if host is None:
        raise SkipCheck("no registry to ask the helper for: give an IMAGE")
    override = _endpoint_override(ctx)
    if override:
        raise SkipCheck(f"{override} is set, but {HELPER} may ignore it (0.6 does: its AWS SDK predates it) and "
                        "call the real ECR API; not run, so that ecrdoctor stays on the endpoint you chose")
    exe = ctx.host.which(HELPER)
    if exe is None:
        return HelperAnswer(host, None, False, output=f"{HELPER} is not on PATH")
    logs = log_paths(ctx)
    before = helper_files(ctx).log_sizes  # taken now, unless helper.log or helper.cache took it already
    timeout = min(GET_TIMEOUT, max(0.5, ctx.remaining() - 0.5))
    try:
        res = ctx.run([exe, "get"], timeout=timeout, input=host + "\n", redact=False)
    except OSError as exc:  # exec format error, permission denied: helper.installed says which
        return HelperAnswer(host, exe, False, output=f"cannot run {exe}: {exc.strerror or exc}")
    username = secret = None
    try:
        doc = json.loads(res.stdout) if res.returncode == 0 else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        username, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
        ctx.redactor.add(secret)  # before any of its output is kept anywhere
    output = "" if secret else ctx.redactor.text((res.stdout + res.stderr).strip())
    entries: List[HelperLogEntry] = []
    log_path = None
    for p in logs:
        st = ctx.host.stat(p)
        size = st.size if st.is_file else None
        if size is not None and size != before[p]:
            tail = ctx.host.read_tail(p, TAIL_BYTES, start=before[p] or 0).tail
            if tail is None:
                continue
            entries += parse_log(tail.text)
            log_path = log_path or p
    entries += parse_log(res.stderr)  # when the log file cannot be opened, logrus writes to stderr
    return HelperAnswer(host, exe, bool(secret) and res.returncode == 0, username, secret or None, res.duration_s,
                        res.timed_out, timeout, res.returncode, output, log_path, tuple(entries))


def _endpoint_override(ctx: Context) -> Optional[str]:
    """An AWS endpoint override (LocalStack, moto, a test): the helper would still call the real API."""
    for name in ("AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR_PUBLIC"):
        if ctx.host.env.get(name):
            return name
    home = (ctx.host.home or "~").rstrip("/")
    config = ctx.host.read_text(ctx.host.env.get("AWS_CONFIG_FILE") or f"{home}/.aws/config").text or ""
    return "endpoint_url in the AWS config" if "endpoint_url" in config else None


def _expired_fallback(answer: HelperAnswer, now: datetime) -> Optional[datetime]:
    """The expiry of the cached token the helper fell back to, when its log says it had expired."""
    for e in answer.entries:
        if e.message.startswith("Cached token is no longer valid"):
            expires = parse_time(e.fields.get("expiresAt", ""))
            if expires is not None and expires <= now:
                return expires
    return None


@check("helper.get", title="Does the credential helper hand docker credentials for this registry?",
       requires=["helper.installed"], timeout=GET_TIMEOUT + 2, network=True)
def helper_get(ctx: Context) -> Outcome:
    """Runs `docker-credential-ecr-login get` for the registry host exactly as docker does (host on stdin,
    the same environment), with a timeout, and keeps its `Secret` out of every output.

    On failure the helper prints only `credentials not found in native keychain` (stdout, exit 1) and
    docker turns that into `no basic auth credentials`; the reason is in the lines it logged to
    ecr-login.log during this very call, which this check reads back (the size before the call marks
    where they start) and classifies: no AWS credentials, IMDS disabled or unreachable, AccessDenied,
    invalid keys, expired SSO, MFA/credential_process without a terminal, TLS interception,
    proxy/timeout, a host that is not ECR, a cached token handed out after the API failed.

    Decides: pass when it returns JSON credentials (user AWS); fail with the classified cause when it
    returns none, when it times out (naming IMDS, where it waits up to 15 s when no other credentials
    exist, or the ECR API), or when it falls back to a cached token that has already expired; warn when
    it falls back to a still-valid cached token, and when the host is not an ECR registry (docker then
    pulls anonymously); skip without an ECR target, under --root and --offline, and when an AWS endpoint
    override (AWS_ENDPOINT_URL, endpoint_url) is set: the helper ignores it and would call the real API.

    References: research host-side.md §1.3 (protocol, log messages, SDK errors), Part 2 B1-B10, Part 4
    item 4; feasibility.md §2 (observed behaviour A-R); amazon-ecr-credential-helper ecr.go, api/client.go.
    """
    if ctx.options.root:
        return skip("--root: the helper would run on this machine, not on the mounted host")
    answer = helper_credentials(ctx)
    if answer.executable is None:
        return error(answer.output)
    now = ctx.now()
    requests = answer.requests
    cause = next((r.cause for r in requests if r.cause is not None), None)
    facts = fix_facts(ctx)
    where = f" (logged to {answer.log_path})" if answer.log_path else ""
    evidence: Dict[str, Any] = {"host": answer.host, "returncode": answer.returncode,
                                "duration_s": round(answer.duration_s, 2), "timed_out": answer.timed_out,
                                "log": answer.log_path, "cause": cause.id if cause else None}
    details = [f"cause in the log{where}: …{cause.excerpt[-200:]}" if cause and cause.excerpt else ""]
    details = [d for d in details if d]
    if answer.ok:
        evidence["username"] = answer.username
        took = f"in {answer.duration_s:.2f} s"
        if cause is not None and cause.id == "stale-cache":
            expired = _expired_fallback(answer, now)
            lead = (f"{HELPER} could not get a new token for {answer.host} and returned its cached one "
                    f"({CAUSES.get(cause.underlying or '', 'API error')})")
            if expired is not None:
                return fail(f"{lead}, which expired {_ago(expired, now)[3:]}: docker will get `denied: Your "
                            "authorization token has expired. Reauthenticate and try again.`",
                            details=details, fix=fix_for(cause, facts), evidence=evidence)
            return warn(f"{lead}; it works until that token expires", details=details, fix=fix_for(cause, facts),
                        evidence=evidence)
        source = ("from its cache" if any(e.message.startswith("Using cached token") for e in answer.entries)
                  else "fresh from ecr:GetAuthorizationToken")
        return passed(f"{HELPER} returned credentials for {answer.host} (user {answer.username}) {source} {took}",
                      evidence=evidence)
    if answer.timed_out:
        waited = f"{answer.timeout_s:g} s"
        on_api = any(e.message.startswith("Calling ECR.GetAuthorizationToken") for e in answer.entries)
        if on_api:
            cause = HelperCause("network", CAUSES["network"])
            summary = (f"{HELPER} did not answer for {answer.host} within {waited}: it was still waiting for the "
                       f"ECR API (api.ecr.{facts.region}.amazonaws.com)")
        else:
            cause = HelperCause("imds-unreachable", CAUSES["imds-unreachable"])
            summary = (f"{HELPER} did not answer for {answer.host} within {waited}: with no other AWS credentials "
                       "it waits up to 15 s for the instance metadata service (IMDS, 169.254.169.254)")
        evidence["cause"] = cause.id
        return fail(summary, details=details, fix=fix_for(cause, facts), evidence=evidence)
    if cause is None:
        return fail(f"{HELPER} returned no credentials for {answer.host} and logged no reason"
                    f" in {log_paths(ctx)[0]}" + (f": {answer.output[:160]}" if answer.output else ""),
                    details=["a log directory it cannot write (owned by root after sudo) also hides its reasons"],
                    fix=fix_for(HelperCause("unknown", CAUSES["unknown"]), facts), evidence=evidence)
    said = f"`{_NOT_FOUND}`" if _NOT_FOUND in answer.output else "no credentials"
    if cause.id == "not-ecr" and not (ctx.registry and ctx.registry.is_ecr):
        return warn(f"{HELPER} refuses {answer.host} (not an ECR registry): docker pulls it anonymously",
                    details=details, fix=fix_for(cause, facts), evidence=evidence)
    return fail(f"{HELPER} returned {said} for {answer.host}: {cause.summary}", details=details,
                fix=fix_for(cause, facts), evidence=evidence)


# -- helper.log --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogHistory:
    """The helper's requests recorded in the tail of its log."""

    path: Optional[str]  # the log read; None when there is none
    requests: Tuple[HelperRequest, ...] = ()
    error: Optional[str] = None
    truncated: bool = False


def log_history(ctx: Context) -> LogHistory:
    """The helper's recent requests, read once per run from the tail of whichever log it wrote last."""
    return ctx.fact("helper_log_history", lambda: _read_history(ctx))


def _read_history(ctx: Context) -> LogHistory:
    files = helper_files(ctx)
    path = files.latest_log
    if path is None:
        return LogHistory(None)
    read = ctx.host.read_tail(path, TAIL_BYTES, end=files.log_sizes.get(path))
    tail = read.tail
    if tail is None:
        return LogHistory(path, error=read.error)
    return LogHistory(path, tuple(group_requests(parse_log(tail.text))), truncated=tail.truncated)


def _for_target(ctx: Context, r: HelperRequest) -> bool:
    reg, host = ctx.registry, target_host(ctx)
    if reg is None:
        return True
    if r.server_url and host and r.server_url.lower().replace("https://", "").split("/")[0] == host.lower():
        return True
    if reg.kind == "public":
        return r.service == "ecr-public"
    if r.registry is None:
        return r.server_url is None  # a request that failed before naming its registry
    return r.registry == reg.account and (r.region or "").lower() == (reg.region or "").lower()


def _cause_lines(failed: Sequence[HelperRequest], now: datetime) -> List[str]:
    by_cause: Dict[str, List[HelperRequest]] = {}
    for r in failed:
        assert r.cause is not None
        by_cause.setdefault(r.cause.summary, []).append(r)
    return [f"{summary}: {len(rs)} time{'s' if len(rs) > 1 else ''} in the last 24 h, last {_ago(rs[-1].time, now)}"
            for summary, rs in sorted(by_cause.items(), key=lambda kv: -len(kv[1]))]


@check("helper.log", title="What do the credential helper's recent log entries say?", applies_when=helper_not_used,
       timeout=5)
def helper_log(ctx: Context) -> Outcome:
    """Reads only the tail (256 KiB) of the helper's ecr-login.log and classifies its recent requests.

    The helper logs every request at debug level to `${AWS_ECR_CACHE_DIR:-~/.ecr}/log/ecr-login.log`
    (or `$TMPDIR/ecr-login.log` when it cannot create that directory), in logrus format since late
    2018, seelog's `2018-02-08T11:22:51Z [ERROR] ...` before, slog's after 0.12. docker shows none of
    it. Lines are grouped into requests; failures are classified as no AWS credentials, IMDS
    disabled/unreachable, AccessDenied, invalid keys, clock skew, expired SSO, MFA/credential_process,
    TLS interception, proxy/timeout, a host that is not ECR, or a fallback to a cached token. The log
    can be gigabytes (nothing rotates it): it is read from the end with a seek, in bounded memory.

    Decides: fail when the latest finished request for this registry in the last 24 hours failed
    (its cause and fix; how often each cause occurred, and when last); warn when it fell back to a
    cached token, when earlier requests in those 24 hours failed but the latest succeeded, when the
    cache could not be saved, or (without an IMAGE) when docker sends non-ECR hosts to the helper;
    pass when the recent requests succeeded, or the last one (older than a day) did; info when the
    log holds no request for this registry or only an old failure; skip when there is no log.

    References: research host-side.md §1.3 (log path, formats, message catalogue, SDK error
    payloads), Part 2 B1-B10, Part 3 (#162, #207, #215, #381); SPEC §8 (1 GiB log budget).
    """
    hist = log_history(ctx)
    primary, fallback = log_paths(ctx)
    if hist.path is None:
        return skip(f"no helper log at {primary} or {fallback}: docker had not run the helper as this user "
                    f"(HOME={ctx.host.home})")
    evidence: Dict[str, Any] = {"path": hist.path, "requests": len(hist.requests), "truncated": hist.truncated}
    if hist.error is not None:
        return warn(f"cannot read {hist.path}: {hist.error}",
                    fix=Fix("Give the log back to the user who runs docker.",
                            (f"sudo chown -R {ctx.host.current_user().name} {shlex.quote(cache_dir(ctx))}",)),
                    evidence=evidence)
    now = ctx.now()
    facts = fix_facts(ctx)
    host = target_host(ctx) or "any registry"

    def is_recent(r: HelperRequest) -> bool:
        return r.time is None or now - r.time <= RECENT

    gets = [r for r in hist.requests if r.kind == "get"]
    not_ecr = [r for r in gets if r.cause is not None and r.cause.id == "not-ecr"]
    mine = [r for r in gets if _for_target(ctx, r) and r not in not_ecr]
    done = [r for r in mine if r.outcome != "unfinished"]
    recent = [r for r in done if is_recent(r)]
    refused = [r for r in not_ecr if is_recent(r)]
    if not done and not (refused and ctx.registry is None):
        return info(f"{hist.path} has no finished request for {host} in its last {TAIL_BYTES // 1024} KiB "
                    f"({len(gets) - len(mine)} for other registries)", evidence=evidence)
    failed = [r for r in recent if r.outcome in ("failed", "fallback")]
    details = _cause_lines(failed, now)
    if mine and mine[-1].outcome == "unfinished":
        details.append(f"the latest request, {_ago(mine[-1].time, now)}, logged no result (killed, or still running)")
    if refused:
        details.append(f"docker also asked the helper for {len(refused)} host(s) that are not ECR registries "
                       f"(latest: {refused[-1].server_url}); it refuses them, and docker pulls those anonymously")
    latest = done[-1] if done else None
    evidence.update(latest=latest.outcome if latest else None,
                    cause=latest.cause.id if latest and latest.cause else None,
                    failures_24h=len(failed), requests_24h=len(recent))
    if latest is None or (not failed and ctx.registry is None and refused):
        cause = refused[-1].cause or HelperCause("not-ecr", CAUSES["not-ecr"])
        return warn(f"docker asked the ECR helper for {len(refused)} request(s) to hosts that are not ECR registries "
                    f"in the last 24 h (latest: {refused[-1].server_url}); it refuses them", details=details[:-1],
                    fix=fix_for(cause, facts), evidence=evidence)
    when = _ago(latest.time, now)
    if latest.outcome == "failed" and latest.cause is not None:
        lead = f"the helper's latest request for {host}, {when}, failed: {latest.cause.summary}"
        if not is_recent(latest):
            return info(lead, details=details, evidence=evidence)
        return fail(lead, details=[f"…{latest.cause.excerpt[-200:]}"] + details, fix=fix_for(latest.cause, facts),
                    evidence=evidence)
    if latest.outcome == "fallback" and latest.cause is not None and is_recent(latest):
        return warn(f"the helper's latest request for {host}, {when}: {latest.cause.summary}", details=details,
                    fix=fix_for(latest.cause, facts), evidence=evidence)
    if failed and failed[-1].cause is not None:
        return warn(f"{len(failed)} of {len(recent)} helper requests for {host} in the last 24 h failed; the latest, "
                    f"{when}, succeeded", details=details, fix=fix_for(failed[-1].cause, facts), evidence=evidence)
    notes = [n for r in recent for n in r.notes]
    if notes:
        return warn(f"the helper's requests for {host} succeed, but {notes[-1].summary}",
                    details=[f"…{notes[-1].excerpt[-200:]}"] + details, fix=fix_for(notes[-1], facts),
                    evidence=evidence)
    if not is_recent(latest):
        return passed(f"no helper request for {host} in the last 24 h; the last one, {when}, succeeded",
                      details=details, evidence=evidence)
    return passed(f"all {len(recent)} helper request(s) for {host} in the last 24 h succeeded; the latest {when}",
                  details=details, evidence=evidence)


# -- helper.cache ------------------------------------------------------------------------------------

def _uid_names(ctx: Context) -> Dict[int, str]:
    names: Dict[int, str] = {}
    for line in (ctx.host.read_text("/etc/passwd").text or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            names.setdefault(int(parts[2]), parts[0])
    return names


def _foreign_owners(ctx: Context, paths: Sequence[str]) -> List[Tuple[str, int]]:
    """Files of the helper's owned by someone other than the user who runs docker. Root may use another
    user's files (sudo -E keeps HOME), as long as they belong to the owner of the directory above."""
    me = ctx.host.current_user().uid
    out = []
    for p in paths:
        st = ctx.host.stat(p)
        parent = ctx.host.stat(str(PurePosixPath(p).parent)) if st.exists else None
        if parent is None or not parent.exists:
            continue
        if st.uid != me and not (me == 0 and st.uid == parent.uid):
            out.append((p, st.uid))
    return out


@check("helper.cache", title="What does the credential helper's token cache hold for this registry?",
       applies_when=helper_not_used, timeout=5)
def helper_cache(ctx: Context) -> Outcome:
    """Reads `${AWS_ECR_CACHE_DIR:-~/.ecr}/cache.json` (never showing a token): the entry for this
    registry (keys are `<region>-<hash of the AWS identity>-<registryId>`), its expiry, and when the
    helper will refresh it (half-way through its 12 hours).

    When GetAuthorizationToken fails, the helper falls back to the cached token even when it has
    expired, and docker gets `denied: Your authorization token has expired` instead of the real error.
    A cache directory left owned by root after `sudo docker pull` stops the helper from saving tokens
    (`Could not save cache`) and from writing its log; a corrupt file is discarded (and deleted) by the
    helper on its next run, if it may delete it.

    Decides: info when AWS_ECR_DISABLE_CACHE is set (any non-empty value), when there is no cache yet,
    and when it has no entry for this registry; fail when the cache directory or its files belong to
    another user (`sudo chown -R`) or cannot be read, and when the entry has expired while the log
    shows recent API failures (the stale-token fallback); warn for a file that is not what the helper
    writes (`rm`); pass for a valid entry, or an expired one with no recent API errors.

    References: research host-side.md §1.3 (cache file, half-life, fallback), Part 2 B9, B10;
    aws-side.md A3 (cache key format); amazon-ecr-credential-helper cache/file.go, cache/build.go.
    """
    env = ctx.host.env
    if env.get("AWS_ECR_DISABLE_CACHE"):
        return info(f"AWS_ECR_DISABLE_CACHE={env['AWS_ECR_DISABLE_CACHE']} disables the helper's cache: it calls "
                    "ecr:GetAuthorizationToken on every pull", evidence={"disabled": True})
    base = cache_dir(ctx).rstrip("/")
    path = f"{base}/cache.json"
    evidence: Dict[str, Any] = {"path": path}
    me = ctx.host.current_user().name
    chown = Fix(f"Give the helper's directory back to {me}, who runs docker (a `sudo docker pull` with the "
                "user's HOME leaves it owned by root).", (f"sudo chown -R {me} {shlex.quote(base)}",))
    foreign = [] if ctx.options.root else _foreign_owners(ctx, [base, path, f"{base}/log", log_paths(ctx)[0]])
    if foreign:
        names = _uid_names(ctx)
        p, uid = foreign[0]
        evidence["owner_uid"] = uid
        return fail(f"{p} belongs to {names.get(uid, f'uid {uid}')}, not {me}: the helper cannot save tokens "
                    "(`Could not save cache`) or write its log there",
                    details=[f"{q} belongs to {names.get(u, f'uid {u}')}" for q, u in foreign[1:]], fix=chown,
                    evidence=evidence)
    read = helper_files(ctx).cache
    if read.missing:
        return info(f"no {path}: the helper has not cached a token for this user yet", evidence=evidence)
    if read.text is None:
        return fail(f"the helper cannot read {path}: {read.error}", fix=chown, evidence=evidence)
    try:
        cache = parse_cache(read.text)
    except CacheError as exc:
        return warn(f"{path} is not a valid helper cache ({exc}): the helper discards it and fetches a new token "
                    "every time it cannot delete it", fix=Fix("Remove it; the helper writes a new one.",
                                                              (f"rm {shlex.quote(path)}",)), evidence=evidence)
    if cache.version != CACHE_VERSION:
        return warn(f"{path} has cache version {cache.version!r}; the helper ignores it (`Registry cache version is "
                    "not compatible`)", fix=Fix("Remove it.", (f"rm {shlex.quote(path)}",)), evidence=evidence)
    now = ctx.now()
    reg = ctx.registry
    evidence["entries"] = len(cache.entries)
    if reg is None or not reg.is_ecr:
        lines = [f"{e.registry_id or e.service} {e.region or ''}: {e.state(now)}, expires "
                 f"{_ago(e.expires_at, now)[3:] if e.expires_at and e.expires_at <= now else e.expires_at}"
                 for e in cache.entries]
        return info(f"{path} holds {len(cache.entries)} cached token(s)", details=lines, evidence=evidence)
    entries = cache.for_registry(reg.account, reg.region, public=reg.kind == "public")
    label = "ECR Public" if reg.kind == "public" else f"registry {reg.account} in {reg.region}"
    if not entries:
        return info(f"{path} has no cached token for {label} ({len(cache.entries)} other entr"
                    f"{'y' if len(cache.entries) == 1 else 'ies'})", evidence=evidence)
    entry = entries[0]
    state = entry.state(now)
    owner = f" (fetched with {entry.key_owner})" if entry.key_owner else ""
    evidence.update(state=state, expires_at=entry.expires_at.isoformat() if entry.expires_at else None,
                    refresh_at=entry.refresh_at.isoformat() if entry.refresh_at else None, key_owner=entry.key_owner)
    if state == "fresh":
        return passed(f"cached token for {label}{owner} valid until {entry.expires_at:%Y-%m-%d %H:%M} UTC; the "
                      f"helper reuses it until {entry.refresh_at:%H:%M} UTC", evidence=evidence)
    if state == "stale":
        return passed(f"cached token for {label}{owner} is past its half-life: the helper fetches a new one on the "
                      f"next pull (it stays valid until {entry.expires_at:%Y-%m-%d %H:%M} UTC)", evidence=evidence)
    hist = log_history(ctx)
    api_failures = [r for r in hist.requests if r.kind == "get" and _for_target(ctx, r) and r.cause is not None
                    and r.outcome in ("failed", "fallback") and r.cause.id not in ("not-ecr",)
                    and (r.time is None or now - r.time <= RECENT)]
    expired = f"expired {_ago(entry.expires_at, now)[3:]}" if entry.expires_at else "has no expiry"
    if api_failures:
        cause = api_failures[-1].cause
        assert cause is not None
        underlying = cause.underlying or cause.id
        evidence["api_failures_24h"] = len(api_failures)
        stale = HelperCause("stale-cache", CAUSES["stale-cache"], cause.excerpt, cause.principal, underlying)
        return fail(f"cached token for {label}{owner} {expired}, and GetAuthorizationToken failed "
                    f"{_ago(api_failures[-1].time, now)} ({CAUSES.get(underlying, underlying)}): the helper hands "
                    "docker the expired token, and the pull fails with `denied: Your authorization token has "
                    "expired. Reauthenticate and try again.`",
                    fix=fix_for(stale, fix_facts(ctx)), evidence=evidence)
    return passed(f"cached token for {label}{owner} {expired}; the helper fetches a new one on the next pull",
                  details=["if that call fails, the helper falls back to this expired token"], evidence=evidence)
