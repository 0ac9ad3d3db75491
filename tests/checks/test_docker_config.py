"""docker.config and docker.credentials through the real runner, with real config files and environment variables."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import ecrdoctor.checks.docker_config as docker_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from ecrdoctor.render import report_text
from tests.conftest import write_docker_config

CATALOGUE = Catalogue((docker_checks.docker_config, docker_checks.docker_credentials))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
WEST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
OTHER_ACCOUNT = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
LOGIN = f"aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin {HOST}"
NO_CREDS = f"docker has no credentials for {HOST}: "
# What `docker login` stores: base64("AWS:<token>"); the marker must never reach a report.
MARKER = "ecrdoctor-test-secret-Zq8vK3"
AUTH = base64.b64encode(f"AWS:{MARKER}".encode()).decode()
REAL_PATH = os.environ.get("PATH", os.defpath)


@pytest.fixture(autouse=True)
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only this directory: no credential helper of this machine is auto-detected by docker's rules."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


def run(image: Optional[str] = IMAGE, **opts: Any) -> Report:
    return run_check(RunOptions(image=image, timeout=15, **opts), catalogue=CATALOGUE)


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def config_result(image: Optional[str] = IMAGE, **opts: Any) -> Result:
    return result(run(image, **opts), "docker.config")


def credentials_result(image: Optional[str] = IMAGE, **opts: Any) -> Result:
    return result(run(image, **opts), "docker.credentials")


def fix_commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


def run_pasted(command: str) -> subprocess.CompletedProcess[str]:
    """Run a fix command the way a user pastes it into a shell (python3 resolves to the test interpreter)."""
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + REAL_PATH, "LC_ALL": "C.UTF-8"}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


def make_executable(directory: Path, name: str) -> None:
    exe = directory / name
    exe.write_text("#!/bin/sh\nexit 1\n")
    exe.chmod(0o755)


def ec2_user_root(tmp_path: Path) -> Path:
    """A --root laid out like an Amazon Linux instance: root and ec2-user in /etc/passwd."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     "ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/bash\n")
    (root / "root").mkdir()
    (root / "home/ec2-user").mkdir(parents=True)
    return root


