"""Network fixtures for the net.* checks, all on loopback: certificate authorities made with openssl, TLS servers on
port 443 of their own 127.x.y.z address, a CONNECT proxy, a server that accepts and never answers, a fake IMDS that
knows the instance id and region, a dockerd started with a proxy in its environment, a tiny DNS server, and a
runner for commands inside a network namespace of their own (unshare -n) where port 443 can be blackholed with
iptables.

Import what a test module uses explicitly (`from tests.net_fixtures import ...`)."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tests.conftest import need
from tests.imds_fixtures import LoopbackImds

ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
IMAGE = f"{REGISTRY}/team/app:1.4"
API = f"api.ecr.{REGION}.amazonaws.com"
LAYERS = f"prod-{REGION}-starport-layer-bucket.s3.{REGION}.amazonaws.com"
HOSTS = (API, REGISTRY, LAYERS)


# -- certificates ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ca:
    """A certificate authority and one server certificate it issued for the three ECR hosts."""

    name: str
    ca_pem: Path
    leaf_pem: Path  # the server certificate followed by the CA, as a server sends its chain
    leaf_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str, subject: str, hosts: Sequence[str] = HOSTS) -> Ca:
    """A root CA with `subject` and a P-256 server certificate for `hosts` signed by it."""
    d = directory / name
    d.mkdir(parents=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", subject, "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=d)
    _openssl("req", *ec, "-subj", f"/CN={hosts[0]}", "-keyout", "leaf.key", "-out", "leaf.csr", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts) + "\n"
                               "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                               "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                               "authorityKeyIdentifier=keyid,issuer\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", "ext.cnf", "-out", "leaf-only.pem", cwd=d)
    (d / "leaf.pem").write_text((d / "leaf-only.pem").read_text() + (d / "ca.pem").read_text())
    return Ca(name, d / "ca.pem", d / "leaf.pem", d / "leaf.key")


@dataclass(frozen=True)
class Pki:
    amazon: Ca  # looks like Amazon Trust Services: O=Amazon, CN=Amazon RSA 2048 M02
    corp: Ca  # a TLS-inspecting proxy's CA: O=Zscaler Inc.
    both: Path  # a bundle trusting both


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    need("openssl", shutil.which("openssl") is not None)
    d = tmp_path_factory.mktemp("pki")
    amazon = make_ca(d, "amazon", "/C=US/O=Amazon/CN=Amazon RSA 2048 M02")
    corp = make_ca(d, "corp", "/C=US/O=Zscaler Inc./CN=Zscaler Intermediate Root CA")
    both = d / "both.pem"
    both.write_text(amazon.ca_pem.read_text() + corp.ca_pem.read_text())
    return Pki(amazon, corp, both)


# -- servers on 443 of their own loopback address -----------------------------------------------------------------


def _bind_443() -> socket.socket:
    """A listening socket on port 443 of a random 127.x.y.z address (the whole 127/8 is loopback)."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, 443))
        except OSError:
            sock.close()
            continue
        sock.listen(32)
        return sock
    pytest.fail("no free 127.x.y.z:443 to listen on")


def unused_loopback() -> str:
    """A loopback address where nothing listens on 443: connections are refused at once."""
    sock = _bind_443()
    address = str(sock.getsockname()[0])
    sock.close()
    return address


class TlsServer:
    """Serves TLS with a certificate chain on <address>:443; answers any request with a 401 like ECR's /v2/."""

    def __init__(self, chain: Path, key: Path) -> None:
        self.sock = _bind_443()
        self.address = str(self.sock.getsockname()[0])
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(chain, key)
        self.handshakes: List[Optional[str]] = []  # the SNI name of each handshake
        self.context.sni_callback = lambda s, name, c: self.handshakes.append(name)  # type: ignore[assignment]
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                try:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass
        except (OSError, ssl.SSLError):
            conn.close()

    def resolve(self, hosts: Sequence[str] = HOSTS) -> List[str]:
        return [f"{h}:443:{self.address}" for h in hosts]

    def close(self) -> None:
        self._stop = True
        self.sock.close()


class SilentServer:
    """Accepts connections on <address>:443 and never sends a byte (a half-configured firewall or proxy)."""

    def __init__(self) -> None:
        self.sock = _bind_443()
        self.address = str(self.sock.getsockname()[0])
        self.held: List[socket.socket] = []
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for s in self.held:
            s.close()
        self.sock.close()


@pytest.fixture
def amazon_tls(pki: Pki) -> Iterator[TlsServer]:
    server = TlsServer(pki.amazon.leaf_pem, pki.amazon.leaf_key)
    yield server
    server.close()


@pytest.fixture
def corp_tls(pki: Pki) -> Iterator[TlsServer]:
    server = TlsServer(pki.corp.leaf_pem, pki.corp.leaf_key)
    yield server
    server.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


