"""The docker engine that finally pulls: can docker reach it, has it room, and does daemon.json help or hurt?"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Tuple

from ecrdoctor.api import Fix, Outcome, check, error, fail, info, passed, skip, warn
from ecrdoctor.context import Context
from ecrdoctor.daemon import (
    DEFAULT_SOCKET,
    DaemonConfig,
    DaemonError,
    DockerEndpoint,
    Version,
    classify_connect_error,
    current_context,
    disk_verdict,
    group_members,
    human_bytes,
    mirror_host,
    mirror_problem,
    no_proxy_covers,
    parse_daemon_config,
    parse_docker_host,
    parse_version,
)
from ecrdoctor.dockerfacts import InstalledDocker, installed_docker, run_version
from ecrdoctor.host import FileRead
from ecrdoctor.reference import parse_registry_host

SYSTEM_DAEMON_JSON = "/etc/docker/daemon.json"
SUDO_TRAP = ("Do not work around it with `sudo docker pull`: as root, docker reads /root/.docker/config.json, which "
             "usually has no ECR credential helper, and the pull then fails with `no basic auth credentials`.")


# -- facts other checks may share -------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonProbe:
    """What the daemon docker would use answered, or why it could not be asked."""

    endpoint: Optional[DockerEndpoint]
    version: Mapping[str, Any] = field(default_factory=dict)  # GET /version
    info: Mapping[str, Any] = field(default_factory=dict)  # GET /info
    error: Optional[str] = None
    cause: Optional[str] = None  # classify_connect_error(), "bad-host" or "not-contacted"

    @property
    def reachable(self) -> bool:
        return self.error is None

    @property
    def server_version(self) -> Optional[Version]:
        try:
            return parse_version(str(self.version.get("Version", "")))
        except DaemonError:
            return None


def daemon_probe(ctx: Context) -> DaemonProbe:
    """Ask the daemon of DOCKER_HOST (or the default socket) for /version and /info, once per run."""

    def probe() -> DaemonProbe:
        try:
            endpoint = parse_docker_host(ctx.host.env.get("DOCKER_HOST"))
        except DaemonError as exc:
            return DaemonProbe(None, error=exc.message, cause="bad-host")
        if endpoint.scheme == "ssh":
            return DaemonProbe(endpoint, error="ecrdoctor does not open SSH connections", cause="not-contacted")
        if endpoint.scheme == "tcp" and not endpoint.loopback and ctx.options.offline:
            return DaemonProbe(endpoint, error="--offline: a daemon on another host is not contacted",
                               cause="not-contacted")
        answer = ctx.docker_engine()
        if answer.error is not None or answer.version is None:
            text = answer.error or "no answer"
            return DaemonProbe(endpoint, error=text, cause=classify_connect_error(text))
        return DaemonProbe(endpoint, dict(answer.version), dict(answer.info or {}))

    return ctx.fact("runtime.daemon", probe)


def installed_dockerd_version(ctx: Context) -> Optional[Version]:
    """`dockerd --version` of the installed daemon (what will run after a restart), once per run."""

    def look() -> Optional[Version]:
        path = installed_docker(ctx).dockerd_path
        found = run_version(ctx, path)[0] if path else None
        return found.version if found else None

    return ctx.fact("runtime.dockerd_version", look)


@dataclass(frozen=True)
class DaemonConfigFile:
    """The daemon.json dockerd reads, parsed."""

    path: str
    rootless: bool
    read: FileRead
    config: Optional[DaemonConfig] = None
    error: Optional[DaemonError] = None


def daemon_config(ctx: Context) -> DaemonConfigFile:
    """/etc/docker/daemon.json under --root; a rootless daemon reads $XDG_CONFIG_HOME/docker/daemon.json."""

    def load() -> DaemonConfigFile:
        env = ctx.host.env
        try:
            sock = parse_docker_host(env.get("DOCKER_HOST")).socket_path or ""
        except DaemonError:
            sock = ""
        runtime_dir = env.get("XDG_RUNTIME_DIR", "").rstrip("/")
        rootless = sock.startswith("/run/user/") or bool(runtime_dir and sock == f"{runtime_dir}/docker.sock")
        path = SYSTEM_DAEMON_JSON
        if rootless:
            base = env.get("XDG_CONFIG_HOME") or f"{(ctx.host.home or '~').rstrip('/')}/.config"
            path = f"{base.rstrip('/')}/docker/daemon.json"
        read = ctx.host.read_text(path)
        if read.text is None:
            return DaemonConfigFile(path, rootless, read)
        try:
            return DaemonConfigFile(path, rootless, read, parse_daemon_config(read.text))
        except DaemonError as exc:
            return DaemonConfigFile(path, rootless, read, error=exc)

    return ctx.fact("runtime.daemon_config", load)


# -- runtime.docker -----------------------------------------------------------------------------------


@check("runtime.docker", title="Is the docker daemon reachable, and has it room to pull?", timeout=15)
def runtime_docker(ctx: Context) -> Outcome:
    """Connects to the daemon docker itself would use, and measures the disk it pulls onto.

    The daemon is the one DOCKER_HOST names, else /var/run/docker.sock (a DOCKER_CONTEXT or the
    config's `currentContext` is only noted). A stopped daemon gives `Cannot connect to the Docker
    daemon ... Is the docker daemon running?`; a user outside the socket's group gets `permission
    denied`, which is what pushes people to `sudo docker pull` — where root's config has no
    credential helper. With the daemon up, it reads the server and API versions, the docker CLI
    version (`docker --version` on the PATH docker runs with: CLIs up to 28.3 swallow credential
    helper errors into `no basic auth credentials`, 28.4+ print them; before 1.13 there are no
    credHelpers, before 1.11 no credsStore), and the free space and inodes of the filesystem
    under the daemon's DockerRootDir (a full disk fails pulls with `no space left on device`).

    Decides: pass when the daemon answers with room to pull; info for a daemon reached over TCP or
    SSH (its disk and network are not this host's, but credentials are still resolved by the local
    CLI); fail when the daemon is not running (no socket, connection refused), does not answer,
    refuses this user (naming the user and the socket's group), DOCKER_HOST is malformed, the data
    root is effectively full (under 256 MiB or 1% free, or under 1% of inodes), or the CLI is too
    old for the credential helper the config names; warn when space is low (under 2 GiB or 5%, or
    inodes under 5%) or the CLI predates credHelpers; skip when there is no docker at all, or no
    docker socket on an EKS node (/etc/eks) or a containerd-only host.

    References: research host-side §1.1 (DOCKER_HOST/contexts, CLI ≤ 28.3 vs ≥ 28.4 error
    propagation), §1.7 (daemon side), Part 2 K3, K10, E1, E2, K11; docker/cli cli/command/registry.go
    at v28.3.0 vs v28.4.0; feasibility §4 (docker SDK error texts).
    """
    probe = daemon_probe(ctx)
    ep = probe.endpoint
    if probe.cause == "bad-host" or ep is None:
        return fail(probe.error or "DOCKER_HOST cannot be understood",
                    fix=Fix("Point DOCKER_HOST at the daemon (unix:///var/run/docker.sock), or unset it to use the "
                            "default socket.", ("unset DOCKER_HOST",)),
                    evidence={"docker_host": ctx.host.env.get("DOCKER_HOST")})
    notes = _context_notes(ctx, ep)
    if probe.cause == "not-contacted":
        return info(f"the daemon at {ep.url} is on another host and was not contacted ({probe.error}); "
                    "credentials are still resolved by the local docker CLI and its credential helper",
                    details=notes + ["its disk, proxy and network are that host's: run ecrdoctor there too"],
                    evidence={"endpoint": ep.url})
    if not probe.reachable:
        return _unreachable(ctx, probe, ep, notes)
    return _reachable(ctx, probe, ep, notes)


def _context_notes(ctx: Context, ep: DockerEndpoint) -> List[str]:
    if ep.from_env:  # DOCKER_HOST beats DOCKER_CONTEXT and currentContext (docker CLI 28.2.2, verified)
        return [f"DOCKER_HOST={ep.url} is set"]
    name = ctx.host.env.get("DOCKER_CONTEXT") or current_context(ctx.docker_config().read.text)
    source = "DOCKER_CONTEXT" if ctx.host.env.get("DOCKER_CONTEXT") else "currentContext in the docker config"
    if not name or name == "default":
        return []
    return [f"the docker CLI uses the context '{name}' ({source}), not {ep.url} which this check examined; "
            f"`docker context inspect {name}` shows its endpoint"]


def _unreachable(ctx: Context, probe: DaemonProbe, ep: DockerEndpoint, notes: List[str]) -> Outcome:
    cause, where = probe.cause, ep.socket_path or ep.url
    evidence = {"endpoint": ep.url, "cause": cause, "error": probe.error}
    details = notes + [f"docker SDK: {probe.error}"]
    if cause in ("missing", "refused"):
        installed = installed_docker(ctx)
        if cause == "missing" and (not ep.from_env or ep.is_default):
            if ctx.host.exists("/etc/eks"):
                return skip(f"no docker daemon at {ep.url}, and /etc/eks exists: on an EKS node the kubelet pulls "
                            "through containerd, not docker (see runtime.kubelet)", evidence=evidence)
            if not installed.dockerd_path:
                if ctx.host.exists("/run/containerd/containerd.sock"):
                    return skip(f"no docker here (no dockerd, no {ep.url}), but containerd runs: images are pulled "
                                "through containerd, not docker (see runtime.kubelet)", evidence=evidence)
                if not installed.cli_path:
                    return skip("docker is not installed here (no docker CLI on PATH, no dockerd)", evidence=evidence)
                return fail(f"no docker daemon here: {where} does not exist and dockerd is not installed; the docker "
                            f"CLI at {installed.cli_path} has nothing to talk to",
                            details=details + ["Docker Desktop's daemon runs in its own VM and socket, selected by a "
                                               "docker context, when Desktop is running"],
                            fix=Fix("Install and start Docker Engine, start Docker Desktop, or point DOCKER_HOST at a "
                                    "running daemon.", ()),
                            evidence=evidence)
        if ep.scheme == "unix":
            summary = (f"the docker daemon is not running: {where} does not exist" if cause == "missing" else
                       f"the docker daemon is not running: nothing accepts connections on {where} (a stale socket)")
        else:
            summary = f"no docker daemon answers at {ep.url} (connection refused)"
        details.append(f"docker prints `Cannot connect to the Docker daemon at {ep.url}. Is the docker daemon "
                       "running?`")
        if ep.scheme == "unix" and cause == "missing" and ctx.host.in_container():
            details.append(f"ecrdoctor runs inside a container: a daemon on the host is reachable from here only if "
                           f"its socket is mounted (`-v {DEFAULT_SOCKET}:{DEFAULT_SOCKET}`)")
        commands: List[str] = []
        dconf = daemon_config(ctx)
        if dconf.error is not None:
            details.append(f"{dconf.path} is invalid ({dconf.error.message}): dockerd refuses to start with it "
                           "(see runtime.docker-config)")
            commands.append(f"python3 -m json.tool {shlex.quote(dconf.path)}")
        if ep.from_env and not ep.is_default:
            text = (f"DOCKER_HOST={ep.url} points where no daemon listens: start the daemon meant to listen there, "
                    "or unset DOCKER_HOST to use the system daemon at /var/run/docker.sock.")
            commands = ["unset DOCKER_HOST"] + commands + ["sudo systemctl start docker"]
        else:
            text = "Start the docker daemon; if it stops again, its journal says why."
            commands += ["sudo systemctl start docker", "sudo journalctl -u docker -n 20 --no-pager"]
        return fail(summary, details=details, fix=Fix(text, tuple(commands)), evidence=evidence)
    if cause == "permission" and ep.socket_path:
        return _permission_denied(ctx, ep, details, evidence)
    if cause == "timeout":
        return fail(f"the docker daemon at {ep.url} accepted the connection but did not answer in time (hung)",
                    details=details,
                    fix=Fix("Restart the daemon. This stops running containers unless live-restore is enabled.",
                            ("sudo systemctl restart docker",)),
                    evidence=evidence)
    return error(f"could not reach the docker daemon at {ep.url}: {probe.error}", details=notes, evidence=evidence)


