"""docker.token, docker.credsstore and docker.sudo through the real runner: real config files, real ECR-shaped
tokens, executables on a temp PATH, the real docker CLI and credential helper where a symptom depends on them,
and --root trees laid out like an EC2 instance for sudo."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import ecrdoctor.checks.docker_auth as auth_checks
import ecrdoctor.checks.docker_config as config_checks
import pytest

from ecrdoctor.catalogue import Catalogue, causal_rank
from ecrdoctor.context import Context, RunOptions
from ecrdoctor.dockerfacts import docker_cli_version, installed_docker
from ecrdoctor.doctor import run_check
from ecrdoctor.ecrtoken import decode_ecr_auth
from ecrdoctor.model import Report, Result, Status
from ecrdoctor.render import report_text
from tests.conftest import need, write_docker_config
from tests.test_ecrtoken import MARKER, ecr_auth, ecr_password

# in the built-in catalogue's causal order, so the diagnosis is what a user sees
CATALOGUE = Catalogue(tuple(sorted((config_checks.docker_config, config_checks.docker_credentials,
                                    auth_checks.docker_token, auth_checks.docker_credsstore, auth_checks.docker_sudo),
                                   key=causal_rank)))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
WEST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
OTHER_ACCOUNT = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
PUBLIC_IMAGE = "public.ecr.aws/nginx/nginx:latest"
LOGIN = f"aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin {HOST}"
PUBLIC_LOGIN = ("aws ecr-public get-login-password --region us-east-1 | docker login --username AWS --password-stdin "
                "public.ecr.aws")
EXPIRED_SYMPTOM = "denied: Your authorization token has expired. Reauthenticate and try again."
DOCKER_28_2 = Path("/usr/local/bin/docker")  # the pre-installed 28.2.2 client (feasibility.md)
ECR_HELPER = Path("/usr/bin/docker-credential-ecr-login")  # Debian's amazon-ecr-credential-helper 0.6.4
REAL_PATH = os.environ.get("PATH", os.defpath)
SECURE_PATH_AL2 = "/sbin:/bin:/usr/sbin:/usr/bin"


def in_hours(hours: float) -> int:
    return int(time.time() + hours * 3600)


@pytest.fixture(autouse=True)
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only this directory; no desktop session, keyring or pass store of this machine leaks in."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PASSWORD_STORE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return path


def run(image: Optional[str] = IMAGE, **opts: Any) -> Report:
    return run_check(RunOptions(image=image, timeout=20, **opts), catalogue=CATALOGUE)


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def token_result(image: Optional[str] = IMAGE, **opts: Any) -> Result:
    return result(run(image, **opts), "docker.token")


def store_result(image: Optional[str] = IMAGE, **opts: Any) -> Result:
    return result(run(image, **opts), "docker.credsstore")


def sudo_result(image: Optional[str] = IMAGE, **opts: Any) -> Result:
    return result(run(image, **opts), "docker.sudo")


def commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


def make_executable(directory: Path, name: str, body: str = "exit 1\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / name
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    return exe


def fake_docker(bin_dir: Path, version: str) -> None:
    """A `docker` that only answers --version (the check never needs more from it)."""
    make_executable(bin_dir, "docker", f'[ "$1" = --version ] && echo "Docker version {version}, build 0000000" '
                                       f'&& exit 0\nexit 1\n')


def real(bin_dir: Path, binary: Path, name: Optional[str] = None) -> None:
    need(str(binary), binary.exists())
    (bin_dir / (name or binary.name)).symlink_to(binary)


def sh(command: str, env: Optional[dict[str, str]] = None, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run a fix the way a user pastes it into a shell (python3 resolves to the test interpreter)."""
    base = {"PATH": os.path.dirname(sys.executable) + os.pathsep + REAL_PATH, "LC_ALL": "C.UTF-8",
            "HOME": os.environ["HOME"]}
    return subprocess.run(["/bin/sh", "-c", command], env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def leaks(report: Report, *secrets: str) -> list[str]:
    outputs = (json.dumps(report.to_dict()), report_text(report), report_text(report, verbose=True))
    return [s for s in secrets for out in outputs if s and s in out]


# == docker.token: pass ===============================================================================

def test_fresh_docker_login_token_is_valid_for_hours(home: Path) -> None:
    path = write_docker_config(home, {"auths": {HOST: {"auth": ecr_auth(in_hours(11))}}})
    r = token_result()
    assert r.status is Status.PASS
    assert r.summary.startswith(f"the ECR token docker sends to {HOST} (auths entry '{HOST}' in {path}) is valid "
                                "until ")
    assert r.summary.endswith(("(10 h 59 min left)", "(11 h left)"))
    assert 10.9 * 3600 < int(r.evidence["seconds_left"]) <= 11 * 3600
    assert r.fix is None


def test_login_written_with_https_scheme_by_an_old_docker_is_still_read(home: Path) -> None:
    write_docker_config(home, {"auths": {f"https://{HOST}": {"auth": ecr_auth(in_hours(6))}}})
    r = token_result()
    assert r.status is Status.PASS
    assert f"(auths entry 'https://{HOST}' in " in r.summary


# == docker.token: fail / warn ========================================================================

def test_cron_login_from_yesterday_gives_token_has_expired(home: Path) -> None:
    path = write_docker_config(home, {"auths": {HOST: {"auth": ecr_auth(in_hours(-3))}}})
    report = run()
    r = result(report, "docker.token")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the ECR token docker sends to {HOST} (auths entry '{HOST}' in {path}) expired ")
    assert r.summary.endswith("(3 h ago)")
    assert f"docker still sends it, and ECR answers `{EXPIRED_SYMPTOM}`" in r.details
    assert commands(r) == (LOGIN, auth_checks.remove_auths_command(str(path), HOST),
                           config_checks.credhelper_command(str(path), HOST))
    assert report.diagnosis == ("docker.token",)

    # the switch to the helper: drop the token, add the helper; nothing stale remains for docker.token
    for cmd in commands(r)[1:]:
        proc = sh(cmd)
        assert proc.returncode == 0, proc.stderr
    assert json.loads(path.read_text()) == {"auths": {}, "credHelpers": {HOST: "ecr-login"}}
    after = token_result()
    assert after.status is Status.SKIP
    assert after.summary == f"docker gets credentials for {HOST} from docker-credential-ecr-login; no token is stored"


def test_token_with_half_an_hour_left_warns_before_the_pull_breaks(home: Path) -> None:
    write_docker_config(home, {"auths": {HOST: {"auth": ecr_auth(in_hours(0.5))}}})
    r = token_result()
    assert r.status is Status.WARN
    assert " expires " in r.summary and ("(in 29 min)" in r.summary or "(in 30 min)" in r.summary)
    assert commands(r)[0] == LOGIN


def test_old_get_login_token_has_unknown_expiry_with_the_config_age_as_lower_bound(home: Path) -> None:
    path = write_docker_config(home, {"auths": {HOST: {"auth": ecr_auth(None)}}})
    r = token_result()
    assert r.status is Status.WARN
    assert r.summary.endswith("holds an ECR token without an expiration field (as `aws ecr get-login` issued them), "
                              "so its expiry is unknown")
    assert any(d.startswith(f"{path} was last written ") and "the token is at least that old" in d
               for d in r.details)
    assert r.evidence["expiry"] == "unknown"

    # the file has not been written for 13 hours: whatever token it holds is older than ECR's 12 h
    stamp = time.time() - 13 * 3600
    os.utime(path, (stamp, stamp))
    r = token_result()
    assert r.status is Status.FAIL
    assert f"{path} was last written 13 h ago, so the token is older than the 12 h an ECR token lasts: it has " \
           "expired" in r.summary


def test_login_with_a_password_that_is_not_an_ecr_token(home: Path) -> None:
    write_docker_config(home, {"auths": {HOST: {"auth": base64.b64encode(f"AWS:{MARKER}".encode()).decode()}}})
    r = token_result()
    assert r.status is Status.WARN
    assert "does not hold an ECR token" in r.summary and "expiry is unknown" in r.summary


@pytest.mark.parametrize(("other", "why"), [
    pytest.param(WEST, "another region (us-west-2, the image is in us-east-1); ECR tokens are region-bound",
                 id="get_login_password_with_the_wrong_region"),
    pytest.param(OTHER_ACCOUNT, "account 210987654321's registry, not 123456789012's", id="other_accounts_registry"),
])
def test_token_stored_for_another_registry_host_than_the_image(home: Path, other: str, why: str) -> None:
    path = write_docker_config(home, {"auths": {other: {"auth": ecr_auth(in_hours(11))}}})
    r = token_result()
    assert r.status is Status.FAIL
    assert r.summary == f"docker's stored ECR token is for {other}, not the image's {HOST}: {why}"
    assert f"docker sends a stored token only to the host it was stored for, so it sends none to {HOST}: " \
           "`no basic auth credentials`" in r.details
    assert any(d.startswith(f"the token stored for {other} is valid until ") for d in r.details)
    assert commands(r) == (LOGIN, config_checks.credhelper_command(str(path), HOST))
    assert r.evidence["token_host"] == other


def test_stale_login_beside_the_ecr_helper_is_named_for_docker_py_and_old_clis(home: Path) -> None:
    path = write_docker_config(home, {"credHelpers": {HOST: "ecr-login"},
                                      "auths": {HOST: {"auth": ecr_auth(in_hours(-30))}}})
    r = token_result()
    assert r.status is Status.WARN
    assert r.summary.startswith(f"{path} still holds a `docker login` token for {HOST} (auths entry '{HOST}' expired ")
    assert r.summary.endswith("that docker-credential-ecr-login (credHelpers['" + HOST + "']) overrides: the docker "
                              "CLI ignores it, but older CLIs and tools such as docker-py fall back to it")
    assert r.fix is not None
    assert f"`docker logout {HOST}` leaves it in place while ecr-login is configured" in r.fix.text
    assert commands(r) == (auth_checks.remove_auths_command(str(path), HOST),)
    proc = sh(commands(r)[0])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(path.read_text()) == {"credHelpers": {HOST: "ecr-login"}, "auths": {}}
    assert token_result().status is Status.SKIP


def test_docker_logout_really_leaves_the_stale_login_while_ecr_login_is_configured(
        home: Path, bin_dir: Path, tmp_path: Path) -> None:
    # why the fix edits the file: the real CLI + helper print success and keep the entry (helper erase: not implemented)
    real(bin_dir, DOCKER_28_2)
    real(bin_dir, ECR_HELPER)
    path = write_docker_config(home, {"credHelpers": {HOST: "ecr-login"},
                                      "auths": {HOST: {"auth": ecr_auth(in_hours(-30))}}})
    proc = sh(f"docker logout {HOST}", env={"PATH": str(bin_dir), "HOME": str(home),
                                           "AWS_EC2_METADATA_DISABLED": "true"})
    assert proc.returncode == 0, proc.stderr
    assert HOST in json.loads(path.read_text())["auths"]
    assert token_result().status is Status.WARN


def test_stale_login_beside_a_desktop_store_offers_docker_logout(home: Path) -> None:
    path = write_docker_config(home, {"credsStore": "desktop", "auths": {HOST: {"auth": ecr_auth(in_hours(-1))}}})
    r = token_result()
    assert r.status is Status.WARN
    assert "docker-credential-desktop (credsStore) overrides" in r.summary
    assert commands(r) == (f"docker logout {HOST}", auth_checks.remove_auths_command(str(path), HOST))


def test_expired_ecr_public_login_replaces_the_anonymous_pull(home: Path, bin_dir: Path) -> None:
    path = write_docker_config(home, {"auths": {"public.ecr.aws": {"auth": ecr_auth(in_hours(-48))}}})
    report = run(PUBLIC_IMAGE)
    r = result(report, "docker.token")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the ECR token docker sends to public.ecr.aws (auths entry 'public.ecr.aws' in {path})"
                                " expired ")
    assert "without a stored login docker pulls ECR Public images anonymously" in r.details
    assert commands(r) == ("docker logout public.ecr.aws", PUBLIC_LOGIN)

    real(bin_dir, DOCKER_28_2)  # the real CLI carries out the fix
    proc = sh(commands(r)[0], env={"PATH": str(bin_dir), "HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    after = run(PUBLIC_IMAGE)
    assert result(after, "docker.token").status is Status.SKIP
    assert result(after, "docker.credentials").summary == ("no credentials for public.ecr.aws: docker pulls from ECR "
                                                           "Public anonymously")


def test_ci_variable_docker_auth_config_with_an_expired_token(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                              bin_dir: Path) -> None:
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {HOST: {"auth": ecr_auth(in_hours(-2))}}}))
    r = token_result()
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the ECR token docker sends to {HOST} from DOCKER_AUTH_CONFIG (docker CLI 28.3 and "
                                "later) expired ")
    assert f"credHelpers entry '{HOST}' (ecr-login) is ignored because DOCKER_AUTH_CONFIG has an entry for this host" \
        in r.details
    assert commands(r) == ("unset DOCKER_AUTH_CONFIG", auth_checks.docker_auth_config_command(
        auth_checks.parse_registry_host(HOST)))

    # the regenerating command really produces a variable docker accepts, holding the fresh token
    password = ecr_password(in_hours(12))
    make_executable(bin_dir, "aws", f'echo "{password}"\n')
    path = f"{bin_dir}:{os.path.dirname(sys.executable)}:{REAL_PATH}"
    proc = sh(commands(r)[1] + '; printf %s "$DOCKER_AUTH_CONFIG"', env={"PATH": path})
    assert proc.returncode == 0, proc.stderr
    regenerated = json.loads(proc.stdout)
    assert list(regenerated["auths"]) == [HOST]
    assert decode_ecr_auth(regenerated["auths"][HOST]["auth"]).expires_at is not None
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", proc.stdout)
    assert token_result().status is Status.PASS


