"""The single-file build (scripts/build-pyz → dist/ecrdoctor.pyz) runs on a host with nothing installed.

Each run is `python -I -S ecrdoctor.pyz ...` on pyenv's own Python 3.9 and 3.11: -I ignores PYTHON* variables
and the user's site-packages, -S drops site-packages altogether, so only what the archive carries is importable.
CI builds the archive once in scripts/test and passes it as ECRDOCTOR_PYZ; without it the suite builds one.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Callable, Optional

import pytest

import ecrdoctor
from ecrdoctor.aws import ALLOWED_OPERATIONS
from tests.conftest import hermetic_env, need, run_cli

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
REQUIRED_PYTHONS = ("3.9", "3.11")  # Amazon Linux 2023's system Python, and a current one
OTHER_PYTHONS = ("3.10", "3.12", "3.13", "3.14")  # smoke-tested when this machine has them
# botocore makes clients of its own while resolving credentials: assume-role and web identity (sts), SSO
# (sso, sso-oidc), `aws login` (signin). Only these may join ecrdoctor's allow-listed services in the archive.
CREDENTIAL_CHAIN = {"sts", "sso", "sso-oidc", "signin"}
COMPILED = (".so", ".pyd", ".dylib", ".dll")


def find_python(version: str) -> Optional[str]:
    """pyenv's interpreter for a minor version (as scripts/test finds it), else python3.X on PATH."""
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    for root in filter(None, roots):
        for path in sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}"))):
            if os.access(path, os.X_OK):
                return path
    return shutil.which(f"python{version}")


def required_python(version: str) -> str:
    python = find_python(version)
    need(f"Python {version} (pyenv)", python is not None)
    assert python is not None
    return python



@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One unpacked tree for the tests that are not about unpacking."""
    return tmp_path_factory.mktemp("pyz-cache")


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    """hermetic_env without anything Python-specific and without the test venv on PATH."""
    env = {k: v for k, v in hermetic_env(home).items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    env.update(extra)
    return env


def run_pyz(python: str, pyz: Path, args: list[str], env: dict[str, str], timeout: float = 120,
            no_network: bool = False) -> tuple[subprocess.CompletedProcess[str], float]:
    cmd = [python, "-I", "-S", str(pyz), *args]
    if no_network:
        cmd = ["unshare", "-n", "--", *cmd]
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return proc, time.monotonic() - started


def pyz_info(pyz: Path) -> dict[str, object]:
    with zipfile.ZipFile(pyz) as zf:
        info: dict[str, object] = json.loads(zf.read("ecrdoctor-pyz.json"))
    return info


def fake_host(tmp_path: Path) -> Path:
    """A host with no docker config: the user's HOME is empty and /etc has only os-release."""
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "os-release").write_text('ID=amzn\nVERSION_ID="2023"\nPRETTY_NAME="Amazon Linux 2023"\n')
    return host


def installed_check_ids(home: Path) -> list[str]:
    out = run_cli(["checks", "--format", "json"], hermetic_env(home))
    assert out.returncode == 0, out.stderr
    return sorted(c["id"] for c in json.loads(out.stdout)["checks"])


def test_archive_has_no_compiled_code_and_only_the_kept_botocore_data(pyz: Path) -> None:
    with zipfile.ZipFile(pyz) as zf:
        names = zf.namelist()
    assert not [n for n in names if n.lower().endswith(COMPILED) or ".so." in n.lower()]
    assert not [n for n in names if "/__pycache__/" in n or "/tests/" in n or n.endswith((".pyc", ".pyi"))]
    assert not [n for n in names if not n.startswith("lib/") and n not in ("__main__.py", "ecrdoctor-pyz.json")]
    data = [n.split("/")[3:] for n in names if n.startswith("lib/botocore/data/")]
    services = {p[0] for p in data if len(p) > 1}
    assert set(ALLOWED_OPERATIONS) <= services, "every service ecrdoctor may call needs its model"
    assert services <= set(ALLOWED_OPERATIONS) | CREDENTIAL_CHAIN, sorted(services)
    for service in services:  # only the API version botocore loads (the newest), without examples
        assert len({p[1] for p in data if p[0] == service and len(p) > 2}) == 1, service
    assert not [p for p in data if p[-1].startswith("examples-")]
    assert {"endpoints.json", "partitions.json", "_retry.json", "sdk-default-configuration.json"} <= {
        p[0] for p in data if len(p) == 1}
    info = pyz_info(pyz)
    assert info["version"] == ecrdoctor.__version__
    assert sorted(services) == info["botocore_services"]


