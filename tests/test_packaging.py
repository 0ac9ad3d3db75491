"""The wheel ships checks/ as ecrdoctor.checks (and no top-level `checks`), the schema, and the entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("ecrdoctor-*.whl")
    return zipfile.ZipFile(path)


def test_checks_are_installed_as_ecrdoctor_checks_only(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    built_in = sorted(p.name for p in (ROOT / "checks").glob("*.py"))
    assert sorted(n.split("/")[-1] for n in names if n.startswith("ecrdoctor/checks/")) == built_in
    assert not [n for n in names if n.startswith("checks/")], "a top-level `checks` package would be installed"
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert wheel.read(top_level).decode().split() == ["ecrdoctor"]


def test_schema_and_typing_marker_ship(wheel: zipfile.ZipFile) -> None:
    assert {"ecrdoctor/report.schema.json", "ecrdoctor/py.typed"} <= set(wheel.namelist())


def test_built_in_modules_are_registered_as_entry_points(wheel: zipfile.ZipFile) -> None:
    eps = wheel.read(next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))).decode()
    group = eps.split("[ecrdoctor.checks]", 1)[1].split("[", 1)[0]
    modules = {line.split("=", 1)[1].strip() for line in group.strip().splitlines()}
    shipped = {f"ecrdoctor.checks.{p.stem}" for p in (ROOT / "checks").glob("*.py") if p.stem != "__init__"}
    assert modules == shipped, "every built-in check module must be loaded through the entry-point group"
    assert "ecrdoctor = ecrdoctor.cli:main" in eps


def test_help_does_not_import_boto3_or_docker() -> None:
    """`ecrdoctor --help` and `checks` stay fast because the heavy SDKs load only when a check needs them."""
    code = (
        "import sys; from ecrdoctor.catalogue import load_catalogue; import ecrdoctor.cli; load_catalogue(); "
        "print(sorted(m for m in ('boto3', 'botocore', 'docker', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_demo_scenarios_ship_and_replay_from_an_installed_wheel(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """`ecrdoctor demo` needs its bundles as package data: a non-editable install must carry every one."""
    from ecrdoctor.demo import SCENARIOS

    names = set(wheel.namelist())
    assert "ecrdoctor/demo/__init__.py" in names
    assert {f"ecrdoctor/demo/scenarios/{s.name}.tar.gz" for s in SCENARIOS} <= names
    wheel.extractall(tmp_path / "site")  # what pip installs: the wheel's files, outside this source tree
    code = ("import ecrdoctor.demo as d, sys; assert 'site' in d.__file__, d.__file__; "
            "sys.argv = ['ecrdoctor', 'demo', 'expired-login', '--format', 'json']; "
            "from ecrdoctor.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["diagnosis"] == ["docker.token"]
