"""What a registry answers, read the way docker reads it: auth challenges, error bodies, manifests, S3 errors.

Pure functions over untrusted text (headers and bodies from the network); no I/O. The wording docker would
print is rebuilt from moby's distribution/errors.go (notFoundError) and errcode.Error ("<code>: <message>",
the code in lower case with '_' as ' '), so users recognise what their `docker pull` said."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Tuple

# ECR's challenge: Basic realm="https://<host>/",service="ecr.amazonaws.com" (aws-side.md A1)
ECR_SERVICE = "ecr.amazonaws.com"
EXPIRED_MESSAGE = "Your authorization token has expired. Reauthenticate and try again."
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME = re.compile(rf"\s*({_TOKEN})(?=\s|,|$)")
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|{_TOKEN})\s*")
_TOKEN68 = re.compile(r"\s*([A-Za-z0-9._~+/-]+=*)\s*(?=,|$)")
_MAX_TEXT = 300  # a message quoted from an answer is cut here


class ChallengeError(ValueError):
    """A WWW-Authenticate header that is not a list of challenges (RFC 7235)."""


class ManifestError(ValueError):
    """Manifest text that is not an image manifest or an index."""


@dataclass(frozen=True)
class Challenge:
    """One challenge of a WWW-Authenticate header: the scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    token68: Optional[str] = None

    @property
    def realm(self) -> Optional[str]:
        return self.params.get("realm")

    @property
    def service(self) -> Optional[str]:
        return self.params.get("service")

    @property
    def is_ecr(self) -> bool:
        """ECR's own challenge: Basic, service ecr.amazonaws.com."""
        return self.scheme == "basic" and self.service == ECR_SERVICE


def parse_challenges(header: str) -> Tuple[Challenge, ...]:
    """Every challenge in a WWW-Authenticate value (`Basic realm="x",service="y", Bearer realm="z"`).

    Raises ChallengeError for a value that is empty or does not follow RFC 7235's grammar."""
    text, pos, found = header, 0, []
    while pos < len(text):
        if text[pos] in " ,":
            pos += 1
            continue
        m = _SCHEME.match(text, pos)
        if not m:
            raise ChallengeError(f"no auth scheme at position {pos} of the WWW-Authenticate header")
        scheme, pos = m.group(1).lower(), m.end()
        params: dict[str, str] = {}
        token68: Optional[str] = None
        t = _TOKEN68.match(text, pos)
        if t and not _PARAM.match(text, pos):
            token68, pos = t.group(1), t.end()
        while pos < len(text):
            p = _PARAM.match(text, pos)
            if not p:
                break
            value = p.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params.setdefault(p.group(1).lower(), value)
            pos = p.end()
            if pos < len(text) and text[pos] == ",":
                pos += 1
                if not _PARAM.match(text, pos):  # the next item is another challenge
                    break
            elif pos < len(text):
                raise ChallengeError(f"unexpected text at position {pos} of the WWW-Authenticate header")
        found.append(Challenge(scheme, MappingProxyType(params), token68))
    if not found:
        raise ChallengeError("the WWW-Authenticate header is empty")
    return tuple(found)


@dataclass(frozen=True)
class RegistryError:
    """One error of a registry answer: the distribution-spec code (empty when the body had none) and message."""

    code: str
    message: str
    detail: Optional[str] = None

    @property
    def docker_text(self) -> str:
        """How docker prints it (errcode.Error): `denied: Your authorization token has expired. …`."""
        if not self.code:
            return self.message
        return f"{self.code.lower().replace('_', ' ')}: {self.message}"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def parse_error_body(body: str) -> Tuple[RegistryError, ...]:
    """The errors of a registry answer, in whichever shape it came.

    `{"errors":[{"code","message","detail"}]}` (distribution spec, ECR today); a bare JSON string (ECR before
    2017: `"Your Authorization Token has expired. Please run 'aws ecr get-login' to fetch a new one."`);
    plain text (ECR's `Not Authorized` on /v2/, a proxy's page): its first 300 characters. Empty: ()."""
    text = body.strip()
    if not text:
        return ()
    try:
        doc: Any = json.loads(text)
    except (ValueError, RecursionError):
        return (RegistryError("", _cut(re.sub(r"<[^>]*>", " ", text))),)
    if isinstance(doc, str):
        return (RegistryError("", _cut(doc)),)
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return (RegistryError("", _cut(text)),)
    out = []
    for e in errors:
        if not isinstance(e, dict):
            continue
        detail = e.get("detail")
        out.append(RegistryError(str(e.get("code") or "").upper(), _cut(str(e.get("message") or "")),
                                 None if detail is None else _cut(json.dumps(detail, sort_keys=True))))
    return tuple(out)


