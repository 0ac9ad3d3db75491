"""The Amazon ECR credential helper's own traces, parsed: ecr-login.log (all three formats) and cache.json.

The helper (docker-credential-ecr-login) answers docker with only `credentials not found in native
keychain`; the reason is in `${AWS_ECR_CACHE_DIR:-~/.ecr}/log/ecr-login.log` (research host-side.md
§1.3). These functions read the tail of that log with bounded memory, parse its lines, group them into
the helper's requests, name the cause of each failure, and read cache.json without keeping a token.

Two functions take a filesystem Path (`read_tail`, `read_head`): a seekable read of a possibly huge
file is not something `Host.read_text` offers. Checks reach them only through `ctx.host.read_tail` and
`ctx.host.read_head`, which honour `--root` and record; everything else here is pure and raises only the
typed errors defined below.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ecrdoctor.model import Fix

TAIL_BYTES = 256 * 1024  # enough for about a thousand of the helper's requests
CACHE_VERSION = "1.0"  # cache/file.go registryCacheVersion; other versions are discarded by the helper


# -- reading -----------------------------------------------------------------------------------------

class LogReadError(Exception):
    """A log file that cannot be read; `missing` when it does not exist."""

    def __init__(self, path: str, reason: str, missing: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.missing = path, reason, missing


@dataclass(frozen=True)
class LogTail:
    """The end of a log file: its text from `start` (a line boundary) to `end`, and the file's size."""

    path: str
    text: str
    start: int
    end: int
    truncated: bool  # True when the file holds more before `start` than was read


def read_tail(path: Path, max_bytes: int = TAIL_BYTES, start: int = 0, end: Optional[int] = None) -> LogTail:
    """Read at most the last `max_bytes` of a file between `start` and `end` (default: its end), with a
    seek: memory never grows with the file.

    A partial first line is dropped unless the read begins at `start` itself. A file that shrank below
    `start` (rotated or truncated) is read from its beginning."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            size = size if end is None else min(size, end)
            if start > size:
                start = 0
            begin = max(start, size - max_bytes)
            fh.seek(begin)
            data = fh.read(size - begin)
    except FileNotFoundError:
        raise LogReadError(str(path), "does not exist", missing=True) from None
    except IsADirectoryError:
        raise LogReadError(str(path), "is a directory") from None
    except PermissionError:
        raise LogReadError(str(path), "permission denied") from None
    except OSError as exc:
        raise LogReadError(str(path), exc.strerror or type(exc).__name__) from None
    if data[:1] == b"\0":  # a hole (a sparse or copytruncate'd file): what follows it starts a line
        stripped = data.lstrip(b"\0")
        begin, data = begin + len(data) - len(stripped), stripped
    elif begin > start:
        cut = data.find(b"\n")
        data, begin = (b"", begin + len(data)) if cut < 0 else (data[cut + 1:], begin + cut + 1)
    return LogTail(str(path), data.decode("utf-8", errors="replace"), begin, begin + len(data), begin > 0)


def read_head(path: Path, count: int = 20) -> bytes:
    """The first bytes of a file (an executable's header); raises LogReadError when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(count)
    except FileNotFoundError:
        raise LogReadError(str(path), "does not exist", missing=True) from None
    except OSError as exc:
        raise LogReadError(str(path), exc.strerror or type(exc).__name__) from None


# -- log lines ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HelperLogEntry:
    """One line the helper logged: when, how severe, the message and its key=value fields."""

    time: Optional[datetime]  # timezone-aware; None when the line had no readable time
    level: str  # trace | debug | info | warning | error | fatal | panic
    message: str
    fields: Mapping[str, str] = field(default_factory=dict)
    format: str = "logrus"  # logrus (2018-10 .. 0.12), slog (after 0.12), seelog (before 2018-10)

    @property
    def error(self) -> str:
        return self.fields.get("error", "")

    @property
    def is_error(self) -> bool:
        return self.level in ("error", "fatal", "panic")


_LEVELS = {"warn": "warning", "critical": "fatal", "crit": "fatal", "erro": "error", "eror": "error"}
_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?")
_PAIR = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
# seelog: format "%UTCDate(2006-01-02T15:04:05Z07:00) [%LEVEL] %Msg%n" (ecr-login/config/seelog.go)
_SEELOG = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)) \[([A-Za-z]+)\] (.*)")
# seelog-era messages were printf-formatted; these give them the names and fields logrus later used
_SEELOG_MESSAGES: Tuple[Tuple[re.Pattern[str], str, Tuple[str, ...]], ...] = tuple(
    (re.compile(pattern, re.S), message, names) for pattern, message, names in (
        (r"Retrieving credentials for (\S+) in (\S+) \((.*)\)$", "Retrieving credentials",
         ("registry", "region", "serverURL")),
        (r"Error retrieving credentials: (.*)$", "Error retrieving credentials", ("error",)),
        (r"Error parsing the serverURL: (.*?), error: (.*)$", "Error parsing the serverURL", ("serverURL", "error")),
        (r"Error listing credentials: (.*)$", "Error listing credentials", ("error",)),
        (r"Got error fetching authorization token\. Falling back to cached token\. Error was: (.*)$",
         "Got error fetching authorization token. Falling back to cached token.", ("error",)),
        (r"Using cached token for (\S+)$", "Using cached token", ("registry",)),
        (r"Cached token is no longer valid\. RequestAt: (.*), ExpiresAt: (.*)$", "Cached token is no longer valid",
         ("requestedAt", "expiresAt")),
        (r"Checking file cache for (\S+)$", "Checking file cache", ("registry",)),
        (r"Saving credentials to file cache for (\S+)$", "Saving credentials to file cache", ("registry",)),
        (r"Calling ECR\.GetAuthorizationToken for (\S+)$", "Calling ECR.GetAuthorizationToken", ("registry",)),
        (r"Could not save cache: (.*)$", "Could not save cache", ("error",)),
        (r"Could not load existing cache: (.*)$", "Could not load existing cache", ("error",)),
    ))


