"""Pure IAM helpers for the iam.* checks: caller ARNs, denial messages, policy documents, simulation answers.

Nothing here calls AWS. A repository or registry policy is evaluated locally against one principal
and one action, the way IAM would for the statements it can judge without a request context:
Effect, Principal / NotPrincipal (AWS "*", an account id or root ARN, a role, user or session
ARN, a unique id; Service principals never match a caller), Action / NotAction with wildcards,
Resource / NotResource. Conditions are not evaluated: a statement that has one is reported as
conditional, never silently counted as matching or not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional, Sequence, Tuple

__all__ = [
    "ArnError", "CallerPrincipal", "Decision", "Evaluation", "ManifestError", "ManifestRefs",
    "Policy", "PolicyError", "SimulatedDecision", "Statement", "StatementMatch", "action_matches",
    "evaluate", "manifest_refs", "parse_caller", "parse_policy", "parse_simulation",
    "repository_arn", "resource_matches", "simulation_source_arn",
]


class PolicyError(ValueError):
    """A policy document that is not JSON or not shaped like an IAM policy."""


class ArnError(ValueError):
    """A caller ARN that is not an IAM or STS principal ARN."""


class ManifestError(ValueError):
    """An image manifest that is not a JSON manifest or index."""


# -- the caller --------------------------------------------------------------------------------------

_CALLER = re.compile(r"^arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")


@dataclass(frozen=True)
class CallerPrincipal:
    """The principal of sts:GetCallerIdentity, and the IAM role behind an assumed-role session."""

    arn: str
    account: str
    partition: str
    kind: str  # user, role, assumed-role, federated-user, root
    name: Optional[str]  # user or role name (no path)
    session: Optional[str] = None
    role_arn: Optional[str] = None  # the role's IAM ARN with its path, when it is known
    unique_id: Optional[str] = None  # AIDA…/AROA… (the UserId before ':')

    @property
    def role_name(self) -> Optional[str]:
        return self.name if self.kind in ("role", "assumed-role") else None


def parse_caller(arn: str, user_id: Optional[str] = None, role_arn: Optional[str] = None) -> CallerPrincipal:
    """Take a caller ARN apart; `role_arn` (with path, from GetRole/ListRoles) is kept for assumed roles."""
    m = _CALLER.match(arn.strip())
    if not m:
        raise ArnError(f"not an IAM or STS principal ARN: {arn!r}")
    partition, service, account, resource = m.group("partition", "service", "account", "resource")
    unique = user_id.split(":", 1)[0] if user_id else None
    parts = resource.split("/")
    if service == "iam" and resource == "root":
        return CallerPrincipal(arn, account, partition, "root", None, unique_id=unique)
    if service == "iam" and parts[0] in ("user", "role") and len(parts) >= 2:
        kind = parts[0]
        return CallerPrincipal(arn, account, partition, kind, parts[-1],
                               role_arn=arn if kind == "role" else None, unique_id=unique)
    if service == "sts" and parts[0] == "assumed-role" and len(parts) >= 3:
        return CallerPrincipal(arn, account, partition, "assumed-role", parts[1], session="/".join(parts[2:]),
                               role_arn=role_arn, unique_id=unique)
    if service == "sts" and parts[0] == "federated-user" and len(parts) >= 2:
        return CallerPrincipal(arn, account, partition, "federated-user", parts[1], unique_id=unique)
    if service == "sts" and parts[0] == "user" and len(parts) >= 2:  # what moto answers for its root keys
        return CallerPrincipal(arn, account, partition, "user", parts[-1], unique_id=unique)
    raise ArnError(f"not an IAM or STS principal ARN: {arn!r}")


def simulation_source_arn(caller: CallerPrincipal) -> Optional[str]:
    """The ARN iam:SimulatePrincipalPolicy accepts for this caller, or None (session ARNs are rejected)."""
    if caller.kind == "user" and ":iam::" in caller.arn:
        return caller.arn
    if caller.kind in ("role", "assumed-role"):
        return caller.role_arn
    return None


def repository_arn(partition: str, region: str, account: str, repository: str) -> str:
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"


# -- wildcards ----------------------------------------------------------------------------------------


def _glob(pattern: str, flags: int = 0) -> re.Pattern[str]:
    out = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{out}$", flags | re.S)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` wildcards (`ecr:*`, `ecr:Batch*`, `*`)."""
    return bool(_glob(pattern.strip(), re.I).match(action.strip()))


