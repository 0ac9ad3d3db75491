"""Node-side runtime configs that decide ECR pulls: what their readers share.

The readers (ecsconfig, kubeletconfig, containerdconfig, containersauth, over yamlsubset and
tomlsubset) are pure: each function takes text (or a few already-read values) and returns a value or
raises NodeConfigError. Credentials found in them are described here (an ECR token or not, and its
expiry, read by ecrdoctor.ecrtoken), never kept.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ecrdoctor import ecrtoken
from ecrdoctor.ecrtoken import TokenError, decode_basic_auth, ecr_password_expiry


class NodeConfigError(ValueError):
    """Text that cannot be read; `unsupported` means valid syntax ecrdoctor does not read. Never holds a secret."""

    def __init__(self, message: str, line: Optional[int] = None, unsupported: bool = False) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line
        self.unsupported = unsupported


def empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


def strip_scheme(key: str) -> str:
    """A registry key without http:// or https://, as docker and Go clients match them."""
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            return key[len(scheme):]
    return key


def go_field(obj: Mapping[str, Any], name: str) -> Any:
    """encoding/json field lookup: exact name, else case-insensitive."""
    if name in obj:
        return obj[name]
    return next((v for k, v in obj.items() if k.lower() == name), None)


@dataclass(frozen=True)
class StaticCredential:
    """What is known about a stored credential without revealing it."""

    is_ecr_token: bool
    expires_at: Optional[datetime.datetime] = None
    username: Optional[str] = None

    def expired(self, now: datetime.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def describe_credential(username: Optional[str] = None, password: Optional[str] = None,
                        auth: Optional[str] = None) -> StaticCredential:
    """Classify a username/password or `auth` pair: an ECR token (with its expiry) or something else."""
    if auth:
        try:
            username, password = decode_basic_auth(auth, strict=True)
        except TokenError:
            return StaticCredential(False)
    if not password:
        return StaticCredential(False, username=username or None)
    try:
        return StaticCredential(True, ecr_password_expiry(password), username or None)
    except TokenError:
        return StaticCredential(False, username=username or None)


def describe_expiry(expires_at: Optional[datetime.datetime], now: datetime.datetime) -> str:
    """An ECR token's expiry in the words the docker checks use (ecrtoken.describe_expiry)."""
    return ecrtoken.describe_expiry(ecrtoken.EcrTokenInfo(is_ecr=True, expires_at=expires_at), now)