def write_config_at(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def as_unprivileged_user(func: Callable[[], dict[str, Any]], timeout: float = 10) -> dict[str, Any]:
    """Run func in a forked child that dropped root to nobody (65534), and return what it returned.

    Root reads any file, so a `permission denied` only happens for an ordinary user; the child runs the
    same code the CLI would, with the real open() failing with EACCES."""
    if os.geteuid() != 0:
        return func()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = {"ok": func()}
        except BaseException:
            payload, code = {"error": traceback.format_exc()}, 1
        try:
            os.write(write_end, json.dumps(payload).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    data, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the unprivileged child did not finish in time")
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    payload = json.loads(data)
    assert "ok" in payload, payload.get("error")
    return payload["ok"]  # type: ignore[no-any-return]


@pytest.fixture
def world_readable_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A HOME an unprivileged user can reach (pytest's tmp_path is root-only), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="ecrdoctor-home-"))
    try:
        base.chmod(0o755)
        monkeypatch.setenv("HOME", str(base))
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


# == docker.config ====================================================================================

def test_config_with_helper_store_and_logins_is_read_and_counted(home: Path) -> None:
    path = write_docker_config(home, {
        "credHelpers": {HOST: "ecr-login", "gcr.io": "gcloud"},
        "credsStore": "ecr-login",
        "auths": {"ghcr.io": {"auth": base64.b64encode(b"me:pat").decode()}},
        "psFormat": "table {{.ID}}",
    })
    r = config_result()
    assert r.status is Status.PASS
    assert r.summary == f"docker reads {path} (credHelpers for 2 host(s), credsStore ecr-login, 1 auths entry)"
    assert r.details == (f"DOCKER_CONFIG is not set and HOME={home}, so docker reads {path}",)
    assert r.evidence == {"path": str(path), "source": "HOME", "credHelpers": 2, "credsStore": "ecr-login",
                          "auths": 1}


@pytest.mark.parametrize("text", ["{}", "", "\n"])
def test_empty_config_left_by_docker_logout_is_valid(home: Path, text: str) -> None:
    path = home / ".docker" / "config.json"
    path.parent.mkdir()
    path.write_text(text)
    r = config_result()
    assert r.status is Status.PASS
    assert r.summary == f"docker reads {path} (no credential settings)"


def test_fresh_host_without_config_is_offered_the_helper_and_a_login(home: Path) -> None:
    path = home / ".docker" / "config.json"
    report = run()
    r = result(report, "docker.config")
    assert r.status is Status.WARN
    assert r.summary == (f"{path} does not exist: docker starts with an empty config (no credential helper, "
                         "no logins)")
    assert fix_commands(r)[1] == LOGIN
    assert fix_commands(r)[0] == docker_checks.credhelper_command(str(path), HOST)
    # the user's next pull fails for the same reason; the renderer points back at this fix
    creds = result(report, "docker.credentials")
    assert creds.status is Status.FAIL and creds.fix == r.fix

    proc = run_pasted(fix_commands(r)[0])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(path.read_text()) == {"credHelpers": {HOST: "ecr-login"}}
    after = run()
    assert result(after, "docker.config").status is Status.PASS
    assert result(after, "docker.credentials").summary == (
        f"docker will use docker-credential-ecr-login (credHelpers['{HOST}']) for {HOST}")


@pytest.mark.parametrize("image", [None, "public.ecr.aws/nginx/nginx:latest", "ghcr.io/org/app:1"])
def test_missing_config_offers_no_ecr_helper_fix_when_no_private_registry_is_targeted(image: Optional[str]) -> None:
    r = config_result(image)
    assert r.status is Status.WARN
    assert "does not exist" in r.summary
    assert r.fix is None


def test_trailing_comma_from_a_hand_edit_makes_docker_ignore_the_whole_file(home: Path) -> None:
    path = home / ".docker" / "config.json"
    path.parent.mkdir()
    path.write_text('{\n  "credHelpers": {\n    "' + HOST + '": "ecr-login",\n  }\n}\n')
    report = run()
    r = result(report, "docker.config")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{path} is invalid at line 4, column 3: ")
    assert "docker ignores the whole file and pulls with no credentials" in r.summary
    assert any("WARNING: Error parsing config file" in d for d in r.details)
    assert fix_commands(r) == (f"python3 -m json.tool {path}",)
    shown = run_pasted(fix_commands(r)[0])  # the fix is a diagnostic: it must point at the same place
    assert shown.returncode != 0 and "line 4 column 3" in shown.stderr
    creds = result(report, "docker.credentials")
    assert creds.status is Status.SKIP and creds.summary == "needs docker.config"


@pytest.mark.parametrize(("auth", "words"), [
    pytest.param(MARKER + "!", "has an 'auth' value that is not valid base64", id="not_base64"),
    pytest.param(base64.b64encode(MARKER.encode()).decode(), "decodes to a value without a ':'",
                 id="token_pasted_without_user"),
    pytest.param(base64.b64encode(f":{MARKER}".encode()).decode(), "with an empty user name", id="empty_user"),
])
def test_hand_written_auths_entry_with_bad_auth_makes_docker_ignore_the_whole_file(
        home: Path, auth: str, words: str) -> None:
    path = write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}, "auths": {HOST: {"auth": auth}}})
    report = run()
    r = result(report, "docker.config")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"{path} is invalid: invalid auth configuration file: auths entry '{HOST}' ")
    assert words in r.summary
    assert result(report, "docker.credentials").status is Status.SKIP
    dumped = json.dumps(report.to_dict()) + report_text(report, verbose=True)
    assert MARKER not in dumped and auth not in dumped


def test_bind_mount_of_a_missing_config_left_a_directory_named_config_json(home: Path) -> None:
    # `docker run -v ~/.docker/config.json:/root/.docker/config.json ...` without the file creates a directory
    path = home / ".docker" / "config.json"
    path.mkdir(parents=True)
    report = run()
    r = result(report, "docker.config")
    assert r.status is Status.FAIL
    assert r.summary == f"docker cannot read {path}: is a directory"
    assert fix_commands(r) == (f"sudo rmdir {path}",)
    assert result(report, "docker.credentials").status is Status.SKIP