def parse_time(text: str) -> Optional[datetime]:
    """RFC 3339 (any fraction, `Z` or an offset) and Go's `2006-01-02 15:04:05 +0000 UTC`; naive means UTC."""
    m = _TIME.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    tz = timezone.utc
    if zone and zone != "Z":
        digits = zone.replace(":", "")
        offset = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
        tz = timezone(offset if digits[0] == "+" else -offset)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None


def _unquote(value: str) -> str:
    """A Go %q string (how logrus and slog quote values) back to its text."""
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
        return value

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "xuU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        if len(esc) == 3 and esc.isdigit():
            return chr(int(esc, 8))
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _ESCAPE.sub(one, value[1:-1])


def _level(text: str) -> str:
    word = re.split(r"[+-]", text.strip().lower(), maxsplit=1)[0]  # slog writes DEBUG+2 for custom levels
    return _LEVELS.get(word, word)


def parse_log_line(line: str) -> Optional[HelperLogEntry]:
    """One line of ecr-login.log in any of the helper's formats, or None when it is not one.

    logrus (v0.2 .. v0.12): `time="2019-04-24T13:01:39-07:00" level=error msg="Error parsing the serverURL"
    error="..." serverURL=...`; slog (after 0.12): the same with `time=` unquoted and upper-case levels;
    seelog (before October 2018): `2018-02-08T11:22:51Z [DEBUG] Retrieving credentials for 1234 in us-east-1 (...)`.
    """
    line = line.strip()
    if line.startswith(("time=", "level=")):
        fields: Dict[str, str] = {}
        pos = 0
        while pos < len(line):
            m = _PAIR.match(line, pos)
            if not m:
                nxt = line.find(" ", pos)
                if nxt < 0:
                    break
                pos = nxt + 1
                continue
            fields[m.group(1)] = _unquote(m.group(2))
            pos = m.end()
            while pos < len(line) and line[pos] == " ":
                pos += 1
        if "level" not in fields or "msg" not in fields:
            return None
        quoted_time = line.startswith('time="')
        when = parse_time(fields.pop("time", ""))
        level = fields.pop("level")
        message = fields.pop("msg")
        fmt = "logrus" if quoted_time or level.islower() else "slog"
        return HelperLogEntry(when, _level(level), message, fields, fmt)
    m = _SEELOG.match(line)
    if not m:
        return None
    message, seelog_fields = m.group(3), {}
    for pattern, name, names in _SEELOG_MESSAGES:
        found = pattern.match(message)
        if found:
            message, seelog_fields = name, dict(zip(names, found.groups()))
            break
    return HelperLogEntry(parse_time(m.group(1)), _level(m.group(2)), message, seelog_fields, "seelog")


def parse_log(text: str) -> List[HelperLogEntry]:
    """Every line of a log text that is a helper log line; other lines (stderr noise, NULs) are skipped."""
    entries = []
    for line in text.splitlines():
        entry = parse_log_line(line)
        if entry is not None:
            entries.append(entry)
    return entries


# -- causes ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HelperCause:
    """Why one helper request failed (or degraded), named from its log line."""

    id: str  # stable: one of CAUSES
    summary: str  # one line, for a user
    excerpt: str = ""  # the telling end of the error text (the runner's redactor still applies)
    principal: Optional[str] = None  # the ARN AWS named in an AccessDenied
    underlying: Optional[str] = None  # for stale-cache: the cause id of the API error behind the fallback

    @property
    def blocks_pull(self) -> bool:
        return self.id not in NON_BLOCKING


