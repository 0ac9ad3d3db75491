"""aws.credentials, aws.identity, aws.region and aws.clock through the real runner and botocore, against a moto
server, loopback endpoints (container credentials, an STS whose clock is off) and real credential_process scripts."""

from __future__ import annotations

import email.utils
import http.server
import json
import os
import re
import stat
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import ecrdoctor.checks.aws as aws_checks  # noqa: E402
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from tests.conftest import FakeImds, MotoServer, ec2_root, write_docker_config

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
CATALOGUE = Catalogue((aws_checks.aws_credentials, aws_checks.aws_identity))


def run(image: Optional[str] = IMAGE, catalogue: Catalogue = CATALOGUE, **opts: object) -> Report:
    return run_check(RunOptions(image=image, timeout=15, **opts), catalogue=catalogue)  # type: ignore[arg-type]


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def test_env_credentials_pass_and_identity_is_the_moto_user(moto: MotoServer) -> None:
    report = run()
    creds, ident = result(report, "aws.credentials"), result(report, "aws.identity")
    assert creds.status is Status.PASS
    assert "environment variables" in creds.summary and "…ABCD" in creds.summary
    assert ident.status is Status.INFO
    assert ident.evidence["account"] == "123456789012"
    assert ident.evidence["partition"] == "aws"


