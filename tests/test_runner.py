"""The runner: ordering by requires, concurrency, per-check and whole-run deadlines, errors, selection."""

from __future__ import annotations

import threading
import time

import pytest

from ecrdoctor.api import SkipCheck, check, fail, passed, warn
from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import Context, RunOptions
from ecrdoctor.model import Status
from ecrdoctor.runner import Runner, diagnose, select


def ctx_for(timeout: float = 10, verbose: bool = False, offline: bool = False) -> Context:
    return Context.create(RunOptions(timeout=timeout, verbose=verbose, offline=offline))


def by_id(results):  # type: ignore[no-untyped-def]
    return {r.id: r for r in results}


def test_a_check_runs_after_what_it_requires_and_sees_its_effect() -> None:
    seen: list[str] = []

    @check("a.first", title="first")
    def first(ctx):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        seen.append("first")
        return passed("ok")

    @check("b.second", title="second", requires=["a.first"])
    def second(ctx):  # type: ignore[no-untyped-def]
        seen.append("second")
        return passed("ok")

    results = Runner(ctx_for(), [first, second]).run()
    assert seen == ["first", "second"]
    assert [r.status for r in results] == [Status.PASS, Status.PASS]


def test_independent_checks_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=2)

    def make(i: int):  # type: ignore[no-untyped-def]
        @check(f"c.n{i}", title=str(i))
        def f(ctx):  # type: ignore[no-untyped-def]
            barrier.wait()  # only returns if all three are running at once
            return passed("met")
        return f

    started = time.monotonic()
    results = Runner(ctx_for(), [make(i) for i in range(3)]).run()
    assert all(r.status is Status.PASS for r in results), [r.summary for r in results]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("upstream", [fail("broken"), warn("risky")])
def test_a_failed_requirement_skips_the_dependent_but_a_warning_does_not(upstream) -> None:  # type: ignore[no-untyped-def]
    @check("a.up", title="up")
    def up(ctx):  # type: ignore[no-untyped-def]
        return upstream

    @check("a.down", title="down", requires=["a.up"])
    def down(ctx):  # type: ignore[no-untyped-def]
        return passed("ran")

    r = by_id(Runner(ctx_for(), [up, down]).run())
    if upstream.status is Status.FAIL:
        assert r["a.down"].status is Status.SKIP and r["a.down"].summary == "needs a.up"
    else:
        assert r["a.down"].status is Status.PASS


def test_a_check_past_its_own_timeout_is_an_error_and_the_rest_still_finish() -> None:
    @check("slow.one", title="slow", timeout=0.3)
    def slow(ctx):  # type: ignore[no-untyped-def]
        time.sleep(5)
        return passed("never")

    @check("fast.one", title="fast")
    def fast(ctx):  # type: ignore[no-untyped-def]
        return passed("done")

    started = time.monotonic()
    r = by_id(Runner(ctx_for(), [slow, fast]).run())
    assert time.monotonic() - started < 1.5
    assert r["slow.one"].status is Status.ERROR
    assert r["slow.one"].summary == "timed out after 0.3 s"
    assert r["fast.one"].status is Status.PASS


def test_the_run_deadline_ends_everything_on_time() -> None:
    @check("hang.one", title="hangs", timeout=60)
    def hang(ctx):  # type: ignore[no-untyped-def]
        time.sleep(30)
        return passed("never")

    @check("hang.two", title="waits for the hung one", requires=["hang.one"])
    def after(ctx):  # type: ignore[no-untyped-def]
        return passed("never")

    started = time.monotonic()
    r = by_id(Runner(ctx_for(timeout=1), [hang, after]).run())
    assert time.monotonic() - started < 2
    assert r["hang.one"].status is Status.ERROR and "timed out after 1 s" in r["hang.one"].summary
    assert r["hang.two"].status is Status.ERROR and "deadline" in r["hang.two"].summary