# -- a CONNECT proxy ----------------------------------------------------------------------------------------


@dataclass
class ConnectProxy:
    """An HTTP proxy on loopback that only tunnels (CONNECT), to the addresses in `routes` (it never resolves names).

    `deny` holds host names it answers 403 for; with `password` set it wants Basic credentials (else 407)."""

    routes: Dict[str, str] = field(default_factory=dict)  # host name -> loopback address (port kept)
    deny: Tuple[str, ...] = ()
    user: str = "proxyuser"
    password: Optional[str] = None
    requests: List[str] = field(default_factory=list)  # "host:port" of each CONNECT
    auth_seen: List[Optional[str]] = field(default_factory=list)
    port: int = 0

    def start(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_CONNECT(self) -> None:  # noqa: N802 (http.server's naming)
                proxy.requests.append(self.path)
                auth = self.headers.get("Proxy-Authorization")
                proxy.auth_seen.append(auth)
                host, _, port = self.path.rpartition(":")
                if proxy.password is not None:
                    want = "Basic " + base64.b64encode(f"{proxy.user}:{proxy.password}".encode()).decode()
                    if auth != want:
                        self.send_response(407, "Proxy Authentication Required")
                        self.send_header("Proxy-Authenticate", 'Basic realm="corp"')
                        self.end_headers()
                        return
                if host in proxy.deny or host not in proxy.routes:
                    self.send_response(403, "Forbidden")
                    self.end_headers()
                    return
                try:
                    upstream = socket.create_connection((proxy.routes[host], int(port)), timeout=5)
                except OSError:
                    self.send_response(502, "Bad Gateway")
                    self.end_headers()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self._pipe(self.connection, upstream)

            @staticmethod
            def _pipe(a: socket.socket, b: socket.socket) -> None:
                def pump(src: socket.socket, dst: socket.socket) -> None:
                    try:
                        while True:
                            data = src.recv(65536)
                            if not data:
                                break
                            dst.sendall(data)
                    except OSError:
                        pass
                    finally:
                        for s in (src, dst):
                            with contextlib.suppress(OSError):
                                s.shutdown(socket.SHUT_RDWR)

                t = threading.Thread(target=pump, args=(b, a), daemon=True)
                t.start()
                pump(a, b)
                t.join(5)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.server.socket.settimeout(1.0)  # accept() must not block for ever on a connection that went away
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy()
    proxy.start()
    yield proxy
    proxy.stop()


# -- IMDS that knows the instance ----------------------------------------------------------------------------


class InstanceImds(LoopbackImds):
    """IMDSv2 on loopback answering the instance id and region (what net.vpc-endpoints asks)."""

    def __init__(self, instance_id: str, region: str) -> None:
        super().__init__(token_value="imds-session-token", require_token=True, instance_id=instance_id, region=region)
        self.url = self.base + "/"


# -- host trees for --root ---------------------------------------------------------------------------------------


def write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def ec2_host(root: Path, instance_id: Optional[str] = "i-0123456789abcdef0") -> Path:
    """An EC2 instance by its DMI strings; without an instance id only the hypervisor UUID says EC2."""
    if instance_id:
        write(root, "/sys/devices/virtual/dmi/id/board_asset_tag", instance_id + "\n")
    else:
        write(root, "/sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n")
    return root


def os_release(root: Path, distro: str) -> None:
    text = {"al2023": 'NAME="Amazon Linux"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
            "ubuntu": 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'}[distro]
    write(root, "/etc/os-release", text)


# -- a dockerd that runs with a proxy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxiedDockerd:
    url: str
    https_proxy: str
    no_proxy: str


@pytest.fixture(scope="module")
def proxied_dockerd() -> Iterator[ProxiedDockerd]:
    """A second, short-lived dockerd started with HTTPS_PROXY/NO_PROXY in its environment, as a systemd drop-in
    gives it (research feasibility.md §4 recipe: vfs, no iptables, no bridge, own directories)."""
    from tests.dockerd_fixtures import _ping, _stop

    exe = shutil.which("dockerd", path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin")
    need("dockerd (apt-get install docker.io)", exe is not None)
    need("root privileges to run dockerd", os.geteuid() == 0)
    assert exe is not None
    workdir = Path(tempfile.mkdtemp(prefix="ecrdoctor-pdockerd-"))
    data_root, exec_root = workdir / "data", workdir / "exec"
    data_root.mkdir()
    exec_root.mkdir()
    sock, log = workdir / "docker.sock", workdir / "dockerd.log"
    https_proxy, no_proxy = "http://proxy.corp.example:3128", "169.254.169.254,localhost,127.0.0.1"
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("DOCKER_")}
    env.update(HTTPS_PROXY=https_proxy, NO_PROXY=no_proxy)
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [exe, "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
             "--storage-driver=vfs", "--data-root", str(data_root), "--exec-root", str(exec_root),
             "--pidfile", str(workdir / "dockerd.pid"), "-H", f"unix://{sock}"],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (sock.exists() and _ping(sock)):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield ProxiedDockerd(f"unix://{sock}", https_proxy, no_proxy)
    finally:
        _stop(proc, exec_root, data_root)
        shutil.rmtree(workdir, ignore_errors=True)


# -- a network namespace of its own --------------------------------------------------------------------------------

DNS_STUB = r'''
import socket, struct, sys, time
answers = dict(a.split("=", 1) for a in sys.argv[1:])  # name=ipv4 ; any other name: NXDOMAIN
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
s.settimeout(0.5)
open(sys.argv[0] + ".ready", "w").close()
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        q, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    ident, flags = struct.unpack(">HH", q[:4])
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = ".".join(labels).lower()
    if name in answers and qtype == 1:
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(answers[name])
        s.sendto(struct.pack(">HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + rr, peer)
    elif name in answers:
        s.sendto(struct.pack(">HHHHHH", ident, 0x8180, 1, 0, 0, 0) + question, peer)
    else:
        s.sendto(struct.pack(">HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question, peer)
'''


def can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_isolated(argv: Sequence[str], env: Dict[str, str], tmp: Path, *, drop_tcp_443: bool = False,
                 resolv_conf: Optional[str] = None, dns_answers: Optional[Dict[str, str]] = None,
                 drop_dns: bool = False, timeout: float = 60) -> Tuple[subprocess.CompletedProcess[str], float]:
    """Run argv in a new network and mount namespace that has only loopback: SYNs to port 443 dropped when asked,
    /etc/resolv.conf replaced (bind mount, only inside), a loopback DNS server answering `dns_answers` (NXDOMAIN
    for other names) or, with `drop_dns`, a resolver whose queries are dropped. Returns the process and its wall
    time (measured inside the namespace, around argv only)."""
    need("unshare -n -m as root (util-linux)", can_unshare())
    lines = ["set -e", "ip link set lo up 2>/dev/null || true"]
    if drop_tcp_443 or drop_dns:
        need("iptables", shutil.which("iptables") is not None)
    if drop_tcp_443:
        lines.append("iptables -A INPUT -p tcp --dport 443 -j DROP")
    if drop_dns:
        lines.append("iptables -A INPUT -p udp --dport 53 -j DROP")
    if resolv_conf is not None:
        conf = tmp / "resolv.conf"
        conf.write_text(resolv_conf)
        lines.append(f"mount --bind {conf} /etc/resolv.conf")
    if dns_answers is not None:
        stub = tmp / "dnsstub.py"
        stub.write_text(DNS_STUB)
        args = " ".join(f"{k}={v}" for k, v in dns_answers.items())
        lines.append(f"timeout 60 {sys.executable} {stub} {args} &")
        lines.append(f"for i in $(seq 50); do [ -e {stub}.ready ] && break; sleep 0.1; done")
    out, err = tmp / "stdout", tmp / "stderr"
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
    lines.append(f"start=$(date +%s.%N); set +e; {quoted} >{out} 2>{err}; rc=$?; end=$(date +%s.%N)")
    lines.append(f"echo \"$rc $start $end\" > {tmp / 'timing'}")
    lines.append("kill %1 2>/dev/null || true")
    lines.append("exit 0")
    script = tmp / "isolated.sh"
    script.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(["unshare", "-n", "-m", "sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not (tmp / "timing").exists():
        pytest.fail(f"the isolated run failed: {proc.stderr[-2000:]}")
    rc, start, end = (tmp / "timing").read_text().split()
    done = subprocess.CompletedProcess(list(argv), int(rc), out.read_text(), err.read_text())
    return done, float(end) - float(start)


def report_of(proc: subprocess.CompletedProcess[str]) -> Dict[str, object]:
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"not a JSON report (rc {proc.returncode}): {proc.stdout[-1000:]} {proc.stderr[-2000:]}")
    assert isinstance(doc, dict)
    return doc


def result_of(doc: Dict[str, object], check_id: str) -> Dict[str, object]:
    results = doc["results"]
    assert isinstance(results, list)
    found = next((r for r in results if r["id"] == check_id), None)
    assert found is not None, f"{check_id} not in the report"
    return dict(found)


__all__ = [
    "API", "ACCOUNT", "HOSTS", "IMAGE", "LAYERS", "REGION", "REGISTRY", "Ca", "ConnectProxy", "InstanceImds",
    "Pki", "ProxiedDockerd", "SilentServer", "TlsServer", "amazon_tls", "can_unshare", "connect_proxy", "corp_tls",
    "ec2_host", "make_ca", "os_release", "pki", "proxied_dockerd", "report_of", "result_of", "run_isolated",
    "silent_server", "unused_loopback", "write",
]
