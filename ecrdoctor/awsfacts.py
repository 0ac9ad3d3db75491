"""AWS facts several checks share, fetched once per run through the gateway: token, repository, rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple

from ecrdoctor.aws import client_error_code, client_error_message

if TYPE_CHECKING:
    from ecrdoctor.context import Context

# -- AccessDenied messages -------------------------------------------------------------------------

# The policy types the enhanced AccessDenied message names ("because no <type> policy allows the <action>
# action" / "with an explicit deny in a <type> policy"), longest phrase first. The permissions boundary
# is spelled without "policy" ("because no permissions boundary allows the s3:PutObject action").
_POLICY_KINDS: Tuple[Tuple[str, str], ...] = (
    ("identity-based", "identity"),
    ("resource-based", "resource"),
    ("service control", "scp"),
    ("resource control", "rcp"),
    ("permissions boundary", "boundary"),
    ("session", "session"),
    ("vpc endpoint", "vpc-endpoint"),
)
_EXPLICIT = re.compile(r"with an explicit deny(?: in an? )?", re.I)
_IMPLICIT = re.compile(r"because no ", re.I)
_UNKNOWN_TYPE = re.compile(r"[\w -]+?(?= policy| allows|$|[.:;,])")


@dataclass(frozen=True)
class DenialReason:
    """Which policy type an AccessDenied message blames, and whether it was an explicit Deny."""

    kind: Optional[str]  # identity, resource, scp, rcp, boundary, session, vpc-endpoint; None when not named
    explicit: bool
    phrase: Optional[str]  # the policy type as the message spells it

    @property
    def label(self) -> str:
        return {
            "identity": "identity-based policy", "resource": "resource-based policy",
            "scp": "service control policy (SCP)", "rcp": "resource control policy (RCP)",
            "boundary": "permissions boundary", "session": "session policy", "vpc-endpoint": "VPC endpoint policy",
        }.get(self.kind or "", f"{self.phrase} policy" if self.phrase else "policy")


def denial_reason(message: str) -> DenialReason:
    """The policy type named by an AccessDenied message (AWS's enhanced access-denied context)."""
    text = " ".join(message.split())
    m = _EXPLICIT.search(text)
    explicit = m is not None
    if m is None:
        m = _IMPLICIT.search(text)
    rest = text[m.end():] if m is not None and m.group(0).endswith(" ") else ""
    low = rest.lower()
    for phrase, kind in _POLICY_KINDS:
        if low.startswith(phrase):
            return DenialReason(kind, explicit, rest[:len(phrase)])
    other = _UNKNOWN_TYPE.match(rest)
    return DenialReason(None, explicit, other.group(0) if other and other.group(0) else None)


_DENIAL = re.compile(r"User: (?P<principal>\S+) is not authorized to perform: (?P<action>\S+)"
                     r"(?: on resource: (?P<resource>\S+))?")


@dataclass(frozen=True)
class AccessDenied:
    """An AccessDenied answer taken apart: who, what, on which resource, and which policy type said no."""

    principal: Optional[str]
    action: Optional[str]
    resource: Optional[str]
    reason: DenialReason
    message: str

    @property
    def policy_type(self) -> Optional[str]:
        """The policy type as the message spells it: "identity-based", "service control", "permissions boundary"."""
        return self.reason.phrase

    @property
    def explicit_deny(self) -> bool:
        return self.reason.explicit


def classify_denial(exc: BaseException) -> Optional[AccessDenied]:
    """AccessDenied from real AWS (JSON codes) or from moto (HTTP 403 with the XML body as message)."""
    code = client_error_code(exc)
    message = client_error_message(exc)
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    denied = code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation") or (
        status == 403 and "not authorized to perform" in message
    )
    if not denied:
        return None
    return parse_denial(message)


def parse_denial(message: str) -> AccessDenied:
    """Parse the `User: … is not authorized to perform: …` sentence; unknown shapes keep the message only."""
    reason = denial_reason(message)
    if not reason.explicit and "explicit deny" in message:
        reason = DenialReason(reason.kind, True, reason.phrase)
    m = _DENIAL.search(" ".join(message.split()))
    if not m:
        return AccessDenied(None, None, None, reason, message)
    return AccessDenied(m.group("principal"), m.group("action"), m.group("resource"), reason, message)


@dataclass(frozen=True)
class AuthToken:
    """A GetAuthorizationToken answer; the token stays in memory (masked everywhere) and out of repr."""

    expires_at: Optional[datetime]
    proxy_endpoint: Optional[str]
    token: str = field(repr=False)  # base64 of "AWS:<password>", what docker sends as Basic auth


@dataclass(frozen=True)
class PullThroughRule:
    prefix: str  # ecrRepositoryPrefix, "ROOT" for the catch-all
    upstream_url: str
    upstream_registry: Optional[str] = None
    upstream_prefix: Optional[str] = None  # upstreamRepositoryPrefix ("ROOT" or a path)
    credential_arn: Optional[str] = None
    custom_role_arn: Optional[str] = None
    registry_id: Optional[str] = None

    def upstream_path(self, repository: str) -> str:
        """The upstream repository a cache repository stands for (prefix removed, upstream prefix added)."""
        rest = repository if self.prefix == "ROOT" else repository[len(self.prefix.rstrip("/")) + 1:]
        if self.upstream_prefix and self.upstream_prefix != "ROOT":
            return f"{self.upstream_prefix.rstrip('/')}/{rest}"
        return rest


