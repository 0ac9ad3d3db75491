"""Docker client config: where docker reads it, what it says, which credential source it picks for a host.

Pure functions mirroring docker/cli (config.go, configfile/file.go, credentials/file_store.go); no I/O."""

from __future__ import annotations

import base64
import json
import posixpath
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ecrdoctor.reference import RegistryHost, parse_registry_host

DOCKER_HUB_KEY = "https://index.docker.io/v1/"  # registry.IndexServer: Docker Hub's config key
_HUB_NAMES = ("docker.io", "index.docker.io")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#]*@)?(\[[^\]/?#]*\]|[^:/?#\[\]]*)(?::(\d*))?(?:[/?#]|$)")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

# Go type of each ConfigFile field docker decodes ("s" string, "[s]" string list, "{X}" map of X, or a
# struct name from _STRUCTS). A value of the wrong type makes json.Unmarshal fail for the whole file.
_STRUCTS = {
    "auth": ("username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken"),
    "proxy": ("httpProxy", "httpsProxy", "noProxy", "ftpProxy", "allProxy"),
    "envauth": ("auth",),
}
_CONFIG_FIELDS = {
    "auths": "{auth}", "HttpHeaders": "{s}", "credHelpers": "{s}", "proxies": "{proxy}", "plugins": "{{s}}",
    "aliases": "{s}", "features": "{s}", "pruneFilters": "[s]", "cliPluginsExtraDirs": "[s]",
    **{name: "s" for name in (
        "psFormat", "imagesFormat", "networksFormat", "pluginsFormat", "volumesFormat", "statsFormat",
        "detachKeys", "credsStore", "serviceInspectFormat", "servicesFormat", "tasksFormat", "secretFormat",
        "configFormat", "nodesFormat", "currentContext", "experimental")},
}


@dataclass(frozen=True)
class ConfigLocation:
    """The config.json docker will read, and the one-sentence reason."""
    path: str
    source: str  # "DOCKER_CONFIG" | "HOME"
    explanation: str


def locate_config(env: Mapping[str, str], home: Optional[str]) -> ConfigLocation:
    """Resolve config.json like docker's config.Dir(): a non-empty DOCKER_CONFIG, else $HOME/.docker.

    `home` is the passwd home, used (like homedir.Get) only when HOME is unset or empty. The
    `docker --config DIR` flag beats both but is not visible in the environment."""
    config_dir = env.get("DOCKER_CONFIG", "")
    if config_dir:
        path = _go_join(config_dir, "config.json")
        return ConfigLocation(path, "DOCKER_CONFIG", f"DOCKER_CONFIG={config_dir} is set, so docker reads "
                              f"{path}")
    why = ("DOCKER_CONFIG is set but empty, which docker treats as unset" if "DOCKER_CONFIG" in env
           else "DOCKER_CONFIG is not set")
    if env.get("HOME"):
        base, whose = env["HOME"], f"HOME={env['HOME']}"
    elif home:
        base, whose = home, f"HOME is unset or empty, leaving the passwd home {home}"
    else:
        return ConfigLocation(".docker/config.json", "HOME", f"{why} and neither HOME nor a passwd home is "
                              "known, so docker reads .docker/config.json relative to its working directory")
    path = _go_join(base, ".docker", "config.json")
    return ConfigLocation(path, "HOME", f"{why} and {whose}, so docker reads {path}")


def _go_join(*parts: str) -> str:
    return posixpath.normpath(posixpath.join(*parts))  # filepath.Join cleans its result


