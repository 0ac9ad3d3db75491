"""The local IAM evaluator and parsers behind the iam.* checks: caller ARNs, policies, manifests."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from ecrdoctor.iampolicy import (
    ArnError,
    CallerPrincipal,
    Decision,
    ManifestError,
    PolicyError,
    action_matches,
    evaluate,
    manifest_refs,
    parse_caller,
    parse_policy,
    parse_simulation,
    repository_arn,
    resource_matches,
    simulation_source_arn,
)

REPO = "arn:aws:ecr:us-east-1:123456789012:repository/team/app"


# -- the caller ---------------------------------------------------------------------------------------------------


def test_assumed_role_session_keeps_role_name_session_and_unique_id() -> None:
    c = parse_caller("arn:aws:sts::123456789012:assumed-role/node-role/i-0abc", "AROAEXAMPLEID:i-0abc")
    assert (c.kind, c.name, c.session, c.unique_id, c.role_arn) == (
        "assumed-role", "node-role", "i-0abc", "AROAEXAMPLEID", None)
    # the simulator rejects session ARNs and the session ARN has no path: no source until the role ARN is known
    assert simulation_source_arn(c) is None
    mapped = parse_caller(c.arn, "AROAEXAMPLEID:i-0abc",
                          role_arn="arn:aws:iam::123456789012:role/service-role/node-role")
    assert simulation_source_arn(mapped) == "arn:aws:iam::123456789012:role/service-role/node-role"


def test_sso_session_name_with_slashes() -> None:
    c = parse_caller("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123/alice@example.com")
    assert c.name == "AWSReservedSSO_Dev_0123" and c.session == "alice@example.com"


@pytest.mark.parametrize(
    ("arn", "kind", "name", "source"),
    [
        ("arn:aws:iam::123456789012:user/ci/deployer", "user", "deployer",
         "arn:aws:iam::123456789012:user/ci/deployer"),
        ("arn:aws:iam::123456789012:root", "root", None, None),
        ("arn:aws:sts::123456789012:federated-user/bob", "federated-user", "bob", None),
        ("arn:aws-cn:iam::123456789012:role/x/builder", "role", "builder",
         "arn:aws-cn:iam::123456789012:role/x/builder"),
    ],
)
def test_caller_kinds_and_what_the_simulator_accepts(arn: str, kind: str, name: Optional[str],
                                                     source: Optional[str]) -> None:
    c = parse_caller(arn)
    assert (c.kind, c.name) == (kind, name)
    assert simulation_source_arn(c) == source


@pytest.mark.parametrize("arn", ["", "arn:aws:s3:::bucket", "arn:aws:iam::123:user/x", "not an arn"])
def test_non_principal_arns_are_rejected(arn: str) -> None:
    with pytest.raises(ArnError):
        parse_caller(arn)


def test_repository_arn() -> None:
    assert repository_arn("aws-cn", "cn-north-1", "210987654321", "a/b") == \
        "arn:aws-cn:ecr:cn-north-1:210987654321:repository/a/b"


# -- wildcards ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("ecr:*", "ecr:BatchGetImage", True),
        ("ecr:Batch*", "ecr:BatchGetImage", True),
        ("ecr:batchgetimage", "ecr:BatchGetImage", True),  # actions are case-insensitive
        ("*", "ecr:GetDownloadUrlForLayer", True),
        ("ecr:Get*", "ecr:BatchGetImage", False),
        ("ecr:BatchGetImag?", "ecr:BatchGetImage", True),
        ("s3:*", "ecr:BatchGetImage", False),
        ("ecr:[a]*", "ecr:BatchGetImage", False),  # brackets are literal, not a character class
    ],
)
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


def test_resource_wildcards_span_slashes_and_are_case_sensitive() -> None:
    assert resource_matches("arn:aws:ecr:*:123456789012:repository/*", REPO)
    assert resource_matches("arn:aws:ecr:us-east-1:123456789012:repository/team/*", REPO)
    assert not resource_matches("arn:aws:ecr:us-east-1:123456789012:repository/Team/*", REPO)


# -- policies -----------------------------------------------------------------------------------------------------

ROLE = parse_caller("arn:aws:sts::111111111111:assumed-role/node-role/i-1", "AROANODEROLE:i-1",
                    role_arn="arn:aws:iam::111111111111:role/eks/node-role")
USER = parse_caller("arn:aws:iam::123456789012:user/ci")


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def decide(text: str, caller: CallerPrincipal = ROLE, action: str = "ecr:BatchGetImage") -> Decision:
    return evaluate(parse_policy(text), caller, action, REPO).decision


def allow(principal: Any, action: Any = "ecr:BatchGetImage", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, **extra}


@pytest.mark.parametrize(
    ("principal", "granted_to"),
    [
        ("*", "any"),
        ({"AWS": "*"}, "any"),
        ({"AWS": "111111111111"}, "account"),
        ({"AWS": "arn:aws:iam::111111111111:root"}, "account"),
        ({"AWS": "arn:aws:iam::111111111111:role/eks/node-role"}, "principal"),
        ({"AWS": ["arn:aws:iam::222222222222:root", "arn:aws:iam::111111111111:role/eks/node-role"]}, "principal"),
        ({"AWS": "arn:aws:sts::111111111111:assumed-role/node-role/i-1"}, "principal"),
        ({"AWS": "AROANODEROLE"}, "principal"),  # a deleted-and-recreated role shows as its old unique id
    ],
)
def test_principal_forms_that_cover_the_caller(principal: Any, granted_to: str) -> None:
    ev = evaluate(parse_policy(policy(allow(principal))), ROLE, "ecr:BatchGetImage", REPO)
    assert ev.decision is Decision.ALLOW and ev.granted_to == granted_to


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": "222222222222"},
        {"AWS": "arn:aws:iam::222222222222:root"},
        {"AWS": "arn:aws:iam::111111111111:role/other-role"},
        {"AWS": "arn:aws:iam::111111111111:user/node-role"},  # a user of the same name is not the role
        {"AWS": "arn:aws:sts::111111111111:assumed-role/node-role/other-session"},
        {"Service": "ecs-tasks.amazonaws.com"},
    ],
)
def test_principal_forms_that_do_not_cover_the_caller(principal: Any) -> None:
    assert decide(policy(allow(principal))) is Decision.NONE


def test_explicit_deny_wins_over_allow() -> None:
    text = policy(allow("*"), {"Sid": "NoPulls", "Effect": "Deny", "Principal": "*", "Action": "ecr:*"})
    ev = evaluate(parse_policy(text), ROLE, "ecr:BatchGetImage", REPO)
    assert ev.decision is Decision.DENY and ev.denies[0].statement.label == "statement 'NoPulls'"


def test_conditions_are_reported_not_evaluated() -> None:
    text = policy(allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}))
    ev = evaluate(parse_policy(text), ROLE, "ecr:BatchGetImage", REPO)
    assert ev.decision is Decision.CONDITIONAL_ALLOW
    assert "conditions not evaluated: StringEquals aws:PrincipalOrgID" in ev.allows[0].describe()
    deny = policy(allow("*"), {"Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage",
                               "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}})
    assert decide(deny) is Decision.CONDITIONAL_DENY


def test_not_action_applies_to_every_other_action() -> None:
    text = policy({"Effect": "Deny", "Principal": "*", "NotAction": ["ecr:BatchGetImage", "ecr:GetDownload*"]})
    assert decide(text) is Decision.NONE
    assert decide(text, action="ecr:PutImage") is Decision.DENY


def test_not_principal_denies_everyone_else() -> None:
    text = policy({"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/ci"},
                   "Action": "ecr:*"})
    assert decide(text, caller=USER) is Decision.NONE
    assert decide(text, caller=ROLE) is Decision.DENY


def test_resource_scopes_a_registry_policy_statement() -> None:
    other = policy(allow("*", Resource="arn:aws:ecr:us-east-1:123456789012:repository/other/*"))
    assert decide(other) is Decision.NONE
    assert decide(policy(allow("*", Resource="arn:aws:ecr:us-east-1:123456789012:repository/*"))) is Decision.ALLOW
    assert decide(policy(allow("*", NotResource=REPO))) is Decision.NONE


def test_action_wildcard_in_a_policy() -> None:
    assert decide(policy(allow("*", action=["ecr:Batch*"])), action="ecr:BatchGetImage") is Decision.ALLOW
    assert decide(policy(allow("*", action=["ecr:Batch*"])), action="ecr:GetDownloadUrlForLayer") is Decision.NONE


def test_single_statement_object_is_accepted() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": allow("*")})
    assert decide(text) is Decision.ALLOW


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", "{}", policy({"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}),
     policy({"Effect": "Allow", "Principal": "*", "Action": 7}), json.dumps({"Statement": ["x"]}),
     policy({"Effect": "Allow", "Principal": 5, "Action": "ecr:*"}),
     policy({"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Condition": "x"})],
)
def test_malformed_policies_raise_policy_error(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)


# -- simulation answers --------------------------------------------------------------------------------------------


def test_simulation_answer_keeps_the_worst_decision_and_why() -> None:
    results = [
        {"EvalActionName": "ecr:BatchGetImage", "EvalDecision": "allowed",
         "MatchedStatements": [{"SourcePolicyId": "ecr-pull", "SourcePolicyType": "IAM Policy"}]},
        {"EvalActionName": "ecr:BatchGetImage", "EvalDecision": "explicitDeny",
         "OrganizationsDecisionDetail": {"AllowedByOrganizations": False}},
        {"EvalActionName": "ecr:GetDownloadUrlForLayer", "EvalDecision": "implicitDeny",
         "PermissionsBoundaryDecisionDetail": {"AllowedByPermissionsBoundary": False},
         "MissingContextValues": ["aws:SourceVpce"]},
        "garbage",
    ]
    by_action = {d.action: d for d in parse_simulation(results)}
    assert by_action["ecr:BatchGetImage"].decision == "explicitDeny"
    assert by_action["ecr:BatchGetImage"].allowed_by_organizations is False
    layer = by_action["ecr:GetDownloadUrlForLayer"]
    assert (layer.decision, layer.allowed_by_boundary, layer.missing_context) == (
        "implicitDeny", False, ("aws:SourceVpce",))


# -- manifests -----------------------------------------------------------------------------------------------------


def test_image_manifest_gives_layers_then_config() -> None:
    text = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "c" * 64},
                       "layers": [{"digest": "sha256:" + "1" * 64}, {"digest": "sha256:" + "2" * 64}]})
    assert manifest_refs(text).layers == ("sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "c" * 64)


def test_index_gives_children_with_platforms() -> None:
    text = json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": "not-a-digest"}]})
    refs = manifest_refs(text)
    assert refs.layers == () and refs.children == (("sha256:" + "a" * 64, "linux/arm64"),)


@pytest.mark.parametrize("text", ["", "{", "[]", json.dumps({"schemaVersion": 2, "layers": []})])
def test_unusable_manifests_raise_manifest_error(text: str) -> None:
    with pytest.raises(ManifestError):
        manifest_refs(text)
