"""Renderers: a finished report (or the catalogue) in, text out. They never run checks."""

from __future__ import annotations

import io
import json
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
    h = report.host
    out.line(f"Host       {h.user} on {h.platform}, Python {h.python}"
             f"{', in a container' if h.in_container else ''}{', on EC2' if h.on_ec2 else ''}")
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