def test_config_json_left_root_owned_by_sudo_docker_login_is_unreadable(world_readable_home: Path) -> None:
    path = write_config_at(world_readable_home / ".docker" / "config.json", {"credHelpers": {HOST: "ecr-login"}})
    path.parent.chmod(0o755)
    path.chmod(0o600)  # owned by root, as `sudo docker login` with HOME kept leaves it

    def check() -> dict[str, Any]:
        return run().to_dict()

    report = as_unprivileged_user(check)
    r = next(x for x in report["results"] if x["id"] == "docker.config")
    assert r["status"] == "fail"
    assert r["summary"] == f"docker cannot read {path}: permission denied"
    assert r["fix"]["commands"] == [f'sudo chown "$(id -u):$(id -g)" {path}']
    assert next(x for x in report["results"] if x["id"] == "docker.credentials")["status"] == "skip"


@pytest.mark.parametrize("value", [
    pytest.param('{"auths": {', id="truncated_json"),
    pytest.param(json.dumps({"auths": {HOST: {"username": "AWS", "password": MARKER}}}),
                 id="username_password_instead_of_auth"),
])
def test_ci_sets_a_docker_auth_config_that_docker_ignores(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          value: str) -> None:
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", value)
    report = run()
    r = result(report, "docker.config")
    assert r.status is Status.FAIL
    assert r.summary.startswith("DOCKER_AUTH_CONFIG is set but invalid (")
    assert r.summary.endswith("); docker ignores it")
    assert fix_commands(r) == ("unset DOCKER_AUTH_CONFIG",)
    assert r.fix is not None and "[REDACTED]" not in r.fix.text and "base64" in r.fix.text
    assert result(report, "docker.credentials").summary == "needs docker.config"
    assert MARKER not in json.dumps(report.to_dict())


def test_docker_config_variable_points_docker_at_another_directory(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})  # the file the user edited
    ci_dir = tmp_path / "ci-docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(ci_dir))
    report = run()
    r = result(report, "docker.config")
    assert r.status is Status.WARN
    assert r.summary.startswith(f"{ci_dir}/config.json does not exist")
    assert r.details[0] == f"DOCKER_CONFIG={ci_dir} is set, so docker reads {ci_dir}/config.json"
    assert r.evidence["source"] == "DOCKER_CONFIG"
    assert fix_commands(r)[0] == docker_checks.credhelper_command(f"{ci_dir}/config.json", HOST)
    assert result(report, "docker.credentials").status is Status.FAIL

    write_config_at(ci_dir / "config.json", {"credsStore": "ecr-login"})
    r = config_result()
    assert r.status is Status.PASS and r.summary == f"docker reads {ci_dir}/config.json (credsStore ecr-login)"


