"""helper.installed, helper.get, helper.log and helper.cache through the real runner: the Debian build of
docker-credential-ecr-login driven through moto_proxy on loopback, the logs and caches it really writes, and
hand-written files for what moto cannot produce (real AWS error wording, other log formats, other users' files)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import ecrdoctor.checks.helper as helper_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import Context, RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from tests.conftest import FakeImds, hermetic_env, write_docker_config
from tests.helper_fixtures import (
    AL2023,
    DEBIAN,
    HELPER_BIN,
    HOST,
    IMAGE,
    MOTO_TOKEN,
    MotoProxy,
    ago,
    cache_entry,
    cache_key,
    helper_bin,
    logrus_line,
    logrus_request,
    moto_proxy,
    moto_proxy_iam,
    run_helper,
    seelog_line,
    silent_listener,
    slog_line,
    write_cache,
    write_elf,
    write_log,
    write_os_release,
    write_script,
)

__all__ = ["helper_bin", "moto_proxy", "moto_proxy_iam", "silent_listener"]  # fixtures, used by name

CATALOGUE = Catalogue((helper_checks.helper_installed, helper_checks.helper_get, helper_checks.helper_log,
                       helper_checks.helper_cache))
ATTACH = ("aws iam attach-role-policy --role-name node-role --policy-arn "
          "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
# Real AWS wording (research host-side.md §1.3 "Typical SDK error payloads"), as helper 0.6+ logs it.
DENIED = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, https response error "
          "StatusCode: 400, RequestID: 5f0c, api error AccessDeniedException: User: "
          "arn:aws:sts::123456789012:assumed-role/node-role/i-0123456789abcdef0 is not authorized to perform: "
          "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the "
          "ecr:GetAuthorizationToken action")
TIMEOUT = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, exceeded maximum "
           "number of attempts, 3, https response error StatusCode: 0, RequestID: , request send failed, Post "
           "\"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp 52.46.0.10:443: i/o timeout")
OTHER_ARCH = {"x86_64": (183, "aarch64"), "aarch64": (62, "x86_64")}


@pytest.fixture(autouse=True)
def ecr_helper_config(home: Path) -> Path:
    """docker runs the ECR helper for the registry under test (credHelpers, exact host key)."""
    return write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})


def root_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, os_release: str, path: str) -> Path:
    """A --root tree for a host: its os-release, ec2-user's docker config naming the helper, and PATH."""
    root = tmp_path / "root"
    write_os_release(root, os_release)
    write_docker_config(root / "home/ec2-user", {"credHelpers": {HOST: "ecr-login"}})
    for d in path.split(":"):
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", "/home/ec2-user")
    monkeypatch.setenv("PATH", path)
    return root


def run(image: Optional[str] = IMAGE, **opts: Any) -> Report:
    opts.setdefault("timeout", 20)
    return run_check(RunOptions(image=image, **opts), catalogue=CATALOGUE)


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def only(cid: str, image: Optional[str] = IMAGE, **opts: Any) -> Result:
    return result(run(image, only=(cid,), **opts), cid)


def commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


def use_proxy(monkeypatch: pytest.MonkeyPatch, proxy: MotoProxy, **kwargs: Any) -> None:
    # the real helper ignores AWS_ENDPOINT_URL; its traffic is held on loopback by HTTPS_PROXY (moto_proxy)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in proxy.env(**kwargs).items():
        monkeypatch.setenv(key, value)


def report_text(report: Report) -> str:
    return json.dumps(report.to_dict())


# -- helper.installed ----------------------------------------------------------------------------------

def test_debian_package_passes_with_its_own_version_not_the_library_one(helper_bin: str) -> None:
    r = only("helper.installed")
    assert r.status is Status.PASS
    assert r.summary.startswith(f"docker-credential-ecr-login 0.6.0 at {HELPER_BIN} (")
    assert r.evidence["version"] == "0.6.0"  # `version` would have said 0.6.4, the library's
    assert "the newest release the research knows is 0.12.0" in r.details


def test_registry_served_by_a_docker_login_skips_the_helper_checks(home: Path) -> None:
    write_docker_config(home, {"auths": {HOST: {"auth": "QVdTOnNlY3JldA=="}}})
    report = run()
    for cid in ("helper.installed", "helper.log", "helper.cache"):
        r = result(report, cid)
        assert r.status is Status.SKIP
        assert r.summary == (f"docker does not run docker-credential-ecr-login for {HOST}: it uses the auths entry "
                             f"'{HOST}' (a `docker login`) ({home}/.docker/config.json)")
    assert result(report, "helper.get").summary == "needs helper.installed"


