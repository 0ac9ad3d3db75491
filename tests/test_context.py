"""The context and host: facts computed once, files under --root, users, container and EC2 detection."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ecrdoctor.context import Context, RunOptions, parse_target
from ecrdoctor.host import Host
from ecrdoctor.reference import ReferenceError
from tests.conftest import ec2_root


def test_a_shared_fact_is_computed_once_even_under_concurrency() -> None:
    ctx = Context.create(RunOptions())
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.1)
        return "value"

    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(ctx.fact("x", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and got == ["value"] * 8


def test_a_failing_fact_raises_the_same_error_to_every_caller() -> None:
    ctx = Context.create(RunOptions())
    calls: list[int] = []

    def broken() -> str:
        calls.append(1)
        raise OSError("nope")

    for _ in range(3):
        with pytest.raises(OSError, match="nope"):
            ctx.fact("y", broken)
    assert calls == [1]


def test_docker_config_is_parsed_once_per_run(home: Path) -> None:
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text('{"credsStore": "ecr-login"}')
    ctx = Context.create(RunOptions())
    assert ctx.docker_config() is ctx.docker_config()
    assert ctx.docker_config().effective.creds_store == "ecr-login"


def test_files_are_read_under_root(tmp_path: Path) -> None:
    (tmp_path / "etc/docker").mkdir(parents=True)
    (tmp_path / "etc/docker/daemon.json").write_text("{}")
    host = Host(env={}, root=str(tmp_path))
    read = host.read_text("/etc/docker/daemon.json")
    assert read.ok and read.text == "{}" and read.path == "/etc/docker/daemon.json"
    missing = host.read_text("/etc/ecs/ecs.config")
    assert missing.missing and not missing.ok
    (tmp_path / "dir.json").mkdir()
    assert host.read_text("/dir.json").error == "is a directory"


def test_sudo_invoking_users_home_comes_from_passwd_under_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nec2-user:x:1000:1000::/home/ec2-user:/bin/bash\n")
    host = Host(env={"SUDO_USER": "ec2-user"}, root=str(tmp_path))
    assert host.sudo_user == "ec2-user"
    assert host.user_home("ec2-user") == "/home/ec2-user"
    assert Host(env={"SUDO_USER": "root"}).sudo_user is None


def test_container_and_ec2_detection(tmp_path: Path) -> None:
    plain = Host(env={}, root=str(tmp_path / "plain"))
    assert not plain.in_container() and not plain.on_ec2()
    root = ec2_root(tmp_path / "ec2")
    (root / ".dockerenv").write_text("")
    host = Host(env={}, root=str(root))
    assert host.in_container() and host.on_ec2() and host.ec2_instance_id() == "i-0123456789abcdef0"


def test_run_has_a_timeout_never_uses_a_shell_and_redacts(tmp_path: Path) -> None:
    host = Host(env={"PATH": "/usr/bin:/bin"})
    started = time.monotonic()
    slow = host.run(["sleep", "5"], timeout=0.3)
    assert slow.timed_out and time.monotonic() - started < 2
    echoed = host.run(["echo", '{"Secret": "hunter2-value"}; ls'], timeout=5)
    assert echoed.stdout.strip() == '{"Secret": "[REDACTED]"}; ls'  # `; ls` stayed a literal argument
    assert host.run(["no-such-program-xyz"], timeout=5).not_found
    with pytest.raises(ValueError):
        host.run(["true"], timeout=0)


def test_context_run_is_bounded_by_what_is_left_of_the_deadline() -> None:
    ctx = Context.create(RunOptions(timeout=0.5))
    started = time.monotonic()
    assert ctx.run(["sleep", "5"], timeout=30).timed_out
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("text", "kind", "repository"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "private", None),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4", "private", "team/app"),
        ("public.ecr.aws/nginx/nginx:1", "public", "nginx/nginx"),
        ("ghcr.io/org/app", "other", "org/app"),
    ],
)
def test_the_image_argument_may_be_a_registry_host_alone(text: str, kind: str, repository: str) -> None:
    spec = parse_target(text)
    assert spec.registry.kind == kind
    assert (spec.image.repository if spec.image else None) == repository


def test_an_unparseable_image_argument_raises_reference_error() -> None:
    with pytest.raises(ReferenceError):
        parse_target("Team/App:1")


def test_resolve_entries_are_parsed_like_curls() -> None:
    from ecrdoctor.context import parse_resolve

    assert parse_resolve(["123456789012.dkr.ecr.us-east-1.amazonaws.com:443:127.0.0.1", "h:5443:[::1]"]) == {
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", 443): "127.0.0.1", ("h", 5443): "::1"}
    with pytest.raises(ValueError, match="HOST:PORT:ADDRESS"):
        parse_resolve(["no-port-here"])
