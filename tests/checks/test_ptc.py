"""ptc.* through the real runner and botocore: moto for ECR repositories, Secrets Manager, IAM and STS.

moto 5.2.5 does not implement DescribePullThroughCacheRules, ValidatePullThroughCacheRule or
DescribeRepositoryCreationTemplates: those answers come from `aws_stubs` (model-validated), and each
test that uses them says so. Everything else is a real call to the moto server on loopback.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import ecrdoctor.checks.ptc as ptc
import pytest

from ecrdoctor.api import Check
from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from tests.conftest import AwsStubs, MotoServer

ACCOUNT = "123456789012"  # moto's default account
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
FIPS_HOST = f"{ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32
DOCKER_HUB = {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io",
              "upstreamRegistry": "docker-hub", "registryId": ACCOUNT}
QUAY = {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io", "upstreamRegistry": "quay",
        "registryId": ACCOUNT}


def run(image: str, *checks: Check, **opts: Any) -> Report:
    return run_check(RunOptions(image=image, timeout=15, **opts), catalogue=Catalogue(checks))


def one(image: str, chk: Check, **opts: Any) -> Result:
    result = run(image, chk, **opts).result(chk.id)
    assert result is not None
    return result


def rules(stubs: AwsStubs, *entries: dict[str, Any]) -> None:
    """DescribePullThroughCacheRules is not implemented by moto: the rules come from aws_stubs."""
    stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": list(entries)})


def with_secret(rule: dict[str, Any], arn: str) -> dict[str, Any]:
    return {**rule, "credentialArn": arn}


def stub_calls(stubs: AwsStubs, operation: str) -> list[dict[str, Any]]:
    """The parameters of each stubbed call, decoded from the JSON body botocore built and signed."""
    return [json.loads(params["body"] or b"{}") for (_, op, params) in stubs.calls  # type: ignore[arg-type]
            if op == operation]


@contextmanager
def restricted_caller(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, allow: list[str]) -> Iterator[str]:
    """An IAM user allowed only `allow`, with moto's IAM enforcement on while the block runs."""
    iam = moto.boto3_client("iam")
    iam.create_user(UserName="node")
    iam.put_user_policy(UserName="node", PolicyName="only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allow, "Resource": "*"}]}))
    key = iam.create_access_key(UserName="node")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    moto.require_auth(True)
    try:
        yield f"arn:aws:iam::{ACCOUNT}:user/node"
    finally:
        moto.require_auth(False)


def create_secret(moto: MotoServer, name: str, region: str = "us-east-1", **extra: Any) -> str:
    sm = moto.boto3_client("secretsmanager", region=region)
    return str(sm.create_secret(Name=name, SecretString=json.dumps(
        {"username": "octo", "accessToken": "dckr_pat_never-printed-0123"}), **extra)["ARN"])


# -- ptc.rule ----------------------------------------------------------------------------------------


def test_docker_hub_cache_path_falls_under_its_rule_and_the_report_says_pull_through(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules from aws_stubs (moto lacks it)."""
    rules(aws_stubs, DOCKER_HUB, QUAY)
    report = run(f"{HOST}/docker-hub/library/nginx:1.25", ptc.ptc_rule)
    r = report.result("ptc.rule")
    assert r is not None and r.status is Status.PASS
    assert r.summary == ("docker-hub/library/nginx falls under the pull-through cache rule 'docker-hub': "
                         "registry-1.docker.io/library/nginx")
    assert (report.target.kind, report.target.ptc_prefix) == ("pull-through", "docker-hub")
    assert stub_calls(aws_stubs, "DescribePullThroughCacheRules")[0]["registryId"] == ACCOUNT


def test_rule_on_the_second_page_of_describe_pull_through_cache_rules_is_found(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Two pages of DescribePullThroughCacheRules from aws_stubs (moto lacks it and ignores maxResults)."""
    filler = [{"ecrRepositoryPrefix": f"team{i}", "upstreamRegistryUrl": "public.ecr.aws",
               "upstreamRegistry": "ecr-public"} for i in range(49)]
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": filler, "nextToken": "page-2"})
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": [QUAY]})
    r = one(f"{HOST}/quay/prometheus/node-exporter:v1.8.0", ptc.ptc_rule)
    assert r.status is Status.PASS and "'quay': quay.io/prometheus/node-exporter" in r.summary
    calls = stub_calls(aws_stubs, "DescribePullThroughCacheRules")
    assert len(calls) == 2 and calls[1]["nextToken"] == "page-2"
    assert len(r.evidence["rules"]) == 50


def test_longest_prefix_wins_over_a_shorter_one_and_root(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules from aws_stubs (moto lacks it)."""
    rules(aws_stubs, DOCKER_HUB,
          {"ecrRepositoryPrefix": "docker-hub/bitnami", "upstreamRegistryUrl": "registry-1.docker.io",
           "upstreamRepositoryPrefix": "bitnamicharts"},
          {"ecrRepositoryPrefix": "ROOT", "upstreamRegistryUrl": "111111111111.dkr.ecr.us-west-2.amazonaws.com"})
    r = one(f"{HOST}/docker-hub/bitnami/redis:7", ptc.ptc_rule)
    assert r.status is Status.PASS
    assert r.summary.endswith("'docker-hub/bitnami': registry-1.docker.io/bitnamicharts/redis")
    assert any("also matching: docker-hub" in d for d in r.details)


def test_root_rule_catches_a_path_no_other_prefix_matches(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules from aws_stubs (moto lacks it)."""
    rules(aws_stubs, QUAY, {"ecrRepositoryPrefix": "ROOT",
                            "upstreamRegistryUrl": "111111111111.dkr.ecr.us-west-2.amazonaws.com",
                            "upstreamRegistry": "ecr"})
    r = one(f"{HOST}/team/app:1.4", ptc.ptc_rule)
    assert r.status is Status.PASS and "rule 'ROOT'" in r.summary
    assert any("ROOT is the catch-all rule" in d for d in r.details)


def test_ptc_no_matching_rule_docker_hub_path_without_any_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-NO-MATCHING-RULE. DescribePullThroughCacheRules from aws_stubs (moto lacks it); the repository
    lookup is a real DescribeRepositories against moto."""
    rules(aws_stubs, QUAY)
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_rule)
    assert r.status is Status.FAIL
    assert r.summary == ("docker-hub/library/nginx looks like a docker-hub cache path, but registry 123456789012 "
                         "has no pull-through cache rule for 'docker-hub' in us-east-1")
    assert any("name unknown: The repository with name 'docker-hub/library/nginx' does not exist" in d
               for d in r.details)
    assert r.fix is not None and "ecrdoctor never does" in r.fix.text
    assert "credentials in the Secrets Manager secret ecr-pullthroughcache/docker-hub." in r.fix.text
    assert r.fix.commands == (
        "aws secretsmanager create-secret --region us-east-1 --name ecr-pullthroughcache/docker-hub "
        "--secret-string '{\"username\":\"<upstream-user>\",\"accessToken\":\"<upstream-access-token>\"}'",
        "aws ecr create-pull-through-cache-rule --region us-east-1 --ecr-repository-prefix docker-hub "
        "--upstream-registry-url registry-1.docker.io --credential-arn $(aws secretsmanager describe-secret "
        "--region us-east-1 --secret-id ecr-pullthroughcache/docker-hub --query ARN --output text)",
    )
    assert r.evidence["upstream"] == "docker-hub"


def test_ptc_no_matching_rule_quay_path_needs_only_the_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-NO-MATCHING-RULE with an upstream that needs no secret. Rules from aws_stubs (moto lacks it)."""
    rules(aws_stubs)
    r = one(f"{HOST}/quay/prometheus/node-exporter:v1.8.0", ptc.ptc_rule)
    assert r.status is Status.FAIL and "rules in us-east-1" not in r.summary
    assert r.fix is not None and r.fix.commands == (
        "aws ecr create-pull-through-cache-rule --region us-east-1 --ecr-repository-prefix quay "
        "--upstream-registry-url quay.io",)


def test_ptc_no_matching_rule_dockerhub_typo_for_the_docker_hub_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-NO-MATCHING-RULE, typo `dockerhub/` vs `docker-hub/`: the corrected reference also gets `library/`.
    Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/dockerhub/nginx:1.25", ptc.ptc_rule)
    assert r.status is Status.FAIL
    assert "the rule for registry-1.docker.io has the prefix 'docker-hub', not 'dockerhub'" in r.summary
    assert r.fix is not None and r.fix.commands == (f"docker pull {HOST}/docker-hub/library/nginx:1.25",)


def test_ptc_no_matching_rule_prefix_one_letter_off(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-NO-MATCHING-RULE, a prefix mistyped by one letter. Rules from aws_stubs (moto lacks it)."""
    rules(aws_stubs, DOCKER_HUB, QUAY)
    r = one(f"{HOST}/quya/prometheus/node-exporter@{DIGEST}", ptc.ptc_rule)
    assert r.status is Status.FAIL and "prefix 'quay', not 'quya'" in r.summary
    assert r.fix is not None and r.fix.commands == (f"docker pull {HOST}/quay/prometheus/node-exporter@{DIGEST}",)


def test_regular_repository_named_like_an_upstream_is_not_a_cache_path(moto: MotoServer,
                                                                      aws_stubs: AwsStubs) -> None:
    """The repository exists in moto; the (empty) rules come from aws_stubs (moto lacks them)."""
    rules(aws_stubs, QUAY)
    moto.boto3_client("ecr").create_repository(repositoryName="docker/app")
    r = one(f"{HOST}/docker/app:1.0", ptc.ptc_rule)
    assert r.status is Status.SKIP
    assert r.summary == "docker/app is a regular repository: no pull-through cache rule covers it"


def test_team_repository_without_a_rule_is_not_a_pull_through_question(moto: MotoServer,
                                                                       aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, DOCKER_HUB)
    report = run(f"{HOST}/team/app:1.4", ptc.ptc_rule)
    r = report.result("ptc.rule")
    assert r is not None and r.status is Status.SKIP
    assert r.summary == "no pull-through cache rule covers team/app in us-east-1 (1 rule: docker-hub)"
    assert report.target.kind == "private"


def test_node_role_without_describe_pull_through_cache_rules_is_missing_evidence(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """The denial of DescribePullThroughCacheRules comes from aws_stubs (moto lacks the operation)."""
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", error_code="AccessDeniedException", message=(
        "User: arn:aws:sts::123456789012:assumed-role/node/i-0abc is not authorized to perform: "
        "ecr:DescribePullThroughCacheRules on resource: arn:aws:ecr:us-east-1:123456789012:registry/* because no "
        "identity-based policy allows the ecr:DescribePullThroughCacheRules action"))
    report = run(f"{HOST}/docker-hub/nginx:latest", ptc.ptc_rule, ptc.ptc_validate, ptc.ptc_path)
    r = report.result("ptc.rule")
    assert r is not None and r.status is Status.SKIP
    assert r.summary == ("could not read the pull-through cache rules of 123456789012 in us-east-1: "
                         "arn:aws:sts::123456789012:assumed-role/node/i-0abc may not call "
                         "ecr:DescribePullThroughCacheRules (identity-based policy) (missing evidence)")
    assert any("looks like a docker-hub cache path" in d for d in r.details)
    validate = report.result("ptc.validate")
    assert validate is not None and validate.status is Status.SKIP and "could not be read" in validate.summary
    path = report.result("ptc.path")  # the library/ rule still applies to a prefix spelled like Docker Hub's
    assert path is not None and path.status is Status.WARN
    assert path.fix is not None and path.fix.commands == (f"docker pull {HOST}/docker-hub/library/nginx:latest",)


def test_ecr_failing_to_list_the_rules_leaves_the_area_not_evaluable(moto: MotoServer,
                                                                       aws_stubs: AwsStubs) -> None:
    """ServerException from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", error_code="ServerException", message="internal",
                  status=500)
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_rule)
    assert r.status is Status.SKIP
    assert r.summary == ("could not read the pull-through cache rules of 123456789012 in us-east-1: ECR answered "
                         "ServerException (not evaluable)")


@pytest.mark.parametrize("image", ["public.ecr.aws/docker/library/nginx:latest", "docker.io/library/nginx:latest",
                                   HOST])
def test_targets_that_are_not_private_ecr_repositories_are_skipped(image: str) -> None:
    report = run(image, ptc.ptc_rule, ptc.ptc_validate, ptc.ptc_path, ptc.ptc_credentials, ptc.ptc_first_pull,
                 ptc.ptc_templates)
    assert {r.status for r in report.results} == {Status.SKIP}
    assert all("pull-through cache rules" in r.summary for r in report.results)


# -- ptc.validate ------------------------------------------------------------------------------------


def test_valid_docker_hub_rule_passes_validation(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules and ValidatePullThroughCacheRule from aws_stubs (moto lacks both)."""
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", {"ecrRepositoryPrefix": "docker-hub", "isValid": True,
                                                          "registryId": ACCOUNT, "credentialArn": arn})
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_validate)
    assert r.status is Status.PASS
    assert r.summary == "ECR validated the rule 'docker-hub': it authenticates to registry-1.docker.io"
    assert stub_calls(aws_stubs, "ValidatePullThroughCacheRule") == [
        {"ecrRepositoryPrefix": "docker-hub", "registryId": ACCOUNT}]


def test_ptc_upstream_auth_failed_expired_docker_hub_token(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED. Rules and ValidatePullThroughCacheRule from aws_stubs (moto lacks both)."""
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", {
        "ecrRepositoryPrefix": "docker-hub", "isValid": False,
        "failure": "Unable to authenticate with the upstream registry using the provided credentials"})
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_validate)
    assert r.status is Status.FAIL
    assert r.summary == ("the pull-through cache rule 'docker-hub' does not validate against registry-1.docker.io: "
                         "Unable to authenticate with the upstream registry using the provided credentials")
    assert any("The authentication to the upstream registry failed" in d for d in r.details)
    assert r.fix is not None and r.fix.commands == (
        f"aws secretsmanager put-secret-value --region us-east-1 --secret-id {arn} --secret-string "
        "'{\"username\":\"<upstream-user>\",\"accessToken\":\"<upstream-access-token>\"}'",
        "aws ecr validate-pull-through-cache-rule --region us-east-1 --ecr-repository-prefix docker-hub",
    )