def test_docker_cli_28_4_reads_docker_auth_config(home: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> None:
    fake_docker(bin_dir, "28.4.0")
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {HOST: {"auth": ecr_auth(in_hours(-2))}}}))
    r = token_result()
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the ECR token docker sends to {HOST} from DOCKER_AUTH_CONFIG expired ")


def test_docker_cli_28_2_ignores_docker_auth_config_and_uses_the_file(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      bin_dir: Path) -> None:
    real(bin_dir, DOCKER_28_2)
    path = write_docker_config(home, {"auths": {HOST: {"auth": ecr_auth(in_hours(8))}}})
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps({"auths": {HOST: {"auth": ecr_auth(in_hours(-2))}}}))
    r = token_result()
    assert r.status is Status.PASS
    assert r.summary.startswith(f"the ECR token docker sends to {HOST} (auths entry '{HOST}' in {path}) is valid")
    assert "docker CLI 28.2.2 ignores DOCKER_AUTH_CONFIG (read since 28.3.0), so the config file decides" in r.details


def test_without_image_every_stored_ecr_token_is_judged_and_the_worst_counts(home: Path) -> None:
    write_docker_config(home, {"auths": {HOST: {"auth": ecr_auth(in_hours(9))},
                                         "public.ecr.aws": {"auth": ecr_auth(in_hours(-5))},
                                         "ghcr.io": {"auth": base64.b64encode(b"me:pat").decode()}}})
    r = token_result(None)
    assert r.status is Status.FAIL
    assert r.summary == "2 stored ECR tokens in the docker config: 1 expired or unusable, 1 valid"
    assert r.details[0].startswith(f"the ECR token docker sends to {HOST} (auths entry '{HOST}' in ")
    assert "is valid until" in r.details[0]
    assert r.details[1].startswith("the ECR token docker sends to public.ecr.aws ") and " expired " in r.details[1]
    assert commands(r) == ("docker logout public.ecr.aws", PUBLIC_LOGIN)


