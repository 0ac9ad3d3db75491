"""Pull-through-cache paths: which upstream a rule or a path means, Docker Hub's `library/` rule, secret ARNs.

Pure functions over names ECR and the user gave; no I/O. Facts from research/aws-side.md A7 and B3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from ecrdoctor.reference import ImageReference


@dataclass(frozen=True)
class Upstream:
    """One `UpstreamRegistry` of CreatePullThroughCacheRule (botocore model) and what it needs."""

    kind: str  # the API's upstreamRegistry value
    url: str  # upstreamRegistryUrl (a placeholder where the user names it)
    needs_secret: bool  # authentication through a Secrets Manager secret (aws-side.md A7 table)
    console_prefix: str  # the prefix the ECR console suggests


UPSTREAMS: dict[str, Upstream] = {u.kind: u for u in (
    Upstream("ecr-public", "public.ecr.aws", False, "ecr-public"),
    Upstream("k8s", "registry.k8s.io", False, "kubernetes"),
    Upstream("quay", "quay.io", False, "quay"),
    Upstream("docker-hub", "registry-1.docker.io", True, "docker-hub"),
    Upstream("github-container-registry", "ghcr.io", True, "github"),
    Upstream("gitlab-container-registry", "registry.gitlab.com", True, "gitlab"),
    Upstream("azure-container-registry", "<registry-name>.azurecr.io", True, "azure"),
    Upstream("chainguard", "cgr.dev", True, "chainguard"),  # the URL is unconfirmed (aws-side.md A7)
    Upstream("ecr", "<account>.dkr.ecr.<region>.amazonaws.com", False, "ecr"),
)}

# First path components people use for a cached upstream: the console defaults and their common spellings.
# A private repository named like this, with no rule and no repository, is almost always a missing rule.
_ALIASES: dict[str, str] = {
    **{a: "docker-hub" for a in ("docker-hub", "dockerhub", "docker-io", "dockerio", "docker", "hub",
                                 "docker.io", "registry-1.docker.io")},
    **{a: "quay" for a in ("quay", "quay-io", "quayio", "quay.io")},
    **{a: "k8s" for a in ("k8s", "kubernetes", "registry-k8s-io", "k8s-io", "registry.k8s.io")},
    **{a: "ecr-public" for a in ("ecr-public", "public-ecr", "ecrpublic", "public.ecr.aws")},
    **{a: "github-container-registry" for a in ("github", "ghcr", "ghcr-io", "ghcr.io",
                                                "github-container-registry")},
    **{a: "gitlab-container-registry" for a in ("gitlab", "gitlab-container-registry", "registry.gitlab.com")},
    **{a: "azure-container-registry" for a in ("azure", "acr", "azurecr", "azure-container-registry")},
    **{a: "chainguard" for a in ("chainguard", "cgr", "cgr.dev")},
}

_URL_KINDS = (
    (re.compile(r"^(registry-1\.|index\.)?docker\.io$"), "docker-hub"),
    (re.compile(r"^quay\.io$"), "quay"),
    (re.compile(r"^registry\.k8s\.io$"), "k8s"),
    (re.compile(r"^public\.ecr\.aws$"), "ecr-public"),
    (re.compile(r"^ghcr\.io$"), "github-container-registry"),
    (re.compile(r"^registry\.gitlab\.com$"), "gitlab-container-registry"),
    (re.compile(r"^[a-z0-9-]+\.azurecr\.(io|cn|us)$"), "azure-container-registry"),
    (re.compile(r"^cgr\.dev$"), "chainguard"),
    (re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"), "ecr"),
)


def upstream_kind(upstream_registry: Optional[str], url: str) -> Optional[str]:
    """The rule's upstream as the API's upstreamRegistry value: given, or read from its URL."""
    if upstream_registry in UPSTREAMS:
        return upstream_registry
    host = re.sub(r"^[a-z]+://", "", url.strip().lower()).split("/", 1)[0]
    return next((kind for pattern, kind in _URL_KINDS if pattern.match(host)), None)


def upstream_named_by(repository: str) -> Optional[str]:
    """The upstream a repository path seems to mean by its first component (`dockerhub/nginx` -> docker-hub)."""
    return _ALIASES.get(repository.split("/", 1)[0])


@dataclass(frozen=True)
class PathProblem:
    """A cache path that names no upstream repository, and the cache repository that would."""

    kind: str  # "missing-library" (PTC-DOCKERHUB-LIBRARY) | "nested-library" (PTC-NESTED-PATH)
    upstream_path: str
    corrected_upstream_path: str
    corrected_repository: str


def docker_hub_path_problem(prefix: str, repository: str, upstream_path: str) -> Optional[PathProblem]:
    """Docker Hub official images need `library/`; other Docker Hub repositories must not have it.

    `prefix` is the rule's ecrRepositoryPrefix ("ROOT" for the catch-all), `upstream_path` what the
    rule maps `repository` to. aws-side.md B3: PTC-DOCKERHUB-LIBRARY and PTC-NESTED-PATH.
    """
    parts = upstream_path.split("/")
    head = "" if prefix == "ROOT" else prefix.rstrip("/") + "/"
    if not repository.startswith(head):
        return None
    rest = repository[len(head):]
    if len(parts) == 1 and rest == upstream_path:
        return PathProblem("missing-library", upstream_path, f"library/{upstream_path}", f"{head}library/{rest}")
    if len(parts) >= 3 and parts[0] == "library" and rest.startswith("library/"):
        fixed = upstream_path[len("library/"):]
        return PathProblem("nested-library", upstream_path, fixed, head + rest[len("library/"):])
    return None


def with_repository(ref: ImageReference, repository: str) -> str:
    """The full reference `ref` with another repository, tag and digest kept exactly as given."""
    return f"{ref.registry}/{repository}" + (f":{ref.tag}" if ref.tag else "") + (
        f"@{ref.digest}" if ref.digest else "")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, for prefixes typed slightly wrong (`docker-hb` for `docker-hub`)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def near_miss_prefix(repository: str, prefixes: Iterable[str],
                     same_upstream: Iterable[str] = ()) -> Optional[tuple[str, int]]:
    """The rule prefix a repository path most likely meant when none matches, and how many leading
    path components of the repository stand for it.

    `same_upstream` are the prefixes of rules for the upstream the path's first component names
    (`dockerhub/...` meant the `docker-hub` rule); otherwise the closest prefix within two edits of the
    same number of leading path components.
    """
    parts = repository.split("/")
    if len(parts) > 1:
        for prefix in same_upstream:
            if prefix != "ROOT":
                return prefix, 1
    best: Optional[tuple[int, str, int]] = None
    for prefix in prefixes:
        if prefix == "ROOT":
            continue
        wanted = prefix.rstrip("/").split("/")
        if len(parts) <= len(wanted):
            continue
        distance = edit_distance("/".join(parts[:len(wanted)]), "/".join(wanted))
        if 0 < distance <= 2 and (best is None or distance < best[0]):
            best = (distance, prefix, len(wanted))
    return (best[1], best[2]) if best else None


def replace_prefix(repository: str, old_components: int, new_prefix: str) -> str:
    """`repository` with its first `old_components` path components replaced by `new_prefix`."""
    rest = repository.split("/")[old_components:]
    return "/".join([new_prefix.rstrip("/"), *rest])


class SecretArnError(ValueError):
    """A credentialArn that is not a Secrets Manager secret ARN."""


@dataclass(frozen=True)
class SecretArn:
    partition: str
    region: str
    account: str
    name: str  # with Secrets Manager's random 6-character suffix, as the ARN has it

    @property
    def cache_prefixed(self) -> bool:
        """The service-linked role may read only secrets named `ecr-pullthroughcache/...` (aws-side.md A7)."""
        return self.name.startswith("ecr-pullthroughcache/")


_SECRET_ARN = re.compile(r"^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")


def parse_secret_arn(arn: str) -> SecretArn:
    m = _SECRET_ARN.match(arn.strip())
    if not m:
        raise SecretArnError(f"{arn!r} is not a Secrets Manager secret ARN")
    return SecretArn(m.group(1), m.group(2), m.group(3), m.group(4))


def template_prefix_candidates(repository: str) -> list[str]:
    """Every creation-template prefix that could apply to `repository`, for the API's `prefixes` filter."""
    parts = repository.split("/")
    out: list[str] = []
    for i in range(1, len(parts) + 1):
        head = "/".join(parts[:i])
        out += [head, head + "/"]
    return out + ["ROOT"]


def template_for(templates: Sequence[Mapping[str, Any]], repository: str,
                 applied_for: str = "PULL_THROUGH_CACHE") -> Optional[Mapping[str, Any]]:
    """The repository-creation template ECR applies: longest matching prefix for `applied_for`, ROOT last."""
    best: Optional[Mapping[str, Any]] = None
    best_len = -1
    root: Optional[Mapping[str, Any]] = None
    for tmpl in templates:
        if applied_for not in (tmpl.get("appliedFor") or ()):
            continue
        prefix = str(tmpl.get("prefix", ""))
        if prefix == "ROOT":
            root = tmpl
            continue
        head = prefix.rstrip("/") + "/"
        if repository.startswith(head) and len(head) > best_len:
            best, best_len = tmpl, len(head)
    return best or root