def _says_expired(errors: Tuple[RegistryError, ...]) -> bool:
    return any("expired" in e.message.lower() for e in errors)


def status_text(status: int) -> str:
    """`400 Bad Request`, as Go's http.StatusText completes a status."""
    reason = http.client.responses.get(status, "")
    return f"{status} {reason}".strip()


@dataclass(frozen=True)
class LoginVerdict:
    """What GET /v2/ with credentials says about them.

    kind: accepted (200); expired (ECR says so, or the token's own expiry passed and ECR refused it);
    other-region (400: ECR cannot use the token for this registry); rejected (401); denied (403);
    unexpected (anything else)."""

    kind: str
    status: int
    errors: Tuple[RegistryError, ...] = ()
    docker_says: str = ""  # the line docker would print, when known

    @property
    def first(self) -> Optional[RegistryError]:
        return self.errors[0] if self.errors else None


def classify_login(status: int, body: str, url: str, token_expired: Optional[bool] = None) -> LoginVerdict:
    """Classify the answer to an authenticated GET /v2/ (`url`); token_expired is what the token itself says.

    docker login prints `login attempt to <url> failed with status: <status>` for any non-200 (moby
    registry/auth.go loginV2; seen with dockerd 20.10 and CLIs 20.10 and 28.2 against distribution 2.8: `…
    failed with status: 401 Unauthorized`); a pull with an expired token prints `denied: Your authorization token has
    expired. Reauthenticate and try again.` (aws-side.md A5, B1 AUTH-TOKEN-EXPIRED)."""
    errors = parse_error_body(body)
    login = f"login attempt to {url} failed with status: {status_text(status)}"
    if status == 200:
        return LoginVerdict("accepted", status, errors)
    if status in (401, 403) and (_says_expired(errors) or token_expired):
        said = next((e for e in errors if "expired" in e.message.lower()), None)
        return LoginVerdict("expired", status, errors, said.docker_text if said else f"denied: {EXPIRED_MESSAGE}")
    if status == 400:
        return LoginVerdict("other-region", status, errors, login)
    if status == 401:
        return LoginVerdict("rejected", status, errors, login)
    if status == 403:
        return LoginVerdict("denied", status, errors, errors[0].docker_text if errors else login)
    return LoginVerdict("unexpected", status, errors, login)


@dataclass(frozen=True)
class ManifestVerdict:
    """What HEAD/GET of a manifest says: found, manifest-unknown, name-unknown, denied, expired,
    unauthorized or unexpected; docker_says is the line `docker pull` would end with."""

    kind: str
    status: int
    errors: Tuple[RegistryError, ...] = ()
    docker_says: str = ""
    digest: Optional[str] = None
    media_type: Optional[str] = None


