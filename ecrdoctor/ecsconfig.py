"""/etc/ecs/ecs.config as ecs-init and the ECS agent read it: variables, ECS_ENGINE_AUTH_DATA, NO_PROXY."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional, Tuple

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
class EnvLine:
    line: int
    key: str
    value: str


@dataclass(frozen=True)
class EcsConfig:
    """ecs.config as the agent receives it: the last assignment of a key wins, nothing is unquoted."""

    values: Mapping[str, str] = field(default_factory=empty_mapping)
    lines: Tuple[EnvLine, ...] = ()
    duplicates: Tuple[str, ...] = ()
    unseen: Tuple[EnvLine, ...] = ()  # lines whose key the agent never sees as an ECS_*/proxy variable

    def get(self, *names: str) -> Optional[str]:
        """First of the names that is set (for HTTP_PROXY / http_proxy pairs)."""
        return next((self.values[n] for n in names if n in self.values), None)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_ecs_config(text: str) -> EcsConfig:
    """ecs-init trims the file and each line, splits on the first '=', and keeps everything else verbatim.

    So there are no comments (a `#KEY=` line defines a key nobody reads), no `export`, and quotes stay part
    of the value; a key written with spaces around '=' keeps them and is never found."""
    values: Dict[str, str] = {}
    lines: List[EnvLine] = []
    seen: Dict[str, int] = {}
    dups: List[str] = []
    unseen: List[EnvLine] = []
    for number, raw in enumerate(text.strip().split("\n"), start=1):
        key, eq, value = raw.strip().partition("=")
        if not eq:
            continue
        entry = EnvLine(number, key, value)
        lines.append(entry)
        if key in seen and key not in dups:
            dups.append(key)
        seen[key] = number
        values[key] = value
        bare = key.strip()
        if bare.startswith("export "):
            bare = bare[len("export "):].strip()
        if key != bare and _ENV_NAME.fullmatch(bare):
            unseen.append(entry)
    return EcsConfig(MappingProxyType(values), tuple(lines), tuple(dups), tuple(unseen))


@dataclass(frozen=True)
class EngineAuthEntry:
    """One registry in ECS_ENGINE_AUTH_DATA (credentials described, never kept)."""

    key: str
    host: str
    credential: StaticCredential
    usable: bool  # the agent ends up with a username and password for it


@dataclass(frozen=True)
class EngineAuth:
    auth_type: str
    entries: Tuple[EngineAuthEntry, ...] = ()
    problems: Tuple[str, ...] = ()  # what the agent does wrong with it, in its own terms


_AUTHCONFIG_FIELDS = ("username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken")


def parse_engine_auth(auth_type: str, data: str) -> EngineAuth:
    """ECS_ENGINE_AUTH_TYPE/DATA as agent/dockerclient/dockerauth/dockerauth.go reads them.

    Raises NodeConfigError when the agent logs `Could not parse '<type>' type auth config` and drops it all."""
    if auth_type not in ("docker", "dockercfg"):
        why = ("ECS_ENGINE_AUTH_TYPE is not set, so the agent ignores ECS_ENGINE_AUTH_DATA" if not auth_type
               else f"ECS_ENGINE_AUTH_TYPE={auth_type} is not 'docker' or 'dockercfg': the agent logs "
                    f"`Unknown auth configuration: {auth_type}` and uses none of it")
        return EngineAuth(auth_type, (), (why,))
    what = f"ECS_ENGINE_AUTH_DATA is not valid for ECS_ENGINE_AUTH_TYPE={auth_type}"
    try:
        doc = json.loads(data)
    except ValueError as exc:
        hint = " (the value is quoted: ecs-init keeps quotes as part of the value)" \
            if data[:1] in ("'", '"') and data[-1:] == data[:1] else ""
        raise NodeConfigError(f"{what}: not JSON ({exc.args[0].split(':')[0]}){hint}") from None
    if not isinstance(doc, dict):
        raise NodeConfigError(f"{what}: it must be a JSON object keyed by registry")
    entries: List[EngineAuthEntry] = []
    problems: List[str] = []
    for key, value in doc.items():
        if value is None:
            continue
        if not isinstance(value, dict):
            raise NodeConfigError(f"{what}: the entry '{key}' is not an object")
        for name in _AUTHCONFIG_FIELDS:
            v = go_field(value, name)
            if v is not None and not isinstance(v, str):
                raise NodeConfigError(f"{what}: '{key}'.{name} is not a string")
        if key.lower() == "auths" and all(isinstance(v, dict) for v in value.values()) and value:
            problems.append(f"ECS_ENGINE_AUTH_DATA wraps its registries in an outer 'auths' object: the agent "
                            f"reads 'auths' as a registry name and ignores {', '.join(sorted(value))}")
            continue
        host = strip_scheme(key).split("/", 1)[0]
        auth = go_field(value, "auth") or ""
        user, password = go_field(value, "username") or "", go_field(value, "password") or ""
        if auth_type == "dockercfg":
            try:
                user, password = decode_basic_auth(auth, strict=True)
                usable = True
            except TokenError as exc:
                usable = False
                problems.append(f"the agent logs `Malformed auth data for registry {key}`: {exc}")
            cred = describe_credential(user, password) if usable else StaticCredential(False)
        else:
            usable = bool(user and password) or bool(go_field(value, "identitytoken"))
            if not usable and auth:
                problems.append(f"'{key}' has only 'auth', the dockercfg format; ECS_ENGINE_AUTH_TYPE=docker "
                                "expects 'username' and 'password'")
            cred = describe_credential(user, password, auth or None)
        entries.append(EngineAuthEntry(key, host, cred, usable))
    return EngineAuth(auth_type, tuple(entries), tuple(problems))


def no_proxy_covers(no_proxy: str, host: str) -> bool:
    """Whether the ECS agent (a Go program) bypasses its proxy for a host or IP; the rules live in proxyenv."""
    from ecrdoctor.proxyenv import go_no_proxy_entry

    return go_no_proxy_entry(no_proxy, host, 80) is not None