class ConfigError(ValueError):
    """Config text docker rejects as a whole; the message never contains a secret value.

    For config.json docker then carries on with an empty config (parse_config("")); a bad
    DOCKER_AUTH_CONFIG is ignored and docker falls back to the file's sources."""

    def __init__(self, message: str, line: Optional[int] = None, column: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class AuthEntry:
    """One `auths` entry; has_password means docker ends up with a non-empty password for it."""
    key: str
    username: Optional[str]
    has_auth: bool
    has_identity_token: bool
    has_password: bool
    secret_auth: str = field(default="", repr=False)  # raw base64 user:password; never print it

    def to_dict(self) -> Dict[str, Any]:
        """Everything except the secret, for reports."""
        return {"key": self.key, "username": self.username, "has_auth": self.has_auth,
                "has_identity_token": self.has_identity_token, "has_password": self.has_password}


def _empty_map() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class DockerConfig:
    """The parts of a docker client config that decide which credentials docker sends."""
    auths: Mapping[str, AuthEntry] = field(default_factory=_empty_map)
    cred_helpers: Mapping[str, str] = field(default_factory=_empty_map)
    creds_store: Optional[str] = None
    has_proxies: bool = False
    keys: Tuple[str, ...] = ()  # top-level keys as written


class _Obj:
    """A JSON object as its ordered (key, value) pairs: Go merges repeated map keys and folds case."""
    def __init__(self, pairs: List[Tuple[str, Any]]) -> None:
        self.pairs = pairs


def _reject_constant(name: str) -> Any:
    raise ConfigError(f"{name} is not valid JSON")


def _load_json(text: str, what: str) -> Any:
    if text.startswith("\ufeff"):
        raise ConfigError(f"{what} starts with a UTF-8 byte order mark, which docker's JSON parser "
                          "rejects", 1, 1)
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        return None  # io.EOF: docker treats empty input as an empty config
    decoder = json.JSONDecoder(object_pairs_hook=_Obj, parse_constant=_reject_constant)
    try:  # raw_decode: like json.Decoder.Decode, text after the first value is ignored
        return decoder.raw_decode(text, start)[0]
    except ConfigError:
        raise
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                          e.lineno, e.colno) from None
    except (ValueError, RecursionError):
        raise ConfigError(f"{what} is not valid JSON") from None


def _kind(value: Any) -> str:
    kinds = ((_Obj, "an object"), (list, "an array"), (bool, "a boolean"), (str, "a string"))
    return next((name for t, name in kinds if isinstance(value, t)), "a number")


def _field_name(key: str, names: Tuple[str, ...]) -> Optional[str]:
    """Go's encoding/json field match: exact name first, else case-insensitive."""
    if key in names:
        return key
    return next((n for n in names if n.casefold() == key.casefold()), None)


def _check(value: Any, spec: str, where: str) -> None:
    """Raise ConfigError where json.Unmarshal into docker's Go type would fail (null always decodes)."""
    if value is None:
        return
    if spec in _STRUCTS or spec.startswith("{"):
        if not isinstance(value, _Obj):
            raise ConfigError(f"{where} must be an object, not {_kind(value)}")
        for k, v in value.pairs:
            if spec.startswith("{"):
                _check(v, spec[1:-1], f"{where}['{k}']")
            elif _field_name(k, _STRUCTS[spec]):
                _check(v, "s", f"{where}.{k}")
    elif spec == "[s]":
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be an array of strings, not {_kind(value)}")
        for i, item in enumerate(value):
            _check(item, "s", f"{where}[{i}]")
    elif not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {_kind(value)}")


def _decode_fields(doc: Any, fields: Mapping[str, str], what: str) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
    """Decode a top-level object like Go: maps merge across repeated keys, null resets a map."""
    if doc is None:
        return {}, ()
    if not isinstance(doc, _Obj):
        raise ConfigError(f"{what} must be a JSON object, not {_kind(doc)}")
    out: Dict[str, Any] = {}
    for key, value in doc.pairs:
        name = _field_name(key, tuple(fields))
        if name is None:
            continue  # docker ignores unknown keys
        _check(value, fields[name], key)
        if fields[name].startswith("{"):
            out[name] = None if value is None else {**(out.get(name) or {}), **dict(value.pairs)}
        elif value is not None:
            out[name] = value
    return out, tuple(dict.fromkeys(k for k, _ in doc.pairs))