# cause id -> the summary, in the words a user would search for (research host-side.md Part 2 B1-B10, K8)
CAUSES: Dict[str, str] = {
    "no-credentials": "no AWS credentials in the helper's environment",
    "imds-disabled": "no AWS credentials: AWS_EC2_METADATA_DISABLED stops the instance-profile lookup",
    "imds-unreachable": "the instance metadata service (IMDS) did not answer the helper",
    "access-denied": "AccessDenied on ecr:GetAuthorizationToken",
    "invalid-keys": "the AWS keys are invalid or expired",
    "clock-skew": "AWS rejected the request signature as expired: the clock is off",
    "sso-expired": "the IAM Identity Center (SSO) session has expired",
    "no-tty": "the profile needs an MFA code or an interactive credential_process, and the helper has no terminal",
    "tls": "TLS to the ECR API failed: certificate signed by an unknown authority (TLS interception)",
    "network": "the ECR API endpoint could not be reached",
    "not-ecr": "the host is not an ECR registry, so the helper refuses it",
    "throttled": "GetAuthorizationToken was throttled (Rate exceeded)",
    "aws-config": "the helper could not load the AWS configuration (profile or config file)",
    "cache-unwritable": "the helper could not save its token cache",
    "store-unsupported": "`docker login`/`docker logout` asked the helper to store credentials, which it never does",
    "stale-cache": "the API call failed and the helper handed docker its cached token, which may have expired",
    "unknown": "the helper reported an error",
}
NON_BLOCKING = frozenset({"cache-unwritable", "store-unsupported", "not-ecr", "stale-cache"})