def test_rule_deleted_between_listing_and_validation(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PullThroughCacheRuleNotFoundException from aws_stubs (moto lacks the pull-through cache API)."""
    rules(aws_stubs, DOCKER_HUB)
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", error_code="PullThroughCacheRuleNotFoundException",
                  message="The pull through cache rule with prefix 'docker-hub' does not exist")
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_validate)
    assert r.status is Status.FAIL and "finds no pull-through cache rule 'docker-hub'" in r.summary
    assert r.fix is not None and r.fix.commands == ("aws ecr describe-pull-through-cache-rules --region us-east-1",)


def test_quay_rule_needs_no_validation(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules); Validate is never called."""
    rules(aws_stubs, QUAY)
    r = one(f"{HOST}/quay/prometheus/node-exporter:v1.8.0", ptc.ptc_validate)
    assert r.status is Status.SKIP and "needs no authentication" in r.summary
    assert stub_calls(aws_stubs, "ValidatePullThroughCacheRule") == []


def test_caller_without_validate_permission_is_missing_evidence(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """AccessDenied for ValidatePullThroughCacheRule from aws_stubs (moto lacks the operation)."""
    rules(aws_stubs, DOCKER_HUB)
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", error_code="AccessDeniedException", message=(
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:ValidatePullThroughCacheRule "
        "on resource: arn:aws:ecr:us-east-1:123456789012:repository/docker-hub"))
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_validate)
    assert r.status is Status.SKIP
    assert r.summary == ("could not check the rule 'docker-hub': arn:aws:iam::123456789012:user/ci may not call "
                         "ecr:ValidatePullThroughCacheRule (missing evidence, not a fault)")