def _struct(raw: Any, names: Tuple[str, ...]) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for k, v in raw.pairs if isinstance(raw, _Obj) else []:
        name = _field_name(k, names)
        if name and isinstance(v, str):
            found[name] = v
    return found


def _decode_auth(auth: str, where: str) -> Tuple[str, str]:
    """docker's decodeAuth: base64 (Go skips CR/LF) of "user:password" with a non-empty user."""
    compact = auth.replace("\r", "").replace("\n", "")
    if not _BASE64.fullmatch(compact):
        raise ConfigError(f"invalid auth configuration file: {where} has an 'auth' value that is not valid "
                          "base64")
    user, colon, password = base64.b64decode(compact).partition(b":")
    if not colon or not user:
        problem = "without a ':'" if not colon else "with an empty user name"
        raise ConfigError(f"invalid auth configuration file: {where} has an 'auth' value that decodes to a "
                          f"value {problem} (expected base64 of user:password)")
    return user.decode("utf-8", "replace"), password.strip(b"\x00").decode("utf-8", "replace")


def parse_config(text: str) -> DockerConfig:
    """Parse config.json like docker's LoadFromReader; ConfigError means docker ignores the whole file."""
    fields, keys = _decode_fields(_load_json(text, "config.json"), _CONFIG_FIELDS, "config.json")
    auths: Dict[str, AuthEntry] = {}
    for key, raw in (fields.get("auths") or {}).items():
        f = _struct(raw, _STRUCTS["auth"])
        auth, username, password = f.get("auth", ""), f.get("username", ""), f.get("password", "")
        if auth:  # the decoded auth replaces any username/password fields
            username, password = _decode_auth(auth, f"auths entry '{key}'")
        auths[key] = AuthEntry(key, username or None, bool(auth), bool(f.get("identitytoken")),
                               bool(password), auth)
    helpers = {k: v or "" for k, v in (fields.get("credHelpers") or {}).items()}
    return DockerConfig(MappingProxyType(auths), MappingProxyType(helpers), fields.get("credsStore") or None,
                        bool(fields.get("proxies")), keys)


def parse_docker_auth_config(text: str) -> DockerConfig:
    """Parse DOCKER_AUTH_CONFIG like docker CLI >= 28.3; ConfigError means docker ignores the variable.

    Docker decodes only `auths.<key>.auth`; other keys are ignored; an entry without `auth` is an error."""
    fields, keys = _decode_fields(_load_json(text, "DOCKER_AUTH_CONFIG"), {"auths": "{envauth}"},
                                  "DOCKER_AUTH_CONFIG")
    auths: Dict[str, AuthEntry] = {}
    for key, raw in (fields.get("auths") or {}).items():
        auth = _struct(raw, ("auth",)).get("auth", "")
        if not auth:
            found = sorted({k for k, _ in raw.pairs} if isinstance(raw, _Obj) else set())
            ignored = f" (ignored keys: {', '.join(found)})" if found else ""
            raise ConfigError(f"DOCKER_AUTH_CONFIG entry '{key}' has no 'auth' value; docker reads only "
                              f"'auth' (base64 of user:password) there{ignored}")
        username, password = _decode_auth(auth, f"DOCKER_AUTH_CONFIG entry '{key}'")
        auths[key] = AuthEntry(key, username, True, False, bool(password), auth)
    return DockerConfig(auths=MappingProxyType(auths), keys=keys)


@dataclass(frozen=True)
class CredentialSource:
    """Where docker gets credentials for one host; `key` is the config key that matched, if any."""
    kind: str  # "docker-auth-config" | "cred-helper" | "creds-store" | "auths" | "none"
    helper: Optional[str] = None
    key: Optional[str] = None
    entry: Optional[AuthEntry] = None
    shadowed: Tuple[str, ...] = ()