_RULES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (  # first match wins; substrings, case-sensitive
    ("not-ecr", ("can only be used with Amazon", "is not a valid repository URI")),
    ("tls", ("x509:", "certificate signed by unknown authority", "tls: failed to verify certificate",
             "certificate is not valid")),
    ("sso-expired", ("SSO session has expired", "/sso/cache/", "SSOProviderInvalidToken", "refresh cached SSO token",
                     "InvalidGrantException", "Session token not found or invalid")),
    ("no-tty", ("credential_process", "ProcessProviderExecutionError", "process provider", "mfa_serial",
                "AssumeRoleTokenProvider", "MFA", "Enter token for")),
    ("imds-disabled", ("access disabled to EC2 IMDS",)),
    ("access-denied", ("AccessDenied", "not authorized to perform", "StatusCode: 403")),
    ("clock-skew", ("Signature expired", "RequestTimeTooSkewed", "Signature not yet current")),
    ("invalid-keys", ("UnrecognizedClientException", "InvalidClientTokenId", "security token included in the request",
                      "ExpiredToken", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSignatureException")),
    ("throttled", ("ThrottlingException", "Rate exceeded", "TooManyRequests")),
    ("no-credentials", ("no EC2 IMDS role found", "NoCredentialProviders", "no valid providers in chain",
                        "failed to refresh cached credentials", "failed to retrieve credentials",
                        "static credentials are empty")),
    ("aws-config", ("failed to get shared config profile", "SharedConfigProfileNotExist", "loading AWS config",
                    "loading default AWS config", "failed to load shared config")),
    ("network", ("request send failed", "send request failed", "dial tcp", "i/o timeout", "connection reset",
                 "no such host", "connection refused", "network is unreachable", "proxyconnect",
                 "Client.Timeout", "TLS handshake timeout", "context deadline exceeded", "StatusCode: 0")),
)
_IMDS_DOWN = ("request send failed", "exceeded maximum number of attempts", "dial tcp", "i/o timeout",
              "context deadline exceeded", "connection refused", "host is down", "network is unreachable")
_PRINCIPAL = re.compile(r"User: (arn:[^\s,]+) is not authorized to perform")


def _excerpt(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "…" + text[-limit:]


def classify_error(text: str) -> HelperCause:
    """Name the cause behind one error text of the helper (the SDK's error chain, or a message)."""
    cause_id = "unknown"
    imds_part = text[text.find("ec2imds"):] if "ec2imds" in text else ""
    imds_addr = "169.254.169.254" in text and any(s in text for s in _IMDS_DOWN)
    for cid, needles in _RULES:
        if cid == "no-credentials" and (imds_addr or any(s in imds_part for s in _IMDS_DOWN)):
            cause_id = "imds-unreachable"  # the chain ended at IMDS, and IMDS itself did not answer
            break
        if any(n in text for n in needles):
            cause_id = cid
            break
    principal = None
    if cause_id == "access-denied":
        m = _PRINCIPAL.search(text)
        principal = m.group(1).rstrip(".") if m else None
    summary = CAUSES[cause_id] + (f" for {principal}" if principal else "")
    if cause_id == "access-denied" and "StatusCode: 403" in text and "AccessDenied" not in text:
        summary += " (HTTP 403 with a body that is not AWS JSON)"
    return HelperCause(cause_id, summary, _excerpt(text), principal)


def classify(entry: HelperLogEntry) -> Optional[HelperCause]:
    """The cause a log line records, or None for lines that record no problem (progress, successes)."""
    msg = entry.message
    if msg.startswith("Got error fetching authorization token"):
        inner = classify_error(entry.error)
        return HelperCause("stale-cache", CAUSES["stale-cache"] + f" ({inner.summary})", inner.excerpt,
                           inner.principal, inner.id)
    if msg.startswith(("Could not save cache", "Could not clear cache")):
        return HelperCause("cache-unwritable", CAUSES["cache-unwritable"], _excerpt(entry.error))
    if msg.startswith(("Add() is not supported", "Delete() credentials is not supported")):
        return HelperCause("store-unsupported", CAUSES["store-unsupported"])
    if not entry.is_error:
        return None
    cause = classify_error(f"{msg}: {entry.error}" if entry.error else msg)
    if cause.id == "not-ecr" and entry.fields.get("serverURL"):
        return HelperCause("not-ecr", f"{entry.fields['serverURL']} is not an ECR registry, so the helper refuses it",
                           cause.excerpt)
    if msg.startswith("Error creating ECR client") and cause.id in ("unknown", "network"):
        return HelperCause("aws-config", CAUSES["aws-config"], cause.excerpt)
    return cause


# -- requests ----------------------------------------------------------------------------------------

_REQUEST_MARKERS = ("Retrieving credentials", "Listing credentials", "Error parsing the serverURL",
                    "Error creating ECR client", "Error listing credentials")
_PRELUDE = ("Could not fetch credentials for cache prefix", "Cache disabled due to AWS_ECR_DISABLE_CACHE",
            "Could not expand cache path")
_SUCCESS = ("Saving credentials to file cache", "Using cached token")


@dataclass(frozen=True)
class HelperRequest:
    """One `get` (or `list`) the helper served, as its log lines tell it."""

    time: Optional[datetime]
    kind: str  # "get" | "list"
    outcome: str  # "success" | "failed" | "fallback" | "unfinished"
    cause: Optional[HelperCause] = None  # why it failed or fell back
    notes: Tuple[HelperCause, ...] = ()  # problems that did not stop it (cache not saved)
    registry: Optional[str] = None  # the 12-digit registry id
    region: Optional[str] = None
    server_url: Optional[str] = None
    service: Optional[str] = None  # "ecr" | "ecr-public"


def _finish(entries: Sequence[HelperLogEntry]) -> HelperRequest:
    fields: Dict[str, str] = {}
    kind, failure, fallback, success, cache_off = "get", None, None, False, False
    notes: List[HelperCause] = []
    for e in entries:
        for key in ("registry", "region", "serverURL", "service"):
            if key in e.fields and key not in fields:
                fields[key] = e.fields[key]
        if e.message.startswith(("Listing credentials", "Error listing credentials")):
            kind = "list"
        if e.message.startswith(_SUCCESS):
            success = True
        if e.message.startswith("Cache disabled due to AWS_ECR_DISABLE_CACHE"):
            cache_off = True
        cause = classify(e)
        if cause is None:
            continue
        if cause.id == "stale-cache":
            fallback = fallback or cause
        elif e.is_error:
            failure = failure or cause
        else:
            notes.append(cause)
    called = any(e.message.startswith("Calling ECR.GetAuthorizationToken") for e in entries)
    if failure is not None:
        outcome, cause_out = "failed", failure
    elif fallback is not None:
        outcome, cause_out = "fallback", fallback
    elif success or (cache_off and called) or kind == "list":
        outcome, cause_out = "success", None
    else:
        outcome, cause_out = "unfinished", None
    when = next((e.time for e in entries if e.time is not None), None)
    return HelperRequest(when, kind, outcome, cause_out, tuple(notes), fields.get("registry"), fields.get("region"),
                         fields.get("serverURL"), fields.get("service"))


def group_requests(entries: Sequence[HelperLogEntry]) -> List[HelperRequest]:
    """Split a run of log lines into the helper's requests: each starts with its cache set-up or its
    `Retrieving credentials` line; a request that fails before that (a host that is not ECR, a broken
    AWS config) is its own request. Lines before the first request (a tail cut mid-request) still count."""
    groups: List[List[HelperLogEntry]] = []
    has_request = True  # so the first line opens a group
    for e in entries:
        marker = e.message.startswith(_REQUEST_MARKERS)
        prelude = e.message.startswith(_PRELUDE)
        if (marker or prelude) and has_request:
            groups.append([])
            has_request = False
        if not groups:
            groups.append([])
        groups[-1].append(e)
        has_request = has_request or marker
    return [_finish(g) for g in groups if g]


# -- fixes ----------------------------------------------------------------------------------------

READ_ONLY_POLICY = "AmazonEC2ContainerRegistryReadOnly"  # covers ecr:GetAuthorizationToken (research B6)


@dataclass(frozen=True)
class FixFacts:
    """What the fixes need to name real values: the registry, this host, the user and the helper's files."""

    host: Optional[str] = None  # the registry host docker asked for
    region: Optional[str] = None  # the region of its ECR API
    on_ec2: bool = False
    instance_id: Optional[str] = None
    in_container: bool = False
    profile: Optional[str] = None
    proxy_set: bool = False  # HTTPS_PROXY in the environment docker and the helper share
    no_proxy: str = ""
    ca_bundle: Optional[str] = None  # AWS_CA_BUNDLE: it replaces the system trust store for the helper
    user: str = "$USER"
    sudo_user: Optional[str] = None
    cache_dir: str = "~/.ecr"
    log_path: str = "~/.ecr/log/ecr-login.log"
    os_id: Optional[str] = None  # "amzn2023" | "amzn2" | "debian" | None
    config_path: str = "~/.docker/config.json"


def _no_proxy_command(facts: FixFacts, *hosts: str) -> str:
    have = [h for h in facts.no_proxy.split(",") if h]
    return "export NO_PROXY=" + ",".join(dict.fromkeys([*hosts, *have]))


def _principal_fix(principal: Optional[str]) -> Tuple[str, ...]:
    """attach-*-policy for the principal an AccessDenied named (assumed-role sessions map to their role)."""
    m = re.match(r"arn:([\w-]+):(?:sts|iam)::\d{12}:(assumed-role|role|user)/(?:.*/)?([^/]+?)(?:/[^/]+)?$",
                 principal or "")
    if m and m.group(2) == "assumed-role":
        m2 = re.match(r"arn:([\w-]+):sts::\d{12}:assumed-role/([^/]+)/", principal or "")
        if m2:
            return (f"aws iam attach-role-policy --role-name {m2.group(2)} --policy-arn "
                    f"arn:{m2.group(1)}:iam::aws:policy/{READ_ONLY_POLICY}",)
    if m:
        noun = "user" if m.group(2) == "user" else "role"
        return (f"aws iam attach-{noun}-policy --{noun}-name {m.group(3)} --policy-arn "
                f"arn:{m.group(1)}:iam::aws:policy/{READ_ONLY_POLICY}",)
    return ("aws sts get-caller-identity", "aws iam attach-role-policy --role-name <role-name> --policy-arn "
            f"arn:aws:iam::aws:policy/{READ_ONLY_POLICY}")


def _credentials_fix(facts: FixFacts, why: str) -> Tuple[str, Tuple[str, ...]]:
    region = facts.region or "<region>"
    if facts.sudo_user:
        return (why + f" Under sudo the helper runs as root with root's environment and ~/.aws, not "
                f"{facts.sudo_user}'s: run docker without sudo, or give root credentials.",
                (f"sudo usermod -aG docker {facts.sudo_user}", "sudo aws configure"))
    if facts.on_ec2:
        return (why + f" Attach an instance profile whose role has {READ_ONLY_POLICY}.",
                (f"aws ec2 associate-iam-instance-profile --region {region} --instance-id "
                 f"{facts.instance_id or '<instance-id>'} --iam-instance-profile Name=<instance-profile-name>",))
    profile = facts.profile or "<profile>"
    return (why + " Give the shell that runs docker AWS credentials (the helper reads the same environment "
            "variables, ~/.aws files and AWS_PROFILE as the AWS CLI).",
            ("aws configure", f"aws sso login --profile {profile}"))


def _install_ca(facts: FixFacts) -> Tuple[str, ...]:
    amazon = ("sudo cp <proxy-root-ca>.pem /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust",)
    debian = ("sudo cp <proxy-root-ca>.crt /usr/local/share/ca-certificates/ && sudo update-ca-certificates",)
    if facts.os_id and facts.os_id.startswith("amzn"):
        return amazon
    return debian if facts.os_id == "debian" else amazon + debian


def fix_for(cause: HelperCause, facts: FixFacts) -> Fix:
    """The fix for a cause, with this host's values filled in (research host-side.md Part 2 B1-B10, K8, D3)."""
    region = facts.region or "<region>"
    cid = cause.id
    if cid in ("no-credentials", "imds-disabled") or (cid == "imds-unreachable" and not facts.on_ec2):
        if cid == "imds-disabled" and facts.on_ec2:
            return Fix("This is an EC2 instance, but AWS_EC2_METADATA_DISABLED=true stops the helper from asking "
                       "IMDS for the instance role's credentials. Unset it where docker runs.",
                       ("unset AWS_EC2_METADATA_DISABLED",))
        why = ("The helper found no credentials: environment, ~/.aws files, SSO and container endpoint came up "
               "empty, so it asked the instance metadata service last" + (", which this host does not have."
                                                                          if not facts.on_ec2 else "."))
        return Fix(*_credentials_fix(facts, why))
    if cid == "imds-unreachable":
        commands = [f"aws ec2 modify-instance-metadata-options --region {region} --instance-id "
                    f"{facts.instance_id or '<instance-id>'} --http-endpoint enabled --http-put-response-hop-limit 2"]
        text = ("The helper could not reach the instance metadata service at 169.254.169.254 for the instance "
                "role's credentials. " + ("This runs inside a container, where the IMDSv2 answer is dropped after "
                                          "one network hop (hop limit 1): raise the limit to 2."
                                          if facts.in_container else
                                          "Make sure the metadata endpoint is enabled (and, for containers on this "
                                          "instance, that the IMDSv2 hop limit is 2)."))
        if facts.proxy_set:
            text += " HTTPS_PROXY is set: exempt the metadata address from the proxy."
            commands.append(_no_proxy_command(facts, "169.254.169.254", "169.254.170.2"))
        return Fix(text, tuple(commands))
    if cid == "access-denied":
        who = cause.principal or "the helper's AWS principal"
        return Fix(f"Allow ecr:GetAuthorizationToken on Resource \"*\" for {who}: the AWS managed policy "
                   f"{READ_ONLY_POLICY} grants it and the pull actions.", _principal_fix(cause.principal))
    if cid == "invalid-keys":
        profile = f" --profile {facts.profile}" if facts.profile else ""
        return Fix("AWS does not accept the access key: it was deleted, deactivated or rotated, or a session "
                   "token has expired. Replace the keys the helper sees (environment variables first, then "
                   "~/.aws/credentials), then confirm them.", (f"aws configure{profile}",
                                                                 f"aws sts get-caller-identity{profile}"))
    if cid == "clock-skew":
        return Fix("AWS rejects signatures more than 5 minutes off: synchronise this host's clock.",
                   ("timedatectl status", "sudo timedatectl set-ntp true"))
    if cid == "sso-expired":
        return Fix("Log in to IAM Identity Center again; the helper picks up the new session on the next pull.",
                   (f"aws sso login --profile {facts.profile or 'default'}",))
    if cid == "no-tty":
        return Fix("The helper runs without a terminal and cannot ask for an MFA code or run an interactive "
                   "credential_process. Get temporary credentials first and export them (AWS_ACCESS_KEY_ID, "
                   "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) in the shell that runs docker.",
                   ("aws sts get-session-token --serial-number <mfa-arn> --token-code <code>",))
    if cid == "tls":
        if facts.ca_bundle:
            return Fix(f"AWS_CA_BUNDLE={facts.ca_bundle} replaces the system trust store for the helper, and it "
                       "does not trust the certificate the ECR API (or a TLS-intercepting proxy) presented. Point it "
                       "at a bundle that includes the proxy's root CA, or unset it.", ("unset AWS_CA_BUNDLE",))
        return Fix("A TLS-intercepting proxy re-signs the ECR API's certificate with a CA this host does not trust. "
                   "Install the proxy's root CA into the system trust store, or exempt AWS from interception.",
                   _install_ca(facts))
    if cid == "network":
        api = f"api.ecr.{region}.amazonaws.com"
        commands = [f"curl -sS -o /dev/null -w '%{{http_code}}\\n' https://{api}/"]
        text = (f"The helper could not reach https://{api}. It uses the proxy settings of the shell that runs "
                "docker, not dockerd's. Without internet access, the subnet needs a NAT gateway or the "
                f"com.amazonaws.{region}.ecr.api VPC endpoint with private DNS.")
        if not facts.proxy_set:
            commands.append("export HTTPS_PROXY=http://<proxy-host>:<port>")
        commands.append(f"aws ec2 create-vpc-endpoint --region {region} --vpc-id <vpc-id> --vpc-endpoint-type "
                        f"Interface --service-name com.amazonaws.{region}.ecr.api --subnet-ids <subnet-id> "
                        "--security-group-ids <security-group-id> --private-dns-enabled")
        return Fix(text, tuple(commands))
    if cid == "not-ecr":
        return Fix("The helper serves only ECR registries; with credsStore ecr-login docker asks it for every "
                   "registry, gets nothing for the others and pulls them anonymously (`docker login` to them "
                   "fails). Name the ECR hosts in credHelpers instead of using credsStore.",
                   (_creds_store_to_helpers(facts),))
    if cid == "throttled":
        return Fix("GetAuthorizationToken is rate-limited per account and region: retry with backoff, and keep the "
                   "helper's cache on so each host asks at most every 6 hours.", ("unset AWS_ECR_DISABLE_CACHE",))
    if cid == "aws-config":
        profile = f" --profile {facts.profile}" if facts.profile else ""
        return Fix("The helper could not load the AWS configuration: the selected profile does not exist or "
                   "~/.aws/config does not parse.", ("aws configure list-profiles", f"aws configure list{profile}"))
    if cid == "cache-unwritable":
        return Fix(f"The helper cannot write {facts.cache_dir} (typically left owned by root after `sudo`): give it "
                   "back to the user who runs docker.", (f"sudo chown -R {facts.user} {facts.cache_dir}",))
    if cid == "store-unsupported":
        return Fix("The ECR helper never stores credentials, so `docker login`/`logout` fail with `not implemented` "
                   "when it is the credsStore. Skip `docker login` for ECR, name ECR hosts in credHelpers, or let "
                   "the helper ignore store requests (helper 0.9.0 or later).",
                   ("export AWS_ECR_IGNORE_CREDS_STORAGE=true",))
    if cid == "stale-cache":
        return Fix("When GetAuthorizationToken fails, the helper returns its cached token even if it has expired, and "
                   "docker then fails with `denied: Your authorization token has expired`. Fix the API error "
                   f"({CAUSES.get(cause.underlying or '', 'see the log')}); removing the cache makes the real error "
                   "visible.",
                   (f"rm {facts.cache_dir}/cache.json",))
    return Fix("Read the helper's log around the failure.", (f"tail -n 20 {facts.log_path}",))


def _creds_store_to_helpers(facts: FixFacts) -> str:
    host = facts.host if facts.host and _PROXY_HOST.match(facts.host) else "<account>.dkr.ecr.<region>.amazonaws.com"
    script = ('import json,sys; p,h=sys.argv[1],sys.argv[2]; c=json.load(open(p)); c.pop("credsStore",None); '
              'c.setdefault("credHelpers",{})[h]="ecr-login"; json.dump(c,open(p,"w"),indent=2)')
    return f"python3 -c {shlex.quote(script)} {shlex.quote(facts.config_path)} {shlex.quote(host)}"


_PROXY_HOST = re.compile(r"^\d{12}\.dkr[.-]ecr")


# -- the helper binary -------------------------------------------------------------------------------

# e_machine values (ELF gABI) for the architectures Python reports as platform.machine()
ELF_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "i386": 3, "i686": 3, "x86": 3,
                "armv7l": 40, "armv6l": 40, "arm": 40, "s390x": 22, "ppc64le": 21, "ppc64": 21, "riscv64": 243}
ELF_NAMES = {62: "x86_64", 183: "aarch64", 3: "i386", 40: "arm", 22: "s390x", 21: "ppc64", 243: "riscv64"}


@dataclass(frozen=True)
class BinaryKind:
    """What an executable's first bytes say it is."""

    format: str  # "elf" | "script" | "mach-o" | "pe" | "unknown"
    machine: Optional[int] = None  # ELF e_machine

    @property
    def machine_name(self) -> str:
        if self.machine is None:
            return self.format
        return ELF_NAMES.get(self.machine, f"ELF machine {self.machine}")


def binary_kind(header: bytes) -> BinaryKind:
    """Classify an executable by its header (at least 20 bytes for an ELF machine)."""
    if header.startswith(b"\x7fELF"):
        if len(header) < 20:
            return BinaryKind("elf")
        big = header[5] == 2  # EI_DATA: 1 little-endian, 2 big-endian
        return BinaryKind("elf", int.from_bytes(header[18:20], "big" if big else "little"))
    if header.startswith(b"#!"):
        return BinaryKind("script")
    if header[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xca\xfe\xba\xbe"):
        return BinaryKind("mach-o")
    if header.startswith(b"MZ"):
        return BinaryKind("pe")
    return BinaryKind("unknown")


def parse_helper_version(output: str) -> Optional[str]:
    """The helper's version from `-v` (`Version:    0.6.0`) or from `version` on >= 0.8
    (`docker-credential-ecr-login (github.com/awslabs/...) 0.12.0`); None for anything else."""
    m = re.search(r"^Version:\s+v?(\d+\.\d+\.\d+\S*)", output, re.M)
    if m:
        return m.group(1)
    m = re.search(r"ecr-login\)?\s+v?(\d+\.\d+\.\d+\S*)\s*$", output.strip())
    return m.group(1) if m else None


# -- cache.json --------------------------------------------------------------------------------------

class CacheError(ValueError):
    """cache.json is not what the helper writes; the message never contains a token."""


@dataclass(frozen=True)
class CacheEntry:
    """One cached token's metadata (the token itself is never kept)."""

    key: str
    service: str  # "ecr" | "ecr-public"
    registry_id: Optional[str]
    region: Optional[str]
    requested_at: Optional[datetime]
    expires_at: Optional[datetime]
    proxy_endpoint: str = ""
    key_owner: Optional[str] = None  # "access key …ABCD" / "account 123456789012", from a legacy MD5 key

    @property
    def refresh_at(self) -> Optional[datetime]:
        """When the helper stops trusting it: half-way to expiry (cache/credentials.go IsValid)."""
        if self.requested_at is None or self.expires_at is None:
            return None
        return self.expires_at - (self.expires_at - self.requested_at) / 2

    def state(self, now: datetime) -> str:
        """fresh (used as is), stale (refreshed on next use, still valid), expired, or unknown."""
        if self.expires_at is None:
            return "unknown"
        if now >= self.expires_at:
            return "expired"
        refresh = self.refresh_at
        return "fresh" if refresh is None or now < refresh else "stale"


@dataclass(frozen=True)
class HelperCache:
    version: str
    entries: Tuple[CacheEntry, ...]

    def for_registry(self, registry_id: Optional[str], region: Optional[str], public: bool = False) -> List[CacheEntry]:
        """Entries the helper could use for this registry (one per AWS identity that fetched one), newest first."""
        if public:
            found = [e for e in self.entries if e.service == "ecr-public"]
        else:
            found = [e for e in self.entries if e.service != "ecr-public" and e.registry_id == registry_id
                     and (e.region or "").lower() == (region or "").lower()]
        floor = datetime.min.replace(tzinfo=timezone.utc)
        return sorted(found, key=lambda e: e.requested_at or floor, reverse=True)


_PROXY_ENDPOINT = re.compile(r"^https://(\d{12})\.dkr[.-]ecr(?:-fips)?\.([a-z0-9-]+)\.")
_MD5_EMPTY = bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")


def _key_owner(b64: str) -> Optional[str]:
    """Legacy keys are base64(text + md5("")): the text is an access key id (or, lately, an account id)."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.endswith(_MD5_EMPTY):
        return None
    text = raw[: -len(_MD5_EMPTY)].decode("ascii", errors="replace")
    if re.fullmatch(r"\d{12}", text):
        return f"account {text}"
    return f"access key …{text[-4:]}" if len(text) >= 4 else None


def _entry(key: str, raw: Any) -> CacheEntry:
    if not isinstance(raw, dict):
        raise CacheError(f"cache entry '{key}' is not an object")
    service = str(raw.get("Service") or ("ecr-public" if key.startswith("ecr-public-") else "ecr"))
    endpoint = str(raw.get("ProxyEndpoint") or "")
    registry_id = region = None
    b64 = ""
    if key.startswith("ecr-public-"):
        b64 = key[len("ecr-public-"):]
    else:
        prefix, _, last = key.rpartition("-")
        if re.fullmatch(r"\d{12}", last):
            registry_id = last
            region, _, b64 = prefix.rpartition("-")
            region = region or None
    m = _PROXY_ENDPOINT.match(endpoint)
    if m and registry_id is None:
        registry_id, region = m.group(1), m.group(2)
    times = []
    for name in ("RequestedAt", "ExpiresAt"):
        value = raw.get(name)
        when = parse_time(value) if isinstance(value, str) else None
        if value is not None and when is None:
            raise CacheError(f"cache entry '{key}' has an unreadable {name}")
        times.append(when)
    return CacheEntry(key, service, registry_id, region, times[0], times[1], endpoint, _key_owner(b64))


def parse_cache(text: str) -> HelperCache:
    """cache.json as the helper writes it; raises CacheError for what the helper itself would discard."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise CacheError(f"not valid JSON{where}") from None
    if not isinstance(doc, dict):
        raise CacheError("the top level is not an object")
    registries = doc.get("Registries")
    registries = {} if registries is None else registries
    if not isinstance(registries, dict):
        raise CacheError("'Registries' is not an object")
    version = doc.get("Version")
    if not isinstance(version, str):
        raise CacheError("'Version' is missing")
    entries = tuple(_entry(str(k), v) for k, v in registries.items())
    return HelperCache(version, entries)
