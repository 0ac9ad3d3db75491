"""iam.auth-token, iam.pull, iam.pull-through and iam.repository-policy through the real runner against moto.

Real denials come from moto's IAM enforcement (users and roles whose policies lack an action);
repository and registry policies are stored in moto, which keeps but does not enforce them, so the
local evaluator is what decides. aws_stubs answers only what moto cannot: SimulatePrincipalPolicy,
GetDownloadUrlForLayer, GetAccountSetting and DescribePullThroughCacheRules (not implemented), and
the AWS denial texts that name a policy type (moto's denials never do), each test saying which.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import ecrdoctor.checks.aws as aws_checks
import ecrdoctor.checks.iam as iam_checks
import pytest

from ecrdoctor.aws import AwsGateway
from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Report, Result, Status
from tests.conftest import AwsStubs, MotoServer

ACCOUNT = "123456789012"
OTHER = "210987654321"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
REPO_ARN = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
CACHE_IMAGE = f"{HOST}/docker-hub/library/nginx:1.27"
CACHE_ARN = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/docker-hub/library/nginx"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/service-role/node"
LAYER = "sha256:" + "c" * 64
CONFIG = "sha256:" + "b" * 64
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": CONFIG},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": LAYER}]})
SECRET_URL = "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/abc/def" \
             "?X-Amz-Security-Token=layer-url-secret&X-Amz-Signature=deadbeef"
CATALOGUE = Catalogue((aws_checks.aws_credentials, aws_checks.aws_identity, iam_checks.iam_auth_token,
                       iam_checks.iam_pull, iam_checks.iam_pull_through, iam_checks.iam_repository_policy))


def run(image: Optional[str] = IMAGE, **opts: Any) -> Report:
    return run_check(RunOptions(image=image, timeout=20, **opts), catalogue=CATALOGUE)


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


def text_of(r: Result) -> str:
    return " ".join([r.summary, *r.details])


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stub_registry(stubs: AwsStubs, rules: Sequence[dict[str, Any]] = (), scope: Optional[str] = "V2") -> None:
    """DescribePullThroughCacheRules and GetAccountSetting: moto implements neither."""
    stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": list(rules)})
    if scope is None:
        stubs.add("ecr", "GetAccountSetting", error_code="AccessDeniedException", status=400,
                  message=f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: ecr:GetAccountSetting")
    else:
        stubs.add("ecr", "GetAccountSetting", {"name": "REGISTRY_POLICY_SCOPE", "value": scope})


DOCKER_HUB = {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io",
              "upstreamRegistry": "docker-hub", "registryId": ACCOUNT,
              "credentialArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecr-pullthroughcache/hub-AbCdEf"}


def stub_simulation(stubs: AwsStubs, **decisions: str) -> None:
    """SimulatePrincipalPolicy (moto does not implement it): one decision per action, keyed by action name."""
    results = []
    for action, decision in decisions.items():
        entry: dict[str, Any] = {"EvalActionName": f"ecr:{action}", "EvalDecision": decision,
                                 "EvalResourceName": REPO_ARN}
        if decision == "explicitDeny":
            entry["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": False}
        results.append(entry)
    stubs.add("iam", "SimulatePrincipalPolicy", {"EvaluationResults": results, "IsTruncated": False})


def push_image(moto: MotoServer, repository: str = "team/app", tag: str = "1.4", registry_id: Optional[str] = None,
               push: bool = True) -> None:
    ecr = moto.boto3_client("ecr")
    ecr.create_repository(repositoryName=repository, **({"registryId": registry_id} if registry_id else {}))
    if push:
        ecr.put_image(repositoryName=repository, imageManifest=MANIFEST, imageTag=tag)


def allow_policy(*actions: str) -> str:
    return doc({"Effect": "Allow", "Action": list(actions), "Resource": "*"})


@contextmanager
def as_user(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, name: str, actions: Sequence[str] = ("ecr:*",),
            enforce: bool = True) -> Iterator[None]:
    """Switch to an IAM user with only `actions`, with moto's IAM enforcement on (off again afterwards)."""
    iam = moto.boto3_client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="only-these", PolicyDocument=allow_policy(*actions))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    if enforce:
        moto.require_auth(True)
    try:
        yield
    finally:
        moto.require_auth(False)


@contextmanager
def as_role(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, actions: Sequence[str] = ("ecr:*",),
            enforce: bool = False) -> Iterator[None]:
    """Become a session of role /service-role/node (an instance role), optionally under enforcement."""
    iam = moto.boto3_client("iam")
    trust = doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="node", Path="/service-role/", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="node", PolicyName="only-these", PolicyDocument=allow_policy(*actions))
    creds = moto.boto3_client("sts").assume_role(RoleArn=ROLE_ARN, RoleSessionName="i-0abc")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    if enforce:
        moto.require_auth(True)
    try:
        yield
    finally:
        moto.require_auth(False)


