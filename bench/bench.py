"""SPEC §8 budgets, measured: medians over N runs of the real console script, against a local moto server.

It all runs in a network namespace of its own that has only loopback, so no child can reach anything
else; the one step that may go further comes before: installing AWS CLI v1 from PyPI (once, into a venv of its
own) for the runbook comparison. To add a row, append a Bench to BENCHES: its measure function gets the Lab and
returns one Run.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

BIN = Path(sys.executable).parent
ECRDOCTOR = str(BIN / "ecrdoctor")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
DEADLINE = 3.0  # --timeout of the run against the endpoint that never answers
BLACKHOLE_DEADLINE = 8.0  # --timeout of the run with every endpoint blackholed (issue 5: ends within 9 s)
BLACKHOLE = "127.0.0.2"  # SYNs to BLACKHOLE:443 are dropped (iptables, in the bench's own network namespace)
BLACKHOLED: List[bool] = []  # [True] once the rule is in place
UNITS = {"wall": ("s", "%.3f"), "rss": ("MB", "%.1f"), "runbook": ("s", "%.3f"), "ratio": ("x", "%.1f")}
FLOORS = {"ratio"}  # metrics whose budget is a minimum
HELPER = "/usr/bin/docker-credential-ecr-login"  # Debian's amazon-ecr-credential-helper
AWSCLI_PIN = "awscli==1.46.3"  # AWS CLI v1 from PyPI: its own botocore (1.43), in a venv of its own
AWSCLI_VENV = Path(tempfile.gettempdir(), "ecrdoctor-bench", AWSCLI_PIN.replace("==", "-"))
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# team/app:1.4 as `docker buildx build --platform linux/amd64,linux/arm64 --push` leaves it: two OCI image
# manifests pushed by digest, then the image index under the tag, so the ECR checks find a real image.
SETUP = """
import boto3, hashlib, json
ecr = boto3.client("ecr")
ecr.create_repository(repositoryName="team/app")
sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()
entries = []
for arch, variant in (("amd64", None), ("arm64", "v8")):
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(arch.encode()),
                    "size": 31457280}]})
    ecr.put_image(repositoryName="team/app", imageManifest=manifest, imageDigest=sha(manifest.encode()))
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest.encode()),
                    "size": len(manifest), "platform": platform})
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
ecr.put_image(repositoryName="team/app", imageManifest=json.dumps(index), imageTag="1.4")
"""


@dataclass
class Run:
    wall: float  # seconds, fork to reap
    rss: float  # MB, the child's peak resident set from its own rusage (os.wait4)
    rc: int
    stdout: str
    stderr: str


@dataclass
class Bench:
    name: str
    measure: Callable[[Lab], Run]
    budgets: Dict[str, Optional[float]]  # metric of Run ("wall", "rss", ...) -> budget in UNITS; None: no budget
    note: Callable[[Run], str] = lambda r: f"rc {r.rc}"
    labels: Optional[Dict[str, str]] = None  # row name per metric (default: name, and name [peak RSS] for rss)
    runs: Optional[int] = None  # at most this many measured runs, whatever --runs says


# Spawns the command, reaps it and writes "wall maxrss_kib exitcode" to argv[1]. Linux carries the high-water RSS of
# the memory a process execs from into its ru_maxrss, so a child spawned by the bench itself would report at least
# the bench's own peak (tens of MB, more after building the fleet); from this launcher the floor is ~8 MB.
_LAUNCHER = """
import os, sys, time
out, args = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
try:
    pid = os.posix_spawnp(args[0], args, os.environ)
except OSError as exc:
    sys.stderr.write(f"{args[0]}: {exc}\\n")
    wall, rss, rc = 0.0, 0, 127
else:
    _, status, usage = os.wait4(pid, 0)
    wall, rss, rc = time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status)
with open(out, "w") as fh:
    fh.write(f"{wall} {rss} {rc}")