def test_an_exception_becomes_an_error_with_type_and_redacted_message() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"

    @check("boom.one", title="boom")
    def boom(ctx):  # type: ignore[no-untyped-def]
        raise ValueError(f"aws_secret_access_key = {secret}")

    quiet = by_id(Runner(ctx_for(), [boom]).run())["boom.one"]
    assert quiet.status is Status.ERROR
    assert quiet.summary.startswith("ValueError: aws_secret_access_key = ")
    assert secret not in quiet.summary and quiet.details == ()
    loud = by_id(Runner(ctx_for(verbose=True), [boom]).run())["boom.one"]
    assert any("Traceback" in line for line in loud.details)
    assert not any(secret in line for line in loud.details)


def test_skipcheck_and_applies_when_report_skip_with_the_reason() -> None:
    @check("s.raise", title="raises skip")
    def raises(ctx):  # type: ignore[no-untyped-def]
        raise SkipCheck("not on EC2")

    @check("s.pred", title="predicate", applies_when=lambda ctx: "only for pull-through targets")
    def pred(ctx):  # type: ignore[no-untyped-def]
        raise AssertionError("must not run")

    @check("s.net", title="network", network=True)
    def net(ctx):  # type: ignore[no-untyped-def]
        raise AssertionError("must not run offline")

    r = by_id(Runner(ctx_for(offline=True), [raises, pred, net]).run())
    assert (r["s.raise"].status, r["s.raise"].summary) == (Status.SKIP, "not on EC2")
    assert (r["s.pred"].status, r["s.pred"].summary) == (Status.SKIP, "only for pull-through targets")
    assert r["s.net"].status is Status.SKIP and "offline" in r["s.net"].summary


def _catalogue() -> Catalogue:
    def mk(cid: str, requires: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
        return check(cid, title=cid, requires=requires)(lambda ctx: passed("x"))

    return Catalogue((mk("aws.credentials"), mk("aws.identity", ("aws.credentials",)), mk("docker.config"),
                      mk("docker.credentials", ("docker.config",)), mk("docker.token", ("docker.config",))))


def test_only_keeps_what_the_selected_checks_require() -> None:
    assert [c.id for c in select(_catalogue(), only=["docker.credentials"])] == ["docker.config",
                                                                                 "docker.credentials"]


def test_only_and_skip_take_globs() -> None:
    assert [c.id for c in select(_catalogue(), only=["aws.*"])] == ["aws.credentials", "aws.identity"]
    assert [c.id for c in select(_catalogue(), skip=["docker.*"])] == ["aws.credentials", "aws.identity"]


def test_diagnosis_puts_the_upstream_cause_first() -> None:
    @check("docker.config", title="x")
    def cfg(ctx):  # type: ignore[no-untyped-def]
        return passed("ok")

    @check("aws.credentials", title="x")
    def creds(ctx):  # type: ignore[no-untyped-def]
        return fail("no credentials")

    @check("docker.credentials", title="x", requires=["docker.config"])
    def dcreds(ctx):  # type: ignore[no-untyped-def]
        return fail("nothing for host")

    ordered = [creds, cfg, dcreds]  # catalogue order: areas aws before docker
    results = Runner(ctx_for(), list(reversed(ordered))).run()
    assert diagnose(results, ordered) == ("aws.credentials", "docker.credentials")


def test_check_ids_and_requires_are_validated() -> None:
    with pytest.raises(ValueError, match="area.name"):
        check("NoArea", title="x")
    with pytest.raises(ValueError, match="area.name"):
        check("a.b", title="x", requires=["bad id"])


def test_an_aws_endpoint_nobody_can_reach_makes_the_check_skip_not_error() -> None:
    """A check that lets botocore's connection error escape could not be evaluated; it did not break."""
    from botocore.exceptions import EndpointConnectionError

    @check("plugin.reaches-aws", title="Calls AWS")
    def reaches(ctx):  # type: ignore[no-untyped-def]
        raise EndpointConnectionError(endpoint_url="https://api.ecr.us-east-1.amazonaws.com/")

    @check("plugin.breaks", title="Breaks")
    def breaks(ctx):  # type: ignore[no-untyped-def]
        raise KeyError("bug")

    results = by_id(Runner(ctx_for(timeout=5), [reaches, breaks]).run())
    assert results["plugin.reaches-aws"].status is Status.SKIP
    assert results["plugin.reaches-aws"].summary.startswith("cannot reach AWS from here (EndpointConnectionError")
    assert results["plugin.breaks"].status is Status.ERROR
