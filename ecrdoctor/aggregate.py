"""Fleet summary of many JSON reports: which root causes and failing checks, on how many hosts.

Reports are read one at a time (files, directories walked recursively, or a stream of JSON documents on
stdin) and reduced to counters plus the first few host names of each group, so memory stays flat however
many reports there are. A file that is not a readable report is counted, and a few are named, never fatal.

A host's *root cause* is the first id of its report's diagnosis (the most upstream failing check) with that
result's summary; summaries are grouped after masking what differs from host to host (numbers, instance
ids, times, temp paths), so `token expired 3 h ago` and `token expired 5 h ago` are one cause.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, TextIO, Tuple

EXAMPLES = 3  # host names kept per group
UNREADABLE_EXAMPLES = 5
MAX_REPORT_BYTES = 16 * 1024 * 1024

_VARYING = (
    (re.compile(r"\bi-[0-9a-f]{8,17}\b"), "i-…"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z| UTC|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"/tmp/[^\s,;:)'\"]+"), "/tmp/…"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "N"),
)


def cause_key(summary: str) -> str:
    """A summary with what varies between hosts masked: the key that groups one cause across a fleet."""
    for pattern, repl in _VARYING:
        summary = pattern.sub(repl, summary)
    return summary


@dataclass
class Group:
    """Hosts that share something: a count, the first few names, and one example summary and fix."""

    hosts: int = 0
    examples: list[str] = field(default_factory=list)
    summary: str = ""
    fix: Optional[dict[str, Any]] = None

    def add(self, host: str, summary: str = "", fix: Optional[dict[str, Any]] = None) -> None:
        self.hosts += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(host)
        if not self.summary:
            self.summary, self.fix = summary, fix


@dataclass
class CheckCounts:
    fail: int = 0
    error: int = 0
    warn: int = 0
    examples: list[str] = field(default_factory=list)  # hosts where it failed or errored first

    @property
    def hosts(self) -> int:
        return self.fail + self.error + self.warn


@dataclass
class Fleet:
    reports: int = 0
    unreadable: int = 0
    unreadable_examples: list[Tuple[str, str]] = field(default_factory=list)
    healthy: int = 0  # no fail and no error
    causes: dict[Tuple[str, str], Group] = field(default_factory=dict)
    checks: dict[str, CheckCounts] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def bad(self, source: str, why: str) -> None:
        self.unreadable += 1
        if len(self.unreadable_examples) < UNREADABLE_EXAMPLES:
            self.unreadable_examples.append((source, why))

    def add(self, report: Any, source: str) -> None:
        if not isinstance(report, dict) or not isinstance(report.get("results"), list):
            self.bad(source, "not an ecrdoctor report (no results)")
            return
        if str(report.get("schema_version", "")) != "1":
            self.bad(source, f"schema_version {report.get('schema_version')!r}, not 1")
            return
        self.reports += 1
        host = host_name(report, source)
        version = str((report.get("tool") or {}).get("version", "?"))
        self.versions[version] = self.versions.get(version, 0) + 1
        by_id: dict[str, dict[str, Any]] = {}
        for result in report["results"]:
            if not isinstance(result, dict):
                continue
            rid, status = str(result.get("id", "?")), result.get("status")
            by_id[rid] = result
            if status in ("fail", "error", "warn"):
                counts = self.checks.setdefault(rid, CheckCounts())
                setattr(counts, status, getattr(counts, status) + 1)
                if status != "warn" and len(counts.examples) < EXAMPLES:
                    counts.examples.append(host)
        diagnosis = [d for d in report.get("diagnosis") or () if isinstance(d, str)]
        if diagnosis:
            root = by_id.get(diagnosis[0], {})
            summary = str(root.get("summary", ""))
            group = self.causes.setdefault((diagnosis[0], cause_key(summary)), Group())
            group.add(host, summary, root.get("fix") if isinstance(root.get("fix"), dict) else None)
        elif not any(r.get("status") == "error" for r in by_id.values()):
            self.healthy += 1
        else:
            group = self.causes.setdefault(("(error)", "checks errored or timed out, none failed"), Group())
            errored = [rid for rid, r in by_id.items() if r.get("status") == "error"]
            group.add(host, "checks errored or timed out: " + ", ".join(errored[:4]))

    def ranked_causes(self) -> list[Tuple[str, Group]]:
        return sorted(((cid, g) for (cid, _), g in self.causes.items()), key=lambda item: (-item[1].hosts, item[0]))

    def ranked_checks(self) -> list[Tuple[str, CheckCounts]]:
        return sorted(self.checks.items(), key=lambda item: (-(item[1].fail + item[1].error), -item[1].warn, item[0]))


def host_name(report: dict[str, Any], source: str) -> str:
    """The host a report came from: the EC2 instance id the report found; else the directory of
    `<prefix>/<instance-id>/report.json` (the SSM layout names it); else the report's host name; else the
    file's name."""
    found = report.get("host")
    host: dict[str, Any] = found if isinstance(found, dict) else {}
    if host.get("instance_id"):
        return str(host["instance_id"])
    path = Path(source)
    if path.stem in ("report", "ecrdoctor", "ecrdoctor-report") and path.parent.name:
        return path.parent.name
    if host.get("hostname"):
        return str(host["hostname"])
    return path.stem or source


