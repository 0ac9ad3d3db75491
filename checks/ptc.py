"""Pull-through cache: the rule a repository falls under, its credentials, its path, and the first pull."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ecrdoctor.api import Fix, Outcome, SkipCheck, check, error, fail, info, passed, skip, warn
from ecrdoctor.aws import client_error_code, client_error_message
from ecrdoctor.awsfacts import (
    AccessDenied,
    PullThroughRule,
    classify_denial,
    ecr,
    pull_through_rules,
    repository,
    target_rule,
)
from ecrdoctor.context import Context
from ecrdoctor.ptcpath import (
    UPSTREAMS,
    SecretArnError,
    docker_hub_path_problem,
    near_miss_prefix,
    parse_secret_arn,
    replace_prefix,
    template_for,
    template_prefix_candidates,
    upstream_kind,
    upstream_named_by,
    with_repository,
)

NO_AUTH = ("ecr-public", "k8s", "quay")
DEFAULT_SECRET_KEY = "alias/aws/secretsmanager"
# aws-side.md C9: a path that does not exist upstream is reported as an authentication failure.
MISLEADING = ("ECR reports a path that does not exist upstream as `denied: The authentication to the upstream "
              "registry failed. Verify that the credentials provided in the pull through cache rule are correct` "
              "(or as `name unknown` / `not found`), not as a wrong path")


def _private_image(ctx: Context) -> Optional[str]:
    if ctx.image is None or ctx.registry is None:
        return "no image given: pull-through cache rules apply to a repository"
    if ctx.registry.kind != "private":
        return f"{ctx.registry.host} is not a private ECR registry: pull-through cache rules exist only there"
    return None


@dataclass(frozen=True)
class RuleLookup:
    """The registry's pull-through-cache rules and the one the target falls under, or why they are unknown."""

    rules: tuple[PullThroughRule, ...] = ()
    rule: Optional[PullThroughRule] = None
    error_code: Optional[str] = None
    denial: Optional[AccessDenied] = None
    message: str = ""

    @property
    def readable(self) -> bool:
        return self.error_code is None

    def why_unreadable(self) -> str:
        if self.denial is not None:
            who = self.denial.principal or "the caller"
            by = f" ({self.denial.policy_type} policy)" if self.denial.policy_type else ""
            return f"{who} may not call {self.denial.action or 'ecr:DescribePullThroughCacheRules'}{by}"
        return f"ECR answered {self.error_code}"


def rule_lookup(ctx: Context) -> RuleLookup:
    """The rules (awsfacts.pull_through_rules, paginated, once) and awsfacts.target_rule, errors captured."""

    def fetch() -> RuleLookup:
        try:
            rules = pull_through_rules(ctx)
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            return RuleLookup(error_code=client_error_code(exc), denial=classify_denial(exc),
                              message=client_error_message(exc))
        return RuleLookup(rules, target_rule(ctx))

    return ctx.fact("ptc.rule_lookup", fetch)


def _region(ctx: Context) -> str:
    return str(ecr(ctx).meta.region_name)


def _account(ctx: Context) -> str:
    return str(ctx.registry.account) if ctx.registry else ""


def _rule(ctx: Context) -> PullThroughRule:
    """The target's rule, or SkipCheck saying why there is none to look at."""
    look = rule_lookup(ctx)
    repo = ctx.image.repository if ctx.image else ""
    if not look.readable:
        raise SkipCheck(f"the pull-through cache rules could not be read ({look.why_unreadable()}): see ptc.rule")
    if look.rule is None:
        raise SkipCheck(f"no pull-through cache rule covers {repo}")
    return look.rule


def _kind(rule: PullThroughRule) -> Optional[str]:
    return upstream_kind(rule.upstream_registry, rule.upstream_url)


def _missing_evidence(what: str, denial: AccessDenied) -> Outcome:
    who = denial.principal or "the caller"
    return skip(f"could not check {what}: {who} may not call {denial.action or 'it'} (missing evidence, not a fault)",
                details=[denial.message], evidence={"denied_action": denial.action})


