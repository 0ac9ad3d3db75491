"""ecrdoctor.daemon: DOCKER_HOST, versions, connection errors, disk thresholds, daemon.json, by symptom."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ecrdoctor.daemon import (
    DEFAULT_HOST,
    DaemonError,
    DiskUsage,
    classify_connect_error,
    current_context,
    disk_verdict,
    group_members,
    inspect_socket,
    measure_disk,
    mirror_problem,
    no_proxy_covers,
    parse_cli_version,
    parse_daemon_config,
    parse_docker_host,
    parse_version,
    strip_userinfo,
)

GIB = 1024 ** 3
MIB = 1024 ** 2


# -- DOCKER_HOST -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_docker_host_means_the_default_socket(value: str) -> None:
    ep = parse_docker_host(value)
    assert ep.url == DEFAULT_HOST and ep.socket_path == "/var/run/docker.sock"
    assert ep.is_default and not ep.from_env and not ep.over_network


def test_rootless_socket_in_docker_host() -> None:
    ep = parse_docker_host("unix:///run/user/1000/docker.sock")
    assert ep.scheme == "unix" and ep.socket_path == "/run/user/1000/docker.sock" and ep.from_env
    assert not ep.is_default


@pytest.mark.parametrize("value,host,loopback", [
    ("tcp://127.0.0.1:2375", "127.0.0.1", True),
    ("tcp://localhost:2376", "localhost", True),
    ("tcp://10.0.0.5:2376", "10.0.0.5", False),
    ("tcp://[::1]:2375", "::1", True),
    ("ssh://ops@build-host", "build-host", False),
])
def test_daemon_over_the_network(value: str, host: str, loopback: bool) -> None:
    ep = parse_docker_host(value)
    assert ep.over_network and ep.host == host and ep.loopback is loopback


@pytest.mark.parametrize("value,words", [
    ("/var/run/docker.sock", "has no scheme"),
    ("unix://", "names no socket path"),
    ("tcp://:2375", "names no host"),
    ("http2://x", "unknown scheme"),
])
def test_malformed_docker_host(value: str, words: str) -> None:
    with pytest.raises(DaemonError, match=words):
        parse_docker_host(value)


# -- what the docker SDK said -----------------------------------------------------------------------


@pytest.mark.parametrize("text,cause", [
    # docker SDK 7.2.0 texts observed in research/feasibility.md §4 and against the test dockerd
    ("Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or "
     "directory'))", "missing"),
    ("Error while fetching server API version: ('Connection aborted.', PermissionError(13, 'Permission denied'))",
     "permission"),
    ("Error while fetching server API version: ('Connection aborted.', ConnectionRefusedError(111, 'Connection "
     "refused'))", "refused"),
    ("Error while fetching server API version: HTTPConnectionPool(host='127.0.0.1', port=2375): Max retries exceeded "
     "with url: /version (Caused by NewConnectionError(': Failed to establish a new connection: [Errno 111] "
     "Connection refused'))", "refused"),
    ("Error while fetching server API version: UnixHTTPConnectionPool(host='localhost', port=None): Read timed out. "
     "(read timeout=3)", "timeout"),
    ("Error while fetching server API version: Install paramiko package to enable ssh:// support", "other"),
])
def test_connection_errors_are_classified(text: str, cause: str) -> None:
    assert classify_connect_error(text) == cause


# -- versions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("output,product,version", [
    ("Docker version 28.2.2, build e6534b4\n", "docker", (28, 2, 2)),
    ("Docker version 20.10.24+dfsg1, build 297e128\n", "docker", (20, 10, 24)),
    ("Docker version 1.12.6, build 78d1802\n", "docker", (1, 12, 6)),
    ("Docker version 25.0.8, build 0bab007\n", "docker", (25, 0, 8)),
    ("podman version 4.3.1\n", "podman", (4, 3, 1)),
])
def test_cli_version_lines(output: str, product: str, version: tuple[int, int, int]) -> None:
    cli = parse_cli_version(output)
    assert cli.product == product and cli.version.key == version


def test_cli_version_garbage_is_a_typed_error() -> None:
    with pytest.raises(DaemonError, match="not `Docker version X.Y.Z`"):
        parse_cli_version("bash: docker: command not found")
    with pytest.raises(DaemonError):
        parse_cli_version("")


def test_the_28_4_boundary_where_helper_errors_start_to_show() -> None:
    assert parse_version("28.3.3").older_than(28, 4)
    assert not parse_version("28.4.0").older_than(28, 4)
    assert not parse_version("v29.0.1").older_than(28, 4)
    assert parse_version("1.12.6-rhel").older_than(1, 13)
    with pytest.raises(DaemonError):
        parse_version("dev")


# -- disk ------------------------------------------------------------------------------------------


def usage(free: int, total: int, inodes_free: int = 1000, inodes: int = 1000) -> DiskUsage:
    return DiskUsage("/var/lib/docker", total, free, inodes, inodes_free)


@pytest.mark.parametrize("u,level", [
    (usage(50 * GIB, 100 * GIB), "ok"),
    (usage(int(1.5 * GIB), 100 * GIB), "low"),  # under 2 GiB
    (usage(4 * GIB, 100 * GIB), "low"),  # 4 %
    (usage(100 * MIB, 100 * GIB), "full"),  # under 256 MiB
    (usage(8 * GIB, 1000 * GIB), "full"),  # 0.8 %
    (usage(50 * GIB, 100 * GIB, inodes_free=40), "low"),  # 4 % of inodes
    (usage(50 * GIB, 100 * GIB, inodes_free=5), "full"),  # 0.5 % of inodes
    (usage(50 * GIB, 100 * GIB, inodes_free=0, inodes=0), "ok"),  # btrfs: no fixed inode table
])
def test_disk_thresholds(u: DiskUsage, level: str) -> None:
    assert disk_verdict(u).level == level


def test_full_disk_reasons_name_both_space_and_inodes() -> None:
    verdict = disk_verdict(usage(0, 8 * MIB, inodes_free=2, inodes=100))
    assert verdict.level == "full"
    assert verdict.reasons[0] == "only 0 B free (0.0% of 8.0 MiB)"
    assert "2 of 100 inodes free (2.0%)" in verdict.reasons[1]


def test_measure_disk_reads_the_real_filesystem(tmp_path: Path) -> None:
    u = measure_disk(tmp_path)
    assert u.total_bytes > 0 and 0 <= u.free_bytes <= u.total_bytes
    with pytest.raises(OSError):
        measure_disk(tmp_path / "missing")


# -- the socket --------------------------------------------------------------------------------------


def test_inspect_socket_reports_owner_group_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
    path.chmod(0o660)
    info = inspect_socket(path)
    assert info is not None and info.mode_text == "0660" and info.gid in info.process_gids
    assert inspect_socket(tmp_path / "nope.sock") is None


def test_group_members_from_etc_group() -> None:
    text = "root:x:0:\ndocker:x:106:alice, bob\nwheel:x:10:\n"
    assert group_members(text, "docker") == ("alice", "bob")
    assert group_members(text, "wheel") == ()
    assert group_members(text, "podman") is None


# -- daemon.json -------------------------------------------------------------------------------------


def test_daemon_json_settings_that_matter_for_ecr() -> None:
    cfg = parse_daemon_config(json.dumps({
        "registry-mirrors": ["https://mirror.gcr.io"], "insecure-registries": ["10.0.0.0/8"],
        "data-root": "/data/docker", "storage-driver": "overlay2",
        "proxies": {"https-proxy": "http://u:secretpw@proxy:3128", "no-proxy": ".amazonaws.com"}}))
    assert cfg.registry_mirrors == ("https://mirror.gcr.io",) and cfg.insecure_registries == ("10.0.0.0/8",)
    assert cfg.data_root == "/data/docker" and cfg.storage_driver == "overlay2"
    assert cfg.proxies is not None and cfg.proxies.https_proxy == "http://proxy:3128"
    assert "secretpw" not in repr(cfg)
    mirrored = parse_daemon_config('{"registry-mirrors": ["https://bot:hunter22@mirror.corp"]}')
    assert mirrored.registry_mirrors == ("https://mirror.corp",)


def test_trailing_comma_gives_line_and_column() -> None:
    with pytest.raises(DaemonError) as exc:
        parse_daemon_config('{\n  "debug": true,\n}\n')
    assert (exc.value.line, exc.value.column) == (3, 1)


@pytest.mark.parametrize("text,words", [
    ("[]", "not an object"),
    ('{"registry-mirrors": "https://x"}', "must be a list of strings"),
    ('{"data-root": 5}', "must be a string"),
    ('{"proxies": ["http://p"]}', "must be an object"),
    ('{"max-concurrent-downloads": NaN}', "NaN is not valid JSON"),
    ('\ufeff{}', "byte order mark"),
])
def test_daemon_json_that_dockerd_refuses(text: str, words: str) -> None:
    with pytest.raises(DaemonError, match=words):
        parse_daemon_config(text)


def test_empty_daemon_json_is_marked_empty() -> None:
    assert parse_daemon_config(" \n").empty
    assert not parse_daemon_config("{}").empty


@pytest.mark.parametrize("url,problem", [
    ("https://mirror.gcr.io", None),
    ("https://mirror.gcr.io/", None),
    ("http://10.0.0.5:5000", None),
    ("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub",
     'invalid mirror: path, query, or fragment at end of the URI '
     '"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub"'),
    ("mirror.gcr.io", 'invalid mirror: unsupported scheme "" in "mirror.gcr.io"'),
])
def test_mirror_urls_as_dockerd_validates_them(url: str, problem: str) -> None:
    assert mirror_problem(url) == problem


@pytest.mark.parametrize("no_proxy,host,covered", [
    (".amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", True),
    ("amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", True),
    ("*.amazonaws.com", "api.ecr.us-east-1.amazonaws.com", True),
    ("*", "anything.example", True),
    ("localhost,127.0.0.1", "123456789012.dkr.ecr.us-east-1.amazonaws.com", False),
    ("zonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", False),
    (None, "x.amazonaws.com", False),
])
def test_no_proxy_matching(no_proxy: str, host: str, covered: bool) -> None:
    assert no_proxy_covers(no_proxy, host) is covered


def test_strip_userinfo_from_proxy_urls() -> None:
    assert strip_userinfo("http://svc:p@ss@proxy.corp:3128") == "http://proxy.corp:3128"
    assert strip_userinfo("http://proxy.corp:3128/") == "http://proxy.corp:3128/"
    assert strip_userinfo("user:pw@proxy:3128") == "proxy:3128"


def test_current_context_of_a_docker_config() -> None:
    assert current_context('{"currentContext": "desktop-linux"}') == "desktop-linux"
    assert current_context('{"currentContext": "default"}') is None
    assert current_context("not json") is None and current_context(None) is None
