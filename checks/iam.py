"""IAM: may this principal get a token, pull from the repository, fill a pull-through cache, past the policies?"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

from ecrdoctor import awsfacts
from ecrdoctor.api import Fix, Outcome, check, fail, passed, skip, warn
from ecrdoctor.aws import client_error_code, client_error_message
from ecrdoctor.awsfacts import DenialReason
from ecrdoctor.context import Context
from ecrdoctor.iampolicy import (
    ArnError,
    CallerPrincipal,
    Decision,
    Evaluation,
    ManifestError,
    Policy,
    PolicyError,
    SimulatedDecision,
    evaluate,
    manifest_refs,
    parse_caller,
    parse_policy,
    parse_simulation,
    repository_arn,
    simulation_source_arn,
)

PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
CACHE_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository", "ecr:TagResource")
# Every manifest type, so that a probe never answers "not found" for a type it did not accept (aws-side B5).
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
READ_ONLY_POLICY = "AmazonEC2ContainerRegistryReadOnly"
NETWORK_ERRORS = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                  "ProxyConnectionError", "SSLError", "ConnectionError")
THROTTLED = ("ThrottlingException", "Throttling", "TooManyRequestsException", "LimitExceededException")
MAX_ROLE_PAGES = 20  # ListRoles has no RoleId filter: stop after 2,000 roles rather than list a huge account


# -- what the checks look at ---------------------------------------------------------------------------


def _private_registry(ctx: Context) -> Optional[str]:
    if ctx.registry is None:
        return "no image or registry given"
    if ctx.registry.kind != "private":
        return f"{ctx.registry.host} is not a private ECR registry"
    return None


def _private_repository(ctx: Context) -> Optional[str]:
    reason = _private_registry(ctx)
    if reason is None and ctx.image is None:
        return "only a registry host was given, no repository"
    return reason


@dataclass(frozen=True)
class _Target:
    host: str
    account: str
    region: str
    partition: str
    repository: str
    reference: str
    arn: str


def _target(ctx: Context) -> _Target:
    reg, ref = ctx.registry, ctx.image
    assert reg is not None and reg.account and reg.region
    partition = reg.partition or "aws"
    repo = ref.repository if ref else ""
    return _Target(reg.host, reg.account, reg.region, partition, repo, ref.reference if ref else "",
                   repository_arn(partition, reg.region, reg.account, repo))


# -- facts the four checks share, each fetched once per run ------------------------------------------------


@dataclass(frozen=True)
class ResolvedCaller:
    """The caller, with an assumed-role session mapped to its role ARN (path included) when possible."""

    principal: Optional[CallerPrincipal]
    notes: tuple[str, ...] = ()
    error: Optional[str] = None


def resolved_caller(ctx: Context) -> ResolvedCaller:
    """sts:GetCallerIdentity, then iam:GetRole (or iam:ListRoles by RoleId) for a session's role ARN."""

    def compute() -> ResolvedCaller:
        try:
            ident = ctx.caller_identity()
        except Exception as exc:
            return ResolvedCaller(None, error=f"sts:GetCallerIdentity failed: {client_error_code(exc)}")
        try:
            caller = parse_caller(ident.get("Arn", ""), ident.get("UserId"))
        except ArnError as exc:
            return ResolvedCaller(None, error=str(exc))
        if caller.kind != "assumed-role" or not caller.name:
            return ResolvedCaller(caller)
        role_arn, notes = _role_arn(ctx, caller)
        return ResolvedCaller(replace(caller, role_arn=role_arn), notes)

    return ctx.fact("iam.caller", compute)


def _role_arn(ctx: Context, caller: CallerPrincipal) -> tuple[Optional[str], tuple[str, ...]]:
    """The session ARN drops the role's path (aws-side A6.3): ask GetRole, else find the RoleId in ListRoles."""
    iam = ctx.aws.client("iam")
    try:
        arn = str(iam.get_role(RoleName=caller.name)["Role"]["Arn"])
        return arn, (f"session {caller.arn} is role {arn} (iam:GetRole)",)
    except Exception as exc:
        get_role = client_error_code(exc)
    if not caller.unique_id:
        return None, (f"could not map {caller.arn} to its role ARN: iam:GetRole failed ({get_role})",)
    # IAM Identity Center roles always live under this path: filter on it instead of listing every role
    prefix = "/aws-reserved/sso.amazonaws.com/" if (caller.name or "").startswith("AWSReservedSSO_") else "/"
    try:
        pages = iam.get_paginator("list_roles").paginate(PathPrefix=prefix)
        for number, page in enumerate(pages):
            for role in page.get("Roles", []):
                if role.get("RoleId") == caller.unique_id:
                    arn = str(role["Arn"])
                    return arn, (f"session {caller.arn} is role {arn} (iam:ListRoles by RoleId {caller.unique_id}, "
                                 f"iam:GetRole failed: {get_role})",)
            if number + 1 >= MAX_ROLE_PAGES:
                break
        list_roles = f"RoleId {caller.unique_id} not found"
    except Exception as exc:
        list_roles = client_error_code(exc)
    return None, (f"could not map {caller.arn} to its role ARN: iam:GetRole {get_role}, iam:ListRoles "
                  f"{list_roles}",)


@dataclass(frozen=True)
class Simulation:
    """iam:SimulatePrincipalPolicy for the caller: evidence about its identity policies, never the verdict."""

    source_arn: Optional[str]
    decisions: tuple[SimulatedDecision, ...] = ()
    missing: Optional[str] = None  # why there is no evidence

    def get(self, action: str) -> Optional[SimulatedDecision]:
        return next((d for d in self.decisions if d.action.lower() == action.lower()), None)

    def lines(self) -> list[str]:
        if self.missing:
            return [f"no simulation evidence: {self.missing}"]
        out = []
        for d in self.decisions:
            extra = [f"matched {', '.join(d.matched)}"] if d.matched else []
            if d.allowed_by_organizations is False:
                extra.append("an SCP does not allow it")
            if d.allowed_by_boundary is False:
                extra.append("the permissions boundary does not allow it")
            if d.missing_context:
                extra.append(f"context keys not supplied: {', '.join(d.missing_context)}")
            out.append(f"simulation of {self.source_arn}: {d.action} {d.decision}"
                       + (f" ({'; '.join(extra)})" if extra else ""))
        return out


