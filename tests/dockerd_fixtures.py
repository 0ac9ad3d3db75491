"""A real dockerd for the tests: vfs storage, no iptables, no bridge, its own socket and directories.

Import the fixture explicitly where it is used (`from tests.dockerd_fixtures import Dockerd, dockerd_fixture`).
Recipe: research/feasibility.md §4. Started once per session, stopped (with the containerd it spawned)
at the end; nothing is left running or mounted."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

from tests.conftest import need

_ENV_DROP = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "ALL_PROXY")


@dataclass(frozen=True)
class Dockerd:
    """A running dockerd: where to reach it and where it keeps its state."""

    workdir: Path  # world-traversable, so a test can reach the socket as another user
    socket: Path
    tcp_port: int
    data_root: Path
    exec_root: Path
    log: Path
    pid: int

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(sock: Path) -> bool:
    """GET /_ping on the unix socket: True once the API answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            head = s.recv(64)
        return head.startswith(b"HTTP/1.") and b" 200 " in head
    except OSError:
        return False


def _mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == target for line in fh if len(line.split()) > 4)


def _stop(proc: subprocess.Popen[bytes], exec_root: Path, data_root: Path) -> None:
    """SIGTERM dockerd (it stops its containerd child); kill stragglers by their own pid; unmount its data root."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    pidfile = exec_root / "containerd" / "containerd.pid"
    try:
        containerd: Optional[int] = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        containerd = None
    if containerd:
        try:
            cmdline = Path(f"/proc/{containerd}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"containerd" in cmdline and str(exec_root).encode() in cmdline:
            os.kill(containerd, signal.SIGTERM)
    if _mounted(data_root):  # dockerd makes its data root a private mount; a crash can leave it behind
        subprocess.run(["umount", str(data_root)], check=False, timeout=10)


@pytest.fixture(scope="session", name="dockerd")
def dockerd_fixture() -> Iterator[Dockerd]:
    exe = shutil.which("dockerd", path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin")
    need("dockerd (apt-get install docker.io)", exe is not None)
    need("root privileges to run dockerd", os.geteuid() == 0)
    assert exe is not None
    # a short path (unix socket paths are limited to 108 bytes), traversable by other users
    workdir = Path(tempfile.mkdtemp(prefix="ecrdoctor-dockerd-"))
    workdir.chmod(0o755)
    data_root, exec_root = workdir / "data", workdir / "exec"
    data_root.mkdir()
    exec_root.mkdir()
    sock, log, port = workdir / "docker.sock", workdir / "dockerd.log", _free_port()
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP and not k.startswith("DOCKER_")}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [exe, "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
             "--bridge=none", "--storage-driver=vfs", "--data-root", str(data_root), "--exec-root", str(exec_root),
             "--pidfile", str(workdir / "dockerd.pid"), "-H", f"unix://{sock}", "-H", f"tcp://127.0.0.1:{port}"],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while not (sock.exists() and _ping(sock)):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield Dockerd(workdir, sock, port, data_root, exec_root, log, proc.pid)
    finally:
        _stop(proc, exec_root, data_root)
        shutil.rmtree(workdir, ignore_errors=True)