def _permission_denied(ctx: Context, ep: DockerEndpoint, details: List[str],
                       evidence: dict[str, Any]) -> Outcome:
    path = ep.socket_path or DEFAULT_SOCKET
    user = ctx.host.current_user().name
    quser = shlex.quote(user)
    sock = ctx.host.socket_info(path)
    group = (sock.group or str(sock.gid)) if sock else "docker"
    if sock:
        details.append(f"{path} is owned by uid {sock.uid}, group {group}, mode {sock.mode_text}")
        evidence.update(socket_group=group, socket_mode=sock.mode_text)
    evidence["user"] = user
    details.append(f"membership of the {group} group is equivalent to root on this host")
    if sock and sock.gid == 0:
        return fail(f"permission denied on {path}: the socket belongs to group root, so only root can use docker "
                    "(no docker group existed when dockerd started)",
                    details=details,
                    fix=Fix("Create the docker group, add the user, restart the daemon so it hands the socket to the "
                            "group (this stops running containers unless live-restore is enabled), then start a new "
                            "login session. " + SUDO_TRAP,
                            ("sudo groupadd docker", f"sudo usermod -aG docker {quser}",
                             "sudo systemctl restart docker", "newgrp docker")),
                    evidence=evidence)
    if sock and sock.gid in sock.process_gids:  # in the group, yet refused: the mode keeps the group out
        return fail(f"permission denied on {path}: user {user} has the {group} group, but the socket's mode "
                    f"{sock.mode_text} gives the group no access",
                    details=details,
                    fix=Fix("dockerd creates its socket with mode 0660; restarting it restores that (this stops "
                            "running containers unless live-restore is enabled).", ("sudo systemctl restart docker",)),
                    evidence=evidence)
    members = group_members(ctx.host.read_text("/etc/group").text or "", group) or ()
    if sock and user in members and sock.gid not in sock.process_gids:
        return fail(f"permission denied on {path}: user {user} is in the {group} group in /etc/group, but this "
                    "login session started before that and does not have the group yet",
                    details=details,
                    fix=Fix("Log out and back in, or start a shell with the group. " + SUDO_TRAP,
                            (f"newgrp {shlex.quote(group)}",)),
                    evidence=evidence)
    return fail(f"permission denied on {path}: user {user} is not in the {group} group",
                details=details + ["docker prints `permission denied while trying to connect to the Docker daemon "
                                   "socket`"],
                fix=Fix(f"Add {user} to the {group} group, then start a new login session (or newgrp) so it takes "
                        "effect. " + SUDO_TRAP,
                        (f"sudo usermod -aG {shlex.quote(group)} {quser}", f"newgrp {shlex.quote(group)}")),
                evidence=evidence)