def _create_rule_commands(prefix: str, kind: str, region: str) -> tuple[str, ...]:
    up = UPSTREAMS[kind]
    rule = (f"aws ecr create-pull-through-cache-rule --region {region} --ecr-repository-prefix {prefix} "
            f"--upstream-registry-url {up.url}")
    if not up.needs_secret:
        return (rule,)
    name = f"ecr-pullthroughcache/{prefix}"
    return (_create_secret_command(name, region),
            f"{rule} --credential-arn $(aws secretsmanager describe-secret --region {region} --secret-id {name} "
            "--query ARN --output text)")


def _create_secret_command(name: str, region: str) -> str:
    return (f"aws secretsmanager create-secret --region {region} --name {name} "
            "--secret-string '{\"username\":\"<upstream-user>\",\"accessToken\":\"<upstream-access-token>\"}'")


@check("ptc.rule", title="Which pull-through cache rule covers this repository?", requires=["aws.credentials"],
       applies_when=_private_image, network=True, timeout=10)
def ptc_rule(ctx: Context) -> Outcome:
    """Matches the repository against the registry's pull-through cache rules (DescribePullThroughCacheRules).

    A repository is a cache of an upstream registry when its name starts with a rule's
    `ecrRepositoryPrefix` plus `/`; the longest prefix wins and `ROOT` catches what no other rule
    does. A path meant for a cache (`docker-hub/...`, `dockerhub/...`, `quay/...`, `ghcr/...`) with no
    rule ends in `name unknown: The repository ... does not exist`, because nothing creates it.

    Decides: pass naming the rule and the upstream repository it maps to; fail when the path looks
    like an upstream (its first component is a console default prefix or a common spelling of one)
    or is within two edits of an existing rule's prefix, no rule matches and no such repository
    exists — with the corrected reference when an existing rule was meant, else the
    `create-pull-through-cache-rule` commands (ecrdoctor never creates rules); skip for a regular
    repository, for targets that are not private ECR, and when the rules cannot be read: the caller
    may not (missing evidence: AmazonEC2ContainerRegistryReadOnly does not grant
    DescribePullThroughCacheRules), or ECR answered with an error.

    References: research/aws-side.md A7 (rules, prefixes, upstreams) and B3 PTC-NO-MATCHING-RULE;
    ECR user guide pull-through-cache-private-wildcards.html; botocore ecr model
    (CreatePullThroughCacheRule, UpstreamRegistry).
    """
    assert ctx.image is not None
    ref, repo, region, account = ctx.image, ctx.image.repository, _region(ctx), _account(ctx)
    look = rule_lookup(ctx)
    named = upstream_named_by(repo)
    if not look.readable:
        details = [look.message[:300]]
        if named:
            details.append(f"'{repo.split('/', 1)[0]}/' looks like a {named} cache path; an identity allowed "
                           f"ecr:DescribePullThroughCacheRules can list the rules: aws ecr "
                           f"describe-pull-through-cache-rules --region {region}")
        return skip(f"could not read the pull-through cache rules of {account} in {region}: "
                    f"{look.why_unreadable()} ({'missing evidence' if look.denial else 'not evaluable'})",
                    details=details,
                    evidence={"error_code": look.error_code})
    rules = look.rules
    prefixes = [r.prefix for r in rules]
    evidence: dict[str, Any] = {"rules": prefixes, "region": region}
    rule = look.rule
    if rule is not None:
        up = rule.upstream_path(repo)
        details = [f"rule '{rule.prefix}': {rule.upstream_url} ({_kind(rule) or 'unknown upstream'})"
                   + (f", upstream prefix '{rule.upstream_prefix}'" if rule.upstream_prefix not in (None, "ROOT")
                      else "")]
        shadowed = [r.prefix for r in rules if r is not rule and r.prefix != "ROOT"
                    and repo.startswith(r.prefix.rstrip("/") + "/")]
        if shadowed:
            details.append(f"also matching: {', '.join(shadowed)}; the longest prefix is taken to win "
                           "(AWS does not document the tie-break)")
        if rule.prefix == "ROOT":
            details.append("ROOT is the catch-all rule: it applies because no other prefix matches")
        evidence.update(rule=rule.prefix, upstream=f"{rule.upstream_url}/{up}")
        return passed(f"{repo} falls under the pull-through cache rule '{rule.prefix}': "
                      f"{rule.upstream_url}/{up}", details=details, evidence=evidence)
    lookup = repository(ctx)
    if lookup.exists:
        return skip(f"{repo} is a regular repository: no pull-through cache rule covers it", evidence=evidence)
    same = [r.prefix for r in rules if named and _kind(r) == named]
    near = near_miss_prefix(repo, prefixes, same_upstream=same)
    first = repo.split("/", 1)[0]
    in_region = f"in {region} ({len(rules)} rule{'s' if len(rules) != 1 else ''}: {', '.join(prefixes) or 'none'})"
    if near is not None:
        meant = next(r for r in rules if r.prefix == near[0])
        corrected = replace_prefix(repo, near[1], meant.prefix)
        if _kind(meant) == "docker-hub":
            problem = docker_hub_path_problem(meant.prefix, corrected, meant.upstream_path(corrected))
            corrected = problem.corrected_repository if problem else corrected
        full = with_repository(ref, corrected)
        evidence.update(meant=meant.prefix, corrected=full)
        return fail(f"no pull-through cache rule matches {repo}: the rule for {meant.upstream_url} has the prefix "
                    f"'{meant.prefix}', not '{'/'.join(repo.split('/')[:near[1]])}'",
                    details=[f"rules {in_region}", "without a matching rule ECR answers `name unknown: The "
                             f"repository with name '{repo}' does not exist in the registry with id '{account}'`"],
                    fix=Fix("Pull through the existing rule's prefix.", (f"docker pull {full}",)), evidence=evidence)
    if named is not None:
        upstream = UPSTREAMS[named]
        evidence.update(upstream=named)
        return fail(
            f"{repo} looks like a {named} cache path, but registry {account} has no pull-through cache rule "
            f"for '{first}' in {region}",
            details=[f"rules {in_region}; a rule in another Region does not apply here",
                     f"without a rule ECR answers `name unknown: The repository with name '{repo}' does not exist "
                     f"in the registry with id '{account}'`"],
            fix=Fix(f"Create the rule in account {account} (ecrdoctor never does; it needs "
                    "ecr:CreatePullThroughCacheRule)" + (f", with the {named} credentials in the Secrets Manager "
                                                         f"secret ecr-pullthroughcache/{first}"
                                                         if upstream.needs_secret else "") + ".",
                    _create_rule_commands(first, named, region)),
            evidence=evidence)
    return skip(f"no pull-through cache rule covers {repo} {in_region}", evidence=evidence)


