"""Redaction of every secret kind SPEC §7 names, applied to anything that leaves the process."""

from __future__ import annotations

import base64
import re
import threading
from typing import Any, Iterable

MASK = "[REDACTED]"

# Values found by shape, wherever they appear.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (RSA, EC, OPENSSH, encrypted, plain PKCS#8)
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
     "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----"),
    # Authorization headers: keep the scheme, drop the credentials
    (re.compile(r"(?i)(authorization\s*[:=]\s*\"?(?:basic|bearer|aws4-hmac-sha256)?\s*)[^\s\",]+"),
     r"\1" + MASK),
    # JSON / docker config / credential helper secrets
    (re.compile(r"(?i)(\"(?:auth|password|secret|identitytoken|registrytoken|authorizationToken|"
                r"SecretAccessKey|SessionToken|Token|sessionToken)\"\s*:\s*\")[^\"]*(\")"),
     r"\1" + MASK + r"\2"),
    # AWS env and ini assignments
    (re.compile(r"(?i)((?:aws_secret_access_key|aws_session_token|aws_security_token)\s*[=:]\s*)[^\s\"']+"),
     r"\1" + MASK),
    # query strings of pre-signed URLs (SigV4 and the ECR layer URLs)
    (re.compile(r"(?i)(https?://[^\s?\"']+)\?[^\s\"']*(?:X-Amz-Signature|X-Amz-Security-Token|"
                r"X-Amz-Credential|Signature=)[^\s\"']*"),
     r"\1?" + MASK),
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
        if not secret or len(secret) < 6:
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
        with self._lock:
            literals = sorted(self._literals, key=len, reverse=True)
        for lit in literals:
            if lit in value:
                value = value.replace(lit, MASK)
        for pattern, repl in _PATTERNS:
            value = pattern.sub(repl, value)
        return value

    def value(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj


def key_hint(access_key_id: str | None) -> str | None:
    """What identifies an access key without revealing it: its last four characters."""
    if not access_key_id:
        return None
    return "…" + access_key_id[-4:]
