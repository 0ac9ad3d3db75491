"""`ecrdoctor demo`: every shipped scenario replays through the real console script to the diagnosis its story
promises, exactly as `check --from-bundle` replays it; the bundles hold nothing of the machine and the loopback
stand-ins that recorded them; and re-recording every scenario live with scripts/make-demo-bundles gives what the
shipped bundle says, so the bundles cannot drift from what the checks really do."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

from ecrdoctor.bundle import read_bundle
from ecrdoctor.demo import FLAGSHIP, LIST_HINT, SCENARIOS, Scenario, get, names
from tests.conftest import MotoServer, hermetic_env, run_cli

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "make-demo-bundles"
# what the recording machinery leaves behind if post-processing misses it
MARKERS = re.compile(r"127\.0\.0\.1|localhost|\[::1\]|moto|werkzeug|pytest|ecrdoctor-demo-|stub\.invalid|"
                     r"123456789012-auth-token|AKIAMOTO|/tmp/pytest|ec2-metadata-service-endpoint", re.I)
STAND_INS = ("AWS_ENDPOINT_URL", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "DOCKER_HOST", "AWS_CONFIG_FILE",
             "AWS_SHARED_CREDENTIALS_FILE", "DOCKER_CONFIG")


def by_name(scenario: Scenario) -> str:
    return scenario.name


def results_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report["results"]}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=by_name)
def test_every_scenario_replays_to_the_diagnosis_of_its_story(scenario: Scenario, home: Path,
                                                              schema_validator: Callable[[object], None]) -> None:
    text = run_cli(["demo", scenario.name], hermetic_env(home))
    assert text.returncode == 1, text.stderr
    assert text.stdout.startswith(f"Demo {scenario.name}: {scenario.title}\n")
    diagnosis = text.stdout.split("\nDiagnosis\n", 1)[1].splitlines()[0]
    first_id, first_phrase = scenario.diagnosis[0]
    assert first_phrase in diagnosis and diagnosis.endswith(f"({first_id})"), diagnosis

    out = run_cli(["demo", scenario.name, "--format", "json"], hermetic_env(home))
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)  # the header went to stderr
    schema_validator(report)
    assert out.stderr.startswith(f"Demo {scenario.name}: ")
    assert report["target"]["image"] == scenario.image
    assert report["diagnosis"] == [cid for cid, _ in scenario.diagnosis]
    results = results_of(report)
    for cid, phrase in scenario.diagnosis:
        assert results[cid]["status"] == "fail"
        assert phrase in results[cid]["summary"], results[cid]["summary"]


def test_demo_replays_exactly_what_check_from_bundle_prints(home: Path) -> None:
    for scenario in SCENARIOS[:3]:
        demo = run_cli(["demo", scenario.name, "--format", "json", "-v"], hermetic_env(home))
        check = run_cli(["check", "--from-bundle", str(scenario.path), "--format", "json", "-v"], hermetic_env(home))
        assert demo.returncode == check.returncode == 1, demo.stderr + check.stderr
        mine, theirs = json.loads(demo.stdout), json.loads(check.stdout)
        for report in (mine, theirs):
            for volatile in ("started_at", "duration_ms"):
                report.pop(volatile)
            for result in report["results"]:
                result.pop("duration_ms")
        assert mine == theirs


def test_without_a_name_the_flagship_runs_and_points_to_the_list(home: Path) -> None:
    out = run_cli(["demo"], hermetic_env(home))
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith(f"Demo {FLAGSHIP}: ")
    assert out.stdout.rstrip("\n").splitlines()[-1] == LIST_HINT


def test_list_names_every_scenario_with_its_title(home: Path) -> None:
    out = run_cli(["demo", "--list"], hermetic_env(home))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(SCENARIOS) >= 8
    for line, scenario in zip(lines, SCENARIOS):
        name, title = line.split(None, 1)
        assert (name, title) == (scenario.name, scenario.title)


def test_an_unknown_scenario_is_a_usage_error_that_lists_the_names(home: Path) -> None:
    out = run_cli(["demo", "sudo-root"], hermetic_env(home))
    assert out.returncode == 2
    assert out.stdout == ""
    assert "no demo scenario 'sudo-root'" in out.stderr
    assert all(name in out.stderr for name in names())


def test_every_scenario_has_a_small_bundle_whose_report_is_its_replay() -> None:
    assert len(set(names())) == len(SCENARIOS) >= 9
    shipped = sorted(p.name for p in SCENARIOS[0].path.parent.glob("*.tar.gz"))
    assert shipped == sorted(f"{name}.tar.gz" for name in names()), "a bundle without metadata, or the reverse"
    for scenario in SCENARIOS:
        assert scenario.path.stat().st_size < 32 * 1024, f"{scenario.name} is larger than a demo needs"
        bundle = read_bundle(scenario.path)
        assert bundle.report["diagnosis"] == bundle.manifest["diagnosis"] == [c for c, _ in scenario.diagnosis]
        assert len(scenario.story.split(". ")) <= 4 and scenario.title


@pytest.mark.parametrize("scenario", SCENARIOS, ids=by_name)
def test_bundles_hold_no_loopback_address_test_marker_or_stand_in(scenario: Scenario) -> None:
    with tarfile.open(scenario.path) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            text = handle.read().decode("utf-8")
            found = MARKERS.search(text)
            assert found is None, f"{scenario.name}: {member.name} holds {found.group(0) if found else ''!r}"
            assert "/root/ecrdoctor" not in text and str(ROOT) not in text
    env = read_bundle(scenario.path).env
    assert not [name for name in env if name in STAND_INS or name.startswith(("PYTHON", "PYTEST", "VIRTUAL_ENV"))]


def load_generator() -> ModuleType:
    """scripts/make-demo-bundles as a module (it is a script without .py)."""
    loader = importlib.machinery.SourceFileLoader("make_demo_bundles", str(GENERATOR))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up by name
    loader.exec_module(module)
    return module


@pytest.mark.integration
def test_rerecording_every_scenario_live_gives_the_shipped_diagnosis(moto_server: MotoServer, tmp_path: Path) -> None:
    """Real moto, loopback IMDS and docker engine, the generator's own code: if a check changes what it concludes
    on one of these hosts, the shipped bundle is stale (run scripts/make-demo-bundles)."""
    generator = load_generator()
    recordings = generator.build([], tmp_path / "out", moto_server, work=tmp_path / "work")
    assert [r.name for r in recordings] == list(names())
    for rec in recordings:
        assert rec.problems() == [], "\n".join(rec.problems())
        scenario = get(rec.name)
        assert scenario is not None
        shipped = read_bundle(scenario.path).report
        assert rec.diagnosis == rec.live_diagnosis == tuple(shipped["diagnosis"]), rec.name
        assert rec.statuses == {r["id"]: r["status"] for r in shipped["results"]}, rec.name