def test_ptc_ecr_upstream_role_rule_does_not_validate(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-ECR-UPSTREAM-ROLE. Rules and ValidatePullThroughCacheRule from aws_stubs (moto lacks both)."""
    rules(aws_stubs, {"ecrRepositoryPrefix": "prod-mirror", "upstreamRegistry": "ecr",
                      "upstreamRegistryUrl": "111111111111.dkr.ecr.us-west-2.amazonaws.com",
                      "customRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ptc-ecr"})
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", {"isValid": False, "failure": "Unable to assume role"})
    r = one(f"{HOST}/prod-mirror/team/app:1.4", ptc.ptc_validate)
    assert r.status is Status.FAIL and r.summary.endswith(": Unable to assume role")
    assert r.fix is not None and "trust pullthroughcache.ecr.amazonaws.com" in r.fix.text
    assert r.fix.commands == ("aws ecr validate-pull-through-cache-rule --region us-east-1 --ecr-repository-prefix "
                              "prod-mirror",)


def test_validation_server_error_is_an_error(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """ServerException from aws_stubs (moto lacks ValidatePullThroughCacheRule)."""
    rules(aws_stubs, DOCKER_HUB)
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", error_code="ServerException", message="boom", status=500)
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_validate)
    assert r.status is Status.ERROR and "ServerException" in r.summary


def test_validation_skipped_for_a_repository_no_rule_covers(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/team/app:1.4", ptc.ptc_validate)
    assert (r.status, r.summary) == (Status.SKIP, "no pull-through cache rule covers team/app")


# -- ptc.path ------------------------------------------------------------------------------------------


def test_ptc_dockerhub_library_official_image_without_library(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-DOCKERHUB-LIBRARY. Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/docker-hub/nginx:latest", ptc.ptc_path)
    assert r.status is Status.FAIL
    assert r.summary == ("Docker Hub official image without library/: docker-hub/nginx maps to "
                         "registry-1.docker.io/nginx, which does not exist; "
                         f"pull {HOST}/docker-hub/library/nginx:latest")
    assert r.fix is not None and r.fix.commands == (f"docker pull {HOST}/docker-hub/library/nginx:latest",)
    assert any("The authentication to the upstream registry failed" in d for d in r.details)


def test_ptc_nested_path_library_in_front_of_an_organisation_image(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-NESTED-PATH (aws/containers-roadmap#2354). Rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/docker-hub/library/percona/percona-xtradb-cluster-operator:1.14.0", ptc.ptc_path)
    assert r.status is Status.FAIL and r.summary.startswith("library/ in front of a non-official Docker Hub image")
    assert r.fix is not None and r.fix.commands == (
        f"docker pull {HOST}/docker-hub/percona/percona-xtradb-cluster-operator:1.14.0",)


@pytest.mark.parametrize(("repo", "upstream"), [
    ("docker-hub/library/nginx", "registry-1.docker.io/library/nginx"),
    ("docker-hub/bitnami/nginx", "registry-1.docker.io/bitnami/nginx"),
    ("quay/prometheus/node-exporter", "quay.io/prometheus/node-exporter"),
])
def test_correct_cache_paths_show_the_upstream_repository(repo: str, upstream: str, moto: MotoServer,
                                                          aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, DOCKER_HUB, QUAY)
    r = one(f"{HOST}/{repo}:1", ptc.ptc_path)
    assert (r.status, r.summary) == (Status.PASS, f"{repo} maps to {upstream}")


def test_upstream_repository_prefix_is_part_of_the_upstream_path(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """ECR-to-ECR rule with an upstream prefix; rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, {"ecrRepositoryPrefix": "prod-mirror", "upstreamRepositoryPrefix": "prod",
                      "upstreamRegistryUrl": "111111111111.dkr.ecr.us-west-2.amazonaws.com", "upstreamRegistry": "ecr"})
    r = one(f"{HOST}/prod-mirror/team/app:1.4", ptc.ptc_path)
    assert r.summary == "prod-mirror/team/app maps to 111111111111.dkr.ecr.us-west-2.amazonaws.com/prod/team/app"