"""


def run(args: List[str], env: Dict[str, str], timeout: float = 60.0, stdin: bytes = b"") -> Run:
    """Run a child through _LAUNCHER, for its own wall time (spawn to reap) and peak RSS; killed with everything it
    started (and an error) at `timeout`."""
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", prefix="bench-run-") as result:
        inp.write(stdin)
        inp.seek(0)
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, result.name, *args], env=env,
                                stdin=inp, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"{args} still running after {timeout:g} s; killed") from None
        figures = result.read().split()
        if proc.returncode != 0 or len(figures) != 3:
            raise RuntimeError(f"the launcher of {args} failed (rc {proc.returncode})")
        out.seek(0)
        err.seek(0)
        return Run(float(figures[0]), int(figures[1]) / 1024, int(figures[2]),
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def isolate_network() -> str:
    """Enter a new network namespace (as root, else inside a new user namespace) and bring `lo` up."""
    libc, uid, gid = ctypes.CDLL(None, use_errno=True), os.getuid(), os.getgid()
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        if libc.unshare(0x10000000 | 0x40000000) != 0:  # CLONE_NEWUSER | CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "unshare: " + os.strerror(ctypes.get_errno()))
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            Path("/proc/self", name).write_text(text)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack_from("H", ifreq, 16)[0] | 0x1  # IFF_UP
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags))  # SIOCSIFFLAGS
    return "own network namespace, loopback only"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(args: List[str], env: Dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    """Start a loopback server and wait (up to 20 s) until `url` answers with any HTTP status."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh)
    deadline = time.monotonic() + 20
    while True:
        try:
            _NO_PROXY.open(url, timeout=1).close()
            return proc
        except urllib.error.HTTPError:  # it answers: up
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(proc)
                raise RuntimeError(f"{Path(args[0]).name} did not start: " + log.read_text()[-2000:]) from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Lab:
    """A temp HOME with a docker config, moto_server holding `team/app:1.4`, and a listener that never answers;
    moto_proxy for the credential helper, AWS CLI v1 and the fleet of reports come when a row asks for them."""

    def __init__(self, tmp: Path, aws: Optional[str] = None, aws_problem: str = "") -> None:
        self.tmp, self.home = tmp, tmp / "home"
        self.aws, self.aws_problem = aws, aws_problem  # AWS CLI v1's `aws`, or why there is none
        self.moto: Optional[subprocess.Popen[bytes]] = None
        self.moto_proxy: Optional[subprocess.Popen[bytes]] = None
        self.socks: List[socket.socket] = []  # the listener, then every connection it holds
        self.fleet: Optional[Tuple[Path, Path]] = None  # FLEET and FLEET_SMALL reports, made on first use

    def start(self) -> None:
        (self.home / ".aws").mkdir(parents=True)
        (self.home / ".docker").mkdir()
        registry = IMAGE.split("/")[0]
        (self.home / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {registry: "ecr-login"}}))
        port = free_port()
        self.moto_url = f"http://127.0.0.1:{port}"
        self.moto = serve([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], self.env(None),
                          self.moto_url + "/moto-api/", self.tmp / "moto_server.log")
        made = run([sys.executable, "-c", SETUP], self.env(self.moto_url), timeout=30)
        if made.rc != 0:
            raise RuntimeError("creating team/app:1.4 in moto failed: " + made.stderr[-2000:])
        sink = socket.socket()
        self.socks.append(sink)
        sink.bind(("127.0.0.1", 0))
        sink.listen(64)
        self.sink_url = f"http://127.0.0.1:{sink.getsockname()[1]}"
        threading.Thread(target=self._hold, args=(sink,), daemon=True).start()

    def blackhole(self) -> None:
        """Drop SYNs to BLACKHOLE:443, only where the bench has a network namespace of its own (and iptables)."""
        iptables = shutil.which("iptables", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if iptables is None or os.geteuid() != 0:
            return
        rule = ["-A", "INPUT", "-d", BLACKHOLE, "-p", "tcp", "--dport", "443", "-j", "DROP"]
        if subprocess.run([iptables, *rule], capture_output=True, timeout=10).returncode == 0:
            BLACKHOLED.append(True)

    def _hold(self, sink: socket.socket) -> None:
        while True:  # accept, never answer, keep the connection open until close()
            try:
                self.socks.append(sink.accept()[0])
            except OSError:
                return

    def env(self, endpoint: Optional[str]) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "DOCKER_", "SUDO_")) and not k.upper().endswith("_PROXY")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up run is there to write the bytecode cache
        env.update(HOME=str(self.home), AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=str(self.home / ".aws" / "config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(self.home / ".aws" / "credentials"),
                   AWS_ACCESS_KEY_ID="AKIABENCHKEY0000TEST", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_DEFAULT_REGION="us-east-1", **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}))
        return env

    def proxy(self) -> Tuple[str, str]:
        """moto_proxy on loopback (started on first use) and its CA: the only way to point the Go credential helper
        at moto, which ignores AWS_ENDPOINT_URL (research feasibility.md §2; tests/helper_fixtures.py)."""
        spec = importlib.util.find_spec("moto")
        if spec is None or spec.origin is None:
            raise RuntimeError("moto is not installed beside ecrdoctor")
        ca = str(Path(spec.origin).parent / "moto_proxy" / "ca.crt")
        if self.moto_proxy is None:
            port = free_port()
            self.proxy_url = f"http://127.0.0.1:{port}"
            self.moto_proxy = serve([str(BIN / "moto_proxy"), "-H", "127.0.0.1", "-p", str(port)], self.env(None),
                                    f"http://localhost:{port}/moto-api/", self.tmp / "moto_proxy.log")
        return self.proxy_url, ca

    def close(self) -> None:
        for s in self.socks:
            s.close()
        for proc in (self.moto, self.moto_proxy):
            if proc is not None:
                stop(proc)