def resource_matches(pattern: str, resource: str) -> bool:
    """IAM resource matching: `*` and `?` wildcards, which also span `/` and `:`."""
    return bool(_glob(pattern.strip()).match(resource.strip()))


# -- policies -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    index: int
    sid: Optional[str]
    effect: str  # "Allow" | "Deny"
    principals: Optional[Tuple[Tuple[str, str], ...]]  # (type, value): ("AWS", "*"), ("Service", "…"); None if absent
    not_principals: Optional[Tuple[Tuple[str, str], ...]]
    actions: Optional[Tuple[str, ...]]
    not_actions: Optional[Tuple[str, ...]]
    resources: Optional[Tuple[str, ...]]
    not_resources: Optional[Tuple[str, ...]]
    conditions: Tuple[str, ...]  # "StringEquals aws:PrincipalOrgID", … (present, not evaluated)

    @property
    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else f"statement #{self.index + 1}"


@dataclass(frozen=True)
class Policy:
    statements: Tuple[Statement, ...]


def _strings(value: Any, what: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyError(f"{what} must be a string or a list of strings")


def _principal_block(value: Any, what: str) -> Tuple[Tuple[str, str], ...]:
    if value == "*":
        return (("AWS", "*"),)
    if not isinstance(value, dict):
        raise PolicyError(f"{what} must be \"*\" or an object")
    return tuple((str(kind), v) for kind, vals in value.items() for v in _strings(vals, f"{what}.{kind}"))


def _conditions(value: Any) -> Tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PolicyError("Condition must be an object")
    out: list[str] = []
    for operator, keys in value.items():
        if isinstance(keys, dict):
            out.extend(f"{operator} {key}" for key in keys)
        else:
            out.append(str(operator))
    return tuple(out)


def parse_policy(text: str) -> Policy:
    """Parse a repository or registry policy document (as GetRepositoryPolicy/GetRegistryPolicy return it)."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise PolicyError("a policy is an object with a Statement")
    raw = doc["Statement"]
    items = raw if isinstance(raw, list) else [raw]
    statements = []
    for i, st in enumerate(items):
        if not isinstance(st, dict):
            raise PolicyError(f"statement #{i + 1} is not an object")
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"statement #{i + 1}: Effect must be Allow or Deny")

        def opt(key: str, _st: dict[str, Any] = st, _i: int = i) -> Optional[Tuple[str, ...]]:
            return _strings(_st[key], f"statement #{_i + 1} {key}") if key in _st else None

        statements.append(Statement(
            index=i,
            sid=str(st["Sid"]) if st.get("Sid") else None,
            effect=effect,
            principals=_principal_block(st["Principal"], "Principal") if "Principal" in st else None,
            not_principals=_principal_block(st["NotPrincipal"], "NotPrincipal") if "NotPrincipal" in st else None,
            actions=opt("Action"), not_actions=opt("NotAction"),
            resources=opt("Resource"), not_resources=opt("NotResource"),
            conditions=_conditions(st.get("Condition")),
        ))
    return Policy(tuple(statements))


def _aws_principal_match(value: str, caller: CallerPrincipal) -> Optional[str]:
    """How one `"AWS": value` principal covers the caller: "any", "account", "principal", or None."""
    value = value.strip()
    if value == "*":
        return "any"
    if re.fullmatch(r"\d{12}", value):
        return "account" if value == caller.account else None
    m = _CALLER.match(value)
    if not m:  # a unique id: what a policy shows after the named role or user was deleted and recreated
        return "principal" if caller.unique_id and value == caller.unique_id else None
    if m.group("account") != caller.account:
        return None
    resource = m.group("resource")
    parts = resource.split("/")
    if resource == "root":
        return "account"
    # role and user names are unique within an account whatever their path, so the name decides
    if parts[0] == "role" and caller.kind in ("role", "assumed-role"):
        return "principal" if parts[-1] == caller.name else None
    if parts[0] == "user" and caller.kind == "user":
        return "principal" if parts[-1] == caller.name else None
    if parts[0] in ("assumed-role", "federated-user"):
        return "principal" if value == caller.arn else None
    return None


def _principal_match(block: Tuple[Tuple[str, str], ...], caller: CallerPrincipal) -> Optional[str]:
    rank = {"principal": 0, "account": 1, "any": 2}
    found = [m for kind, v in block if kind == "AWS" for m in [_aws_principal_match(v, caller)] if m]
    return min(found, key=rank.__getitem__) if found else None


class Decision(str, Enum):
    """What one policy says about one principal, action and resource."""

    DENY = "deny"  # an unconditional Deny matches: blocked whatever else allows it
    CONDITIONAL_DENY = "conditional-deny"  # a Deny matches if its conditions hold (not evaluated)
    ALLOW = "allow"  # an unconditional Allow matches
    CONDITIONAL_ALLOW = "conditional-allow"  # only Allows with conditions match
    NONE = "none"  # no statement matches: this policy neither grants nor denies


@dataclass(frozen=True)
class StatementMatch:
    statement: Statement
    principal_match: str  # any, account, principal

    @property
    def conditional(self) -> bool:
        return bool(self.statement.conditions)

    def describe(self) -> str:
        who = {"any": "any principal", "account": "the caller's account",
               "principal": "this principal"}[self.principal_match]
        text = f"{self.statement.label} ({self.statement.effect}, {who})"
        if self.statement.conditions:
            text += f" under conditions not evaluated: {', '.join(self.statement.conditions)}"
        return text


@dataclass(frozen=True)
class Evaluation:
    action: str
    resource: str
    decision: Decision
    allows: Tuple[StatementMatch, ...]
    denies: Tuple[StatementMatch, ...]

    @property
    def granted_to(self) -> Optional[str]:
        """Who an unconditional Allow names: "principal", "account" or "any" (the most specific)."""
        plain = [m.principal_match for m in self.allows if not m.conditional]
        for kind in ("principal", "account", "any"):
            if kind in plain:
                return kind
        return None


def _applies(patterns: Optional[Tuple[str, ...]], negated: Optional[Tuple[str, ...]], value: str,
             match: Any) -> bool:
    if patterns is not None:
        return any(match(p, value) for p in patterns)
    if negated is not None:
        return not any(match(p, value) for p in negated)
    return True


def evaluate(policy: Policy, caller: CallerPrincipal, action: str, resource: str) -> Evaluation:
    """Which statements of a resource or registry policy apply to the caller for `action` on `resource`.

    A statement without Resource applies to the resource the policy is attached to (repository
    policies usually omit it); one without Principal/NotPrincipal applies to everyone.
    """
    allows: list[StatementMatch] = []
    denies: list[StatementMatch] = []
    for st in policy.statements:
        if st.actions is None and st.not_actions is None:
            continue
        if not _applies(st.actions, st.not_actions, action, action_matches):
            continue
        if not _applies(st.resources, st.not_resources, resource, resource_matches):
            continue
        if st.principals is not None:
            who = _principal_match(st.principals, caller)
            if who is None:
                continue
        elif st.not_principals is not None:
            if _principal_match(st.not_principals, caller) is not None:
                continue
            who = "any"
        else:
            who = "any"
        (allows if st.effect == "Allow" else denies).append(StatementMatch(st, who))
    if any(not m.conditional for m in denies):
        decision = Decision.DENY
    elif denies:
        decision = Decision.CONDITIONAL_DENY
    elif any(not m.conditional for m in allows):
        decision = Decision.ALLOW
    elif allows:
        decision = Decision.CONDITIONAL_ALLOW
    else:
        decision = Decision.NONE
    return Evaluation(action, resource, decision, tuple(allows), tuple(denies))


# -- iam:SimulatePrincipalPolicy answers ------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedDecision:
    action: str
    decision: str  # allowed, explicitDeny, implicitDeny
    matched: Tuple[str, ...] = ()  # "<SourcePolicyType> <SourcePolicyId>" of the matched statements
    allowed_by_organizations: Optional[bool] = None
    allowed_by_boundary: Optional[bool] = None
    missing_context: Tuple[str, ...] = ()


def parse_simulation(results: Sequence[Any]) -> Tuple[SimulatedDecision, ...]:
    """The EvaluationResults of SimulatePrincipalPolicy, one decision per action (worst per action wins)."""
    rank = {"explicitDeny": 0, "implicitDeny": 1, "allowed": 2}
    by_action: dict[str, SimulatedDecision] = {}
    for r in results:
        if not isinstance(r, dict) or not isinstance(r.get("EvalActionName"), str):
            continue
        decision = str(r.get("EvalDecision", "implicitDeny"))
        matched = tuple(
            f"{s.get('SourcePolicyType', 'policy')} {s.get('SourcePolicyId', '?')}"
            for s in r.get("MatchedStatements") or [] if isinstance(s, dict)
        )
        org = r.get("OrganizationsDecisionDetail") or {}
        boundary = r.get("PermissionsBoundaryDecisionDetail") or {}
        found = SimulatedDecision(
            action=r["EvalActionName"], decision=decision, matched=matched,
            allowed_by_organizations=org.get("AllowedByOrganizations") if isinstance(org, dict) else None,
            allowed_by_boundary=boundary.get("AllowedByPermissionsBoundary") if isinstance(boundary, dict) else None,
            missing_context=tuple(str(k) for k in r.get("MissingContextValues") or []),
        )
        prior = by_action.get(found.action)
        if prior is None or rank.get(found.decision, 1) < rank.get(prior.decision, 1):
            by_action[found.action] = found
    return tuple(by_action.values())


# -- manifests (for a layer to probe with GetDownloadUrlForLayer) ---------------------------------------


@dataclass(frozen=True)
class ManifestRefs:
    """The blobs an image manifest names, or the child manifests an index names."""

    layers: Tuple[str, ...]  # layer digests, then the config digest
    children: Tuple[Tuple[str, str], ...]  # (digest, "os/architecture") of an index / manifest list


def manifest_refs(text: str) -> ManifestRefs:
    """Digests in a docker v2 / OCI manifest (layers, config) or index (child manifests with platform)."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError("a manifest is a JSON object")

    def digest(entry: Any) -> Optional[str]:
        d = entry.get("digest") if isinstance(entry, dict) else None
        return d if isinstance(d, str) and ":" in d else None

    if isinstance(doc.get("manifests"), list):
        children = []
        for m in doc["manifests"]:
            d = digest(m)
            if d:
                plat = m.get("platform") if isinstance(m.get("platform"), dict) else {}
                children.append((d, f"{plat.get('os', '?')}/{plat.get('architecture', '?')}"))
        return ManifestRefs((), tuple(children))
    layers = [d for d in (digest(entry) for entry in doc.get("layers") or []) if d]
    config = digest(doc.get("config"))
    if config:
        layers.append(config)
    if not layers:
        raise ManifestError("the manifest names no layers, config or child manifests")
    return ManifestRefs(tuple(layers), ())
