"""One call from options to a finished report: what `ecrdoctor check` does."""

from __future__ import annotations

import datetime
import time
from typing import Optional

from ecrdoctor import __version__
from ecrdoctor.catalogue import Catalogue, load_catalogue
from ecrdoctor.context import Context, RunOptions
from ecrdoctor.model import Report
from ecrdoctor.runner import Progress, Runner, diagnose, load_failure_results, select
from ecrdoctor.tape import Tape


def run_check(options: RunOptions, catalogue: Optional[Catalogue] = None,
              progress: Optional[Progress] = None, env: Optional[dict[str, str]] = None,
              tape: Optional[Tape] = None) -> Report:
    """Run the selected checks against this host, or a recording of one (raises ReferenceError for an
    unparseable IMAGE). A tape in record mode collects what a bundle holds; in replay mode it answers."""
    started_wall = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    ctx = Context.create(options, env=env, tape=tape)
    catalogue = catalogue or load_catalogue()
    checks = select(catalogue, options.only, options.skip)
    results = load_failure_results(catalogue.failures) + Runner(ctx, checks, progress=progress).run()
    return Report(
        tool_version=__version__,
        started_at=started_wall.isoformat(timespec="seconds").replace("+00:00", "Z"),
        duration_ms=int((time.monotonic() - started) * 1000),
        host=ctx.host.summary(),
        target=ctx.target(),
        results=tuple(results),
        diagnosis=diagnose(results, checks),
    )


def exit_code(report: Report, fail_on: str = "fail", exit_zero: bool = False) -> int:
    """SPEC §5: 1 for any fail (or warn with --fail-on warn), else 3 for any error, else 0."""
    if exit_zero:
        return 0
    counts = report.counts()
    if counts["fail"] or (fail_on == "warn" and counts["warn"]):
        return 1
    if counts["error"]:
        return 3
    return 0
