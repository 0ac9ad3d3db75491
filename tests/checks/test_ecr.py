"""ecr.repository, ecr.image, ecr.platform and ecr.lifecycle through the real runner, against a moto server.

Repositories, images (real OCI / Docker manifests and image indexes pushed with PutImage) and
lifecycle policies live in moto. aws_stubs answers only what moto cannot: the pull-through-cache
rules, the lifecycle policy preview, the archive storage class, policies moto's schema predates,
images pushed in the past, and several pages of DescribeRepositories / DescribeImages (moto ignores
maxResults and never returns a nextToken). Each test that uses it says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import ecrdoctor.checks.aws as aws_checks
import ecrdoctor.checks.ecr as ecr_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.host import Host
from ecrdoctor.model import Report, Result, Status
from tests.conftest import AwsStubs, MotoServer

ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{REGISTRY}/team/app:1.4"
ALL = Catalogue((aws_checks.aws_credentials, ecr_checks.ecr_repository, ecr_checks.ecr_image,
                 ecr_checks.ecr_platform, ecr_checks.ecr_lifecycle))
LIFECYCLE_ONLY = Catalogue((aws_checks.aws_credentials, ecr_checks.ecr_repository, ecr_checks.ecr_lifecycle))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def run(image: str = IMAGE, catalogue: Catalogue = ALL, **opts: Any) -> Report:
    return run_check(RunOptions(image=image, timeout=15, **opts), catalogue=catalogue)


def result(report: Report, cid: str) -> Result:
    r = report.result(cid)
    assert r is not None
    return r


# -- real manifests --------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(arch: str, os: str = "linux", build: str = "") -> str:
    """An OCI image manifest with a real config blob descriptor and one layer descriptor (unique per build)."""
    config = json.dumps({"architecture": arch, "os": os, "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = f"layer of {arch} build {build}".encode()
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _sha(layer),
                    "size": 31_457_280}],
    })


def push(ecr: Any, tag: str, arch: str = "amd64", repository: str = "team/app") -> str:
    """docker push of a single-platform image: returns its digest."""
    return str(ecr.put_image(repositoryName=repository, imageManifest=image_manifest(arch, build=tag),
                             imageTag=tag)["image"]["imageId"]["imageDigest"])


def push_index(ecr: Any, tag: str, platforms: Sequence[str], repository: str = "team/app") -> str:
    """docker buildx build --platform … --push: child manifests by digest, then the index under the tag."""
    entries = []
    for plat in platforms:
        os, arch, *variant = plat.split("/")
        manifest = image_manifest(arch, os, build=tag)
        digest = _sha(manifest.encode())
        ecr.put_image(repositoryName=repository, imageManifest=manifest, imageDigest=digest)
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                        "platform": {"architecture": arch, "os": os, **({"variant": variant[0]} if variant else {})}})
    attestation = image_manifest("unknown", "unknown")  # buildx adds one per platform; not a platform
    entries.append({"mediaType": OCI_MANIFEST, "digest": _sha(attestation.encode()), "size": len(attestation),
                    "platform": {"architecture": "unknown", "os": "unknown"},
                    "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries})
    return str(ecr.put_image(repositoryName=repository, imageManifest=index, imageTag=tag)["image"]["imageId"]
               ["imageDigest"])


def repo(moto: MotoServer, name: str = "team/app", region: str = "us-east-1") -> Any:
    ecr = moto.boto3_client("ecr", region=region)
    ecr.create_repository(repositoryName=name)
    return ecr


def lifecycle(ecr: Any, *rules: dict[str, Any], repository: str = "team/app") -> str:
    text = json.dumps({"rules": list(rules)})
    ecr.put_lifecycle_policy(repositoryName=repository, lifecyclePolicyText=text)
    return text


def rule(priority: int, count_type: str, number: int, description: str = "", tag_status: str = "tagged",
         **selection: Any) -> dict[str, Any]:
    sel: dict[str, Any] = {"tagStatus": tag_status, "countType": count_type, "countNumber": number, **selection}
    if count_type.startswith("since"):
        sel["countUnit"] = "days"
    return {"rulePriority": priority, "description": description or f"rule {priority}", "selection": sel,
            "action": {"type": "expire"}}


def no_ptc_rules(stubs: AwsStubs) -> None:
    """moto does not implement DescribePullThroughCacheRules: a registry without rules."""
    stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": []})


def no_preview(stubs: AwsStubs) -> None:
    """moto does not implement GetLifecyclePolicyPreview: nobody ran a preview."""
    stubs.add("ecr", "GetLifecyclePolicyPreview", error_code="LifecyclePolicyPreviewNotFoundException",
              message="There is no lifecycle policy preview for the repository")


def restricted_user(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, actions: list[str]) -> None:
    """An IAM user allowed only `actions`; this process's keys become its keys (enforcement still off)."""
    iam = moto.boto3_client("iam")
    iam.create_user(UserName="puller")
    iam.put_user_policy(UserName="puller", PolicyName="pull", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName="puller")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])


