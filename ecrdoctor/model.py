"""The result model: what a check reports and what a run produces (SPEC §4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

SCHEMA_VERSION = "1"


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    INFO = "info"

    @property
    def severity(self) -> int:
        """Order used for the report's worst status: fail beats error beats warn."""
        return _SEVERITY[self]


_SEVERITY = {
    Status.PASS: 0,
    Status.INFO: 0,
    Status.SKIP: 1,
    Status.WARN: 2,
    Status.ERROR: 3,
    Status.FAIL: 4,
}


@dataclass(frozen=True)
class Fix:
    """How to fix a warn/fail: a sentence, then commands with the real values filled in."""

    text: str
    commands: Tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "commands": list(self.commands)}


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds identity and timing to make a Result."""

    status: Status
    summary: str
    details: Tuple[str, ...] = ()
    fix: Optional[Fix] = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    id: str
    title: str
    status: Status
    summary: str
    details: Tuple[str, ...] = ()
    fix: Optional[Fix] = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    requires: Tuple[str, ...] = ()
    duration_ms: int = 0

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "details": list(self.details),
            "fix": self.fix.to_dict() if self.fix else None,
            "evidence": dict(self.evidence),
            "requires": list(self.requires),
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Target:
    """The image (or registry) the run is about, as parsed."""

    image: Optional[str] = None
    registry: Optional[str] = None
    account: Optional[str] = None
    region: Optional[str] = None
    repository: Optional[str] = None
    reference: Optional[str] = None
    kind: Optional[str] = None  # private | public | pull-through | other
    ptc_prefix: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "registry": self.registry,
            "account": self.account,
            "region": self.region,
            "repository": self.repository,
            "reference": self.reference,
            "kind": self.kind,
            "ptc_prefix": self.ptc_prefix,
        }


@dataclass(frozen=True)
class HostSummary:
    platform: str
    python: str
    user: str
    in_container: bool
    on_ec2: bool
    hostname: Optional[str] = None  # who this is, for fleet summaries (`aggregate`)
    instance_id: Optional[str] = None  # the EC2 instance id, when the host's DMI data names it

    @property
    def name(self) -> str:
        """`ip-10-0-1-5 (i-0123…)`, or whichever of the two is known; empty when neither is."""
        if self.hostname and self.instance_id:
            return f"{self.hostname} ({self.instance_id})"
        return self.hostname or self.instance_id or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "python": self.python,
            "user": self.user,
            "in_container": self.in_container,
            "on_ec2": self.on_ec2,
            "hostname": self.hostname,
            "instance_id": self.instance_id,
        }


@dataclass(frozen=True)
class Report:
    tool_version: str
    started_at: str
    duration_ms: int
    host: HostSummary
    target: Target
    results: Tuple[Result, ...]
    diagnosis: Tuple[str, ...]

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for r in self.results:
            counts[r.status.value] += 1
        return counts

    @property
    def worst(self) -> Status:
        worst = Status.PASS
        for r in self.results:
            if r.status.severity > worst.severity:
                worst = r.status
        return worst

    def result(self, check_id: str) -> Optional[Result]:
        return next((r for r in self.results if r.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        summary: dict[str, Any] = dict(self.counts())
        summary["status"] = self.worst.value
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "ecrdoctor", "version": self.tool_version},
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "host": self.host.to_dict(),
            "target": self.target.to_dict(),
            "diagnosis": list(self.diagnosis),
            "summary": summary,
            "results": [r.to_dict() for r in self.results],
        }