def simulate(ctx: Context, actions: Sequence[str], resource: str) -> Simulation:
    """Simulate `actions` on `resource` for the caller's user or role, with aws:RequestedRegion set."""

    def compute() -> Simulation:
        rc = resolved_caller(ctx)
        caller = rc.principal
        if caller is None:
            return Simulation(None, missing=f"the caller is unknown ({rc.error})")
        source = simulation_source_arn(caller)
        if source is None:
            why = {"root": "the caller is the account's root user, which the simulator cannot take",
                   "federated-user": "federated-user sessions cannot be simulated"}.get(
                caller.kind, "; ".join(rc.notes) or f"no IAM user or role ARN for {caller.arn}")
            return Simulation(None, missing=why)
        region = ctx.registry.region if ctx.registry and ctx.registry.region else ctx.aws.region()
        try:
            results: list[Any] = []
            pages = ctx.aws.client("iam").get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=source, ActionNames=list(actions), ResourceArns=[resource],
                ContextEntries=[{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [region or ""],
                                 "ContextKeyType": "string"}])
            for page in pages:
                results.extend(page.get("EvaluationResults", []))
        except Exception as exc:
            if awsfacts.classify_denial(exc) is not None or client_error_code(exc) == "AccessDenied":
                return Simulation(source, missing="the caller may not call iam:SimulatePrincipalPolicy "
                                                  "(missing evidence, not a failure)")
            return Simulation(source, missing=f"iam:SimulatePrincipalPolicy failed: {client_error_code(exc)}")
        asked = {a.lower() for a in actions}
        return Simulation(source, tuple(d for d in parse_simulation(results) if d.action.lower() in asked))

    return ctx.fact(f"iam.simulate:{','.join(actions)}@{resource}", compute)


@dataclass(frozen=True)
class PolicyRead:
    """A repository or registry policy as read: the parsed document, none set, or why it could not be read."""

    policy: Optional[Policy] = None
    absent: bool = False
    error: Optional[str] = None


def _read_policy(call: Any, absent_code: str) -> PolicyRead:
    try:
        text = call()["policyText"]
    except Exception as exc:
        code = client_error_code(exc)
        if code == absent_code:
            return PolicyRead(absent=True)
        return PolicyRead(error=f"{code}: {client_error_message(exc)}")
    try:
        return PolicyRead(parse_policy(str(text)))
    except PolicyError as exc:
        return PolicyRead(error=f"the policy could not be evaluated: {exc}")


def registry_policy(ctx: Context) -> PolicyRead:
    """ecr:GetRegistryPolicy: always the CALLER's own registry (the API takes no registry id)."""
    return ctx.fact("iam.registry_policy", lambda: _read_policy(
        lambda: awsfacts.ecr(ctx).get_registry_policy(), "RegistryPolicyNotFoundException"))


def registry_scope(ctx: Context) -> tuple[Optional[str], Optional[str]]:
    """ecr:GetAccountSetting REGISTRY_POLICY_SCOPE of the caller's registry: (V1 | V2, None) or (None, error)."""

    def compute() -> tuple[Optional[str], Optional[str]]:
        try:
            return str(awsfacts.ecr(ctx).get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"]), None
        except Exception as exc:
            return None, client_error_code(exc)

    return ctx.fact("iam.registry_scope", compute)


def _scope_line(scope: Optional[str], error: Optional[str]) -> str:
    if scope == "V1":
        return ("registry policy scope V1: the registry policy applies only to ecr:ReplicateImage, "
                "ecr:BatchImportUpstreamImage and ecr:CreateRepository")
    if scope == "V2":
        return ("registry policy scope V2: the registry policy applies to every ECR request, so a Deny in it "
                "blocks pulls registry-wide")
    return f"registry policy scope unknown (GetAccountSetting: {error}); V2, the current default, applies it to " \
           "every ECR request"


def _rule(ctx: Context) -> tuple[Optional[awsfacts.PullThroughRule], Optional[str]]:
    try:
        return awsfacts.target_rule(ctx), None
    except Exception as exc:
        return None, client_error_code(exc)


# -- AccessDenied: what the message blames, and the fix for each policy type (aws-side A5, B2) ---------------


def _blame(reason: DenialReason) -> str:
    named = bool(reason.kind or reason.phrase)
    if reason.explicit:
        article = "an" if reason.label[:1].lower() in "aeiou" else "a"
        return f"an explicit Deny in {article} {reason.label}" if named else "an explicit Deny"
    if named:
        return f"no {reason.label} allows it"
    return "access denied (the message names no policy type)"


def _json(doc: object) -> str:
    return shlex.quote(json.dumps(doc, separators=(",", ":")))


def _principal_words(caller: Optional[CallerPrincipal]) -> tuple[str, str]:
    """('role'|'user', name) for IAM commands; placeholders when the caller is not a user or role."""
    if caller and caller.role_name:
        return "role", caller.role_name
    if caller and caller.kind == "user" and caller.name:
        return "user", caller.name
    return "role", "<role-name>"


def _identity_fix(caller: Optional[CallerPrincipal], actions: Sequence[str], resource: str, partition: str,
                  token: bool) -> Fix:
    kind, name = _principal_words(caller)
    managed = f"arn:{partition}:iam::aws:policy/{READ_ONLY_POLICY}"
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions) if len(actions) > 1 else actions[0], "Resource": resource}]}
    policy_name = "ecr-get-authorization-token" if token else "ecr-pull"
    why = ("ecr:GetAuthorizationToken must come from an identity policy with Resource \"*\": it takes no "
           "repository ARN and cannot be granted by a repository policy. "
           if token else "")
    return Fix(
        f"{why}Either attach the managed policy {READ_ONLY_POLICY} to the {kind} {name} (first command) or add "
        f"only this statement (second command). Run as an IAM administrator.",
        (f"aws iam attach-{kind}-policy --{kind}-name {name} --policy-arn {managed}",
         f"aws iam put-{kind}-policy --{kind}-name {name} --policy-name {policy_name} --policy-document {_json(doc)}"),
    )


