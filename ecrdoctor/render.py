"""Renderers: a finished report (or the catalogue) in, text out. They never run checks."""

from __future__ import annotations

import io
import json
import re
import shlex
import textwrap
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ecrdoctor.api import Check
from ecrdoctor.catalogue import Catalogue, area_rank
from ecrdoctor.model import Fix, Report, Result, Status

MARKS = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "–", "error": "?", "info": "i"}
ASCII_MARKS = {"pass": "ok", "warn": "!", "fail": "x", "skip": "-", "error": "?", "info": "i"}
STYLES = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim", "error": "magenta", "info": "cyan"}


def _console(color: bool, width: Optional[int]) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    console = Console(
        file=buf, width=width or 100, force_terminal=color, no_color=not color,
        color_system="standard" if color else None, highlight=False, emoji=False,
        legacy_windows=False, soft_wrap=False,
    )
    return console, buf


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


class _Writer:
    """Prints lines with a hanging indent: wrapped to the terminal's width, never wrapped when piped."""

    def __init__(self, console: Console, wrap: bool) -> None:
        self.console, self.wrap = console, wrap

    def line(self, text: str = "", indent: str = "", hang: str = "    ", markup: str = "") -> None:
        """`markup` is a rich-markup prefix (a status mark); `text` is plain and escaped here."""
        if not self.wrap or not text:
            self.console.print(f"{indent}{markup}{escape(text)}", soft_wrap=True)
            return
        plain_prefix = len(indent) + len(Text.from_markup(markup).plain)
        chunks = textwrap.wrap(text, width=max(20, self.console.width - plain_prefix),
                               subsequent_indent=hang, break_on_hyphens=False, break_long_words=False)
        self.console.print(f"{indent}{markup}{escape(chunks[0])}", soft_wrap=True)
        for chunk in chunks[1:]:
            self.console.print(" " * plain_prefix + escape(chunk), soft_wrap=True)

    def command(self, cmd: str, indent: str) -> None:
        # never wrapped: a fix command must stay paste-able at any terminal width
        self.console.print(f"{indent}$ {escape(cmd)}", soft_wrap=True)