@check("ptc.validate", title="Does ECR validate the pull-through cache rule?", requires=["aws.credentials"],
       applies_when=_private_image, network=True, timeout=10)
def ptc_validate(ctx: Context) -> Outcome:
    """Calls ValidatePullThroughCacheRule for the rule the repository falls under.

    ECR reads the rule's Secrets Manager secret, checks its syntax and authenticates to the
    upstream registry — the same steps a first pull takes. Wrong or expired upstream tokens, a
    secret without `username`/`accessToken`, a deleted secret or one the service-linked role cannot
    decrypt all show up here as `isValid: false` with a `failure` text, instead of the pull's
    misleading `The authentication to the upstream registry failed`.

    Decides: pass when isValid is true; fail when it is false (with ECR's failure text) or when
    ECR says the rule does not exist (PullThroughCacheRuleNotFoundException); skip when no rule
    covers the repository, for upstreams that need no authentication (ECR Public, Kubernetes,
    Quay), and when the caller may not call ecr:ValidatePullThroughCacheRule (missing evidence);
    error when ECR fails to answer.

    References: research/aws-side.md A7 (ValidatePullThroughCacheRule) and B3 PTC-UPSTREAM-AUTH-FAILED;
    ECR user guide pull-through-cache-working-validating.html; botocore ecr model.
    """
    rule = _rule(ctx)
    kind, region, account = _kind(rule), _region(ctx), _account(ctx)
    if kind in NO_AUTH:
        return skip(f"the rule '{rule.prefix}' caches {rule.upstream_url}, which needs no authentication: "
                    "nothing to validate")
    revalidate = f"aws ecr validate-pull-through-cache-rule --region {region} --ecr-repository-prefix {rule.prefix}"
    try:
        resp = ecr(ctx).validate_pull_through_cache_rule(ecrRepositoryPrefix=rule.prefix, registryId=account)
    except Exception as exc:
        if not hasattr(exc, "response"):
            raise
        code, denial = client_error_code(exc), classify_denial(exc)
        if denial is not None:
            return _missing_evidence(f"the rule '{rule.prefix}'", denial)
        if code == "PullThroughCacheRuleNotFoundException":
            return fail(f"ECR finds no pull-through cache rule '{rule.prefix}' in registry {account} ({region}) "
                        "to validate", details=[client_error_message(exc)],
                        fix=Fix("List the rules; recreate the rule if it was deleted.",
                                (f"aws ecr describe-pull-through-cache-rules --region {region}",)),
                        evidence={"error_code": code})
        return error(f"ValidatePullThroughCacheRule failed: {code}: {client_error_message(exc)}")
    evidence = {"rule": rule.prefix, "is_valid": resp.get("isValid"), "failure": resp.get("failure")}
    if resp.get("isValid"):
        return passed(f"ECR validated the rule '{rule.prefix}': it authenticates to {rule.upstream_url}",
                      evidence=evidence)
    failure = resp.get("failure") or "no failure text given"
    if rule.credential_arn:
        fix = Fix("Store a current upstream user name and access token in the rule's secret (keys `username` and "
                  "`accessToken`), then validate again.",
                  (f"aws secretsmanager put-secret-value --region {region} --secret-id {rule.credential_arn} "
                   "--secret-string '{\"username\":\"<upstream-user>\",\"accessToken\":\"<upstream-access-token>\"}'",
                   revalidate))
    elif kind == "ecr":
        fix = Fix("Check the rule's role (trust pullthroughcache.ecr.amazonaws.com, pull and import permissions) "
                  "and that the upstream registry's policy allows this account, then validate again.",
                  (revalidate,))
    else:
        fix = Fix("Give the rule upstream credentials (see ptc.credentials), then validate again.", (revalidate,))
    return fail(f"the pull-through cache rule '{rule.prefix}' does not validate against {rule.upstream_url}: "
                f"{failure}", details=[MISLEADING + "; ptc.path checks the path"], fix=fix, evidence=evidence)


