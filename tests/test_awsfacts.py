"""Shared AWS facts: denial parsing, pull-through rule matching, and the once-per-run fetches against moto."""

from __future__ import annotations

from typing import Optional

import pytest

from ecrdoctor.awsfacts import PullThroughRule, auth_token, denial_reason, match_rule, parse_denial, repository
from ecrdoctor.context import Context, RunOptions
from tests.conftest import AwsStubs, MotoServer

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/team/app"
DENIED = "User: arn:aws:sts::123456789012:assumed-role/node/i-1 is not authorized to perform: ecr:BatchGetImage on " \
         "resource: " + REPO


# -- AccessDenied messages (aws-side A5: the enhanced access-denied template, one per policy type) ----------------


@pytest.mark.parametrize(
    ("suffix", "kind", "explicit"),
    [
        (" because no identity-based policy allows the ecr:BatchGetImage action", "identity", False),
        (" because no resource-based policy allows the ecr:BatchGetImage action", "resource", False),
        (" with an explicit deny in a service control policy", "scp", True),
        (" because no service control policy allows the ecr:BatchGetImage action", "scp", False),
        (" with an explicit deny in a resource control policy", "rcp", True),
        (" because no permissions boundary allows the ecr:BatchGetImage action", "boundary", False),
        (" with an explicit deny in a permissions boundary", "boundary", True),
        (" because no session policy allows the ecr:BatchGetImage action", "session", False),
        (" because no VPC endpoint policy allows the ecr:BatchGetImage action", "vpc-endpoint", False),
        (" with an explicit deny in a VPC endpoint policy", "vpc-endpoint", True),
        (" with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/deny-ecr",
         "identity", True),
        (" with an explicit deny", None, True),
        ("", None, False),  # old messages, and moto's
    ],
)
def test_denial_message_names_the_policy_type(suffix: str, kind: Optional[str], explicit: bool) -> None:
    reason = denial_reason(DENIED + suffix)
    assert (reason.kind, reason.explicit) == (kind, explicit)


def test_denial_message_with_an_unknown_policy_type_keeps_its_words() -> None:
    reason = denial_reason(DENIED + " because no shiny-new policy allows the ecr:BatchGetImage action")
    assert reason.kind is None and reason.phrase == "shiny-new" and reason.label == "shiny-new policy"


def test_denial_message_wrapped_over_lines_still_classifies() -> None:
    assert denial_reason(DENIED + "\n because no\n permissions boundary allows the x action").kind == "boundary"


@pytest.mark.parametrize(
    ("message", "policy_type", "explicit", "action"),
    [
        ("User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecr:GetAuthorizationToken "
         "on resource: *", None, False, "ecr:GetAuthorizationToken"),
        ("User: arn:aws:sts::123456789012:assumed-role/node/i-1 is not authorized to perform: ecr:BatchGetImage "
         "on resource: arn:aws:ecr:us-east-1:123456789012:repository/team/app because no identity-based policy "
         "allows the ecr:BatchGetImage action", "identity-based", False, "ecr:BatchGetImage"),
        ("User: arn:aws:sts::111111111111:assumed-role/r/s is not authorized to perform: ecr:BatchGetImage on "
         "resource: arn:aws:ecr:us-east-1:123456789012:repository/x because no resource-based policy allows the "
         "ecr:BatchGetImage action", "resource-based", False, "ecr:BatchGetImage"),
        ("User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecr:BatchGetImage on resource: "
         "arn:aws:ecr:us-east-1:123456789012:repository/x with an explicit deny in a service control policy",
         "service control", True, "ecr:BatchGetImage"),
        ("User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecr:GetAuthorizationToken on "
         "resource: * with an explicit deny", None, True, "ecr:GetAuthorizationToken"),
        ("User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecr:BatchGetImage on resource: "
         "arn:aws:ecr:us-east-1:123456789012:repository/x because no permissions boundary allows the "
         "ecr:BatchGetImage action", "permissions boundary", False, "ecr:BatchGetImage"),
        ("User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecr:BatchGetImage on resource: "
         "arn:aws:ecr:us-east-1:123456789012:repository/x with an explicit deny in an identity-based policy: "
         "arn:aws:iam::123456789012:policy/deny-ecr", "identity-based", True, "ecr:BatchGetImage"),
    ],
)
def test_access_denied_messages_name_action_and_policy_type(message: str, policy_type: str, explicit: bool,
                                                            action: str) -> None:
    denial = parse_denial(message)
    assert (denial.action, denial.policy_type, denial.explicit_deny) == (action, policy_type, explicit)


def test_an_unknown_denial_shape_keeps_the_message() -> None:
    denial = parse_denial("Access denied")
    assert denial.action is None and denial.message == "Access denied"


RULES = (
    PullThroughRule("docker-hub", "registry-1.docker.io"),
    PullThroughRule("docker-hub/bitnami", "registry-1.docker.io", upstream_prefix="bitnamicharts"),
    PullThroughRule("ROOT", "111111111111.dkr.ecr.us-west-2.amazonaws.com"),
    PullThroughRule("quay", "quay.io"),
)


@pytest.mark.parametrize(
    ("repo", "prefix", "upstream"),
    [
        ("docker-hub/library/nginx", "docker-hub", "library/nginx"),
        ("docker-hub/bitnami/redis", "docker-hub/bitnami", "bitnamicharts/redis"),
        ("quay/prometheus/node-exporter", "quay", "prometheus/node-exporter"),
        ("docker-hubx/nginx", "ROOT", "docker-hubx/nginx"),  # a prefix matches whole path components only
        ("team/app", "ROOT", "team/app"),
    ],
)
def test_longest_prefix_wins_and_root_comes_last(repo: str, prefix: str, upstream: str) -> None:
    rule = match_rule(RULES, repo)
    assert rule is not None and rule.prefix == prefix and rule.upstream_path(repo) == upstream


def test_no_rule_matches_without_root() -> None:
    assert match_rule(RULES[:2], "team/app") is None


def test_auth_token_is_fetched_once_and_masked(moto: MotoServer) -> None:
    ctx = Context.create(RunOptions(image=IMAGE))
    token = auth_token(ctx)
    assert auth_token(ctx) is token
    assert token.token not in repr(token)
    assert ctx.redactor.text(f"Basic {token.token}").count(token.token) == 0


def test_repository_lookup_finds_or_reports_missing(moto: MotoServer) -> None:
    moto.boto3_client("ecr").create_repository(repositoryName="team/app")
    found = repository(Context.create(RunOptions(image=IMAGE)))
    assert found.exists and found.repository is not None and found.repository["repositoryName"] == "team/app"
    missing = repository(Context.create(RunOptions(image=IMAGE.replace("team/app", "team/ap"))))
    assert missing.missing and "does not exist" in (missing.error_message or "")


def test_report_target_is_pull_through_when_a_rule_matches(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules comes from aws_stubs: moto does not implement it."""
    from ecrdoctor.awsfacts import pull_through_rules

    aws_stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": [
        {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"}]})
    ctx = Context.create(RunOptions(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx"))
    assert ctx.target().kind == "private"  # nothing fetched the rules yet: the report says what it knows
    pull_through_rules(ctx)
    assert (ctx.target().kind, ctx.target().ptc_prefix) == ("pull-through", "docker-hub")