def outcome(r: Run) -> str:
    """Exit code, diagnosis and every check that did not pass, from the JSON report."""
    try:
        report = json.loads(r.stdout)
    except ValueError:
        return f"rc {r.rc}, not JSON: {(r.stderr or r.stdout).strip()[-100:]!r}"
    other = [f"{x['status']} {x['id']}" for x in report["results"] if x["status"] not in ("pass", "info")]
    return f"rc {r.rc}; diagnosis {','.join(report['diagnosis']) or 'none'}; {', '.join(other) or 'all pass'}"


def applicable(r: Run) -> str:
    """How many checks ran, how many did not apply, and any check held back by a failed requirement."""
    try:
        results = json.loads(r.stdout)["results"]
    except (ValueError, KeyError):
        return outcome(r)
    skipped = [x for x in results if x["status"] == "skip"]
    blocked = [x["id"] for x in skipped if x["summary"].startswith("needs ")]
    ecr = ", ".join(f"{x['id']} {x['status']}" for x in results if x["id"].startswith("ecr."))
    return (f"rc {r.rc}; {len(results) - len(skipped)} checks ran, {len(skipped)} did not apply"
            + (f" (blocked: {','.join(blocked)})" if blocked else "") + (f"; {ecr}" if ecr else ""))


def blackhole(lab: Lab) -> Run:
    """SPEC §8: every AWS and registry endpoint blackholed. The API, registry and S3 layer hosts go to BLACKHOLE:443
    through --resolve, botocore through AWS_ENDPOINT_URL, and iptables drops the SYNs (in the bench's own network
    namespace only; without iptables the note says so and the row proves nothing). runtime.* is skipped: whether
    this machine runs a docker daemon is not what the row measures."""
    host = IMAGE.split("/")[0]
    region = host.split(".")[3]
    names = (f"api.ecr.{region}.amazonaws.com", host, f"prod-{region}-starport-layer-bucket.s3.{region}.amazonaws.com")
    args = [ECRDOCTOR, "check", IMAGE, "--timeout", f"{BLACKHOLE_DEADLINE:g}", "--format", "json",
            "--skip", "runtime.*", *(a for name in names for a in ("--resolve", f"{name}:443:{BLACKHOLE}"))]
    return run(args, lab.env(f"https://{BLACKHOLE}:443"))


def blackhole_note(r: Run) -> str:
    """The diagnosis and what net.reach said: the network must be named as the cause."""
    try:
        report = json.loads(r.stdout)
        reach: Dict[str, Any] = next((x for x in report["results"] if x["id"] == "net.reach"), {})
    except (ValueError, KeyError):
        return outcome(r)
    if not BLACKHOLED:
        return "NOT blackholed (no iptables or no namespace of its own): the figure proves nothing"
    return f"rc {r.rc}; diagnosis {','.join(report['diagnosis'][:3]) or 'none'}; net.reach: {reach.get('summary')}"


def ecrdoctor(*args: str, endpoint: str = "moto_url") -> Callable[[Lab], Run]:
    return lambda lab: run([ECRDOCTOR, *args], lab.env(getattr(lab, endpoint)))


LOG_TAIL_BYTES = 4 << 20  # real lines at each end of the 1 GiB log; the gibibyte between them is a sparse hole


@dataclass
class LogRun(Run):
    process_wall: float = 0.0  # the whole ecrdoctor process, fork to reap
    base_rss: float = 0.0  # peak RSS of the same run on a HOME without a log
    status: str = ""


