"""podman / buildah / skopeo: containers-auth.json(5), where it is searched, and registries.conf."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ecrdoctor.ecrtoken import TokenError, decode_basic_auth
from ecrdoctor.nodeconfig import (
    NodeConfigError,
    StaticCredential,
    describe_credential,
    empty_mapping,
    go_field,
    strip_scheme,
)


@dataclass(frozen=True)
class AuthFileCandidate:
    path: str
    why: str
    legacy: bool = False  # ~/.dockercfg: the registries map without "auths"
    needs_dir: Optional[str] = None  # XDG_RUNTIME_DIR: skipped (with a warning) when the directory is missing


def containers_auth_files(env: Mapping[str, str], home: Optional[str], uid: int) -> Tuple[AuthFileCandidate, ...]:
    """The auth files containers/image searches, in order (pkg/docker/config getAuthFilePaths).

    REGISTRY_AUTH_FILE (podman's default for --authfile) replaces the whole list."""
    explicit = env.get("REGISTRY_AUTH_FILE")
    if explicit:
        return (AuthFileCandidate(explicit, "REGISTRY_AUTH_FILE"),)
    out: List[AuthFileCandidate] = []
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        out.append(AuthFileCandidate(posixpath.join(runtime, "containers/auth.json"), "$XDG_RUNTIME_DIR",
                                     needs_dir=runtime))
    else:
        out.append(AuthFileCandidate(f"/run/containers/{uid}/auth.json", f"the per-user default for uid {uid}"))
    base = home or ""
    xdg = env.get("XDG_CONFIG_HOME") or posixpath.join(base, ".config")
    out.append(AuthFileCandidate(posixpath.join(xdg, "containers/auth.json"),
                                 "$XDG_CONFIG_HOME" if env.get("XDG_CONFIG_HOME") else "~/.config"))
    docker_dir = env.get("DOCKER_CONFIG")
    out.append(AuthFileCandidate(posixpath.join(docker_dir, "config.json"), "$DOCKER_CONFIG") if docker_dir
               else AuthFileCandidate(posixpath.join(base, ".docker/config.json"), "docker's config"))
    out.append(AuthFileCandidate(posixpath.join(base, ".dockercfg"), "docker's legacy file", legacy=True))
    return tuple(out)


@dataclass(frozen=True)
class ContainersAuth:
    auths: Mapping[str, Tuple[str, str]] = field(default_factory=empty_mapping)  # key -> (auth, identitytoken), secret
    cred_helpers: Mapping[str, str] = field(default_factory=empty_mapping)


def parse_containers_auth(text: str, legacy: bool = False) -> ContainersAuth:
    """auth.json / config.json as containers/image decodes it (`auths`, `credHelpers`)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise NodeConfigError(f"not valid JSON ({exc.args[0].split(':')[0]})") from None
    if not isinstance(doc, dict):
        raise NodeConfigError("not a JSON object")
    raw_auths = doc if legacy else doc.get("auths")
    helpers = {} if legacy else doc.get("credHelpers")
    raw_auths = {} if raw_auths is None else raw_auths
    helpers = {} if helpers is None else helpers
    if not isinstance(raw_auths, dict) or not isinstance(helpers, dict):
        raise NodeConfigError("'auths' and 'credHelpers' must be objects")
    auths: Dict[str, Tuple[str, str]] = {}
    for key, entry in raw_auths.items():
        if not isinstance(entry, dict):
            raise NodeConfigError(f"the auths entry '{key}' is not an object")
        auth, token = go_field(entry, "auth"), go_field(entry, "identitytoken")
        if not isinstance(auth or "", str) or not isinstance(token or "", str):
            raise NodeConfigError(f"the auths entry '{key}' has a value that is not a string")
        auths[key] = (auth or "", token or "")
    for key, helper in helpers.items():
        if not isinstance(helper, str):
            raise NodeConfigError(f"credHelpers['{key}'] is not a string")
    return ContainersAuth(MappingProxyType(auths), MappingProxyType(dict(helpers)))


@dataclass(frozen=True)
class ContainersSource:
    """The answer containers/image finds for a registry in one auth file."""

    kind: str  # "cred-helper" | "auths"
    key: str
    helper: Optional[str] = None
    credential: Optional[StaticCredential] = None
    auth: str = field(default="", repr=False)


def _normalize_registry(key: str) -> str:
    host = strip_scheme(key).split("/", 1)[0]
    return "index.docker.io" if host in ("registry-1.docker.io", "docker.io") else host


def find_containers_auth(auth: ContainersAuth, host: str, repository: Optional[str] = None,
                         legacy: bool = False) -> Optional[ContainersSource]:
    """findAuthentication: credHelpers by exact host, then auths by repository namespace, then normalized keys.

    None means this file has nothing usable and the search goes on to the next file."""
    helper = auth.cred_helpers.get(host)
    if helper is not None:
        return ContainersSource("cred-helper", host, helper=helper)
    keys = [host]
    if repository and not legacy:
        parts = f"{host}/{repository}".split("/")
        keys = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    found = next((k for k in keys if k in auth.auths), None)
    if found is None:
        normalized = _normalize_registry(host)
        found = next((k for k in auth.auths if _normalize_registry(k) == normalized), None)
    if found is None:
        return None
    raw, token = auth.auths[found]
    try:
        user, password = decode_basic_auth(raw, strict=True) if raw else ("", "")
    except TokenError:
        user, password = "", ""
    if not ((user and password) or token):
        return None
    return ContainersSource("auths", found, credential=describe_credential(user, password), auth=raw)


def registries_conf_helpers(doc: Mapping[str, Any]) -> Tuple[str, ...]:
    """`credential-helpers` of registries.conf (default: the auth files only)."""
    helpers = doc.get("credential-helpers")
    if isinstance(helpers, list) and helpers:
        return tuple(h for h in helpers if isinstance(h, str))
    return ("containers-auth.json",)


def registries_conf_blocked(doc: Mapping[str, Any], host: str) -> Optional[str]:
    """The `[[registry]]` prefix that blocks pulls from a host, if any."""
    for reg in doc.get("registry", []) if isinstance(doc.get("registry"), list) else []:
        if not isinstance(reg, dict) or reg.get("blocked") is not True:
            continue
        prefix = reg.get("prefix") or reg.get("location")
        if isinstance(prefix, str) and (prefix == host or prefix.startswith(host + "/")
                                        or (prefix.startswith("*.") and host.endswith(prefix[1:]))):
            return prefix
    return None