class Sent(list):  # type: ignore[type-arg]
    """Every AWS operation the checks attempted (stubbed or sent to moto), with its API parameters."""

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for op, params in self if op == operation]

    def __contains__(self, operation: object) -> bool:
        return any(op == operation for op, _ in self)


@pytest.fixture
def sent(aws_stubs: AwsStubs, monkeypatch: pytest.MonkeyPatch) -> Sent:
    calls = Sent()

    def record(client: Any) -> None:
        client.meta.events.register("before-parameter-build",
                                    lambda model, params, **_: calls.append((model.name, dict(params))))

    monkeypatch.setattr(AwsGateway, "default_client_hooks", [aws_stubs.hook, record])
    return calls


# -- iam.auth-token -----------------------------------------------------------------------------------------------


def test_token_is_issued_and_never_printed(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    stub_registry(aws_stubs)
    report = run()
    token = result(report, "iam.auth-token")
    assert token.status is Status.PASS
    assert token.summary.startswith(f"ecr:GetAuthorizationToken works for arn:aws:sts::{ACCOUNT}:user/moto in "
                                    "us-east-1 (token valid until 2015-01-01")
    assert token.evidence["proxy_endpoint"] == f"https://{HOST}"
    moto_token = moto.boto3_client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert moto_token not in json.dumps(report.to_dict())


def test_user_whose_policy_lacks_get_authorization_token_is_denied(moto: MotoServer, aws_stubs: AwsStubs,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-side B2 IAM-GETAUTHTOKEN-DENIED, denied by moto's enforcement."""
    stub_registry(aws_stubs)
    with as_user(moto, monkeypatch, "ci", ["ecr:DescribeRepositories"]):
        token = result(run(only=["iam.auth-token"]), "iam.auth-token")
    assert token.status is Status.FAIL
    assert token.summary == (f"arn:aws:iam::{ACCOUNT}:user/ci may not call ecr:GetAuthorizationToken: access denied "
                             "(the message names no policy type)")
    assert any("no identity policy allows ecr:GetAuthorizationToken" in d for d in token.details)
    assert token.fix is not None
    assert token.fix.commands[0] == ("aws iam attach-user-policy --user-name ci --policy-arn "
                                     "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
    assert token.fix.commands[1] == (
        "aws iam put-user-policy --user-name ci --policy-name ecr-get-authorization-token --policy-document "
        "'{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:GetAuthorizationToken\","
        "\"Resource\":\"*\"}]}'")
    assert "cannot be granted by a repository policy" in token.fix.text


def test_instance_role_without_get_authorization_token_gets_the_role_fix(moto: MotoServer, aws_stubs: AwsStubs,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stub_registry(aws_stubs)
    with as_role(moto, monkeypatch, ["ecr:DescribeRepositories"], enforce=True):
        token = result(run(only=["iam.auth-token"]), "iam.auth-token")
    assert token.status is Status.FAIL
    assert token.summary.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0abc may not call "
                                    "ecr:GetAuthorizationToken")
    assert token.fix is not None and token.fix.commands[0] == (
        "aws iam attach-role-policy --role-name node --policy-arn "
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")


DENIAL = f"User: arn:aws:sts::{ACCOUNT}:user/moto is not authorized to perform: ecr:GetAuthorizationToken on " \
         "resource: *"


@pytest.mark.parametrize(
    ("suffix", "blame", "command"),
    [
        (" because no identity-based policy allows the ecr:GetAuthorizationToken action",
         "no identity-based policy allows it",
         "aws iam attach-user-policy --user-name moto --policy-arn "
         "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"),
        (" with an explicit deny in a service control policy", "an explicit Deny in a service control policy (SCP)",
         f"aws organizations list-policies-for-target --target-id {ACCOUNT} --filter SERVICE_CONTROL_POLICY"),
        (" because no permissions boundary allows the ecr:GetAuthorizationToken action",
         "no permissions boundary allows it",
         "aws iam get-user --user-name moto --query User.PermissionsBoundary.PermissionsBoundaryArn --output text"),
        (" because no session policy allows the ecr:GetAuthorizationToken action", "no session policy allows it",
         None),
        (" because no VPC endpoint policy allows the ecr:GetAuthorizationToken action",
         "no VPC endpoint policy allows it",
         "aws ec2 describe-vpc-endpoints --region us-east-1 --filters Name=service-name,Values="
         "com.amazonaws.us-east-1.ecr.api --query 'VpcEndpoints[].[VpcEndpointId,ServiceName,PolicyDocument]'"),
        (" with an explicit deny in an identity-based policy", "an explicit Deny in an identity-based policy",
         "aws iam list-attached-user-policies --user-name moto"),
    ],
)
def test_token_denial_is_classified_by_the_policy_type_aws_names(
        moto: MotoServer, aws_stubs: AwsStubs, suffix: str, blame: str, command: Optional[str]) -> None:
    """GetAuthorizationToken from aws_stubs: moto's denials never name a policy type (aws-side A5 template)."""
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetAuthorizationToken", error_code="AccessDeniedException", message=DENIAL + suffix)
    token = result(run(only=["iam.auth-token"]), "iam.auth-token")
    assert token.status is Status.FAIL
    assert token.summary == f"arn:aws:sts::{ACCOUNT}:user/moto may not call ecr:GetAuthorizationToken: {blame}"
    assert token.fix is not None
    if command is None:
        assert token.fix.commands == () and "session policy" in token.fix.text
    else:
        assert token.fix.commands[0] == command


def test_throttled_token_requests_warn(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """aws-side B6 THR-ECR-API. A ThrottlingException from aws_stubs: moto never throttles."""
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetAuthorizationToken", error_code="ThrottlingException", message="Rate exceeded")
    token = result(run(only=["iam.auth-token"]), "iam.auth-token")
    assert token.status is Status.WARN
    assert token.summary == "ecr:GetAuthorizationToken was throttled in us-east-1 (ThrottlingException)"


def test_ecr_api_unreachable_while_sts_works(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")  # discard port: connection refused
    token = result(run(only=["iam.auth-token"]), "iam.auth-token")
    assert token.status is Status.FAIL
    assert token.summary == "cannot reach the ECR API endpoint api.ecr.us-east-1.amazonaws.com for a token " \
                            "(EndpointConnectionError)"
    assert token.fix is not None and token.fix.commands == (
        "curl -sS -o /dev/null -w '%{http_code}\\n' https://api.ecr.us-east-1.amazonaws.com/",)


def test_public_registry_and_no_target_skip(moto: MotoServer) -> None:
    public = run("public.ecr.aws/nginx/nginx:latest", only=["iam.*"])
    assert {r.id: r.status for r in public.results if r.id.startswith("iam.")} == dict.fromkeys(
        ("iam.auth-token", "iam.pull", "iam.pull-through", "iam.repository-policy"), Status.SKIP)
    assert result(public, "iam.auth-token").summary == "public.ecr.aws is not a private ECR registry"
    assert result(run(None, only=["iam.auth-token"]), "iam.auth-token").summary == "no image or registry given"


def test_registry_host_alone_gets_a_token_but_no_repository_checks(moto: MotoServer) -> None:
    report = run(HOST, only=["iam.*"])
    assert result(report, "iam.auth-token").status is Status.PASS
    assert result(report, "iam.pull").summary == "only a registry host was given, no repository"


def test_offline_skips_every_iam_check(moto: MotoServer) -> None:
    report = run(offline=True, only=["iam.*"])
    assert all(r.status is Status.SKIP for r in report.results)


def test_invalid_keys_leave_iam_to_aws_identity(moto: MotoServer) -> None:
    moto.require_auth(True)  # the default moto keys are unknown to moto's IAM
    try:
        report = run(only=["iam.*"])
    finally:
        moto.require_auth(False)
    assert result(report, "aws.identity").status is Status.FAIL
    assert result(report, "iam.pull").summary == "needs aws.identity"


# -- iam.pull ------------------------------------------------------------------------------------------------------


def test_instance_role_that_may_pull_passes_and_is_simulated_with_its_path(
        moto: MotoServer, aws_stubs: AwsStubs, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """GetDownloadUrlForLayer and SimulatePrincipalPolicy from aws_stubs (moto lacks both)."""
    push_image(moto)
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetDownloadUrlForLayer", {"downloadUrl": SECRET_URL, "layerDigest": LAYER})
    stub_simulation(aws_stubs, BatchGetImage="allowed", GetDownloadUrlForLayer="allowed")
    with as_role(moto, monkeypatch, ["ecr:*", "iam:GetRole"]):
        report = run(only=["iam.pull"])
    pull = result(report, "iam.pull")
    assert pull.status is Status.PASS
    assert pull.summary == (f"arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0abc may pull team/app: BatchGetImage and "
                            "GetDownloadUrlForLayer are authorized")
    assert f"session arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0abc is role {ROLE_ARN} (iam:GetRole)" in pull.details
    (sim,) = sent.params("SimulatePrincipalPolicy")
    assert sim["PolicySourceArn"] == ROLE_ARN  # the path kept, not role/node
    assert sim["ResourceArns"] == [REPO_ARN]
    assert sim["ActionNames"] == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert sim["ContextEntries"] == [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": ["us-east-1"],
                                      "ContextKeyType": "string"}]
    assert sent.params("GetDownloadUrlForLayer")[0]["layerDigest"] == LAYER
    names = [op for op, _ in sent]
    assert names.index("BatchGetImage") < names.index("SimulatePrincipalPolicy")  # the probe first, then evidence
    assert "layer-url-secret" not in json.dumps(report.to_dict())


def test_user_whose_policy_lacks_batch_get_image_cannot_pull(moto: MotoServer, aws_stubs: AwsStubs,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-side B2 IAM-PULL-IDENTITY-DENIED, denied by moto's enforcement."""
    push_image(moto)
    stub_registry(aws_stubs)
    with as_user(moto, monkeypatch, "ci", ["ecr:GetAuthorizationToken", "ecr:DescribeRepositories"]):
        pull = result(run(only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.FAIL
    assert pull.summary.startswith(f"arn:aws:iam::{ACCOUNT}:user/ci may not pull team/app: ecr:BatchGetImage is "
                                   "denied")
    # moto's own enforcement denied the simulation too: less evidence, never a failure of its own
    assert "no simulation evidence: the caller may not call iam:SimulatePrincipalPolicy (missing evidence, not a " \
           "failure)" in pull.details
    assert pull.fix is not None and pull.fix.commands[0] == (
        "aws iam attach-user-policy --user-name ci --policy-arn "
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly")
    assert json.loads(pull.fix.commands[1].split("--policy-document ", 1)[1].strip("'"))["Statement"][0] == {
        "Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": REPO_ARN}


def test_manifest_pulls_but_layers_are_denied(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """GetDownloadUrlForLayer's denial from aws_stubs (moto does not implement the operation)."""
    push_image(moto)
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetDownloadUrlForLayer", error_code="AccessDeniedException", message=(
        f"User: arn:aws:sts::{ACCOUNT}:user/moto is not authorized to perform: ecr:GetDownloadUrlForLayer on "
        f"resource: {REPO_ARN} because no identity-based policy allows the ecr:GetDownloadUrlForLayer action"))
    pull = result(run(only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.FAIL
    assert pull.summary == (f"arn:aws:sts::{ACCOUNT}:user/moto may not pull team/app: may read the manifest but not "
                            "the layers: ecr:GetDownloadUrlForLayer is denied (no identity-based policy allows it)")


def test_cross_account_pull_denied_by_the_repository_side(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """aws-side B2 IAM-CROSS-ACCOUNT-REPO-POLICY-MISSING. BatchGetImage's resource-based denial from aws_stubs:
    moto neither evaluates repository policies nor names a policy type. The repository itself lives in moto under
    the other account's registry id."""
    push_image(moto, registry_id=OTHER, push=False)
    stub_registry(aws_stubs)
    arn = f"arn:aws:ecr:us-east-1:{OTHER}:repository/team/app"
    aws_stubs.add("ecr", "BatchGetImage", error_code="AccessDeniedException", message=(
        f"User: arn:aws:sts::{ACCOUNT}:user/moto is not authorized to perform: ecr:BatchGetImage on resource: {arn} "
        "because no resource-based policy allows the ecr:BatchGetImage action"))
    pull = result(run(f"{OTHER}.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4", only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.FAIL
    assert pull.summary.endswith("ecr:BatchGetImage is denied (no resource-based policy allows it)")
    assert pull.fix is not None and f"registry owner (account {OTHER}) must allow account {ACCOUNT}" in pull.fix.text
    policy = json.loads(pull.fix.commands[1].split("--policy-text ", 1)[1].strip("'"))
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert pull.fix.commands[1].startswith(
        "aws ecr set-repository-policy --region us-east-1 --repository-name team/app")
    assert "REPLACES" in pull.fix.text


def test_vpc_endpoint_policy_denial_names_both_ecr_endpoints(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """The VPC-endpoint denial text from aws_stubs (moto has no endpoint policies)."""
    push_image(moto)
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "BatchGetImage", error_code="AccessDeniedException", message=(
        f"User: arn:aws:sts::{ACCOUNT}:user/moto is not authorized to perform: ecr:BatchGetImage on resource: "
        f"{REPO_ARN} because no VPC endpoint policy allows the ecr:BatchGetImage action"))
    pull = result(run(only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.FAIL
    assert pull.fix is not None and "Values=com.amazonaws.us-east-1.ecr.api,com.amazonaws.us-east-1.ecr.dkr" in \
        pull.fix.commands[0]


def test_missing_tag_still_proves_the_permission(moto: MotoServer, aws_stubs: AwsStubs, sent: Sent) -> None:
    """GetDownloadUrlForLayer from aws_stubs (moto lacks it): asked for a digest that cannot exist."""
    push_image(moto, push=False)
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetDownloadUrlForLayer", error_code="LayersNotFoundException",
                  message="The image layer does not exist")
    pull = result(run(only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.PASS
    assert any(d.startswith("BatchGetImage answered ImageNotFound for 1.4") for d in pull.details)
    assert sent.params("GetDownloadUrlForLayer")[0]["layerDigest"] == "sha256:" + "0" * 64


def test_multi_arch_index_is_followed_to_a_layer(moto: MotoServer, aws_stubs: AwsStubs, sent: Sent) -> None:
    """GetDownloadUrlForLayer from aws_stubs (moto lacks it); the index and its child are real moto images."""
    ecr = moto.boto3_client("ecr")
    ecr.create_repository(repositoryName="team/app")
    oci = "application/vnd.oci.image.manifest.v1+json"
    child = ecr.put_image(repositoryName="team/app", imageManifest=MANIFEST, imageManifestMediaType=oci)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": oci, "size": len(MANIFEST), "digest": child["image"]["imageId"]["imageDigest"],
         "platform": {"os": "linux", "architecture": "arm64"}}]})
    ecr.put_image(repositoryName="team/app", imageManifest=index, imageTag="1.4",
                  imageManifestMediaType="application/vnd.oci.image.index.v1+json")
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetDownloadUrlForLayer", {"downloadUrl": SECRET_URL, "layerDigest": LAYER})
    assert result(run(only=["iam.pull"]), "iam.pull").status is Status.PASS
    assert sent.params("GetDownloadUrlForLayer")[0]["layerDigest"] == LAYER


def test_uncached_pull_through_repository_is_never_probed(moto: MotoServer, aws_stubs: AwsStubs,
                                                          sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules and simulation from aws_stubs (moto lacks both); the cache repository does not exist in moto."""
    stub_registry(aws_stubs, [DOCKER_HUB])
    stub_simulation(aws_stubs, BatchGetImage="allowed", GetDownloadUrlForLayer="allowed")
    with as_user(moto, monkeypatch, "ci", enforce=False):
        pull = result(run(CACHE_IMAGE, only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.PASS
    assert pull.summary.endswith("to pull docker-hub/library/nginx (the repository was not probed)")
    assert any("a BatchGetImage would create it and import from upstream" in d for d in pull.details)
    assert "BatchGetImage" not in sent and "GetDownloadUrlForLayer" not in sent
    assert moto.boto3_client("ecr").describe_repositories()["repositories"] == []


def test_uncached_cache_image_with_an_scp_deny_fails_on_the_simulation(
        moto: MotoServer, aws_stubs: AwsStubs, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulation from aws_stubs (moto lacks it)."""
    stub_registry(aws_stubs, [DOCKER_HUB])
    stub_simulation(aws_stubs, BatchGetImage="explicitDeny", GetDownloadUrlForLayer="allowed")
    with as_user(moto, monkeypatch, "ci", enforce=False):
        pull = result(run(CACHE_IMAGE, only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.FAIL
    assert pull.summary == f"the simulation finds an explicit Deny of ecr:BatchGetImage on docker-hub/library/nginx " \
                           f"for arn:aws:iam::{ACCOUNT}:user/ci"
    assert pull.fix is not None and pull.fix.commands[0].startswith("aws organizations list-policies-for-target")
    assert "BatchGetImage" not in sent


def test_uncached_cache_image_without_identity_grant_warns(moto: MotoServer, aws_stubs: AwsStubs,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulation from aws_stubs (moto lacks it); the role's path is found with GetRole in moto."""
    stub_registry(aws_stubs, [DOCKER_HUB])
    stub_simulation(aws_stubs, BatchGetImage="implicitDeny", GetDownloadUrlForLayer="implicitDeny")
    with as_role(moto, monkeypatch, ["ecr:*", "iam:GetRole"]):
        pull = result(run(CACHE_IMAGE, only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.WARN
    assert pull.summary.startswith(f"no identity policy of {ROLE_ARN} allows ecr:BatchGetImage, "
                                   "ecr:GetDownloadUrlForLayer on docker-hub/library/nginx (simulation)")
    assert pull.fix is not None and pull.fix.commands[0].startswith("aws iam attach-role-policy --role-name node ")


def test_session_mapped_to_its_role_by_list_roles_when_get_role_is_denied(
        moto: MotoServer, aws_stubs: AwsStubs, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulation and GetDownloadUrlForLayer from aws_stubs; GetRole is really denied by moto's enforcement."""
    push_image(moto)
    stub_registry(aws_stubs)
    aws_stubs.add("ecr", "GetDownloadUrlForLayer", {"downloadUrl": SECRET_URL, "layerDigest": LAYER})
    stub_simulation(aws_stubs, BatchGetImage="allowed", GetDownloadUrlForLayer="allowed")
    with as_role(moto, monkeypatch, ["ecr:*", "iam:ListRoles"], enforce=True):
        pull = result(run(only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.PASS
    assert sent.params("SimulatePrincipalPolicy")[0]["PolicySourceArn"] == ROLE_ARN
    assert any("iam:ListRoles by RoleId" in d and "iam:GetRole failed: AccessDenied" in d for d in pull.details)


def test_no_safe_probe_and_no_simulation_skips(moto: MotoServer, aws_stubs: AwsStubs, sent: Sent) -> None:
    """Rules from aws_stubs (moto lacks them); the moto caller (not an IAM user ARN) cannot be simulated."""
    stub_registry(aws_stubs, [DOCKER_HUB])
    pull = result(run(CACHE_IMAGE, only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.SKIP
    assert pull.summary == f"cannot tell whether arn:aws:sts::{ACCOUNT}:user/moto may pull docker-hub/library/nginx: " \
                           "no safe probe and no simulation"
    assert "BatchGetImage" not in sent and "SimulatePrincipalPolicy" not in sent


def test_repository_that_does_not_exist_skips(moto: MotoServer, aws_stubs: AwsStubs, sent: Sent) -> None:
    stub_registry(aws_stubs)
    pull = result(run(only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.SKIP
    assert pull.summary.startswith(f"repository team/app does not exist in {ACCOUNT} (us-east-1): nothing to pull")
    assert "BatchGetImage" not in sent


# -- iam.pull-through ----------------------------------------------------------------------------------------------


def test_image_outside_any_cache_rule_skips(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    stub_registry(aws_stubs, [DOCKER_HUB])
    check = result(run(only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.SKIP
    assert check.summary == f"team/app falls under no pull-through cache rule of {ACCOUNT} in us-east-1"


def test_unreadable_cache_rules_skip(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules' denial from aws_stubs (moto does not implement the operation)."""
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", error_code="AccessDeniedException",
                  message=f"User: arn:aws:sts::{ACCOUNT}:user/moto is not authorized to perform: "
                          "ecr:DescribePullThroughCacheRules")
    check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.SKIP
    assert check.summary.endswith("DescribePullThroughCacheRules failed (AccessDeniedException)")


def test_read_only_node_role_cannot_populate_the_cache(moto: MotoServer, aws_stubs: AwsStubs,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-side B3 PTC-CREATE-REPO-DENIED and C7. Rules, scope and simulation from aws_stubs (moto lacks them);
    no registry policy in moto."""
    stub_registry(aws_stubs, [DOCKER_HUB], scope="V2")
    stub_simulation(aws_stubs, BatchImportUpstreamImage="implicitDeny", CreateRepository="implicitDeny",
                    TagResource="implicitDeny")
    with as_role(moto, monkeypatch, ["ecr:*", "iam:GetRole"]):
        check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.FAIL
    assert check.summary == ("the first pull of docker-hub/library/nginx through rule 'docker-hub' will fail with "
                             f"'repository … not found': arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0abc is not "
                             "allowed ecr:BatchImportUpstreamImage and ecr:CreateRepository")
    assert any(d.startswith("registry policy scope V2") for d in check.details)
    assert check.fix is not None and "AmazonEC2ContainerRegistryReadOnly has neither" in check.fix.text
    statement = json.loads(check.fix.commands[0].split("--policy-document ", 1)[1].strip("'"))["Statement"][0]
    assert statement["Resource"] == f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/docker-hub/*"
    assert check.fix.commands[0].startswith("aws iam put-role-policy --role-name node --policy-name "
                                            "ecr-pull-through-cache")
    assert check.fix.commands[1] == "aws ecr create-repository --region us-east-1 --repository-name " \
                                    "docker-hub/library/nginx"


def test_registry_policy_grant_lets_the_cache_fill(moto: MotoServer, aws_stubs: AwsStubs,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry policy is stored in moto (which validates but does not enforce it); scope, rules and the
    simulation come from aws_stubs. moto's PutRegistryPolicy still only accepts CreateRepository/ReplicateImage,
    so the import permission comes from the simulated identity policy."""
    moto.boto3_client("ecr").put_registry_policy(policyText=doc({
        "Sid": "CacheCreate", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": ["ecr:CreateRepository"], "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*"}))
    stub_registry(aws_stubs, [DOCKER_HUB], scope="V1")
    aws_stubs.add("iam", "SimulatePrincipalPolicy", {"EvaluationResults": [
        {"EvalActionName": "ecr:BatchImportUpstreamImage", "EvalDecision": "allowed"},
        {"EvalActionName": "ecr:CreateRepository", "EvalDecision": "implicitDeny"},
        {"EvalActionName": "ecr:TagResource", "EvalDecision": "implicitDeny"}], "IsTruncated": False})
    with as_user(moto, monkeypatch, "node", enforce=False):
        check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.PASS
    assert check.summary == f"arn:aws:iam::{ACCOUNT}:user/node may create and fill the cache repository " \
                            "docker-hub/library/nginx (rule 'docker-hub' → registry-1.docker.io)"
    assert any(d.startswith("ecr:CreateRepository: allowed — the registry policy grants it (statement 'CacheCreate'")
               for d in check.details)
    assert any(d.startswith("registry policy scope V1") for d in check.details)


def test_registry_policy_deny_of_create_repository_fails(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Deny stored in moto's registry policy; rules, scope and simulation from aws_stubs."""
    moto.boto3_client("ecr").put_registry_policy(policyText=doc({
        "Sid": "NoNewRepos", "Effect": "Deny", "Principal": "*", "Action": "ecr:CreateRepository",
        "Resource": "*"}))
    stub_registry(aws_stubs, [DOCKER_HUB])
    check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.FAIL
    assert check.summary.endswith("is not allowed ecr:CreateRepository")
    assert check.fix is not None and check.fix.commands[1] == \
        "aws ecr put-registry-policy --region us-east-1 --policy-text file://registry-policy.json"


def test_cached_repository_without_import_permission_warns(moto: MotoServer, aws_stubs: AwsStubs,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-side B3 PTC-IMPORT-DENIED. Simulation, rules and scope from aws_stubs; the repository exists in moto."""
    push_image(moto, "docker-hub/library/nginx", "1.27")
    stub_registry(aws_stubs, [DOCKER_HUB])
    stub_simulation(aws_stubs, BatchImportUpstreamImage="implicitDeny", CreateRepository="implicitDeny",
                    TagResource="implicitDeny")
    with as_role(moto, monkeypatch, ["ecr:*", "iam:GetRole"]):
        check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.WARN
    assert check.summary.endswith("is not allowed ecr:BatchImportUpstreamImage under rule 'docker-hub': cached tags "
                                  "pull, new tags and refreshes fail with 'Requested image not found'")
    assert check.fix is not None and len(check.fix.commands) == 1  # nothing to pre-create


def test_unreadable_registry_policy_makes_a_missing_grant_a_warning(moto: MotoServer, aws_stubs: AwsStubs,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """GetRegistryPolicy really denied by moto's enforcement; rules, scope and simulation from aws_stubs."""
    stub_registry(aws_stubs, [DOCKER_HUB])
    stub_simulation(aws_stubs, BatchImportUpstreamImage="implicitDeny", CreateRepository="implicitDeny",
                    TagResource="implicitDeny")
    with as_role(moto, monkeypatch, ["ecr:DescribeRepositories", "iam:GetRole"], enforce=True):
        check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.WARN
    assert "may lack ecr:BatchImportUpstreamImage and ecr:CreateRepository" in check.summary
    assert "the registry policy could not be read (AccessDenied" in check.summary


def test_no_evidence_about_the_cache_skips(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Rules and scope from aws_stubs; the moto caller cannot be simulated and no registry policy exists."""
    stub_registry(aws_stubs, [DOCKER_HUB])
    check = result(run(CACHE_IMAGE, only=["iam.pull-through"]), "iam.pull-through")
    assert check.status is Status.SKIP
    assert "no simulation and no registry policy grant" in check.summary


# -- iam.repository-policy -----------------------------------------------------------------------------------------


def set_repository_policy(moto: MotoServer, text: str, registry_id: Optional[str] = None) -> None:
    moto.boto3_client("ecr").set_repository_policy(repositoryName="team/app", policyText=text,
                                                   **({"registryId": registry_id} if registry_id else {}))


OTHER_IMAGE = f"{OTHER}.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
GRANT_ACCOUNT = {"Sid": "AllowPull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}


def test_same_account_repository_without_policy_passes(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    push_image(moto)
    stub_registry(aws_stubs)
    check = result(run(only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.PASS
    assert check.summary == "team/app has no repository policy: same-account pulls depend on identity policies alone"


def test_repository_policy_deny_for_the_node_role_fails(moto: MotoServer, aws_stubs: AwsStubs,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """aws-side B2 IAM-EXPLICIT-DENY; the policy is stored (not enforced) by moto."""
    push_image(moto)
    set_repository_policy(moto, doc({"Sid": "BlockNodes", "Effect": "Deny",
                                     "Principal": {"AWS": ROLE_ARN}, "Action": "ecr:Batch*"}))
    stub_registry(aws_stubs)
    with as_role(moto, monkeypatch, ["ecr:*", "iam:GetRole"]):
        check = result(run(only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.FAIL
    assert check.summary == f"statement 'BlockNodes' of the repository policy of team/app denies ecr:BatchGetImage " \
                            f"to arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0abc"
    assert check.fix is not None and check.fix.commands == (
        f"aws ecr get-repository-policy --region us-east-1 --registry-id {ACCOUNT} --repository-name team/app "
        "--query policyText --output text > repository-policy.json",
        f"aws ecr set-repository-policy --region us-east-1 --registry-id {ACCOUNT} --repository-name team/app "
        "--policy-text file://repository-policy.json")


def test_conditional_deny_is_a_warning(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    push_image(moto)
    set_repository_policy(moto, doc({"Sid": "OnlyViaEndpoint", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
                                     "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}))
    stub_registry(aws_stubs)
    check = result(run(only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.WARN
    assert "under conditions ecrdoctor does not evaluate" in check.summary
    assert "StringNotEquals aws:SourceVpce" in check.summary


def test_cross_account_pull_without_repository_policy_fails(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """aws-side B2 IAM-CROSS-ACCOUNT-REPO-POLICY-MISSING; the repository lives in moto under the other account's
    registry id."""
    push_image(moto, registry_id=OTHER, push=False)
    stub_registry(aws_stubs)
    check = result(run(OTHER_IMAGE, only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.FAIL
    assert check.summary == f"team/app in account {OTHER} has no repository policy, so a pull from account {ACCOUNT} " \
                            "is denied (cross-account needs the repository policy too)"
    assert check.fix is not None and "set-repository-policy" in check.fix.commands[1]


def test_cross_account_grant_to_the_account_passes(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    push_image(moto, registry_id=OTHER, push=False)
    set_repository_policy(moto, doc(GRANT_ACCOUNT), registry_id=OTHER)
    stub_registry(aws_stubs)
    check = result(run(OTHER_IMAGE, only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.PASS
    assert check.summary.startswith(f"the repository policy of team/app (account {OTHER}) allows account {ACCOUNT} "
                                    "to pull")


def test_cross_account_grant_missing_the_layer_action_fails(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    push_image(moto, registry_id=OTHER, push=False)
    set_repository_policy(moto, doc(dict(GRANT_ACCOUNT, Action="ecr:BatchGetImage")), registry_id=OTHER)
    stub_registry(aws_stubs)
    check = result(run(OTHER_IMAGE, only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.FAIL
    assert "does not allow ecr:GetDownloadUrlForLayer" in check.summary


def test_cross_account_grant_only_inside_the_organization_warns(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    push_image(moto, registry_id=OTHER, push=False)
    set_repository_policy(moto, doc({"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
                                     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}),
                          registry_id=OTHER)
    stub_registry(aws_stubs)
    check = result(run(OTHER_IMAGE, only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.WARN
    assert "StringEquals aws:PrincipalOrgID" in check.summary


REGISTRY_DENY = doc({"Sid": "FreezePulls", "Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage",
                     "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*"})


@pytest.mark.parametrize(("scope", "status"), [("V2", Status.FAIL), (None, Status.WARN), ("V1", Status.PASS)])
def test_registry_policy_deny_blocks_pulls_only_under_scope_v2(moto: MotoServer, aws_stubs: AwsStubs,
                                                               scope: Optional[str], status: Status) -> None:
    """aws-side B2 IAM-EXPLICIT-DENY (V2 registry policy), C8. GetRegistryPolicy from aws_stubs: moto's
    PutRegistryPolicy rejects every action but CreateRepository and ReplicateImage (the old V1 rule), so it cannot
    store a pull Deny. GetAccountSetting from aws_stubs too."""
    push_image(moto)
    stub_registry(aws_stubs, scope=scope)
    aws_stubs.add("ecr", "GetRegistryPolicy", {"registryId": ACCOUNT, "policyText": REGISTRY_DENY})
    check = result(run(only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is status
    if scope == "V2":
        assert check.summary == f"statement 'FreezePulls' of the registry policy denies ecr:BatchGetImage to " \
                                f"arn:aws:sts::{ACCOUNT}:user/moto"
        assert check.fix is not None and check.fix.commands[1] == \
            "aws ecr put-registry-policy --region us-east-1 --policy-text file://registry-policy.json"
    elif scope is None:
        assert "if the registry policy scope is V2 (the default)" in check.summary
    else:
        assert "the registry policy does not apply to pulls under scope V1" in check.details


def test_repository_that_does_not_exist_has_no_policy_to_check(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    stub_registry(aws_stubs)
    check = result(run(only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.SKIP
    assert check.summary == f"repository team/app does not exist in {ACCOUNT} (us-east-1): no policy to evaluate"


def test_unreadable_repository_policy_skips(moto: MotoServer, aws_stubs: AwsStubs,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    push_image(moto)
    stub_registry(aws_stubs)
    with as_user(moto, monkeypatch, "ci", ["ecr:DescribeRepositories", "ecr:GetRegistryPolicy"]):
        check = result(run(only=["iam.repository-policy"]), "iam.repository-policy")
    assert check.status is Status.SKIP
    assert check.summary.startswith(f"cannot read the repository policy of team/app in {ACCOUNT}: AccessDenied")



def test_cached_repository_whose_tag_is_not_cached_and_layers_are_not_allowed_warns(
        moto: MotoServer, aws_stubs: AwsStubs, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache repository exists in moto without the tag, so no layer digest is known and, under a cache rule,
    none is invented (it could reach upstream); the simulation (aws_stubs, moto lacks it) speaks for the layers."""
    push_image(moto, "docker-hub/library/nginx", push=False)
    stub_registry(aws_stubs, [DOCKER_HUB])
    stub_simulation(aws_stubs, BatchGetImage="allowed", GetDownloadUrlForLayer="implicitDeny")
    with as_role(moto, monkeypatch, ["ecr:*", "iam:GetRole"]):
        pull = result(run(CACHE_IMAGE, only=["iam.pull"]), "iam.pull")
    assert pull.status is Status.WARN
    assert pull.summary == (f"arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0abc may read the manifest of "
                            "docker-hub/library/nginx, but the simulation answers implicitDeny for "
                            "ecr:GetDownloadUrlForLayer (not probed)")
    assert "BatchGetImage" in sent and "GetDownloadUrlForLayer" not in sent
