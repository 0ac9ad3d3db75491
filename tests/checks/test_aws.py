"""aws.credentials and aws.identity through the real runner and botocore, against a moto server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ecrdoctor.checks.aws as aws_checks  # noqa: E402
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from tests.conftest import FakeImds, MotoServer, ec2_root

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
CATALOGUE = Catalogue((aws_checks.aws_credentials, aws_checks.aws_identity))


def run(image: str = IMAGE, **opts: object) -> Report:
    return run_check(RunOptions(image=image, timeout=15, **opts), catalogue=CATALOGUE)  # type: ignore[arg-type]


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