def _reachable(ctx: Context, probe: DaemonProbe, ep: DockerEndpoint, notes: List[str]) -> Outcome:
    server = str(probe.version.get("Version") or "?")
    api = str(probe.version.get("ApiVersion") or "?")
    root_dir = str(probe.info.get("DockerRootDir") or "")
    evidence: dict[str, Any] = {"endpoint": ep.url, "server_version": server, "api_version": api,
                                "data_root": root_dir or None, "storage_driver": probe.info.get("Driver")}
    details = list(notes)
    installed = installed_docker(ctx)
    cli_text, cli_fail, cli_warn = _cli_findings(ctx, installed, details, evidence)
    disk_text, verdict, disk_fix = "", None, None
    if ep.over_network and not ep.loopback:
        details.append(f"the data root {root_dir} is on the daemon's host: not measured from here")
    elif root_dir:
        disk = ctx.host.disk_usage(root_dir)
        usage = disk.usage
        if usage is None:
            where = f"under --root {ctx.host.root}" if ctx.host.root else "on this host"
            details.append(f"could not measure {root_dir} {where} ({disk.error}): the daemon may run in a "
                           "VM (Docker Desktop) or another mount namespace")
        else:
            verdict = disk_verdict(usage)
            disk_text = f"{human_bytes(usage.free_bytes)} free under {root_dir}"
            evidence.update(free_bytes=usage.free_bytes, free_percent=round(usage.free_percent, 1),
                            free_inodes_percent=None if usage.free_inodes_percent is None
                            else round(usage.free_inodes_percent, 1))
            cmds = [f"df -h {shlex.quote(root_dir)}"]
            if any("inodes" in r for r in verdict.reasons):
                cmds.append(f"df -i {shlex.quote(root_dir)}")
            disk_fix = Fix("See what takes the space, then remove dangling images (untagged layers no container "
                           "uses). `docker system prune -a` frees more but deletes every unused image, stopped "
                           "container and unused network — only if you can pull them again. Or grow the volume "
                           f"that holds {root_dir}.", tuple(cmds + ["docker system df", "docker image prune"]))
    daemon = f"dockerd {server} (API {api}) at {ep.url}"
    if verdict is not None and verdict.level == "full":
        return fail(f"the docker data root {root_dir} is full: {'; '.join(verdict.reasons)} — pulls fail with "
                    "`no space left on device`", details=[daemon] + details, fix=disk_fix, evidence=evidence)
    if cli_fail:
        return fail(cli_fail, details=[daemon] + details,
                    fix=Fix("Upgrade Docker: credsStore needs docker 1.11, credHelpers 1.13.", ()), evidence=evidence)
    if verdict is not None and verdict.level == "low":
        return warn(f"the docker data root {root_dir} is low: {'; '.join(verdict.reasons)} — a large image may not "
                    "fit", details=[daemon] + details, fix=disk_fix, evidence=evidence)
    if cli_warn:
        return warn(cli_warn, details=[daemon] + details,
                    fix=Fix("Upgrade Docker: credHelpers needs docker 1.13.", ()), evidence=evidence)
    parts = [daemon, cli_text] + ([disk_text] if disk_text else [])
    if ep.over_network:
        return info(f"{'; '.join(parts)}: reached over TCP, credentials are still resolved by the local docker CLI",
                    details=details, evidence=evidence)
    return passed("; ".join(parts), details=details, evidence=evidence)


