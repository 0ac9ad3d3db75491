"""target.reference through the real runner: the IMAGE a user typed, as docker and the credential helper read it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import ecrdoctor.checks.target as target_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Result, Status

CATALOGUE = Catalogue((target_checks.target_reference,))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def reference(image: Optional[str], **opts: object) -> Result:
    report = run_check(RunOptions(image=image, timeout=15, **opts), catalogue=CATALOGUE)  # type: ignore[arg-type]
    r = report.result("target.reference")
    assert r is not None
    return r


def fix_commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


# -- pass ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "summary", "evidence"), [
    (f"{HOST}/team/app:1.4",
     "ECR private registry of account 123456789012 in us-east-1 (aws); team/app:1.4",
     {"account": "123456789012", "region": "us-east-1", "partition": "aws", "fips": False, "dualstack": False}),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/team/app:1.4",
     "ECR private registry FIPS of account 123456789012 in us-gov-west-1 (aws-us-gov); team/app:1.4",
     {"region": "us-gov-west-1", "partition": "aws-us-gov", "fips": True, "dualstack": False}),
    ("123456789012.dkr-ecr.us-west-2.on.aws/team/app:1.4",
     "ECR private registry dual-stack of account 123456789012 in us-west-2 (aws); team/app:1.4",
     {"region": "us-west-2", "partition": "aws", "fips": False, "dualstack": True}),
    ("123456789012.dkr-ecr-fips.us-east-1.on.aws/team/app:1.4",
     "ECR private registry FIPS dual-stack of account 123456789012 in us-east-1 (aws); team/app:1.4",
     {"fips": True, "dualstack": True}),
    ("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app:1.4",
     "ECR private registry of account 210987654321 in cn-north-1 (aws-cn); team/app:1.4",
     {"account": "210987654321", "region": "cn-north-1", "partition": "aws-cn"}),
    ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu/team/app:1.4",
     "ECR private registry of account 123456789012 in eusc-de-east-1 (aws-eusc); team/app:1.4",
     {"partition": "aws-eusc"}),
    (f"{HOST}/team/app@{DIGEST}",
     f"ECR private registry of account 123456789012 in us-east-1 (aws); team/app@{DIGEST}",
     {"region": "us-east-1"}),
    (f"{HOST}/team/app", "ECR private registry of account 123456789012 in us-east-1 (aws); team/app:latest",
     {"region": "us-east-1"}),
])
def test_private_registry_host_forms_the_console_shows_are_recognised(
        image: str, summary: str, evidence: dict[str, object]) -> None:
    r = reference(image)
    assert r.status is Status.PASS
    assert r.summary == summary
    assert r.evidence["kind"] == "private"
    assert {k: r.evidence[k] for k in evidence} == evidence
    assert r.fix is None


@pytest.mark.parametrize(("image", "summary"), [
    ("public.ecr.aws/nginx/nginx:latest",
     "ECR Public (public.ecr.aws); nginx/nginx:latest; anonymous pulls need no login"),
    ("ecr-public.aws.com/nginx/nginx:1.27",
     "ECR Public (ecr-public.aws.com); nginx/nginx:1.27; anonymous pulls need no login"),
])
def test_ecr_public_image_passes_and_needs_no_login(image: str, summary: str) -> None:
    r = reference(image)
    assert r.status is Status.PASS
    assert r.summary == summary
    assert r.evidence == {"kind": "public"}


def test_private_registry_host_alone_is_a_target_without_repository() -> None:
    # `ecrdoctor check 123456789012.dkr.ecr.us-east-1.amazonaws.com`: "is my login to this registry ok?"
    report = run_check(RunOptions(image=HOST, timeout=15), catalogue=CATALOGUE)
    r = report.result("target.reference")
    assert r is not None and r.status is Status.PASS
    assert r.summary == "ECR private registry of account 123456789012 in us-east-1 (aws)"
    assert report.target.registry == HOST and report.target.repository is None
    assert report.target.account == "123456789012" and report.target.region == "us-east-1"


def test_ecr_public_host_alone_is_a_target_without_repository() -> None:
    r = reference("public.ecr.aws")
    assert r.status is Status.PASS
    assert r.summary == "ECR Public (public.ecr.aws); anonymous pulls need no login"


# -- fail: references docker sends somewhere else ------------------------------------------------------

def test_docker_hub_short_name_is_pulled_from_docker_hub_not_ecr() -> None:
    r = reference("team/app:1.4")
    assert r.status is Status.FAIL
    assert r.summary == "'team/app:1.4' names no registry, so docker pulls it from Docker Hub, not from ECR"
    assert fix_commands(r) == ("docker pull <account>.dkr.ecr.<region>.amazonaws.com/team/app:1.4",)
    assert r.evidence == {"kind": "docker-hub", "registry": "docker.io",
                          "corrected": "<account>.dkr.ecr.<region>.amazonaws.com/team/app:1.4"}


@pytest.mark.parametrize(("region", "corrected"), [
    ("eu-west-1", "<account>.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.4"),
    ("cn-north-1", "<account>.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app:1.4"),
])
def test_docker_hub_short_name_gets_the_configured_region_filled_in(
        monkeypatch: pytest.MonkeyPatch, region: str, corrected: str) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    r = reference("team/app:1.4")
    assert r.status is Status.FAIL
    assert fix_commands(r) == (f"docker pull {corrected}",)


def test_docker_hub_short_name_gets_the_region_flag_filled_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # --region says where the user means to pull from; it beats AWS_DEFAULT_REGION as in the AWS CLI
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    r = reference("team/app:1.4", region="ap-southeast-2")
    assert fix_commands(r) == ("docker pull <account>.dkr.ecr.ap-southeast-2.amazonaws.com/team/app:1.4",)


def test_docker_hub_short_name_gets_the_profiles_region_filled_in(home: Path) -> None:
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text("[profile ops]\nregion = sa-east-1\n")
    r = reference("team/app:1.4", profile="ops")
    assert fix_commands(r) == ("docker pull <account>.dkr.ecr.sa-east-1.amazonaws.com/team/app:1.4",)


def test_registry_host_without_region_cannot_resolve() -> None:
    r = reference("123456789012.dkr.ecr.amazonaws.com/team/app:1.4")
    assert r.status is Status.FAIL
    assert "no region" in r.summary and "dkr.ecr.<region>" in r.summary
    assert fix_commands(r) == ("docker pull 123456789012.dkr.ecr.<region>.amazonaws.com/team/app:1.4",)
    assert r.evidence["kind"] == "missing-region"


def test_registry_host_without_region_takes_the_configured_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    r = reference("123456789012.dkr.ecr.amazonaws.com/team/app:1.4")
    assert r.status is Status.FAIL
    assert fix_commands(r) == ("docker pull 123456789012.dkr.ecr.us-east-2.amazonaws.com/team/app:1.4",)


def test_ecr_api_endpoint_used_as_registry() -> None:
    r = reference("api.ecr.us-east-1.amazonaws.com/team/app:1.4")
    assert r.status is Status.FAIL
    assert r.summary == ("api.ecr.us-east-1.amazonaws.com is the ECR API endpoint, not the registry: docker pulls "
                         "from <account>.dkr.ecr.us-east-1.amazonaws.com")
    assert fix_commands(r) == ("docker pull <account>.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4",)
    assert r.evidence["kind"] == "api-host"
    assert r.evidence["registry"] == "api.ecr.us-east-1.amazonaws.com"


def test_ecr_public_api_endpoint_used_as_registry() -> None:
    r = reference("api.ecr-public.us-east-1.amazonaws.com/nginx/nginx:latest")
    assert r.status is Status.FAIL
    assert "ECR Public API" in r.summary and "public.ecr.aws" in r.summary
    assert fix_commands(r) == ("docker pull public.ecr.aws/nginx/nginx:latest",)


def test_account_id_that_lost_its_leading_zero() -> None:
    # an account id kept as a number in a spreadsheet or a YAML file: 012345678901 -> 12345678901
    r = reference("12345678901.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4")
    assert r.status is Status.FAIL
    assert r.summary == "account id '12345678901' is not 12 digits (a leading zero was probably lost)"
    assert fix_commands(r) == ("docker pull 012345678901.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4",)
    assert r.evidence["kind"] == "account-digits"


def test_account_id_with_a_digit_too_many_has_no_guess() -> None:
    r = reference("1234567890123.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4")
    assert r.status is Status.FAIL
    assert "account id '1234567890123' is not 12 digits" in r.summary
    assert fix_commands(r) == ("docker pull <account>.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4",)


@pytest.mark.parametrize(("typo", "words"), [
    ("drk.ecr", "'drk' is a typo for 'dkr'"),
    ("dkr.erc", "'erc' is a typo for 'ecr'"),
])
def test_mistyped_dkr_ecr_in_the_host(typo: str, words: str) -> None:
    r = reference(f"123456789012.{typo}.us-east-1.amazonaws.com/team/app:1.4")
    assert r.status is Status.FAIL
    assert words in r.summary
    assert fix_commands(r) == (f"docker pull {HOST}/team/app:1.4",)


def test_near_miss_with_a_digest_keeps_the_digest_in_the_fix() -> None:
    r = reference(f"123456789012.drk.ecr.us-east-1.amazonaws.com/team/app@{DIGEST}")
    assert fix_commands(r) == (f"docker pull {HOST}/team/app@{DIGEST}",)


# -- warn ---------------------------------------------------------------------------------------------

def test_upper_case_registry_host_misses_the_lower_case_credhelpers_key() -> None:
    r = reference("123456789012.dkr.ecr.us-east-1.AMAZONAWS.COM/team/app:1.4")
    assert r.status is Status.WARN
    assert "'123456789012.dkr.ecr.us-east-1.AMAZONAWS.COM' has capitals" in r.summary
    assert "credHelpers" in r.summary
    assert fix_commands(r) == (f"docker pull {HOST}/team/app:1.4",)
    assert r.evidence["kind"] == "uppercase-host"


@pytest.mark.parametrize("image", ["ghcr.io/org/app:1", "registry.example.com:5000/team/app:1.4",
                                   "localhost:5000/app"])
def test_registry_that_is_not_ecr_gets_a_warning_not_a_failure(image: str) -> None:
    r = reference(image)
    assert r.status is Status.WARN
    host = image.split("/", 1)[0]
    assert r.summary == f"{host} is not an Amazon ECR registry; ecrdoctor's ECR and IAM checks do not apply"
    assert r.evidence == {"kind": "other", "registry": host}
    assert r.fix is None


# -- skip ---------------------------------------------------------------------------------------------

def test_no_image_skips_the_reference_check() -> None:
    r = reference(None)
    assert r.status is Status.SKIP
    assert r.summary == "no IMAGE given: checking the host and the registries in the docker config"