def _denial_fix(reason: DenialReason, caller: Optional[CallerPrincipal], actions: Sequence[str],
                resource: str, t: _Target, token: bool = False) -> Fix:
    kind, name = _principal_words(caller)
    acts = " and ".join(actions)
    if reason.kind == "scp" or reason.kind == "rcp":
        filt = "SERVICE_CONTROL_POLICY" if reason.kind == "scp" else "RESOURCE_CONTROL_POLICY"
        target = caller.account if caller and reason.kind == "scp" else t.account
        return Fix(f"An AWS Organizations {reason.label} blocks {acts}. Only the organization's management account "
                   "can change it: ask the organization administrator, quoting the denial. In the management "
                   "account, this lists the policies attached to the account:",
                   (f"aws organizations list-policies-for-target --target-id {target} --filter {filt}",))
    if reason.kind == "boundary":
        return Fix(f"The permissions boundary of the {kind} {name} does not allow {acts}. Add them to the boundary "
                   "policy (a new version of that managed policy) or remove the boundary; the first command "
                   "names it.",
                   (f"aws iam get-{kind} --{kind}-name {name} --query {kind.title()}.PermissionsBoundary."
                    "PermissionsBoundaryArn --output text",))
    if reason.kind == "session":
        return Fix(f"The session policy passed when this session was created (AssumeRole --policy / --policy-arns, "
                   f"GetFederationToken) does not allow {acts}. Start a new session without a session policy, or "
                   "with one that includes them.", ())
    if reason.kind == "vpc-endpoint":
        prefix = "cn.com.amazonaws" if t.partition == "aws-cn" else "com.amazonaws"
        services = f"{prefix}.{t.region}.ecr.api" + ("" if token else f",{prefix}.{t.region}.ecr.dkr")
        return Fix(f"The policy of the ECR interface VPC endpoint this host uses does not allow {acts} for this "
                   "principal. Add a statement that allows them; modify-vpc-endpoint REPLACES the whole endpoint "
                   "policy, so start from the current one (first command).",
                   (f"aws ec2 describe-vpc-endpoints --region {t.region} --filters Name=service-name,Values="
                    f"{services} --query 'VpcEndpoints[].[VpcEndpointId,ServiceName,PolicyDocument]'",
                    f"aws ec2 modify-vpc-endpoint --region {t.region} --vpc-endpoint-id <vpce-id> "
                    "--policy-document file://endpoint-policy.json"))
    if reason.kind == "resource" and not token:
        return _repository_grant_fix(caller, t)
    if reason.explicit:
        commands = [f"aws iam list-attached-{kind}-policies --{kind}-name {name}",
                    f"aws iam list-{kind}-policies --{kind}-name {name}"]
        if not token:
            commands.append(f"aws ecr get-repository-policy --region {t.region} --registry-id {t.account} "
                            f"--repository-name {t.repository} --query policyText --output text")
        return Fix(f"An explicit Deny for {acts} wins over every Allow. Find the statement in the policies of the "
                   f"{kind} {name}" + ("" if token else ", the repository policy or the registry policy")
                   + " and narrow it; its owner must change it.", tuple(commands))
    return _identity_fix(caller, actions, resource, t.partition, token)


def _repository_grant_fix(caller: Optional[CallerPrincipal], t: _Target) -> Fix:
    account = caller.account if caller else "<puller-account>"
    doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowPull", "Effect": "Allow", "Principal": {"AWS": f"arn:{t.partition}:iam::{account}:root"},
        "Action": list(PULL_ACTIONS)}]}
    return Fix(
        f"The registry owner (account {t.account}) must allow account {account} in the repository policy of "
        f"{t.repository}; the puller's identity policy must allow the actions too (cross-account needs both). "
        "set-repository-policy REPLACES the current policy: merge this statement into the output of the first "
        "command.",
        (f"aws ecr get-repository-policy --region {t.region} --repository-name {t.repository} "
         "--query policyText --output text",
         f"aws ecr set-repository-policy --region {t.region} --repository-name {t.repository} "
         f"--policy-text {_json(doc)}"),
    )


def _plain_caller(ctx: Context) -> Optional[CallerPrincipal]:
    try:
        ident = ctx.caller_identity()
        return parse_caller(ident.get("Arn", ""), ident.get("UserId"))
    except Exception:
        return None


def _caller_arn(ctx: Context) -> str:
    rc = resolved_caller(ctx)
    return rc.principal.arn if rc.principal else "this principal"


# -- iam.auth-token ---------------------------------------------------------------------------------------------


@check("iam.auth-token", title="Can this principal get an ECR authorization token?", requires=["aws.identity"],
       applies_when=_private_registry, network=True, timeout=10)
def iam_auth_token(ctx: Context) -> Outcome:
    """Calls ecr:GetAuthorizationToken for real, in the registry's region, as the credential helper would.

    Every pull starts with this token; the token itself stays in memory for the other checks and is
    never shown, only its expiry. A denial is taken apart by the policy type AWS's message names
    (identity-based, resource-based, service control, permissions boundary, session, VPC endpoint)
    because each has a different owner and fix. GetAuthorizationToken takes only Resource "*" and
    cannot be granted by a repository policy.

    Decides: pass when a token is issued (its expiry shown); fail on AccessDenied, with the fix for
    the policy type named (identity: attach AmazonEC2ContainerRegistryReadOnly or add the one
    statement; SCP: the organization admin; boundary; session; VPC endpoint policy), and when the
    ECR API endpoint cannot be reached; warn when the call is throttled; skip without a private ECR
    registry in the target.

    References: aws-side.md A3, A4 (IAM matrix), A5 (error strings), B2 IAM-GETAUTHTOKEN-DENIED,
    B6 THR-ECR-API, C2, C6; the ECR user guide, "Private registry authentication" and
    "Private repository policies"; IAM user guide, "Troubleshooting access denied error messages".
    """
    t = _target(ctx)
    caller = _plain_caller(ctx)  # the role's path is not needed here: no iam:GetRole for this check
    who = caller.arn if caller else "this principal"
    try:
        token = awsfacts.auth_token(ctx)
    except Exception as exc:
        return _token_failure(ctx, t, caller, who, exc)
    expires = token.expires_at.isoformat() if token.expires_at else "an unknown time"
    details = []
    own = (token.proxy_endpoint or "").replace("https://", "").split(".", 1)[0]
    if own and own != t.account:
        details.append(f"the token's proxyEndpoint names account {own}, the image is in {t.account}: one token "
                       "serves every registry the principal may access in the region, so log in to "
                       f"{t.host} itself, not to the proxyEndpoint")
    return passed(f"ecr:GetAuthorizationToken works for {who} in {t.region} (token valid until {expires})",
                  details=details, evidence={"principal": who, "region": t.region, "expires_at": expires,
                                             "proxy_endpoint": token.proxy_endpoint})


