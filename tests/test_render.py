"""The report formats a user pastes or feeds to CI: Markdown for a ticket, JUnit XML for a dashboard.

Reports come from the real runner (fake checks with one outcome of each status, their strings seeded with
secret markers in the shapes SPEC §7 names) and, for the CLI, from the installed console script."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Optional

import pytest
from markdown_it import MarkdownIt

from ecrdoctor.api import Fix, SkipCheck, check, fail, info, passed, warn
from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import Context, RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Outcome, Report, Status
from ecrdoctor.render import report_json, report_junit, report_markdown, report_text
from tests.conftest import hermetic_env, run_cli, write_docker_config

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{REGISTRY}/team/app:1.4"
LOGIN = (f"aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin "
         f"{REGISTRY}")
# a command with backtick runs of length 1 and 3: only a fence of 4 or more keeps it whole
BACKTICKS = "docker inspect --format '{{.Id}}' `cat /tmp/id` # ```not a fence```"

# Unique markers, each in a shape the runner's redactor knows, in each place a check can put text.
MARKERS = {
    "summary": "MRKsummaryA1b2c3",
    "detail": "MRKdetailD4e5f6",
    "fix_text": "MRKfixtextG7h8i9",
    "command": "MRKcommandJ1k2l3",
    "evidence": "MRKevidenceM4n5o6",
    "error": "MRKerrorP7q8r9",
    "skip": "MRKskipS1t2u3",
}


@check("docker.leaky-fail", title="Does docker send credentials?")
def leaky_fail(ctx: Context) -> Outcome:
    return fail(
        f"docker sends none; AWS_SECRET_ACCESS_KEY={MARKERS['summary']} is set in the service env",
        details=[f'config.json has {{"auth": "{MARKERS["detail"]}"}} for another host',
                 "dockerd said \x1b[31mno basic auth credentials\x1b[0m"],
        fix=Fix(f"Log in again (the header Authorization: Bearer {MARKERS['fix_text']} is stale).",
                (LOGIN, f"AWS_SESSION_TOKEN={MARKERS['command']} aws sts get-caller-identity", BACKTICKS)),
        evidence={"config": json.dumps({"auths": {REGISTRY: {"auth": MARKERS["evidence"]}}})},
    )


@check("docker.leaky-warn", title="Is the docker config sane?")
def leaky_warn(ctx: Context) -> Outcome:
    return warn('key "a|b" of <b>config</b> matches *.example.com and [x](y)',
                details=["# not a heading", "1. not a list", "- not a list either"],
                fix=Fix("Remove the key.", ("python3 -c 'print(1)'",)))


@check("aws.broken", title="Does the helper answer?")
def broken(ctx: Context) -> Outcome:
    raise RuntimeError(f"helper said Authorization: Basic {MARKERS['error']}")


@check("aws.skipped", title="Is there a session token?")
def skipped(ctx: Context) -> Outcome:
    raise SkipCheck(f"not applicable (aws_session_token = {MARKERS['skip']} ignored)")


@check("aws.fact", title="Who is the caller?")
def fact(ctx: Context) -> Outcome:
    return info("arn:aws:iam::123456789012:user/dev")


@check("target.fine", title="Is the reference fine?")
def fine(ctx: Context) -> Outcome:
    return passed("the reference is fine")


EVERY_STATUS = Catalogue((fine, leaky_fail, leaky_warn, broken, skipped, fact))


def run(catalogue: Catalogue = EVERY_STATUS, image: Optional[str] = IMAGE) -> Report:
    return run_check(RunOptions(image=image, timeout=15), catalogue=catalogue)


@pytest.fixture
def report() -> Report:
    r = run()
    assert {x.status for x in r.results} == set(Status), r.results
    return r


def all_formats(report: Report) -> dict[str, str]:
    return {"text": report_text(report, verbose=True), "json": report_json(report),
            "markdown": report_markdown(report), "junit": report_junit(report)}


def assert_no_marker(outputs: dict[str, str], markers: list[str]) -> None:
    for name, out in outputs.items():
        for marker in markers:
            for form in (marker, base64.b64encode(marker.encode()).decode().rstrip("=")):
                assert form not in out, f"{name} output leaks {form}"


def fences(markdown: str) -> list[tuple[str, str]]:
    """(info, content) of every fenced code block, as a CommonMark parser sees them."""
    return [(t.info, t.content) for t in MarkdownIt("commonmark").parse(markdown) if t.type == "fence"]


# --- redaction --------------------------------------------------------------------------------------


def test_a_secret_in_any_outcome_field_reaches_no_output_format(report: Report) -> None:
    outputs = all_formats(report)
    assert_no_marker(outputs, list(MARKERS.values()))
    for out in outputs.values():
        assert "[REDACTED]" in out  # the redacted spots are still visible as such


# --- markdown ---------------------------------------------------------------------------------------


def test_markdown_ticket_names_tool_host_target_and_the_diagnosis_with_its_commands(report: Report) -> None:
    md = report_markdown(report)
    head = md.split("#### Diagnosis", 1)[0]
    assert f"**Tool:** ecrdoctor {report.tool_version}" in head
    assert f"`{IMAGE}`" in head and "account 123456789012, region us-east-1" in head
    assert report.host.name, "the host names itself"
    assert f"**Host:** {report.host.name}: {report.host.user} on {report.host.platform}" in head
    assert "1 fail, 1 error, 1 warn, 1 pass, 1 skip, 1 info (worst: fail)" in head
    diagnosis = md.split("#### Diagnosis", 1)[1].split("####", 1)[0]
    assert "`docker.leaky-fail`: docker sends none" in diagnosis
    commands = [content for info_, content in fences(md) if info_ == "sh"]
    assert commands[0].splitlines() == [LOGIN, "AWS_SESSION_TOKEN=[REDACTED] aws sts get-caller-identity",
                                        BACKTICKS]


def test_markdown_lists_every_check_that_needs_attention_worst_first_with_its_fix(report: Report) -> None:
    md = report_markdown(report)
    attention = md.split("#### Checks that need attention", 1)[1].split("#### Evidence", 1)[0]
    headings = re.findall(r"^##### (.*)$", attention, re.M)
    assert [h.split("`")[1] for h in headings] == ["docker.leaky-fail", "aws.broken", "docker.leaky-warn"]
    assert "**Fix:** as for the Diagnosis above." in attention  # the diagnosis' fix is not repeated
    seen = MarkdownIt("commonmark").render(attention)  # what the ticket shows once rendered
    assert "RuntimeError: helper said Authorization: Basic [REDACTED]" in seen
    assert [c for _, c in fences(attention) if "print" in c] == ["python3 -c 'print(1)'\n"]


def test_markdown_says_how_to_attach_the_bundle(report: Report) -> None:
    md = report_markdown(report)
    evidence = md.split("#### Evidence", 1)[1]
    assert "attach `ecrdoctor-bundle.tar.gz`" in evidence
    assert ("sh", f"ecrdoctor bundle {IMAGE} -o ecrdoctor-bundle.tar.gz\n") in fences(evidence)


def test_a_command_with_backticks_stays_whole_inside_a_longer_fence(report: Report) -> None:
    md = report_markdown(report)
    assert "````sh\n" in md
    blocks = [content for _, content in fences(md)]
    assert any(BACKTICKS in b.splitlines() for b in blocks)
    # every command of every fix arrives verbatim in a fence: none is cut short by a backtick run
    for r in report.results:
        for cmd in r.fix.commands if r.fix else ():
            assert any(cmd in b.splitlines() for b in blocks), cmd


def test_markdown_prose_cannot_inject_html_links_headings_or_lists(report: Report) -> None:
    md = report_markdown(report)
    html = MarkdownIt("commonmark").render(md)
    assert "<b>config</b>" not in html and "&lt;b&gt;config&lt;/b&gt;" in html
    assert '<a href="y">' not in html and "[x](y)" in html
    assert "<em>" not in html
    for text in ("# not a heading", "1. not a list", "- not a list either"):
        assert f"<li>{text}</li>" in html, text  # each detail is one literal list item
    assert "<h1>" not in html
    # the only fences are the commands', and a summary's `<`/`|` survive as text
    assert len(fences(md)) == 3
    assert 'key "a|b" of' in html.replace("&quot;", '"')


def test_markdown_for_a_healthy_host_without_an_image() -> None:
    md = report_markdown(run(Catalogue((fine,)), image=None))
    assert md.startswith("### ecrdoctor report: this host\n")
    assert "No problem found." in md and "#### Checks that need attention" not in md
    assert ("sh", "ecrdoctor bundle -o ecrdoctor-bundle.tar.gz\n") in fences(md)


# --- junit ------------------------------------------------------------------------------------------

SUITE_REQUIRED = ("name", "tests", "failures", "errors", "skipped", "time", "timestamp")


def parse_junit(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    for attr in SUITE_REQUIRED:
        assert suite.get(attr), f"testsuite lacks {attr}"
    for attr in ("tests", "failures", "errors", "skipped"):
        assert suite.get(attr) == root.get(attr) and int(suite.get(attr, "x")) >= 0
    assert float(suite.get("time", "x")) >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", ""))
    # the schema's element order: properties, then the testcases, then system-out
    tags = [child.tag for child in suite]
    assert tags[0] == "properties" and tags[-1] == "system-out" and set(tags[1:-1]) <= {"testcase"}
    for prop in suite.iter("property"):
        assert prop.get("name") and prop.get("value") is not None
    for case in suite.iter("testcase"):
        assert case.get("name") and case.get("classname") and float(case.get("time", "x")) >= 0
        for outcome in case:
            assert outcome.tag in ("failure", "error", "skipped"), outcome.tag
            if outcome.tag != "skipped":
                assert outcome.get("type")
    return suite


def test_junit_maps_each_status_and_carries_the_report(report: Report,
                                                      schema_validator: Callable[[object], None]) -> None:
    suite = parse_junit(report_junit(report))
    assert suite.get("name") == f"ecrdoctor check {IMAGE}"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("6", "1", "1",
                                                                                                     "3")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [r.id for r in report.results]
    expected = {Status.FAIL: "failure", Status.ERROR: "error", Status.WARN: "skipped", Status.SKIP: "skipped",
                Status.INFO: "skipped"}
    for r in report.results:
        case = cases[r.id]
        assert case.get("classname") == r.area
        assert case.get("time") == f"{r.duration_ms / 1000:.3f}"
        children = list(case)
        if r.status is Status.PASS:
            assert children == []
            continue
        assert [c.tag for c in children] == [expected[r.status]], r.id
        assert children[0].get("message") == r.summary
    failure = cases["docker.leaky-fail"].find("failure")
    assert failure is not None and failure.text is not None
    assert f"$ {LOGIN}" in failure.text.splitlines() and f"$ {BACKTICKS}" in failure.text.splitlines()
    # a terminal escape in a detail cannot make the XML unparseable: it is shown, not embedded
    assert "dockerd said \\x1b[31mno basic auth credentials\\x1b[0m" in failure.text
    out = suite.find("system-out")
    assert out is not None and out.text is not None
    document = json.loads(out.text)
    schema_validator(document)
    assert document == report.to_dict()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["tool_version"] == report.tool_version and props["target.account"] == "123456789012"
    assert props["diagnosis"] == "docker.leaky-fail"


def test_junit_for_a_healthy_host_without_an_image() -> None:
    suite = parse_junit(report_junit(run(Catalogue((fine, fact)), image=None)))
    assert suite.get("name") == "ecrdoctor check"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("2", "0", "0",
                                                                                                     "1")


# --- the installed console script -------------------------------------------------------------------


def test_cli_markdown_and_junit_keep_the_exit_codes_of_spec_5(home: Path, tmp_path: Path) -> None:
    env = hermetic_env(home)
    selection = ["check", IMAGE, "--only", "target.reference", "--only", "docker.*"]

    # no docker config at all: docker.credentials fails, so every format exits 1
    as_json = run_cli([*selection, "--format", "json"], env)
    assert as_json.returncode == 1, as_json.stderr
    failing = json.loads(as_json.stdout)
    junit_file = tmp_path / "report.xml"
    junit = run_cli([*selection, "--format", "junit", "-o", str(junit_file)], env)
    assert (junit.returncode, junit.stdout, junit.stderr) == (1, "", "")
    suite = parse_junit(junit_file.read_text(encoding="utf-8"))
    assert suite.get("failures") == str(failing["summary"]["fail"]) != "0"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == failing["diagnosis"] and "docker.credentials" in failed
    markdown = run_cli([*selection, "--format", "markdown"], env)
    assert markdown.returncode == 1 and markdown.stderr == ""
    assert "\x1b[" not in markdown.stdout
    assert f"`{failing['diagnosis'][0]}`" in markdown.stdout.split("#### Diagnosis", 1)[1].split("####", 1)[0]
    assert any(LOGIN in c.splitlines() for i, c in fences(markdown.stdout) if i == "sh")

    # a static token from `docker login` is stored: only a warning, so 0, and 1 with --fail-on warn
    marker = "MRKclitokenV7w8x9"
    token = base64.b64encode(f"AWS:{marker}{'x' * 40}".encode()).decode()
    write_docker_config(home, {"auths": {REGISTRY: {"auth": token}}})
    for fmt in ("junit", "markdown"):
        out = run_cli([*selection, "--format", fmt], env)
        assert out.returncode == 0, (fmt, out.stdout, out.stderr)
        assert run_cli([*selection, "--format", fmt, "--fail-on", "warn"], env).returncode == 1
        assert_no_marker({fmt: out.stdout}, [marker, token])
        if fmt == "junit":
            warned = parse_junit(out.stdout)
            assert warned.get("failures") == "0" and int(warned.get("skipped", "0")) >= 1

