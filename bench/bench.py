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
UNITS = {"wall": ("s", "%.3f"), "rss": ("MB", "%.1f")}
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
    """A temp HOME with a docker config, moto_server holding `team/app`, and a listener that never answers."""

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
        setup = "import boto3; boto3.client('ecr').create_repository(repositoryName='team/app')"
        made = run([sys.executable, "-c", setup], self.env(self.moto_url), timeout=30)
        if made.rc != 0:
            raise RuntimeError("creating team/app in moto failed: " + made.stderr[-2000:])
        sink = socket.socket()
        self.socks.append(sink)
        sink.bind(("127.0.0.1", 0))
        sink.listen(64)
        self.sink_url = f"http://127.0.0.1:{sink.getsockname()[1]}"
        threading.Thread(target=self._hold, args=(sink,), daemon=True).start()

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


def ecrdoctor(*args: str, endpoint: str = "moto_url") -> Callable[[Lab], Run]:
    return lambda lab: run([ECRDOCTOR, *args], lab.env(getattr(lab, endpoint)))


BENCHES = [
    Bench("ecrdoctor --help", ecrdoctor("--help"), {"wall": 0.30}),
    Bench("ecrdoctor checks", ecrdoctor("checks"), {"wall": 0.30}),
    Bench("check IMAGE --format json (moto)", ecrdoctor("check", IMAGE, "--format", "json"),
          {"wall": 1.0, "rss": 150.0}, outcome),
    Bench(f"check IMAGE --timeout {DEADLINE:g} (endpoint hangs)",
          ecrdoctor("check", IMAGE, "--timeout", f"{DEADLINE:g}", "--format", "json", endpoint="sink_url"),
          {"wall": DEADLINE + 1.0}, outcome),
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
