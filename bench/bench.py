"""SPEC §8 budgets, measured: medians over N runs of the real console script, against a local moto server.

It all runs in a network namespace of its own that has only loopback, so no child can reach anything
else. To add a row, append a Bench to BENCHES: its measure function gets the Lab and returns one Run.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

BIN = Path(sys.executable).parent
ECRDOCTOR = str(BIN / "ecrdoctor")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
DEADLINE = 3.0  # --timeout of the run against the endpoint that never answers
BLACKHOLE_DEADLINE = 8.0  # --timeout of the run with every endpoint blackholed (issue 5: ends within 9 s)
BLACKHOLE = "127.0.0.2"  # SYNs to BLACKHOLE:443 are dropped (iptables, in the bench's own network namespace)
BLACKHOLED: List[bool] = []  # [True] once the rule is in place
UNITS = {"wall": ("s", "%.3f"), "rss": ("MB", "%.1f")}
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
    budgets: Dict[str, float]  # metric of Run ("wall", "rss") -> budget in UNITS
    note: Callable[[Run], str] = lambda r: f"rc {r.rc}"


def run(args: List[str], env: Dict[str, str], timeout: float = 60.0) -> Run:
    """Run a child and reap it with os.wait4, for its own rusage; killed (and an error) at `timeout`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        box: list = []
        waiter = threading.Thread(target=lambda: box.append((os.wait4(proc.pid, 0), time.perf_counter())))
        waiter.start()
        waiter.join(timeout)
        if not box:
            proc.kill()
            waiter.join()
        (_, status, usage), ended = box[0]
        proc.returncode = os.waitstatus_to_exitcode(status)
        if ended - started >= timeout:
            raise TimeoutError(f"{args} still running after {timeout:g} s; killed")
        out.seek(0)
        err.seek(0)
        return Run(ended - started, usage.ru_maxrss / 1024, proc.returncode,
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


class Lab:
    """A temp HOME with a docker config, moto_server holding `team/app:1.4`, and a listener that never answers."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.home = tmp, tmp / "home"
        self.moto: Optional[subprocess.Popen] = None
        self.socks: List[socket.socket] = []  # the listener, then every connection it holds

    def start(self) -> None:
        (self.home / ".aws").mkdir(parents=True)
        (self.home / ".docker").mkdir()
        registry = IMAGE.split("/")[0]
        (self.home / ".docker" / "config.json").write_text(json.dumps({"credHelpers": {registry: "ecr-login"}}))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.moto_url, log = f"http://127.0.0.1:{port}", self.tmp / "moto_server.log"
        with open(log, "wb") as fh:
            self.moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                         env=self.env(None), stdin=subprocess.DEVNULL, stdout=fh, stderr=fh)
        deadline = time.monotonic() + 20
        while True:
            try:
                _NO_PROXY.open(self.moto_url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.moto.poll() is not None:
                    raise RuntimeError("moto_server did not start: " + log.read_text()[-2000:]) from None
                time.sleep(0.05)
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

    def close(self) -> None:
        for s in self.socks:
            s.close()
        if self.moto is not None:
            self.moto.terminate()
            try:
                self.moto.wait(5)
            except subprocess.TimeoutExpired:
                self.moto.kill()
                self.moto.wait(5)


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
        reach = next((x for x in report["results"] if x["id"] == "net.reach"), {})
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


def _log_homes(lab: Lab) -> tuple:
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
]


def import_times(lab: Lab, args: List[str], top: int = 10) -> List[str]:
    r = run([sys.executable, "-X", "importtime", ECRDOCTOR, *args], lab.env(lab.moto_url))
    rows = [ln[12:].split("|") for ln in r.stderr.splitlines() if ln.startswith("import time:") and "[us]" not in ln]
    rows.sort(key=lambda f: -int(f[1]))
    return [f"  {int(c) / 1000:7.1f} ms cum {int(s) / 1000:6.1f} ms self  {n.rstrip()}" for s, c, n in rows[:top]]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="measured runs per row, after one warm-up (default 7)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON as well")
    ap.add_argument("--importtime", action="store_true", help="the 10 slowest imports of --help and checks")
    ap.add_argument("--no-isolation", action="store_true", help="run without a network namespace of its own")
    opts = ap.parse_args(argv)
    if opts.runs < 1:
        ap.error("--runs must be at least 1")
    isolation = "NONE (--no-isolation): only the scrubbed environment keeps children on loopback"
    if not opts.no_isolation:
        try:
            isolation = isolate_network()
        except OSError as exc:
            sys.exit(f"bench: cannot isolate the network ({exc}); --no-isolation runs without that guard")
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tmp = Path(tempfile.mkdtemp(prefix="ecrdoctor-bench-"))
    lab, figures = Lab(tmp), []
    try:
        lab.start()
        if not opts.no_isolation:
            lab.blackhole()
        version = run([ECRDOCTOR, "--version"], lab.env(lab.moto_url)).stdout.strip()
        print(f"{version}; Python {platform.python_version()} ({sys.executable}); nproc {nproc}; "
              f"{platform.machine()} {platform.system()} {platform.release()}")
        print(f"network: {isolation}; {opts.runs} runs per row after 1 warm-up; median, min..max\n")
        print(f"{'benchmark':46} {'median':>9} {'min..max':>15} {'budget':>9}  verdict  note")
        for bench in BENCHES:
            bench.measure(lab)  # warm-up: bytecode cache, page cache, moto's first request
            runs = [bench.measure(lab) for _ in range(opts.runs)]
            for metric, budget in bench.budgets.items():
                (unit, fmt), values = UNITS[metric], [getattr(r, metric) for r in runs]
                fig = {"name": bench.name + (" [peak RSS]" if metric == "rss" else ""), "metric": metric,
                       "unit": unit, "median": statistics.median(values), "min": min(values), "max": max(values),
                       "budget": budget, "note": bench.note(runs[-1])}
                fig["ok"] = fig["median"] <= budget
                figures.append(fig)
                span = f"{fmt % fig['min']}..{fmt % fig['max']}"
                print(f"{fig['name']:46} {fmt % fig['median']:>6} {unit:2} {span:>15} {fmt % budget:>6} {unit:2}  "
                      f"{'OK' if fig['ok'] else 'OVER':7}  {fig['note']}")
        if opts.importtime:
            for args in (["--help"], ["checks"]):
                print(f"\nslowest imports of `ecrdoctor {' '.join(args)}` (python -X importtime, by cumulative):")
                print("\n".join(import_times(lab, args)))
        if opts.json:
            print(json.dumps({"version": version, "python": platform.python_version(), "nproc": nproc,
                              "network": isolation, "runs": opts.runs, "figures": figures}, indent=2))
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(f["ok"] for f in figures) else 1