def _helper_log(end: float, count: int) -> bytes:
    """`count` requests of docker-credential-ecr-login for IMAGE's registry, 11 s apart and ending at `end` (Unix
    time), in the logrus format helper 0.6 writes; every 400th fails with AccessDenied, for the classifier to name."""
    host = IMAGE.split("/")[0]
    account, region = host.split(".")[0], host.split(".")[3]
    lines = []
    for i in range(count):
        t = time.strftime('time="%Y-%m-%dT%H:%M:%SZ"', time.gmtime(end - 11 * (count - i)))
        lines.append(f'{t} level=debug msg="Retrieving credentials" region={region} registry={account} '
                     f"serverURL={host} service=ecr\n{t} level=debug msg=\"Checking file cache\" registry={account}\n")
        if i % 400 == 399:
            lines.append(f'{t} level=debug msg="Calling ECR.GetAuthorizationToken" registry={account}\n{t} '
                         'level=error msg="Error retrieving credentials" error="ecr: Failed to get authorization '
                         "token: operation error ECR: GetAuthorizationToken, https response error StatusCode: 400, "
                         f"RequestID: 5f0c, api error AccessDeniedException: User: arn:aws:sts::{account}:assumed-role/"
                         f"node-role/i-0123456789abcdef0 is not authorized to perform: ecr:GetAuthorizationToken on "
                         'resource: *"\n')
        else:
            lines.append(f'{t} level=debug msg="Using cached token" registry={account}\n')
    return "".join(lines).encode()


def _log_homes(lab: Lab) -> Tuple[Path, Path]:
    """Two HOMEs beside the lab's, with its docker config: one with a 1 GiB ecr-login.log (made once), one without."""
    big, bare = lab.tmp / "home-1gib-log", lab.tmp / "home-no-log"
    for home in (big, bare):
        if not home.exists():
            shutil.copytree(lab.home / ".docker", home / ".docker")
    log = big / ".ecr" / "log" / "ecr-login.log"
    if not log.exists():
        log.parent.mkdir(parents=True)
        now = time.time()
        head, tail = _helper_log(now - 40 * 86400, 9000), _helper_log(now, 9000)
        with open(log, "wb") as fh:
            fh.write(head[:LOG_TAIL_BYTES])  # last month's requests
            fh.truncate((1 << 30) - LOG_TAIL_BYTES)
            fh.seek(0, 2)
            cut = tail.index(b"\n", len(tail) - LOG_TAIL_BYTES) + 1 if len(tail) > LOG_TAIL_BYTES else 0
            fh.write(tail[cut:])  # the last day, up to now
    return big, bare


def helper_log_1gib(lab: Lab) -> LogRun:
    """SPEC §8: helper.log on a 1 GiB ecr-login.log. `wall` is the check's own duration from the report (the
    process adds the interpreter's start-up); `rss` is the peak RSS above the same run on a HOME with no log."""
    big, bare = _log_homes(lab)
    args = [ECRDOCTOR, "check", IMAGE, "--only", "helper.log", "--format", "json"]
    base = run(args, {**lab.env(lab.moto_url), "HOME": str(bare)})
    r = run(args, {**lab.env(lab.moto_url), "HOME": str(big)})
    try:
        result = next(x for x in json.loads(r.stdout)["results"] if x["id"] == "helper.log")
        check_s, status = result["duration_ms"] / 1000, f"{result['status']}: {result['summary'][:50]}"
    except (ValueError, KeyError, StopIteration):
        check_s, status = r.wall, f"no helper.log result: {(r.stderr or r.stdout).strip()[-80:]!r}"
    return LogRun(check_s, r.rss - base.rss, r.rc, r.stdout, r.stderr, r.wall, base.rss, status)


def log_note(r: Run) -> str:
    if not isinstance(r, LogRun):
        return f"rc {r.rc}"
    return (f"rc {r.rc}; {r.status}; process {r.process_wall:.3f} s, peak RSS {r.rss + r.base_rss:.1f} MB "
            f"vs {r.base_rss:.1f} MB with no log")


# -- the runbook comparison -------------------------------------------------------------------------


