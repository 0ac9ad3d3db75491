"""runtime.podman through the real runner: containers auth files and registries.conf under --root."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import ecrdoctor.checks.podman as podman_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Result, Status
from tests.conftest import SecretLedger, ecr_password_for, need

CATALOGUE = Catalogue((podman_checks.podman_credentials,))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
MARKER = "podman-test-secret-Lk2"
HOME = "/home/ec2-user"
USER_AUTH = f"{HOME}/.config/containers/auth.json"
LOGIN = f"aws ecr get-login-password --region us-east-1 | podman login --username AWS --password-stdin {HOST}"
REAL_HELPER = "/usr/bin/docker-credential-ecr-login"


LEDGER = SecretLedger(podman_checks.podman_credentials)
secret = LEDGER.add
assert_no_secret = LEDGER.assert_clean


def ecr_auth(expiration: float) -> str:
    password = secret(ecr_password_for(MARKER, expiration))
    return secret(base64.b64encode(f"AWS:{password}".encode()).decode())


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host with podman on PATH and ec2-user's home; no XDG or REGISTRY_AUTH_FILE settings."""
    base = tmp_path / "root"
    (base / HOME.lstrip("/")).mkdir(parents=True)
    podman = base / "usr/bin/podman"
    podman.parent.mkdir(parents=True)
    podman.write_text("#!/bin/sh\nexit 0\n")
    podman.chmod(0o755)
    for name in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", HOME)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    return base


@pytest.fixture
def ecr_login_helper(root: Path) -> Path:
    """The real amazon-ecr-credential-helper binary on the host's PATH."""
    need("docker-credential-ecr-login (apt-get install amazon-ecr-credential-helper)", os.path.exists(REAL_HELPER))
    link = root / "usr/bin/docker-credential-ecr-login"
    link.symlink_to(REAL_HELPER)
    return link


def write_json(root: Path, path: str, doc: Any) -> Path:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def run(root: Path, image: Optional[str] = IMAGE) -> Result:
    report = run_check(RunOptions(image=image, root=str(root), timeout=15), catalogue=CATALOGUE)
    result = report.result("runtime.podman")
    assert result is not None
    if result.status is not Status.SKIP:
        assert_no_secret(root, image)
    assert MARKER not in json.dumps(report.to_dict()), "a credential reached the report"
    return result


def commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


def run_fix(command: str, root: Path) -> subprocess.CompletedProcess[str]:
    """A fix command as pasted, with the home directory inside the fixture tree."""
    local = command.replace(f" {HOME}/", f" {shlex.quote(str(root) + HOME)}/")
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", os.defpath)}
    return subprocess.run(["sh", "-c", local], env=env, capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


# --- pass, info and skip ---------------------------------------------------------------------------

def test_podman_with_the_ecr_helper_in_containers_auth_json_passes(root: Path, ecr_login_helper: Path) -> None:
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})
    r = run(root)
    assert r.status is Status.PASS
    assert r.summary == f"podman, buildah and skopeo use credential helper ecr-login ({USER_AUTH}) for {HOST}"
    assert "docker-credential-ecr-login is at /usr/bin/docker-credential-ecr-login" in r.details
    uid = os.geteuid()
    assert r.evidence["search_order"] == [f"/run/containers/{uid}/auth.json", USER_AUTH,
                                          f"{HOME}/.docker/config.json", f"{HOME}/.dockercfg"]


def test_docker_config_cred_helper_is_honoured_by_podman(root: Path, ecr_login_helper: Path) -> None:
    write_json(root, f"{HOME}/.docker/config.json", {"credHelpers": {HOST: "ecr-login"}})
    r = run(root)
    assert r.status is Status.PASS and f"({HOME}/.docker/config.json)" in r.summary


def test_registries_conf_credential_helpers_answer_before_the_auth_files(root: Path, ecr_login_helper: Path) -> None:
    write_json(root, "/etc/containers/registries.conf", 'credential-helpers = ["ecr-login", "containers-auth.json"]\n')
    r = run(root)
    assert r.status is Status.PASS
    assert "credential helper ecr-login (registries.conf credential-helpers)" in r.summary


def test_host_without_podman_or_its_files_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin")
    (tmp_path / "empty").mkdir()
    r = run(tmp_path / "empty")
    assert r.status is Status.SKIP
    assert r.summary == "no podman, buildah or skopeo on PATH and no containers auth.json or registries.conf"


def test_registries_conf_alone_makes_the_check_apply(root: Path) -> None:
    (root / "usr/bin/podman").unlink()
    write_json(root, "/etc/containers/registries.conf", 'unqualified-search-registries = ["docker.io"]\n')
    assert run(root, image=None).status is Status.INFO


def test_without_image_lists_the_ecr_registries_covered(root: Path) -> None:
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"},
                                 "auths": {"public.ecr.aws": {"auth": ecr_auth(time.time() + 3600)}}})
    r = run(root, image=None)
    assert r.status is Status.INFO
    assert r.summary == "the containers auth files cover 2 ECR registries"
    assert f"{HOST}: credential helper ecr-login ({USER_AUTH})" in r.details


def test_without_image_an_expired_login_anywhere_warns(root: Path) -> None:
    write_json(root, USER_AUTH, {"auths": {HOST: {"auth": ecr_auth(time.time() - 3600)}}})
    r = run(root, image=None)
    assert r.status is Status.WARN and f"holds an ECR token for {HOST} that expired " in r.summary


def test_ecr_public_without_credentials_is_pulled_anonymously(root: Path) -> None:
    r = run(root, image="public.ecr.aws/docker/library/alpine:3")
    assert r.status is Status.PASS and r.summary.endswith("use anonymous access for public.ecr.aws")