def test_empty_docker_config_variable_is_treated_as_unset(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_docker_config(home, {"credsStore": "ecr-login"})
    monkeypatch.setenv("DOCKER_CONFIG", "")
    r = config_result()
    assert r.status is Status.PASS and r.summary.startswith(f"docker reads {path} ")
    assert r.details[0].startswith("DOCKER_CONFIG is set but empty, which docker treats as unset")


def test_config_is_read_under_root_from_a_mounted_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = ec2_user_root(tmp_path)
    write_config_at(root / "home/ec2-user/.docker/config.json", {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("HOME", "/home/ec2-user")
    report = run(root=str(root))
    r = result(report, "docker.config")
    assert r.status is Status.PASS
    assert r.summary == "docker reads /home/ec2-user/.docker/config.json (credHelpers for 1 host(s))"
    assert result(report, "docker.credentials").status is Status.PASS


def test_sudo_docker_reads_roots_config_not_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = ec2_user_root(tmp_path)
    write_config_at(root / "home/ec2-user/.docker/config.json", {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("HOME", "/root")  # what sudo sets
    monkeypatch.setenv("SUDO_USER", "ec2-user")
    report = run(root=str(root))
    r = result(report, "docker.config")
    assert r.status is Status.WARN
    assert r.summary.startswith("/root/.docker/config.json does not exist")
    assert "running under sudo from ec2-user: docker reads /root/.docker/config.json, not " \
           "/home/ec2-user/.docker/config.json" in r.details
    assert fix_commands(r)[0] == docker_checks.credhelper_command("/root/.docker/config.json", HOST)
    creds = result(report, "docker.credentials")
    assert creds.status is Status.FAIL and creds.summary.startswith(NO_CREDS)


def test_sudo_with_home_kept_reads_the_users_own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `sudo -E docker pull` (or sudo on older Ubuntu) keeps HOME: docker reads the user's file after all
    root = ec2_user_root(tmp_path)
    write_config_at(root / "home/ec2-user/.docker/config.json", {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("HOME", "/home/ec2-user")
    monkeypatch.setenv("SUDO_USER", "ec2-user")
    report = run(root=str(root))
    r = result(report, "docker.config")
    assert r.status is Status.PASS
    assert not any("root's config" in d or "not /home/ec2-user/.docker/config.json" in d for d in r.details)
    assert result(report, "docker.credentials").status is Status.PASS


def test_sudo_from_a_directory_user_missing_from_etc_passwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SSSD / LDAP users have no line in /etc/passwd; the detail must not print "None/.docker/config.json"
    root = ec2_user_root(tmp_path)
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("SUDO_USER", "jdoe")
    r = config_result(root=str(root))
    sudo_lines = [d for d in r.details if d.startswith("running under sudo from jdoe")]
    assert sudo_lines == ["running under sudo from jdoe: docker reads /root/.docker/config.json, not "
                          "~jdoe/.docker/config.json"]


# == docker.credentials: pass =========================================================================

def test_credhelpers_entry_for_the_exact_host_uses_the_ecr_helper(home: Path) -> None:
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login", WEST: "ecr-login"}})
    r = credentials_result()
    assert r.status is Status.PASS
    assert r.summary == f"docker will use docker-credential-ecr-login (credHelpers['{HOST}']) for {HOST}"
    assert r.evidence["source"] == "cred-helper" and r.evidence["key"] == HOST
    assert r.evidence["near_misses"] == []


def test_mac_config_with_desktop_store_still_uses_the_ecr_helper_for_its_host(home: Path) -> None:
    write_docker_config(home, {"credsStore": "desktop", "credHelpers": {HOST: "ecr-login"}})
    r = credentials_result()
    assert r.status is Status.PASS
    assert "docker-credential-ecr-login" in r.summary
    assert "credsStore 'desktop' is not used for this host because credHelpers selects ecr-login" in r.details


def test_credsstore_ecr_login_covers_every_registry(home: Path) -> None:
    write_docker_config(home, {"credsStore": "ecr-login"})
    r = credentials_result("210987654321.dkr.ecr.eu-central-1.amazonaws.com/x:1")
    assert r.status is Status.PASS
    assert r.summary == ("docker will use docker-credential-ecr-login (credsStore) for "
                         "210987654321.dkr.ecr.eu-central-1.amazonaws.com")


@pytest.mark.parametrize("key", [HOST, f"https://{HOST}", f"https://{HOST}/v2/"])
def test_static_docker_login_in_auths_is_used(home: Path, key: str) -> None:
    # docker normalises auths keys (an old `docker login` wrote them with a scheme), unlike credHelpers keys
    write_docker_config(home, {"auths": {key: {"auth": AUTH}}})
    r = credentials_result()
    assert r.status is Status.PASS
    assert r.summary == f"docker will use the auths entry '{key}' stored by `docker login` for {HOST}"
    assert r.evidence["source"] == "auths"


def test_docker_auth_config_wins_over_the_credhelper(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {HOST: {"auth": AUTH}}}))
    report = run()
    assert result(report, "docker.config").status is Status.PASS
    r = result(report, "docker.credentials")
    assert r.status is Status.PASS
    assert r.summary == f"docker will use the DOCKER_AUTH_CONFIG variable (entry '{HOST}') for {HOST}"
    assert (f"credHelpers entry '{HOST}' (ecr-login) is ignored because DOCKER_AUTH_CONFIG has an entry for "
            "this host") in r.details


def test_ecr_public_pulls_anonymously_without_any_login() -> None:
    r = credentials_result("public.ecr.aws/nginx/nginx:latest")
    assert r.status is Status.PASS
    assert r.summary == "no credentials for public.ecr.aws: docker pulls from ECR Public anonymously"


# == docker.credentials: info =========================================================================

def test_registry_that_is_not_ecr_is_pulled_anonymously(home: Path) -> None:
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    r = credentials_result("ghcr.io/org/app:1")
    assert r.status is Status.INFO
    assert r.summary == "no credentials for ghcr.io: docker pulls anonymously"


def test_without_image_lists_the_ecr_registries_the_config_covers(home: Path) -> None:
    write_docker_config(home, {
        "credHelpers": {HOST: "ecr-login", "gcr.io": "gcloud"},
        "auths": {"public.ecr.aws": {"auth": AUTH}, "ghcr.io": {"auth": AUTH}},
    })
    report = run(None)
    r = result(report, "docker.credentials")
    assert r.status is Status.INFO
    assert r.summary == "the docker config covers 2 ECR registries"
    assert r.details == (f"{HOST}: docker-credential-ecr-login (credHelpers['{HOST}'])",
                         "public.ecr.aws: the auths entry 'public.ecr.aws' stored by `docker login`")
    assert r.evidence == {"hosts": [HOST, "public.ecr.aws"]}
    assert result(report, "docker.config").fix is None


def test_without_image_a_config_for_other_registries_names_no_ecr_registry(home: Path) -> None:
    write_docker_config(home, {"credHelpers": {"gcr.io": "gcloud"}, "auths": {"ghcr.io": {"auth": AUTH}}})
    r = credentials_result(None)
    assert r.status is Status.INFO
    assert r.summary == "the docker config names no ECR registry"
    assert r.evidence == {"hosts": []}


def test_without_image_a_schemed_credhelpers_key_is_not_reported_as_covering(home: Path) -> None:
    write_docker_config(home, {"credHelpers": {f"https://{HOST}": "ecr-login"}})
    r = credentials_result(None)
    assert r.status is Status.WARN
    assert r.summary == "the docker config covers 0 of the 1 ECR registry it names"
    assert r.details == (f"{HOST}: no credentials (credHelpers key 'https://{HOST}' has a scheme; docker looks up "
                         "the bare host exactly, so it never matches)",)
    assert r.evidence == {"hosts": [HOST]}


def test_without_image_lists_registries_from_docker_auth_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {HOST: {"auth": AUTH}}}))
    r = credentials_result(None)
    assert r.status is Status.INFO
    assert r.summary == "the docker config covers 1 ECR registry"
    assert r.details == (f"{HOST}: the DOCKER_AUTH_CONFIG variable (entry '{HOST}')",)


# == docker.credentials: warn =========================================================================

@pytest.mark.parametrize("store", ["desktop", "osxkeychain", "secretservice"])
def test_config_copied_from_a_desktop_asks_a_keychain_that_cannot_mint_ecr_tokens(home: Path, store: str) -> None:
    path = write_docker_config(home, {"credsStore": store})
    r = credentials_result()
    assert r.status is Status.WARN
    assert r.summary == (f"docker asks docker-credential-{store} (credsStore) for {HOST}: a keychain store "
                         "returns only what `docker login` saved, never a fresh ECR token")
    assert fix_commands(r) == (docker_checks.credhelper_command(str(path), HOST), LOGIN)


def test_headless_box_with_pass_installed_auto_detects_docker_credential_pass(home: Path, bin_dir: Path) -> None:
    make_executable(bin_dir, "pass")
    make_executable(bin_dir, "docker-credential-pass")
    write_docker_config(home, {})
    r = credentials_result()
    assert r.status is Status.WARN
    assert "docker-credential-pass (credsStore)" in r.summary
    assert "the config names no credential store, so docker auto-detects docker-credential-pass" in r.details
    assert r.evidence["helper"] == "pass"


def test_headless_box_with_distro_credential_helpers_auto_detects_secretservice(bin_dir: Path) -> None:
    # Ubuntu's golang-docker-credential-helpers on a server: no config file at all, still a store
    make_executable(bin_dir, "docker-credential-secretservice")
    r = credentials_result()
    assert r.status is Status.WARN
    assert "docker-credential-secretservice (credsStore)" in r.summary
    assert "the config names no credential store, so docker auto-detects docker-credential-secretservice" \
           in r.details


def test_pass_without_its_docker_helper_means_no_store_and_no_fallback(home: Path, bin_dir: Path) -> None:
    make_executable(bin_dir, "pass")
    make_executable(bin_dir, "docker-credential-secretservice")
    write_docker_config(home, {})
    r = credentials_result()
    assert r.status is Status.FAIL
    assert r.summary == NO_CREDS + "no credHelpers entry, no credsStore and no auths entry match it"


# == docker.credentials: fail =========================================================================

def test_no_credential_source_for_the_host_gives_no_basic_auth_credentials(home: Path) -> None:
    path = write_docker_config(home, {"credHelpers": {"gcr.io": "gcloud"}, "auths": {"ghcr.io": {"auth": AUTH}},
                                      "proxies": {"default": {"httpsProxy": "http://proxy:3128"}}})
    r = credentials_result()
    assert r.status is Status.FAIL
    assert r.summary == NO_CREDS + "no credHelpers entry, no credsStore and no auths entry match it"
    assert "so docker sends none, and the pull fails with `no basic auth credentials`" in r.details
    assert fix_commands(r) == (docker_checks.credhelper_command(str(path), HOST), LOGIN)

    # the offered one-liner adds the entry and keeps everything else in the file
    proc = run_pasted(fix_commands(r)[0])
    assert proc.returncode == 0, proc.stderr
    fixed = json.loads(path.read_text())
    assert fixed == {"credHelpers": {"gcr.io": "gcloud", HOST: "ecr-login"}, "auths": {"ghcr.io": {"auth": AUTH}},
                     "proxies": {"default": {"httpsProxy": "http://proxy:3128"}}}
    assert credentials_result().status is Status.PASS


def test_credhelper_one_liner_copes_with_a_home_that_has_spaces(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    odd = tmp_path / "Jane's home"
    odd.mkdir()
    monkeypatch.setenv("HOME", str(odd))
    r = credentials_result()
    proc = run_pasted(fix_commands(r)[0])
    assert proc.returncode == 0, proc.stderr
    assert json.loads((odd / ".docker" / "config.json").read_text()) == {"credHelpers": {HOST: "ecr-login"}}
    assert credentials_result().status is Status.PASS


@pytest.mark.parametrize(("section", "key", "kind", "sentence"), [
    pytest.param("credHelpers", f"https://{HOST}", "scheme",
                 f"credHelpers key 'https://{HOST}' has a scheme; docker looks up the bare host exactly, so it "
                 "never matches", id="credhelpers_key_copied_with_https"),
    pytest.param("credHelpers", "*.dkr.ecr.us-east-1.amazonaws.com", "wildcard",
                 "credHelpers key '*.dkr.ecr.us-east-1.amazonaws.com' uses a wildcard; docker does not expand "
                 "wildcards and looks up the bare host exactly, so it never matches", id="credhelpers_wildcard"),
    pytest.param("credHelpers", f"{HOST}/team", "path",
                 f"credHelpers key '{HOST}/team' has a path; docker looks up the bare host exactly, so it never "
                 "matches", id="credhelpers_key_with_repository_path"),
    pytest.param("credHelpers", WEST, "other-region",
                 f"credHelpers key '{WEST}' is the same account's registry in us-west-2, but the image is in "
                 f"us-east-1; docker needs a key for '{HOST}'", id="credhelpers_for_the_other_region"),
    pytest.param("credHelpers", OTHER_ACCOUNT, "other-account",
                 f"credHelpers key '{OTHER_ACCOUNT}' is account 210987654321's registry, but the image is in "
                 f"account 123456789012; docker needs a key for '{HOST}'", id="credhelpers_for_the_other_account"),
    pytest.param("auths", WEST, "other-region",
                 f"auths key '{WEST}' is the same account's registry in us-west-2, but the image is in us-east-1; "
                 f"docker needs a key for '{HOST}'", id="docker_login_to_the_other_region"),
])
def test_config_key_meant_for_the_image_never_matches(home: Path, section: str, key: str, kind: str,
                                                       sentence: str) -> None:
    value: Any = {"auth": AUTH} if section == "auths" else "ecr-login"
    path = write_docker_config(home, {section: {key: value}})
    r = credentials_result()
    assert r.status is Status.FAIL
    assert r.summary == NO_CREDS + sentence
    assert r.evidence["near_misses"] == [{"section": section, "key": key, "kind": kind}]
    assert fix_commands(r) == (docker_checks.credhelper_command(str(path), HOST), LOGIN)


def test_docker_auth_config_key_with_a_scheme_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # DOCKER_AUTH_CONFIG keys are looked up exactly, like credHelpers: a CI secret written with https:// misses
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {f"https://{HOST}": {"auth": AUTH}}}))
    r = credentials_result()
    assert r.status is Status.FAIL
    assert r.summary == NO_CREDS + (f"DOCKER_AUTH_CONFIG key 'https://{HOST}' has a scheme; docker looks up the "
                                    "bare host exactly, so it never matches")