def iter_paths(inputs: Iterable[str]) -> Iterator[Tuple[str, Optional[Path]]]:
    """Each input, directories walked (sorted, *.json only); "-" stands for stdin (path None)."""
    for item in inputs:
        if item == "-":
            yield item, None
            continue
        path = Path(item)
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".json"):
                        yield os.path.join(folder, name), Path(folder, name)
        else:
            yield item, path


def read_stream(stream: TextIO) -> Iterator[Any]:
    """Every JSON document on a stream: one, or several one after another (JSON Lines or concatenated)."""
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in iter(lambda: stream.read(1 << 20), ""):
        buffer += chunk
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                doc, end = decoder.raw_decode(buffer)
            except ValueError:
                break  # incomplete: read more
            yield doc
            buffer = buffer[end:]
    if buffer.strip():
        raise ValueError("trailing data on stdin is not JSON")


def aggregate(inputs: Iterable[str], stdin: Optional[TextIO] = None) -> Fleet:
    fleet = Fleet()
    for source, path in iter_paths(inputs):
        if path is None:
            try:
                for n, doc in enumerate(read_stream(stdin) if stdin is not None else iter(()), 1):
                    fleet.add(doc, f"stdin#{n}")
            except ValueError as exc:
                fleet.bad("stdin", str(exc))
            continue
        try:
            if path.stat().st_size > MAX_REPORT_BYTES:
                fleet.bad(source, f"larger than {MAX_REPORT_BYTES // (1024 * 1024)} MiB")
                continue
            with open(path, "rb") as fh:
                doc = json.loads(fh.read())
        except OSError as exc:
            fleet.bad(source, exc.strerror or type(exc).__name__)
            continue
        except ValueError as exc:
            fleet.bad(source, f"not JSON ({str(exc)[:80]})")
            continue
        fleet.add(doc, source)
    return fleet


# -- rendering -----------------------------------------------------------------------------------------


def _hosts(group_hosts: int, examples: list[str]) -> str:
    more = group_hosts - len(examples)
    return ", ".join(examples) + (f" (+{more} more)" if more > 0 else "")


def fleet_json(fleet: Fleet) -> str:
    doc = {
        "reports": fleet.reports,
        "unreadable": fleet.unreadable,
        "unreadable_examples": [{"source": s, "reason": r} for s, r in fleet.unreadable_examples],
        "healthy": fleet.healthy,
        "tool_versions": dict(sorted(fleet.versions.items())),
        "root_causes": [{"check": cid, "hosts": g.hosts, "examples": g.examples, "summary": g.summary, "fix": g.fix}
                        for cid, g in fleet.ranked_causes()],
        "checks": [{"id": cid, "hosts": c.hosts, "fail": c.fail, "error": c.error, "warn": c.warn,
                    "examples": c.examples} for cid, c in fleet.ranked_checks()],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def fleet_text(fleet: Fleet) -> str:
    lines = [f"{fleet.reports} reports" + (f", {fleet.unreadable} unreadable" if fleet.unreadable else "")
             + f"; {fleet.healthy} hosts with nothing failing", ""]
    causes = fleet.ranked_causes()
    if causes:
        lines.append("Root causes, most widespread first")
        for cid, g in causes:
            lines.append(f"  {g.hosts:>6} hosts  {cid}: {g.summary}")
            lines.append(f"               e.g. {_hosts(g.hosts, g.examples)}")
            if g.fix and g.fix.get("commands"):
                lines.extend(f"               $ {c}" for c in g.fix["commands"])
        lines.append("")
    checks = fleet.ranked_checks()
    if checks:
        lines.append("Checks needing attention (hosts: fail / error / warn)")
        width = max(len(cid) for cid, _ in checks)
        for cid, c in checks:
            where = f"  e.g. {_hosts(c.fail + c.error, c.examples)}" if c.examples else ""
            lines.append(f"  {cid:<{width}}  {c.fail:>6} / {c.error:>6} / {c.warn:>6}{where}")
        lines.append("")
    if fleet.unreadable_examples:
        lines.append("Unreadable")
        lines.extend(f"  {s}: {r}" for s, r in fleet.unreadable_examples)
        if fleet.unreadable > len(fleet.unreadable_examples):
            lines.append(f"  … and {fleet.unreadable - len(fleet.unreadable_examples)} more")
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def fleet_markdown(fleet: Fleet) -> str:
    out = [f"### ecrdoctor fleet summary: {fleet.reports} reports", "",
           f"{fleet.healthy} hosts with nothing failing" + (f"; {fleet.unreadable} unreadable reports"
                                                            if fleet.unreadable else ""), ""]
    causes = fleet.ranked_causes()
    if causes:
        out += ["| hosts | root cause | summary | e.g. |", "|---:|---|---|---|"]
        out += [f"| {g.hosts} | `{cid}` | {_md(g.summary)} | {_md(_hosts(g.hosts, g.examples))} |"
                for cid, g in causes]
        out.append("")
    checks = fleet.ranked_checks()
    if checks:
        out += ["| check | fail | error | warn |", "|---|---:|---:|---:|"]
        out += [f"| `{cid}` | {c.fail} | {c.error} | {c.warn} |" for cid, c in checks]
        out.append("")
    return "\n".join(out)