def _token_failure(ctx: Context, t: _Target, caller: Optional[CallerPrincipal], who: str,
                   exc: BaseException) -> Outcome:
    code = client_error_code(exc)
    evidence: dict[str, object] = {"principal": who, "region": t.region, "error_code": code}
    denial = awsfacts.classify_denial(exc)
    if denial is not None:
        reason = denial.reason
        evidence.update(policy_type=reason.kind, explicit_deny=reason.explicit)
        details = [denial.message]
        if reason.kind is None and not reason.explicit:
            details.append("the message names no policy type (an older or emulated answer); the usual cause is "
                           "that no identity policy allows ecr:GetAuthorizationToken")
        return fail(f"{who} may not call ecr:GetAuthorizationToken: {_blame(reason)}", details=details,
                    fix=_denial_fix(reason, caller, ("ecr:GetAuthorizationToken",), "*", t, token=True),
                    evidence=evidence)
    message = client_error_message(exc)
    reg = ctx.registry
    api = (reg.api_host if reg else None) or f"api.ecr.{t.region}.amazonaws.com"
    if code in THROTTLED:
        return warn(f"ecr:GetAuthorizationToken was throttled in {t.region} ({code})", details=[message],
                    fix=Fix("Many hosts asking for tokens at once hit the ECR API rate: let the credential helper "
                            "cache tokens (it reuses them for hours), spread the start-up, or request a higher "
                            "quota.", (f"aws service-quotas list-service-quotas --service-code ecr --region "
                                       f"{t.region}",)),
                    evidence=evidence)
    if code in NETWORK_ERRORS:
        return fail(f"cannot reach the ECR API endpoint {api} for a token ({code})", details=[message],
                    fix=Fix(f"Open the path to {api} on 443: a proxy that allows it, a NAT gateway, or an interface "
                            f"VPC endpoint com.amazonaws.{t.region}.ecr.api with private DNS. The first command "
                            "must print 404 or 200, not time out.",
                            (f"curl -sS -o /dev/null -w '%{{http_code}}\\n' https://{api}/",)),
                    evidence=evidence)
    return fail(f"ecr:GetAuthorizationToken failed for {who}: {code}", details=[message],
                fix=Fix("Run the same call with the AWS CLI to see the full answer.",
                        (f"aws ecr get-authorization-token --region {t.region} --query "
                         "'authorizationData[0].[expiresAt,proxyEndpoint]'",)),
                evidence=evidence)


# -- iam.pull -----------------------------------------------------------------------------------------------------


@dataclass
class _Probe:
    manifest: Optional[bool] = None  # BatchGetImage authorized?
    layer: Optional[bool] = None  # GetDownloadUrlForLayer authorized? None: not tested
    denial: Optional[awsfacts.AccessDenied] = None
    denied_action: Optional[str] = None
    repo_missing: bool = False
    error: Optional[str] = None
    notes: list[str] = field(default_factory=list)


def _probe(ctx: Context, t: _Target, fake_digest_ok: bool) -> _Probe:
    """BatchGetImage of the target, then GetDownloadUrlForLayer of one of its layers: both read-only."""
    probe = _Probe()
    client = awsfacts.ecr(ctx)
    ref = ctx.image
    assert ref is not None
    image_id = {"imageDigest": ref.digest} if ref.digest else {"imageTag": ref.tag or "latest"}
    try:
        resp = awsfacts.batch_get_image(ctx, t.account, t.repository, image_id, MANIFEST_TYPES)
    except Exception as exc:
        return _probe_error(probe, exc, "ecr:BatchGetImage", manifest=True)
    probe.manifest = True
    for failure in resp.get("failures") or []:
        probe.notes.append(f"BatchGetImage answered {failure.get('failureCode')} for {t.reference}: "
                           f"{failure.get('failureReason')} (ecr.image covers the image itself)")
    digest = None
    images = resp.get("images") or []
    if images:
        digest = _layer_digest(ctx, t, str(images[0].get("imageManifest") or ""), probe.notes)
    fake = digest is None
    if fake and not fake_digest_ok:
        probe.notes.append("GetDownloadUrlForLayer not probed: no layer digest to ask for")
        return probe
    digest = digest or "sha256:" + "0" * 64
    try:
        client.get_download_url_for_layer(registryId=t.account, repositoryName=t.repository, layerDigest=digest)
        probe.layer = True  # the pre-signed URL in the answer is a secret: it is dropped here
    except Exception as exc:
        code = client_error_code(exc)
        if code in ("LayersNotFoundException", "LayerInaccessibleException"):
            probe.layer = True
            probe.notes.append(f"GetDownloadUrlForLayer is authorized ({code} for "
                               + ("a digest that does not exist, asked on purpose)" if fake else f"{digest})"))
        elif awsfacts.classify_denial(exc) is not None:
            _probe_error(probe, exc, "ecr:GetDownloadUrlForLayer", manifest=False)
        else:
            probe.notes.append(f"GetDownloadUrlForLayer probe inconclusive: {code}: {client_error_message(exc)}")
    return probe


def _probe_error(probe: _Probe, exc: BaseException, action: str, manifest: bool) -> _Probe:
    denial = awsfacts.classify_denial(exc)
    code = client_error_code(exc)
    if denial is not None:
        probe.denial, probe.denied_action = denial, action
        if manifest:
            probe.manifest = False
        else:
            probe.layer = False
    elif code == "RepositoryNotFoundException":
        probe.repo_missing = True
    else:
        probe.error = f"{action} failed: {code}: {client_error_message(exc)}"
    return probe


def _layer_digest(ctx: Context, t: _Target, manifest: str, notes: list[str]) -> Optional[str]:
    try:
        refs = manifest_refs(manifest)
        if refs.children:  # an index: the layers are in a child manifest, fetched by digest
            child, platform = refs.children[0]
            resp = awsfacts.batch_get_image(ctx, t.account, t.repository, {"imageDigest": child}, MANIFEST_TYPES)
            images = resp.get("images") or []
            if not images:
                notes.append(f"the index's {platform} manifest {child} could not be read")
                return None
            refs = manifest_refs(str(images[0].get("imageManifest") or ""))
        return refs.layers[0] if refs.layers else None
    except ManifestError as exc:
        notes.append(f"the manifest could not be read for a layer digest: {exc}")
    except Exception as exc:
        notes.append(f"reading the child manifest failed: {client_error_code(exc)}")
    return None


def _probe_blocker(lookup: awsfacts.RepositoryLookup, rule: Optional[awsfacts.PullThroughRule],
                   rule_error: Optional[str]) -> Optional[str]:
    """Why a BatchGetImage probe must not be sent (it would create a pull-through-cache repository), or None."""
    if lookup.exists:
        return None
    if lookup.missing:
        if rule is not None:
            return (f"not probed: the repository does not exist yet and falls under the pull-through cache rule "
                    f"'{rule.prefix}', so a BatchGetImage would create it and import from upstream")
        return "not probed: the repository does not exist"
    if rule_error is not None:
        return (f"not probed: DescribeRepositories ({lookup.error_code}) and DescribePullThroughCacheRules "
                f"({rule_error}) both failed, so the repository might be a pull-through-cache one not created yet")
    if rule is not None:
        return (f"not probed: DescribeRepositories failed ({lookup.error_code}) and the repository falls under the "
                f"pull-through cache rule '{rule.prefix}', so it may not exist yet")
    return None