def test_root_docker_hub_rule_official_image_by_digest_keeps_the_digest(moto: MotoServer,
                                                                       aws_stubs: AwsStubs) -> None:
    """PTC-DOCKERHUB-LIBRARY under a ROOT rule; rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, {**DOCKER_HUB, "ecrRepositoryPrefix": "ROOT"})
    r = one(f"{HOST}/redis@{DIGEST}", ptc.ptc_path)
    assert r.status is Status.FAIL
    assert r.fix is not None and r.fix.commands == (f"docker pull {HOST}/library/redis@{DIGEST}",)


def test_path_skipped_without_a_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs)
    assert one(f"{HOST}/docker-hub/nginx", ptc.ptc_path).status is Status.SKIP


# -- ptc.credentials (Secrets Manager is real moto) ----------------------------------------------------


def test_docker_hub_rule_secret_exists_where_it_must(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """The secret is real (moto Secrets Manager); the rule comes from aws_stubs (moto lacks the PTC API)."""
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub")
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    report = run(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_credentials)
    r = report.result("ptc.credentials")
    assert r is not None and r.status is Status.PASS
    assert r.summary == ("the rule 'docker-hub' uses the secret ecr-pullthroughcache/docker-hub, which exists in "
                         "123456789012 / us-east-1")
    assert "dckr_pat_never-printed-0123" not in json.dumps(report.to_dict())


def test_docker_hub_rule_without_a_credential_arn(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rule from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.FAIL and "has no credentialArn: docker-hub needs upstream credentials" in r.summary
    assert r.fix is not None and r.fix.commands[1] == (
        "aws ecr update-pull-through-cache-rule --region us-east-1 --ecr-repository-prefix docker-hub "
        "--credential-arn $(aws secretsmanager describe-secret --region us-east-1 --secret-id "
        "ecr-pullthroughcache/docker-hub --query ARN --output text)")


def test_ptc_upstream_auth_failed_secret_without_the_cache_prefix(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED: a secret the service-linked role may not read. Secret real (moto); rule from
    aws_stubs (moto lacks it)."""
    arn = create_secret(moto, "dockerhub-creds")
    rules(aws_stubs, {**DOCKER_HUB, "ecrRepositoryPrefix": "hub", "credentialArn": arn})
    r = one(f"{HOST}/hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.FAIL
    assert r.summary.startswith("the secret 'dockerhub-creds-") and "is not named ecr-pullthroughcache/" in r.summary
    assert r.fix is not None and r.fix.commands[0].startswith(
        "aws secretsmanager create-secret --region us-east-1 --name ecr-pullthroughcache/hub ")


def test_ptc_upstream_auth_failed_secret_in_another_region(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED: secret in another Region. Secret real (moto us-west-2); rule from aws_stubs."""
    arn = create_secret(moto, "ecr-pullthroughcache/ghcr", region="us-west-2")
    rules(aws_stubs, {"ecrRepositoryPrefix": "github", "upstreamRegistryUrl": "ghcr.io", "credentialArn": arn})
    r = one(f"{HOST}/github/org/tool:2", ptc.ptc_credentials)
    assert r.status is Status.FAIL
    assert r.summary == "the secret is in us-west-2, the rule in us-east-1: it must be the same Region"


def test_ptc_upstream_auth_failed_secret_in_another_account(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED: secret in another account. Rule from aws_stubs (moto lacks it)."""
    arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.FAIL
    assert r.summary == "the secret is in account 111111111111, the rule in 123456789012: it must be the same"


def test_ptc_upstream_auth_failed_secret_deleted(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED: the secret was deleted. DescribeSecret is real (moto); rule from aws_stubs."""
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub")
    moto.boto3_client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.FAIL
    assert r.summary.startswith("the rule 'docker-hub' uses the secret ecr-pullthroughcache/docker-hub-")
    assert r.summary.endswith("which does not exist in 123456789012 / us-east-1")
    assert r.evidence["error_code"] == "ResourceNotFoundException"


def test_ptc_upstream_auth_failed_secret_scheduled_for_deletion(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED: DeletedDate set. DescribeSecret is real (moto); rule from aws_stubs."""
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub")
    moto.boto3_client("secretsmanager").delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.FAIL and "is scheduled for deletion" in r.summary
    assert r.fix is not None and r.fix.commands == (
        f"aws secretsmanager restore-secret --region us-east-1 --secret-id {arn}",)


def test_ptc_upstream_auth_failed_secret_under_a_customer_managed_kms_key(moto: MotoServer,
                                                                          aws_stubs: AwsStubs) -> None:
    """PTC-UPSTREAM-AUTH-FAILED risk: a CMK the service-linked role may not use. Secret real (moto); rule
    from aws_stubs."""
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub", KmsKeyId=key)
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.WARN and f"customer-managed KMS key {key}" in r.summary
    assert r.fix is not None and r.fix.commands == (
        f"aws secretsmanager update-secret --region us-east-1 --secret-id {arn} --kms-key-id alias/aws/secretsmanager",)


def test_caller_without_describe_secret_is_missing_evidence(moto: MotoServer, aws_stubs: AwsStubs,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's IAM enforcement denies secretsmanager:DescribeSecret; the rule comes from aws_stubs."""
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub")
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    with restricted_caller(moto, monkeypatch, ["ecr:*"]) as user:
        r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.SKIP
    assert r.summary.startswith("could not check the secret ecr-pullthroughcache/docker-hub-")
    assert f"{user} may not call secretsmanager:DescribeSecret (missing evidence, not a fault)" in r.summary


def test_unreachable_secrets_manager_endpoint_cannot_be_evaluated(moto: MotoServer, aws_stubs: AwsStubs,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets Manager on a closed loopback port: skip, naming the network checks (not an error of the check).
    The rule comes from aws_stubs (moto lacks it)."""
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub")
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{closed}")
    r = one(f"{HOST}/docker-hub/library/nginx", ptc.ptc_credentials)
    assert r.status is Status.SKIP and "EndpointConnectionError" in r.summary, r.summary
    assert r.summary.startswith("cannot reach AWS from here") and "net.reach" in r.summary


def test_quay_and_ecr_upstreams_need_no_secret(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    role = f"arn:aws:iam::{ACCOUNT}:role/ptc-ecr"
    rules(aws_stubs, QUAY, {"ecrRepositoryPrefix": "prod-mirror", "upstreamRegistry": "ecr", "customRoleArn": role,
                            "upstreamRegistryUrl": "111111111111.dkr.ecr.us-west-2.amazonaws.com"})
    quay = one(f"{HOST}/quay/prometheus/node-exporter:v1", ptc.ptc_credentials)
    assert (quay.status, quay.summary) == (Status.SKIP, "quay.io needs no upstream credentials")
    mirror = one(f"{HOST}/prod-mirror/team/app:1", ptc.ptc_credentials)
    assert mirror.status is Status.SKIP and f"authenticates with an IAM role ({role})" in mirror.summary


# -- ptc.first-pull ------------------------------------------------------------------------------------


def test_image_already_cached(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """The cache repository is real (moto); rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, DOCKER_HUB)
    moto.boto3_client("ecr").create_repository(repositoryName="docker-hub/library/nginx")
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_first_pull)
    assert r.status is Status.PASS
    assert r.summary.startswith("docker-hub/library/nginx is already cached from registry-1.docker.io/library/nginx")


def test_ptc_first_pull_egress_told_for_a_first_pull_still_to_come(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-FIRST-PULL-EGRESS (told, not probed). DescribeRepositories is real (moto); rules from aws_stubs."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_first_pull)
    assert r.status is Status.INFO
    assert r.summary == ("docker-hub/library/nginx is not cached yet: the first pull imports it from "
                         "registry-1.docker.io/library/nginx")
    assert any("NAT gateway" in d and "VPC endpoints" in d for d in r.details)
    assert any("retry" in d for d in r.details)


def test_ptc_digest_first_pull_of_an_uncached_image(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-DIGEST-FIRST-PULL (aws/containers-roadmap#2837). Repository lookup real (moto); rules from aws_stubs."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{HOST}/docker-hub/library/nginx:1.25@{DIGEST}", ptc.ptc_first_pull)
    assert r.status is Status.FAIL and "by digest" in r.summary
    assert r.fix is not None and r.fix.commands == (f"docker pull {HOST}/docker-hub/library/nginx:1.25",
                                                    f"docker pull {HOST}/docker-hub/library/nginx:1.25@{DIGEST}")


def test_ptc_digest_first_pull_of_a_new_digest_in_an_existing_cache_repository(moto: MotoServer,
                                                                               aws_stubs: AwsStubs) -> None:
    """PTC-DIGEST-FIRST-PULL: repository cached, digest not. DescribeImages by imageIds is real (moto)."""
    rules(aws_stubs, DOCKER_HUB)
    moto.boto3_client("ecr").create_repository(repositoryName="docker-hub/library/nginx")
    r = one(f"{HOST}/docker-hub/library/nginx@{DIGEST}", ptc.ptc_first_pull)
    assert r.status is Status.FAIL and f"{DIGEST} is not cached in docker-hub/library/nginx yet" in r.summary
    assert r.fix is not None and r.fix.commands[0] == f"docker pull {HOST}/docker-hub/library/nginx:<tag>"


def test_digest_already_cached(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """The cached image is pushed to moto; rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, DOCKER_HUB)
    client = moto.boto3_client("ecr")
    client.create_repository(repositoryName="docker-hub/library/nginx")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                                      "digest": "sha256:" + "cd" * 32}, "layers": []})
    digest = client.put_image(repositoryName="docker-hub/library/nginx", imageManifest=manifest,
                              imageTag="1.25")["image"]["imageId"]["imageDigest"]
    r = one(f"{HOST}/docker-hub/library/nginx@{digest}", ptc.ptc_first_pull)
    assert r.status is Status.PASS


def test_ptc_fips_first_pull(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-FIPS-FIRST-PULL. DescribeRepositories real (moto); rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, DOCKER_HUB)
    r = one(f"{FIPS_HOST}/docker-hub/library/nginx:1.25", ptc.ptc_first_pull)
    assert r.status is Status.WARN and f"through the FIPS host {FIPS_HOST}" in r.summary
    assert r.fix is not None and r.fix.commands == (f"docker pull {HOST}/docker-hub/library/nginx:1.25",)


def test_ptc_immutable_stale_cache_repository(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-IMMUTABLE-STALE. The repository is real (moto); rules from aws_stubs (moto lacks them)."""
    rules(aws_stubs, DOCKER_HUB)
    moto.boto3_client("ecr").create_repository(repositoryName="docker-hub/library/nginx",
                                               imageTagMutability="IMMUTABLE")
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_first_pull)
    assert r.status is Status.WARN and "has IMMUTABLE tags" in r.summary
    assert r.fix is not None and r.fix.commands == (
        "aws ecr put-image-tag-mutability --region us-east-1 --repository-name docker-hub/library/nginx "
        "--image-tag-mutability MUTABLE",)


def test_first_pull_unknown_when_describe_repositories_is_denied(moto: MotoServer, aws_stubs: AwsStubs,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's IAM enforcement denies ecr:DescribeRepositories; the rules come from aws_stubs."""
    rules(aws_stubs, DOCKER_HUB)
    with restricted_caller(moto, monkeypatch, ["ecr:GetAuthorizationToken"]):
        r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_first_pull)
    assert r.status is Status.SKIP
    assert r.summary == "cannot tell whether docker-hub/library/nginx is cached: DescribeRepositories answered " \
                        "AccessDenied"


def test_first_pull_skipped_without_a_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs, QUAY)
    assert one(f"{HOST}/team/app:1.4", ptc.ptc_first_pull).status is Status.SKIP


# -- ptc.templates (DescribeRepositoryCreationTemplates from aws_stubs: moto lacks it) -------------------


def templates(stubs: AwsStubs, *entries: dict[str, Any], next_token: Optional[str] = None) -> None:
    page: dict[str, Any] = {"registryId": ACCOUNT, "repositoryCreationTemplates": list(entries)}
    if next_token:
        page["nextToken"] = next_token
    stubs.add("ecr", "DescribeRepositoryCreationTemplates", page)


KMS = {"encryptionType": "KMS", "kmsKey": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd"}


def test_ptc_template_role_kms_template_without_custom_role(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-TEMPLATE-ROLE. Templates and rules from aws_stubs (moto lacks both); the repository lookup is moto."""
    rules(aws_stubs, DOCKER_HUB)
    templates(aws_stubs, {"prefix": "docker-hub", "appliedFor": ["PULL_THROUGH_CACHE"],
                          "encryptionConfiguration": KMS})
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates)
    assert r.status is Status.FAIL
    assert r.summary == ("the creation template 'docker-hub' sets KMS encryption but has no customRoleArn: ECR "
                         "cannot create cache repositories under it, so the first pull of docker-hub/library/nginx "
                         "fails")
    assert r.fix is not None and r.fix.commands == (
        "aws ecr update-repository-creation-template --region us-east-1 --prefix docker-hub "
        f"--custom-role-arn arn:aws:iam::{ACCOUNT}:role/<template-role>",)
    sent = stub_calls(aws_stubs, "DescribeRepositoryCreationTemplates")[0]["prefixes"]
    assert sent == ["docker-hub", "docker-hub/", "docker-hub/library", "docker-hub/library/",
                    "docker-hub/library/nginx", "docker-hub/library/nginx/", "ROOT"]


def test_ptc_template_role_root_tags_template_found_on_the_second_page(moto: MotoServer,
                                                                       aws_stubs: AwsStubs) -> None:
    """PTC-TEMPLATE-ROLE via ROOT, templates paginated over two pages; all from aws_stubs (moto lacks it)."""
    rules(aws_stubs, QUAY)
    templates(aws_stubs, {"prefix": "quay", "appliedFor": ["REPLICATION"], "encryptionConfiguration": KMS},
              next_token="t2")
    templates(aws_stubs, {"prefix": "ROOT", "appliedFor": ["PULL_THROUGH_CACHE", "CREATE_ON_PUSH"],
                          "resourceTags": [{"Key": "team", "Value": "platform"}]})
    r = one(f"{HOST}/quay/prometheus/node-exporter:v1", ptc.ptc_templates)
    assert r.status is Status.FAIL and "template 'ROOT' sets resource tags but has no customRoleArn" in r.summary
    assert stub_calls(aws_stubs, "DescribeRepositoryCreationTemplates")[1]["nextToken"] == "t2"


def test_ptc_template_role_on_an_existing_cache_repository_warns(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-TEMPLATE-ROLE for later images. Templates/rules from aws_stubs; the repository is real (moto)."""
    rules(aws_stubs, DOCKER_HUB)
    templates(aws_stubs, {"prefix": "docker-hub", "appliedFor": ["PULL_THROUGH_CACHE"],
                          "encryptionConfiguration": KMS})
    moto.boto3_client("ecr").create_repository(repositoryName="docker-hub/library/nginx")
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates)
    assert r.status is Status.WARN and "exists already; new images under the prefix will fail" in r.summary


def test_longest_template_prefix_wins_over_root(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Templates and rules from aws_stubs (moto lacks both)."""
    rules(aws_stubs, DOCKER_HUB)
    role = f"arn:aws:iam::{ACCOUNT}:role/ecr-templates"
    templates(aws_stubs,
              {"prefix": "ROOT", "appliedFor": ["PULL_THROUGH_CACHE"], "resourceTags": [{"Key": "a", "Value": "b"}]},
              {"prefix": "docker-hub/", "appliedFor": ["PULL_THROUGH_CACHE"], "encryptionConfiguration": KMS,
               "customRoleArn": role})
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates)
    assert r.status is Status.PASS
    assert r.summary == (f"the creation template 'docker-hub/' applies to docker-hub/library/nginx and sets KMS "
                         f"encryption with the role {role}")


def test_no_template_for_pull_through_cache(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Templates and rules from aws_stubs (moto lacks both)."""
    rules(aws_stubs, DOCKER_HUB)
    templates(aws_stubs, {"prefix": "docker-hub", "appliedFor": ["CREATE_ON_PUSH"], "encryptionConfiguration": KMS})
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates)
    assert r.status is Status.PASS and r.summary.startswith("no repository creation template applies")


def test_ptc_immutable_stale_template(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """PTC-IMMUTABLE-STALE via the creation template. Templates and rules from aws_stubs (moto lacks both)."""
    rules(aws_stubs, DOCKER_HUB)
    templates(aws_stubs, {"prefix": "docker-hub", "appliedFor": ["PULL_THROUGH_CACHE"],
                          "imageTagMutability": "IMMUTABLE"})
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates)
    assert r.status is Status.WARN and "makes cache repositories IMMUTABLE" in r.summary
    assert r.fix is not None and r.fix.commands == (
        "aws ecr update-repository-creation-template --region us-east-1 --prefix docker-hub "
        "--image-tag-mutability MUTABLE",)


def test_templates_denied_is_missing_evidence(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """AccessDenied for DescribeRepositoryCreationTemplates from aws_stubs (moto lacks the operation)."""
    rules(aws_stubs, DOCKER_HUB)
    aws_stubs.add("ecr", "DescribeRepositoryCreationTemplates", error_code="AccessDeniedException", message=(
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "ecr:DescribeRepositoryCreationTemplates on resource: *"))
    r = one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates)
    assert r.status is Status.SKIP and "could not check the repository creation templates" in r.summary


def test_templates_server_error_is_an_error(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """ServerException from aws_stubs (moto lacks DescribeRepositoryCreationTemplates)."""
    rules(aws_stubs, DOCKER_HUB)
    aws_stubs.add("ecr", "DescribeRepositoryCreationTemplates", error_code="ServerException", message="x",
                  status=500)
    assert one(f"{HOST}/docker-hub/library/nginx:latest", ptc.ptc_templates).status is Status.ERROR


def test_templates_of_another_account_cannot_be_read(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """The caller (moto, account 123456789012) pulls from 111111111111; rules from aws_stubs."""
    rules(aws_stubs, {**DOCKER_HUB, "registryId": "111111111111"})
    r = one("111111111111.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx", ptc.ptc_templates)
    assert r.status is Status.SKIP and "the caller is in 123456789012" in r.summary
    assert stub_calls(aws_stubs, "DescribeRepositoryCreationTemplates") == []


def test_templates_skipped_without_a_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules from aws_stubs (moto lacks DescribePullThroughCacheRules)."""
    rules(aws_stubs)
    assert one(f"{HOST}/team/app", ptc.ptc_templates).status is Status.SKIP


def test_all_pull_through_checks_together_on_a_broken_docker_hub_pull(moto: MotoServer,
                                                                      aws_stubs: AwsStubs) -> None:
    """The whole area at once, concurrently: `docker-hub/nginx` without library/, expired token. Rules,
    validation and templates from aws_stubs (moto lacks them); secret and repositories are moto."""
    arn = create_secret(moto, "ecr-pullthroughcache/docker-hub")
    rules(aws_stubs, with_secret(DOCKER_HUB, arn))
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", {"isValid": False, "failure": "Invalid credentials"})
    templates(aws_stubs)
    report = run(f"{HOST}/docker-hub/nginx:latest", ptc.ptc_rule, ptc.ptc_path, ptc.ptc_validate,
                 ptc.ptc_credentials, ptc.ptc_templates, ptc.ptc_first_pull)
    status = {r.id: r.status for r in report.results}
    assert status == {"ptc.rule": Status.PASS, "ptc.path": Status.FAIL, "ptc.validate": Status.FAIL,
                      "ptc.credentials": Status.PASS, "ptc.templates": Status.PASS, "ptc.first-pull": Status.INFO}
    assert report.diagnosis == ("ptc.path", "ptc.validate")
    assert len(stub_calls(aws_stubs, "DescribePullThroughCacheRules")) == 1  # fetched once, shared