# --- causes ----------------------------------------------------------------------------------------

def test_no_credentials_anywhere_and_the_fix_adds_the_helper(root: Path, ecr_login_helper: Path) -> None:
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"no auth file or helper has credentials for {HOST}: podman pulls anonymously")
    assert f"No credentials for {HOST} found" in r.summary
    assert commands(r)[1] == LOGIN
    assert commands(r)[0].endswith(f" {USER_AUTH} {HOST}")
    done = run_fix(commands(r)[0], root)
    assert done.returncode == 0, done.stderr
    assert run(root).status is Status.PASS


def test_helper_named_in_auth_json_is_not_installed(root: Path) -> None:
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})
    write_json(root, "/etc/os-release", 'NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="2023"\n')
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary == (f"{USER_AUTH} sends {HOST} to credential helper 'ecr-login', but docker-credential-ecr-login "
                         "is not on PATH: podman fails with `executable file not found in $PATH`")
    assert commands(r) == ("sudo dnf install -y amazon-ecr-credential-helper",)


def test_helper_missing_on_debian_gets_the_apt_command(root: Path) -> None:
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})
    write_json(root, "/etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    assert commands(run(root)) == ("sudo apt-get install -y amazon-ecr-credential-helper",)


def test_podman_login_from_yesterday_has_expired(root: Path, ecr_login_helper: Path) -> None:
    write_json(root, USER_AUTH, {"auths": {HOST: {"auth": ecr_auth(time.time() - 12 * 3600)}}})
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{USER_AUTH} answers for {HOST} with a static ECR token (auths key '{HOST}') that "
                                "expired ")
    assert "(12 h ago)" in r.summary
    assert commands(r)[1] == LOGIN
    assert run_fix(commands(r)[0], root).returncode == 0  # credHelpers in the same file wins over auths
    assert run(root).status is Status.PASS


def test_fresh_podman_login_warns_that_it_expires(root: Path) -> None:
    write_json(root, USER_AUTH, {"auths": {f"{HOST}/team": {"auth": ecr_auth(time.time() + 5 * 3600 + 60)}}})
    r = run(root)
    assert r.status is Status.WARN
    assert f"(auths key '{HOST}/team'; expires " in r.summary and "(in 5 h)" in r.summary


def test_registry_auth_file_pointing_nowhere(root: Path, ecr_login_helper: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", "/srv/ci/auth.json")
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})  # not read while REGISTRY_AUTH_FILE is set
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary == ("REGISTRY_AUTH_FILE=/srv/ci/auth.json does not exist: podman, buildah and skopeo read only "
                         f"that file, so they have no credentials for {HOST}")
    assert commands(r)[0] == "unset REGISTRY_AUTH_FILE"
    assert r.evidence["search_order"] == ["/srv/ci/auth.json"]


def test_registry_auth_file_with_the_helper_is_the_only_file_read(root: Path, ecr_login_helper: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", "/srv/ci/auth.json")
    write_json(root, "/srv/ci/auth.json", {"credHelpers": {HOST: "ecr-login"}})
    write_json(root, USER_AUTH, {"auths": {HOST: {"auth": ecr_auth(time.time() - 3600)}}})
    r = run(root)
    assert r.status is Status.PASS and "(/srv/ci/auth.json)" in r.summary


def test_runtime_auth_file_shadows_the_helper_in_the_config_dir(root: Path, ecr_login_helper: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    write_json(root, "/run/user/1000/containers/auth.json", {"auths": {HOST: {"auth": ecr_auth(time.time() - 60)}}})
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"/run/user/1000/containers/auth.json answers for {HOST} with a static ECR token")


def test_stale_xdg_runtime_dir_after_sudo_su_skips_the_primary_file(root: Path, ecr_login_helper: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})
    r = run(root)
    assert r.status is Status.WARN
    assert r.summary.startswith("XDG_RUNTIME_DIR=/run/user/1000 does not exist: containers/image skips the primary "
                                "auth file /run/user/1000/containers/auth.json")
    assert commands(r) == ("unset XDG_RUNTIME_DIR",)


def test_auth_json_that_is_not_json_stops_podman(root: Path) -> None:
    write_json(root, USER_AUTH, '{"auths": {,}}')
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{USER_AUTH} is invalid: not valid JSON")
    assert f"python3 -m json.tool {USER_AUTH}" in commands(r)


def test_keychain_store_for_an_ecr_registry_warns(root: Path) -> None:
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "secretservice"}})
    helper = root / "usr/bin/docker-credential-secretservice"
    helper.write_text("#!/bin/sh\nexit 1\n")
    helper.chmod(0o755)
    r = run(root)
    assert r.status is Status.WARN and "a store that returns only what `podman login` saved" in r.summary


def test_registries_conf_blocking_the_registry(root: Path, ecr_login_helper: Path) -> None:
    write_json(root, USER_AUTH, {"credHelpers": {HOST: "ecr-login"}})
    write_json(root, "/etc/containers/registries.conf", f'[[registry]]\nprefix = "{HOST}"\nblocked = true\n')
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary == f"/etc/containers/registries.conf blocks pulls from {HOST} ([[registry]] prefix \"{HOST}\" " \
                        "has blocked = true)"


def test_real_helper_symlink_is_what_the_check_found(root: Path, ecr_login_helper: Path) -> None:
    """The helper the check accepts is the installed amazon-ecr-credential-helper, and it runs."""
    out = subprocess.run([str(ecr_login_helper), "version"], capture_output=True, text=True, timeout=10,
                         stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "HOME": str(root)})
    assert out.returncode == 0 and out.stdout.strip()
    assert shutil.which("docker-credential-ecr-login", path=str(root / "usr/bin")) is not None