def config_key(host: str) -> str:
    """The key docker looks up for a registry host: Docker Hub's URL, else the bare host[:port]."""
    return DOCKER_HUB_KEY if host in _HUB_NAMES else host


def convert_to_hostname(key: str) -> str:
    """docker's ConvertToHostname for legacy `auths` keys: drop scheme, user info and path, keep port."""
    m = _URL.match(key)
    if m and m.group(1) not in ("", "[]"):
        return m.group(1) + ":" + m.group(2) if m.group(2) else m.group(1).strip("[]")
    return key.split("/", 1)[0]


def _auths_matches(auths: Mapping[str, AuthEntry], key: str) -> List[str]:
    legacy = [k for k in auths if k != key and convert_to_hostname(k) == key]
    return ([key] if key in auths else []) + legacy


def resolve_credentials(config: DockerConfig, host: str,
                        auth_config: Optional[DockerConfig] = None) -> CredentialSource:
    """Apply docker's precedence: DOCKER_AUTH_CONFIG, exact credHelpers, credsStore, then auths.

    To model the auto-detected default store, pass dataclasses.replace(config, creds_store=candidate)."""
    key = config_key(host)
    env_entry = auth_config.auths.get(key) if auth_config else None
    helper, store = config.cred_helpers.get(key), config.creds_store
    matches = _auths_matches(config.auths, key)
    notes: List[str] = []
    if store and helper is not None:
        why = f"credHelpers selects {helper}" if helper else "credHelpers maps it to an empty helper name"
        notes.append(f"credsStore '{store}' is not used for this host because {why}")
    because = ""  # why every matching auths entry is ignored, if it is
    if helper:
        source, because = CredentialSource("cred-helper", helper, key), f"credHelpers selects {helper}"
    elif store and helper is None:
        source, because = CredentialSource("creds-store", store), f"credsStore selects {store}"
    elif matches:
        source = CredentialSource("auths", key=matches[0], entry=config.auths[matches[0]])
    else:
        source = CredentialSource("none")
    if env_entry is not None:
        because = "DOCKER_AUTH_CONFIG has an entry for this host"
        if source.helper:
            shadowed = f"credHelpers entry '{key}' ({helper})" if helper else f"credsStore '{store}'"
            notes.append(f"{shadowed} is ignored because {because}")
        source = CredentialSource("docker-auth-config", key=key, entry=env_entry)
    for k in matches[0 if because else 1:]:
        if because:
            notes.append(f"auths entry '{k}' is ignored because {because}")
        elif matches[0] == key:
            notes.append(f"auths entry '{k}' is ignored because auths has an exact entry '{key}'")
        else:  # file_store.go tries legacy keys in Go map order, which is random
            notes.append(f"auths entry '{k}' also matches this host; docker uses one of the matching legacy "
                         "keys in random (Go map) order")
    return CredentialSource(source.kind, source.helper, source.key, source.entry, tuple(notes))


def default_store_candidate(config: DockerConfig, which: Callable[[str], Optional[str]]) -> Optional[str]:
    """The credsStore docker auto-detects on Linux when the config has no credsStore, credHelpers or auths."""
    if config.creds_store or config.cred_helpers or config.auths:
        return None
    candidate = "pass" if which("pass") else "secretservice"  # no fallback to secretservice
    return candidate if which(f"docker-credential-{candidate}") else None


@dataclass(frozen=True)
class KeyNearMiss:
    """A config key probably meant for the image's host that docker's matching never selects."""
    section: str  # "credHelpers" | "auths" | "DOCKER_AUTH_CONFIG"
    key: str
    reason: str
    kind: str  # scheme, path, wildcard, case, whitespace, trailing-slash, other-region, other-account,
    #            fips-or-dualstack-variant


def _variant(r: RegistryHost) -> str:
    return " ".join(n for n, on in (("FIPS", r.fips), ("dual-stack", r.dualstack)) if on) or "standard"