@check("ptc.path", title="Does the cache path name a repository that exists upstream?",
       requires=["aws.credentials"], applies_when=_private_image, network=True, timeout=10)
def ptc_path(ctx: Context) -> Outcome:
    """Maps the cache repository to the upstream repository it stands for and checks Docker Hub's path rule.

    The part after the rule's prefix is the upstream path (with the rule's upstream prefix in
    front, if any). Docker Hub official images live under `library/`: `docker-hub/nginx` names
    nothing upstream, `docker-hub/library/nginx` does; and `library/` in front of an
    organisation's image (`docker-hub/library/percona/...`) names nothing either. ECR reports
    both as an upstream authentication failure.

    Decides: pass showing the upstream repository; fail for a Docker Hub official image without
    `library/` or `library/` in front of an `org/name` image, with the corrected full reference;
    warn for the same when the rules cannot be read but the prefix is spelled like Docker Hub's;
    skip when no rule covers the repository.

    References: research/aws-side.md A7 (path mapping, Docker Hub path rule), B3 PTC-DOCKERHUB-LIBRARY
    and PTC-NESTED-PATH, C9; ECR user guide pull-through-cache-working.html; aws/containers-roadmap#2354.
    """
    assert ctx.image is not None
    ref, repo = ctx.image, ctx.image.repository
    look = rule_lookup(ctx)
    assumed = not look.readable
    if assumed:
        if upstream_named_by(repo) != "docker-hub" or "/" not in repo:
            raise SkipCheck(f"the pull-through cache rules could not be read ({look.why_unreadable()}): see ptc.rule")
        kind: Optional[str] = "docker-hub"
        prefix, url = repo.split("/", 1)[0], UPSTREAMS["docker-hub"].url
        upstream = repo.split("/", 1)[1]
    else:
        rule = _rule(ctx)
        prefix, kind, url, upstream = rule.prefix, _kind(rule), rule.upstream_url, rule.upstream_path(repo)
    evidence = {"rule": prefix, "upstream": f"{url}/{upstream}", "assumed_docker_hub": assumed}
    problem = docker_hub_path_problem(prefix, repo, upstream) if kind == "docker-hub" else None
    if problem is None:
        if assumed:
            return skip(f"the rules could not be read; if '{prefix}' is a Docker Hub rule, {repo} maps to "
                        f"{url}/{upstream}, which follows Docker Hub's library/ rule", evidence=evidence)
        return passed(f"{repo} maps to {url}/{upstream}", evidence=evidence)
    full = with_repository(ref, problem.corrected_repository)
    evidence.update(corrected=full, problem=problem.kind)
    if problem.kind == "missing-library":
        summary = (f"Docker Hub official image without library/: {repo} maps to {url}/{upstream}, which does not "
                   f"exist; pull {full}")
        text = "Docker Hub official images need `library/` after the cache prefix."
    else:
        summary = (f"library/ in front of a non-official Docker Hub image: {repo} maps to {url}/{upstream}, which "
                   f"does not exist; pull {full}")
        text = "Only Docker Hub official images take `library/`; drop it for an organisation's image."
    details = [MISLEADING]
    if assumed:
        details.insert(0, f"the rules could not be read ({look.why_unreadable()}); '{prefix}' is assumed to be a "
                          "Docker Hub rule from its name")
    outcome = warn if assumed else fail
    return outcome(summary, details=details, fix=Fix(text, (f"docker pull {full}",)), evidence=evidence)