# == docker.token: skip ===============================================================================

@pytest.mark.parametrize(("config", "image", "summary"), [
    pytest.param({"credHelpers": {HOST: "ecr-login"}}, IMAGE,
                 f"docker gets credentials for {HOST} from docker-credential-ecr-login; no token is stored",
                 id="helper_and_no_login"),
    pytest.param({"credsStore": "ecr-login"}, IMAGE,
                 f"docker gets credentials for {HOST} from docker-credential-ecr-login; no token is stored",
                 id="store_and_no_login"),
    pytest.param({"auths": {"ghcr.io": {"auth": "bWU6cGF0"}}}, "ghcr.io/org/app:1", "ghcr.io is not an ECR registry",
                 id="not_ecr"),
    pytest.param({}, None, "no stored ECR token in {path} or DOCKER_AUTH_CONFIG", id="no_image_no_token"),
    pytest.param({}, IMAGE, f"no stored ECR token for {HOST} in {{path}} or DOCKER_AUTH_CONFIG", id="nothing_stored"),
    pytest.param({}, PUBLIC_IMAGE, "no stored ECR token for public.ecr.aws in {path} or DOCKER_AUTH_CONFIG",
                 id="anonymous_public_pull"),
])
def test_token_check_skips_when_no_static_token_is_sent(home: Path, config: dict[str, Any], image: Optional[str],
                                                        summary: str) -> None:
    path = write_docker_config(home, config)
    r = token_result(image)
    assert r.status is Status.SKIP
    assert r.summary == summary.format(path=path)