def report_text(report: Report, verbose: bool = False, color: bool = False,
                width: Optional[int] = None, ascii_only: bool = False) -> str:
    """The human report. `width` wraps prose to a terminal; None leaves lines whole (piped output)."""
    console, buf = _console(color, width)
    out = _Writer(console, wrap=width is not None)
    marks = ASCII_MARKS if ascii_only else MARKS

    def mark(status: Status) -> str:
        return f"[{STYLES[status.value]}]{marks[status.value]}[/] "

    shown_fixes: dict[Fix, str] = {}

    def fix(r: Result, indent: str, label: str = "") -> None:
        if not r.fix:
            return
        if r.fix in shown_fixes:
            out.line(f"Fix: as for {shown_fixes[r.fix]} above.", indent)
            return
        shown_fixes[r.fix] = label or r.id
        out.line(f"Fix: {r.fix.text}", indent)
        for cmd in r.fix.commands:
            out.command(cmd, indent + "  ")

    t = report.target
    console.print(f"[bold]ecrdoctor {escape(report.tool_version)}[/]")
    if t.image:
        out.line(f"Target     {t.image}")
        parts = [f"registry {t.registry}", f"kind {t.kind}"]
        parts += [f"account {t.account}"] if t.account else []
        parts += [f"region {t.region}"] if t.region else []
        out.line(", ".join(parts), indent="           ")
        if t.repository:
            out.line(f"repository {t.repository}, reference {t.reference or ''}", indent="           ")
    else:
        out.line("Target     (none: host-wide checks and the registries the docker config names)")
    out.line(f"Host       {_host_line(report)}")
    console.print()

    console.print("[bold]Diagnosis[/]")
    if report.diagnosis:
        first = report.result(report.diagnosis[0])
        assert first is not None
        out.line(f"{first.summary} ({first.id})", indent="  ", markup=mark(first.status))
        fix(first, indent="    ", label="the Diagnosis")
        if len(report.diagnosis) > 1:
            out.line(f"Also failing: {', '.join(report.diagnosis[1:])}", indent="  ")
    else:
        errors = [r for r in report.results if r.status is Status.ERROR]
        warns = [r for r in report.results if r.status is Status.WARN]
        if errors:
            out.line(f"No check failed, but {len(errors)} could not finish: {', '.join(r.id for r in errors)}",
                     indent="  ", markup=mark(Status.ERROR))
        elif warns:
            out.line(f"Nothing blocks the pull; {len(warns)} warning(s) below.", indent="  ",
                     markup=mark(Status.WARN))
        else:
            out.line("No problem found.", indent="  ", markup=mark(Status.PASS))
    console.print()

    for area in sorted({r.area for r in report.results}, key=lambda a: (area_rank(a), a)):
        console.print(f"[bold]{escape(area)}[/]")
        shown_skips: set[str] = set()
        in_area = [r for r in report.results if r.area == area]
        for r in in_area:
            if r.status is Status.SKIP and not verbose:
                # skips that share a reason ("needs aws.identity") take one line, not one each
                if r.summary in shown_skips:
                    continue
                shown_skips.add(r.summary)
                same = [x.id for x in in_area if x.status is Status.SKIP and x.summary == r.summary]
                out.line(f"{', '.join(same)}  {r.summary}", indent="  ", markup=mark(r.status))
                continue
            out.line(f"{r.id}  {r.summary}", indent="  ", markup=mark(r.status))
            if r.status in (Status.WARN, Status.FAIL, Status.ERROR) or verbose:
                for detail in r.details:
                    out.line(detail, indent="      ")
                if verbose and r.evidence:
                    out.line("evidence: " + json.dumps(r.evidence, sort_keys=True), indent="      ")
            if r.status in (Status.WARN, Status.FAIL):
                fix(r, indent="      ")
    c = report.counts()
    console.print()
    out.line(f"{c['pass']} pass, {c['warn']} warn, {c['fail']} fail, {c['skip']} skip, {c['error']} error, "
             f"{c['info']} info in {report.duration_ms / 1000:.1f} s")
    return buf.getvalue()


def catalogue_json(catalogue: Catalogue) -> str:
    rows: list[dict[str, Any]] = [
        {"id": c.id, "area": c.area, "title": c.title, "requires": list(c.requires),
         "network": c.network, "timeout": c.timeout, "module": c.module}
        for c in catalogue.checks
    ]
    return json.dumps({"checks": rows, "load_errors": [f.__dict__ for f in catalogue.failures]}, indent=2) + "\n"


def catalogue_text(catalogue: Catalogue, width: Optional[int] = None) -> str:
    console, buf = _console(False, width)
    w = max((len(c.id) for c in catalogue.checks), default=10)
    for c in catalogue.checks:
        console.print(escape(f"{c.id:<{w}}  {c.area:<9} {c.title}"), soft_wrap=True)
    for f in catalogue.failures:
        console.print(escape(f"(could not load {f.module}: {f.message})"))
    return buf.getvalue()


def explain_text(chk: Check) -> str:
    lines = [f"{chk.id} — {chk.title}", ""]
    lines += [chk.doc or "(this check has no description)", ""]
    lines.append(f"Area: {chk.area}.  Module: {chk.module}.  Timeout: {chk.timeout:g} s.")
    if chk.requires:
        lines.append(f"Requires: {', '.join(chk.requires)} (skipped when one of them fails, errors or skips).")
    if chk.network:
        lines.append("Needs the network: skipped with --offline.")
    return "\n".join(lines) + "\n"


# --- Markdown: a block to paste into a ticket -------------------------------------------------------