@check("ptc.credentials", title="Are the cache rule's upstream credentials in place?", requires=["aws.credentials"],
       applies_when=_private_image, network=True, timeout=10)
def ptc_credentials(ctx: Context) -> Outcome:
    """Checks the Secrets Manager secret a rule uses to log in upstream (DescribeSecret only, never its value).

    Docker Hub, GitHub, GitLab, Azure and Chainguard upstreams need a secret with `username` and
    `accessToken`. ECR's service-linked role may read only secrets named `ecr-pullthroughcache/...`
    in the rule's own account, and the secret must be in the rule's Region. A deleted secret, or one
    scheduled for deletion, breaks every first pull and refresh; a secret encrypted with a
    customer-managed KMS key needs a key policy that lets the service-linked role decrypt it.

    Decides: pass when the secret exists where it must; fail when an upstream that needs a secret
    has no credentialArn, when the secret's name, account or Region is wrong, when it does not
    exist or is scheduled for deletion; warn for a customer-managed KMS key; skip for upstreams
    that need no secret, when no rule covers the repository, and when DescribeSecret is denied
    (missing evidence); error when Secrets Manager cannot be reached or fails to answer.

    References: research/aws-side.md A7 (secrets, service-linked role) and B3 PTC-UPSTREAM-AUTH-FAILED;
    ECR user guide pull-through-cache-creating-secret.html and slr-pullthroughcache.html.
    """
    rule = _rule(ctx)
    kind, region, account = _kind(rule), _region(ctx), _account(ctx)
    needs = (kind is not None and UPSTREAMS[kind].needs_secret) or (kind is None and bool(rule.credential_arn))
    if not needs:
        if kind == "ecr":
            return skip(f"the rule '{rule.prefix}' caches ECR {rule.upstream_url}, which authenticates with an IAM "
                        f"role ({rule.custom_role_arn or 'customRoleArn not set'}), not a secret")
        return skip(f"{rule.upstream_url} needs no upstream credentials")
    name = "ecr-pullthroughcache/" + ("root" if rule.prefix == "ROOT" else rule.prefix.rstrip("/"))
    update = (f"aws ecr update-pull-through-cache-rule --region {region} --ecr-repository-prefix {rule.prefix} "
              f"--credential-arn $(aws secretsmanager describe-secret --region {region} --secret-id {name} "
              "--query ARN --output text)")
    new_secret = Fix(f"Create the secret as ecr-pullthroughcache/... in {account} / {region} and point the rule "
                     "at it.", (_create_secret_command(name, region), update))
    evidence: dict[str, Any] = {"rule": rule.prefix, "upstream": kind, "credential_arn": rule.credential_arn}
    if not rule.credential_arn:
        return fail(f"the rule '{rule.prefix}' for {rule.upstream_url} has no credentialArn: {kind} needs "
                    "upstream credentials in Secrets Manager", fix=new_secret, evidence=evidence)
    try:
        arn = parse_secret_arn(rule.credential_arn)
    except SecretArnError as exc:
        return fail(f"the rule '{rule.prefix}' has a credentialArn that is not a secret ARN: {exc}",
                    fix=new_secret, evidence=evidence)
    problems = []
    if not arn.cache_prefixed:
        problems.append(f"the secret '{arn.name}' is not named ecr-pullthroughcache/...: ECR's service-linked "
                        "role may read only those")
    if arn.account != account:
        problems.append(f"the secret is in account {arn.account}, the rule in {account}: it must be the same")
    if arn.region != region:
        problems.append(f"the secret is in {arn.region}, the rule in {region}: it must be the same Region")
    if problems:
        return fail(problems[0], details=problems[1:], fix=new_secret, evidence=evidence)
    try:
        secret = ctx.aws.client("secretsmanager", region=arn.region).describe_secret(SecretId=rule.credential_arn)
    except Exception as exc:
        if not hasattr(exc, "response"):
            raise
        code, denial = client_error_code(exc), classify_denial(exc)
        if denial is not None:
            return _missing_evidence(f"the secret {arn.name}", denial)
        if code == "ResourceNotFoundException":
            return fail(f"the rule '{rule.prefix}' uses the secret {arn.name}, which does not exist in "
                        f"{arn.account} / {arn.region}", details=[client_error_message(exc)], fix=new_secret,
                        evidence={**evidence, "error_code": code})
        return error(f"secretsmanager:DescribeSecret failed: {code}: {client_error_message(exc)}")
    shown = str(secret.get("Name") or arn.name)
    if secret.get("DeletedDate"):
        return fail(f"the secret {shown} of the rule '{rule.prefix}' is scheduled for deletion "
                    f"(since {secret['DeletedDate']}): ECR cannot read it",
                    fix=Fix("Restore the secret (cancels the deletion).",
                            (f"aws secretsmanager restore-secret --region {arn.region} "
                             f"--secret-id {rule.credential_arn}",)),
                    evidence={**evidence, "deleted": True})
    key = secret.get("KmsKeyId")
    if key and key != DEFAULT_SECRET_KEY:
        return warn(f"the secret {shown} is encrypted with the customer-managed KMS key {key}: ECR's service-linked "
                    "role has no KMS permission of its own",
                    details=["the key policy must let AWSServiceRoleForECRPullThroughCache decrypt (inferred, not "
                             "documented); ptc.validate shows whether ECR can read it"],
                    fix=Fix("Allow the service-linked role kms:Decrypt in the key policy, or re-encrypt the secret "
                            "with the default aws/secretsmanager key.",
                            (f"aws secretsmanager update-secret --region {arn.region} --secret-id "
                             f"{rule.credential_arn} --kms-key-id {DEFAULT_SECRET_KEY}",)),
                    evidence={**evidence, "kms_key": key})
    return passed(f"the rule '{rule.prefix}' uses the secret {shown}, which exists in {arn.account} / {arn.region}",
                  details=["its content (username, accessToken) is not read here: ptc.validate tests it"],
                  evidence=evidence)