def _cli_findings(ctx: Context, installed: InstalledDocker, details: List[str],
                  evidence: dict[str, Any]) -> Tuple[str, Optional[str], Optional[str]]:
    """The CLI's part of the summary, and a fail or warn sentence when it is too old for credential helpers."""
    evidence.update(cli_path=installed.cli_path, cli_version=installed.cli.version.text if installed.cli else None)
    if installed.cli is None:
        details.append(f"docker CLI version unknown: {installed.cli_problem}")
        return "docker CLI not found" if not installed.cli_path else "docker CLI version unknown", None, None
    if installed.cli.product == "podman":
        details.append(f"`docker` at {installed.cli_path} is podman {installed.cli.version.text} (podman-docker): "
                       "pulls use podman's auth files (see runtime.podman)")
        return f"docker CLI is podman {installed.cli.version.text}", None, None
    v = installed.cli.version
    text = f"docker CLI {v.text} at {installed.cli_path}"
    if v.older_than(28, 4):
        details.append(f"docker CLI {v.text} (≤ 28.3) swallows credential-helper errors: a helper that fails or is "
                       "missing shows only as `no basic auth credentials` (28.4+ prints the helper's error)")
    if ctx.host.env.get("DOCKER_AUTH_CONFIG") and v.older_than(28, 3):
        details.append(f"DOCKER_AUTH_CONFIG is set, but docker CLI {v.text} predates it (28.3) and ignores it")
    config = ctx.docker_config().effective
    if v.older_than(1, 11) and (config.creds_store or config.cred_helpers):
        return text, f"docker CLI {v.text} predates credential helpers (1.11): it ignores credsStore and " \
                     "credHelpers and pulls with no credentials", None
    if v.older_than(1, 13) and config.cred_helpers:
        return text, f"docker CLI {v.text} predates credHelpers (1.13): it ignores them and pulls with no " \
                     "credentials", None
    if v.older_than(1, 13):
        return text, None, f"docker CLI {v.text} predates credHelpers (1.13): only credsStore can name the ECR " \
                           "credential helper"
    return text, None, None