def ensure_awscli(venv: Path) -> Tuple[Optional[str], str]:
    """AWS CLI v1 in a venv of its own, installed from PyPI on first use (kept for later runs): its `aws` and
    `aws --version`, or None and why. Runs before the bench leaves the network: the one step that may need it."""
    aws = venv / "bin" / "aws"
    try:
        if not aws.exists():
            print(f"bench: installing {AWSCLI_PIN} into {venv} (once) ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True,
                           timeout=120)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                            "-q", AWSCLI_PIN], check=True, capture_output=True, timeout=600)
        version = subprocess.run([str(aws), "--version"], capture_output=True, text=True, timeout=30,
                                 env={"PATH": os.environ.get("PATH", ""), "HOME": str(venv)})
        if version.returncode != 0:
            return None, f"{aws} --version failed: {(version.stderr or version.stdout).strip()[-200:]}"
        return str(aws), (version.stdout or version.stderr).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", None) or b""
        return None, f"cannot install {AWSCLI_PIN} into {venv}: {exc} {err.decode(errors='replace')[-300:]}"


@dataclass
class RunbookRun(Run):
    """`wall`/`rss`: ecrdoctor check IMAGE; `runbook`: the seed runbook's commands one after another, same host."""

    runbook: float = 0.0
    ratio: float = 0.0
    steps: Tuple[Tuple[str, float], ...] = ()  # each runbook command and its wall time


def _runbook_home(lab: Lab) -> Path:
    """The fake host both sides look at: the lab's docker config, and an ecr-login.log of the last ~3 h (400
    requests, the last one AccessDenied), so `tail` has something to show and helper.log something to read."""
    home = lab.tmp / "home-runbook"
    if not home.exists():
        shutil.copytree(lab.home / ".docker", home / ".docker")
        log = home / ".ecr" / "log" / "ecr-login.log"
        log.parent.mkdir(parents=True)
        log.write_bytes(_helper_log(time.time(), 400))
    return home


def runbook_steps(lab: Lab, home: Path) -> List[Tuple[str, List[str], Dict[str, str], bytes]]:
    """The seed runbook as a person types it on the host: (label, argv, environment, stdin). The AWS CLI goes to
    moto_server through AWS_ENDPOINT_URL, like ecrdoctor; the credential helper ignores that variable, so it goes
    through moto_proxy (HTTPS_PROXY + moto's CA), as tests/helper_fixtures.py drives it."""
    if lab.aws is None:
        raise RuntimeError(f"no AWS CLI: {lab.aws_problem}")
    repo, tag = IMAGE.split("/", 1)[1].rsplit(":", 1)
    aws_env = {**lab.env(lab.moto_url), "HOME": str(home)}
    proxy, ca = lab.proxy()
    helper_env = {**lab.env(None), "HOME": str(home), "HTTPS_PROXY": proxy, "AWS_CA_BUNDLE": ca}
    return [
        ("sts", [lab.aws, "sts", "get-caller-identity"], aws_env, b""),
        ("repos", [lab.aws, "ecr", "describe-repositories", "--repository-names", repo], aws_env, b""),
        ("images", [lab.aws, "ecr", "describe-images", "--repository-name", repo, "--image-ids", f"imageTag={tag}"],
         aws_env, b""),
        ("password", [lab.aws, "ecr", "get-login-password"], aws_env, b""),
        ("helper", [HELPER, "get"], helper_env, IMAGE.split("/")[0].encode() + b"\n"),
        ("cat", ["cat", str(home / ".docker" / "config.json")], aws_env, b""),
        ("tail", ["tail", "-n", "50", str(home / ".ecr" / "log" / "ecr-login.log")], aws_env, b""),
    ]


def runbook(lab: Lab) -> RunbookRun:
    """SPEC §8: `ecrdoctor check IMAGE` as a person types it (text report) against the seed runbook on the same
    host and the same moto_server, back to back. Every runbook command must succeed, or the row is an error:
    a comparison with commands that failed fast would flatter the runbook's speed."""
    home = _runbook_home(lab)
    steps = runbook_steps(lab, home)
    doctor = run([ECRDOCTOR, "check", IMAGE], {**lab.env(lab.moto_url), "HOME": str(home)})
    if doctor.rc not in (0, 1) or "Traceback" in doctor.stderr:
        raise RuntimeError(f"ecrdoctor check failed (rc {doctor.rc}): {doctor.stderr.strip()[-300:]}")
    timed = []
    for label, args, env, stdin in steps:
        r = run(args, env, timeout=30, stdin=stdin)
        if r.rc != 0 or (label == "helper" and '"Username":"AWS"' not in r.stdout):
            said = r.stderr.strip() or r.stdout.strip()
            raise RuntimeError(f"runbook step {label} failed (rc {r.rc}): {said[-300:]}")
        timed.append((label, r.wall))
    took = sum(wall for _, wall in timed)  # back to back, as a script runs them: no time between commands
    return RunbookRun(doctor.wall, doctor.rss, doctor.rc, doctor.stdout, doctor.stderr, took, took / doctor.wall,
                      tuple(timed))