def digest_cached(ctx: Context) -> Optional[bool]:
    """Whether the target's digest is in its (existing) repository: DescribeImages by imageIds, once.

    None when the reference has no digest or the answer is not known.
    """

    def fetch() -> Optional[bool]:
        ref = ctx.image
        if ref is None or ref.digest is None:
            return None
        try:
            ecr(ctx).describe_images(repositoryName=ref.repository, registryId=_account(ctx),
                                     imageIds=[{"imageDigest": ref.digest}])
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            return False if client_error_code(exc) == "ImageNotFoundException" else None
        return True

    return ctx.fact("ptc.digest_cached", fetch)


@check("ptc.first-pull", title="Is the image cached yet, and can a first pull work from here?",
       requires=["aws.credentials"], applies_when=_private_image, network=True, timeout=10)
def ptc_first_pull(ctx: Context) -> Outcome:
    """Tells an image already in the cache from one whose first pull has yet to import it from upstream.

    The first pull through a cache rule is special: ECR creates the repository and imports the
    image while the client waits, which can be slow enough to time out (retry); it needs internet
    egress through a NAT even where VPC endpoints serve ECR; it does not work by digest; and the
    FIPS endpoints were documented not to support it. Cached tags refresh at most once in 24 hours
    and never when tags are immutable.

    Decides: pass when the repository (and, for a digest, the image) is already cached; fail for
    a digest-pinned first pull (pull by tag first); warn for a first pull through a FIPS host and
    for an immutable cache repository; info for a first pull still to come (latency, retry, NAT
    egress); skip when no rule covers the repository or the repository cannot be looked up.

    References: research/aws-side.md A7 (first pull behaviour) and B3 PTC-DIGEST-FIRST-PULL,
    PTC-FIRST-PULL-EGRESS, PTC-FIPS-FIRST-PULL, PTC-IMMUTABLE-STALE, C10; ECR user guide
    pull-through-cache.md and vpc-endpoints.html; aws/containers-roadmap#2837, #2304.
    """
    rule = _rule(ctx)
    assert ctx.image is not None and ctx.registry is not None
    ref, reg, region = ctx.image, ctx.registry, _region(ctx)
    repo, upstream = ref.repository, f"{rule.upstream_url}/{rule.upstream_path(ref.repository)}"
    lookup = repository(ctx)
    evidence: dict[str, Any] = {"rule": rule.prefix, "cached": lookup.exists, "digest": ref.digest is not None,
                                "fips": reg.fips}
    by_tag = with_repository(ref, repo).split("@", 1)[0]
    if ":" not in by_tag.rsplit("/", 1)[-1]:
        by_tag += ":<tag>"
    digest_fix = Fix("Pull once by tag so ECR imports the image, then by digest.",
                     (f"docker pull {by_tag}", f"docker pull {with_repository(ref, repo)}"))
    if lookup.exists:
        if digest_cached(ctx) is False:
            return fail(f"{ref.digest} is not cached in {repo} yet, and a first pull through the cache by digest "
                        "fails even when the tag exists upstream", fix=digest_fix, evidence=evidence)
        mutability = str((lookup.repository or {}).get("imageTagMutability", "MUTABLE"))
        if mutability.startswith("IMMUTABLE"):
            return warn(f"the cache repository {repo} has {mutability} tags: ECR cannot refresh cached tags from "
                        f"{rule.upstream_url}",
                        fix=Fix("Make the cache repository's tags mutable again.",
                                (f"aws ecr put-image-tag-mutability --region {region} --repository-name {repo} "
                                 "--image-tag-mutability MUTABLE",)), evidence={**evidence, "mutability": mutability})
        return passed(f"{repo} is already cached from {upstream}; cached tags refresh at most once in 24 hours",
                      evidence=evidence)
    if not lookup.missing:
        return skip(f"cannot tell whether {repo} is cached: DescribeRepositories answered {lookup.error_code}",
                    evidence=evidence)
    if ref.digest:
        return fail(f"first pull of {repo} through the cache by digest: ECR imports by tag only, so the digest "
                    "is reported missing", details=["aws/containers-roadmap#2837 (open)"], fix=digest_fix,
                    evidence=evidence)
    details = [
        "the first pull creates the repository and imports the image while docker waits: it can be slow or time "
        "out; retry the pull",
        "the first pull needs internet egress (a NAT gateway) even where VPC endpoints serve ECR; later pulls do "
        "not; layers may be redirected to the upstream's CDN",
        "the puller needs ecr:CreateRepository and ecr:BatchImportUpstreamImage (see iam.pull-through)",
    ]
    if reg.fips:
        plain = f"{reg.canonical_host}/{repo}" + (f":{ref.tag}" if ref.tag else "")
        return warn(f"first pull of {repo} through the FIPS host {reg.host}: ECR documented that FIPS endpoints "
                    "do not support a cache's first pull", details=details,
                    fix=Fix("Pull once through the standard host to populate the cache, then use the FIPS host.",
                            (f"docker pull {plain}",)), evidence=evidence)
    return info(f"{repo} is not cached yet: the first pull imports it from {upstream}", details=details,
                evidence=evidence)


