"""Network probes as checks ask for them: one interface, bounded by explicit timeouts."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional, Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw: ok, or the error as the OS worded it, and how long it took."""

    target: str
    ok: bool
    duration_ms: int
    error: Optional[str] = None
    timed_out: bool = False
    address: Optional[str] = None


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


class NetProbe(Protocol):
    """The seam checks use for the network; the network checks add DNS, TLS and HTTP probes to it."""

    def resolve(self, host: str, timeout: float) -> ProbeResult: ...

    def tcp(self, host: str, port: int, timeout: float) -> ProbeResult: ...

    def http(self, method: str, url: str, headers: Optional[Mapping[str, str]] = None, timeout: float = 1.0,
             proxy: Optional[str] = None) -> HttpResult: ...


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
        started = time.monotonic()
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            return ProbeResult(host, False, _ms(started), error=str(exc))
        return ProbeResult(host, True, _ms(started), address=str(infos[0][4][0]) if infos else None)

    def tcp(self, host: str, port: int, timeout: float) -> ProbeResult:
        started = time.monotonic()
        target = f"{host}:{port}"
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                peer = sock.getpeername()[0]
        except socket.timeout:
            return ProbeResult(target, False, _ms(started), error=f"no answer within {timeout:g} s",
                               timed_out=True)
        except OSError as exc:
            return ProbeResult(target, False, _ms(started), error=exc.strerror or str(exc))
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


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