def runbook_note(r: Run) -> str:
    if not isinstance(r, RunbookRun):
        return f"rc {r.rc}"
    tally = (r.stdout.strip().splitlines() or ["no output"])[-1]  # "16 pass, 0 warn, ... in 0.6 s"
    return (f"check rc {r.rc}: {tally} (helper.get skips: AWS_ENDPOINT_URL); runbook steps, last run: "
            + ", ".join(f"{label} {wall:.2f}" for label, wall in r.steps) + " s")


# -- aggregate over a fleet of reports ---------------------------------------------------------------

FLEET = 10_000
FLEET_SMALL = 100  # the same reports, fewer: peak memory must not grow with the count
MISSING_TAG = "2.7.183"  # varied per host in the copies, as tags are on a real fleet


def _fleet_bases(lab: Lab) -> List[Tuple[str, str]]:
    """Real `check --format json` reports from four broken hosts, as (report, the HOME it names): tag missing,
    repository missing, no AWS credentials, no docker credential source. runtime.* and net.* are skipped: in
    the bench's namespace they would name the absent daemon and DNS as every host's root cause."""
    host = IMAGE.split("/")[0]
    bare = lab.tmp / "home-no-credentials-source"
    (bare / ".docker").mkdir(parents=True, exist_ok=True)
    (bare / ".docker" / "config.json").write_text(json.dumps({"auths": {}}))
    env = lab.env(lab.moto_url)
    no_keys = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    setups = [(f"{host}/team/app:{MISSING_TAG}", env), (f"{host}/team/nope:1.0", env), (IMAGE, no_keys),
              (IMAGE, {**env, "HOME": str(bare)})]
    bases = []
    for image, e in setups:
        r = run([ECRDOCTOR, "check", image, "--format", "json", "--skip", "runtime.*", "--skip", "net.*"], e)
        try:
            json.loads(r.stdout)["diagnosis"][0]
        except (ValueError, KeyError, IndexError):
            raise RuntimeError(f"no report with a diagnosis for {image} (rc {r.rc}): {r.stderr[-300:]}") from None
        bases.append((r.stdout, e["HOME"]))
    return bases


def make_fleet(bases: List[Tuple[str, str]], root: Path, count: int) -> Path:
    """`count` reports as SSM leaves them, root/<instance-id>/report.json, copied from `bases` in turn with what
    differs between hosts varied: host name and instance id, HOME, start time, durations, the caller's role
    session, the missing tag."""
    rng = random.Random(count)
    templates = []
    for text, home in bases:
        report = json.loads(text)
        report["started_at"] = "@STARTED@"
        report["host"].update(hostname="@HOSTNAME@", instance_id="@IID@", on_ec2=True)
        templates.append(re.split(r'(?<="duration_ms": )\d+', json.dumps(report, indent=2).replace(home, "@HOME@")))
    root.mkdir(parents=True)
    for i in range(count):
        iid = f"i-{rng.getrandbits(68):017x}"
        parts = templates[i % len(templates)]
        text = parts[0] + "".join(f"{rng.randint(0, 900)}{part}" for part in parts[1:])
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1795000000 + rng.randint(0, 86400)))
        hostname = f"ip-10-{rng.randint(0, 255)}-{rng.randint(0, 255)}-{rng.randint(1, 254)}.ec2.internal"
        text = (text.replace("@HOME@", rng.choice(("/root", "/home/ec2-user", "/home/ssm-user")))
                .replace("@STARTED@", started).replace(MISSING_TAG, f"2.7.{rng.randint(100, 999)}")
                .replace("user/moto", "assumed-role/node-role/@IID@").replace("@IID@", iid)
                .replace("@HOSTNAME@", hostname))
        (root / iid).mkdir()
        (root / iid / "report.json").write_text(text)
    return root


@dataclass
class FleetRun(Run):
    small_rss: float = 0.0  # peak RSS over FLEET_SMALL of the same reports