@check("ptc.templates", title="Can ECR create the cache repository with its creation template?",
       requires=["aws.credentials"], applies_when=_private_image, network=True, timeout=10)
def ptc_templates(ctx: Context) -> Outcome:
    """Finds the repository creation template ECR applies when the pull-through cache creates this repository.

    A template whose prefix matches (longest first, ROOT last) and whose `appliedFor` includes
    PULL_THROUGH_CACHE sets the new repository's encryption, tags, tag mutability and policies. A
    template that sets a KMS key or resource tags needs a `customRoleArn` ECR can assume; without
    one, the first pull of every new image under that prefix fails. Templates can only be read in the
    registry's own account (the API takes no registry id).

    Decides: pass when no template applies or the one that applies is complete; fail when it sets KMS
    encryption or resource tags without a customRoleArn and the repository does not exist yet; warn
    for the same when the repository already exists (new cache repositories will fail), and for
    immutable tags (cached tags never refresh); skip when no rule covers the repository, when the
    caller is in another account, and when DescribeRepositoryCreationTemplates is denied; error
    when ECR fails to answer.

    References: research/aws-side.md A7 (creation templates) and B3 PTC-TEMPLATE-ROLE, PTC-IMMUTABLE-STALE;
    ECR user guide repository-creation-templates-create.html; botocore ecr model (RepositoryCreationTemplate).
    """
    rule = _rule(ctx)
    assert ctx.image is not None
    repo, region, account = ctx.image.repository, _region(ctx), _account(ctx)
    try:
        caller = ctx.caller_identity().get("Account")
    except Exception:
        caller = None
    if caller and caller != account:
        return skip(f"creation templates of registry {account} can only be read from that account; the caller is "
                    f"in {caller}")
    templates: list[dict[str, Any]] = []
    try:
        pages = ecr(ctx).get_paginator("describe_repository_creation_templates").paginate(
            prefixes=template_prefix_candidates(repo))
        for page in pages:
            templates += page.get("repositoryCreationTemplates", [])
    except Exception as exc:
        if not hasattr(exc, "response"):
            raise
        denial = classify_denial(exc)
        if denial is not None:
            return _missing_evidence("the repository creation templates", denial)
        return error(f"DescribeRepositoryCreationTemplates failed: {client_error_code(exc)}: "
                     f"{client_error_message(exc)}")
    tmpl = template_for(templates, repo)
    if tmpl is None:
        return passed(f"no repository creation template applies to {repo} for PULL_THROUGH_CACHE: ECR creates it "
                      "with default settings", evidence={"rule": rule.prefix, "template": None})
    prefix = str(tmpl.get("prefix"))
    encryption = tmpl.get("encryptionConfiguration") or {}
    sets = [f"{encryption.get('encryptionType')} encryption"] if encryption.get("encryptionType") in (
        "KMS", "KMS_DSSE") else []
    if tmpl.get("resourceTags"):
        sets.append("resource tags")
    role = tmpl.get("customRoleArn")
    mutability = str(tmpl.get("imageTagMutability") or "MUTABLE")
    evidence = {"rule": rule.prefix, "template": prefix, "sets": sets, "custom_role_arn": role,
                "mutability": mutability}
    if sets and not role:
        lookup = repository(ctx)
        partition = ctx.registry.partition if ctx.registry else "aws"
        fix = Fix("Give the template a role ECR can assume (trust ecr.amazonaws.com; ecr:CreateRepository, "
                  "ecr:ReplicateImage, ecr:TagResource, kms:CreateGrant, kms:RetireGrant, kms:DescribeKey).",
                  (f"aws ecr update-repository-creation-template --region {region} --prefix {prefix} "
                   f"--custom-role-arn arn:{partition}:iam::{account}:role/<template-role>",))
        summary = (f"the creation template '{prefix}' sets {' and '.join(sets)} but has no customRoleArn: ECR cannot "
                   "create cache repositories under it")
        if lookup.exists:
            return warn(f"{summary} ({repo} exists already; new images under the prefix will fail)", fix=fix,
                        evidence=evidence)
        return fail(f"{summary}, so the first pull of {repo} fails", fix=fix, evidence=evidence)
    if mutability.startswith("IMMUTABLE"):
        return warn(f"the creation template '{prefix}' makes cache repositories {mutability}: ECR cannot refresh "
                    "cached tags", fix=Fix("Let the template create mutable repositories.",
                                           (f"aws ecr update-repository-creation-template --region {region} --prefix "
                                            f"{prefix} --image-tag-mutability MUTABLE",)), evidence=evidence)
    what = f"sets {' and '.join(sets)} with the role {role}" if sets else "sets no KMS key or tags"
    return passed(f"the creation template '{prefix}' applies to {repo} and {what}", evidence=evidence)