@check("iam.pull", title="May this principal pull from the repository?", requires=["aws.identity"],
       applies_when=_private_repository, network=True, timeout=12)
def iam_pull(ctx: Context) -> Outcome:
    """Probes the repository with the read-only calls a pull makes, then simulates the identity policies.

    A pull needs ecr:BatchGetImage (the manifest) and ecr:GetDownloadUrlForLayer (each layer) on the
    repository. The real calls decide: BatchGetImage of the target tag or digest, with every manifest
    type accepted, then GetDownloadUrlForLayer of one of its layers (the pre-signed URL is dropped; for
    a missing tag outside any cache rule, of a digest that cannot exist, whose LayersNotFoundException
    still proves the permission).
    They are sent only to a repository known to exist: on a pull-through-cache repository not created
    yet, BatchGetImage would create it and import from upstream. iam:SimulatePrincipalPolicy runs as
    supporting evidence, for the caller's user or role — an assumed-role session is mapped to its
    role ARN with its path (GetRole, else ListRoles by RoleId), with aws:RequestedRegion set. It sees
    identity policies, boundaries and SCPs, but not session policies or resource policies for roles,
    so it never overrules the probe; a caller that may not simulate only means less evidence.

    Decides: pass when both calls are authorized (a missing tag is left to ecr.image); fail when
    either is denied, with the fix for the policy type the denial names (identity, resource-based
    for cross-account, SCP, boundary, session, VPC endpoint); without a probe (cache repository not
    created yet) the simulation decides: allowed passes, explicitDeny fails, implicitDeny fails
    cross-account and warns in the same account (a repository or registry policy may still grant
    it); skip when the repository does not exist, or when neither a probe nor a simulation can answer.

    References: aws-side.md A1, A4, A5, A6 (simulate-principal-policy and its limits), B2
    IAM-PULL-IDENTITY-DENIED, IAM-CROSS-ACCOUNT-REPO-POLICY-MISSING, IAM-EXPLICIT-DENY, C14; SPEC §7
    (never BatchGetImage on a cache repository that does not exist yet); the ECR API reference,
    BatchGetImage and GetDownloadUrlForLayer.
    """
    t = _target(ctx)
    rc = resolved_caller(ctx)
    who = _caller_arn(ctx)
    lookup = awsfacts.repository(ctx)
    rule, rule_error = _rule(ctx)
    cross = rc.principal is not None and rc.principal.account != t.account
    details = list(rc.notes)
    blocker = _probe_blocker(lookup, rule, rule_error)
    probe = _probe(ctx, t, fake_digest_ok=rule is None and rule_error is None) if blocker is None else None
    sim = simulate(ctx, PULL_ACTIONS, t.arn)  # after the probe: evidence beside it, never instead of it
    evidence: dict[str, object] = {"principal": who, "repository_arn": t.arn, "simulation_source": sim.source_arn,
                                   "simulation": {d.action: d.decision for d in sim.decisions}}
    if probe is not None:
        evidence.update(probe_manifest=probe.manifest, probe_layer=probe.layer)
        details += probe.notes
        if probe.denial is not None:
            reason = probe.denial.reason
            evidence.update(policy_type=reason.kind, explicit_deny=reason.explicit)
            what = ("may read the manifest but not the layers: " if probe.denied_action == PULL_ACTIONS[1]
                    else "")
            return fail(f"{who} may not pull {t.repository}: {what}{probe.denied_action} is denied "
                        f"({_blame(reason)})",
                        details=[probe.denial.message] + details + sim.lines(),
                        fix=_denial_fix(reason, rc.principal, PULL_ACTIONS, t.arn, t), evidence=evidence)
        if probe.repo_missing:
            return skip(f"repository {t.repository} does not exist in {t.account} ({t.region}); ecr.repository "
                        "covers it", details=details)
        if probe.manifest and probe.layer:
            details += sim.lines()
            denied_sim = [d.action for d in sim.decisions if d.decision != "allowed"]
            if denied_sim:
                details.append(f"the real calls succeeded although the simulation does not allow "
                               f"{', '.join(denied_sim)}: a repository or registry policy grants them")
            return passed(f"{who} may pull {t.repository}: BatchGetImage and GetDownloadUrlForLayer are authorized",
                          details=details, evidence=evidence)
        if probe.manifest:
            layer_sim = sim.get(PULL_ACTIONS[1])
            if layer_sim is not None and layer_sim.decision != "allowed":
                return warn(f"{who} may read the manifest of {t.repository}, but the simulation answers "
                            f"{layer_sim.decision} for ecr:GetDownloadUrlForLayer (not probed)",
                            details=details + sim.lines(),
                            fix=_identity_fix(rc.principal, PULL_ACTIONS, t.arn, t.partition, token=False),
                            evidence=evidence)
            return passed(f"{who} may read manifests of {t.repository} (BatchGetImage authorized; "
                          "GetDownloadUrlForLayer not probed)", details=details + sim.lines(), evidence=evidence)
        details.append(f"probe inconclusive: {probe.error}")
    elif blocker:
        details.append(blocker)
    if lookup.missing and rule is None and rule_error is None:
        return skip(f"repository {t.repository} does not exist in {t.account} ({t.region}): nothing to pull; "
                    "ecr.repository covers it", details=details)
    return _simulation_verdict(t, rc.principal, who, sim, cross, details, evidence)