def test_token_check_is_skipped_when_docker_ignores_the_config(home: Path) -> None:
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text('{"auths": {')
    r = token_result()
    assert r.status is Status.SKIP and r.summary == "needs docker.config"


# == docker.token: secrets ============================================================================

@pytest.mark.parametrize(("config", "env", "image"), [
    pytest.param({"auths": {HOST: {"auth": ecr_auth(in_hours(-3))}}}, None, IMAGE, id="expired"),
    pytest.param({"auths": {HOST: {"auth": ecr_auth(None)}}}, None, IMAGE, id="old_token"),
    pytest.param({"auths": {WEST: {"auth": ecr_auth(in_hours(5))}}}, None, IMAGE, id="other_region"),
    pytest.param({"credHelpers": {HOST: "ecr-login"}, "auths": {HOST: {"auth": ecr_auth(in_hours(1))}}}, None,
                 IMAGE, id="stale_beside_helper"),
    pytest.param({}, {"auths": {HOST: {"auth": ecr_auth(in_hours(0.2))}}}, IMAGE, id="docker_auth_config"),
    pytest.param({"auths": {HOST: {"auth": ecr_auth(in_hours(3))},
                            "public.ecr.aws": {"auth": ecr_auth(in_hours(-3))}}}, None, None, id="no_image"),
])
def test_no_token_reaches_the_report_or_the_raw_outcome(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        config: dict[str, Any], env: Optional[dict[str, Any]],
                                                        image: Optional[str]) -> None:
    write_docker_config(home, config)
    if env is not None:
        monkeypatch.setenv("DOCKER_AUTH_CONFIG", json.dumps(env))
    secrets = [MARKER, "AQEBAHij"]
    for entries in [config.get("auths", {}), (env or {}).get("auths", {})]:
        for entry in entries.values():
            auth = entry["auth"]
            password = base64.b64decode(auth).decode().split(":", 1)[1]
            secrets += [auth, auth.rstrip("="), password, password.rstrip("="), password[:40]]
    report = run(image)
    assert result(report, "docker.token").status in (Status.PASS, Status.WARN, Status.FAIL)
    assert leaks(report, *secrets) == []
    # and not because the runner's redactor cleaned up after the check: the check's own outcome is clean
    ctx = Context.create(RunOptions(image=image, timeout=20))
    outcome = auth_checks.docker_token.func(ctx)
    assert not [s for s in secrets if s in repr(outcome)]


# == docker.credsstore ================================================================================

def test_ecr_helper_installed_where_docker_looks_is_usable(home: Path, bin_dir: Path) -> None:
    real(bin_dir, ECR_HELPER)
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    r = store_result()
    assert r.status is Status.PASS
    assert r.summary == f"docker-credential-ecr-login (credHelpers['{HOST}']) is usable"
    assert r.details == (f"docker-credential-ecr-login is {bin_dir}/docker-credential-ecr-login",)


def test_mac_config_with_desktop_store_on_docker_28_4_stops_with_the_exec_error(home: Path, bin_dir: Path) -> None:
    fake_docker(bin_dir, "28.4.0")
    path = write_docker_config(home, {"credsStore": "desktop", "auths": {}})
    report = run()
    r = result(report, "docker.credsstore")
    assert r.status is Status.FAIL
    assert r.summary == ("credsStore names docker-credential-desktop, which is not on docker's PATH: docker CLI 28.4.0 "
                         "stops with: error getting credentials - err: exec: \"docker-credential-desktop\": executable "
                         "file not found in $PATH, out: ``")
    assert commands(r) == (auth_checks.drop_creds_store_command(str(path), [HOST]),)
    assert "docker.credsstore" in report.diagnosis

    proc = sh(commands(r)[0])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(path.read_text()) == {"auths": {}, "credHelpers": {HOST: "ecr-login"}}
    make_executable(bin_dir, "docker-credential-ecr-login")
    assert store_result().status is Status.PASS


def test_desktop_store_missing_on_docker_28_2_shows_only_no_basic_auth_credentials(home: Path, bin_dir: Path) -> None:
    real(bin_dir, DOCKER_28_2)
    write_docker_config(home, {"credsStore": "desktop"})
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary == ("credsStore names docker-credential-desktop, which is not on docker's PATH: docker CLI 28.2.2 "
                         "hides the error and the pull fails with `no basic auth credentials`")
    assert r.details[0] == ('docker CLI 28.4 and later report it as: error getting credentials - err: exec: '
                            '"docker-credential-desktop": executable file not found in $PATH, out: ``')
    assert r.evidence["cli_version"] == "28.2.2"