def classify_manifest(status: int, headers: Mapping[str, str], body: str, name: str, reference: str,
                      url: str = "") -> ManifestVerdict:
    """Classify the answer for `<name>` (host/repository) at `reference` (`:tag` or `@digest`), asked at `url`.

    docker's words (moby distribution/errors.go, aws-side.md A5): `manifest for <name>:<tag> not found:
    manifest unknown: …`, `repository <name> not found: name unknown: …`, `pull access denied for <name>,
    repository does not exist or may require 'docker login': denied: …`. `headers` have lower-case names."""
    if status == 200:
        media = (headers.get("content-type") or "").split(";")[0].strip() or None
        return ManifestVerdict("found", status, digest=headers.get("docker-content-digest") or None,
                               media_type=media)
    errors = parse_error_body(body)
    codes = [e.code for e in errors]
    first = errors[0] if errors else None
    if status == 404 and "NAME_UNKNOWN" in codes:
        err = errors[codes.index("NAME_UNKNOWN")]
        return ManifestVerdict("name-unknown", status, errors, f"repository {name} not found: {err.docker_text}")
    if status == 404 and (not codes or "MANIFEST_UNKNOWN" in codes or codes == [""]):
        err = errors[codes.index("MANIFEST_UNKNOWN")] if "MANIFEST_UNKNOWN" in codes else \
            RegistryError("MANIFEST_UNKNOWN", "manifest unknown")
        return ManifestVerdict("manifest-unknown", status, errors,
                               f"manifest for {name}{reference} not found: {err.docker_text}")
    if status in (401, 403) and _says_expired(errors):
        err = next(e for e in errors if "expired" in e.message.lower())
        return ManifestVerdict("expired", status, errors, _pull_denied(name, err))
    if status in (401, 403) and first is not None and first.code == "DENIED":
        return ManifestVerdict("denied", status, errors, _pull_denied(name, first))
    if status == 403:  # no registry error code: containerd's wording (aws-side.md A5)
        return ManifestVerdict("denied", status, errors,
                               f"unexpected status from HEAD request to {url or name}: {status_text(status)}")
    if status == 401:
        return ManifestVerdict("unauthorized", status, errors,
                               first.docker_text if first else "unauthorized: authentication required")
    said = first.docker_text if first else status_text(status)
    return ManifestVerdict("unexpected", status, errors, said)


def _pull_denied(name: str, err: RegistryError) -> str:
    return f"pull access denied for {name}, repository does not exist or may require 'docker login': " \
           f"{err.docker_text}"


# -- manifests -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChildManifest:
    """One entry of an image index / manifest list."""

    digest: str
    os: str = ""
    architecture: str = ""
    variant: str = ""
    attestation: bool = False


@dataclass(frozen=True)
class ManifestBlobs:
    """The layer digests of an image manifest, or the child manifests of an index (one of the two is empty)."""

    layers: Tuple[str, ...] = ()
    children: Tuple[ChildManifest, ...] = ()


_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


def manifest_blobs(text: str) -> ManifestBlobs:
    """Layers of an OCI / Docker v2 manifest, or the children of an OCI index / Docker manifest list.

    Raises ManifestError for text that is neither (schema 1 manifests name `fsLayers` blobSum digests)."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise ManifestError("the manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise ManifestError("the manifest is not a JSON object")
    if isinstance(doc.get("manifests"), list):
        children = []
        for entry in doc["manifests"]:
            if not isinstance(entry, dict) or not _DIGEST.fullmatch(str(entry.get("digest", ""))):
                continue
            plat: dict[str, Any] = entry["platform"] if isinstance(entry.get("platform"), dict) else {}
            notes: dict[str, Any] = entry["annotations"] if isinstance(entry.get("annotations"), dict) else {}
            os_, arch = str(plat.get("os") or ""), str(plat.get("architecture") or "")
            attestation = "vnd.docker.reference.type" in notes or "unknown" in (os_, arch)
            children.append(ChildManifest(str(entry["digest"]), os_, arch, str(plat.get("variant") or ""),
                                          attestation))
        if not children:
            raise ManifestError("the index lists no manifests")
        return ManifestBlobs(children=tuple(children))
    entries = doc.get("layers") if isinstance(doc.get("layers"), list) else doc.get("fsLayers")
    if not isinstance(entries, list):
        raise ManifestError("the manifest has neither layers nor manifests")
    layers = []
    for entry in entries:
        digest = str(entry.get("digest") or entry.get("blobSum") or "") if isinstance(entry, dict) else ""
        if _DIGEST.fullmatch(digest) and digest not in layers:
            layers.append(digest)
    if not layers:
        raise ManifestError("the manifest lists no layers")
    return ManifestBlobs(layers=tuple(layers))


# -- S3 --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class S3Error:
    """An S3 error document (`<Error><Code>AccessDenied</Code><Message>…</Message></Error>`)."""

    code: str
    message: str

    @property
    def expired(self) -> bool:
        return "expired" in self.message.lower()


def parse_s3_error(body: str) -> Optional[S3Error]:
    """Code and Message of an S3 XML error body; None when the body is not one (a proxy's page, empty)."""
    code = re.search(r"<Code>\s*([^<]*?)\s*</Code>", body)
    if code is None:
        return None
    message = re.search(r"<Message>\s*([^<]*?)\s*</Message>", body)
    return S3Error(_cut(code.group(1)), _cut(message.group(1)) if message else "")
