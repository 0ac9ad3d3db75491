"""Network probes as checks ask for them: one interface, bounded by explicit timeouts."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Optional, Protocol


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw: ok, or the error as the OS worded it, and how long it took."""

    target: str
    ok: bool
    duration_ms: int
    error: Optional[str] = None
    timed_out: bool = False
    address: Optional[str] = None


class NetProbe(Protocol):
    """The seam checks use for the network; the network checks add DNS, TLS and HTTP probes to it."""

    def resolve(self, host: str, timeout: float) -> ProbeResult: ...

    def tcp(self, host: str, port: int, timeout: float) -> ProbeResult: ...


class SocketProbe:
    """Probes with plain sockets."""

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


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