def test_empty_auths_entry_sends_no_credentials(home: Path) -> None:
    # the old `"auths": {"<host>": {}}` workaround, left behind after credsStore was removed
    path = write_docker_config(home, {"auths": {HOST: {}}})
    r = credentials_result()
    assert r.status is Status.FAIL
    assert r.summary == f"the auths entry '{HOST}' for {HOST} is empty: docker sends no credentials"
    assert fix_commands(r) == (docker_checks.credhelper_command(str(path), HOST), LOGIN)


def test_upper_case_registry_host_gets_no_credentials_from_a_lower_case_key(home: Path) -> None:
    image = "123456789012.dkr.ecr.us-east-1.AMAZONAWS.COM/team/app:1.4"
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    r = credentials_result(image)
    assert r.status is Status.FAIL
    assert "differs from the image host in letter case" in r.summary
    assert fix_commands(r) == (f"docker pull {HOST}/team/app:1.4",)


# == docker.credentials: skip =========================================================================

def test_credentials_are_not_judged_when_docker_ignores_the_config(home: Path) -> None:
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text('{"credHelpers": {"' + HOST + '": "ecr-login"}')  # unclosed
    report = run()
    assert result(report, "docker.config").status is Status.FAIL
    creds = result(report, "docker.credentials")
    assert creds.status is Status.SKIP and creds.summary == "needs docker.config"