def test_missing_helper_without_any_docker_cli_names_both_symptoms(home: Path) -> None:
    write_docker_config(home, {"credsStore": "osxkeychain"})
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary.endswith("the pull fails with `no basic auth credentials` (docker CLI 28.3 and older)")
    assert any("docker CLI 28.4 and later report: error getting credentials" in d for d in r.details)


@pytest.mark.parametrize(("os_release", "install"), [
    pytest.param('ID="amzn"\nVERSION_ID="2023"\n', "sudo dnf install -y amazon-ecr-credential-helper", id="al2023"),
    pytest.param('ID="amzn"\nVERSION_ID="2"\n',
                 "sudo amazon-linux-extras enable docker && sudo yum install -y amazon-ecr-credential-helper",
                 id="al2"),
    pytest.param("ID=ubuntu\nID_LIKE=debian\n", "sudo apt-get install -y amazon-ecr-credential-helper", id="ubuntu"),
])
def test_ecr_helper_configured_but_never_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   os_release: str, install: str) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    (root / "usr/bin").mkdir(parents=True)
    write_docker_config(root / "home/ec2-user", {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("HOME", "/home/ec2-user")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    r = store_result(root=str(root))
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"credHelpers['{HOST}'] names docker-credential-ecr-login, which is not on docker's "
                                "PATH: ")
    assert "PATH: /usr/bin:/bin" in r.details
    assert commands(r) == (install,)

    make_executable(root / "usr/bin", "docker-credential-ecr-login")
    assert store_result(root=str(root)).status is Status.PASS


def test_ecr_helper_saved_under_its_short_name_gets_the_link_fix_not_a_reinstall(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #135 of the helper: the binary saved as `ecr-login`; docker.credsstore borrows helper.installed's fix."""
    root = tmp_path / "root"
    make_executable(root / "usr/local/bin", "ecr-login")
    write_docker_config(root / "home/ec2-user", {"credHelpers": {HOST: "ecr-login"}})
    monkeypatch.setenv("HOME", "/home/ec2-user")
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    r = store_result(root=str(root))
    assert r.status is Status.FAIL
    assert commands(r) == ("sudo ln -s /usr/local/bin/ecr-login /usr/local/bin/docker-credential-ecr-login",)


def test_credsstore_with_a_typo_suggests_the_helper_meant(home: Path, bin_dir: Path) -> None:
    make_executable(bin_dir, "docker-credential-ecr-login")
    path = write_docker_config(home, {"credsStore": "ecr-logn"})
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary.startswith("credsStore names docker-credential-ecr-logn, which is not on docker's PATH")
    assert r.summary.endswith("(did you mean ecr-login?)")
    assert commands(r) == (auth_checks.set_creds_store_command(str(path), "ecr-login"),)
    assert sh(commands(r)[0]).returncode == 0
    assert json.loads(path.read_text()) == {"credsStore": "ecr-login"}


def test_secretservice_store_on_a_headless_server_cannot_autolaunch_dbus(home: Path, bin_dir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    make_executable(bin_dir, "docker-credential-secretservice")
    path = write_docker_config(home, {"credsStore": "secretservice"})
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary == ("credsStore names docker-credential-secretservice on a headless host (no DISPLAY, no "
                         "DBUS_SESSION_BUS_ADDRESS): it fails with `Cannot autolaunch D-Bus without X11 $DISPLAY`")
    assert any("error getting credentials - err: exit status 1, out: `Cannot autolaunch D-Bus without X11 $DISPLAY`"
               in d for d in r.details)
    assert commands(r) == (auth_checks.drop_creds_store_command(str(path), [HOST]),)

    # the same config on a desktop session works
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
    assert store_result().status is Status.PASS


def test_distro_credential_helpers_package_makes_docker_auto_detect_secretservice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ubuntu server with golang-docker-credential-helpers installed and no docker config at all
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=ubuntu\nID_LIKE=debian\n")
    make_executable(root / "usr/bin", "docker-credential-secretservice")
    (root / "home/ubuntu").mkdir(parents=True)
    monkeypatch.setenv("HOME", "/home/ubuntu")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    r = store_result(root=str(root))
    assert r.status is Status.FAIL
    assert r.summary.startswith("the store docker auto-detects (the config names no credsStore, credHelpers or auths) "
                                "names docker-credential-secretservice on a headless host")
    assert commands(r) == (config_checks.credhelper_command("/home/ubuntu/.docker/config.json", HOST),
                           "sudo apt-get remove -y golang-docker-credential-helpers")


def test_pass_store_that_was_never_initialised(home: Path, bin_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    make_executable(bin_dir, "docker-credential-pass")
    make_executable(bin_dir, "pass")
    path = write_docker_config(home, {"credsStore": "pass"})
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary == (f"credsStore names docker-credential-pass, but the password store {home}/.password-store is "
                         "not initialised (no .gpg-id): pulls get no stored credentials and `docker login` fails with "
                         "`pass not initialized`")
    assert commands(r) == ("pass init <gpg-key-id>", auth_checks.drop_creds_store_command(str(path), [HOST]))

    store = tmp_path / "store"
    store.mkdir()
    (store / ".gpg-id").write_text("0xDEADBEEF\n")
    monkeypatch.setenv("PASSWORD_STORE_DIR", str(store))  # pass and docker-credential-pass both honour it
    assert store_result().status is Status.PASS


def test_pass_installed_on_a_server_is_auto_detected_without_a_store(home: Path, bin_dir: Path) -> None:
    # no config at all, `pass` and docker-credential-pass on PATH: docker picks pass by itself
    make_executable(bin_dir, "docker-credential-pass")
    make_executable(bin_dir, "pass")
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary.startswith("the store docker auto-detects (the config names no credsStore, credHelpers or auths) "
                                f"names docker-credential-pass, but the password store {home}/.password-store is not "
                                "initialised")
    assert commands(r)[:2] == ("pass init <gpg-key-id>",
                               config_checks.credhelper_command(str(home / ".docker" / "config.json"), HOST))


def test_pass_helper_without_the_pass_program(home: Path, bin_dir: Path) -> None:
    make_executable(bin_dir, "docker-credential-pass")
    write_docker_config(home, {"credsStore": "pass"})
    r = store_result()
    assert r.status is Status.FAIL
    assert r.summary == "credsStore names docker-credential-pass, but the `pass` program it runs is not on PATH"


def test_credsstore_ecr_login_breaks_docker_login_with_not_implemented(home: Path, bin_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real(bin_dir, ECR_HELPER)
    path = write_docker_config(home, {"credsStore": "ecr-login"})
    r = store_result()
    assert r.status is Status.WARN
    assert r.summary == ("credsStore is ecr-login, which cannot store or erase: `docker login` and `docker logout` to "
                         "any registry fail with: error storing credentials - err: exit status 1, out: "
                         "`not implemented`")
    assert commands(r) == (auth_checks.drop_creds_store_command(str(path), [HOST]),
                           "export AWS_ECR_IGNORE_CREDS_STORAGE=true")
    # what docker login runs, and what the real helper answers
    proc = subprocess.run([str(bin_dir / "docker-credential-ecr-login"), "store"], capture_output=True, text=True,
                          input='{"ServerURL":"https://index.docker.io/v1/","Username":"me","Secret":"x"}',
                          env={"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}, timeout=10)
    assert proc.returncode == 1 and proc.stdout.strip() == "not implemented"

    monkeypatch.setenv("AWS_ECR_IGNORE_CREDS_STORAGE", "true")
    assert store_result().status is Status.PASS


def test_broken_store_that_this_registry_does_not_use_only_warns(home: Path, bin_dir: Path) -> None:
    make_executable(bin_dir, "docker-credential-ecr-login")
    write_docker_config(home, {"credsStore": "desktop", "credHelpers": {HOST: "ecr-login"}})
    r = store_result()
    assert r.status is Status.WARN
    assert r.summary.startswith("credsStore names docker-credential-desktop, which is not on docker's PATH")


@pytest.mark.parametrize(("config", "image", "summary"), [
    pytest.param(None, IMAGE, "the docker config names no credsStore or credHelpers, and docker auto-detects no store",
                 id="no_config"),
    pytest.param({"auths": {HOST: {"auth": "QVdTOng="}}}, IMAGE,
                 "the docker config names no credsStore or credHelpers, and docker auto-detects no store",
                 id="only_logins"),
    pytest.param({"credHelpers": {WEST: "ecr-login"}}, IMAGE, f"no credential helper applies to {HOST}",
                 id="helper_for_another_registry"),
])
def test_credsstore_skips_without_a_helper(home: Path, config: Optional[dict[str, Any]], image: str,
                                           summary: str) -> None:
    if config is not None:
        write_docker_config(home, config)
    r = store_result(image)
    assert r.status is Status.SKIP
    assert r.summary == summary


# == docker.sudo ======================================================================================

def sudo_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secure_path: Optional[str] = SECURE_PATH_AL2,
              user_config: Optional[dict[str, Any]] = None, home: str = "/root") -> Path:
    """A --root laid out like an Amazon Linux 2 instance, with ecrdoctor started as `sudo ecrdoctor ...`."""
    root = tmp_path / "root"
    (root / "etc/sudoers.d").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     "ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/bash\n")
    sudoers = "Defaults    env_reset\n"
    if secure_path:
        sudoers += f"Defaults    secure_path = {secure_path}\n"
    sudoers += "root    ALL=(ALL)       ALL\n#includedir /etc/sudoers.d\n"
    (root / "etc/sudoers").write_text(sudoers)
    (root / "etc/sudoers.d/90-cloud-init-users").write_text("ec2-user ALL=(ALL) NOPASSWD:ALL\n")
    (root / "root").mkdir()
    (root / "home/ec2-user").mkdir(parents=True)
    if user_config is not None:
        write_docker_config(root / "home/ec2-user", user_config)
    monkeypatch.setenv("HOME", home)
    monkeypatch.setenv("SUDO_USER", "ec2-user")
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):  # sudo's env_reset drops them
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", secure_path or "/usr/sbin:/usr/bin")
    return root


def test_sudo_docker_pull_reads_roots_config_without_the_users_helper(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = sudo_host(tmp_path, monkeypatch, user_config={"credHelpers": {HOST: "ecr-login"}})
    make_executable(root / "usr/bin", "docker-credential-ecr-login")
    report = run(root=str(root))
    r = result(report, "docker.sudo")
    assert r.status is Status.FAIL
    assert r.summary == (f"docker run with sudo reads /root/.docker/config.json, which has no credentials for {HOST}; "
                         "ec2-user's /home/ec2-user/.docker/config.json uses docker-credential-ecr-login "
                         "(credHelpers): the pull fails with `no basic auth credentials`")
    assert commands(r) == ("sudo usermod -aG docker ec2-user",
                           "sudo mkdir -p /root/.docker && sudo cp /home/ec2-user/.docker/config.json /root/.docker/",
                           f"sudo --preserve-env=HOME,AWS_PROFILE docker pull {IMAGE}")
    assert report.diagnosis[0] == "docker.sudo"  # the cause, before docker.credentials' symptom

    # the copy fix, carried out inside the --root tree
    (root / "root/.docker").mkdir()
    shutil.copy(root / "home/ec2-user/.docker/config.json", root / "root/.docker/")
    r = sudo_result(root=str(root))
    assert r.status is Status.PASS
    assert r.summary == f"docker run with sudo reads /root/.docker/config.json, which covers {HOST} as ec2-user's " \
                        "config does"


def test_sudo_trap_without_image_names_the_registries_the_user_configured(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = sudo_host(tmp_path, monkeypatch, user_config={"auths": {WEST: {"auth": ecr_auth(in_hours(5))}}})
    write_docker_config(root / "root", {"auths": {"ghcr.io": {"auth": "bWU6cGF0"}}})
    r = sudo_result(None, root=str(root))
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"docker run with sudo reads /root/.docker/config.json, which has no credentials for "
                                f"{WEST}; ec2-user's /home/ec2-user/.docker/config.json uses a stored `docker login`")
    assert r.fix is not None and "(this replaces root's current file)" in r.fix.text
    assert "sudo --preserve-env=HOME,AWS_PROFILE docker pull <image>" in commands(r)


@pytest.mark.parametrize(("installed_in", "user_dir"), [
    pytest.param("usr/local/bin", "/usr/local/bin", id="usr_local_bin"),
    pytest.param("home/ec2-user/.local/bin", "/home/ec2-user/.local/bin", id="pip_style_user_bin"),
    pytest.param("opt/ecr/bin", "/opt/ecr/bin", id="opt"),
])
def test_helper_installed_outside_sudos_secure_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    installed_in: str, user_dir: str) -> None:
    config = {"credHelpers": {HOST: "ecr-login"}}
    root = sudo_host(tmp_path, monkeypatch, user_config=config)
    write_docker_config(root / "root", config)  # root's config was copied: the PATH is what still differs
    make_executable(root / installed_in, "docker-credential-ecr-login")
    r = sudo_result(root=str(root))
    assert r.status is Status.FAIL
    assert r.summary == (f"docker-credential-ecr-login is in {user_dir}, which is not on sudo's secure_path "
                         f"({SECURE_PATH_AL2}, set in /etc/sudoers): docker run with sudo cannot start it")
    assert commands(r) == (f"sudo install -m 0755 {user_dir}/docker-credential-ecr-login "
                           "/usr/bin/docker-credential-ecr-login", "sudo visudo")


def test_ubuntu_secure_path_includes_usr_local_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"credHelpers": {HOST: "ecr-login"}}
    root = sudo_host(tmp_path, monkeypatch, user_config=config,
                     secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin")
    write_docker_config(root / "root", config)
    make_executable(root / "usr/local/bin", "docker-credential-ecr-login")
    assert sudo_result(root=str(root)).status is Status.PASS


def test_secure_path_set_in_a_sudoers_d_drop_in_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"credHelpers": {HOST: "ecr-login"}}
    root = sudo_host(tmp_path, monkeypatch, user_config=config,
                     secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    write_docker_config(root / "root", config)
    make_executable(root / "usr/local/bin", "docker-credential-ecr-login")
    (root / "etc/sudoers.d/50-hardening").write_text('Defaults secure_path="/usr/sbin:/usr/bin"\n')
    (root / "etc/sudoers.d/README.txt").write_text('Defaults secure_path="/ignored"\n')  # names with '.' are skipped
    r = sudo_result(root=str(root))
    assert r.status is Status.FAIL
    assert "(/usr/sbin:/usr/bin, set in /etc/sudoers.d/50-hardening)" in r.summary


def test_users_aws_profiles_are_not_visible_to_roots_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"credHelpers": {HOST: "ecr-login"}}
    root = sudo_host(tmp_path, monkeypatch, user_config=config)
    write_docker_config(root / "root", config)
    make_executable(root / "usr/bin", "docker-credential-ecr-login")
    (root / "home/ec2-user/.aws").mkdir()
    (root / "home/ec2-user/.aws/credentials").write_text("[default]\naws_access_key_id = AKIAEXAMPLE\n")
    r = sudo_result(root=str(root))
    assert r.status is Status.WARN
    assert r.summary == ("ec2-user has /home/ec2-user/.aws/credentials, but root has no /root/.aws: under sudo the "
                         "credential helper runs as root and never reads the user's AWS profiles")
    assert commands(r) == (f"sudo --preserve-env=HOME,AWS_PROFILE docker pull {IMAGE}",
                           "sudo usermod -aG docker ec2-user")


def test_aws_profile_dropped_by_sudo_when_the_user_has_only_named_profiles(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"credHelpers": {HOST: "ecr-login"}}
    root = sudo_host(tmp_path, monkeypatch, user_config=config, home="/home/ec2-user")  # sudo -H kept nothing else
    make_executable(root / "usr/bin", "docker-credential-ecr-login")
    (root / "home/ec2-user/.aws").mkdir()
    (root / "home/ec2-user/.aws/config").write_text("[profile dev]\nregion = us-east-1\n[sso-session corp]\n")
    r = sudo_result(root=str(root))
    assert r.status is Status.WARN
    assert r.summary == ("AWS_PROFILE is not set under sudo, and ec2-user's ~/.aws defines only named profiles (dev): "
                         "the credential helper finds no profile to use")
    assert commands(r) == ("export AWS_PROFILE=dev", f"sudo --preserve-env=HOME,AWS_PROFILE docker pull {IMAGE}")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert sudo_result(root=str(root)).status is Status.PASS


def test_sudo_with_home_kept_reads_the_users_own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = sudo_host(tmp_path, monkeypatch, user_config={"credHelpers": {HOST: "ecr-login"}}, home="/home/ec2-user")
    make_executable(root / "usr/bin", "docker-credential-ecr-login")
    r = sudo_result(root=str(root))
    assert r.status is Status.PASS
    assert r.summary == "docker under sudo reads ec2-user's own /home/ec2-user/.docker/config.json (HOME was kept)"


def test_user_without_ecr_credentials_loses_nothing_under_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = sudo_host(tmp_path, monkeypatch, user_config={"auths": {"ghcr.io": {"auth": "bWU6cGF0"}}})
    r = sudo_result(root=str(root))
    assert r.status is Status.PASS
    assert r.summary == ("ec2-user's /home/ec2-user/.docker/config.json names no ECR credentials either: sudo changes "
                         "nothing docker sends")


@pytest.mark.parametrize(("sudo_user", "summary"), [
    pytest.param(None, "not running under sudo", id="plain_shell"),
    pytest.param("root", "not running under sudo", id="sudo_from_root"),
    pytest.param("jdoe", "the home directory of jdoe is unknown (not in /etc/passwd): cannot compare configs",
                 id="directory_user_missing_from_passwd"),
])
def test_sudo_check_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sudo_user: Optional[str],
                          summary: str) -> None:
    root = sudo_host(tmp_path, monkeypatch)
    if sudo_user is None:
        monkeypatch.delenv("SUDO_USER")
    else:
        monkeypatch.setenv("SUDO_USER", sudo_user)
    r = sudo_result(root=str(root))
    assert r.status is Status.SKIP
    assert r.summary == summary


# == pure helpers =====================================================================================

@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("Defaults    secure_path = /sbin:/bin:/usr/sbin:/usr/bin\n",
                 [("secure_path", "/sbin:/bin:/usr/sbin:/usr/bin")], id="amazon_linux"),
    pytest.param('Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"\n',
                 [("secure_path", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin")],
                 id="ubuntu_quoted"),
    pytest.param("Defaults env_reset, \\\n   secure_path=/usr/bin\n", [("secure_path", "/usr/bin")],
                 id="continued_line"),
    pytest.param("Defaults:ec2-user secure_path=/a\nDefaults:other secure_path=/b\n", [("secure_path", "/a")],
                 id="per_user"),
    pytest.param("Defaults>root secure_path=/r\nDefaults!/usr/bin/x secure_path=/x\nDefaults@web secure_path=/w\n",
                 [("secure_path", "/r")], id="runas_kept_command_and_host_ignored"),
    pytest.param("Defaults !secure_path\n", [("unset", "")], id="negated"),
    pytest.param("#includedir /etc/sudoers.d\n@include extra\n# a comment secure_path=/no\n",
                 [("includedir", "/etc/sudoers.d"), ("include", "extra")], id="includes_and_comments"),
])
def test_sudoers_directives_that_decide_sudos_path(text: str, expected: list[tuple[str, str]]) -> None:
    assert auth_checks.parse_sudoers(text, "ec2-user") == expected


def test_sudoers_parser_accepts_any_text() -> None:
    for text in ["", "Defaults", "Defaults:", "Defaults secure_path", "\\\n\\", "Defaults secure_path=\"unclosed",
                 "\x00" * 10, "Defaults" + " secure_path=a," * 1000]:
        assert isinstance(auth_checks.parse_sudoers(text, "u"), list)


def test_aws_profile_names_from_config_and_credentials() -> None:
    config = "[default]\nregion=x\n[profile dev]\n[sso-session corp]\n[services s]\n[ profile  prod ]\n"
    assert auth_checks.aws_profile_names(config, "[ci]\n[dev]\n") == ["default", "dev", "prod", "ci"]


@pytest.mark.parametrize(("text", "version"), [
    ("Docker version 28.2.2, build e6534b4\n", (28, 2, 2)),
    ("Docker version 20.10.24+dfsg1, build 297e128\n", (20, 10, 24)),
    ("podman version 4.9.3\n", None),
])
def test_docker_cli_version_line(bin_dir: Path, text: str, version: Optional[tuple[int, int, int]]) -> None:
    make_executable(bin_dir, "docker", f"printf '{text}'\n")
    ctx = Context.create(RunOptions(timeout=20))
    assert docker_cli_version(ctx) == version


def test_real_docker_cli_version_is_read_once(bin_dir: Path) -> None:
    real(bin_dir, DOCKER_28_2)
    ctx = Context.create(RunOptions(timeout=20))
    assert docker_cli_version(ctx) == (28, 2, 2)
    assert datetime.now(timezone.utc).year >= 2025  # tokens in these tests are built relative to the real clock


def test_docker_version_is_run_once_for_the_auth_and_runtime_checks(bin_dir: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    make_executable(bin_dir, "docker", f'echo "$@" >> {calls}\necho "Docker version 28.2.2, build e6534b4"\n')
    ctx = Context.create(RunOptions(timeout=20))
    assert docker_cli_version(ctx) == (28, 2, 2)
    installed = installed_docker(ctx)
    assert installed.cli is not None and installed.cli.version.text == "28.2.2"
    assert docker_cli_version(ctx) == (28, 2, 2)
    assert calls.read_text().splitlines() == ["--version"]