def _simulation_verdict(t: _Target, caller: Optional[CallerPrincipal], who: str, sim: Simulation,
                        cross: bool, details: list[str], evidence: dict[str, object]) -> Outcome:
    details = details + sim.lines()
    if sim.missing:
        return skip(f"cannot tell whether {who} may pull {t.repository}: no safe probe and no simulation",
                    details=details, evidence=evidence)
    decisions = [sim.get(a) for a in PULL_ACTIONS]
    explicit = [d for d in decisions if d and d.decision == "explicitDeny"]
    implicit = [d for d in decisions if d is None or d.decision == "implicitDeny"]
    if explicit:
        d = explicit[0]
        kind = "scp" if d.allowed_by_organizations is False else \
            "boundary" if d.allowed_by_boundary is False else None
        reason = DenialReason(kind, True, None)
        return fail(f"the simulation finds an explicit Deny of {d.action} on {t.repository} for {who}",
                    details=details, fix=_denial_fix(reason, caller, PULL_ACTIONS, t.arn, t),
                    evidence=evidence)
    if implicit:
        names = ", ".join(d.action if d else a for d, a in zip(decisions, PULL_ACTIONS) if d is None or d in implicit)
        fix = _identity_fix(caller, PULL_ACTIONS, t.arn, t.partition, token=False)
        if cross:
            return fail(f"no identity policy of {sim.source_arn} allows {names} on {t.repository} (simulation); a "
                        "cross-account pull needs that as well as the repository policy", details=details,
                        fix=fix, evidence=evidence)
        return warn(f"no identity policy of {sim.source_arn} allows {names} on {t.repository} (simulation): the "
                    "pull is denied unless the repository or registry policy grants it", details=details, fix=fix,
                    evidence=evidence)
    return passed(f"the simulation allows {who} to pull {t.repository} (the repository was not probed)",
                  details=details, evidence=evidence)


# -- iam.pull-through ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grant:
    action: str
    verdict: str  # allowed, conditional, likely-denied, denied, unknown
    why: str
    deny_in: Optional[str] = None  # "registry" or "identity" when an explicit Deny decides


def _cache_grant(action: str, sim: Simulation, reg: Optional[Evaluation], reg_note: str, cross: bool) -> _Grant:
    """One cache action judged from the simulation (identity side) and the registry policy read locally."""
    d = sim.get(action)
    ident = d.decision if d else None
    if ident == "explicitDeny":
        return _Grant(action, "denied", "an explicit Deny in the caller's policies (simulation)", "identity")
    if reg is not None and reg.decision is Decision.DENY:
        return _Grant(action, "denied", f"the registry policy denies it ({reg.denies[0].describe()})", "registry")
    if reg is not None and reg.decision is Decision.CONDITIONAL_DENY:
        return _Grant(action, "conditional", f"the registry policy may deny it ({reg.denies[0].describe()})",
                      "registry")
    if cross:
        if ident == "implicitDeny":
            return _Grant(action, "denied", "no identity policy allows it (simulation), and a request into another "
                                            "account needs that")
        return _Grant(action, "unknown", f"identity: {ident or 'not simulated'}; {reg_note}")
    if ident == "allowed":
        return _Grant(action, "allowed", "the caller's identity policies allow it (simulation)")
    if reg is not None and reg.decision is Decision.ALLOW:
        return _Grant(action, "allowed", f"the registry policy grants it ({reg.allows[0].describe()})")
    if reg is not None and reg.decision is Decision.CONDITIONAL_ALLOW:
        return _Grant(action, "conditional", f"only the registry policy grants it ({reg.allows[0].describe()})")
    if ident == "implicitDeny":
        if reg is not None:
            return _Grant(action, "denied",
                          "no identity policy (simulation) and no registry policy statement allows it")
        return _Grant(action, "likely-denied", f"no identity policy allows it (simulation); {reg_note}")
    return _Grant(action, "unknown", f"not simulated ({sim.missing}); "
                                     + ("the registry policy does not grant it" if reg is not None else reg_note))


def _cache_fix(t: _Target, caller: Optional[CallerPrincipal], prefix: str, denied: Sequence[_Grant],
               create: bool) -> Fix:
    kind, name = _principal_words(caller)
    if any(g.deny_in == "registry" for g in denied):
        return Fix("A Deny in the registry policy blocks the cache. Edit it and put it back (put-registry-policy "
                   "REPLACES the whole policy).",
                   (f"aws ecr get-registry-policy --region {t.region} --query policyText --output text "
                    "> registry-policy.json",
                    f"aws ecr put-registry-policy --region {t.region} --policy-text file://registry-policy.json"))
    if any(g.deny_in == "identity" for g in denied):
        return Fix(f"An explicit Deny in the policies of the {kind} {name} (or its boundary or an SCP) blocks the "
                   "cache actions; its owner must narrow it.",
                   (f"aws iam list-attached-{kind}-policies --{kind}-name {name}",
                    f"aws iam list-{kind}-policies --{kind}-name {name}"))
    scope = "repository/*" if prefix == "ROOT" else f"repository/{prefix.rstrip('/')}/*"
    doc = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
        "Resource": f"arn:{t.partition}:ecr:{t.region}:{t.account}:{scope}"}]}
    commands = [f"aws iam put-{kind}-policy --{kind}-name {name} --policy-name ecr-pull-through-cache "
                f"--policy-document {_json(doc)}"]
    if create:
        commands.append(f"aws ecr create-repository --region {t.region} --repository-name {t.repository}")
    return Fix(f"{READ_ONLY_POLICY} has neither ecr:CreateRepository nor ecr:BatchImportUpstreamImage. Allow them "
               f"for the {kind} {name} on the cache prefix (first command), or grant them in the registry policy"
               + ("; or pre-create the repository (second command) — the import still needs "
                  "ecr:BatchImportUpstreamImage." if create else "."), tuple(commands))


@check("iam.pull-through", title="May this principal fill the pull-through cache?",
       requires=["aws.identity"], applies_when=_private_repository, network=True, timeout=12)