BUNDLE_FILE = "ecrdoctor-bundle.tar.gz"
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MD_INLINE = re.compile(r"([\\`*\[\]<>|&~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_BLOCK_START = re.compile(r"^(?:([#+\-=])|(\d+)([.)])(?=\s|$))")


def _printable(text: str) -> str:
    """Control characters (terminal escapes) and lone surrogates, which neither XML 1.0 nor a ticket can
    carry, written as \\xNN instead."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _md(text: str, line_start: bool = False) -> str:
    """Prose as literal Markdown: nothing in a summary can open a fence, a tag, a link or a table cell.

    `line_start`: the text begins a line (a paragraph or a list item), where `#`, `-`, `>` or `1.` would
    start a heading, a list or a quote."""
    escaped = _MD_INLINE.sub(lambda m: "\\" + m.group(0), _printable(" ".join(text.split())))
    if not line_start:
        return escaped
    return _MD_BLOCK_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", escaped)


def _md_code(text: str) -> str:
    """An inline code span that survives backticks inside it."""
    flat = _printable(" ".join(text.split()))
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def _md_fence(commands: tuple[str, ...]) -> list[str]:
    """Commands in a fenced block one backtick longer than any backtick run inside them."""
    body = _printable("\n".join(commands).replace("\r", " "))
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    return [f"{fence}sh", *body.splitlines(), fence]


def _md_status(status: Status) -> str:
    return f"{MARKS[status.value]} **{status.value}**"


def _target_line(report: Report) -> str:
    t = report.target
    if not t.image:
        return "(none: host-wide checks and the registries the docker config names)"
    parts = [f"registry {t.registry}", f"kind {t.kind}"]
    parts += [f"account {t.account}"] if t.account else []
    parts += [f"region {t.region}"] if t.region else []
    where = ", ".join(parts) + (f"; repository {t.repository}, reference {t.reference or ''}" if t.repository else "")
    return f"{_md_code(t.image)} ({_md(where)})"


def _host_line(report: Report) -> str:
    h = report.host
    return (f"{h.name + ': ' if h.name else ''}{h.user} on {h.platform}, Python {h.python}"
            f"{', in a container' if h.in_container else ''}{', on EC2' if h.on_ec2 else ''}")


def _counts_line(report: Report) -> str:
    c = report.counts()
    return ", ".join(f"{c[s.value]} {s.value}" for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS,
                                                            Status.SKIP, Status.INFO))


def report_markdown(report: Report) -> str:
    """A paste-ready ticket block: who and what, the diagnosis, the checks that need attention, the bundle."""
    lines: list[str] = []
    shown_fixes: dict[Fix, str] = {}

    def fix(r: Result, label: str) -> None:
        if not r.fix:
            return
        if r.fix in shown_fixes:
            lines.extend([f"**Fix:** as for {shown_fixes[r.fix]} above.", ""])
            return
        shown_fixes[r.fix] = label
        lines.extend([f"**Fix:** {_md(r.fix.text)}", ""])
        if r.fix.commands:
            lines.extend([*_md_fence(r.fix.commands), ""])

    t = report.target
    lines += [f"### ecrdoctor report: {_md_code(t.image) if t.image else 'this host'}", ""]
    lines += [f"- **Tool:** ecrdoctor {_md(report.tool_version)}",
              f"- **Target:** {_target_line(report)}",
              f"- **Host:** {_md(_host_line(report))}",
              f"- **Result:** {_counts_line(report)} (worst: {report.worst.value}); "
              f"run at {_md(report.started_at)} in {report.duration_ms / 1000:.1f} s", ""]

    lines += ["#### Diagnosis", ""]
    if report.diagnosis:
        first = report.result(report.diagnosis[0])
        assert first is not None
        lines += [f"{_md_status(first.status)} {_md_code(first.id)}: {_md(first.summary)}", ""]
        fix(first, "the Diagnosis")
        if len(report.diagnosis) > 1:
            lines += ["Also failing: " + ", ".join(_md_code(i) for i in report.diagnosis[1:]) + ".", ""]
    else:
        errors = [r.id for r in report.results if r.status is Status.ERROR]
        warns = [r for r in report.results if r.status is Status.WARN]
        if errors:
            lines.append(f"No check failed, but {len(errors)} could not finish: "
                         + ", ".join(_md_code(i) for i in errors) + ".")
        elif warns:
            lines.append(f"Nothing blocks the pull; {len(warns)} warning(s) below.")
        else:
            lines.append("No problem found.")
        lines.append("")

    attention = sorted((r for r in report.results if r.status in (Status.FAIL, Status.ERROR, Status.WARN)),
                       key=lambda r: -r.status.severity)
    if attention:
        lines += ["#### Checks that need attention", ""]
        for r in attention:
            lines += [f"##### {_md_status(r.status)} {_md_code(r.id)}: {_md(r.title)}", "",
                      _md(r.summary, line_start=True), ""]
            if r.details:
                lines += [f"- {_md(d, line_start=True)}" for d in r.details] + [""]
            fix(r, _md_code(r.id))

    image = shlex.quote(t.image) + " " if t.image else ""
    lines += ["#### Evidence", "",
              f"Run this on the same host and attach {_md_code(BUNDLE_FILE)} to this ticket "
              "(secrets in it are redacted):", "",
              *_md_fence((f"ecrdoctor bundle {image}-o {BUNDLE_FILE}",)), ""]

    lines += [f"<details><summary>All {len(report.results)} results</summary>", ""]
    lines += [f"- {_md_status(r.status)} {_md_code(r.id)}: {_md(r.summary)}" for r in report.results]
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


# --- JUnit XML: one testcase per check, for CI dashboards ---------------------------------------------

_JUNIT_ELEMENT = {Status.FAIL: "failure", Status.ERROR: "error",
                  Status.WARN: "skipped", Status.SKIP: "skipped", Status.INFO: "skipped"}


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def _junit_body(r: Result) -> str:
    lines = [f"{r.status.value}: {r.summary}", *r.details]
    if r.fix:
        lines.append(f"Fix: {r.fix.text}")
        lines += [f"$ {c}" for c in r.fix.commands]
    return _printable("\n".join(lines))


def report_junit(report: Report) -> str:
    """JUnit XML: fail→failure, error→error, warn/skip/info→skipped (message: the summary), the JSON in system-out."""
    from xml.etree import ElementTree as ET

    c = report.counts()
    totals = {"tests": str(len(report.results)), "failures": str(c["fail"]), "errors": str(c["error"]),
              "skipped": str(c["warn"] + c["skip"] + c["info"]), "time": _seconds(report.duration_ms)}
    suite_name = f"ecrdoctor check {report.target.image}" if report.target.image else "ecrdoctor check"
    root = ET.Element("testsuites", {"name": "ecrdoctor", **totals})
    suite = ET.SubElement(root, "testsuite", {
        "name": _printable(suite_name), **totals, "id": "0", "package": "ecrdoctor",
        "timestamp": report.started_at.rstrip("Z"),
    })
    props = ET.SubElement(suite, "properties")
    facts = {"tool_version": report.tool_version, "status": report.worst.value,
             "diagnosis": ",".join(report.diagnosis),
             **{f"host.{k}": str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in report.host.to_dict().items()},
             **{f"target.{k}": str(v) for k, v in report.target.to_dict().items() if v is not None}}
    for name, value in facts.items():
        ET.SubElement(props, "property", {"name": name, "value": _printable(value)})
    for r in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": r.area, "name": r.id,
                                                  "time": _seconds(r.duration_ms)})
        element = _JUNIT_ELEMENT.get(r.status)
        if element is None:
            continue
        attrs = {"message": _printable(r.summary)}
        if element != "skipped":
            attrs["type"] = r.status.value
        ET.SubElement(case, element, attrs).text = _junit_body(r)
    ET.SubElement(suite, "system-out").text = _printable(report_json(report))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
