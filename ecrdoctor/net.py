"""Network probes as checks ask for them: one interface, bounded by explicit timeouts."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import List, Mapping, Optional, Protocol, Tuple, Union
from urllib.parse import unquote, urlsplit

from ecrdoctor.endpoints import CertificateError, certificate_names
from ecrdoctor.proxyenv import ProxyEnvError, ProxyURL, parse_proxy_url
from ecrdoctor.tape import Tape, tape_type


@tape_type
@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw: ok, or the error as the OS worded it, and how long it took."""

    target: str
    ok: bool
    duration_ms: int
    error: Optional[str] = None
    timed_out: bool = False
    address: Optional[str] = None
    addresses: Tuple[str, ...] = ()  # every address a name resolved to, in the resolver's order
    overridden: bool = False  # the address came from --resolve, not from the resolver


@tape_type
@dataclass(frozen=True)
class HttpResult:
    """One HTTP exchange: the status and headers (names in lower case) and the start of the body, or the error."""

    url: str
    status: Optional[int]  # None: no answer (see error, timed_out)
    duration_ms: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    error: Optional[str] = None
    timed_out: bool = False


@tape_type
@dataclass(frozen=True)
class TlsResult:
    """TCP (through a proxy's CONNECT tunnel when one is used), then a TLS handshake naming the host (SNI).

    `stage` is where it ended: "resolve", "connect", "proxy" (the CONNECT answer), "tls", or "done" (the handshake
    completed). The peer certificate's issuer and subject are read even when it did not verify."""

    target: str  # host:port
    ok: bool  # the handshake completed and the certificate verified for the host
    duration_ms: int
    stage: str
    error: Optional[str] = None
    timed_out: bool = False
    address: Optional[str] = None  # the address connected to: the proxy's when through a proxy
    verified: bool = False
    verify_error: Optional[str] = None  # OpenSSL's reason: "unable to get local issuer certificate", ...
    issuer: Mapping[str, str] = field(default_factory=dict)  # {"CN": ..., "O": ...}
    subject: Mapping[str, str] = field(default_factory=dict)
    proxy: Optional[str] = None  # scheme://host:port of the proxy, never its credentials
    proxy_status: Optional[int] = None  # the proxy's answer to CONNECT
    version: Optional[str] = None  # "TLSv1.3"


class NetProbe(Protocol):
    """The seam checks use for the network; the network checks add DNS, TLS and HTTP probes to it."""

    def resolve(self, host: str, timeout: float) -> ProbeResult: ...

    def tcp(self, host: str, port: int, timeout: float) -> ProbeResult: ...

    def http(self, method: str, url: str, headers: Optional[Mapping[str, str]] = None, timeout: float = 1.0,
             proxy: Optional[str] = None) -> HttpResult: ...

    def tls(self, host: str, port: int, timeout: float, proxy: Optional[str] = None) -> TlsResult: ...


# request headers whose values are credentials: a recorded call keeps only the scheme ("Basic", "Bearer")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-aws-ec2-metadata-token", "cookie",
                             "x-amz-security-token"})