def iam_pull_through(ctx: Context) -> Outcome:
    """For an image under a pull-through-cache rule: may the puller create the cache repository and import?

    The first pull of a cached image creates the repository (ecr:CreateRepository, and
    ecr:TagResource when a creation template applies tags) and imports the image
    (ecr:BatchImportUpstreamImage, needed again for new tags and the daily refresh). The managed
    policy AmazonEC2ContainerRegistryReadOnly has neither, so nodes pull what is cached and the first
    pull of anything new fails with "repository … not found" or "Requested image not found". The
    identity side comes from iam:SimulatePrincipalPolicy (evidence only); the registry policy, which
    may grant these actions under either scope, is read with GetRegistryPolicy and evaluated locally,
    and its scope (GetAccountSetting REGISTRY_POLICY_SCOPE: V1 only these actions and replication,
    V2 every ECR request) is reported.

    Decides: skip when the image falls under no rule (or the rules cannot be read); pass when every
    needed action is allowed by the identity or the registry policy; fail when one is denied and
    the repository does not exist yet (the first pull will fail); warn when one is denied but the
    repository exists (cached tags still pull; new tags and refreshes fail), when a grant or deny
    depends on conditions, or when no identity policy allows it and the registry policy cannot be
    read; skip when there is no evidence either way.

    References: aws-side.md A1 (note on BatchGetImage and the cache actions), A4 (IAM matrix, registry
    policy scope), A7, B3 PTC-CREATE-REPO-DENIED and PTC-IMPORT-DENIED, C7, C8, C9; the ECR user guide,
    "IAM permissions required to sync an upstream registry" and "Private registry permissions".
    """
    t = _target(ctx)
    rule, rule_error = _rule(ctx)
    if rule_error is not None:
        return skip(f"cannot tell whether {t.repository} is a pull-through-cache repository: "
                    f"DescribePullThroughCacheRules failed ({rule_error})")
    if rule is None:
        return skip(f"{t.repository} falls under no pull-through cache rule of {t.account} in {t.region}")
    rc = resolved_caller(ctx)
    caller, who = rc.principal, _caller_arn(ctx)
    cross = caller is not None and caller.account != t.account
    lookup = awsfacts.repository(ctx)
    sim = simulate(ctx, CACHE_ACTIONS, t.arn)
    details = list(rc.notes)
    if lookup.exists:
        details.append(f"{t.repository} exists (already cached): ecr:BatchImportUpstreamImage is still needed for "
                       "new tags and the refresh, at most once per 24 hours")
    elif lookup.missing:
        details.append(f"{t.repository} does not exist yet: the first pull creates it (ecr:CreateRepository) and "
                       "imports the image (ecr:BatchImportUpstreamImage)")
    else:
        details.append(f"whether {t.repository} exists is unknown (DescribeRepositories: {lookup.error_code})")
    needed = ["ecr:BatchImportUpstreamImage"] + ([] if lookup.exists else ["ecr:CreateRepository"])
    reg: Optional[PolicyRead] = None
    if cross and caller is not None:
        reg_note = f"the registry policy of {t.account} cannot be read from account {caller.account}"
    else:
        scope, scope_error = registry_scope(ctx)
        details.append(_scope_line(scope, scope_error))
        reg = registry_policy(ctx)
        reg_note = f"the registry policy could not be read ({reg.error})" if reg.error else ""
    details += sim.lines()
    grants = {}
    for action in CACHE_ACTIONS:
        evaluation = None
        if reg is not None and reg.error is None and caller is not None:
            evaluation = evaluate(reg.policy or Policy(()), caller, action, t.arn)
        grants[action] = _cache_grant(action, sim, evaluation, reg_note, cross)
        note = " (needed only when a creation template applies tags)" if action == "ecr:TagResource" else ""
        details.append(f"{action}: {grants[action].verdict}{note} — {grants[action].why}")
    evidence: dict[str, object] = {"principal": who, "rule": rule.prefix, "upstream": rule.upstream_url,
                                   "repository_exists": lookup.exists if lookup.error_code in (None,
                                   "RepositoryNotFoundException") else None,
                                   "grants": {a: g.verdict for a, g in grants.items()}}
    denied = [grants[a] for a in needed if grants[a].verdict == "denied"]
    if denied:
        names = " and ".join(g.action for g in denied)
        symptom = "'repository … not found'" if any(g.action == "ecr:CreateRepository" for g in denied) \
            else "'Requested image not found'"
        fix = _cache_fix(t, caller, rule.prefix, denied, create=lookup.missing)
        if lookup.missing:
            return fail(f"the first pull of {t.repository} through rule '{rule.prefix}' will fail with {symptom}: "
                        f"{who} is not allowed {names}", details=details, fix=fix, evidence=evidence)
        return warn(f"{who} is not allowed {names} under rule '{rule.prefix}': cached tags pull, new tags and "
                    f"refreshes fail with {symptom}", details=details, fix=fix, evidence=evidence)
    doubtful = [grants[a] for a in needed if grants[a].verdict in ("likely-denied", "conditional")]
    if doubtful:
        names = " and ".join(g.action for g in doubtful)
        return warn(f"{who} may lack {names} for the cache repository {t.repository}: "
                    + "; ".join(g.why for g in doubtful), details=details,
                    fix=_cache_fix(t, caller, rule.prefix, doubtful, create=lookup.missing), evidence=evidence)
    unknown = [grants[a] for a in needed if grants[a].verdict == "unknown"]
    if unknown:
        return skip(f"cannot tell whether {who} may {' and '.join(g.action for g in unknown)} for the cache "
                    f"repository {t.repository}: no simulation and no registry policy grant", details=details,
                    evidence=evidence)
    return passed(f"{who} may create and fill the cache repository {t.repository} (rule '{rule.prefix}' → "
                  f"{rule.upstream_url})", details=details, evidence=evidence)


# -- iam.repository-policy ----------------------------------------------------------------------------------------


def _evaluation_lines(source: str, evals: dict[str, Evaluation]) -> list[str]:
    lines = []
    for action, ev in evals.items():
        matched = [m.describe() for m in ev.denies + ev.allows]
        lines.append(f"{source}: {action} {ev.decision.value}" + (f" — {'; '.join(matched)}" if matched else ""))
    return lines


def _policy_edit_fix(t: _Target, registry: bool, statement: str, who: str) -> Fix:
    if registry:
        return Fix(f"{statement} of the registry policy denies the pull to {who}. Narrow or remove it; "
                   "put-registry-policy REPLACES the whole policy, so edit the file the first command writes.",
                   (f"aws ecr get-registry-policy --region {t.region} --query policyText --output text "
                    "> registry-policy.json",
                    f"aws ecr put-registry-policy --region {t.region} --policy-text file://registry-policy.json"))
    return Fix(f"{statement} of the repository policy of {t.repository} denies the pull to {who}. The repository "
               "owner must narrow or remove it; set-repository-policy REPLACES the whole policy, so edit the file "
               "the first command writes.",
               (f"aws ecr get-repository-policy --region {t.region} --registry-id {t.account} --repository-name "
                f"{t.repository} --query policyText --output text > repository-policy.json",
                f"aws ecr set-repository-policy --region {t.region} --registry-id {t.account} --repository-name "
                f"{t.repository} --policy-text file://repository-policy.json"))


@check("iam.repository-policy", title="Do the repository and registry policies let this principal pull?",
       requires=["aws.identity"], applies_when=_private_repository, network=True, timeout=10)