def aggregate_fleet(lab: Lab) -> FleetRun:
    """SPEC §8: `ecrdoctor aggregate DIR --format json` over 10,000 reports; its peak RSS beside the same run over
    100 of them shows whether memory stays flat."""
    if lab.fleet is None:
        bases = _fleet_bases(lab)
        lab.fleet = make_fleet(bases, lab.tmp / "fleet", FLEET), make_fleet(bases, lab.tmp / "fleet-small", FLEET_SMALL)
    big, small = lab.fleet
    args = [ECRDOCTOR, "aggregate", "--format", "json"]
    r = run([*args, str(big)], lab.env(lab.moto_url))
    base = run([*args, str(small)], lab.env(lab.moto_url))
    try:
        doc = json.loads(r.stdout)
        ok = doc["reports"] == FLEET and doc["unreadable"] == 0
    except (ValueError, KeyError):
        ok = False
    if r.rc != 0 or not ok:
        raise RuntimeError(f"aggregate did not read {FLEET} reports (rc {r.rc}): {(r.stderr or r.stdout)[-300:]}")
    return FleetRun(r.wall, r.rss, r.rc, r.stdout, r.stderr, base.rss)


def fleet_note(r: Run) -> str:
    if not isinstance(r, FleetRun):
        return f"rc {r.rc}"
    doc = json.loads(r.stdout)
    causes = ", ".join(f"{c['check']} {c['hosts']}" for c in doc["root_causes"][:5])
    return (f"rc {r.rc}; {doc['reports']} reports, {doc['unreadable']} unreadable; root causes {causes}; "
            f"peak RSS over {FLEET_SMALL}: {r.small_rss:.1f} MB")


BENCHES = [
    Bench("ecrdoctor --help", ecrdoctor("--help"), {"wall": 0.30}),
    Bench("ecrdoctor checks", ecrdoctor("checks"), {"wall": 0.30}),
    Bench("check IMAGE --format json (moto)", ecrdoctor("check", IMAGE, "--format", "json"),
          {"wall": 1.0, "rss": 150.0}, outcome),
    Bench("check IMAGE with every check that applies", ecrdoctor("check", IMAGE, "--format", "json"),
          {"wall": 1.0}, applicable),
    Bench(f"check IMAGE --timeout {DEADLINE:g} (endpoint hangs)",
          ecrdoctor("check", IMAGE, "--timeout", f"{DEADLINE:g}", "--format", "json", endpoint="sink_url"),
          {"wall": DEADLINE + 1.0}, outcome),
    Bench(f"check IMAGE --timeout {BLACKHOLE_DEADLINE:g} (all blackholed)", blackhole,
          {"wall": BLACKHOLE_DEADLINE + 1.0}, blackhole_note),
    Bench("helper.log, 1 GiB log (check; extra over none)", helper_log_1gib, {"wall": 0.2, "rss": 50.0},
          log_note),
    Bench("runbook comparison", runbook, {"wall": 1.0, "runbook": None, "ratio": 5.0}, runbook_note,
          labels={"wall": "check IMAGE (text), the runbook's host",
                  "runbook": "runbook: aws x4, helper get, cat, tail",
                  "ratio": "runbook / check IMAGE"}),
    # 150 MB: the SPEC bounds aggregate's memory only in words ("flat"); this is the full check's figure.
    Bench(f"aggregate {FLEET:,} reports --format json", aggregate_fleet, {"wall": 5.0, "rss": 150.0}, fleet_note,
          runs=3),
]


def import_times(lab: Lab, args: List[str], top: int = 10) -> List[str]:
    r = run([sys.executable, "-X", "importtime", ECRDOCTOR, *args], lab.env(lab.moto_url))
    rows = [ln[12:].split("|") for ln in r.stderr.splitlines() if ln.startswith("import time:") and "[us]" not in ln]
    rows.sort(key=lambda f: -int(f[1]))
    return [f"  {int(c) / 1000:7.1f} ms cum {int(s) / 1000:6.1f} ms self  {n.rstrip()}" for s, c, n in rows[:top]]


def figure_row(fig: Dict[str, Any]) -> str:
    unit, fmt = UNITS[fig["metric"]]
    if fig["median"] is None:
        return f"{fig['name']:46} {'-':>9} {'-':>15} {'-':>9}  {'ERROR':7}  {fig['note']}"
    span = f"{fmt % fig['min']}..{fmt % fig['max']}"
    if fig["budget"] is None:
        budget, verdict = "-", "info"
    else:
        budget = (">=" if fig["metric"] in FLOORS else "") + fmt % fig["budget"] + f" {unit}"
        verdict = "OK" if fig["ok"] else ("SHORT" if fig["metric"] in FLOORS else "OVER")
    return f"{fig['name']:46} {fmt % fig['median']:>6} {unit:2} {span:>15} {budget:>9}  {verdict:7}  {fig['note']}"