def test_helper_missing_on_amazon_linux_2023_gets_dnf_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = root_host(tmp_path, monkeypatch, AL2023, "/usr/local/bin:/usr/bin")
    r = only("helper.installed", root=str(root))
    assert r.status is Status.FAIL
    assert r.summary == ("docker-credential-ecr-login is not installed: credHelpers['123456789012.dkr.ecr.us-east-1."
                         "amazonaws.com'] names it, but no docker-credential-ecr-login is on PATH "
                         "(/usr/local/bin:/usr/bin)")
    assert commands(r) == ("sudo dnf install -y amazon-ecr-credential-helper",)
    assert result(run(root=str(root)), "helper.get").summary == "needs helper.installed"


def test_helper_missing_on_debian_gets_apt_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = root_host(tmp_path, monkeypatch, DEBIAN, "/usr/bin")
    r = only("helper.installed", root=str(root))
    assert r.status is Status.FAIL
    assert commands(r) == ("sudo apt-get install -y amazon-ecr-credential-helper",)


def test_helper_installed_as_ecr_login_is_told_to_link_the_name_docker_runs(
        helper_bin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(helper_bin, bin_dir / "ecr-login")  # issue #135
    monkeypatch.setenv("PATH", str(bin_dir))
    r = only("helper.installed")
    assert r.status is Status.FAIL
    assert r.summary == f"the helper is installed as {bin_dir}/ecr-login, but docker runs docker-credential-ecr-login"
    assert commands(r) == (f"sudo ln -s {bin_dir}/ecr-login {bin_dir}/docker-credential-ecr-login",)
    os.symlink(bin_dir / "ecr-login", bin_dir / "docker-credential-ecr-login")  # the fix, without sudo
    assert only("helper.installed").status is Status.PASS


def test_helper_copied_without_execute_bit_is_told_to_chmod(
        helper_bin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    target = bin_dir / "docker-credential-ecr-login"
    shutil.copyfile(helper_bin, target)
    target.chmod(0o644)
    monkeypatch.setenv("PATH", str(bin_dir))
    r = only("helper.installed")
    assert r.status is Status.FAIL
    assert r.summary == f"{target} is not executable: docker cannot run the helper credHelpers['{HOST}'] names"
    assert commands(r) == (f"sudo chmod +x {target}",)


def test_helper_installed_outside_cron_path_is_told_to_link_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = root_host(tmp_path, monkeypatch, DEBIAN, "/usr/bin:/bin")  # the PATH cron gives a job
    write_elf(root / "opt/bin/docker-credential-ecr-login", 62 if platform.machine() == "x86_64" else 183)
    r = only("helper.installed", root=str(root))
    assert r.status is Status.FAIL
    assert r.summary == ("docker-credential-ecr-login is installed at /opt/bin/docker-credential-ecr-login, which is "
                         "not on docker's PATH (/usr/bin:/bin)")
    assert commands(r) == ("sudo ln -s /opt/bin/docker-credential-ecr-login /usr/bin/docker-credential-ecr-login",)


def test_arm64_build_on_an_x86_64_host_is_an_exec_format_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_machine = platform.machine()
    if need_machine not in OTHER_ARCH:
        pytest.skip(f"no crafted foreign architecture for {need_machine}")
    machine, name = OTHER_ARCH[need_machine]
    exe = write_elf(tmp_path / "bin" / "docker-credential-ecr-login", machine)
    monkeypatch.setenv("PATH", str(exe.parent))
    r = only("helper.installed")
    assert r.status is Status.FAIL
    assert r.summary == (f"{exe} is built for {name}, but this host is {need_machine}: docker gets "
                         f"`fork/exec {exe}: exec format error`")
    assert commands(r)[0] == f"sudo rm {exe}"
    assert r.evidence["architecture"] == name


def test_helper_older_than_0_5_cannot_use_imdsv2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write_script(tmp_path / "bin" / "docker-credential-ecr-login",
                          'echo "amazon-ecr-credential-helper"; echo "Version:    0.4.0"; echo "Git commit: 1ad9e3a"\n')
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    r = only("helper.installed")
    assert r.status is Status.WARN
    assert "docker-credential-ecr-login 0.4.0" in r.summary and "cannot use IMDSv2" in r.summary
    assert r.fix is not None and "amazon-ecr-credential-helper" in r.fix.commands[-1]


def test_sso_session_profiles_need_a_newer_helper_than_debians(helper_bin: str, home: Path) -> None:
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text("[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
                                          "sso_role_name = ReadOnly\n[sso-session corp]\n"
                                          "sso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n")
    r = only("helper.installed")
    assert r.status is Status.WARN
    assert r.summary.endswith("the AWS config uses `sso_session`, which builds before 0.8.0 cannot read (#771)")


def test_ignore_creds_storage_is_set_but_the_helper_predates_it(helper_bin: str, home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_docker_config(home, {"credsStore": "ecr-login"})
    monkeypatch.setenv("AWS_ECR_IGNORE_CREDS_STORAGE", "true")
    r = only("helper.installed")
    assert r.status is Status.WARN and "AWS_ECR_IGNORE_CREDS_STORAGE=true is set but needs 0.9.0" in r.summary


# -- helper.get ----------------------------------------------------------------------------------------

def test_helper_returns_moto_credentials_and_the_secret_never_leaves_memory(
        helper_bin: str, moto_proxy: MotoProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy(monkeypatch, moto_proxy)
    report = run()
    r = result(report, "helper.get")
    assert r.status is Status.PASS, r
    assert r.summary.startswith(f"docker-credential-ecr-login returned credentials for {HOST} (user AWS) fresh from "
                                "ecr:GetAuthorizationToken in ")
    text = report_text(report)
    assert MOTO_TOKEN not in text and moto_proxy.secret_key not in text
    # the answer other checks (registry.v2) use: the secret in memory, masked in anything printed
    ctx = Context.create(RunOptions(image=IMAGE, timeout=20))
    answer = helper_checks.helper_credentials(ctx)
    assert answer.ok and answer.username == "AWS" and answer.secret == MOTO_TOKEN
    assert MOTO_TOKEN not in repr(answer) and MOTO_TOKEN not in ctx.redactor.text(f"password={MOTO_TOKEN}")
    assert helper_checks.helper_credentials(ctx) is answer  # the helper ran once


def test_no_credentials_and_imds_disabled_is_read_from_the_log_the_helper_wrote(
        helper_bin: str, moto_proxy: MotoProxy, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy(monkeypatch, moto_proxy)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = only("helper.get")
    assert r.status is Status.FAIL
    assert r.summary == (f"docker-credential-ecr-login returned `credentials not found in native keychain` for {HOST}: "
                         "no AWS credentials: AWS_EC2_METADATA_DISABLED stops the instance-profile lookup")
    assert r.evidence["cause"] == "imds-disabled" and r.evidence["log"] == str(home / ".ecr/log/ecr-login.log")
    assert commands(r) == ("aws configure", "aws sso login --profile <profile>")


def test_user_without_ecr_permissions_gets_access_denied(
        helper_bin: str, moto_proxy_iam: tuple[MotoProxy, tuple[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, keys = moto_proxy_iam
    use_proxy(monkeypatch, proxy, keys=keys)
    report = run(only=("helper.get",))
    r = result(report, "helper.get")
    assert r.status is Status.FAIL
    # moto answers ECR's AccessDenied as XML with HTTP 403 (feasibility.md §1); real ECR names the principal
    assert r.summary.endswith("AccessDenied on ecr:GetAuthorizationToken (HTTP 403 with a body that is not AWS JSON)")
    assert commands(r)[-1] == ("aws iam attach-role-policy --role-name <role-name> --policy-arn "
                               "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
    assert keys[1] not in report_text(report)


def test_tls_interception_without_the_proxy_ca(helper_bin: str, moto_proxy: MotoProxy,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy(monkeypatch, moto_proxy, with_ca=False)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the helper's SDK honours it: one TLS failure, not three
    r = only("helper.get")
    assert r.status is Status.FAIL
    assert r.summary.endswith("TLS to the ECR API failed: certificate signed by an unknown authority "
                              "(TLS interception)")
    assert "x509: certificate signed by unknown authority" in r.details[0]
    assert any("update-ca-certificates" in c or "update-ca-trust" in c for c in commands(r))


def test_credsstore_ecr_login_for_a_registry_that_is_not_ecr(helper_bin: str, home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the helper refuses the host before any network call
    write_docker_config(home, {"credsStore": "ecr-login"})
    report = run("registry.example.com/team/app:1")
    assert result(report, "helper.installed").status is Status.PASS
    r = result(report, "helper.get")
    assert r.status is Status.WARN
    assert r.summary == ("docker-credential-ecr-login refuses registry.example.com (not an ECR registry): docker pulls "
                         "it anonymously")
    assert "credHelpers" in (r.fix.text if r.fix else "")


def test_helper_waiting_on_an_unanswering_imds_is_named(
        helper_bin: str, silent_listener: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # no credentials ever arrive, so the ECR API is never called
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", silent_listener)
    started = time.monotonic()
    r = only("helper.get", timeout=3)
    assert time.monotonic() - started < 5
    assert r.status is Status.FAIL
    assert "did not answer for" in r.summary and "instance metadata service (IMDS, 169.254.169.254)" in r.summary
    assert r.evidence["timed_out"] is True


def test_instance_role_from_imds_works(helper_bin: str, moto_proxy: MotoProxy, fake_imds: FakeImds,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy(monkeypatch, moto_proxy)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    fake_imds.attach_role("node-role", "ASIAFAKEIMDSKEY00001", "imds-secret-never-shown", "imds-token")
    report = run(only=("helper.get",))
    assert result(report, "helper.get").status is Status.PASS
    assert "imds-secret-never-shown" not in report_text(report)


def test_failed_api_call_hands_docker_the_expired_cached_token(
        helper_bin: str, moto_proxy: MotoProxy, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy(monkeypatch, moto_proxy, with_ca=False)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    key = cache_key("us-east-1", moto_proxy.access_key, "123456789012")
    write_cache(home, {key: cache_entry(ago(hours=14), ago(hours=2), token="expired-token-never-printed")})
    report = run(only=("helper.get",))
    r = result(report, "helper.get")
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"docker-credential-ecr-login could not get a new token for {HOST} and returned its "
                                "cached one (TLS to the ECR API failed")
    assert "docker will get `denied: Your authorization token has expired." in r.summary
    assert commands(r) == (f"rm {home}/.ecr/cache.json",)
    assert "expired-token-never-printed" not in report_text(report)


def test_a_mounted_disk_is_not_asked_for_credentials(helper_bin: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = root_host(tmp_path, monkeypatch, DEBIAN, "/usr/bin")
    shutil.copy(helper_bin, root / "usr/bin")
    report = run(root=str(root))
    assert result(report, "helper.installed").status is Status.PASS
    assert result(report, "helper.get").summary == ("--root: the helper would run on this machine, not on the "
                                                    "mounted host")


def test_endpoint_override_is_never_bypassed_by_running_the_helper(helper_bin: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # moto or LocalStack; the helper would call AWS
    r = only("helper.get")
    assert r.status is Status.SKIP
    assert r.summary.startswith("AWS_ENDPOINT_URL is set, but docker-credential-ecr-login may ignore it")


def test_offline_run_does_not_run_the_helper(helper_bin: str) -> None:
    r = only("helper.get", offline=True)
    assert r.status is Status.SKIP and r.summary.startswith("offline")


# -- helper.log ------------------------------------------------------------------------------------------

def test_no_log_means_the_helper_never_ran_as_this_user(home: Path) -> None:
    r = only("helper.log")
    assert r.status is Status.SKIP
    assert r.summary.startswith(f"no helper log at {home}/.ecr/log/ecr-login.log or /tmp/ecr-login.log")


def test_recent_access_denied_in_the_log_names_the_role_and_the_policy(home: Path) -> None:
    write_log(home, logrus_request(ago(hours=3)) + logrus_request(ago(minutes=20), DENIED)
              + logrus_request(ago(minutes=5), DENIED))
    r = only("helper.log")
    assert r.status is Status.FAIL
    assert "failed: AccessDenied on ecr:GetAuthorizationToken for arn:aws:sts::123456789012:assumed-role/node-role/" \
           "i-0123456789abcdef0" in r.summary
    assert "(5 min ago)" in r.summary
    assert any(line.startswith("AccessDenied on ecr:GetAuthorizationToken for arn:aws:sts::123456789012:assumed-role"
                               "/node-role/i-0123456789abcdef0: 2 times in the last 24 h") for line in r.details)
    assert commands(r) == (ATTACH,)


def test_failures_earlier_today_but_latest_pull_worked_warns(home: Path) -> None:
    write_log(home, logrus_request(ago(hours=2), TIMEOUT) + logrus_request(ago(minutes=1)))
    r = only("helper.log")
    assert r.status is Status.WARN
    assert r.summary.startswith(f"1 of 2 helper requests for {HOST} in the last 24 h failed; the latest, at ")
    assert r.details[0].startswith("the ECR API endpoint could not be reached: 1 time in the last 24 h")
    assert any(c.startswith("aws ec2 create-vpc-endpoint --region us-east-1") for c in commands(r))


def test_recent_successes_pass(home: Path) -> None:
    write_log(home, logrus_request(ago(hours=5)) + logrus_request(ago(minutes=2)))
    r = only("helper.log")
    assert r.status is Status.PASS
    assert r.summary.startswith(f"all 2 helper request(s) for {HOST} in the last 24 h succeeded")


def test_a_failure_from_last_week_is_only_information(home: Path) -> None:
    write_log(home, logrus_request(ago(days=7), DENIED))
    r = only("helper.log")
    assert r.status is Status.INFO and "(7 days ago), failed: AccessDenied" in r.summary


def test_seelog_format_of_helpers_before_2018(home: Path) -> None:
    when = ago(minutes=3)
    write_log(home, [
        seelog_line(when, "debug", f"Retrieving credentials for 123456789012 in us-east-1 ({HOST})"),
        seelog_line(when, "error", "Error retrieving credentials: NoCredentialProviders: no valid providers in chain. "
                                   "Deprecated."),
    ])
    r = only("helper.log")
    assert r.status is Status.FAIL
    assert r.summary.endswith("failed: no AWS credentials in the helper's environment")


def test_slog_format_of_helpers_after_0_12(home: Path) -> None:
    when = ago(minutes=3)
    write_log(home, [
        slog_line(when, "debug", "Retrieving credentials", region="us-east-1", registry="123456789012",
                  serverURL=HOST, service="ecr"),
        slog_line(when, "error", "Error retrieving credentials", error="ecr: Failed to get authorization token: "
                  "operation error ECR: GetAuthorizationToken, failed to refresh cached credentials, failed to refresh "
                  "cached SSO token, the SSO session has expired or is invalid"),
    ])
    r = only("helper.log")
    assert r.status is Status.FAIL
    assert r.summary.endswith("the IAM Identity Center (SSO) session has expired")
    assert commands(r) == ("aws sso login --profile default",)


def test_stale_token_fallback_in_the_log_warns(home: Path) -> None:
    when = ago(minutes=4)
    write_log(home, logrus_request(ago(hours=1))[:3] + [
        logrus_line(when, "info", "Got error fetching authorization token. Falling back to cached token.",
                    error=TIMEOUT)])
    r = only("helper.log")
    assert r.status is Status.WARN
    assert "fell back" not in r.summary and "handed docker its cached token" in r.summary
    assert commands(r) == (f"rm {home}/.ecr/cache.json",)


def test_cache_that_cannot_be_saved_warns_though_pulls_work(home: Path) -> None:
    when = ago(minutes=2)
    denied = f"open {home}/.ecr/.config.json.tmp1: permission denied"
    write_log(home, logrus_request(when) + [logrus_line(when, "info", "Could not save cache", error=denied)])
    r = only("helper.log")
    assert r.status is Status.WARN
    assert r.summary == f"the helper's requests for {HOST} succeed, but the helper could not save its token cache"
    me = Context.create(RunOptions()).host.current_user().name
    assert commands(r) == (f"sudo chown -R {me} {home}/.ecr",)


def test_credsstore_sends_docker_hub_to_the_ecr_helper(helper_bin: str, home: Path) -> None:
    write_docker_config(home, {"credsStore": "ecr-login"})
    assert run_helper("index.docker.io", hermetic_env(home)).returncode == 1
    r = only("helper.log", image=None)
    assert r.status is Status.WARN
    assert r.summary == ("docker asked the ECR helper for 1 request(s) to hosts that are not ECR registries in the "
                         "last 24 h (latest: index.docker.io); it refuses them")
    assert "credHelpers" in (r.fix.text if r.fix else "")


def test_the_log_of_real_helper_failures_is_classified(
        helper_bin: str, moto_proxy: MotoProxy, home: Path) -> None:
    env = hermetic_env(home)
    assert run_helper("index.docker.io", env).stdout.strip() == "credentials not found in native keychain"
    assert run_helper(HOST, env).returncode == 1  # no credentials, IMDS disabled
    r = only("helper.log")
    assert r.status is Status.FAIL
    assert r.summary.endswith("no AWS credentials: AWS_EC2_METADATA_DISABLED stops the instance-profile lookup")
    assert r.evidence["requests_24h"] == 1  # the Docker Hub request is not this registry's
    assert run_helper(HOST, {**env, **moto_proxy.env()}).returncode == 0
    assert only("helper.log").status is Status.WARN  # earlier failure, latest success
    without_image = only("helper.log", image=None)
    assert without_image.status is Status.WARN


def test_a_one_gib_log_is_read_from_its_tail_only(home: Path) -> None:
    path = write_log(home, logrus_request(ago(days=30), DENIED))
    with open(path, "r+b") as fh:
        fh.truncate(1 << 30)  # sparse: a gibibyte of the past
    write_log(home, logrus_request(ago(minutes=1)))
    started = time.monotonic()
    r = only("helper.log")
    assert time.monotonic() - started < 2
    assert r.status is Status.PASS and r.evidence["truncated"] is True
    assert r.duration_ms < 500


# -- helper.cache ----------------------------------------------------------------------------------------

def test_valid_cached_token_passes_and_names_the_refresh_time(home: Path) -> None:
    key = cache_key("us-east-1", "AKIAEXAMPLEKEY0WXYZ", "123456789012")
    write_cache(home, {key: cache_entry(ago(hours=1), ago(hours=-11))})
    report = run(only=("helper.cache",))
    r = result(report, "helper.cache")
    assert r.status is Status.PASS
    assert r.summary.startswith("cached token for registry 123456789012 in us-east-1 (fetched with access key …WXYZ) "
                                "valid until ")
    assert "the helper reuses it until" in r.summary
    assert "cached-token-never-printed" not in report_text(report)


def test_expired_token_while_the_api_fails_is_the_stale_fallback(home: Path) -> None:
    write_cache(home, {cache_key("us-east-1", "AKIAEXAMPLEKEY0WXYZ", "123456789012"):
                       cache_entry(ago(hours=20), ago(hours=8))})
    write_log(home, logrus_request(ago(minutes=10), TIMEOUT))
    r = only("helper.cache")
    assert r.status is Status.FAIL
    assert "UTC (8 h ago), and GetAuthorizationToken failed at " in r.summary
    assert "(the ECR API endpoint could not be reached)" in r.summary
    assert r.summary.endswith("`denied: Your authorization token has expired. Reauthenticate and try again.`")
    assert commands(r) == (f"rm {home}/.ecr/cache.json",)


def test_cache_written_by_the_real_helper_is_read_without_its_token(
        helper_bin: str, moto_proxy: MotoProxy, home: Path) -> None:
    assert run_helper(HOST, {**hermetic_env(home), **moto_proxy.env()}).returncode == 0
    report = run(only=("helper.cache",))
    r = result(report, "helper.cache")
    # moto's tokens always expire on 2015-01-01: expired, but no API error, so the next pull simply fetches one
    assert r.status is Status.PASS
    assert "(fetched with access key …0001) expired " in r.summary
    assert r.evidence["state"] == "expired"
    assert "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu" not in report_text(report)


def test_cache_left_owned_by_another_user_after_sudo(home: Path) -> None:
    write_cache(home, {})
    os.chown(home / ".ecr", 4321, 4321)
    os.chown(home / ".ecr" / "cache.json", 4321, 4321)
    r = only("helper.cache")
    assert r.status is Status.FAIL
    me = Context.create(RunOptions()).host.current_user().name
    assert r.summary.startswith(f"{home}/.ecr belongs to uid 4321, not {me}: the helper cannot save tokens")
    assert commands(r) == (f"sudo chown -R {me} {home}/.ecr",)


def test_corrupt_cache_is_discarded_by_the_helper(home: Path) -> None:
    path = home / ".ecr" / "cache.json"
    path.parent.mkdir()
    path.write_text('{"Registries": {')
    r = only("helper.cache")
    assert r.status is Status.WARN
    assert r.summary.startswith(f"{path} is not a valid helper cache (not valid JSON at line 1, column 17)")
    assert commands(r) == (f"rm {path}",)


def test_cache_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ECR_DISABLE_CACHE", "false")  # any non-empty value disables it
    r = only("helper.cache")
    assert r.status is Status.INFO and r.summary.startswith("AWS_ECR_DISABLE_CACHE=false disables the helper's cache")


def test_cache_with_tokens_only_for_other_registries(home: Path) -> None:
    write_cache(home, {cache_key("eu-west-1", "AKIAEXAMPLEKEY0WXYZ", "210987654321"):
                       cache_entry(ago(hours=1), ago(hours=-11), registry="210987654321", region="eu-west-1")})
    r = only("helper.cache")
    assert r.status is Status.INFO
    assert r.summary == (f"{home}/.ecr/cache.json has no cached token for registry 123456789012 in us-east-1 "
                         "(1 other entry)")