def run_enforced(moto: MotoServer, **kwargs: Any) -> Report:
    moto.require_auth(True)
    try:
        return run(**kwargs)
    finally:
        moto.require_auth(False)


def sent(stubs: AwsStubs, operation: str) -> list[dict[str, Any]]:
    """The parameters of every call of `operation` that reached aws_stubs (botocore's serialized JSON body)."""
    return [json.loads(p["body"]) for _, op, p in stubs.calls if op == operation]  # type: ignore[arg-type]


def detail(r: Result, start: str) -> str:
    return next(d for d in r.details if d.startswith(start))


# -- ecr.repository -------------------------------------------------------------------------------


def test_existing_repository_with_a_multi_arch_image_passes_everything(moto: MotoServer) -> None:
    ecr = repo(moto)
    digest = push_index(ecr, "1.4", ["linux/amd64", "linux/arm64/v8"])
    report = run()
    r = result(report, "ecr.repository")
    assert r.status is Status.PASS
    assert r.summary.startswith(f"team/app exists in registry {ACCOUNT} (us-east-1), created ")
    assert r.evidence["repository_arn"] == f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
    image = result(report, "ecr.image")
    assert image.status is Status.PASS and image.summary.startswith(f"team/app:1.4 exists ({digest[:19]}…, pushed ")
    assert image.evidence["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert result(report, "ecr.platform").status is Status.PASS
    assert result(report, "ecr.lifecycle").status is Status.PASS
    assert report.diagnosis == ()


def test_typo_in_repository_name_fails_with_docker_text_and_the_closest_names(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules is stubbed (moto lacks it); the repositories are real moto ones."""
    ecr = repo(moto)
    repo(moto, "team/app-worker")
    repo(moto, "billing/api")
    push(ecr, "1.4")
    no_ptc_rules(aws_stubs)
    report = run(f"{REGISTRY}/team/ap:1.4")
    r = result(report, "ecr.repository")
    assert r.status is Status.FAIL
    assert r.summary == (f"repository 'team/ap' does not exist in registry {ACCOUNT} (us-east-1); "
                         "did you mean 'team/app'?")
    assert r.details[0] == (f"docker pull says: Error response from daemon: repository {REGISTRY}/team/ap not found: "
                            f"name unknown: The repository with name 'team/ap' does not exist in the registry with id "
                            f"'{ACCOUNT}'")
    assert detail(r, "closest names: ").startswith("closest names: team/app (edit distance 1)")
    assert "billing/api" not in detail(r, "closest names: ")
    assert "3 repositories listed" in r.details
    assert r.fix is not None and r.fix.commands == (
        f"docker pull {REGISTRY}/team/app:1.4",
        f"aws ecr create-repository --repository-name team/ap --region us-east-1 --registry-id {ACCOUNT}")
    for dependent in ("ecr.image", "ecr.platform", "ecr.lifecycle"):
        assert result(report, dependent).status is Status.SKIP
    assert report.diagnosis == ("ecr.repository",)


def test_dash_instead_of_slash_in_repository_name(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules is stubbed (moto lacks it)."""
    repo(moto)
    no_ptc_rules(aws_stubs)
    r = result(run(f"{REGISTRY}/team-app:1.4"), "ecr.repository")
    assert r.status is Status.FAIL and r.summary.endswith("did you mean 'team/app'?")
    assert detail(r, "closest names: ") == "closest names: team/app (differs only in separators)"


def test_repository_in_another_region_than_the_image_host(moto: MotoServer, aws_stubs: AwsStubs,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The image says us-east-1, the repository was created in us-west-2 (the CLI's region).
    DescribePullThroughCacheRules is stubbed (moto lacks it)."""
    repo(moto, region="us-west-2")
    no_ptc_rules(aws_stubs)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    r = result(run(), "ecr.repository")
    assert r.status is Status.FAIL
    assert r.summary == (f"repository 'team/app' does not exist in registry {ACCOUNT} (us-east-1); "
                         "it exists in us-west-2")
    assert "team/app exists in us-west-2, the AWS CLI's region, not in us-east-1" in r.details
    assert r.fix is not None
    assert r.fix.commands[0] == f"docker pull {ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/team/app:1.4"


def test_missing_repository_under_a_pull_through_cache_prefix_is_the_first_pull_not_an_error(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules is stubbed (moto lacks it). BatchGetImage is stubbed only as a tripwire:
    it must never be sent for a cache repository that does not exist (it would create it)."""
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": [
        {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io",
         "upstreamRegistry": "docker-hub", "registryId": ACCOUNT}]})
    aws_stubs.add("ecr", "BatchGetImage", {"images": [], "failures": []})
    report = run(f"{REGISTRY}/docker-hub/library/nginx:1.27")
    r = result(report, "ecr.repository")
    assert r.status is Status.INFO
    assert r.summary == ("docker-hub/library/nginx does not exist yet: pull-through-cache rule 'docker-hub' creates it "
                         "on the first pull, from registry-1.docker.io/library/nginx")
    image = result(report, "ecr.image")
    assert image.status is Status.SKIP and "does not exist yet" in image.summary
    assert result(report, "ecr.platform").status is Status.SKIP
    assert result(report, "ecr.lifecycle").status is Status.SKIP
    assert not [c for c in aws_stubs.calls if c[1] == "BatchGetImage"]
    assert report.diagnosis == ()


def test_cache_prefix_with_unreadable_rules_is_a_warning_not_a_missing_repository(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribePullThroughCacheRules is denied through aws_stubs (moto lacks the operation): a caller with
    AmazonEC2ContainerRegistryReadOnly-like rights cannot read the rules."""
    repo(moto)
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", error_code="AccessDeniedException", status=400,
                  message=f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: "
                          "ecr:DescribePullThroughCacheRules because no identity-based policy allows the "
                          "ecr:DescribePullThroughCacheRules action")
    cache = result(run(f"{REGISTRY}/docker-hub/library/nginx:1.27"), "ecr.repository")
    assert cache.status is Status.WARN
    assert cache.summary.endswith("its prefix looks like a pull-through cache whose rules could not be read")
    assert "the pull-through-cache rules could not be read (AccessDeniedException)" in cache.details
    typo = result(run(f"{REGISTRY}/team/ap:1.4"), "ecr.repository")
    assert typo.status is Status.FAIL and typo.summary.endswith("did you mean 'team/app'?")


def test_repository_lookup_paginates_and_finds_a_near_name_on_the_second_page(
        moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribeRepositories pages come from aws_stubs: moto ignores maxResults and never returns a nextToken."""
    no_ptc_rules(aws_stubs)
    aws_stubs.add("ecr", "DescribeRepositories", error_code="RepositoryNotFoundException",
                  message=f"The repository with name 'team/ap' does not exist in the registry with id '{ACCOUNT}'")
    aws_stubs.add("ecr", "DescribeRepositories", {"repositories": [{"repositoryName": f"svc-{i}/api"}
                                                                   for i in range(1000)], "nextToken": "page-2"})
    aws_stubs.add("ecr", "DescribeRepositories", {"repositories": [{"repositoryName": "team/app"}]})
    r = result(run(f"{REGISTRY}/team/ap:1.4"), "ecr.repository")
    assert r.status is Status.FAIL and r.summary.endswith("did you mean 'team/app'?")
    assert "1001 repositories listed" in r.details
    calls = sent(aws_stubs, "DescribeRepositories")
    assert calls[0]["repositoryNames"] == ["team/ap"] and calls[0]["registryId"] == ACCOUNT
    assert calls[1] == {"maxResults": 1000, "registryId": ACCOUNT}
    assert calls[2] == {"maxResults": 1000, "registryId": ACCOUNT, "nextToken": "page-2"}


def test_repository_listing_stops_after_ten_thousand_names(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Endless DescribeRepositories pages from aws_stubs (moto never paginates): the listing is capped."""
    no_ptc_rules(aws_stubs)
    aws_stubs.add("ecr", "DescribeRepositories", error_code="RepositoryNotFoundException", message="not found")
    aws_stubs.add("ecr", "DescribeRepositories", {"repositories": [{"repositoryName": f"svc-{i}/api"}
                                                                   for i in range(1000)], "nextToken": "more"})
    r = result(run(f"{REGISTRY}/team/ap:1.4"), "ecr.repository")
    assert r.status is Status.FAIL
    assert "10000 repositories listed (stopped at 10000; there are more)" in r.details
    assert len([c for c in aws_stubs.calls if c[1] == "DescribeRepositories"]) == 11


def test_caller_denied_describe_repositories_cannot_tell_and_skips(moto: MotoServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    repo(moto)
    restricted_user(moto, monkeypatch, ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"])
    report = run_enforced(moto)
    r = result(report, "ecr.repository")
    assert r.status is Status.SKIP
    assert r.summary == (f"cannot tell whether team/app exists: arn:aws:iam::{ACCOUNT}:user/puller may not "
                         "ecr:DescribeRepositories")
    assert result(report, "ecr.image").summary == "needs ecr.repository"


def test_ecr_checks_skip_for_a_docker_hub_image_and_offline(moto: MotoServer) -> None:
    report = run("docker.io/library/nginx:1.27")
    assert result(report, "ecr.repository").status is Status.SKIP
    assert result(report, "ecr.repository").summary == "docker.io is not a private ECR registry"
    offline = run(offline=True)
    assert {r.status for r in offline.results} == {Status.SKIP}


# -- ecr.image ------------------------------------------------------------------------------------


def test_tag_never_pushed_fails_with_closest_tags_and_recent_pushes(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "1.3", "amd64")
    push(ecr, "1.4.0", "arm64")
    push(ecr, "2.0", "386")
    report = run()
    r = result(report, "ecr.image")
    assert r.status is Status.FAIL
    assert r.summary == "tag '1.4' does not exist in team/app; did you mean '1.4.0'?"
    assert r.details[0] == (f"docker pull says: Error response from daemon: manifest for {IMAGE} not found: "
                            "manifest unknown: Requested image not found")
    assert detail(r, "closest tags: ").startswith("closest tags: 1.4.0 (one extends the other)")
    assert detail(r, "most recent pushes: ").startswith("most recent pushes: 2.0 (")
    assert r.fix is not None and r.fix.commands[0] == f"docker pull {REGISTRY}/team/app:1.4.0"
    assert r.fix.commands[1] == (f"aws ecr describe-images --repository-name team/app --region us-east-1 --registry-id "
                                 f"{ACCOUNT} --query "
                                 "'sort_by(imageDetails,&imagePushedAt)[-5:].[imageTags,imagePushedAt]'")
    assert result(report, "ecr.platform").summary == "needs ecr.image"
    assert report.diagnosis == ("ecr.image",)


def test_empty_repository_says_nothing_was_ever_pushed(moto: MotoServer) -> None:
    repo(moto)
    r = result(run(f"{REGISTRY}/team/app"), "ecr.image")
    assert r.status is Status.FAIL and r.summary == "tag 'latest' does not exist in team/app"
    assert "the reference names no tag, so docker pulls ':latest'" in r.details
    assert "team/app holds no tagged image at all: the push never happened or everything was expired" in r.details


def test_digest_that_does_not_exist(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "1.4")
    digest = "sha256:" + "0" * 64
    r = result(run(f"{REGISTRY}/team/app@{digest}"), "ecr.image")
    assert r.status is Status.FAIL and r.summary == f"digest {digest} does not exist in team/app"


def test_pull_by_digest_of_an_existing_image_passes(moto: MotoServer) -> None:
    ecr = repo(moto)
    digest = push(ecr, "1.4")
    r = result(run(f"{REGISTRY}/team/app@{digest}"), "ecr.image")
    assert r.status is Status.PASS and r.summary.startswith(f"team/app@{digest} exists")


def test_archived_image_is_listed_but_404s_on_pull(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribeImages from aws_stubs: moto has no archive storage class (no imageStatus, no
    UpdateImageStorageClass)."""
    repo(moto)
    digest = "sha256:" + "a" * 64
    aws_stubs.add("ecr", "DescribeImages", {"imageDetails": [
        {"imageDigest": digest, "imageTags": ["1.4"], "imagePushedAt": datetime(2025, 1, 2, tzinfo=timezone.utc),
         "imageStatus": "ARCHIVED", "lastArchivedAt": datetime(2025, 6, 1, tzinfo=timezone.utc)}]})
    r = result(run(catalogue=Catalogue((aws_checks.aws_credentials, ecr_checks.ecr_repository,
                                        ecr_checks.ecr_image))), "ecr.image")
    assert r.status is Status.FAIL
    assert r.summary == "team/app:1.4 is archived: ECR answers 404 to pulls of archived images"
    assert r.fix is not None and r.fix.commands == (
        f"aws ecr update-image-storage-class --repository-name team/app --image-id imageDigest={digest} "
        f"--target-storage-class STANDARD --region us-east-1 --registry-id {ACCOUNT}",)


def test_archived_image_hidden_from_the_lookup_is_found_in_the_listing(moto: MotoServer,
                                                                       aws_stubs: AwsStubs) -> None:
    """DescribeImages from aws_stubs (moto has no archive storage class): the lookup by imageIds says not
    found, the listing with imageStatus ANY shows the image being restored."""
    repo(moto)
    aws_stubs.add("ecr", "DescribeImages", error_code="ImageNotFoundException", message="not found")
    aws_stubs.add("ecr", "DescribeImages", {"imageDetails": [
        {"imageDigest": "sha256:" + "b" * 64, "imageTags": ["1.4", "stable"],
         "imagePushedAt": datetime(2025, 1, 2, tzinfo=timezone.utc), "imageStatus": "ACTIVATING"}]})
    r = result(run(catalogue=Catalogue((aws_checks.aws_credentials, ecr_checks.ecr_repository,
                                        ecr_checks.ecr_image))), "ecr.image")
    assert r.status is Status.FAIL
    assert r.summary == ("team/app:1.4 is being restored from the archive: ECR answers 404 to pulls of archived "
                         "images; wait until it is ACTIVE")
    listing = sent(aws_stubs, "DescribeImages")[1]
    assert listing["filter"] == {"tagStatus": "ANY", "imageStatus": "ANY"}


def test_image_listing_paginates_and_finds_the_near_tag_on_the_second_page(moto: MotoServer,
                                                                          aws_stubs: AwsStubs) -> None:
    """DescribeImages pages from aws_stubs: moto ignores maxResults and never returns a nextToken."""
    repo(moto)
    old = datetime(2025, 1, 1, tzinfo=timezone.utc)
    aws_stubs.add("ecr", "DescribeImages", error_code="ImageNotFoundException", message="not found")
    aws_stubs.add("ecr", "DescribeImages", {"imageDetails": [
        {"imageDigest": f"sha256:{i:064x}", "imageTags": [f"build-{i}"], "imagePushedAt": old}
        for i in range(1000)], "nextToken": "page-2"})
    aws_stubs.add("ecr", "DescribeImages", {"imageDetails": [
        {"imageDigest": "sha256:" + "c" * 64, "imageTags": ["v1.4"], "imagePushedAt": old + timedelta(days=1)}]})
    r = result(run(catalogue=Catalogue((aws_checks.aws_credentials, ecr_checks.ecr_repository,
                                        ecr_checks.ecr_image))), "ecr.image")
    assert r.status is Status.FAIL and r.summary.endswith("did you mean 'v1.4'?")
    assert detail(r, "most recent pushes: ").startswith("most recent pushes: v1.4 (2025-01-02 00:00 UTC)")
    pages = sent(aws_stubs, "DescribeImages")[1:]
    assert [p.get("nextToken") for p in pages] == [None, "page-2"]
    assert all(p["maxResults"] == 1000 for p in pages)


def test_caller_denied_describe_images_cannot_tell_and_skips(moto: MotoServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = repo(moto)
    push(ecr, "1.4")
    restricted_user(moto, monkeypatch, ["ecr:DescribeRepositories"])
    report = run_enforced(moto)
    assert result(report, "ecr.repository").status is Status.PASS
    r = result(report, "ecr.image")
    assert r.status is Status.SKIP
    assert r.summary == (f"cannot tell whether team/app:1.4 exists: arn:aws:iam::{ACCOUNT}:user/puller may not "
                         "ecr:DescribeImages")


# -- ecr.platform ---------------------------------------------------------------------------------


def on_graviton(monkeypatch: pytest.MonkeyPatch) -> None:
    """An arm64 host: the one thing a test cannot make real, simulated at the Host seam (as a bundle replays it)."""
    real = Host.platform
    monkeypatch.setattr(Host, "platform", lambda self: dataclasses.replace(real(self), machine="aarch64"))


def test_graviton_host_pulling_an_amd64_only_index_fails_with_no_matching_manifest(
        moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = repo(moto)
    push_index(ecr, "1.4", ["linux/amd64"])
    on_graviton(monkeypatch)
    report = run()
    r = result(report, "ecr.platform")
    assert r.status is Status.FAIL
    assert r.summary == ("team/app:1.4 has no linux/arm64/v8 image (it has linux/amd64); this host (aarch64) is "
                         "linux/arm64/v8")
    assert r.details[0] == "docker pull says: no matching manifest for linux/arm64/v8 in the manifest list entries"
    assert r.fix is not None and r.fix.commands == (
        f"docker buildx build --platform linux/amd64,linux/arm64 -t {IMAGE} --push .",
        f"docker pull --platform linux/amd64 {IMAGE}")
    assert r.evidence["platforms"] == ["linux/amd64"]  # the attestation manifest is not a platform
    assert report.diagnosis == ("ecr.platform",)


def test_docker_default_platform_decides_what_docker_pulls(moto: MotoServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = repo(moto)
    push_index(ecr, "1.4", ["linux/amd64", "linux/arm64/v8"])
    monkeypatch.setenv("DOCKER_DEFAULT_PLATFORM", "linux/s390x")
    r = result(run(), "ecr.platform")
    assert r.status is Status.FAIL
    assert r.summary.endswith("DOCKER_DEFAULT_PLATFORM is linux/s390x")
    assert r.evidence["platforms"] == ["linux/amd64", "linux/arm64/v8"]


def test_multi_arch_index_matches_an_arm64_host_without_variant(moto: MotoServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = repo(moto)
    push_index(ecr, "1.4", ["linux/amd64", "linux/arm64"])
    on_graviton(monkeypatch)
    r = result(run(), "ecr.platform")
    assert r.status is Status.PASS
    assert r.summary == "the index of team/app:1.4 has linux/arm64/v8 (linux/amd64, linux/arm64)"


def test_single_platform_oci_manifest_cannot_be_judged_without_the_config_blob(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "1.4", "arm64")
    r = result(run(), "ecr.platform")
    assert r.status is Status.SKIP
    assert r.summary.startswith(f"team/app:1.4 is a single-platform manifest ({OCI_MANIFEST})")


def test_old_schema1_amd64_image_on_graviton_pulls_but_will_not_run(moto: MotoServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = repo(moto)
    manifest = json.dumps({"schemaVersion": 1, "name": "team/app", "tag": "1.4", "architecture": "amd64",
                           "fsLayers": [], "history": []})
    ecr.put_image(repositoryName="team/app", imageManifest=manifest, imageTag="1.4",
                  imageManifestMediaType="application/vnd.docker.distribution.manifest.v1+prettyjws")
    on_graviton(monkeypatch)
    r = result(run(), "ecr.platform")
    assert r.status is Status.WARN
    assert "exec format error" in r.summary
    assert r.fix is not None
    assert r.fix.commands == (f"docker buildx build --platform linux/amd64,linux/arm64 -t {IMAGE} --push .",)


def test_platform_parsing_helpers() -> None:
    assert str(ecr_checks.parse_platform("linux/arm64")) == "linux/arm64/v8"
    assert ecr_checks.parse_platform("") is None and ecr_checks.parse_platform("linux") is None
    assert ecr_checks.manifest_platforms("not json") is None
    assert ecr_checks.manifest_platforms(image_manifest("amd64")) is None
    assert ecr_checks.single_manifest_platform(json.dumps({"config": {"platform": {"architecture": "arm",
                                                                                   "variant": "v7"}}})) \
        == ecr_checks.Platform("linux", "arm", "v7")
    host = ecr_checks.Platform("linux", "arm", "v7")
    assert ecr_checks.runs_on(host, ecr_checks.Platform("linux", "arm", "v6"))
    assert not ecr_checks.runs_on(host, ecr_checks.Platform("linux", "arm", "v8"))
    assert not ecr_checks.runs_on(ecr_checks.Platform("linux", "amd64"), ecr_checks.Platform("windows", "amd64"))


# -- ecr.lifecycle --------------------------------------------------------------------------------


def test_tag_that_vanished_was_selected_by_a_lifecycle_rule(moto: MotoServer) -> None:
    ecr = repo(moto)
    for tag in ("1.5", "1.6"):
        push(ecr, tag)
    lifecycle(ecr, rule(1, "imageCountMoreThan", 2, "keep the two newest releases", tagPatternList=["1.*"]))
    report = run()
    r = result(report, "ecr.lifecycle")
    assert r.status is Status.WARN
    assert r.summary == ("tag '1.4' is gone and lifecycle rule 1 ('keep the two newest releases') selects it: the "
                         "policy probably expired it")
    assert r.details == ("rule 1 ('keep the two newest releases') keeps the 2 newest images with a tag matching "
                         "'1.*' and expires the rest",)
    assert r.fix is not None and r.fix.commands == (
        f"aws ecr get-lifecycle-policy --repository-name team/app --region us-east-1 --registry-id {ACCOUNT} "
        "--query lifecyclePolicyText --output text",
        "aws cloudtrail lookup-events --region us-east-1 --lookup-attributes "
        "AttributeKey=EventName,AttributeValue=PolicyExecutionEvent")
    assert report.diagnosis == ("ecr.image",)  # the missing tag is the failure; the lifecycle rule explains it


def test_tag_that_vanished_without_a_rule_selecting_it(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "2.0")
    lifecycle(ecr, rule(1, "sinceImagePushed", 7, tagPatternList=["nightly-*"]))
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.PASS
    assert r.summary == "tag '1.4' is gone, but no rule of the lifecycle policy of team/app selects it"


def test_digest_that_vanished_under_a_lifecycle_policy(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "2.0")
    lifecycle(ecr, rule(1, "imageCountMoreThan", 1, tag_status="any"))
    digest = "sha256:" + "d" * 64
    r = result(run(f"{REGISTRY}/team/app@{digest}"), "ecr.lifecycle")
    assert r.status is Status.WARN and "may have taken this one" in r.summary


def test_oldest_release_beyond_the_kept_count_is_expired_within_a_day(moto: MotoServer,
                                                                     aws_stubs: AwsStubs) -> None:
    """GetLifecyclePolicyPreview from aws_stubs (moto lacks it); images and policy are moto's.
    moto stamps pushes in whole seconds: equal stamps keep the listing (push) order."""
    ecr = repo(moto)
    for tag in ("1.4", "1.5", "1.6"):
        push(ecr, tag)
    lifecycle(ecr, rule(1, "imageCountMoreThan", 2, "keep two releases", tagPatternList=["1.*"]))
    no_preview(aws_stubs)
    report = run()
    r = result(report, "ecr.lifecycle")
    assert r.status is Status.WARN
    assert r.summary == "lifecycle rule 1 ('keep two releases') expires team/app:1.4 now: ECR acts within 24 hours"
    assert "no lifecycle policy preview has been run for this repository" in r.details
    assert r.evidence["fate"] == "marked" and r.evidence["rule_priority"] == 1
    assert result(report, "ecr.image").status is Status.PASS


def test_next_push_expires_the_tag(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """GetLifecyclePolicyPreview from aws_stubs (moto lacks it)."""
    ecr = repo(moto)
    for tag in ("1.4", "1.5"):
        push(ecr, tag)
    lifecycle(ecr, rule(1, "imageCountMoreThan", 2, "keep two releases", tagPatternList=["1.*"]))
    no_preview(aws_stubs)
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.WARN
    assert r.summary == ("lifecycle rule 1 ('keep two releases') keeps team/app:1.4 as number 2 of 2; it expires it "
                         "after 1 more matching push")


def test_count_rule_with_room_left_passes_with_the_count(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """GetLifecyclePolicyPreview from aws_stubs (moto lacks it)."""
    ecr = repo(moto)
    for tag in ("1.3", "1.4"):
        push(ecr, tag)
    lifecycle(ecr, rule(1, "imageCountMoreThan", 10, tagPatternList=["1.*"]))
    no_preview(aws_stubs)
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.PASS
    assert r.summary.endswith("keeps team/app:1.4 as number 1 of 10; it expires it after 10 more matching pushes")


def test_age_rule_due_within_a_week_warns_with_the_date(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """GetLifecyclePolicyPreview from aws_stubs (moto lacks it): a preview of the current policy that lists
    the image."""
    ecr = repo(moto)
    digest = push(ecr, "1.4")
    text = lifecycle(ecr, rule(1, "sinceImagePushed", 3, "short-lived builds", tagPatternList=["1.*"]))
    aws_stubs.add("ecr", "GetLifecyclePolicyPreview", {
        "repositoryName": "team/app", "registryId": ACCOUNT, "lifecyclePolicyText": text, "status": "COMPLETE",
        "previewResults": [{"imageTags": ["1.4"], "imageDigest": digest, "action": {"type": "EXPIRE"},
                            "appliedRulePriority": 1}]})
    before = datetime.now(timezone.utc)
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.WARN
    assert r.summary.startswith("lifecycle rule 1 ('short-lived builds') expires team/app:1.4 on ")
    due = datetime.fromisoformat(str(r.evidence["expires_at"]))
    assert timedelta(days=3) - timedelta(minutes=1) < due - before < timedelta(days=3, minutes=1)
    assert ("the last lifecycle policy preview (COMPLETE, of the current policy) lists this image: EXPIRE by rule 1"
            in r.details)
    preview_call = sent(aws_stubs, "GetLifecyclePolicyPreview")[0]
    assert preview_call["imageIds"] == [{"imageDigest": digest}]


def test_age_rule_months_away_passes_with_the_date(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """GetLifecyclePolicyPreview from aws_stubs (moto lacks it): a preview of an older draft policy."""
    ecr = repo(moto)
    push(ecr, "1.4")
    lifecycle(ecr, rule(1, "sinceImagePushed", 90, tagPatternList=["1.*"]))
    aws_stubs.add("ecr", "GetLifecyclePolicyPreview", {
        "lifecyclePolicyText": json.dumps({"rules": [rule(1, "imageCountMoreThan", 1, tag_status="any")]}),
        "status": "COMPLETE", "previewResults": []})
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.PASS and " expires team/app:1.4 on " in r.summary
    assert ("the last lifecycle policy preview (COMPLETE, of a different (draft) policy text) does not list this image"
            in r.details)


def test_image_pushed_a_month_ago_is_past_its_age_rule(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """DescribeImages from aws_stubs: moto stamps every push with the current time, so an image pushed
    30 days ago cannot be made there. GetLifecyclePolicyPreview is stubbed too (moto lacks it)."""
    ecr = repo(moto)
    lifecycle(ecr, rule(1, "sinceImagePushed", 14, "two weeks", tagPatternList=["1.*"]),
              rule(2, "imageCountMoreThan", 1, tag_status="any"))
    month_ago = datetime.now(timezone.utc) - timedelta(days=30)
    aws_stubs.add("ecr", "DescribeImages", {"imageDetails": [
        {"imageDigest": "sha256:" + "e" * 64, "imageTags": ["1.4"], "imagePushedAt": month_ago},
        {"imageDigest": "sha256:" + "f" * 64, "imageTags": ["2.0"], "imagePushedAt": month_ago}]})
    no_preview(aws_stubs)
    r = result(run(catalogue=LIFECYCLE_ONLY), "ecr.lifecycle")
    assert r.status is Status.WARN
    assert r.summary == "lifecycle rule 1 ('two weeks') expires team/app:1.4 now: ECR acts within 24 hours"


def test_no_lifecycle_policy_passes(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "1.4")
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.PASS and r.summary == "team/app has no lifecycle policy: no rule expires its images"


def test_policy_that_only_cleans_untagged_images_leaves_the_tag_alone(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "1.4")
    lifecycle(ecr, rule(1, "sinceImagePushed", 1, tag_status="untagged"))
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.PASS
    assert r.summary == "no rule of the lifecycle policy of team/app selects team/app:1.4 (1 rules)"
    assert r.details == ("rule 1 ('rule 1') expires untagged images pushed more than 1 days ago",)


def test_rule_by_last_pull_time_is_reported_but_not_evaluated(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """GetLifecyclePolicy from aws_stubs: moto's policy schema predates sinceImagePulled and refuses it.
    GetLifecyclePolicyPreview is stubbed too (moto lacks it)."""
    ecr = repo(moto)
    push(ecr, "1.4")
    aws_stubs.add("ecr", "GetLifecyclePolicy", {"repositoryName": "team/app", "registryId": ACCOUNT,
                                                 "lifecyclePolicyText": json.dumps({"rules": [
                                                     rule(1, "sinceImagePulled", 30, tagPatternList=["*"])]})})
    no_preview(aws_stubs)
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.INFO
    assert r.summary == ("lifecycle rule 1 ('rule 1') selects team/app:1.4 by sinceImagePulled, which ecrdoctor "
                         "does not evaluate locally")


def test_lifecycle_policy_ecrdoctor_cannot_parse_is_an_error(moto: MotoServer) -> None:
    ecr = repo(moto)
    push(ecr, "1.4")
    ecr.put_lifecycle_policy(repositoryName="team/app", lifecyclePolicyText=json.dumps({"rules": [
        {"rulePriority": 1, "description": "tagged without any list", "selection": {
            "tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1},
         "action": {"type": "expire"}}]}))
    r = result(run(), "ecr.lifecycle")
    assert r.status is Status.ERROR
    assert r.summary == ("the lifecycle policy of team/app could not be evaluated: rules[0]: tagStatus tagged needs a "
                         "tagPrefixList or tagPatternList")


def test_caller_denied_get_lifecycle_policy_skips(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = repo(moto)
    push(ecr, "1.4")
    restricted_user(moto, monkeypatch, ["ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:BatchGetImage"])
    report = run_enforced(moto)
    assert result(report, "ecr.image").status is Status.PASS
    r = result(report, "ecr.lifecycle")
    assert r.status is Status.SKIP
    assert r.summary == (f"cannot tell whether a lifecycle rule expires the image: arn:aws:iam::{ACCOUNT}:user/puller "
                         "may not ecr:GetLifecyclePolicy")


def test_nothing_secret_or_unexpected_in_a_full_report(moto: MotoServer) -> None:
    ecr = repo(moto)
    push_index(ecr, "1.4", ["linux/amd64", "linux/arm64/v8"])
    report = run()
    text = json.dumps(report.to_dict())
    assert "moto-secret-key-do-not-print" not in text
    assert {r.id: r.status for r in report.results} == {
        "aws.credentials": Status.PASS, "ecr.repository": Status.PASS, "ecr.image": Status.PASS,
        "ecr.platform": Status.PASS, "ecr.lifecycle": Status.PASS}