def measure(bench: Bench, lab: Lab, runs: int) -> List[Dict[str, Any]]:
    """One warm-up (bytecode cache, page cache, moto's first request), then `runs` runs: a figure per metric."""
    labels = bench.labels or {}
    names = {m: labels.get(m, bench.name + (" [peak RSS]" if m == "rss" else "")) for m in bench.budgets}
    try:
        bench.measure(lab)
        done = [bench.measure(lab) for _ in range(min(runs, bench.runs or runs))]
    except (OSError, RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
        return [{"name": names[m], "metric": m, "unit": UNITS[m][0], "median": None, "min": None, "max": None,
                 "budget": budget, "ok": False, "note": f"not measured: {exc}"} for m, budget in bench.budgets.items()]
    figures = []
    for metric, budget in bench.budgets.items():
        values = [getattr(r, metric) for r in done]
        median = statistics.median(values)
        ok = budget is None or (median >= budget if metric in FLOORS else median <= budget)
        figures.append({"name": names[metric], "metric": metric, "unit": UNITS[metric][0], "median": median,
                        "min": min(values), "max": max(values), "budget": budget, "ok": ok,
                        "note": bench.note(done[-1])})
    return figures


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="measured runs per row, after one warm-up (default 5; "
                    "aggregate takes at most 3)")
    ap.add_argument("--quick", action="store_true", help="one measured run per row (as --runs 1)")
    ap.add_argument("--only", action="append", metavar="TEXT",
                    help="only the rows whose name contains TEXT (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    ap.add_argument("--importtime", action="store_true", help="the 10 slowest imports of --help and checks")
    ap.add_argument("--no-isolation", action="store_true", help="run without a network namespace of its own")
    ap.add_argument("--awscli-venv", type=Path, default=AWSCLI_VENV, metavar="DIR",
                    help=f"venv with {AWSCLI_PIN}, made on first use (default {AWSCLI_VENV})")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.runs = 1
    if opts.runs < 1:
        ap.error("--runs must be at least 1")
    started = time.monotonic()
    aws, aws_version = ensure_awscli(opts.awscli_venv)  # before the namespace: pip may need PyPI
    isolation = "NONE (--no-isolation): only the scrubbed environment keeps children on loopback"
    if not opts.no_isolation:
        try:
            isolation = isolate_network()
        except OSError as exc:
            sys.exit(f"bench: cannot isolate the network ({exc}); --no-isolation runs without that guard")
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tmp = Path(tempfile.mkdtemp(prefix="ecrdoctor-bench-"))
    lab, figures = Lab(tmp, aws, aws_version), []
    try:
        lab.start()
        if not opts.no_isolation:
            lab.blackhole()
        version = run([ECRDOCTOR, "--version"], lab.env(lab.moto_url)).stdout.strip()
        print(f"{version}; Python {platform.python_version()} ({sys.executable}); nproc {nproc}; "
              f"{platform.machine()} {platform.system()} {platform.release()}")
        helper = run([HELPER, "version"], {**lab.env(None), "HOME": str(tmp)})  # HOME: it writes a log dir
        print(f"runbook: {aws_version if aws else 'NO AWS CLI: ' + aws_version}; "
              f"docker-credential-ecr-login {helper.stdout.strip() or '?'}")
        print(f"network: {isolation}; {opts.runs} runs per row after 1 warm-up; median, min..max\n")
        print(f"{'benchmark':46} {'median':>9} {'min..max':>15} {'budget':>9}  verdict  note")
        for bench in BENCHES:
            if opts.only and not any(text in bench.name for text in opts.only):
                continue
            for fig in measure(bench, lab, opts.runs):
                figures.append(fig)
                print(figure_row(fig), flush=True)
        if opts.importtime:
            for args in (["--help"], ["checks"]):
                print(f"\nslowest imports of `ecrdoctor {' '.join(args)}` (python -X importtime, by cumulative):")
                print("\n".join(import_times(lab, args)))
        print(f"\nbench wall time {time.monotonic() - started:.0f} s")
        if opts.json:
            print(json.dumps({"version": version, "python": platform.python_version(), "nproc": nproc,
                              "network": isolation, "runs": opts.runs, "awscli": aws_version,
                              "figures": figures}, indent=2))
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(f["ok"] for f in figures) else 1
