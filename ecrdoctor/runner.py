"""Runs the selected checks concurrently, in `requires` order, inside per-check and whole-run deadlines."""

from __future__ import annotations

import fnmatch
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

from ecrdoctor.api import Check, SkipCheck
from ecrdoctor.catalogue import Catalogue, LoadFailure
from ecrdoctor.context import Context
from ecrdoctor.model import Fix, Outcome, Result, Status
from ecrdoctor.tape import NotInBundle

MAX_WORKERS = 8

Progress = Callable[[Sequence[str], int, int], None]  # running ids, finished count, total


def _matches(check_id: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(check_id, p) for p in patterns)


def select(catalogue: Catalogue, only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Check]:
    """--only keeps matching checks and everything they require; --skip removes matches."""
    chosen = {c.id for c in catalogue.checks if not only or _matches(c.id, only)}
    if only:
        stack = list(chosen)
        while stack:
            c = catalogue.get(stack.pop())
            for req in c.requires if c else ():
                if req not in chosen:
                    chosen.add(req)
                    stack.append(req)
    return [c for c in catalogue.checks if c.id in chosen and not _matches(c.id, skip)]


def load_failure_results(failures: Iterable[LoadFailure]) -> list[Result]:
    return [
        Result(
            id=f"plugin.{_slug(f.entry_point)}",
            title=f"Load checks from {f.module}",
            status=Status.ERROR,
            summary=f"could not load check module {f.module} (entry point {f.entry_point}): {f.message}",
        )
        for f in failures
    ]


