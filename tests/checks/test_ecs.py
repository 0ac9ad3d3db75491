"""runtime.ecs-agent through the real runner, against real ecs.config files under --root."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import ecrdoctor.checks.ecs as ecs_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.ecsconfig import parse_ecs_config, parse_engine_auth
from ecrdoctor.model import Report, Result, Status
from tests.conftest import SecretLedger, ecr_password_for

CATALOGUE = Catalogue((ecs_checks.ecs_agent,))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
MARKER = "ecs-test-secret-Wq9z"
HUB_PASSWORD = "hub-password-" + MARKER
CONFIG = "etc/ecs/ecs.config"
RESTART = "sudo systemctl restart ecs"


LEDGER = SecretLedger(ecs_checks.ecs_agent)
secret = LEDGER.add
assert_no_secret = LEDGER.assert_clean


def ecr_password(expiration: float) -> str:
    return secret(ecr_password_for(MARKER, expiration))


def ecr_auth(expiration: float) -> str:
    return secret(base64.b64encode(f"AWS:{ecr_password(expiration)}".encode()).decode())


def hub_auth() -> str:
    return secret(base64.b64encode(f"me:{secret(HUB_PASSWORD)}".encode()).decode())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root/etc/ecs").mkdir(parents=True)
    return tmp_path / "root"


def write_config(root: Path, *lines: str) -> Path:
    path = root / CONFIG
    path.write_text("\n".join(lines) + "\n")
    return path


def run(root: Path, image: Optional[str] = IMAGE) -> Result:
    report: Report = run_check(RunOptions(image=image, root=str(root), timeout=15), catalogue=CATALOGUE)
    result = report.result("runtime.ecs-agent")
    assert result is not None
    if result.status is not Status.SKIP:
        assert_no_secret(root, image)
    text = json.dumps(report.to_dict())
    for secret in (MARKER, base64.b64encode(MARKER.encode()).decode()[:12], HUB_PASSWORD):
        assert secret not in text, "a credential reached the report"
    return result


def commands(result: Result) -> tuple[str, ...]:
    assert result.fix is not None, result
    return result.fix.commands


def run_fix(command: str, root: Path) -> subprocess.CompletedProcess[str]:
    """Run a fix command as pasted, against the fixture tree instead of / and without sudo."""
    local = command.replace("sudo ", "").replace("/etc/ecs/ecs.config", shlex.quote(str(root / CONFIG)))
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", os.defpath),
           "LC_ALL": "C.UTF-8"}
    return subprocess.run(["sh", "-c", local], env=env, capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


def test_ecs_instance_with_a_plain_config_passes(root: Path) -> None:
    write_config(root, "ECS_CLUSTER=prod", "ECS_ENABLE_TASK_IAM_ROLE=true")
    r = run(root)
    assert r.status is Status.PASS
    assert r.summary == "/etc/ecs/ecs.config: no static ECR credentials, no proxy, ECS_IMAGE_PULL_BEHAVIOR=default"
    assert any("falls back to a cached copy" in d for d in r.details)
    assert any("task execution role" in d for d in r.details)


def test_host_that_is_not_an_ecs_instance_skips(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    r = run(tmp_path / "root")
    assert r.status is Status.SKIP and "not an ECS container instance" in r.summary


def test_unreadable_ecs_config_skips_with_the_reason(root: Path) -> None:
    (root / CONFIG).mkdir()
    r = run(root)
    assert r.status is Status.SKIP and "cannot read /etc/ecs/ecs.config: is a directory" in r.summary


def test_ecr_login_pasted_into_engine_auth_data_expired_after_12_hours(root: Path) -> None:
    data = json.dumps({f"https://{HOST}": {"auth": ecr_auth(time.time() - 2 * 3600), "email": "ops@example.com"}})
    write_config(root, "ECS_CLUSTER=prod", "ECS_ENGINE_AUTH_TYPE=dockercfg", f"ECS_ENGINE_AUTH_DATA={data}")
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"ECS_ENGINE_AUTH_DATA in /etc/ecs/ecs.config holds an ECR token for {HOST} that "
                                "expired ")
    assert "(2 h ago)" in r.summary
    assert commands(r) == ("sudo sed -i '/^ECS_ENGINE_AUTH_\\(TYPE\\|DATA\\)=/d' /etc/ecs/ecs.config", RESTART)
    assert run_fix(commands(r)[0], root).returncode == 0
    assert run(root).status is Status.PASS


def test_static_ecr_token_still_valid_warns_that_it_will_expire(root: Path) -> None:
    data = json.dumps({HOST: {"username": "AWS", "password": ecr_password(time.time() + 5 * 3600 + 60)}})
    write_config(root, "ECS_ENGINE_AUTH_TYPE=docker", f"ECS_ENGINE_AUTH_DATA={data}")
    r = run(root)
    assert r.status is Status.WARN
    assert f"holds static credentials for the ECR registry {HOST}" in r.summary and "(in 5 h)" in r.summary


def test_expired_token_for_another_region_only_warns_for_this_image(root: Path) -> None:
    data = json.dumps({HOST: {"auth": ecr_auth(time.time() - 3600)}})
    write_config(root, "ECS_ENGINE_AUTH_TYPE=dockercfg", f"ECS_ENGINE_AUTH_DATA={data}")
    r = run(root, image="123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app:1.4")
    assert r.status is Status.WARN and "expired " in r.summary


def test_fix_removes_only_the_ecr_registry_and_keeps_docker_hub(root: Path) -> None:
    data = json.dumps({"https://index.docker.io/v1/": {"auth": hub_auth()},
                       HOST: {"auth": ecr_auth(time.time() - 3600)}})
    write_config(root, "ECS_CLUSTER=prod", "ECS_ENGINE_AUTH_TYPE=dockercfg", f"ECS_ENGINE_AUTH_DATA={data}")
    r = run(root)
    assert r.status is Status.FAIL
    fix = commands(r)
    assert fix[0].startswith("sudo python3 -c ") and fix[0].endswith(f"/etc/ecs/ecs.config {HOST}")
    assert fix[-1] == RESTART
    done = run_fix(fix[0], root)
    assert done.returncode == 0, done.stderr
    assert MARKER not in done.stdout + done.stderr
    cfg = parse_ecs_config((root / CONFIG).read_text())
    assert cfg.values["ECS_CLUSTER"] == "prod"
    auth = parse_engine_auth(cfg.values["ECS_ENGINE_AUTH_TYPE"], cfg.values["ECS_ENGINE_AUTH_DATA"])
    assert [e.key for e in auth.entries] == ["https://index.docker.io/v1/"]
    assert run(root).status is Status.PASS


def test_quoted_auth_data_could_not_be_parsed_by_the_agent(root: Path) -> None:
    data = json.dumps({"registry.example.com": {"auth": hub_auth()}})
    write_config(root, "ECS_ENGINE_AUTH_TYPE=dockercfg", f"ECS_ENGINE_AUTH_DATA='{data}'")
    r = run(root)
    assert r.status is Status.WARN
    assert "Could not parse 'dockercfg' type auth config" in r.summary and "quoted" in r.summary
    assert commands(r) == ("sudoedit /etc/ecs/ecs.config", RESTART)


@pytest.mark.parametrize("auth_type", ["dockercfg", "docker"])
def test_auth_data_copied_from_config_json_with_its_outer_auths(root: Path, auth_type: str) -> None:
    data = json.dumps({"auths": {"registry.example.com": {"auth": hub_auth()}}})
    write_config(root, f"ECS_ENGINE_AUTH_TYPE={auth_type}", f"ECS_ENGINE_AUTH_DATA={data}")
    r = run(root)
    assert r.status is Status.WARN
    assert "outer 'auths' object" in r.summary and "registry.example.com" in r.summary


def test_dockercfg_data_under_docker_type_sends_no_username(root: Path) -> None:
    data = json.dumps({"registry.example.com": {"auth": hub_auth()}})
    write_config(root, "ECS_ENGINE_AUTH_TYPE=docker", f"ECS_ENGINE_AUTH_DATA={data}")
    r = run(root)
    assert r.status is Status.WARN and "the dockercfg format" in r.summary


def test_auth_data_without_its_type_is_ignored_by_the_agent(root: Path) -> None:
    write_config(root, f"ECS_ENGINE_AUTH_DATA={json.dumps({'registry.example.com': {'auth': hub_auth()}})}")
    r = run(root)
    assert r.status is Status.WARN and "ECS_ENGINE_AUTH_TYPE is not set" in r.summary


def test_proxy_without_metadata_exemptions_breaks_agent_credentials(root: Path) -> None:
    write_config(root, "ECS_CLUSTER=prod", "HTTP_PROXY=http://squid:s3cr3tpw@10.0.0.131:3128",
                 "NO_PROXY=169.254.169.254")
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith("HTTP_PROXY=http://10.0.0.131:3128 is set in /etc/ecs/ecs.config but NO_PROXY does "
                                "not exempt 169.254.170.2")
    assert "s3cr3tpw" not in json.dumps([r.summary, *r.details, r.evidence])
    assert commands(r) == ("echo NO_PROXY=169.254.169.254,169.254.170.2,/var/run/docker.sock | sudo tee -a "
                           "/etc/ecs/ecs.config", RESTART)
    assert run_fix(commands(r)[0], root).returncode == 0
    fixed = run(root)
    assert fixed.status is Status.PASS and "proxy exemptions in place" in fixed.summary


def test_proxy_with_a_link_local_cidr_but_no_docker_socket_warns(root: Path) -> None:
    write_config(root, "HTTP_PROXY=10.0.0.131:3128", "NO_PROXY=169.254.0.0/16")
    r = run(root)
    assert r.status is Status.WARN and "NO_PROXY lacks /var/run/docker.sock" in r.summary


@pytest.mark.parametrize("behaviour", ["once", "prefer-cached"])
def test_pull_behaviour_that_keeps_running_cached_images_warns(root: Path, behaviour: str) -> None:
    write_config(root, "ECS_CLUSTER=prod", f"ECS_IMAGE_PULL_BEHAVIOR={behaviour}")
    r = run(root)
    assert r.status is Status.WARN
    assert r.summary.startswith(f"ECS_IMAGE_PULL_BEHAVIOR={behaviour}: an image already on this instance is not "
                                "pulled again")
    assert commands(r) == ("sudo sed -i 's/^ECS_IMAGE_PULL_BEHAVIOR=.*/ECS_IMAGE_PULL_BEHAVIOR=always/' "
                           "/etc/ecs/ecs.config", RESTART)


def test_export_line_copied_from_a_shell_script_is_never_seen(root: Path) -> None:
    write_config(root, "ECS_CLUSTER=prod", "export ECS_IMAGE_PULL_BEHAVIOR=always")
    r = run(root)
    assert r.status is Status.WARN
    assert "line 2 sets 'export ECS_IMAGE_PULL_BEHAVIOR' instead of ECS_IMAGE_PULL_BEHAVIOR" in r.summary


def test_several_causes_lead_with_the_failure_and_list_the_rest(root: Path) -> None:
    write_config(root, "ECS_IMAGE_PULL_BEHAVIOR=once", "HTTP_PROXY=http://proxy:3128",
                 "ECS_ENGINE_AUTH_TYPE=dockercfg", f"ECS_ENGINE_AUTH_DATA={json.dumps({HOST: {'auth': ecr_auth(1)}})}")
    r = run(root, image=None)
    assert r.status is Status.FAIL and "expired 1970-01-01 00:00 UTC" in r.summary
    assert any(d.startswith("also (fail): HTTP_PROXY=http://proxy:3128") for d in r.details)
    assert any(d.startswith("also (warn): ECS_IMAGE_PULL_BEHAVIOR=once") for d in r.details)
    assert commands(r)[-1] == RESTART and commands(r).count(RESTART) == 1


def _evidence(r: Result) -> dict[str, Any]:
    return dict(r.evidence)


def test_evidence_names_keys_and_registries_never_values(root: Path) -> None:
    data = json.dumps({HOST: {"auth": ecr_auth(time.time() + 3600)}})
    write_config(root, "ECS_CLUSTER=prod", "ECS_ENGINE_AUTH_TYPE=dockercfg", f"ECS_ENGINE_AUTH_DATA={data}")
    ev = _evidence(run(root))
    assert ev["auth_registries"] == [HOST] and ev["auth_type"] == "dockercfg"
    assert "ECS_ENGINE_AUTH_DATA" in ev["keys"] and data not in json.dumps(ev)
