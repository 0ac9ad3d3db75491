"""Pure helpers for the instance-metadata (IMDS) probe: the endpoint and proxy the SDKs would use, and what
a genuine IMDS answer looks like (a proxy error page or a captive portal must not pass for one)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Mapping, Optional
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "http://169.254.169.254"
IPV6_ENDPOINT = "http://[fd00:ec2::254]"
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
IAM_INFO_PATH = "/latest/meta-data/iam/info"
INSTANCE_ID_PATH = "/latest/meta-data/instance-id"
REGION_PATH = "/latest/meta-data/placement/region"

_TOKEN = re.compile(r"^[A-Za-z0-9+/=_.-]{1,4096}$")
_ROLE = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM role name characters and length
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_PROFILE_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+$")


class ImdsAnswerError(ValueError):
    """An answer that is not what IMDS sends: an HTML error page, a proxy's message, junk."""


@dataclass(frozen=True)
class InstanceProfileInfo:
    """What /latest/meta-data/iam/info says about the attached instance profile."""

    arn: str
    profile_id: Optional[str] = None


def metadata_disabled(env: Mapping[str, str]) -> bool:
    """AWS_EC2_METADATA_DISABLED=true turns IMDS off for botocore, the AWS CLI and the Go SDK alike."""
    return env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "true"


def metadata_endpoint(env: Mapping[str, str]) -> str:
    """The IMDS base URL the SDKs use: the override, else 169.254.169.254 (or fd00:ec2::254 in IPv6 mode)."""
    override = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "").strip()
    if override:
        return override.rstrip("/")
    if env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "").strip().lower() == "ipv6":
        return IPV6_ENDPOINT
    return DEFAULT_ENDPOINT


def _env_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """urllib's getproxies_environment: every *_proxy variable; lower case wins over upper case."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            found.setdefault(name.lower()[:-6], value)
    for name, value in env.items():
        if value and name.endswith("_proxy") and name == name.lower():
            found[name[:-6]] = value
    return found


def proxy_for(url: str, env: Mapping[str, str]) -> Optional[str]:
    """The proxy botocore (and so the AWS CLI) sends a plain-HTTP request to `url` through, or None.

    botocore asks urllib (botocore.utils.get_environ_proxies): NO_PROXY entries match the host exactly or as
    a domain suffix, `*` matches everything; IP ranges (CIDR) are NOT understood, and loopback is not exempt.
    """
    proxies = _env_proxies(env)
    scheme = urlsplit(url).scheme or "http"
    proxy = proxies.get(scheme)
    if not proxy:
        return None
    no_proxy = proxies.get("no", "")
    if no_proxy.strip() == "*":
        return None
    host = urlsplit(url).netloc.lower()
    hostonly = urlsplit(url).hostname or host
    for name in no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (hostonly, host) or hostonly.endswith("." + name) or host.endswith("." + name):
            return None
    return proxy


def no_proxy_has_cidr_for(host: str, env: Mapping[str, str]) -> bool:
    """NO_PROXY covers `host` only through an IP range: Go programs (the credential helper) honour it, botocore not."""
    value = env.get("NO_PROXY") or env.get("no_proxy") or ""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in value.split(","):
        try:
            if "/" in entry and address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def parse_token(body: str) -> str:
    """An IMDSv2 session token: one opaque base64-like word."""
    token = body.strip()
    if not _TOKEN.match(token):
        what = "an HTML page" if looks_like_html(body) else f"{len(body)} characters that are not one token"
        raise ImdsAnswerError(f"the token answer is not an IMDS token but {what}")  # never echo a token
    return token


def parse_role_list(body: str) -> str:
    """The role name from /latest/meta-data/iam/security-credentials/ (IMDS lists exactly one)."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    if not lines or not _ROLE.match(lines[0]):
        raise ImdsAnswerError(f"the role list is not an IAM role name: {_preview(body)}")
    return lines[0]


def parse_iam_info(body: str) -> InstanceProfileInfo:
    """The JSON document of /latest/meta-data/iam/info: Code Success and the instance profile's ARN."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ImdsAnswerError(f"iam/info is not JSON: {_preview(body)}") from exc
    if not isinstance(doc, dict):
        raise ImdsAnswerError("iam/info is not a JSON object")
    arn = doc.get("InstanceProfileArn")
    if doc.get("Code") != "Success" or not isinstance(arn, str) or not _PROFILE_ARN.match(arn):
        raise ImdsAnswerError(f"iam/info does not name an instance profile (Code {doc.get('Code')!r})")
    profile_id = doc.get("InstanceProfileId")
    return InstanceProfileInfo(arn, profile_id if isinstance(profile_id, str) else None)


def parse_instance_id(body: str) -> str:
    value = body.strip()
    if not _INSTANCE_ID.match(value):
        raise ImdsAnswerError(f"not an instance id: {_preview(body)}")
    return value


def parse_region(body: str) -> str:
    value = body.strip()
    if not _REGION.match(value):
        raise ImdsAnswerError(f"not a region name: {_preview(body)}")
    return value


def looks_like_html(body: str) -> bool:
    head = body.lstrip()[:200].lower()
    return head.startswith("<") or "<html" in head


def _preview(body: str, limit: int = 60) -> str:
    text = " ".join(body.split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))