def _slug(name: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return out if out and out[0].isalpha() else f"x{out}"


@dataclass
class _Running:
    check: Check
    started: float
    expires: float


class Runner:
    """Schedules checks on daemon threads so a check stuck in a system call never holds the run."""

    def __init__(self, ctx: Context, checks: Sequence[Check], max_workers: int = MAX_WORKERS,
                 progress: Optional[Progress] = None) -> None:
        self.ctx = ctx
        self.checks = list(checks)
        self.max_workers = max_workers
        self.progress = progress
        self._done: queue.Queue[tuple[str, Result]] = queue.Queue()

    def run(self) -> list[Result]:
        ctx = self.ctx
        selected = {c.id for c in self.checks}
        results: dict[str, Result] = {}
        pending = list(self.checks)
        running: dict[str, _Running] = {}
        while pending or running:
            # start every check whose requirements have finished, up to the worker limit
            for chk in list(pending):
                if len(running) >= self.max_workers:
                    break
                reqs = [r for r in chk.requires if r in selected]
                if any(r not in results for r in reqs):
                    continue
                pending.remove(chk)
                blocked = [r for r in reqs if results[r].status in (Status.FAIL, Status.ERROR, Status.SKIP)]
                if blocked:
                    results[chk.id] = self._result(chk, Outcome(Status.SKIP, f"needs {', '.join(blocked)}"), 0)
                    continue
                now = time.monotonic()
                running[chk.id] = _Running(chk, now, now + chk.timeout)
                threading.Thread(target=self._work, args=(chk,), name=f"check:{chk.id}", daemon=True).start()
            self._report_progress(running, results)
            if not running:
                if pending and not any(self._startable(c, results, selected) for c in pending):
                    break  # a requirement cycle; remaining checks reported below
                continue
            wake = min([ctx.deadline] + [r.expires for r in running.values()])
            try:
                check_id, result = self._done.get(timeout=max(0.0, wake - time.monotonic()))
                if check_id in running:  # a late answer from an abandoned check is dropped
                    del running[check_id]
                    results[check_id] = result
            except queue.Empty:
                pass
            now = time.monotonic()
            if now >= ctx.deadline:
                break
            for cid, r in list(running.items()):
                if now >= r.expires:
                    del running[cid]
                    results[cid] = self._timed_out(r.check, r.check.timeout, now - r.started)
        now = time.monotonic()
        for cid, r in running.items():
            results[cid] = self._timed_out(r.check, ctx.options.timeout, now - r.started, whole_run=True)
        for chk in pending:
            results[chk.id] = self._result(
                chk, Outcome(Status.ERROR, f"not run: the run's deadline of {ctx.options.timeout:g} s was reached"
                             if now >= ctx.deadline else "not run: its requirements never finished"), 0)
        self._report_progress({}, results)
        return [results[c.id] for c in self.checks]

    @staticmethod
    def _startable(chk: Check, results: dict[str, Result], selected: set[str]) -> bool:
        return all(r in results for r in chk.requires if r in selected)

    def _report_progress(self, running: dict[str, _Running], results: dict[str, Result]) -> None:
        if self.progress is not None:
            self.progress(sorted(running), len(results), len(self.checks))

    def _work(self, chk: Check) -> None:
        started = time.monotonic()
        outcome = self._evaluate(chk)
        self._done.put((chk.id, self._result(chk, outcome, time.monotonic() - started)))

    def _evaluate(self, chk: Check) -> Outcome:
        ctx = self.ctx
        try:
            if chk.network and ctx.options.offline:
                return Outcome(Status.SKIP, "offline: this check needs the network (--offline)")
            if chk.applies_when is not None:
                reason = chk.applies_when(ctx)
                if reason:
                    return Outcome(Status.SKIP, reason)
            outcome = chk.func(ctx)
            if not isinstance(outcome, Outcome):
                raise TypeError(f"check returned {type(outcome).__name__}, not an Outcome")
            return outcome
        except SkipCheck as exc:
            return Outcome(Status.SKIP, str(exc))
        except NotInBundle as exc:
            return Outcome(Status.SKIP, f"not in bundle: the recording has no answer for {exc.kind} {exc.key}"[:240])
        except Exception as exc:
            if _unreachable(exc):  # not the check breaking: it cannot be evaluated from here
                return Outcome(Status.SKIP, f"cannot reach AWS from here ({type(exc).__name__}: {exc}); net.dns and "
                               "net.reach say why")
            details: tuple[str, ...] = ()
            if ctx.options.verbose:
                details = tuple(traceback.format_exc().rstrip().splitlines())
            return Outcome(Status.ERROR, f"{type(exc).__name__}: {exc}", details)

    def _result(self, chk: Check, outcome: Outcome, seconds: float) -> Result:
        clean = self.ctx.redactor
        return Result(
            id=chk.id,
            title=chk.title,
            status=outcome.status,
            summary=clean.text(outcome.summary),
            details=tuple(clean.text(d) for d in outcome.details),
            fix=Fix(clean.text(outcome.fix.text), tuple(clean.text(c) for c in outcome.fix.commands))
            if outcome.fix else None,
            evidence=clean.value(dict(outcome.evidence)),
            requires=chk.requires,
            duration_ms=int(seconds * 1000),
        )

    def _timed_out(self, chk: Check, limit: float, seconds: float, whole_run: bool = False) -> Result:
        why = " (the run's --timeout)" if whole_run else ""
        return self._result(chk, Outcome(Status.ERROR, f"timed out after {limit:g} s{why}"), seconds)


# botocore's errors for an endpoint that cannot be reached at all (no answer, refused, no route, no DNS)
_UNREACHABLE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                          "ProxyConnectionError"})


def _unreachable(exc: BaseException) -> bool:
    return any(cls.__name__ in _UNREACHABLE for cls in type(exc).__mro__)


def diagnose(results: Sequence[Result], checks: Sequence[Check]) -> tuple[str, ...]:
    """Failing checks, most upstream first: catalogue order already puts causes before effects."""
    order = {c.id: i for i, c in enumerate(checks)}
    failing = [r for r in results if r.status is Status.FAIL]
    return tuple(r.id for r in sorted(failing, key=lambda r: order.get(r.id, len(order))))