# == secrets ==========================================================================================

@pytest.mark.parametrize(("config", "env", "image"), [
    pytest.param({"auths": {HOST: {"auth": AUTH}}}, {}, IMAGE, id="static_login"),
    pytest.param({"auths": {WEST: {"auth": AUTH}}}, {}, IMAGE, id="near_miss_login"),
    pytest.param({"auths": {HOST: {"auth": AUTH}, "public.ecr.aws": {"auth": AUTH}}}, {}, None, id="no_image"),
    pytest.param({"credHelpers": {HOST: "ecr-login"}}, {"DOCKER_AUTH_CONFIG": {"auths": {HOST: {"auth": AUTH}}}},
                 IMAGE, id="docker_auth_config"),
    pytest.param({"auths": {HOST: {"auth": AUTH, "identitytoken": MARKER}}, "credsStore": "desktop"}, {}, IMAGE,
                 id="identity_token_with_keychain"),
])
def test_no_secret_from_the_docker_config_reaches_the_report(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                             config: dict[str, Any], env: dict[str, Any],
                                                             image: Optional[str]) -> None:
    write_docker_config(home, config)
    for name, value in env.items():
        monkeypatch.setenv(name, json.dumps(value))
    report = run(image)
    assert result(report, "docker.config").status is Status.PASS
    outputs = (json.dumps(report.to_dict()), report_text(report), report_text(report, verbose=True))
    for secret in (MARKER, AUTH, AUTH.rstrip("="), base64.b64encode(MARKER.encode()).decode().rstrip("=")):
        for out in outputs:
            assert secret not in out
