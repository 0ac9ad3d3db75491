"""The installed console script, run as a user runs it: exit codes, formats, deadline, plugins."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.checks.test_ecr import push_index
from tests.conftest import (
    MotoServer,
    ecrdoctor_exe,
    hermetic_env,
    read_until_closed,
    run_cli,
    write_docker_config,
    write_plugin,
)
from tests.dockerd_fixtures import Dockerd, dockerd_fixture  # noqa: F401 - the `dockerd` fixture

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
# Full runs here leave out the network and registry probes: they would ask the machine's DNS about
# AWS names (off loopback). tests/checks/test_net.py and test_registry.py drive them on loopback.
NO_NET = ["--skip", "net.*", "--skip", "registry.*"]
README = Path(__file__).resolve().parent.parent / "README.md"

SLEEPY = """
import time
from ecrdoctor.api import check, passed

@check("plugin.sleepy", title="Sleeps far past any deadline", timeout=60)
def sleepy(ctx):
    time.sleep(30)
    return passed("woke up")
"""


def env_for(home: Path, moto: MotoServer, dockerd: Dockerd, **extra: str) -> dict[str, str]:
    """A host whose AWS side lives in moto (team/app:1.4 pushed) and whose docker daemon is real."""
    ecr = moto.boto3_client("ecr")
    ecr.create_repository(repositoryName="team/app")
    push_index(ecr, "1.4", ["linux/amd64", "linux/arm64/v8"])
    return hermetic_env(home, **moto.env(), DOCKER_HOST=dockerd.url, **extra)


def helper_config(home: Path) -> None:
    write_docker_config(home, {"credHelpers": {IMAGE.split("/")[0]: "ecr-login"}})


def test_help_and_version_through_both_entry_points(home: Path) -> None:
    env = hermetic_env(home)
    out = run_cli(["--help"], env)
    assert out.returncode == 0 and "check" in out.stdout and "explain" in out.stdout
    mod = subprocess.run([sys.executable, "-m", "ecrdoctor", "--version"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert mod.returncode == 0 and re.fullmatch(r"ecrdoctor \d+\.\d+\.\d+\n", mod.stdout)
    for command in ("check", "checks", "explain"):
        sub = run_cli([command, "--help"], env)
        assert sub.returncode == 0 and "Usage" in sub.stdout, command


def test_healthy_host_exits_0_and_json_validates(home: Path, moto: MotoServer, dockerd: Dockerd,
                                                 schema_validator: Callable[[object], None]) -> None:
    helper_config(home)
    out = run_cli(["check", IMAGE, "--format", "json", *NO_NET], env_for(home, moto, dockerd))
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    schema_validator(report)
    assert report["diagnosis"] == []
    assert report["target"]["account"] == "123456789012" and report["target"]["repository"] == "team/app"
    statuses = {r["id"]: r["status"] for r in report["results"]}
    assert statuses["docker.credentials"] == "pass" and statuses["aws.identity"] == "info"
    for cid in ("ecr.repository", "ecr.image", "ecr.platform", "runtime.docker", "iam.auth-token"):
        assert statuses[cid] == "pass", (cid, report["results"])
    assert not [r for r in report["results"] if r["status"] in ("fail", "error")]
    assert out.stderr == ""  # no progress line when stderr is not a terminal


def test_missing_helper_config_exits_1_and_text_names_cause_and_fix(home: Path, moto: MotoServer,
                                                                   dockerd: Dockerd) -> None:
    out = run_cli(["check", IMAGE, *NO_NET], env_for(home, moto, dockerd))
    assert out.returncode == 1
    text = out.stdout
    assert "\x1b[" not in text  # piped: no ANSI codes
    diagnosis = text.split("Diagnosis", 1)[1].split("\n\n", 1)[0]
    assert "docker has no credentials for 123456789012.dkr.ecr.us-east-1.amazonaws.com" in diagnosis
    assert ("$ aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com") in diagnosis


def test_json_to_output_file(home: Path, moto: MotoServer, dockerd: Dockerd, tmp_path: Path,
                             schema_validator: Callable[[object], None]) -> None:
    target = tmp_path / "report.json"
    out = run_cli(["check", IMAGE, "--format", "json", "-o", str(target), *NO_NET],
                  env_for(home, moto, dockerd))
    assert out.returncode == 1 and out.stdout == ""
    report = json.loads(target.read_text())
    schema_validator(report)
    assert report["diagnosis"][0] == "docker.credentials"
    assert report["summary"]["status"] == "fail"


@pytest.mark.parametrize("bad", ["Team/App:1", "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "a b",
                                 "app:bad tag"])
def test_unparseable_reference_is_a_usage_error(home: Path, bad: str) -> None:
    out = run_cli(["check", bad], hermetic_env(home))
    assert out.returncode == 2
    assert "cannot parse image reference" in out.stderr and out.stdout == ""


def test_bad_option_is_a_usage_error(home: Path) -> None:
    assert run_cli(["check", IMAGE, "--format", "yaml"], hermetic_env(home)).returncode == 2
    assert run_cli(["explain", "no.such-check"], hermetic_env(home)).returncode == 2


def test_fail_on_warn_and_exit_zero(home: Path) -> None:
    env = hermetic_env(home)  # no docker config at all: docker.config warns
    args = ["check", IMAGE, "--only", "docker.config"]
    assert run_cli(args, env).returncode == 0
    assert run_cli([*args, "--fail-on", "warn"], env).returncode == 1
    assert run_cli([*args, "--fail-on", "warn", "--exit-zero"], env).returncode == 0


def test_deadline_ends_the_run_on_time_with_the_check_in_error(home: Path, tmp_path: Path,
                                                               schema_validator: Callable[[object], None]) -> None:
    plugins = write_plugin(tmp_path / "site", "ecrdoctor-sleepy", {"sleepy": "sleepy_plugin"},
                           {"sleepy_plugin": SLEEPY})
    env = hermetic_env(home, PYTHONPATH=str(plugins))
    started = time.monotonic()
    out = run_cli(["check", IMAGE, "--only", "plugin.*", "--timeout", "2", "--format", "json"], env)
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 1, f"took {elapsed:.2f} s"
    assert out.returncode == 3
    report = json.loads(out.stdout)
    schema_validator(report)
    sleepy = next(r for r in report["results"] if r["id"] == "plugin.sleepy")
    assert sleepy["status"] == "error" and sleepy["summary"].startswith("timed out after 2 s")


def test_plugin_that_fails_to_import_is_an_error_not_a_crash(home: Path, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path / "site", "ecrdoctor-broken", {"broken": "broken_plugin"},
                           {"broken_plugin": "import does_not_exist_anywhere\n"})
    env = hermetic_env(home, PYTHONPATH=str(plugins))
    out = run_cli(["check", IMAGE, "--only", "target.reference", "--format", "json"], env)
    assert out.returncode == 3
    errors = [r for r in json.loads(out.stdout)["results"] if r["status"] == "error"]
    assert [r["id"] for r in errors] == ["plugin.broken"]
    assert "broken_plugin" in errors[0]["summary"] and "ModuleNotFoundError" in errors[0]["summary"]
    listing = run_cli(["checks"], env)
    assert listing.returncode == 0 and "could not load broken_plugin" in listing.stdout


def _readme_plugin() -> str:
    text = README.read_text()
    match = re.search(r"<!-- plugin-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README has no plugin example block"
    return match.group(1)


def test_the_readme_plugin_example_works(home: Path, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path / "site", "ecrdoctor-example", {"proxy_env": "ecrdoctor_example"},
                           {"ecrdoctor_example": _readme_plugin()})
    env = hermetic_env(home, PYTHONPATH=str(plugins), HTTPS_PROXY="http://proxy.internal:3128")
    listing = json.loads(run_cli(["checks", "--format", "json"], env).stdout)
    assert "example.proxy-env" in [c["id"] for c in listing["checks"]]
    explained = run_cli(["explain", "example.proxy-env"], env)
    assert explained.returncode == 0 and "NO_PROXY" in explained.stdout
    out = run_cli(["check", IMAGE, "--only", "example.*", "--format", "json"], env)
    result = next(r for r in json.loads(out.stdout)["results"] if r["id"] == "example.proxy-env")
    assert result["status"] == "warn" and "169.254.169.254" in result["summary"]
    assert out.returncode == 0


def test_checks_lists_the_catalogue_and_explain_uses_the_docstring(home: Path) -> None:
    env = hermetic_env(home)
    rows = json.loads(run_cli(["checks", "--format", "json"], env).stdout)["checks"]
    ids = [r["id"] for r in rows]
    for expected in ("target.reference", "docker.config", "docker.credentials", "aws.credentials", "aws.identity"):
        assert expected in ids
    assert ids.index("docker.config") < ids.index("docker.credentials")
    text = run_cli(["checks"], env).stdout
    assert all(i in text for i in ids)
    explained = run_cli(["explain", "docker.credentials"], env).stdout
    assert "exact host key" in explained.lower() or "EXACT host key" in explained
    assert "Requires: docker.config" in explained


def test_progress_line_goes_to_stderr_only_on_a_terminal(home: Path) -> None:
    import os
    import pty

    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([ecrdoctor_exe(), "check", IMAGE, "--offline"], env=hermetic_env(home),
                              stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL, timeout=60)
        os.close(secondary)
        seen = read_until_closed(primary)
    finally:
        os.close(primary)
    assert b"done" in seen  # the live line: "N/M done; running ..."
    assert b"done;" not in proc.stdout and b"\x1b[" not in proc.stdout  # the report itself stays clean


def test_bad_resolve_and_missing_ca_bundle_are_usage_errors(home: Path, tmp_path: Path) -> None:
    env = hermetic_env(home)
    bad = run_cli(["check", IMAGE, "--resolve", "nonsense"], env)
    assert bad.returncode == 2 and "HOST:PORT:ADDRESS" in bad.stderr
    missing = run_cli(["check", IMAGE, "--ca-bundle", str(tmp_path / "none.pem")], env)
    assert missing.returncode == 2 and "is not a file" in missing.stderr
