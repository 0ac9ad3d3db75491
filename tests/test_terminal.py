"""The text report as a person sees it: on an 80-column terminal, and piped into a file.

Uses a bundle kept in tests/fixtures/bundles (a real recorded run), replayed: the same report every time.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import ecrdoctor_exe, hermetic_env, read_until_closed

FIXTURE = sorted((Path(__file__).parent / "fixtures" / "bundles").glob("*.tar.gz"))[-1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line)


def _fix_commands(env: dict[str, str]) -> list[str]:
    out = subprocess.run([ecrdoctor_exe(), "check", "--from-bundle", str(FIXTURE), "--format", "json"], env=env,
                         capture_output=True, text=True, timeout=60)
    report = json.loads(out.stdout)
    commands = [c for r in report["results"] if r.get("fix") for c in r["fix"]["commands"]]
    assert commands, "the fixture should have failing checks with fix commands"
    return commands


def _on_terminal(args: list[str], env: dict[str, str], columns: int) -> str:
    """Run with stdout and stderr on a pseudo-terminal of the given width; what the person sees."""
    primary, secondary = pty.openpty()
    env = {**env, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"}
    try:
        proc = subprocess.Popen([ecrdoctor_exe(), *args], env=env, stdout=secondary, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        os.close(secondary)
        seen = read_until_closed(primary)
        proc.wait(60)
    finally:
        os.close(primary)
    return seen.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return hermetic_env(tmp_path)


def test_on_an_80_column_terminal_prose_wraps_and_fix_commands_stay_whole(env: dict[str, str]) -> None:
    commands = _fix_commands(env)
    seen = _on_terminal(["check", "--from-bundle", str(FIXTURE)], env, 80)
    assert "\x1b[" in seen  # a terminal gets colour
    lines = ANSI.sub("", seen).splitlines()
    for command in commands:
        assert any(line.strip() == f"$ {command}" for line in lines), f"fix command broken up: {command}"
    too_wide = [line for line in lines if _width(line) > 80 and not line.lstrip().startswith("$ ")]
    assert not too_wide, "\n".join(too_wide)


def test_piped_into_a_file_there_are_no_escape_codes_and_commands_stay_whole(env: dict[str, str],
                                                                              tmp_path: Path) -> None:
    commands = _fix_commands(env)
    out = subprocess.run([ecrdoctor_exe(), "check", "--from-bundle", str(FIXTURE)], env={**env, "COLUMNS": "80"},
                         capture_output=True, text=True, timeout=60)
    assert "\x1b" not in out.stdout and "\x1b" not in out.stderr
    for command in commands:
        assert f"$ {command}\n" in out.stdout
    assert out.stdout.splitlines()[0].startswith("ecrdoctor ")
    assert "Diagnosis" in out.stdout