def match_rule(rules: Sequence[PullThroughRule], repository: str) -> Optional[PullThroughRule]:
    """The rule a repository name falls under: the longest matching prefix, ROOT only when none matches."""
    best: Optional[PullThroughRule] = None
    for rule in rules:
        if rule.prefix == "ROOT":
            continue
        prefix = rule.prefix.rstrip("/") + "/"  # "there is always an assumed / at the end of the prefix"
        if repository.startswith(prefix) and (best is None or len(prefix) > len(best.prefix.rstrip("/")) + 1):
            best = rule
    return best or next((r for r in rules if r.prefix == "ROOT"), None)


# -- facts fetched through the gateway, once per run ---------------------------------------------------


def ecr(ctx: Context) -> Any:
    """The ECR client for the target registry's region (ECR Public tokens come from us-east-1)."""
    region = ctx.options.region or (ctx.registry.api_region if ctx.registry else None)
    return ctx.aws.client("ecr-public" if ctx.registry and ctx.registry.kind == "public" else "ecr", region=region)


def batch_get_image(ctx: Context, registry_id: Optional[str], repository: str, image_id: dict[str, str],
                    media_types: Sequence[str]) -> Any:
    """ecr:BatchGetImage of one image, once per run per image: ecr.image, iam.pull and registry.manifest all
    read the same manifests. Raises the botocore error (remembered, and raised to every caller). The caller
    must know the repository exists: on a pull-through-cache prefix, this call would create it."""
    key = ("ecr.batch_get_image", registry_id, repository, tuple(sorted(image_id.items())), tuple(media_types))
    return ctx.fact(repr(key), lambda: ecr(ctx).batch_get_image(
        registryId=registry_id, repositoryName=repository, imageIds=[image_id], acceptedMediaTypes=list(media_types)))


def auth_token(ctx: Context) -> AuthToken:
    """ecr:GetAuthorizationToken, once; raises the botocore error for the checks to classify."""

    def fetch() -> AuthToken:
        data = ecr(ctx).get_authorization_token()
        entry = data["authorizationData"]
        entry = entry[0] if isinstance(entry, list) else entry  # ecr-public returns one object
        token = str(entry["authorizationToken"])
        ctx.redactor.add(token)
        return AuthToken(entry.get("expiresAt"), entry.get("proxyEndpoint"), token)

    return ctx.fact("aws.auth_token", fetch)


@dataclass(frozen=True)
class RepositoryLookup:
    """DescribeRepositories for the target: the repository, or why it could not be seen."""

    name: str
    registry_id: Optional[str]
    repository: Optional[dict[str, Any]] = None
    error_code: Optional[str] = None  # RepositoryNotFoundException, AccessDeniedException, ...
    error_message: Optional[str] = None

    @property
    def exists(self) -> bool:
        return self.repository is not None

    @property
    def missing(self) -> bool:
        return self.error_code == "RepositoryNotFoundException"


def repository(ctx: Context) -> RepositoryLookup:
    """The target repository, by name, with the registry id of the image host (never a whole-account list)."""

    def fetch() -> RepositoryLookup:
        if ctx.image is None or ctx.registry is None or ctx.registry.kind != "private":
            raise ValueError("no private ECR repository in the target")
        name, registry_id = ctx.image.repository, ctx.registry.account
        try:
            resp = ecr(ctx).describe_repositories(repositoryNames=[name], registryId=registry_id)
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            return RepositoryLookup(name, registry_id, error_code=client_error_code(exc),
                                    error_message=client_error_message(exc))
        repos = resp.get("repositories", [])
        return RepositoryLookup(name, registry_id, repository=repos[0] if repos else None,
                                error_code=None if repos else "RepositoryNotFoundException")

    return ctx.fact("aws.repository", fetch)


def pull_through_rules(ctx: Context) -> tuple[PullThroughRule, ...]:
    """Every pull-through-cache rule of the target registry (at most 50), paginated."""

    def fetch() -> tuple[PullThroughRule, ...]:
        if ctx.registry is None or ctx.registry.kind != "private":
            return ()
        paginator = ecr(ctx).get_paginator("describe_pull_through_cache_rules")
        rules: list[PullThroughRule] = []
        for page in paginator.paginate(registryId=ctx.registry.account):
            for r in page.get("pullThroughCacheRules", []):
                rules.append(PullThroughRule(
                    prefix=r["ecrRepositoryPrefix"], upstream_url=r.get("upstreamRegistryUrl", ""),
                    upstream_registry=r.get("upstreamRegistry"), upstream_prefix=r.get("upstreamRepositoryPrefix"),
                    credential_arn=r.get("credentialArn"), custom_role_arn=r.get("customRoleArn"),
                    registry_id=r.get("registryId"),
                ))
        return tuple(rules)

    return ctx.fact("aws.pull_through_rules", fetch)


def target_rule(ctx: Context) -> Optional[PullThroughRule]:
    """The pull-through-cache rule the target repository falls under, if any."""
    if ctx.image is None:
        return None
    return match_rule(pull_through_rules(ctx), ctx.image.repository)
