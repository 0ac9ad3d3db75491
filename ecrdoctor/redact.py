"""Redaction of every secret kind SPEC §7 names, applied to anything that leaves the process."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from typing import Any, Iterable, Optional

MASK = "[REDACTED]"

# Values found by shape, wherever they appear.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (RSA, EC, OPENSSH, encrypted, plain PKCS#8)
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
     "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----"),
    # Authorization headers: keep the scheme, drop the rest of the value (SigV4's Credential=, SignedHeaders=,
    # Signature= parts included), up to the end of the line or a closing quote
    (re.compile(r"(?i)((?:proxy-)?authorization\"?\s*[:=]\s*\"?(?:basic|bearer|aws4-hmac-sha256)?\s*)[^\r\n\"]+"),
     r"\1" + MASK),
    # JSON / docker config / credential helper secrets
    (re.compile(r"(?i)(\"(?:auth|password|secret|identitytoken|registrytoken|authorizationToken|"
                r"SecretAccessKey|SessionToken|Token|sessionToken)\"\s*:\s*\")(?!\x00)[^\"]*(\")"),
     r"\1" + MASK + r"\2"),
    # AWS env and ini assignments
    (re.compile(r"(?i)((?:aws_secret_access_key|aws_session_token|aws_security_token)\s*[=:]\s*)[^\s\"']+"),
     r"\1" + MASK),
    # query strings of pre-signed URLs (SigV4 and the ECR layer URLs)
    (re.compile(r"(?i)(https?://[^\s?\"']+)\?[^\s\"']*(?:X-Amz-Signature|X-Amz-Security-Token|"
                r"X-Amz-Credential|Signature=)[^\s\"']*"),
     r"\1?" + MASK),
    # the password of credentials in a URL (a proxy's http://user:password@host)
    # (without brackets, so the URL stays parseable: a replayed bundle reads it as the live run did)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@\"'\[\]]+:)[^@\s/\"']+@"), r"\1REDACTED@"),
    # An ECR token anywhere: base64("AWS:" + base64('{"payload":"...')) and the bare password
    (re.compile(r"QVdTOmV5[A-Za-z0-9+/=]{8,}"), MASK),
    (re.compile(r"eyJwYXlsb2FkIjo[gi][A-Za-z0-9+/=]{8,}"), MASK),
)


class Redactor:
    """Masks secrets by shape, and every literal secret value registered during the run."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._literals: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Remember a secret value seen at run time (token, key); its base64 forms are masked too."""
        if not secret or len(secret) < 6 or "REDACTED" in secret:  # (a replayed bundle's stand-in is no secret)
            return
        forms = {secret}
        raw = secret.encode()
        forms.add(base64.b64encode(raw).decode())
        forms.add(base64.b64encode(b"AWS:" + raw).decode().rstrip("="))
        with self._lock:
            self._literals.update(f for f in forms if len(f) >= 6)

    def text(self, value: str) -> str:
        if not value:
            return value
        value = self._without_literals(value, MASK)
        for pattern, repl in _PATTERNS:
            value = pattern.sub(repl, value)
        return value

    def _without_literals(self, value: str, mask: str) -> str:
        with self._lock:
            literals = sorted(self._literals, key=len, reverse=True)
        for lit in literals:
            if lit in value:
                value = value.replace(lit, mask)
        return value

    def bundle_text(self, value: str) -> str:
        """Redact text for a bundle so that replaying it decides as the live run did: an ECR token becomes a
        token of the same shape whose payload and data key are gone and whose expiry is kept; a docker `auth`
        value keeps its user name and loses its password. Everything else is masked as by `text`."""
        if not value:
            return value
        kept: list[str] = []

        def hold(text: str) -> str:
            kept.append(text)
            return f"\x00{len(kept) - 1}\x00"

        value = _ECR_AUTH.sub(lambda m: hold(_synthetic_auth(m.group(0))), value)
        value = _ECR_PASSWORD.sub(lambda m: hold(_synthetic_password(m.group(0))), value)
        value = _JSON_AUTH.sub(lambda m: m.group(1) + hold(_user_only(m.group(2))) + m.group(3), value)
        # a secret seen at run time becomes one word, so a check replaying it still sees one token (IMDS's)
        value = self.text(self._without_literals(value, "REDACTED"))
        return _HELD.sub(lambda m: kept[int(m.group(1))], value)

    def bundle_secret(self, secret: str) -> str:
        """A value stored under a secret's name: an ECR token keeps its shape and expiry, anything else goes."""
        for pattern, rewrite in ((_ECR_AUTH, _synthetic_auth), (_ECR_PASSWORD, _synthetic_password)):
            if pattern.fullmatch(secret):
                return rewrite(secret)
        return MASK

    def value(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj


_ECR_AUTH = re.compile(r"QVdTOmV5[A-Za-z0-9+/]{8,}={0,2}")
_ECR_PASSWORD = re.compile(r"eyJwYXlsb2FkIjo[gi][A-Za-z0-9+/]{8,}={0,2}")
_JSON_AUTH = re.compile(r"(?i)(\"auth\"\s*:\s*\")(?!\x00)([^\"]*)(\")")
_HELD = re.compile(r"\x00(\d+)\x00")
_KEPT_FIELDS = ("version", "type", "expiration")


def _b64(text: str) -> Optional[bytes]:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _synthetic_password(password: str) -> str:
    """An ECR password rebuilt with only what is not secret: version, type and expiration."""
    raw = _b64(password.rstrip("="))
    try:
        doc = json.loads(raw.decode()) if raw else None
    except (UnicodeDecodeError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        return MASK
    safe = {"payload": MASK, "datakey": MASK, **{k: doc[k] for k in _KEPT_FIELDS if k in doc}}
    return base64.b64encode(json.dumps(safe, separators=(",", ":")).encode()).decode()


def _synthetic_auth(auth: str) -> str:
    raw = _b64(auth.rstrip("="))
    if not raw or not raw.startswith(b"AWS:"):
        return MASK
    password = _synthetic_password(raw[4:].decode("ascii", errors="replace").strip("\x00"))
    return MASK if password == MASK else base64.b64encode(b"AWS:" + password.encode()).decode()


def _user_only(auth: str) -> str:
    """A docker `auth` value (base64 of user:password) with the password replaced; MASK when it is not one."""
    raw = _b64(auth.strip().rstrip("="))
    if not raw or b":" not in raw:
        return MASK
    user = raw.split(b":", 1)[0]
    if not user or any(c < 0x20 for c in user) or len(user) > 256:
        return MASK
    return base64.b64encode(user + b":" + MASK.encode()).decode()


def key_hint(access_key_id: str | None) -> str | None:
    """What identifies an access key without revealing it: its last four characters."""
    if not access_key_id:
        return None
    return "…" + access_key_id[-4:]