def test_shared_credentials_file_with_profile(moto: MotoServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(
        "[ops]\naws_access_key_id = AKIAPROFILEKEY00WXYZ\naws_secret_access_key = profile-secret\n")
    report = run(profile="ops")
    creds = result(report, "aws.credentials")
    assert creds.status is Status.PASS
    assert "shared credentials file" in creds.summary and "'ops'" in creds.summary and "…WXYZ" in creds.summary
    assert result(report, "aws.identity").status is Status.INFO


def test_laptop_without_any_credentials_fails_fast_with_configure_fix(moto: MotoServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    report = run()
    creds = result(report, "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary.startswith("no AWS credentials found")
    assert "AWS_EC2_METADATA_DISABLED=true is set, so an instance profile cannot be used" in creds.details
    assert creds.fix is not None and "aws configure" in creds.fix.commands
    assert result(report, "aws.identity").status is Status.SKIP
    assert report.diagnosis[0] == "aws.credentials"
    assert report.duration_ms < 3000


def test_ec2_host_without_an_instance_profile_is_told_to_attach_one(
        moto: MotoServer, fake_imds: FakeImds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    creds = result(run(root=str(ec2_root(tmp_path / "root"))), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.fix is not None
    assert creds.fix.commands[0] == ("aws ec2 associate-iam-instance-profile --region us-east-1 --instance-id "
                                     "i-0123456789abcdef0 --iam-instance-profile Name=<instance-profile-name>")


def test_in_a_container_on_ec2_the_fix_names_the_imds_hop_limit_first(
        moto: MotoServer, fake_imds: FakeImds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    root = ec2_root(tmp_path / "root")
    (root / ".dockerenv").write_text("")
    creds = result(run(root=str(root)), "aws.credentials")
    assert creds.status is Status.FAIL and creds.fix is not None
    assert "hop limit of 2" in creds.fix.text
    assert creds.fix.commands[0] == ("aws ec2 modify-instance-metadata-options --region us-east-1 --instance-id "
                                     "i-0123456789abcdef0 --http-put-response-hop-limit 2 --http-endpoint enabled")


def test_ec2_host_with_an_instance_profile_passes_via_imds(
        moto: MotoServer, fake_imds: FakeImds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    fake_imds.attach_role("node-role", "ASIAIMDSROLEKEY0QRST", "imds-secret-never-shown", "imds-session-token")
    report = run(root=str(ec2_root(tmp_path / "root")))
    creds = result(report, "aws.credentials")
    assert creds.status is Status.PASS
    assert "EC2 instance profile" in creds.summary and "…QRST" in creds.summary
    text = json.dumps(report.to_dict())
    assert "imds-secret-never-shown" not in text and "imds-session-token" not in text


def test_ec2_host_with_imds_switched_off_by_env_is_told_to_unset_it(
        moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    creds = result(run(root=str(ec2_root(tmp_path / "root"))), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.fix is not None and creds.fix.commands == ("unset AWS_EC2_METADATA_DISABLED",)


def test_profile_that_does_not_exist(moto: MotoServer) -> None:
    creds = result(run(profile="nope"), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary == "the AWS profile 'nope' is not defined in ~/.aws/config or ~/.aws/credentials"
    assert creds.fix is not None and "aws configure --profile nope" in creds.fix.commands


def test_expired_sso_login(moto: MotoServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text(
        "[profile dev]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
        "sso_account_id = 123456789012\nsso_role_name = ReadOnly\nregion = us-east-1\n")
    creds = result(run(profile="dev"), "aws.credentials")
    assert creds.status is Status.FAIL
    assert "(SSO) login for profile 'dev' has expired or is missing" in creds.summary
    assert creds.fix is not None and creds.fix.commands == ("aws sso login --profile dev",)


def test_mfa_profile_fails_instead_of_prompting(moto: MotoServer, home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(
        "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n")
    (home / ".aws" / "config").write_text(
        "[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = base\n"
        "mfa_serial = arn:aws:iam::123456789012:mfa/me\n")
    creds = result(run(profile="admin"), "aws.credentials")
    assert creds.status is Status.FAIL
    assert "interactive MFA code" in creds.summary


def test_invalid_access_key_is_named_by_identity(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto rejects unknown keys once IAM authentication is switched on for the server
    moto.require_auth(True)
    try:
        report = run()
    finally:
        moto.require_auth(False)
    ident = result(report, "aws.identity")
    assert ident.status is Status.FAIL
    assert "InvalidClientTokenId" in ident.summary
    assert ident.evidence["error_code"] == "InvalidClientTokenId"


def test_unreachable_sts_is_a_network_failure(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: connection refused
    ident = result(run(), "aws.identity")
    assert ident.status is Status.FAIL
    assert ident.summary.startswith("cannot reach AWS STS in us-east-1: EndpointConnectionError")


def test_cross_account_image_is_pointed_out(moto: MotoServer) -> None:
    ident = result(run("210987654321.dkr.ecr.us-east-1.amazonaws.com/team/app:1"), "aws.identity")
    assert ident.status is Status.INFO
    assert any("cross-account pull needs a repository policy in 210987654321" in d for d in ident.details)


def test_offline_skips_both(moto: MotoServer) -> None:
    report = run(offline=True)
    assert [r.status for r in report.results] == [Status.SKIP, Status.SKIP]
    assert "offline" in result(report, "aws.credentials").summary


def test_no_secret_in_the_report(moto: MotoServer) -> None:
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in json.dumps(run().to_dict())


# -- helpers for the tests below -------------------------------------------------------------------------------

REGION = Catalogue((aws_checks.aws_region,))
CLOCK = Catalogue((aws_checks.aws_clock,))
CREDS = Catalogue((aws_checks.aws_credentials,))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
LOGIN = f"aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin {HOST}"

Answer = Callable[[str, str], "tuple[int, dict[str, str], str]"]


class Endpoint:
    """A loopback HTTP endpoint answering every request through `answer(method, path)`; sends no header of its own
    (no automatic Date), so each test decides exactly what the client sees."""

    def __init__(self, answer: Answer) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body = answer(self.command, self.path)
                data = body.encode()
                self.send_response_only(status)
                for name, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Callable[[Answer], Endpoint]]:
    started: list[Endpoint] = []

    def start(answer: Answer) -> Endpoint:
        started.append(Endpoint(answer))
        return started[-1]

    yield start
    for e in started:
        e.close()


def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


def aws_files(home: Path, config: str = "", credentials: str = "") -> None:
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / "config").write_text(config)
    (home / ".aws" / "credentials").write_text(credentials)


def script(tmp_path: Path, name: str, body: str) -> Path:
    """An executable credential_process program that also counts how often it was run."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho run >> {tmp_path / (name + '.runs')}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def runs(tmp_path: Path, name: str) -> int:
    counter = tmp_path / (name + ".runs")
    return len(counter.read_text().splitlines()) if counter.exists() else 0


PROCESS_JSON = json.dumps({"Version": 1, "AccessKeyId": "AKIAPROCESSKEY00PRCS",
                           "SecretAccessKey": "process-secret-never-shown",
                           "SessionToken": "process-session-token-never-shown", "Expiration": "2099-01-01T00:00:00Z"})


# -- aws.credentials: each provider of the chain -------------------------------------------------------------


def test_assume_role_profile_passes_and_names_role_and_source(moto: MotoServer, home: Path) -> None:
    aws_files(home, config="[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\n"
                           "source_profile = base\n",
              credentials="[base]\naws_access_key_id = AKIABASEKEY000000001\naws_secret_access_key = base-secret\n")
    creds = result(run(profile="deploy", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.PASS
    assert creds.summary.startswith("credentials from a role assumed from the profile's source credentials")
    assert creds.details == ("role arn:aws:iam::123456789012:role/deploy assumed with the credentials of base",)


def test_irsa_pod_with_web_identity_token_passes(moto: MotoServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwOmFwcCJ9.c2ln")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa-app")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    creds = result(run(catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.PASS
    assert "web identity" in creds.summary
    assert creds.details == (f"role arn:aws:iam::123456789012:role/irsa-app with the token in {token}",)


def test_irsa_pod_whose_projected_token_file_is_missing_fails(moto: MotoServer, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    missing = tmp_path / "serviceaccount" / "token"
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa-app")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(missing))
    creds = result(run(catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary == f"the web identity token file {missing} does not exist (AWS_WEB_IDENTITY_TOKEN_FILE)"


def test_ecs_task_role_from_the_container_credentials_endpoint_passes(
        moto: MotoServer, endpoint: Callable[[Answer], Endpoint], monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    body = json.dumps({"AccessKeyId": "ASIACONTAINERKEYCTNR", "SecretAccessKey": "container-secret-never-shown",
                       "Token": "container-token-never-shown", "Expiration": "2099-01-01T00:00:00Z"})
    agent = endpoint(lambda method, path: (200, {"Content-Type": "application/json"}, body)
                     if path == "/v2/credentials/task" else (404, {}, ""))
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url + "/v2/credentials/task")
    report = run(catalogue=CREDS)
    creds = result(report, "aws.credentials")
    assert creds.status is Status.PASS
    assert "container credentials endpoint" in creds.summary and "…CTNR" in creds.summary
    assert creds.details == (f"endpoint {agent.url}/v2/credentials/task",)
    assert "container-secret-never-shown" not in json.dumps(report.to_dict())


def test_ecs_container_credentials_endpoint_that_does_not_answer_fails(moto: MotoServer,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/v2/credentials/task")
    creds = result(run(catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary.startswith("the container credentials endpoint http://127.0.0.1:9/v2/credentials/task "
                                    "gave no credentials")
    assert creds.fix is not None
    assert creds.fix.commands == ("curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:9/v2/credentials/task",)


def test_credential_process_profile_passes_and_never_shows_its_secret(
        moto: MotoServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "cred-tool", f"echo '{PROCESS_JSON}'")
    aws_files(home, config=f"[profile tool]\ncredential_process = {tool} --profile tool\n")
    monkeypatch.setenv("AWS_PROFILE", "tool")
    report = run()
    creds = result(report, "aws.credentials")
    assert creds.status is Status.PASS
    assert creds.summary == ("credentials from credential_process in the AWS config file, profile 'tool' "
                             "(access key …PRCS)")
    assert creds.details == ("program cred-tool",)
    assert result(report, "aws.identity").status is Status.INFO
    text = json.dumps(report.to_dict())
    assert "process-secret-never-shown" not in text and "process-session-token-never-shown" not in text


def test_credential_process_asking_for_mfa_on_the_terminal_fails_without_prompting(
        moto: MotoServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-vault style: it prompts on /dev/tty. Without a terminal (as under the credential helper in SSM, cron,
    CI) it cannot; ecrdoctor runs it without one, says so, and does not let botocore run it again."""
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "vault", "printf 'Enter MFA code for arn:aws:iam::123456789012:mfa/me: ' >&2\n"
                                     "read -r code < /dev/tty || exit 1\n"
                                     f"echo '{PROCESS_JSON}'")
    aws_files(home, config=f"[profile dev]\ncredential_process = {tool} exec dev --json\n")
    started = time.monotonic()
    creds = result(run(profile="dev", catalogue=CREDS), "aws.credentials")
    assert time.monotonic() - started < 3
    assert creds.status is Status.FAIL
    assert creds.summary == ("credential_process (vault) of profile 'dev' needs an interactive terminal, and "
                             "docker's credential helper runs it without one")
    assert creds.fix is not None
    assert creds.fix.commands == ('eval "$(aws configure export-credentials --profile dev --format env)"',)
    assert runs(tmp_path, "vault") == 1


def test_credential_process_reading_a_token_code_from_stdin_fails(
        moto: MotoServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "okta-cli", "read -r code || { echo 'MFA token code required' >&2; exit 3; }\n"
                                        f"echo '{PROCESS_JSON}'")
    aws_files(home, config=f"[profile sso-okta]\ncredential_process = {tool}\n")
    creds = result(run(profile="sso-okta", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert "needs an interactive terminal" in creds.summary
    assert creds.details == ("stderr: MFA token code required",)


def test_credential_process_that_waits_for_a_browser_login_times_out(
        moto: MotoServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "browser-login", "exec sleep 30")
    aws_files(home, config=f"[profile web]\ncredential_process = {tool}\n")
    creds = result(run(profile="web", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary.startswith("credential_process (browser-login) of profile 'web' did not finish within 4 s")


def test_credential_process_program_not_installed(moto: MotoServer, home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    aws_files(home, config="[profile dev]\ncredential_process = /opt/nowhere/aws-vault exec dev --json\n")
    creds = result(run(profile="dev", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary == ("credential_process (aws-vault) of profile 'dev': the program /opt/nowhere/aws-vault "
                             "is not installed or not on PATH")


def test_credential_process_that_errors_out_is_named_with_its_exit_status(
        moto: MotoServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "granted", "echo 'no such profile: dev-admin' >&2; exit 2")
    aws_files(home, config=f"[profile dev]\ncredential_process = {tool} credential-process --profile dev-admin\n")
    creds = result(run(profile="dev", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary == ("credential_process (granted) of profile 'dev' fails (exit 2) when run without a "
                             "terminal, as docker's credential helper runs it")
    assert creds.details == ("stderr: no such profile: dev-admin",)


def test_credential_process_printing_garbage_fails(moto: MotoServer, home: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "broken", "echo 'logged in!'")
    aws_files(home, config=f"[profile b]\ncredential_process = {tool}\n")
    creds = result(run(profile="b", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert "printed no credentials" in creds.summary


def test_credential_process_behind_assume_role_source_profile_is_checked_too(
        moto: MotoServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    tool = script(tmp_path, "vault", "read -r code < /dev/tty || { echo 'no tty for MFA' >&2; exit 1; }")
    aws_files(home, config=f"[profile base]\ncredential_process = {tool}\n"
                           "[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = base\n")
    creds = result(run(profile="admin", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary.startswith("credential_process (vault) of profile 'base' needs an interactive terminal")


def test_env_keys_win_over_a_profiles_credential_process(moto: MotoServer, home: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tool = script(tmp_path, "vault", "exit 1")
    aws_files(home, config=f"[default]\ncredential_process = {tool}\n")
    creds = result(run(catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.PASS and "environment variables" in creds.summary
    assert runs(tmp_path, "vault") == 0


@pytest.fixture
def sso_cache_dir(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """botocore fixes its SSO cache directory when it is imported (from the HOME of that moment); a real run
    has one HOME, tests have one per test, so point botocore at this test's HOME."""
    import botocore.credentials
    import botocore.tokens

    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    return cache


def test_sso_login_expired_names_the_token_cache_file(moto: MotoServer, home: Path, sso_cache_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    no_env_keys(monkeypatch)
    start = "https://example.awsapps.com/start"
    aws_files(home, config=f"[profile dev]\nsso_start_url = {start}\nsso_region = us-east-1\n"
                           "sso_account_id = 123456789012\nsso_role_name = ReadOnly\n")
    cached = sso_cache_dir / (hashlib.sha1(start.encode()).hexdigest() + ".json")
    cached.write_text(json.dumps({"startUrl": start, "region": "us-east-1", "accessToken": "sso-access-token-secret",
                                  "expiresAt": "2020-01-01T00:00:00Z"}))
    report = run(profile="dev", catalogue=CREDS)
    creds = result(report, "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary == (f"the IAM Identity Center (SSO) login for profile 'dev' has expired or is missing "
                             f"({cached}: expired at 2020-01-01T00:00:00Z)")
    assert creds.fix is not None and creds.fix.commands == ("aws sso login --profile dev",)
    assert "sso-access-token-secret" not in json.dumps(report.to_dict())


def test_sso_session_profile_never_logged_in(moto: MotoServer, home: Path, sso_cache_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    no_env_keys(monkeypatch)
    aws_files(home, config="[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
                           "sso_role_name = ReadOnly\n[sso-session corp]\n"
                           "sso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n")
    creds = result(run(profile="dev", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    missing = sso_cache_dir / (hashlib.sha1(b"corp").hexdigest() + ".json")
    assert creds.summary.endswith(f"has expired or is missing ({missing}: missing)")


def test_sso_session_profile_with_expired_token_and_no_refresh(moto: MotoServer, home: Path, sso_cache_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    no_env_keys(monkeypatch)
    aws_files(home, config="[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
                           "sso_role_name = ReadOnly\n[sso-session corp]\n"
                           "sso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n")
    (sso_cache_dir / (hashlib.sha1(b"corp").hexdigest() + ".json")).write_text(json.dumps(
        {"startUrl": "https://example.awsapps.com/start", "region": "us-east-1", "accessToken": "t0ken-value",
         "expiresAt": "2021-06-01T12:00:00UTC"}))
    creds = result(run(profile="dev", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary.endswith(": expired at 2021-06-01T12:00:00Z)")


def test_profile_naming_an_undefined_sso_session(moto: MotoServer, home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    aws_files(home, config="[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
                           "sso_role_name = ReadOnly\n")
    creds = result(run(profile="dev", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert creds.summary == ("the SSO configuration of profile 'dev' is incomplete: The specified sso-session does "
                             'not exist: "corp"')
    assert creds.fix is not None and creds.fix.commands == ("aws configure sso --profile dev",)


def test_mfa_profile_fix_exports_session_credentials_for_that_profile(moto: MotoServer, home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    aws_files(home, credentials="[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n",
              config="[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = base\n"
                     "mfa_serial = arn:aws:iam::123456789012:mfa/me\n")
    creds = result(run(profile="admin", catalogue=CREDS), "aws.credentials")
    assert creds.status is Status.FAIL
    assert "mfa_serial arn:aws:iam::123456789012:mfa/me, role arn:aws:iam::123456789012:role/admin" in creds.details
    assert creds.fix is not None
    assert creds.fix.commands == ('eval "$(aws configure export-credentials --profile admin --format env)"',)


# -- aws.region ------------------------------------------------------------------------------------------------


def test_region_from_env_matching_the_registry_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    r = result(run(catalogue=REGION), "aws.region")
    assert r.status is Status.PASS
    assert r.summary == "configured region us-east-1 (AWS_DEFAULT_REGION) matches the registry's"


def test_get_login_password_for_another_region_warns_with_the_right_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTH-WRONG-REGION-TOKEN: AWS_REGION beats AWS_DEFAULT_REGION, as in AWS CLI v2."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    r = result(run(catalogue=REGION), "aws.region")
    assert r.status is Status.WARN
    assert r.summary.startswith("the AWS CLI's region is eu-west-1 (AWS_REGION) but the registry is in us-east-1")
    assert "400 Bad Request" in r.summary
    assert r.fix is not None and r.fix.commands == (LOGIN,)


def test_profile_region_differs_and_the_fix_keeps_the_profile(home: Path) -> None:
    aws_files(home, config="[profile ops]\nregion = ap-southeast-2\n")
    r = result(run(catalogue=REGION, profile="ops"), "aws.region")
    assert r.status is Status.WARN
    assert f"(the region of profile 'ops' in {home / '.aws' / 'config'})" in r.summary
    assert r.fix is not None and r.fix.commands == (
        f"aws ecr get-login-password --region us-east-1 --profile ops | docker login --username AWS "
        f"--password-stdin {HOST}",)


def test_region_flag_counts_as_the_configured_region() -> None:
    r = result(run(catalogue=REGION, region="us-west-2"), "aws.region")
    assert r.status is Status.WARN and "us-west-2 (--region)" in r.summary


def test_no_region_anywhere_warns_you_must_specify_a_region() -> None:
    r = result(run(catalogue=REGION), "aws.region")
    assert r.status is Status.WARN
    assert 'stops with "You must specify a region"' in r.summary
    assert r.fix is not None and r.fix.commands == (LOGIN, "aws configure set region us-east-1")


def test_credential_helper_takes_the_region_from_the_host_so_a_mismatch_is_fine(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    write_docker_config(home, {"credHelpers": {HOST: "ecr-login"}})
    r = result(run(catalogue=REGION), "aws.region")
    assert r.status is Status.PASS
    assert r.summary.startswith(f"docker uses the ecr-login helper for {HOST}, which takes the region us-east-1")
    assert r.details == (f"a manual login needs the region: {LOGIN}",)


def test_ecr_public_tokens_come_only_from_us_east_1() -> None:
    r = result(run("public.ecr.aws/nginx/nginx:latest", catalogue=REGION), "aws.region")
    assert r.status is Status.INFO
    assert r.summary == "ECR Public tokens come only from us-east-1 (configured region: none)"


def test_region_skips_without_an_ecr_image() -> None:
    assert result(run(None, catalogue=REGION), "aws.region").status is Status.SKIP
    r = result(run("ghcr.io/org/app:1", catalogue=REGION), "aws.region")
    assert r.status is Status.SKIP and r.summary == "ghcr.io is not an ECR registry"


# -- aws.clock -------------------------------------------------------------------------------------------------

STS_ERROR = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
             "<Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message>"
             "</Error><RequestId>6d0c3f5e-0000-4000-8000-000000000000</RequestId></ErrorResponse>")


def skewed_sts(offset_s: float, date: bool = True, request_id: bool = True) -> Answer:
    """STS as it answers an unsigned request (403 MissingAuthenticationToken), with its clock `offset_s` off."""

    def answer(method: str, path: str) -> tuple[int, dict[str, str], str]:
        headers = {"Content-Type": "text/xml"}
        if date:
            headers["Date"] = email.utils.formatdate(time.time() + offset_s, usegmt=True)
        if request_id:
            headers["x-amzn-RequestId"] = "6d0c3f5e-0000-4000-8000-000000000000"
        return 403, headers, STS_ERROR

    return answer


def clock_against(endpoint: Callable[[Answer], Endpoint], monkeypatch: pytest.MonkeyPatch, answer: Answer,
                  **opts: object) -> Result:
    sts = endpoint(answer)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sts.url)
    return result(run(catalogue=CLOCK, **opts), "aws.clock")


def path_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *programs: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in programs:
        script(bin_dir, name, "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))


def test_clock_in_sync_with_moto_passes(moto: MotoServer) -> None:
    r = result(run(catalogue=CLOCK), "aws.clock")
    assert r.status is Status.PASS
    assert r.summary.startswith("this host's clock agrees with AWS within ")
    assert r.summary.endswith(f"(Date header from {moto.url.split('//')[1]})")


def test_clock_is_measured_even_without_any_credentials(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    no_env_keys(monkeypatch)
    r = result(run(catalogue=CLOCK), "aws.clock")
    assert r.status is Status.PASS
    assert abs(r.evidence["skew_seconds"]) < 5


def test_clock_seven_minutes_behind_fails_with_chrony_fix(
        endpoint: Callable[[Answer], Endpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AUTH-CLOCK-SKEW: signatures are rejected; the errors look like bad keys."""
    no_env_keys(monkeypatch)
    path_with(tmp_path, monkeypatch, "chronyc")
    r = clock_against(endpoint, monkeypatch, skewed_sts(+7 * 60 + 12))
    assert r.status is Status.FAIL
    assert re.match(r"this host's clock is 7 min 1[123] s behind AWS \(Date header from 127\.0\.0\.1:\d+\): AWS "
                    "rejects signatures more than 5 minutes off$", r.summary)
    assert any("15 minutes" in d for d in r.details)
    assert r.fix is not None and r.fix.commands == ("sudo chronyc makestep", "chronyc tracking")
    assert 430 <= -r.evidence["skew_seconds"] <= 434


def test_clock_ahead_on_ec2_points_at_amazon_time_sync(
        endpoint: Callable[[Answer], Endpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = ec2_root(tmp_path / "root")
    (root / "usr" / "bin").mkdir(parents=True)
    script(root / "usr" / "bin", "chronyc", "exit 0")  # chrony installed on the EC2 host's disk
    monkeypatch.setenv("PATH", "/usr/bin")
    r = clock_against(endpoint, monkeypatch, skewed_sts(-3 * 3600), root=str(root))
    assert r.status is Status.FAIL
    assert "3 h 0 min ahead of AWS" in r.summary
    assert r.fix is not None and "169.254.169.123" in r.fix.text
    assert r.fix.commands == ("sudo chronyc makestep", "chronyc tracking")


def test_clock_two_minutes_off_warns_with_timedatectl_when_chrony_is_absent(
        endpoint: Callable[[Answer], Endpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path_with(tmp_path, monkeypatch)
    r = clock_against(endpoint, monkeypatch, skewed_sts(-125))
    assert r.status is Status.WARN
    assert r.summary.startswith("this host's clock is 2 min 5 s ahead of AWS")
    assert r.fix is not None and r.fix.commands == ("sudo timedatectl set-ntp true", "timedatectl status")


def test_clock_within_a_minute_passes(endpoint: Callable[[Answer], Endpoint], monkeypatch: pytest.MonkeyPatch) -> None:
    r = clock_against(endpoint, monkeypatch, skewed_sts(20))
    assert r.status is Status.PASS and r.details == ()


def test_answer_without_aws_request_id_may_be_a_proxys_clock(endpoint: Callable[[Answer], Endpoint],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    r = clock_against(endpoint, monkeypatch, skewed_sts(0, request_id=False))
    assert r.status is Status.PASS
    assert any("may be a proxy speaking for AWS" in d for d in r.details)


def test_private_subnet_without_sts_endpoint_reads_the_clock_from_the_ecr_api(
        endpoint: Callable[[Answer], Endpoint], monkeypatch: pytest.MonkeyPatch) -> None:
    """VPC endpoints for ECR but none for STS: the ECR API's own answer still carries AWS's Date."""
    ecr_api = endpoint(skewed_sts(-400))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr_api.url)
    r = result(run(catalogue=CLOCK), "aws.clock")
    assert r.status is Status.FAIL
    assert f"ahead of AWS (Date header from {ecr_api.url.split('//')[1]})" in r.summary


def test_answer_without_date_header_skips(endpoint: Callable[[Answer], Endpoint],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    r = clock_against(endpoint, monkeypatch, skewed_sts(0, date=False))
    assert r.status is Status.SKIP
    assert re.match(r"no usable Date header from 127\.0\.0\.1:\d+ \(.*no valid Date header\) or 127", r.summary)


def test_unreachable_sts_skips_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    r = result(run(catalogue=CLOCK), "aws.clock")
    assert r.status is Status.SKIP
    assert r.summary.startswith("no usable Date header from 127.0.0.1:9 (EndpointConnectionError: Could not "
                                "connect to the endpoint URL: \"http://127.0.0.1:9/\") or 127.0.0.1:9 (")


def test_clock_offline_skips() -> None:
    r = result(run(catalogue=CLOCK, offline=True), "aws.clock")
    assert r.status is Status.SKIP and "offline" in r.summary


def test_clock_skips_when_the_selected_profile_does_not_exist(moto: MotoServer) -> None:
    r = result(run(catalogue=CLOCK, profile="nope"), "aws.clock")
    assert r.status is Status.SKIP
    assert r.summary == "cannot build an AWS client: ProfileNotFound: The config profile (nope) could not be found"