def iam_repository_policy(ctx: Context) -> Outcome:
    """Reads the repository policy (and, in the caller's own account, the registry policy) and evaluates them.

    The evaluation is local, for the caller's principal and the two pull actions: Effect, Principal
    (any, the account, the role or user by name, the session ARN), Action with wildcards, NotAction,
    Resource; a statement with a Condition is reported, not evaluated. Same-account pulls need an
    Allow in the identity OR the repository policy; cross-account pulls (caller account ≠ registry
    account) need both, so the repository policy must allow the caller's account or principal. An
    explicit Deny anywhere wins, and with registry policy scope V2 (the default) a Deny in the
    registry policy blocks pulls from every repository.

    Decides: fail on an unconditional Deny matching the caller (repository policy, or registry
    policy with scope V2), and for a cross-account pull whose repository policy is missing or does
    not allow both actions; warn when a Deny or the only Allow depends on conditions, or a registry
    Deny applies only if the scope is V2; pass otherwise; skip when the repository does not exist,
    the caller is unknown, or the policy cannot be read.

    References: aws-side.md A4 (cross-account evaluation, registry policy scope), B2
    IAM-CROSS-ACCOUNT-REPO-POLICY-MISSING and IAM-EXPLICIT-DENY, C8; the ECR user guide, "Private
    repository policies", "Repository policy examples" and "Private registry permissions"; IAM user
    guide, "Policy evaluation logic" and "Cross-account policy evaluation logic".
    """
    t = _target(ctx)
    rc = resolved_caller(ctx)
    caller = rc.principal
    if caller is None:
        return skip(f"the caller is unknown ({rc.error})")
    who = caller.arn
    cross = caller.account != t.account
    lookup = awsfacts.repository(ctx)
    if lookup.missing:
        return skip(f"repository {t.repository} does not exist in {t.account} ({t.region}): no policy to evaluate")
    repo = _read_policy(lambda: awsfacts.ecr(ctx).get_repository_policy(registryId=t.account,
                                                                         repositoryName=t.repository),
                        "RepositoryPolicyNotFoundException")
    details = list(rc.notes)
    scope: Optional[str] = None
    reg_evals: dict[str, Evaluation] = {}
    if cross:
        details.append(f"cross-account pull: caller account {caller.account}, registry account {t.account}; the "
                       f"registry policy of {t.account} cannot be read from here, and with scope V2 a Deny in it "
                       "would block this pull too")
    else:
        scope, scope_error = registry_scope(ctx)
        reg = registry_policy(ctx)
        details.append(_scope_line(scope, scope_error))
        if reg.error:
            details.append(f"registry policy not evaluated: {reg.error}")
        elif reg.absent:
            details.append("no registry policy is set")
        elif reg.policy is not None and scope == "V1":
            details.append("the registry policy does not apply to pulls under scope V1")
        elif reg.policy is not None:
            reg_evals = {a: evaluate(reg.policy, caller, a, t.arn) for a in PULL_ACTIONS}
    repo_evals = {a: evaluate(repo.policy, caller, a, t.arn) for a in PULL_ACTIONS} if repo.policy else {}
    if repo.absent:
        details.append(f"{t.repository} has no repository policy")
    details += _evaluation_lines("repository policy", repo_evals) + _evaluation_lines("registry policy", reg_evals)
    evidence: dict[str, object] = {
        "principal": who, "cross_account": cross, "registry_policy_scope": scope,
        "repository_policy": {a: e.decision.value for a, e in repo_evals.items()} if repo.policy
        else ("absent" if repo.absent else None),
        "registry_policy": {a: e.decision.value for a, e in reg_evals.items()}}
    for registry, evals in ((False, repo_evals), (True, reg_evals)):
        for action, ev in evals.items():
            if ev.decision is Decision.DENY:
                st = next(m for m in ev.denies if not m.conditional).statement.label
                where = "the registry policy" if registry else f"the repository policy of {t.repository}"
                fix = _policy_edit_fix(t, registry, st[0].upper() + st[1:], who)
                if registry and scope is None:
                    return warn(f"{st} of the registry policy denies {action} to {who}; it blocks the pull if the "
                                "registry policy scope is V2 (the default)", details=details, fix=fix,
                                evidence=evidence)
                return fail(f"{st} of {where} denies {action} to {who}", details=details, fix=fix,
                            evidence=evidence)
    for registry, evals in ((False, repo_evals), (True, reg_evals)):
        for action, ev in evals.items():
            if ev.decision is Decision.CONDITIONAL_DENY:
                where = "the registry policy" if registry else f"the repository policy of {t.repository}"
                return warn(f"{where} denies {action} to {who} under conditions ecrdoctor does not evaluate: "
                            f"{ev.denies[0].describe()}", details=details,
                            fix=_policy_edit_fix(t, registry, ev.denies[0].statement.label.capitalize(), who),
                            evidence=evidence)
    if repo.error:
        need = f"; a cross-account pull from {caller.account} needs it to allow this principal" if cross else ""
        return skip(f"cannot read the repository policy of {t.repository} in {t.account}: {repo.error}{need}",
                    details=details, evidence=evidence)
    if cross:
        if repo.absent:
            return fail(f"{t.repository} in account {t.account} has no repository policy, so a pull from account "
                        f"{caller.account} is denied (cross-account needs the repository policy too)",
                        details=details, fix=_repository_grant_fix(caller, t), evidence=evidence)
        missing = [a for a, e in repo_evals.items() if e.decision is Decision.NONE]
        if missing:
            return fail(f"the repository policy of {t.repository} (account {t.account}) does not allow "
                        f"{' and '.join(missing)} for {who}: a cross-account pull needs it",
                        details=details, fix=_repository_grant_fix(caller, t), evidence=evidence)
        conditional = [e for e in repo_evals.values() if e.decision is Decision.CONDITIONAL_ALLOW]
        if conditional:
            return warn(f"the repository policy of {t.repository} allows {who} to pull only under conditions "
                        f"ecrdoctor does not evaluate: {conditional[0].allows[0].describe()}", details=details,
                        evidence=evidence)
        grantee = {"principal": "this principal", "account": f"account {caller.account}",
                   "any": "any principal"}.get(repo_evals[PULL_ACTIONS[0]].granted_to or "", "the caller")
        return passed(f"the repository policy of {t.repository} (account {t.account}) allows {grantee} to pull; "
                      f"the identity policy of {who} must allow it too (iam.pull)", details=details,
                      evidence=evidence)
    by_repo = any(e.decision is Decision.ALLOW for e in repo_evals.values())
    by_registry = any(e.decision is Decision.ALLOW for e in reg_evals.values())
    if by_repo or by_registry:
        summary = f"the {'repository' if by_repo else 'registry'} policy allows {who} to pull {t.repository}; " \
                  "nothing denies it"
    elif repo.absent:
        summary = f"{t.repository} has no repository policy: same-account pulls depend on identity policies alone"
    else:
        summary = f"no repository or registry policy statement denies {who} the pull of {t.repository}; " \
                  "same-account access comes from identity policies"
    return passed(summary, details=details, evidence=evidence)
