"""The public API a check module uses: the `check` decorator and the outcome constructors.

A check is a plain function taking the run's context and returning an Outcome::

    from ecrdoctor.api import check, passed, fail, Fix

    @check("docker.config", title="Which config file does docker read?")
    def docker_config(ctx):
        ...
        return passed("docker reads /home/ec2-user/.docker/config.json")
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

from ecrdoctor.model import Fix, Outcome, Status

if TYPE_CHECKING:
    from ecrdoctor.context import Context

__all__ = [
    "Check",
    "Finding",
    "Fix",
    "Outcome",
    "SkipCheck",
    "Status",
    "check",
    "conclude",
    "error",
    "fail",
    "info",
    "passed",
    "skip",
    "warn",
]

CHECK_ID = re.compile(r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$")
DEFAULT_CHECK_TIMEOUT = 15.0

# An applies-when predicate answers None when the check applies, or the reason it does not.
AppliesWhen = Callable[["Context"], Optional[str]]
CheckFunction = Callable[["Context"], Outcome]


class SkipCheck(Exception):
    """Raised anywhere inside a check to report it as `skip` with this reason."""


@dataclass(frozen=True)
class Check:
    """A registered check: its frozen metadata and the function that runs it."""

    id: str
    title: str
    func: CheckFunction
    requires: Tuple[str, ...] = ()
    applies_when: Optional[AppliesWhen] = None
    timeout: float = DEFAULT_CHECK_TIMEOUT
    network: bool = False
    module: str = ""

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")

    def __call__(self, ctx: Context) -> Outcome:
        return self.func(ctx)


def check(
    id: str,
    *,
    title: str,
    requires: Sequence[str] = (),
    applies_when: Optional[AppliesWhen] = None,
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    network: bool = False,
) -> Callable[[CheckFunction], Check]:
    """Declare a check. `network=True` marks checks that `--offline` skips."""
    if not CHECK_ID.match(id):
        raise ValueError(f"check id {id!r} is not of the form area.name (lower case, digits and '-')")
    for req in requires:
        if not CHECK_ID.match(req):
            raise ValueError(f"check {id}: required id {req!r} is not of the form area.name")
    if timeout <= 0:
        raise ValueError(f"check {id}: timeout must be positive")

    def register(func: CheckFunction) -> Check:
        return Check(
            id=id,
            title=title,
            func=func,
            requires=tuple(requires),
            applies_when=applies_when,
            timeout=float(timeout),
            network=network,
            module=func.__module__,
        )

    return register


def _outcome(
    status: Status,
    summary: str,
    details: Iterable[str] = (),
    fix: Optional[Fix] = None,
    evidence: Optional[Mapping[str, Any]] = None,
) -> Outcome:
    return Outcome(status, summary, tuple(details), fix, dict(evidence or {}))


def passed(summary: str, details: Iterable[str] = (), evidence: Optional[Mapping[str, Any]] = None) -> Outcome:
    return _outcome(Status.PASS, summary, details, None, evidence)


def info(summary: str, details: Iterable[str] = (), evidence: Optional[Mapping[str, Any]] = None) -> Outcome:
    return _outcome(Status.INFO, summary, details, None, evidence)


def warn(
    summary: str,
    details: Iterable[str] = (),
    fix: Optional[Fix] = None,
    evidence: Optional[Mapping[str, Any]] = None,
) -> Outcome:
    return _outcome(Status.WARN, summary, details, fix, evidence)


def fail(
    summary: str,
    details: Iterable[str] = (),
    fix: Optional[Fix] = None,
    evidence: Optional[Mapping[str, Any]] = None,
) -> Outcome:
    return _outcome(Status.FAIL, summary, details, fix, evidence)


def skip(summary: str, details: Iterable[str] = (), evidence: Optional[Mapping[str, Any]] = None) -> Outcome:
    return _outcome(Status.SKIP, summary, details, None, evidence)


def error(summary: str, details: Iterable[str] = (), evidence: Optional[Mapping[str, Any]] = None) -> Outcome:
    return _outcome(Status.ERROR, summary, details, None, evidence)


@dataclass
class Finding:
    """One cause a check found; the check reports the worst and lists the rest."""

    status: Status
    summary: str
    details: List[str] = field(default_factory=list)
    fix_text: str = ""
    commands: Tuple[str, ...] = ()


def conclude(findings: Sequence[Finding], ok_summary: str, details: Sequence[str] = (),
             evidence: Optional[Mapping[str, Any]] = None, after: Sequence[str] = ()) -> Outcome:
    """fail over warn; the first finding of the worst status leads, the others follow in the details.

    `after` are commands that complete every fix (a service restart), added once at the end."""
    worst = [f for f in findings if f.status is Status.FAIL] or [f for f in findings if f.status is Status.WARN]
    if not worst:
        return passed(ok_summary, details=details, evidence=evidence)
    lead = worst[0]
    others = [f for f in findings if f is not lead and f.status in (Status.FAIL, Status.WARN)]
    lines = list(lead.details) + [f"also ({f.status.value}): {f.summary}" for f in others] + list(details)
    texts = [lead.fix_text] + [f.fix_text for f in others if f.fix_text]
    commands: List[str] = []
    for c in [*lead.commands, *(c for f in others for c in f.commands)]:
        if c not in commands:
            commands.append(c)
    if commands:
        commands += [c for c in after if c not in commands]
    fix = Fix(" ".join(t for t in texts if t), tuple(commands)) if any(texts) or commands else None
    make = fail if lead.status is Status.FAIL else warn
    return make(lead.summary, details=lines, fix=fix, evidence=evidence)
