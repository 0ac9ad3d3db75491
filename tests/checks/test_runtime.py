"""runtime.docker and runtime.docker-config against a real dockerd, real sockets, real mounts and daemon.json trees.

Children run the checks where the situation needs another user (uid 65534) or another mount namespace
(`unshare -m`: a tmpfs over the daemon's data root, or over /run so that no docker socket exists)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

import docker
import ecrdoctor.checks.runtime as runtime_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.model import Result, Status
from tests.conftest import hermetic_env, need, write_docker_config
from tests.dockerd_fixtures import Dockerd, dockerd_fixture  # noqa: F401  (the session's dockerd)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
CATALOGUE = Catalogue((runtime_checks.runtime_docker, runtime_checks.runtime_docker_config))
NOBODY = 65534


def run(check_id: str, **opts: Any) -> Result:
    opts.setdefault("timeout", 15)
    report = run_check(RunOptions(**opts), catalogue=CATALOGUE)
    result = report.result(check_id)
    assert result is not None
    return result


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version_line: str) -> Path:
    """A `docker` first on PATH that prints a given `docker --version` line (the real CLIs are 28.2.2 and 20.10)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "docker"
    exe.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return exe


def daemon_json(root: Path, content: str, path: str = "etc/docker/daemon.json") -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    return root


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp dir other users can read (pytest's own tmp dirs are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="ecrdoctor-rt-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_CHILD = """
import json, sys
import ecrdoctor.checks.runtime as rt
from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
report = run_check(RunOptions(**json.loads(sys.argv[1])), catalogue=Catalogue((rt.runtime_docker,)))
print(json.dumps(report.to_dict()))
"""


def _interpreter_reachable_by_others(scratch: Path) -> list[str]:
    """Shell lines (for a private mount namespace) that let another user run this interpreter.

    pyenv installs live under /root (0700), and the interpreter's RUNPATH points there: mount a
    0755 tmpfs over the closed directory and bind the interpreter's tree back into it."""
    real = Path(os.path.realpath(sys.executable))
    closed = next((p for p in reversed(real.parents) if str(p) != "/" and not p.stat().st_mode & 0o001), None)
    if closed is None:
        return []
    keep = real.relative_to(closed).parts[0]
    sub, saved = closed / keep, scratch / "interpreter"
    return [f"mkdir -p {saved}", f"mount --bind {sub} {saved}", f"mount -t tmpfs -o mode=755 tmpfs {closed}",
            f"mkdir -p {sub}", f"mount --bind {saved} {sub}"]


def run_in_child(home: Path, options: dict[str, Any], *, as_nobody: bool = False, groups: tuple[int, ...] = (),
                 setup: Optional[str] = None, **env: str) -> dict[str, Any]:
    """runtime.docker in a child: as uid 65534 (with `groups`), and/or after `setup` ran in a private mount ns."""
    argv = [sys.executable, "-c", _CHILD, json.dumps({"timeout": 15, **options})]
    lines = [setup] if setup else []
    if as_nobody:
        need("setpriv (util-linux)", shutil.which("setpriv") is not None)
        lines += _interpreter_reachable_by_others(home)
        supplementary = f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", supplementary, *argv]
    if lines:
        need("unshare (util-linux) and root, for a private mount namespace",
             shutil.which("unshare") is not None and os.geteuid() == 0)
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-ec", "\n".join(lines) + '\nexec "$@"', "sh",
                *argv]
    proc = subprocess.run(argv, env=hermetic_env(home, **env), capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    return dict(next(r for r in results if r["id"] == "runtime.docker"))


@contextlib.contextmanager
def socket_access(d: Dockerd, mode: int, gid: Optional[int] = None) -> Iterator[int]:
    """Change the session dockerd's socket mode (and group) for one test; yields the socket's usual group."""
    st = d.socket.stat()
    try:
        os.chown(d.socket, -1, st.st_gid if gid is None else gid)
        d.socket.chmod(mode)
        yield st.st_gid
    finally:
        os.chown(d.socket, -1, st.st_gid)
        d.socket.chmod(stat.S_IMODE(st.st_mode))


def server_version(d: Dockerd) -> dict[str, Any]:
    return dict(docker.DockerClient(base_url=d.url).version())


# -- runtime.docker: the daemon is there ---------------------------------------------------------------


def test_running_daemon_passes_with_server_api_and_cli_versions_and_free_space(
        dockerd: Dockerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(tmp_path, monkeypatch, "Docker version 28.4.0, build 1234567")
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker", image=IMAGE)
    expected = server_version(dockerd)
    assert r.status is Status.PASS, r.summary
    assert f"dockerd {expected['Version']} (API {expected['ApiVersion']}) at {dockerd.url}" in r.summary
    assert "docker CLI 28.4.0" in r.summary and f"free under {dockerd.data_root}" in r.summary
    assert r.evidence["data_root"] == str(dockerd.data_root) and r.evidence["free_bytes"] > 0
    assert not any("swallows" in d for d in r.details)


def test_the_real_docker_cli_on_path_is_the_one_whose_version_is_reported(
        dockerd: Dockerd, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = shutil.which("docker")
    need("a docker CLI on PATH", cli is not None)
    out = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=10).stdout
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker")
    assert r.status is Status.PASS
    assert r.evidence["cli_path"] == cli
    assert out.startswith(f"Docker version {r.evidence['cli_version']}")


def test_cli_20_10_is_flagged_for_hiding_helper_errors_behind_no_basic_auth_credentials(
        dockerd: Dockerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(tmp_path, monkeypatch, "Docker version 20.10.24, build 297e128")
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker", image=IMAGE)
    assert r.status is Status.PASS
    assert "docker CLI 20.10.24" in r.summary
    assert any("swallows credential-helper errors" in d and "no basic auth credentials" in d for d in r.details)


def test_docker_1_12_ignores_credhelpers_so_the_pull_goes_out_without_credentials(
        dockerd: Dockerd, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(tmp_path, monkeypatch, "Docker version 1.12.6, build 78d1802")
    write_docker_config(home, {"credHelpers": {ECR: "ecr-login"}})
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker", image=IMAGE)
    assert r.status is Status.FAIL
    assert r.summary.startswith("docker CLI 1.12.6 predates credHelpers (1.13)")
    assert r.fix is not None and "Upgrade Docker" in r.fix.text


def test_docker_1_12_without_credhelpers_is_only_a_warning(
        dockerd: Dockerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_docker(tmp_path, monkeypatch, "Docker version 1.12.6, build 78d1802")
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker")
    assert r.status is Status.WARN
    assert "only credsStore can name the ECR credential helper" in r.summary


def test_daemon_reached_over_tcp_is_info_because_credentials_stay_with_the_local_cli(
        dockerd: Dockerd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.tcp_url)
    r = run("runtime.docker")
    assert r.status is Status.INFO
    assert f"at {dockerd.tcp_url}" in r.summary
    assert "credentials are still resolved by the local docker CLI" in r.summary


@pytest.mark.parametrize("host", ["tcp://10.20.30.40:2376", "ssh://ops@build-host"])
def test_remote_daemon_is_not_contacted_offline_or_over_ssh(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", host)
    r = run("runtime.docker", offline=True)
    assert r.status is Status.INFO
    assert f"the daemon at {host} is on another host and was not contacted" in r.summary
    assert "credentials are still resolved by the local docker CLI" in r.summary


def test_full_data_root_fails_with_no_space_left_and_cleanup_commands(dockerd: Dockerd, open_dir: Path) -> None:
    data = dockerd.data_root
    setup = f"mount -t tmpfs -o size=8m tmpfs {data}\nhead -c 9000000 /dev/zero > {data}/fill 2>/dev/null || true"
    r = run_in_child(open_dir, {}, setup=setup, DOCKER_HOST=dockerd.url)
    assert r["status"] == "fail", r["summary"]
    assert r["summary"].startswith(f"the docker data root {data} is full: only ")
    assert "no space left on device" in r["summary"]
    assert r["fix"]["commands"] == [f"df -h {data}", "docker system df", "docker image prune"]
    assert "docker system prune -a" in r["fix"]["text"] and "deletes every unused image" in r["fix"]["text"]


def test_data_root_almost_out_of_inodes_warns(dockerd: Dockerd, open_dir: Path) -> None:
    data = dockerd.data_root
    setup = (f"mount -t tmpfs -o size=4g,nr_inodes=100 tmpfs {data}\n"
             f"i=0; while [ $i -lt 97 ]; do : > {data}/f$i; i=$((i+1)); done")
    r = run_in_child(open_dir, {}, setup=setup, DOCKER_HOST=dockerd.url)
    assert r["status"] == "warn", r["summary"]
    assert "inodes free" in r["summary"] and f"the docker data root {data} is low" in r["summary"]
    assert f"df -i {data}" in r["fix"]["commands"]


# -- runtime.docker: the daemon cannot be used ------------------------------------------------------------


def test_docker_host_pointing_at_a_missing_socket_fails_daemon_not_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "gone" / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    r = run("runtime.docker")
    assert r.status is Status.FAIL
    assert r.summary == f"the docker daemon is not running: {sock} does not exist"
    assert r.fix is not None and r.fix.commands == ("unset DOCKER_HOST", "sudo systemctl start docker")
    assert any("Is the docker daemon running?" in d for d in r.details)


def test_stale_socket_file_left_by_a_stopped_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))  # the file stays; nothing listens: connection refused
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    r = run("runtime.docker")
    assert r.status is Status.FAIL
    assert r.summary == f"the docker daemon is not running: nothing accepts connections on {sock} (a stale socket)"


def test_daemon_that_does_not_start_because_daemon_json_is_broken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = daemon_json(tmp_path / "root", '{"registry-mirrors": ["https://mirror.gcr.io"],}')
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    r = run("runtime.docker", root=str(root))
    assert r.status is Status.FAIL and "not running" in r.summary
    assert any("/etc/docker/daemon.json is invalid" in d and "refuses to start" in d for d in r.details)
    assert r.fix is not None
    assert r.fix.commands == ("unset DOCKER_HOST", "python3 -m json.tool /etc/docker/daemon.json",
                              "sudo systemctl start docker")


def test_hung_daemon_that_accepts_but_never_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
        server.listen(4)  # connections queue up; nobody ever reads or answers them
        monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
        r = run("runtime.docker", timeout=4)
    assert r.status is Status.FAIL
    assert "accepted the connection but did not answer in time" in r.summary
    assert r.fix is not None and r.fix.commands == ("sudo systemctl restart docker",)
    assert "live-restore" in r.fix.text


def test_malformed_docker_host_without_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "/var/run/docker.sock")
    r = run("runtime.docker")
    assert r.status is Status.FAIL
    assert "DOCKER_HOST=/var/run/docker.sock has no scheme" in r.summary
    assert r.fix is not None and r.fix.commands == ("unset DOCKER_HOST",)


def test_user_outside_the_docker_group_is_told_to_join_it_rather_than_use_sudo(
        dockerd: Dockerd, open_dir: Path) -> None:
    r = run_in_child(open_dir, {}, as_nobody=True, DOCKER_HOST=dockerd.url)
    assert r["status"] == "fail", r["summary"]
    assert r["summary"] == f"permission denied on {dockerd.socket}: user nobody is not in the docker group"
    assert r["fix"]["commands"] == ["sudo usermod -aG docker nobody", "newgrp docker"]
    assert "sudo docker pull" in r["fix"]["text"] and "no basic auth credentials" in r["fix"]["text"]
    assert any("mode 0660" in d for d in r["details"])


def test_user_added_to_the_group_whose_login_session_predates_it(dockerd: Dockerd, open_dir: Path) -> None:
    root = open_dir / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "group").write_text("root:x:0:\ndocker:x:106:alice,nobody\n")
    for p in (root, root / "etc"):
        p.chmod(0o755)
    r = run_in_child(open_dir, {"root": str(root)}, as_nobody=True, DOCKER_HOST=dockerd.url)
    assert r["status"] == "fail"
    assert "user nobody is in the docker group in /etc/group, but this login session started before" in r["summary"]
    assert r["fix"]["commands"] == ["newgrp docker"]


def test_user_in_the_docker_group_can_use_the_daemon(dockerd: Dockerd, open_dir: Path) -> None:
    gid = dockerd.socket.stat().st_gid
    r = run_in_child(open_dir, {}, as_nobody=True, groups=(gid,), DOCKER_HOST=dockerd.url)
    assert r["status"] == "pass", r["summary"]
    assert r["summary"].startswith("dockerd ")


def test_socket_mode_that_shuts_the_group_out(dockerd: Dockerd, open_dir: Path) -> None:
    with socket_access(dockerd, 0o600) as gid:
        r = run_in_child(open_dir, {}, as_nobody=True, groups=(gid,), DOCKER_HOST=dockerd.url)
    assert r["status"] == "fail"
    assert "but the socket's mode 0600 gives the group no access" in r["summary"]
    assert r["fix"]["commands"] == ["sudo systemctl restart docker"]


def test_socket_owned_by_group_root_because_no_docker_group_existed(dockerd: Dockerd, open_dir: Path) -> None:
    with socket_access(dockerd, 0o660, gid=0):
        r = run_in_child(open_dir, {}, as_nobody=True, DOCKER_HOST=dockerd.url)
    assert r["status"] == "fail"
    assert r["summary"] == (f"permission denied on {dockerd.socket}: the socket belongs to group root, so only root "
                            "can use docker (no docker group existed when dockerd started)")
    assert r["fix"]["commands"] == ["sudo groupadd docker", "sudo usermod -aG docker nobody",
                                    "sudo systemctl restart docker", "newgrp docker"]


_NO_RUN = "mount -t tmpfs -o size=1m tmpfs /run"  # this host's /run (and any docker socket in it) disappears


def test_eks_node_without_a_docker_socket_is_skipped(open_dir: Path) -> None:
    root = open_dir / "root"
    (root / "etc" / "eks").mkdir(parents=True)
    r = run_in_child(open_dir, {"root": str(root)}, setup=_NO_RUN)
    assert r["status"] == "skip"
    assert "/etc/eks exists: on an EKS node the kubelet pulls through containerd, not docker" in r["summary"]


def test_containerd_only_host_without_dockerd_is_skipped(open_dir: Path) -> None:
    root = open_dir / "root"
    (root / "run" / "containerd").mkdir(parents=True)
    (root / "run" / "containerd" / "containerd.sock").touch()
    r = run_in_child(open_dir, {"root": str(root)}, setup=_NO_RUN, PATH="/usr/bin:/bin")
    assert r["status"] == "skip"
    assert "but containerd runs: images are pulled through containerd, not docker" in r["summary"]


def test_docker_cli_without_any_daemon_installed(open_dir: Path) -> None:
    root = open_dir / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    cli = root / "usr" / "bin" / "docker"
    cli.write_text("#!/bin/sh\necho 'Docker version 27.5.1, build 9f9e405'\n")
    cli.chmod(0o755)
    r = run_in_child(open_dir, {"root": str(root)}, setup=_NO_RUN, PATH="/usr/bin:/bin")
    assert r["status"] == "fail"
    assert r["summary"] == ("no docker daemon here: /var/run/docker.sock does not exist and dockerd is not installed; "
                            "the docker CLI at /usr/bin/docker has nothing to talk to")


def test_host_without_docker_at_all_is_skipped(open_dir: Path) -> None:
    root = open_dir / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    r = run_in_child(open_dir, {"root": str(root)}, setup=_NO_RUN, PATH="/usr/bin:/bin")
    assert r["status"] == "skip"
    assert r["summary"] == "docker is not installed here (no docker CLI on PATH, no dockerd)"


def test_stopped_daemon_with_a_docker_desktop_context_says_which_endpoint_docker_uses(open_dir: Path) -> None:
    (open_dir / ".docker").mkdir()
    (open_dir / ".docker" / "config.json").write_text('{"currentContext": "desktop-linux"}')
    r = run_in_child(open_dir, {}, setup=_NO_RUN)
    assert r["status"] == "fail"
    assert r["summary"] == "the docker daemon is not running: /var/run/docker.sock does not exist"
    assert r["fix"]["commands"] == ["sudo systemctl start docker", "sudo journalctl -u docker -n 20 --no-pager"]
    assert any("the docker CLI uses the context 'desktop-linux' (currentContext in the docker config)" in d
               for d in r["details"])


# -- runtime.docker-config -------------------------------------------------------------------------------


@pytest.fixture
def no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """daemon.json cases that need no daemon: DOCKER_HOST points where none listens."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")


def test_no_daemon_json_is_info(tmp_path: Path, no_daemon: None) -> None:
    (tmp_path / "root").mkdir()
    r = run("runtime.docker-config", root=str(tmp_path / "root"))
    assert r.status is Status.INFO
    assert r.summary.startswith("no /etc/docker/daemon.json: dockerd runs with its defaults")


def test_sane_daemon_json_with_a_docker_hub_mirror_passes(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({
        "registry-mirrors": ["https://mirror.gcr.io"], "storage-driver": "overlay2", "data-root": "/data/docker",
        "log-driver": "json-file"}))
    r = run("runtime.docker-config", image=IMAGE, root=str(root))
    assert r.status is Status.PASS
    assert r.summary == ("/etc/docker/daemon.json is valid and sets registry-mirrors, data-root, storage-driver; "
                         "nothing in it blocks ECR pulls")
    assert any("used for Docker Hub images only; ECR pulls always go straight to the registry" in d
               for d in r.details)
    assert "data-root /data/docker" in r.details and "storage-driver overlay2" in r.details


def test_trailing_comma_in_daemon_json_stops_dockerd_from_starting(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", '{\n  "registry-mirrors": ["https://mirror.gcr.io"],\n}\n')
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.FAIL
    assert r.summary.startswith("/etc/docker/daemon.json is invalid at line 3, column 1")
    assert "dockerd refuses to start with it" in r.summary
    assert r.fix is not None
    assert r.fix.commands == ("python3 -m json.tool /etc/docker/daemon.json", "sudo systemctl restart docker")


def test_wrong_type_for_registry_mirrors_stops_dockerd(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", '{"registry-mirrors": "https://mirror.gcr.io"}')
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.FAIL
    assert "`registry-mirrors` must be a list of strings" in r.summary


def test_ecr_pull_through_cache_configured_as_a_registry_mirror_stops_dockerd(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"registry-mirrors": [f"https://{ECR}/docker-hub"]}))
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.FAIL
    assert "invalid mirror: path, query, or fragment at end of the URI" in r.summary
    assert "an ECR pull-through cache is not a registry mirror" in r.summary
    assert r.fix is not None and r.fix.commands == ("sudo systemctl restart docker",)


def test_mirror_without_scheme_stops_dockerd(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"registry-mirrors": ["mirror.gcr.io"]}))
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.FAIL
    assert 'invalid mirror: unsupported scheme "" in "mirror.gcr.io"' in r.summary


def test_ecr_host_as_registry_mirror_expecting_it_to_cache_ecr_warns(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"registry-mirrors": [f"https://{ECR}"]}))
    r = run("runtime.docker-config", image=IMAGE, root=str(root))
    assert r.status is Status.WARN
    assert f"registry-mirrors lists the ECR host {ECR}, but mirrors only apply to Docker Hub images" in r.summary
    assert r.fix is not None and f"{ECR}/<prefix>/<image>" in r.fix.text


def test_ecr_host_in_insecure_registries_warns(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"insecure-registries": [f"https://{ECR}", "10.0.0.0/8"]}))
    r = run("runtime.docker-config", image=IMAGE, root=str(root))
    assert r.status is Status.WARN
    assert f"insecure-registries lists the ECR host {ECR}" in r.summary
    assert "switches off certificate checks" in r.summary
    assert r.fix is not None and "x509: certificate signed by unknown authority" in r.fix.text


def test_empty_daemon_json_warns(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", "\n")
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.WARN
    assert "is empty: dockerd 20.10 refuses to start with it" in r.summary
    assert r.fix is not None and r.fix.commands == ("echo '{}' | sudo tee /etc/docker/daemon.json",)


def test_daemon_json_proxies_are_reported_without_the_proxy_password(tmp_path: Path, no_daemon: None) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"proxies": {
        "https-proxy": "http://svc:Pr0xyPassw0rd@proxy.corp:3128", "no-proxy": "localhost,127.0.0.1"}}))
    report = run_check(RunOptions(image=IMAGE, root=str(root), timeout=15), catalogue=CATALOGUE)
    r = report.result("runtime.docker-config")
    assert r is not None and r.status is Status.PASS
    assert any("https-proxy http://proxy.corp:3128" in d for d in r.details)
    assert any(f"pulls from {ECR} (and its S3 layer downloads) go through http://proxy.corp:3128" in d
               for d in r.details)
    assert any("`proxies` needs Docker Engine 23 or later" in d for d in r.details)
    assert "Pr0xyPassw0rd" not in json.dumps(report.to_dict())


def test_proxies_in_daemon_json_on_the_running_dockerd(dockerd: Dockerd, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified with dockerd 20.10: it refuses to start when daemon.json has `proxies` (Engine 23 added it)."""
    root = daemon_json(tmp_path / "root", json.dumps({"proxies": {"https-proxy": "http://proxy.corp:3128"}}))
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker-config", root=str(root))
    version = server_version(dockerd)["Version"]
    if int(version.split(".")[0]) < 23:
        assert r.status is Status.FAIL
        assert f"sets `proxies`, which dockerd {version} does not know (Engine 23+): it refuses to start" in r.summary
        assert r.fix is not None and r.fix.commands == (
            "sudo mkdir -p /etc/systemd/system/docker.service.d",
            "printf '[Service]\\nEnvironment=\"HTTPS_PROXY=http://proxy.corp:3128\"\\n' | "
            "sudo tee /etc/systemd/system/docker.service.d/http-proxy.conf",
            "sudo systemctl daemon-reload", "sudo systemctl restart docker")
    else:
        assert r.status is Status.PASS


def test_data_root_changed_in_daemon_json_but_daemon_not_restarted(dockerd: Dockerd, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"data-root": "/data/docker"}))
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.PASS
    assert any(f"the running dockerd uses {dockerd.data_root}: daemon.json changed after it started" in d
               for d in r.details)


def test_rootless_daemon_reads_daemon_json_from_the_users_config_dir(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = daemon_json(tmp_path / "root", json.dumps({"registry-mirrors": [f"https://{ECR}"]}),
                       path="home/alice/.config/docker/daemon.json")
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.WARN
    assert r.evidence["path"] == "/home/alice/.config/docker/daemon.json" and r.evidence["rootless"] is True


def test_daemon_json_that_cannot_be_read_is_skipped(tmp_path: Path, no_daemon: None) -> None:
    root = tmp_path / "root"
    (root / "etc" / "docker" / "daemon.json").mkdir(parents=True)
    r = run("runtime.docker-config", root=str(root))
    assert r.status is Status.SKIP
    assert r.summary.startswith("cannot read /etc/docker/daemon.json: is a directory")