# -- runtime.docker-config ------------------------------------------------------------------------------


@check("runtime.docker-config", title="Does daemon.json help or hurt ECR pulls?", timeout=15)
def runtime_docker_config(ctx: Context) -> Outcome:
    """Reads the daemon's own configuration file, /etc/docker/daemon.json (for a rootless daemon,
    $XDG_CONFIG_HOME/docker/daemon.json, else ~/.config/docker/daemon.json).

    dockerd refuses to start when the file is not valid JSON (`unable to configure the Docker
    daemon with file ...`), when a registry mirror has a path or no scheme (`invalid mirror`), or —
    before Engine 23 — when it sets `proxies`. `registry-mirrors` only ever apply to Docker Hub
    images: ECR pulls always go straight to the registry, so a mirror never caches ECR (an ECR
    pull-through cache is pulled by its own prefix). `insecure-registries` listing an ECR host
    only switches off certificate checks for a registry that always serves valid TLS. `proxies`,
    `data-root` and `storage-driver` are reported (net.proxy judges the proxy itself).

    Decides: info when there is no daemon.json; pass for a file with nothing that hurts ECR pulls;
    fail for invalid JSON, an invalid mirror, or `proxies` on a dockerd older than 23; warn for an
    empty file (dockerd 20.10 refuses it), an ECR host in registry-mirrors or insecure-registries;
    skip when the file cannot be read.

    References: research host-side §1.7 and Part 2 D2, D3; docs.docker.com/engine/daemon (file
    locations, rootless); docs.docker.com/docker-hub/image-library/mirror ("Only the central Hub
    can be mirrored"); dockerd 20.10.24 run against each fixture (error texts).
    """
    dconf = daemon_config(ctx)
    path = dconf.path
    evidence: dict[str, Any] = {"path": path, "rootless": dconf.rootless}
    if dconf.read.missing:
        return info(f"no {path}: dockerd runs with its defaults (no registry mirrors, no insecure registries, no "
                    "proxy from this file)", evidence=evidence)
    if dconf.read.text is None:
        return skip(f"cannot read {path}: {dconf.read.error} (run ecrdoctor as root to inspect it)", evidence=evidence)
    probe = daemon_probe(ctx)
    running = probe.server_version if probe.reachable else None
    if dconf.error is not None:
        where = f" at line {dconf.error.line}, column {dconf.error.column}" if dconf.error.line else ""
        lines = [f"dockerd logs `unable to configure the Docker daemon with file {path}: ...` and exits"]
        if running:
            lines.append(f"dockerd {running.text} is running on its previous configuration: the next restart fails")
        return fail(f"{path} is invalid{where}: {dconf.error.message}; dockerd refuses to start with it",
                    details=lines,
                    fix=Fix("Repair the file (this shows where it breaks), then restart docker.",
                            (f"python3 -m json.tool {shlex.quote(path)}", "sudo systemctl restart docker")),
                    evidence=evidence)
    cfg = dconf.config
    assert cfg is not None
    if cfg.empty:
        return warn(f"{path} is empty: dockerd 20.10 refuses to start with it (`EOF`); newer versions accept it",
                    fix=Fix("Make it an empty JSON object.", (f"echo '{{}}' | sudo tee {shlex.quote(path)}",)),
                    evidence=evidence)
    evidence.update(keys=list(cfg.keys), registry_mirrors=list(cfg.registry_mirrors),
                    insecure_registries=list(cfg.insecure_registries), data_root=cfg.data_root,
                    storage_driver=cfg.storage_driver)
    fails: List[Tuple[str, Fix]] = []
    warns: List[Tuple[str, Fix]] = []
    details: List[str] = []
    restart = "sudo systemctl restart docker"
    for mirror in cfg.registry_mirrors:
        problem = mirror_problem(mirror)
        ecr = parse_registry_host(mirror_host(mirror)).is_ecr
        if problem:
            why = (" (an ECR pull-through cache is not a registry mirror: pull <registry>/<prefix>/<image> instead)"
                   if ecr else "")
            fails.append((f"{path}: registry-mirrors entry {mirror} makes dockerd refuse to start: `{problem}`{why}",
                          Fix("Remove or correct the entry (a mirror is a bare https://host), then restart docker.",
                              (restart,))))
        elif ecr:
            warns.append((f"{path}: registry-mirrors lists the ECR host {mirror_host(mirror)}, but mirrors only apply "
                          "to Docker Hub images; ECR pulls never go through a mirror",
                          Fix("Remove it from registry-mirrors; to use an ECR pull-through cache, pull "
                              f"{mirror_host(mirror)}/<prefix>/<image> explicitly.", (restart,))))
    if cfg.registry_mirrors:
        details.append(f"registry-mirrors {', '.join(cfg.registry_mirrors)}: used for Docker Hub images only; ECR "
                       "pulls always go straight to the registry")
    for entry in cfg.insecure_registries:
        host = entry.split("://", 1)[-1].split("/", 1)[0]
        if parse_registry_host(host.lower()).is_ecr:
            warns.append((f"{path}: insecure-registries lists the ECR host {host}: ECR always serves valid TLS, "
                          "so this only switches off certificate checks for it",
                          Fix("Remove the entry and restart docker. If it was added for `x509: certificate signed by "
                              "unknown authority`, trust the intercepting proxy's CA instead (net.reach).",
                              (restart,))))
    if cfg.proxies is not None:
        p = cfg.proxies
        details.append(f"proxies: http-proxy {p.http_proxy or '-'}, https-proxy {p.https_proxy or '-'}, "
                       f"no-proxy {p.no_proxy or '-'} (net.proxy judges them)")
        version = running or installed_dockerd_version(ctx)
        if version is not None and version.older_than(23, 0):
            dropin = "/etc/systemd/system/docker.service.d/http-proxy.conf"
            env = " ".join(f'"{k}={v}"' for k, v in (("HTTP_PROXY", p.http_proxy), ("HTTPS_PROXY", p.https_proxy),
                                                     ("NO_PROXY", p.no_proxy)) if v)
            fails.append((f"{path} sets `proxies`, which dockerd {version.text} does not know (Engine 23+): it refuses "
                          "to start (`the following directives don't match any configuration option`)",
                          Fix("Remove `proxies` from daemon.json and give dockerd the proxy through a systemd drop-in "
                              "(re-add any user:password the URL had).",
                              ("sudo mkdir -p /etc/systemd/system/docker.service.d",
                               f"printf '[Service]\\nEnvironment={env}\\n' | sudo tee {dropin}",
                               "sudo systemctl daemon-reload", restart))))
        elif version is None:
            details.append("`proxies` needs Docker Engine 23 or later; older dockerd refuses to start with it")
        reg = ctx.registry
        if p.https_proxy and reg is not None and reg.is_ecr and not no_proxy_covers(p.no_proxy, reg.host):
            details.append(f"pulls from {reg.host} (and its S3 layer downloads) go through {p.https_proxy}")
    if cfg.data_root:
        details.append(f"data-root {cfg.data_root}")
        live = str(probe.info.get("DockerRootDir") or "") if probe.reachable else ""
        if live and live.rstrip("/") != cfg.data_root.rstrip("/"):
            details.append(f"the running dockerd uses {live}: daemon.json changed after it started; the next restart "
                           f"moves docker to {cfg.data_root}")
    if cfg.storage_driver:
        details.append(f"storage-driver {cfg.storage_driver}")
    if fails or warns:
        worst, fix = (fails or warns)[0]
        others = [s for s, _ in (fails + warns)[1:]]
        make = fail if fails else warn
        return make(worst + (f" (and {len(others)} more)" if others else ""), details=others + details, fix=fix,
                    evidence=evidence)
    interesting = [k for k in ("registry-mirrors", "insecure-registries", "proxies", "data-root", "storage-driver")
                   if k in cfg.keys]
    return passed(f"{path} is valid" + (f" and sets {', '.join(interesting)}; nothing in it blocks ECR pulls"
                                        if interesting else "; nothing in it affects ECR pulls"),
                  details=details, evidence=evidence)
