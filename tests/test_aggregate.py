"""`ecrdoctor aggregate`: a fleet's reports summarised by root cause and by check."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Optional

import pytest

from ecrdoctor.aggregate import aggregate, cause_key, fleet_json, fleet_markdown, fleet_text
from tests.conftest import hermetic_env, run_cli


def report(diagnosis: list[str], results: list[tuple[str, str, str]], instance: Optional[str] = None,
           fix: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    host: dict[str, Any] = {"platform": "Linux-x86_64", "python": "3.9.16", "user": "ec2-user",
                            "in_container": False, "on_ec2": True}
    if instance:
        host["instance_id"] = instance
    return {
        "schema_version": "1", "tool": {"name": "ecrdoctor", "version": "0.1.0"}, "host": host,
        "diagnosis": diagnosis,
        "results": [{"id": i, "status": s, "summary": t, "fix": fix if s == "fail" else None} for i, s, t in results],
    }


EXPIRED = report(["docker.token"], [("docker.token", "fail", "the token expired 2026-11-27 09:00 UTC (3 h ago)"),
                                    ("aws.imds", "warn", "IMDSv1 answers")],
                 fix={"text": "log in again", "commands": ["aws ecr get-login-password | docker login ..."]})
DENIED = report(["iam.auth-token"], [("iam.auth-token", "fail", "AccessDenied for ecr:GetAuthorizationToken"),
                                     ("ecr.repository", "skip", "needs iam.auth-token")])
HEALTHY = report([], [("docker.token", "pass", "fine")])


def write(directory: Path, name: str, doc: Any) -> None:
    path = directory / name / "report.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)


def test_causes_are_grouped_across_hosts_and_ranked_by_how_widespread(tmp_path: Path) -> None:
    for n in range(5):
        expired = json.loads(json.dumps(EXPIRED))
        expired["results"][0]["summary"] = f"the token expired 2026-11-2{n} 0{n}:00 UTC ({n + 2} h ago)"
        write(tmp_path, f"i-0000000000000000{n}", expired)
    for n in range(2):
        write(tmp_path, f"i-1111111111111111{n}", DENIED)
    write(tmp_path, "i-22222222222222222", HEALTHY)
    fleet = aggregate([str(tmp_path)])
    assert fleet.reports == 8 and fleet.healthy == 1 and fleet.unreadable == 0
    ranked = fleet.ranked_causes()
    assert [(cid, g.hosts) for cid, g in ranked] == [("docker.token", 5), ("iam.auth-token", 2)]
    assert ranked[0][1].examples == ["i-00000000000000000", "i-00000000000000001", "i-00000000000000002"]
    text = fleet_text(fleet)
    assert text.index("docker.token") < text.index("iam.auth-token")
    assert "(+2 more)" in text and "$ aws ecr get-login-password" in text
    doc = json.loads(fleet_json(fleet))
    assert doc["root_causes"][0]["hosts"] == 5
    assert {c["id"]: (c["fail"], c["warn"]) for c in doc["checks"]}["aws.imds"] == (0, 5)
    assert "| 5 | `docker.token` |" in fleet_markdown(fleet)


def test_different_causes_of_one_check_stay_apart() -> None:
    assert cause_key("expired 3 h ago on i-0abc12345678") == cause_key("expired 15 h ago on i-0fff99999999")
    assert cause_key("no credHelpers entry") != cause_key("credsStore desktop is not installed")


def test_unreadable_reports_are_counted_and_named_not_fatal(tmp_path: Path) -> None:
    write(tmp_path, "good", EXPIRED)
    write(tmp_path, "truncated", '{"schema_version": "1", "results": [')
    write(tmp_path, "other-tool", {"hello": "world"})
    write(tmp_path, "future", {**EXPIRED, "schema_version": "2"})
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "report.json").write_text("{}")
    (tmp_path / "unreadable" / "report.json").chmod(0)
    fleet = aggregate([str(tmp_path), str(tmp_path / "missing.json")])
    assert fleet.reports == 1
    reasons = dict(fleet.unreadable_examples)
    assert fleet.unreadable >= 4
    assert any("not JSON" in r for r in reasons.values())
    assert any("schema_version '2'" in r for r in reasons.values())
    assert any(s.endswith("missing.json") for s in reasons)


def test_reports_on_stdin_one_or_many() -> None:
    stream = io.StringIO(json.dumps(EXPIRED, indent=2) + "\n" + json.dumps(DENIED) + "\n" + json.dumps(HEALTHY))
    fleet = aggregate(["-"], stdin=stream)
    assert fleet.reports == 3 and fleet.healthy == 1


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_the_command(tmp_path: Path, fmt: str) -> None:
    reports = tmp_path / "reports"
    write(reports, "i-0123456789abcdef0", EXPIRED)
    write(reports, "i-0123456789abcdef1", DENIED)
    (reports / "junk.json").write_text("nope")
    out = run_cli(["aggregate", str(reports), "--format", fmt], hermetic_env(tmp_path))
    assert out.returncode == 0, out.stderr
    if fmt == "json":
        doc = json.loads(out.stdout)
        assert doc["reports"] == 2 and doc["unreadable"] == 1
    else:
        assert "docker.token" in out.stdout and "iam.auth-token" in out.stdout


def test_the_command_reads_stdin_and_refuses_nothing_to_read(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import ecrdoctor_exe

    env = hermetic_env(tmp_path)
    out = subprocess.run([ecrdoctor_exe(), "aggregate", "-"], input=json.dumps(EXPIRED), env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "1 reports" in out.stdout
    missing = run_cli(["aggregate", str(tmp_path / "does-not-exist")], env)
    assert missing.returncode == 2 and "none of the 1 inputs is a readable report" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli(["aggregate", str(tmp_path / "empty")], env)
    assert empty.returncode == 2 and "no report found" in empty.stderr
