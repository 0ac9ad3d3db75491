"""The docker daemon side: DOCKER_HOST, version strings, connection errors, daemon.json, disk and socket facts.

Parsers are pure (text in, value or DaemonError out). `measure_disk` and `inspect_socket` are the two
measurements of the local filesystem the runtime checks need; they take a Path and only stat it."""

from __future__ import annotations

import grp
import ipaddress
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = "unix://" + DEFAULT_SOCKET

# Free space under the daemon's data root (E1): a pull needs room for the compressed download and the
# extracted layers; below these figures it fails with `no space left on device`.
LOW_FREE_BYTES = 2 * 1024 ** 3
LOW_FREE_PERCENT = 5.0
FULL_FREE_BYTES = 256 * 1024 ** 2
FULL_FREE_PERCENT = 1.0
LOW_FREE_INODES_PERCENT = 5.0
FULL_FREE_INODES_PERCENT = 1.0


class DaemonError(ValueError):
    """Text the daemon side (dockerd, the docker CLI) would reject or that cannot be understood."""

    def __init__(self, message: str, line: Optional[int] = None, column: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


# -- DOCKER_HOST ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerEndpoint:
    """The daemon address docker uses: DOCKER_HOST, or the default unix socket."""

    url: str
    scheme: str  # "unix" | "tcp" | "ssh" | "npipe" | "fd"
    socket_path: Optional[str] = None  # for unix://
    host: Optional[str] = None  # for tcp:// and ssh://
    from_env: bool = False  # DOCKER_HOST was set (and not empty)

    @property
    def loopback(self) -> bool:
        if self.host is None:
            return False
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    @property
    def over_network(self) -> bool:
        """Reached over TCP or SSH: possibly another machine, whose disk and network are not this host's."""
        return self.scheme in ("tcp", "ssh")

    @property
    def is_default(self) -> bool:
        return self.scheme == "unix" and self.socket_path in (DEFAULT_SOCKET, "/run/docker.sock")


def parse_docker_host(value: Optional[str]) -> DockerEndpoint:
    """DOCKER_HOST as the docker CLI reads it; unset or empty means the default unix socket."""
    if value is None or not value.strip():
        return DockerEndpoint(DEFAULT_HOST, "unix", socket_path=DEFAULT_SOCKET)
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise DaemonError(f"DOCKER_HOST={text} has no scheme: docker expects unix:///path/to/docker.sock, "
                          "tcp://host:port or ssh://user@host")
    if scheme == "unix":
        path = rest if rest.startswith("/") else "/" + rest
        if not rest:
            raise DaemonError(f"DOCKER_HOST={text} names no socket path")
        return DockerEndpoint(text, "unix", socket_path=path, from_env=True)
    if scheme in ("tcp", "ssh", "http", "https"):
        try:
            host = urlsplit(text).hostname
        except ValueError as exc:
            raise DaemonError(f"DOCKER_HOST={text} is not a valid address ({exc})") from None
        if not host:
            raise DaemonError(f"DOCKER_HOST={text} names no host")
        return DockerEndpoint(text, "ssh" if scheme == "ssh" else "tcp", host=host, from_env=True)
    if scheme in ("npipe", "fd"):
        return DockerEndpoint(text, scheme, from_env=True)
    raise DaemonError(f"DOCKER_HOST={text} has the unknown scheme {scheme!r}: docker accepts unix, tcp, ssh, "
                      "npipe and fd")


def classify_connect_error(text: str) -> str:
    """Why the docker SDK could not reach the daemon, from its exception text.

    "missing" (no socket file), "refused" (nothing listening: a stale socket or a stopped daemon),
    "permission" (the socket's owner/group keep this user out), "timeout" (connected, no answer),
    or "other"."""
    lowered = text.lower()
    if "filenotfounderror" in lowered or "no such file or directory" in lowered:
        return "missing"
    if "permissionerror" in lowered or "permission denied" in lowered:
        return "permission"
    if "connectionrefusederror" in lowered or "connection refused" in lowered:
        return "refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    return "other"


# -- versions ------------------------------------------------------------------------------------

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Version:
    """A version as docker and its tools print it, compared by its numbers: `20.10.24+dfsg1` is (20, 10, 24)."""

    major: int
    minor: int
    patch: int
    text: str

    @property
    def key(self) -> Tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def older_than(self, major: int, minor: int, patch: int = 0) -> bool:
        return self.key < (major, minor, patch)


def parse_version(text: str) -> Version:
    """A version as docker prints it (`28.2.2`, `20.10.24+dfsg1`, `1.13.1`, `v25.0.8-ce`)."""
    match = _VERSION.match(text.strip())
    if not match:
        raise DaemonError(f"{text.strip()[:60]!r} is not a version number")
    major, minor, patch = (int(g) if g else 0 for g in match.groups())
    return Version(major, minor, patch, text.strip())


@dataclass(frozen=True)
class CliVersion:
    product: str  # "docker", or "podman" when `docker` is podman-docker's wrapper
    version: Version


_CLI = re.compile(r"^\s*(docker|podman) version\s+(\S+?),?(?:\s|$)", re.I | re.M)


def parse_cli_version(output: str) -> CliVersion:
    """`docker --version` output: `Docker version 28.2.2, build e6534b4` (or podman-docker's `podman version 4.3.1`)."""
    match = _CLI.search(output)
    if not match:
        first = output.strip().splitlines()[0][:80] if output.strip() else "nothing"
        raise DaemonError(f"`docker --version` printed {first!r}, not `Docker version X.Y.Z`")
    return CliVersion(match.group(1).lower(), parse_version(match.group(2)))


# -- disk ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskUsage:
    """statvfs of the filesystem holding a directory: space and inodes an unprivileged writer may use."""

    path: str
    total_bytes: int
    free_bytes: int
    total_inodes: int  # 0 when the filesystem has no fixed inode table (btrfs)
    free_inodes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def free_inodes_percent(self) -> Optional[float]:
        return 100.0 * self.free_inodes / self.total_inodes if self.total_inodes else None


def measure_disk(path: Path) -> DiskUsage:
    """os.statvfs on `path` (raises OSError when it cannot be measured); free figures as `df` shows them."""
    st = os.statvfs(path)
    return DiskUsage(str(path), st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize, st.f_files, st.f_favail)


@dataclass(frozen=True)
class DiskVerdict:
    level: str  # "ok" | "low" | "full"
    reasons: Tuple[str, ...] = ()


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def disk_verdict(usage: DiskUsage) -> DiskVerdict:
    """Full: a pull will fail with `no space left on device`; low: a large image may not fit."""
    full: list[str] = []
    low: list[str] = []
    free = f"{human_bytes(usage.free_bytes)} free ({usage.free_percent:.1f}% of {human_bytes(usage.total_bytes)})"
    if usage.free_bytes < FULL_FREE_BYTES or usage.free_percent < FULL_FREE_PERCENT:
        full.append(f"only {free}")
    elif usage.free_bytes < LOW_FREE_BYTES or usage.free_percent < LOW_FREE_PERCENT:
        low.append(f"only {free}")
    pct = usage.free_inodes_percent
    if pct is not None:
        inodes = f"{usage.free_inodes} of {usage.total_inodes} inodes free ({pct:.1f}%)"
        if pct < FULL_FREE_INODES_PERCENT:
            full.append(f"only {inodes}")
        elif pct < LOW_FREE_INODES_PERCENT:
            low.append(f"only {inodes}")
    if full:
        return DiskVerdict("full", tuple(full + low))
    if low:
        return DiskVerdict("low", tuple(low))
    return DiskVerdict("ok")


# -- the daemon socket ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketInfo:
    """Who may open the daemon socket, and who this process is."""

    path: str
    uid: int
    gid: int
    mode: int  # permission bits, e.g. 0o660
    group: Optional[str]  # name of gid, when known
    euid: int
    process_gids: Tuple[int, ...]  # effective gid and supplementary groups of this process

    @property
    def mode_text(self) -> str:
        return f"{self.mode:04o}"


def inspect_socket(path: Path) -> Optional[SocketInfo]:
    """stat the daemon socket (None when it cannot be stat'ed); the group name from this machine's group db."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        group: Optional[str] = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = None
    gids = tuple(sorted({os.getegid(), *os.getgroups()}))
    return SocketInfo(str(path), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), group, os.geteuid(), gids)


def group_members(group_file: str, name: str) -> Optional[Tuple[str, ...]]:
    """The members /etc/group lists for a group (None when the group is not there)."""
    for line in group_file.splitlines():
        fields = line.strip().split(":")
        if len(fields) >= 4 and fields[0] == name:
            return tuple(m.strip() for m in fields[3].split(",") if m.strip())
    return None


# -- daemon.json -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonProxies:
    """daemon.json `proxies` (Engine >= 23), user:password of proxy URLs removed."""

    http_proxy: Optional[str] = None
    https_proxy: Optional[str] = None
    no_proxy: Optional[str] = None


@dataclass(frozen=True)
class DaemonConfig:
    """The daemon.json settings that matter for pulling from ECR."""

    keys: Tuple[str, ...] = ()
    registry_mirrors: Tuple[str, ...] = ()
    insecure_registries: Tuple[str, ...] = ()
    proxies: Optional[DaemonProxies] = None
    data_root: Optional[str] = None
    storage_driver: Optional[str] = None
    empty: bool = False  # the file holds only whitespace


def _reject_constant(name: str) -> Any:
    raise DaemonError(f"{name} is not valid JSON")


def _strings(doc: Dict[str, Any], key: str) -> Tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DaemonError(f"`{key}` must be a list of strings, not {type(value).__name__}")
    return tuple(value)


def _string(doc: Dict[str, Any], key: str) -> Optional[str]:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DaemonError(f"`{key}` must be a string, not {type(value).__name__}")
    return value


def parse_daemon_config(text: str) -> DaemonConfig:
    """Parse daemon.json as dockerd does before starting; DaemonError means dockerd refuses to start."""
    if text.startswith("\ufeff"):
        raise DaemonError("the file starts with a UTF-8 byte order mark, which Go's JSON parser rejects", 1, 1)
    if not text.strip():
        return DaemonConfig(empty=True)
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DaemonError(exc.msg, exc.lineno, exc.colno) from None
    if not isinstance(doc, dict):
        raise DaemonError(f"the top level is a JSON {type(doc).__name__}, not an object")
    proxies: Optional[DaemonProxies] = None
    raw_proxies = doc.get("proxies")
    if raw_proxies is not None:
        if not isinstance(raw_proxies, dict):
            raise DaemonError(f"`proxies` must be an object, not {type(raw_proxies).__name__}")
        proxy_values = {k: _string(raw_proxies, k) for k in ("http-proxy", "https-proxy", "no-proxy")}
        proxies = DaemonProxies(
            http_proxy=strip_userinfo(proxy_values["http-proxy"]) if proxy_values["http-proxy"] else None,
            https_proxy=strip_userinfo(proxy_values["https-proxy"]) if proxy_values["https-proxy"] else None,
            no_proxy=proxy_values["no-proxy"] or None,
        )
    return DaemonConfig(
        keys=tuple(doc),
        registry_mirrors=tuple(strip_userinfo(m) for m in _strings(doc, "registry-mirrors")),
        insecure_registries=_strings(doc, "insecure-registries"),
        proxies=proxies,
        data_root=_string(doc, "data-root") or _string(doc, "graph"),
        storage_driver=_string(doc, "storage-driver"),
    )


def strip_userinfo(url: str) -> str:
    """A proxy URL without its `user:password@` part (never print a proxy password)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    host = authority.rsplit("@", 1)[-1]  # like Go's url.Parse, the last @ ends the userinfo
    return f"{scheme}{sep}{host}{slash}{path}"


def mirror_problem(url: str) -> Optional[str]:
    """Why dockerd rejects a registry-mirrors entry (it then refuses to start), or None."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return f'invalid mirror: "{text}" is not a URL'
    # dockerd's own words (registry.ValidateMirror), as `failed to start daemon: ...` in its log
    if parts.scheme not in ("http", "https"):
        return f'invalid mirror: unsupported scheme "{parts.scheme}" in "{text}"'
    if (parts.path and parts.path != "/") or parts.query or parts.fragment:
        return f'invalid mirror: path, query, or fragment at end of the URI "{text}"'
    return None


def mirror_host(url: str) -> str:
    return (urlsplit(url.strip()).netloc or url).rsplit("@", 1)[-1].lower()


def no_proxy_covers(no_proxy: Optional[str], host: str, port: int = 443) -> bool:
    """Whether dockerd (a Go program) would bypass its proxy for host:port; the rules live in proxyenv."""
    from ecrdoctor.proxyenv import go_no_proxy_entry

    name, _, given = host.lower().rpartition(":") if re.search(r":\d+$", host) else (host.lower(), "", "")
    return go_no_proxy_entry(no_proxy, name, int(given) if given else port) is not None


def current_context(config_text: Optional[str]) -> Optional[str]:
    """`currentContext` of a docker client config.json (None when absent, `default`, or unreadable)."""
    if not config_text:
        return None
    try:
        doc = json.loads(config_text)
    except ValueError:
        return None
    value = doc.get("currentContext") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value and value != "default" else None
