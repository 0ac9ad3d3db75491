"""HTTPS_PROXY / HTTP_PROXY / NO_PROXY exactly as each client on the host applies them. Pure functions.

Two families read the same variables differently, and an ECR pull involves both:
- Go programs — docker-credential-ecr-login (aws-sdk-go's default HTTP client, host-side.md §1.3 `api/factory.go`)
  and dockerd itself (host-side.md §1.7) — use golang.org/x/net/http/httpproxy: upper case names first
  (`HTTPS_PROXY`, then `https_proxy`; an empty value counts as unset), https URLs use only the HTTPS proxy,
  localhost and loopback addresses are never proxied, and each NO_PROXY entry is `*` (anywhere in the list:
  nothing is proxied), an IP or CIDR range, or a domain with an optional port (`foo.com` matches foo.com and its
  subdomains, `.foo.com` and `*.foo.com` only subdomains).
- botocore (the AWS CLI, boto3, ecrdoctor's own AWS calls) asks urllib: lower case names win over upper case (an
  empty lower case value unsets the upper case one), https URLs use only the https proxy, NO_PROXY is `*` only
  as the whole value, entries are DNS suffixes with leading dots ignored, `*.` and CIDR ranges are not
  understood, an entry with a port matches only a URL that spells that port, and loopback is not exempt
  (botocore.utils.should_bypass_proxies: "requests allowed for ip/cidr entries in no_proxy env that we don't
  support"; urllib.request.getproxies_environment / proxy_bypass_environment).
Research: host-side.md §1.3 (the helper honours HTTPS_PROXY/NO_PROXY through the SDK's default chain), §1.7 and
D2 (dockerd's own proxy: systemd drop-ins, daemon.json `proxies`), B5 (NO_PROXY must hold 169.254.169.254),
F2 (169.254.170.2 for ECS), aws-side.md B4 NET-PROXY.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
_GO_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class ProxyEnvError(ValueError):
    """A proxy URL no client can use."""


@dataclass(frozen=True)
class ProxySettings:
    """The proxy variables one client takes from its environment, and the names they came from."""

    http_proxy: Optional[str] = None
    https_proxy: Optional[str] = None
    no_proxy: Optional[str] = None
    names: Tuple[Tuple[str, str], ...] = ()  # ("https", "HTTPS_PROXY"): which variable supplied each value
    cgi: bool = False  # REQUEST_METHOD is set: an upper case HTTP_PROXY is refused

    @property
    def any(self) -> bool:
        return bool(self.http_proxy or self.https_proxy)

    def name(self, key: str) -> str:
        """The variable a value came from: name("https") -> "HTTPS_PROXY" or "https_proxy"."""
        return dict(self.names).get(key, f"{key.upper()}_PROXY")


@dataclass(frozen=True)
class ProxyDecision:
    """Whether a client sends a request through a proxy, and why, in the user's words."""

    proxy: Optional[str]  # the proxy URL (as given; may hold credentials: print it with `display_proxy`)
    reason: str


