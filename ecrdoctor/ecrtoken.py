"""ECR authorization tokens read offline: is a docker `auth` value an ECR token, and when does it expire?

A docker `auth` value is base64 of `user:password`. For ECR the user is `AWS` and the password is
itself base64 of a JSON document, `{"payload":...,"datakey":...,"version":"2","type":"DATA_KEY",
"expiration":<Unix seconds>}` (research aws-side.md A3: undocumented but consistently observed; tokens
from the old `aws ecr get-login` era have no `expiration`). Pure functions, no I/O; nothing secret is
kept: the result says only whether it is an ECR token and when it expires.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Tuple

# GetAuthorizationToken: "valid for 12 hours" (ECR API model; ECR user guide common-errors-docker.md).
TOKEN_LIFETIME = timedelta(hours=12)

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_MAX_EXPIRATION = 253402300799  # 9999-12-31T23:59:59Z, the last second datetime can hold


class TokenError(ValueError):
    """An `auth` value that is not base64 of `user:password`; the message never contains the value."""


@dataclass(frozen=True)
class EcrTokenInfo:
    """What an `auth` value reveals without revealing it."""

    is_ecr: bool  # user AWS and a password in the ECR token shape
    expires_at: Optional[datetime] = None  # UTC; None for an old token (no `expiration`) or a non-ECR value
    version: Optional[str] = None  # the token document's "version", e.g. "2"
    kind: Optional[str] = None  # the token document's "type", e.g. "DATA_KEY"

    @property
    def expiry_known(self) -> bool:
        return self.expires_at is not None


def _b64decode(text: str, what: str, strict: bool = False) -> bytes:
    """Standard or URL-safe base64, padding optional, CR/LF ignored (as docker's decodeAuth skips them).

    strict: the standard alphabet with its padding only, as Go's base64.StdEncoding (the ECS agent, containerd)."""
    compact = text.replace("\r", "").replace("\n", "").strip()
    if _B64.fullmatch(compact):
        alphabet = None
    elif _B64URL.fullmatch(compact) and not strict:
        alphabet = b"-_"
    else:
        raise TokenError(f"{what} is not base64")
    if strict and len(compact) % 4:
        raise TokenError(f"{what} is not base64 (missing padding)")
    body = compact.rstrip("=")
    if len(body) % 4 == 1:
        raise TokenError(f"{what} is not base64 (truncated)")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise TokenError(f"{what} is not base64") from None


def _split_auth(auth_b64: str, strict: bool = False) -> Tuple[bytes, bytes]:
    if not isinstance(auth_b64, str):
        raise TokenError("the auth value is not a string")
    decoded = _b64decode(auth_b64, "the auth value", strict)
    user, colon, password = decoded.partition(b":")
    if not colon:
        raise TokenError("the auth value does not decode to user:password")
    return user, password.strip(b"\x00")


def decode_basic_auth(auth_b64: str, strict: bool = False) -> Tuple[str, str]:
    """A docker `auth` value as (user, password); TokenError when it is not base64 of UTF-8 `user:password`."""
    user, password = _split_auth(auth_b64, strict)
    try:
        return user.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenError("the auth value is not UTF-8 text") from None


def _token_document(password: bytes) -> Optional[dict[str, Any]]:
    """The JSON document inside an ECR password, or None when the password is not in that shape."""
    try:
        raw = _b64decode(password.decode("ascii"), "the password")
        doc = json.loads(raw.decode("utf-8"))
    except (TokenError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(doc, dict) and "payload" in doc:
        return doc
    return None


def _expiration(value: Any) -> Optional[datetime]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TokenError("the token's expiration is not a number")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise TokenError("the token's expiration is not a number")
        value = int(value.strip())
    if not 0 < value <= _MAX_EXPIRATION:  # also NaN and infinity: outside datetime's range
        raise TokenError("the token's expiration is not a valid time")
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise TokenError("the token's expiration is not a valid time") from None


def decode_ecr_auth(auth_b64: str) -> EcrTokenInfo:
    """Read a docker `auth` value offline (base64 -> `AWS:<password>` -> base64 -> JSON -> expiration).

    Raises TokenError when the value is not base64 of `user:password`, or when an ECR-shaped token
    carries an expiration that is not a valid time. A well-formed value that is not an ECR token
    (another registry's login, a hand-made password) gives is_ecr=False rather than an error."""
    user, password = _split_auth(auth_b64)
    if user != b"AWS":
        return EcrTokenInfo(is_ecr=False)
    doc = _token_document(password)
    if doc is None:
        return EcrTokenInfo(is_ecr=False)
    version, kind = doc.get("version"), doc.get("type")
    return EcrTokenInfo(
        is_ecr=True,
        expires_at=_expiration(doc.get("expiration")),
        version=version if isinstance(version, str) else None,
        kind=kind if isinstance(kind, str) else None,
    )


def ecr_password_expiry(password: str) -> Optional[datetime]:
    """The expiry inside an ECR password (what follows `AWS:`); None when the token has no readable expiration.

    Raises TokenError when the password is not an ECR token at all (a plain password)."""
    doc = _token_document(password.strip().encode("utf-8"))
    if doc is None:
        raise TokenError("not an ECR token")
    try:
        return _expiration(doc.get("expiration"))
    except TokenError:
        return None


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def time_left(info: EcrTokenInfo, now: datetime) -> Optional[timedelta]:
    """How long the token stays valid after `now` (negative once expired); None when the expiry is unknown."""
    if info.expires_at is None:
        return None
    return info.expires_at - _utc(now)


def is_expired(info: EcrTokenInfo, now: datetime) -> Optional[bool]:
    """True once `now` has reached the expiry; None when the expiry is unknown (never guessed)."""
    left = time_left(info, now)
    return None if left is None else left <= timedelta(0)


def format_duration(delta: timedelta) -> str:
    """A duration as a person says it: `2 d 3 h`, `11 h 59 min`, `29 min`, `40 s` (sign ignored)."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def format_time(when: datetime) -> str:
    """A UTC time for a report line: `2026-01-31 14:05 UTC`."""
    return _utc(when).strftime("%Y-%m-%d %H:%M UTC")


def describe_expiry(info: EcrTokenInfo, now: datetime) -> str:
    """`expires 2026-01-31 14:05 UTC (in 11 h 59 min)`, `expired 2026-01-31 02:05 UTC (3 h ago)` or
    `expiry unknown (the token has no expiration field)`."""
    left = time_left(info, now)
    if left is None or info.expires_at is None:
        return "expiry unknown (the token has no expiration field)"
    if left <= timedelta(0):
        return f"expired {format_time(info.expires_at)} ({format_duration(left)} ago)"
    return f"expires {format_time(info.expires_at)} (in {format_duration(left)})"