def _shown_headers(headers: Optional[Mapping[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if name.lower() in _SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} [REDACTED]".strip()
        out[name.lower()] = value
    return out


class TapedProbe:
    """A NetProbe whose every answer is recorded on, or replayed from, a tape (keyed without timeouts)."""

    def __init__(self, inner: NetProbe, tape: Tape) -> None:
        self.inner = inner
        self.tape = tape

    def resolve(self, host: str, timeout: float) -> ProbeResult:
        return self.tape.call("net.resolve", {"host": host}, lambda: self.inner.resolve(host, timeout))

    def tcp(self, host: str, port: int, timeout: float) -> ProbeResult:
        return self.tape.call("net.tcp", {"host": host, "port": port}, lambda: self.inner.tcp(host, port, timeout))

    def http(self, method: str, url: str, headers: Optional[Mapping[str, str]] = None, timeout: float = 1.0,
             proxy: Optional[str] = None) -> HttpResult:
        key = {"method": method, "url": url, "headers": _shown_headers(headers), "proxy": proxy}
        return self.tape.call("net.http", key, lambda: self.inner.http(method, url, headers, timeout, proxy))

    def tls(self, host: str, port: int, timeout: float, proxy: Optional[str] = None) -> TlsResult:
        return self.tape.call("net.tls", {"host": host, "port": port, "proxy": proxy},
                              lambda: self.inner.tls(host, port, timeout, proxy))


class SocketProbe:
    """Probes with plain sockets.

    `overrides` maps (host, port) to the address to connect to instead of resolving the host (curl's
    --resolve): TLS still uses the host name for SNI and verification. `ca_bundle` adds CAs to verify with.
    """

    def __init__(self, overrides: Optional[Mapping[tuple[str, int], str]] = None,
                 ca_bundle: Optional[str] = None) -> None:
        self.overrides = dict(overrides or {})
        self.ca_bundle = ca_bundle

    def tls_context(self) -> ssl.SSLContext:
        """The system's CAs, plus --ca-bundle when one is given."""
        context = ssl.create_default_context()
        if self.ca_bundle:
            context.load_verify_locations(cafile=self.ca_bundle)
        return context

    def resolve(self, host: str, timeout: float) -> ProbeResult:
        """The host's addresses: from --resolve when it names the host (any port), else from the system's
        resolver (getaddrinfo, as glibc and docker use /etc/resolv.conf), abandoned after `timeout` seconds."""
        started = time.monotonic()
        name = host.lower().strip("[]")
        overridden = tuple(dict.fromkeys(addr for (h, _), addr in self.overrides.items() if h == name))
        if overridden:
            return ProbeResult(host, True, _ms(started), address=overridden[0], addresses=overridden, overridden=True)
        box: List[Union[List[str], OSError]] = []

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
                box.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
            except OSError as exc:
                box.append(exc)

        # getaddrinfo has no timeout of its own: a resolver that never answers must not hold the check
        worker = threading.Thread(target=lookup, name=f"resolve:{name}", daemon=True)
        worker.start()
        worker.join(timeout)
        if not box:
            return ProbeResult(host, False, _ms(started), error=f"no answer from the resolver within {timeout:g} s",
                               timed_out=True)
        found = box[0]
        if isinstance(found, OSError):
            return ProbeResult(host, False, _ms(started), error=found.strerror or str(found))
        addresses = tuple(found)
        return ProbeResult(host, bool(addresses), _ms(started), error=None if addresses else "no address",
                           address=addresses[0] if addresses else None, addresses=addresses)

    def _destination(self, host: str, port: int, timeout: float) -> ProbeResult:
        """Where to connect for host:port: the --resolve entry for exactly that pair, else the resolver's first
        answer (bounded, unlike the lookup inside socket.create_connection)."""
        override = self.overrides.get((host.lower().strip("[]"), port))
        if override is not None:
            return ProbeResult(f"{host}:{port}", True, 0, address=override, addresses=(override,), overridden=True)
        return self.resolve(host, timeout)

    def tcp(self, host: str, port: int, timeout: float) -> ProbeResult:
        started = time.monotonic()
        target = f"{host}:{port}"
        where = self._destination(host, port, timeout)
        if not where.ok or where.address is None:
            return ProbeResult(target, False, _ms(started), error=where.error, timed_out=where.timed_out)
        try:
            with socket.create_connection((where.address, port), timeout=timeout) as sock:
                peer = sock.getpeername()[0]
        except socket.timeout:
            return ProbeResult(target, False, _ms(started), error=f"no answer within {timeout:g} s",
                               timed_out=True, address=where.address)
        except OSError as exc:
            return ProbeResult(target, False, _ms(started), error=exc.strerror or str(exc), address=where.address)
        return ProbeResult(target, True, _ms(started), address=str(peer))

    def http(self, method: str, url: str, headers: Optional[Mapping[str, str]] = None, timeout: float = 1.0,
             proxy: Optional[str] = None, limit: int = 65536) -> HttpResult:
        """One request; `timeout` bounds the connect and each read. Direct unless a `proxy` URL is given."""
        started = time.monotonic()
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if proxy:
            p = urlsplit(proxy)
            if parts.scheme == "https":  # CONNECT tunnel through the proxy
                conn = http.client.HTTPSConnection(p.hostname or "", p.port or 80, timeout=timeout)
                conn.set_tunnel(host, port or 443)
            else:  # plain HTTP: the absolute URL goes to the proxy
                conn = http.client.HTTPConnection(p.hostname or "", p.port or 80, timeout=timeout)
                target = url
        elif parts.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self.tls_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        default_port = 443 if parts.scheme == "https" else 80
        override = None if proxy else self.overrides.get((host.lower(), port or default_port))
        if override is not None:
            # curl's --resolve: connect to the given address; TLS still names (SNI) and verifies the host
            address = override

            def connect_to_override(peer: tuple[str, int], timeout: Optional[float] = timeout,
                                    source_address: Optional[tuple[str, int]] = None) -> socket.socket:
                return socket.create_connection((address, peer[1]), timeout, source_address)

            conn._create_connection = connect_to_override  # type: ignore[attr-defined]
        try:
            conn.request(method, target, headers=dict(headers or {}))
            resp = conn.getresponse()
            body = resp.read(limit).decode("utf-8", errors="replace")
            found = {k.lower(): v for k, v in resp.getheaders()}
            return HttpResult(url, resp.status, _ms(started), found, body)
        except socket.timeout:
            return HttpResult(url, None, _ms(started), error=f"no answer within {timeout:g} s", timed_out=True)
        except (OSError, http.client.HTTPException) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return HttpResult(url, None, _ms(started), error=why)
        finally:
            conn.close()

    def tls(self, host: str, port: int, timeout: float, proxy: Optional[str] = None) -> TlsResult:
        """Connect to host:port — directly, or through the `proxy` URL's CONNECT tunnel — and complete a TLS
        handshake that names `host` (SNI) and verifies its certificate against the system CAs plus --ca-bundle.

        `timeout` bounds each step (resolve, connect, the CONNECT answer, the handshake). When the certificate
        does not verify, a second, unverified handshake reads who issued it (a TLS-inspecting proxy names itself
        there). --resolve applies to the proxy's host:port through a proxy, and to host:port without one."""
        started = time.monotonic()
        target = f"{host}:{port}"
        shown: Optional[str] = None
        try:
            proxy_url = parse_proxy_url(proxy) if proxy else None
        except ProxyEnvError as exc:
            return TlsResult(target, False, _ms(started), "proxy", error=str(exc))
        if proxy_url is not None:
            shown = proxy_url.display
            if proxy_url.scheme not in ("http", "https"):
                return TlsResult(target, False, _ms(started), "proxy", proxy=shown,
                                 error=f"{proxy_url.scheme} proxies are not probed")
        opened = self._open(host, port, timeout, proxy_url)
        if isinstance(opened, _Failed):
            return TlsResult(target, False, _ms(started), opened.stage, error=opened.error, timed_out=opened.timed_out,
                             address=opened.address, proxy=shown, proxy_status=opened.status)
        sock, address, status = opened
        verify_error: Optional[str] = None
        try:
            der, version = _handshake(sock, self.tls_context(), host, timeout)
        except ssl.SSLCertVerificationError as exc:
            verify_error = exc.verify_message or exc.reason or str(exc)
            der, version = b"", None
            again = self._open(host, port, timeout, proxy_url)  # a second look, to see who issued it
            if not isinstance(again, _Failed):
                with contextlib.suppress(OSError, ValueError):
                    der, version = _handshake(again[0], _unverified_context(), host, timeout)
        except socket.timeout:
            return TlsResult(target, False, _ms(started), "tls", error=f"no TLS answer within {timeout:g} s",
                             timed_out=True, address=address, proxy=shown, proxy_status=status)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return TlsResult(target, False, _ms(started), "tls", error=str(reason), address=address, proxy=shown,
                             proxy_status=status)
        issuer: dict[str, str] = {}
        subject: dict[str, str] = {}
        if der:
            try:
                names = certificate_names(der)
                issuer, subject = names.issuer, names.subject
            except CertificateError:
                pass
        return TlsResult(target, verify_error is None, _ms(started), "done", error=verify_error, address=address,
                         verified=verify_error is None, verify_error=verify_error, issuer=issuer, subject=subject,
                         proxy=shown, proxy_status=status, version=version)

    def _open(self, host: str, port: int, timeout: float,
              proxy: Optional[ProxyURL]) -> Union[Tuple[socket.socket, str, Optional[int]], _Failed]:
        """A connected socket to host:port, or through the proxy's tunnel to it: (socket, address, CONNECT status)."""
        dial_host, dial_port = (proxy.host, proxy.port) if proxy else (host, port)
        where = self._destination(dial_host, dial_port, timeout)
        if not where.ok or where.address is None:
            return _Failed("resolve", where.error or "no address", where.timed_out)
        try:
            sock = socket.create_connection((where.address, dial_port), timeout=timeout)
        except socket.timeout:
            return _Failed("connect", f"no answer within {timeout:g} s", True, where.address)
        except OSError as exc:
            return _Failed("connect", exc.strerror or str(exc), False, where.address)
        if proxy is None:
            return sock, where.address, None
        try:
            if proxy.scheme == "https":
                sock = self.tls_context().wrap_socket(sock, server_hostname=proxy.host)
            status, reason = _connect_tunnel(sock, host, port, proxy)
        except socket.timeout:
            sock.close()
            return _Failed("proxy", f"the proxy sent no answer to CONNECT within {timeout:g} s", True, where.address)
        except (OSError, ValueError) as exc:
            sock.close()
            return _Failed("proxy", f"the proxy connection failed: {getattr(exc, 'strerror', None) or exc}", False,
                           where.address)
        if status != 200:
            sock.close()
            return _Failed("proxy", f"the proxy answered CONNECT {host}:{port} with {status} {reason}".rstrip(),
                           False, where.address, status)
        return sock, where.address, status


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@dataclass(frozen=True)
class _Failed:
    """Why a connection (direct or through a proxy) could not be opened."""

    stage: str
    error: str
    timed_out: bool = False
    address: Optional[str] = None
    status: Optional[int] = None


def _handshake(sock: socket.socket, context: ssl.SSLContext, host: str, timeout: float) -> Tuple[bytes, Optional[str]]:
    """Complete a TLS handshake naming `host`; the peer's DER certificate and the protocol version."""
    sock.settimeout(timeout)
    with context.wrap_socket(sock, server_hostname=host) as tls:
        return tls.getpeercert(binary_form=True) or b"", tls.version()


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _connect_tunnel(sock: socket.socket, host: str, port: int, proxy: ProxyURL) -> Tuple[int, str]:
    """Ask an HTTP proxy for a tunnel (CONNECT host:port, as Go's transport and urllib3 do); its status and reason."""
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if proxy.username is not None:
        creds = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(creds).decode())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("the proxy closed the connection without answering CONNECT")
        head += chunk
        if len(head) > 65536:
            raise ValueError("the proxy's answer to CONNECT has no end")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer to CONNECT: {status_line[:60]!r}")
    return int(parts[1]), parts[2] if len(parts) > 2 else ""