def _ecr_miss(section: str, key: str, written: str, host: str) -> Optional[KeyNearMiss]:
    k, h = parse_registry_host(written), parse_registry_host(host)
    if k.kind != h.kind or k.kind == "other" or written.lower() == host.lower():
        return None
    label, tail = f"{section} key '{key}'", f"docker needs a key for '{host}'"
    if k.kind == "private" and k.account == h.account and k.region != h.region:
        return KeyNearMiss(section, key, f"{label} is the same account's registry in {k.region}, but the "
                           f"image is in {h.region}; {tail}", "other-region")
    if k.kind == "private" and k.account != h.account:
        if k.region != h.region:
            return None  # another account in another region: probably a different registry on purpose
        return KeyNearMiss(section, key, f"{label} is account {k.account}'s registry, but the image is in "
                           f"account {h.account}; {tail}", "other-account")
    if (k.fips, k.dualstack, k.dns_suffix) == (h.fips, h.dualstack, h.dns_suffix):
        return None  # same endpoint written differently (e.g. with a port): not a variant
    kv, hv = _variant(k), _variant(h)
    what = (f"the {kv} endpoint of the same registry, but the image uses the {hv} endpoint" if kv != hv
            else "a different endpoint of the same registry from the one the image uses")
    return KeyNearMiss(section, key, f"{label} names {what}; {tail}", "fips-or-dualstack-variant")


def _exact_miss(section: str, key: str, host: str) -> Optional[KeyNearMiss]:
    """Near miss for sections docker looks up by exact key (credHelpers, DOCKER_AUTH_CONFIG)."""
    squeezed = "".join(key.split())
    loose = convert_to_hostname(squeezed)
    tail = "looks up the bare host exactly, so it never matches"
    if loose.lower() == host.lower():
        bare = _SCHEME.sub("", squeezed).rstrip("/")
        defects = [(kind, text) for kind, text, hit in (
            ("whitespace", "contains whitespace", squeezed != key),
            ("scheme", "has a scheme", bool(_SCHEME.match(squeezed))),
            ("trailing-slash", "ends with '/'", squeezed.endswith("/") and "/" not in bare),
            ("path", "has a path", "/" in bare),
            ("case", "differs from the image host in letter case", loose != host),
        ) if hit]
        if defects:
            texts = " and ".join(text for _, text in defects)
            return KeyNearMiss(section, key, f"{section} key '{key}' {texts}; docker {tail}", defects[0][0])
    if "*" in key and re.fullmatch(re.escape(loose.lower()).replace(r"\*", "[^/]*"), host.lower()):
        return KeyNearMiss(section, key, f"{section} key '{key}' uses a wildcard; docker does not expand "
                           f"wildcards and {tail}", "wildcard")
    return _ecr_miss(section, key, loose.lower(), host)


def find_key_near_misses(config: DockerConfig, host: str,
                         auth_config: Optional[DockerConfig] = None) -> List[KeyNearMiss]:
    """Keys probably meant for `host` that docker never matches to it (K2), in precedence order.

    credHelpers and DOCKER_AUTH_CONFIG are looked up by exact key, so any difference is flagged;
    docker normalises auths keys, so only ECR region/account/endpoint mismatches are flagged there.
    Sections that already match the host, and Docker Hub hosts, yield nothing."""
    if config_key(host) != host:
        return []
    misses: List[Optional[KeyNearMiss]] = []
    if auth_config is not None and host not in auth_config.auths:
        misses += [_exact_miss("DOCKER_AUTH_CONFIG", k, host) for k in auth_config.auths]
    if host not in config.cred_helpers:
        misses += [_exact_miss("credHelpers", k, host) for k in config.cred_helpers]
    if not _auths_matches(config.auths, host):
        misses += [_ecr_miss("auths", k, convert_to_hostname(k), host) for k in config.auths]
    return [m for m in misses if m is not None]