@pytest.mark.parametrize("version", REQUIRED_PYTHONS)
def test_first_run_unpacks_once_and_second_run_reuses_it(pyz: Path, home: Path, version: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The default cache is ~/.cache/ecrdoctor/<version>-<hash>; the second run imports cached bytecode."""
    python = required_python(version)
    first, first_s = run_pyz(python, pyz, ["--version"], bare_env(home))
    second, second_s = run_pyz(python, pyz, ["--version"], bare_env(home))
    for proc in (first, second):
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"ecrdoctor {ecrdoctor.__version__}\n"
    trees = list((home / ".cache" / "ecrdoctor").iterdir())
    info = pyz_info(pyz)
    assert [t.name for t in trees] == [f"{info['version']}-{str(info['hash'])[:16]}"]
    assert (trees[0] / ".ecrdoctor-pyz-complete").is_file()
    assert list(trees[0].glob("ecrdoctor/__pycache__/*.pyc")), "the second run should find cached bytecode"
    with capsys.disabled():  # in the CI log, not only on failure
        print(f"\n[pyz] Python {version}: first run (unpacks) {first_s:.2f} s, second run {second_s:.2f} s, "
              f"archive {pyz.stat().st_size / 1e6:.1f} MB")
    assert second_s < first_s


@pytest.mark.parametrize("version", REQUIRED_PYTHONS)
def test_checks_in_the_archive_are_the_installed_ones(pyz: Path, tmp_path: Path, home: Path, shared_cache: Path,
                                                      version: str) -> None:
    """Built-in checks are found through the entry points in the vendored ecrdoctor dist-info."""
    python = required_python(version)
    env = bare_env(home, ECRDOCTOR_PYZ_CACHE=str(shared_cache))
    out, _ = run_pyz(python, pyz, ["checks", "--format", "json"], env)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert listed["load_errors"] == []
    ids = sorted(c["id"] for c in listed["checks"])
    assert ids == installed_check_ids(home)
    assert len(ids) > 30
    explained, _ = run_pyz(python, pyz, ["explain", "docker.credentials"], env)
    assert explained.returncode == 0, explained.stderr
    assert "Requires: docker.config" in explained.stdout


@pytest.mark.parametrize("version", REQUIRED_PYTHONS)
def test_offline_check_of_a_host_without_docker_config(pyz: Path, tmp_path: Path, home: Path, shared_cache: Path,
                                                       version: str,
                                                       schema_validator: Callable[[object], None]) -> None:
    python = required_python(version)
    env = bare_env(home, ECRDOCTOR_PYZ_CACHE=str(shared_cache))
    out, _ = run_pyz(python, pyz, ["check", IMAGE, "--offline", "--root", str(fake_host(tmp_path)),
                                   "--format", "json"], env)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    schema_validator(report)
    assert "docker.credentials" in report["diagnosis"]


def unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("version", REQUIRED_PYTHONS)
def test_run_without_any_network_finishes_within_its_timeout(pyz: Path, tmp_path: Path, home: Path,
                                                             shared_cache: Path, version: str) -> None:
    """No --offline, in a network namespace with nothing in it: every probe fails fast or hits the deadline."""
    python = required_python(version)
    need("unshare -n (a network namespace; root)", unshare_works())
    deadline = 8.0
    env = bare_env(home, ECRDOCTOR_PYZ_CACHE=str(shared_cache), AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
                   AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AWS_REGION="us-east-1")
    env.pop("AWS_ENDPOINT_URL")  # the real endpoints: unreachable in the namespace, which is the point
    out, took = run_pyz(python, pyz, ["check", IMAGE, "--root", str(fake_host(tmp_path)), "--format", "json",
                                      "--timeout", str(deadline)], env, timeout=120, no_network=True)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    statuses = {r["id"]: r["status"] for r in report["results"]}
    assert statuses["aws.identity"] == "fail"  # botocore built an STS client from the archive's data, then failed
    assert "docker.credentials" in report["diagnosis"]
    assert took < deadline + 5, f"{took:.1f} s for a {deadline} s deadline"


def test_concurrent_first_runs_share_one_tree(pyz: Path, home: Path) -> None:
    python = required_python("3.11")
    procs = [subprocess.Popen([python, "-I", "-S", str(pyz), "--version"], env=bare_env(home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.startswith("ecrdoctor "), err
    cache = home / ".cache" / "ecrdoctor"
    assert len(os.listdir(cache)) == 1, os.listdir(cache)  # no staging directory left behind


def test_unusable_home_falls_back_to_a_private_temp_dir(pyz: Path, tmp_path: Path) -> None:
    """HOME that cannot hold a cache (here: a file, which stops even root) → $TMPDIR/ecrdoctor-pyz-<uid>."""
    python = required_python("3.11")
    not_a_dir, tmp = tmp_path / "home-file", tmp_path / "tmp"
    not_a_dir.write_text("")
    tmp.mkdir()
    out, _ = run_pyz(python, pyz, ["--version"], bare_env(not_a_dir, TMPDIR=str(tmp)))
    assert out.returncode == 0, out.stderr
    private = tmp / f"ecrdoctor-pyz-{os.getuid()}"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert [p.name for p in private.iterdir()][0].startswith(f"{ecrdoctor.__version__}-")


def test_copied_onto_path_it_is_the_ecrdoctor_command_with_bash_completion(pyz: Path, tmp_path: Path,
                                                                           home: Path) -> None:
    """`install -m 755 ecrdoctor.pyz /usr/local/bin/ecrdoctor`: the shebang finds python3, the program name is
    `ecrdoctor`, and typer's completion script (what `--show-completion` prints under bash) completes."""
    need("bash", shutil.which("bash") is not None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(required_python("3.9"))  # what `#!/usr/bin/env python3` finds first
    shutil.copyfile(pyz, bin_dir / "ecrdoctor")
    (bin_dir / "ecrdoctor").chmod(0o755)
    script = ('ecrdoctor --version && eval "$(_ECRDOCTOR_COMPLETE=source_bash ecrdoctor)" && '
              'COMP_WORDS=(ecrdoctor ch) && COMP_CWORD=1 && _ecrdoctor_completion ecrdoctor && '
              'echo "completes: ${COMPREPLY[*]}"')
    env = bare_env(home, PATH=f"{bin_dir}:/usr/bin:/bin")
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"ecrdoctor {ecrdoctor.__version__}", "completes: check checks"]


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_other_pythons_run_it_too(pyz: Path, home: Path, shared_cache: Path, version: str) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} not on this machine")
    env = bare_env(home, ECRDOCTOR_PYZ_CACHE=str(shared_cache))
    out, _ = run_pyz(python, pyz, ["checks", "--format", "json"], env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["load_errors"] == []
