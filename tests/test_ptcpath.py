"""Pure pull-through-cache path logic: upstream detection, Docker Hub's library/ rule, secret ARNs, templates."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from ecrdoctor.ptcpath import (
    SecretArnError,
    docker_hub_path_problem,
    edit_distance,
    near_miss_prefix,
    parse_secret_arn,
    replace_prefix,
    template_for,
    template_prefix_candidates,
    upstream_kind,
    upstream_named_by,
    with_repository,
)
from ecrdoctor.reference import parse_reference


@pytest.mark.parametrize(("registry", "url", "kind"), [
    ("docker-hub", "registry-1.docker.io", "docker-hub"),
    (None, "registry-1.docker.io", "docker-hub"),
    (None, "https://quay.io", "quay"),
    (None, "registry.k8s.io", "k8s"),
    (None, "public.ecr.aws", "ecr-public"),
    (None, "ghcr.io", "github-container-registry"),
    (None, "registry.gitlab.com", "gitlab-container-registry"),
    (None, "myteam.azurecr.io", "azure-container-registry"),
    (None, "111111111111.dkr.ecr.us-west-2.amazonaws.com", "ecr"),
    (None, "registry.example.com", None),
    ("not-an-enum-value", "ghcr.io", "github-container-registry"),
])
def test_upstream_kind_from_the_enum_or_the_url(registry: Optional[str], url: str, kind: Optional[str]) -> None:
    assert upstream_kind(registry, url) == kind


@pytest.mark.parametrize(("repo", "kind"), [
    ("docker-hub/library/nginx", "docker-hub"),
    ("dockerhub/nginx", "docker-hub"),
    ("kubernetes/pause", "k8s"),
    ("ghcr/org/tool", "github-container-registry"),
    ("ecr-public/amazonlinux/amazonlinux", "ecr-public"),
    ("team/app", None),
    ("docker-hubx/nginx", None),
])
def test_paths_that_look_like_an_upstream(repo: str, kind: Optional[str]) -> None:
    assert upstream_named_by(repo) == kind


@pytest.mark.parametrize(("prefix", "repo", "upstream", "kind", "corrected"), [
    ("docker-hub", "docker-hub/nginx", "nginx", "missing-library", "docker-hub/library/nginx"),
    ("ROOT", "nginx", "nginx", "missing-library", "library/nginx"),
    ("docker-hub/", "docker-hub/redis", "redis", "missing-library", "docker-hub/library/redis"),
    ("docker-hub", "docker-hub/library/percona/percona-xtradb-cluster-operator",
     "library/percona/percona-xtradb-cluster-operator", "nested-library",
     "docker-hub/percona/percona-xtradb-cluster-operator"),
])
def test_docker_hub_library_rule(prefix: str, repo: str, upstream: str, kind: str, corrected: str) -> None:
    problem = docker_hub_path_problem(prefix, repo, upstream)
    assert problem is not None and (problem.kind, problem.corrected_repository) == (kind, corrected)


@pytest.mark.parametrize(("prefix", "repo", "upstream"), [
    ("docker-hub", "docker-hub/library/nginx", "library/nginx"),
    ("docker-hub", "docker-hub/bitnami/nginx", "bitnami/nginx"),
    ("hub-official", "hub-official/nginx", "library/nginx"),  # the rule's upstream prefix supplies library/
])
def test_docker_hub_paths_that_are_right(prefix: str, repo: str, upstream: str) -> None:
    assert docker_hub_path_problem(prefix, repo, upstream) is None


def test_corrected_reference_keeps_tag_and_digest() -> None:
    ref = parse_reference(f"123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/nginx:1.25@sha256:{'a' * 64}")
    assert with_repository(ref, "docker-hub/library/nginx") == (
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.25@sha256:{'a' * 64}")
    bare = parse_reference("123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/nginx")
    assert with_repository(bare, "x/y") == "123456789012.dkr.ecr.us-east-1.amazonaws.com/x/y:latest"  # docker's default


def test_near_miss_prefixes() -> None:
    prefixes = ["docker-hub", "quay", "team/mirror", "ROOT"]
    assert near_miss_prefix("dockerhub/nginx", prefixes, same_upstream=["docker-hub"]) == ("docker-hub", 1)
    assert near_miss_prefix("docker-hb/library/nginx", prefixes) == ("docker-hub", 1)
    assert near_miss_prefix("team/mirro/app", prefixes) == ("team/mirror", 2)
    assert near_miss_prefix("team/app", prefixes) is None
    assert near_miss_prefix("quay", prefixes) is None  # nothing after the prefix: not a cache path
    assert replace_prefix("team/mirro/app", 2, "team/mirror") == "team/mirror/app"
    assert edit_distance("quya", "quay") == 2 and edit_distance("", "ab") == 2


def test_secret_arns() -> None:
    arn = parse_secret_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf")
    assert (arn.region, arn.account, arn.cache_prefixed) == ("eu-west-1", "123456789012", True)
    gov = parse_secret_arn("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:hub-AbCdEf")
    assert gov.partition == "aws-us-gov" and not gov.cache_prefixed
    with pytest.raises(SecretArnError):
        parse_secret_arn("arn:aws:iam::123456789012:role/x")


def test_template_prefix_candidates_cover_every_namespace_and_root() -> None:
    assert template_prefix_candidates("a/b") == ["a", "a/", "a/b", "a/b/", "ROOT"]


def test_template_for_takes_the_longest_prefix_for_pull_through_cache_and_root_last() -> None:
    templates: list[dict[str, Any]] = [
        {"prefix": "ROOT", "appliedFor": ["PULL_THROUGH_CACHE"]},
        {"prefix": "docker-hub", "appliedFor": ["PULL_THROUGH_CACHE"]},
        {"prefix": "docker-hub/library/", "appliedFor": ["REPLICATION"]},
        {"prefix": "docker-hubx", "appliedFor": ["PULL_THROUGH_CACHE"]},
    ]
    assert template_for(templates, "docker-hub/library/nginx") is templates[1]
    assert template_for(templates, "quay/x") is templates[0]
    assert template_for(templates[2:3], "docker-hub/library/nginx") is None