@dataclass(frozen=True)
class ProxyURL:
    """A proxy address as a client dials it."""

    scheme: str
    host: str
    port: int
    username: Optional[str] = None
    password: Optional[str] = None

    @property
    def display(self) -> str:
        """scheme://host:port, never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


# -- reading the environment --------------------------------------------------------------------------------


def go_settings(env: Mapping[str, str]) -> ProxySettings:
    """httpproxy.FromEnvironment: getEnvAny("HTTPS_PROXY", "https_proxy"): the first non-empty value wins."""
    values: dict[str, str] = {}
    names: list[Tuple[str, str]] = []
    for key in ("http", "https", "no"):
        for name in (f"{key.upper()}_PROXY", f"{key}_proxy"):
            if env.get(name):
                values[key] = env[name]
                names.append((key, name))
                break
    return ProxySettings(values.get("http"), values.get("https"), values.get("no"), tuple(names),
                         cgi=bool(env.get("REQUEST_METHOD")))


def python_settings(env: Mapping[str, str]) -> ProxySettings:
    """urllib.request.getproxies_environment: any case first, then lower case names override (and an empty lower
    case value removes the entry); REQUEST_METHOD drops an upper case HTTP_PROXY (CVE-2016-1000110)."""
    found: dict[str, Tuple[str, str]] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = (name, value)
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):  # all lower case suffix: the lower case variable decides
            if value:
                found[name.lower()[:-6]] = (name, value)
            else:
                found.pop(name.lower()[:-6], None)
    get = {k: v for k, (_, v) in found.items()}
    names = tuple((k, n) for k, (n, _) in found.items() if k in ("http", "https", "no"))
    return ProxySettings(get.get("http"), get.get("https"), get.get("no"), names,
                         cgi="REQUEST_METHOD" in env)


# -- proxy URLs ------------------------------------------------------------------------------------------------


def parse_proxy_url(value: str) -> ProxyURL:
    """A proxy variable's value as Go's parseProxy and botocore's _fix_proxy_url read it: a full URL, or
    `host[:port]` with http:// assumed; the port defaults by scheme (http 80, https 443, socks5 1080)."""
    text = value.strip()
    if not text:
        raise ProxyEnvError("the proxy value is empty")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in _GO_PROXY_SCHEMES:
        text = "http://" + (text[2:] if text.startswith("//") else text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ProxyEnvError(f"{strip_credentials(value)!r} is not a proxy address: {exc}") from None
    if not parts.hostname:
        raise ProxyEnvError(f"{strip_credentials(value)!r} names no proxy host")
    return ProxyURL(parts.scheme.lower(), parts.hostname, port or DEFAULT_PORTS.get(parts.scheme.lower(), 80),
                    parts.username, parts.password)


def strip_credentials(value: str) -> str:
    """A proxy value without its `user:password@` (the last @ ends the userinfo, as in Go's url.Parse)."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rsplit('@', 1)[-1]}{slash}{path}"


def display_proxy(value: Optional[str]) -> str:
    """How to show a proxy value: normalised and without credentials, or as given when it cannot be parsed."""
    if not value:
        return "-"
    try:
        return parse_proxy_url(value).display
    except ProxyEnvError:
        return strip_credentials(value)


# -- NO_PROXY ------------------------------------------------------------------------------------------------


def _split_url(url: str) -> Tuple[str, str, int, str]:
    """(scheme, host, port, netloc as written) of a request URL; the port defaults by scheme."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 443)
    except ValueError:
        port = DEFAULT_PORTS.get(scheme, 443)
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    return scheme, host, port, netloc


def _ip(text: str) -> Optional[ipaddress._BaseAddress]:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def go_no_proxy_entry(no_proxy: Optional[str], host: str, port: int) -> Optional[str]:
    """The NO_PROXY entry that exempts host:port for a Go client (httpproxy.config.init / useProxy), or None."""
    host = host.lower().strip("[]")
    ip = _ip(host)
    for raw in (no_proxy or "").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return entry
        if ip is not None and "/" in entry:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return entry
            except ValueError:
                pass
            continue
        if "/" in entry:
            continue
        m = re.match(r"^\[?([^\[\]]*?)\]?:(\d+)$", entry) if entry.count(":") == 1 or entry.startswith("[") else None
        ehost, eport = (m.group(1), int(m.group(2))) if m else (entry.strip("[]"), None)
        if not ehost:
            continue
        eip = _ip(ehost)
        if eip is not None:
            if ip is not None and eip == ip and eport in (None, port):
                return entry
            continue
        if ehost.startswith("*."):
            ehost = ehost[1:]
        match_host = not ehost.startswith(".")
        suffix = ehost if ehost.startswith(".") else "." + ehost
        if (host.endswith(suffix) or (match_host and host == suffix[1:])) and eport in (None, port):
            return entry
    return None


def python_no_proxy_entry(no_proxy: Optional[str], netloc: str) -> Optional[str]:
    """The NO_PROXY entry that exempts a URL's netloc for botocore (urllib's proxy_bypass_environment), or None."""
    if no_proxy is None:
        return None
    if no_proxy == "*":
        return "*"
    netloc = netloc.lower()
    hostonly = re.sub(r":\d*$", "", netloc) if not netloc.endswith("]") else netloc
    for raw in no_proxy.split(","):
        name = raw.strip()
        if not name:
            continue
        name = name.lstrip(".").lower()
        if hostonly == name or netloc == name:
            return raw.strip()
        if hostonly.endswith("." + name) or netloc.endswith("." + name):
            return raw.strip()
    return None


def go_decide(settings: ProxySettings, url: str) -> ProxyDecision:
    """The proxy a Go client (credential helper, dockerd) uses for `url`: net/http ProxyFromEnvironment."""
    scheme, host, port, _ = _split_url(url)
    proxy = settings.https_proxy if scheme == "https" else settings.http_proxy if scheme == "http" else None
    name = settings.name(scheme)
    if not proxy:
        return ProxyDecision(None, f"no {scheme.upper()}_PROXY: direct")
    if scheme == "http" and settings.cgi:
        return ProxyDecision(None, "REQUEST_METHOD is set (a CGI environment): Go refuses HTTP_PROXY")
    if host == "localhost" or (_ip(host) is not None and _ip(host).is_loopback):  # type: ignore[union-attr]
        return ProxyDecision(None, f"{host} is loopback, which Go never proxies")
    entry = go_no_proxy_entry(settings.no_proxy, host, port)
    if entry is not None:
        return ProxyDecision(None, f"{settings.name('no')} entry '{entry}' exempts it: direct")
    return ProxyDecision(proxy, f"{name}={display_proxy(proxy)}")


def python_decide(settings: ProxySettings, url: str) -> ProxyDecision:
    """The proxy botocore (the AWS CLI) uses for `url`: get_environ_proxies, then proxies[scheme]."""
    scheme, _, _, netloc = _split_url(url)
    proxy = settings.https_proxy if scheme == "https" else settings.http_proxy if scheme == "http" else None
    if not proxy:
        return ProxyDecision(None, f"no {scheme}_proxy: direct")
    entry = python_no_proxy_entry(settings.no_proxy, netloc)
    if entry is not None:
        return ProxyDecision(None, f"{settings.name('no')} entry '{entry}' exempts it: direct")
    return ProxyDecision(proxy, f"{settings.name(scheme)}={display_proxy(proxy)}")


def same_proxy(a: Optional[str], b: Optional[str]) -> bool:
    """Whether two proxy values send traffic to the same place (scheme, host and port; credentials aside)."""
    if not a or not b:
        return not a and not b
    try:
        pa, pb = parse_proxy_url(a), parse_proxy_url(b)
    except ProxyEnvError:
        return a.strip() == b.strip()
    return (pa.scheme, pa.host.lower(), pa.port) == (pb.scheme, pb.host.lower(), pb.port)


def add_to_no_proxy(no_proxy: Optional[str], *entries: str) -> str:
    """NO_PROXY with entries appended (those already there kept once), for a fix command."""
    have = [e.strip() for e in (no_proxy or "").split(",") if e.strip()]
    for entry in entries:
        if entry.lower() not in (h.lower() for h in have):
            have.append(entry)
    return ",".join(have)
