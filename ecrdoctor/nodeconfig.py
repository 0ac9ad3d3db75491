"""Node-side runtime configs that decide ECR pulls: ecs.config, kubelet's credential provider, containerd, podman.

Pure parsing, no I/O: each function takes text (or a few already-read values) and returns a value or raises
NodeConfigError. Runtime dependencies stay boto3/docker/typer/rich only, so this module carries two small
readers of its own:

* a strict YAML *subset* reader (block mappings, block sequences, sequences of mappings, one-line flow
  sequences, plain/single/double-quoted scalars, comments, one document). JSON is read as JSON. Anything
  outside the subset (anchors, tags, block scalars, multi-line flow) raises NodeConfigError with
  `unsupported=True`, which means "ecrdoctor cannot tell", never "the file is wrong".
* a TOML reader for what containerd's config.toml, hosts.toml and registries.conf use (tables, arrays of
  tables, dotted and quoted keys, strings of all four kinds, integers, floats, booleans, arrays, inline
  tables). Dates are outside it (`unsupported=True`). Python 3.11's tomllib is not used so that 3.9
  behaves the same; the tests compare both readers on the same documents.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ecrdoctor.ecrtoken import TokenError, decode_basic_auth, ecr_password_expiry


class NodeConfigError(ValueError):
    """Text that cannot be read; `unsupported` means valid syntax ecrdoctor does not read. Never holds a secret."""

    def __init__(self, message: str, line: Optional[int] = None, unsupported: bool = False) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line
        self.unsupported = unsupported


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


# ======================================================================================================
# Stored credentials: ECR token or not, and its expiry (read by ecrdoctor.ecrtoken, research A3)
# ======================================================================================================

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


# ======================================================================================================
# /etc/ecs/ecs.config, read as ecs-init reads it (ecs-init/docker/docker.go getEnvVars)
# ======================================================================================================

@dataclass(frozen=True)
class EnvLine:
    line: int
    key: str
    value: str


@dataclass(frozen=True)
class EcsConfig:
    """ecs.config as the agent receives it: the last assignment of a key wins, nothing is unquoted."""

    values: Mapping[str, str] = field(default_factory=_empty)
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


def _strip_schema(key: str) -> str:
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            return key[len(scheme):]
    return key


def _go_field(obj: Mapping[str, Any], name: str) -> Any:
    """encoding/json field lookup: exact name, else case-insensitive."""
    if name in obj:
        return obj[name]
    return next((v for k, v in obj.items() if k.lower() == name), None)


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
            v = _go_field(value, name)
            if v is not None and not isinstance(v, str):
                raise NodeConfigError(f"{what}: '{key}'.{name} is not a string")
        if key.lower() == "auths" and all(isinstance(v, dict) for v in value.values()) and value:
            problems.append(f"ECS_ENGINE_AUTH_DATA wraps its registries in an outer 'auths' object: the agent "
                            f"reads 'auths' as a registry name and ignores {', '.join(sorted(value))}")
            continue
        host = _strip_schema(key).split("/", 1)[0]
        auth = _go_field(value, "auth") or ""
        user, password = _go_field(value, "username") or "", _go_field(value, "password") or ""
        if auth_type == "dockercfg":
            try:
                user, password = decode_basic_auth(auth, strict=True)
                usable = True
            except TokenError as exc:
                usable = False
                problems.append(f"the agent logs `Malformed auth data for registry {key}`: {exc}")
            cred = describe_credential(user, password) if usable else StaticCredential(False)
        else:
            usable = bool(user and password) or bool(_go_field(value, "identitytoken"))
            if not usable and auth:
                problems.append(f"'{key}' has only 'auth', the dockercfg format; ECS_ENGINE_AUTH_TYPE=docker "
                                "expects 'username' and 'password'")
            cred = describe_credential(user, password, auth or None)
        entries.append(EngineAuthEntry(key, host, cred, usable))
    return EngineAuth(auth_type, tuple(entries), tuple(problems))


def no_proxy_covers(no_proxy: str, host: str) -> bool:
    """Whether a NO_PROXY list exempts a host or IP the way Go's httpproxy does (exact, CIDR, suffix, '*')."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            network = None
        if network is not None:
            try:
                if ipaddress.ip_address(host) in network:
                    return True
            except ValueError:
                pass
            continue
        name = entry.split(":", 1)[0] if entry.count(":") == 1 else entry
        if host == name or (name.startswith(".") and host.endswith(name)) or host.endswith("." + name):
            return True
    return False


# ======================================================================================================
# A strict YAML subset (see the module docstring), for kubelet's CredentialProviderConfig
# ======================================================================================================

@dataclass
class _Line:
    number: int
    indent: int
    text: str


_YAML_BOOL = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}
_YAML_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o[0-7_]+")
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


def _strip_comment(text: str, number: int) -> str:
    """Drop a `#` comment that is at the start or preceded by whitespace, outside quotes."""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                if quote == "'" and text[i + 1:i + 2] == "'":
                    i += 2
                    continue
                quote = ""
        elif ch in "\"'" and (i == 0 or text[i - 1] in " \t[,:{-"):
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
        i += 1
    if quote:
        raise NodeConfigError("a quoted string does not end on its line (multi-line strings are not read)",
                              number, unsupported=True)
    return text.rstrip()


def _yaml_lines(text: str) -> List[_Line]:
    out: List[_Line] = []
    started = False
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.lstrip(" ")
        if body.startswith("\t") and body.strip():
            raise NodeConfigError("a tab is used for indentation; YAML allows only spaces", number)
        content = _strip_comment(body, number)
        if not content:
            continue
        if content.startswith("%"):
            raise NodeConfigError("YAML directives are not read", number, unsupported=True)
        if content in ("---", "...") or content.startswith("--- "):
            if content == "---" and not started and not out:
                started = True
                continue
            if content == "...":
                break
            raise NodeConfigError("more than one YAML document in the file", number, unsupported=True)
        out.append(_Line(number, len(raw) - len(body), content))
    return out


def _yaml_scalar(text: str, number: int) -> Any:
    """A one-line scalar, resolved to the JSON type sigs.k8s.io/yaml (YAML 1.1 rules) gives it."""
    s = text.strip()
    if not s:
        return None
    if s[0] == '"':
        end = _quoted_end(s, 0, number)
        if s[end + 1:].strip():
            raise NodeConfigError(f"text after a quoted string: {s[end + 1:].strip()!r}", number)
        try:
            return json.loads(s[:end + 1])
        except ValueError:
            raise NodeConfigError("an escape sequence in a double-quoted string is not read", number,
                                  unsupported=True) from None
    if s[0] == "'":
        end = _quoted_end(s, 0, number)
        if s[end + 1:].strip():
            raise NodeConfigError(f"text after a quoted string: {s[end + 1:].strip()!r}", number)
        return s[1:end].replace("''", "'")
    if s[0] == "*":
        raise NodeConfigError(f"{s!r} is read as a YAML alias (a value starting with '*' must be quoted, "
                              f"e.g. \"{s}\"), and no such anchor exists", number)
    if s[0] == "&":
        raise NodeConfigError("YAML anchors are not read", number, unsupported=True)
    if s[0] == "!":
        raise NodeConfigError("YAML tags are not read", number, unsupported=True)
    if s[0] in "|>":
        raise NodeConfigError("YAML block scalars (| and >) are not read", number, unsupported=True)
    if s[0] == "[":
        return _yaml_flow_sequence(s, number)
    if s[0] == "{":
        if s.replace(" ", "") == "{}":
            return {}
        raise NodeConfigError("YAML flow mappings ({...}) are not read", number, unsupported=True)
    if s[0] in "@`":
        raise NodeConfigError(f"a plain value cannot start with {s[0]!r}", number)
    if ": " in s or s.endswith(":"):
        raise NodeConfigError("mapping values are not allowed here (quote the value if ':' is part of it)", number)
    low = s.lower()
    if low in ("null", "~"):
        return None
    if low in _YAML_BOOL and s in (low, low.capitalize(), low.upper()):
        return _YAML_BOOL[low]
    if _YAML_INT.fullmatch(s):
        return int(s.replace("_", ""), 0)
    if _YAML_FLOAT.fullmatch(s) and any(c.isdigit() for c in s):
        return float(s.replace("_", ""))
    if low in (".inf", "+.inf", "-.inf", ".nan"):
        return float(low.replace(".", ""))
    return s


def _quoted_end(s: str, start: int, number: int) -> int:
    quote, i = s[start], start + 1
    while i < len(s):
        if s[i] == "\\" and quote == '"':
            i += 2
            continue
        if s[i] == quote:
            if quote == "'" and s[i + 1:i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    raise NodeConfigError("a quoted string does not end on its line", number, unsupported=True)


def _yaml_flow_sequence(s: str, number: int) -> List[Any]:
    if not s.endswith("]"):
        raise NodeConfigError("a flow sequence ([...]) that spans lines is not read", number, unsupported=True)
    inner, items, i, start = s[1:-1], [], 0, 0
    while i < len(inner):
        ch = inner[i]
        if ch in "\"'":
            i = _quoted_end(inner, i, number)
        elif ch in "[{":
            raise NodeConfigError("nested flow collections are not read", number, unsupported=True)
        elif ch == ",":
            items.append(inner[start:i])
            start = i + 1
        i += 1
    items.append(inner[start:])
    if items and not items[-1].strip():
        items.pop()  # a trailing comma
    return [_yaml_scalar(item, number) for item in items]


def _split_key(text: str, number: int) -> Optional[Tuple[str, str]]:
    """`key: value` → (key, value); None when the line is not a mapping entry."""
    if text[0] in "\"'":
        end = _quoted_end(text, 0, number)
        rest = text[end + 1:]
        if rest.startswith(":") and (len(rest) == 1 or rest[1] == " "):
            return str(_yaml_scalar(text[:end + 1], number)), rest[1:].strip()
        return None
    if text[0] == "?" and text[1:2] in ("", " "):
        raise NodeConfigError("complex mapping keys (?) are not read", number, unsupported=True)
    if text == "-" or text.startswith("- ") or text[0] in "[{*&!|>%@`,]}#":
        return None
    m = re.search(r":(?: |$)", text)
    if m is None or not text[:m.start()].strip():
        return None
    return text[:m.start()].rstrip(), text[m.end():].strip()


def _continuation(line: _Line) -> None:
    """A more-indented line after a value: a syntax error when it holds a mapping, else a folded plain value."""
    if _split_key(line.text, line.number) is not None:
        raise NodeConfigError("mapping values are not allowed here (check the indentation above this line)",
                              line.number)
    raise NodeConfigError("a value that continues on the next line is not read", line.number, unsupported=True)


class _YamlReader:
    def __init__(self, lines: List[_Line]) -> None:
        self.lines = lines
        self.pos = 0

    def block(self, indent: int) -> Any:
        line = self.lines[self.pos]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(line.indent)
        if _split_key(line.text, line.number) is not None:
            return self.mapping(line.indent)
        self.pos += 1
        if self.pos < len(self.lines) and self.lines[self.pos].indent > line.indent:
            _continuation(self.lines[self.pos])
        return _yaml_scalar(line.text, line.number)

    def value_after(self, rest: str, indent: int, number: int, in_mapping: bool) -> Any:
        if rest:
            value = _yaml_scalar(rest, number)
            if self.pos < len(self.lines) and self.lines[self.pos].indent > indent:
                _continuation(self.lines[self.pos])
            return value
        if self.pos >= len(self.lines):
            return None
        nxt = self.lines[self.pos]
        if nxt.indent > indent:
            return self.block(nxt.indent)
        if in_mapping and nxt.indent == indent and (nxt.text == "-" or nxt.text.startswith("- ")):
            return self.sequence(indent)  # a sequence may sit at its key's own indentation
        return None

    def mapping(self, indent: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent < indent:
                break
            if line.indent > indent:
                raise NodeConfigError("unexpected indentation", line.number)
            split = _split_key(line.text, line.number)
            if split is None:
                if line.text == "-" or line.text.startswith("- "):
                    break
                raise NodeConfigError(f"expected 'key: value', found {line.text!r}", line.number)
            key, rest = split
            if key in out:
                raise NodeConfigError(f"the key '{key}' appears twice", line.number)
            self.pos += 1
            out[key] = self.value_after(rest, indent, line.number, True)
        return out

    def sequence(self, indent: int) -> List[Any]:
        out: List[Any] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent < indent or not (line.text == "-" or line.text.startswith("- ")):
                if line.indent > indent:
                    raise NodeConfigError("unexpected indentation", line.number)
                break
            if line.indent > indent:
                raise NodeConfigError("unexpected indentation", line.number)
            rest = line.text[1:].lstrip(" ")
            if not rest:
                self.pos += 1
                out.append(self.value_after("", indent, line.number, False))
                continue
            # `- key: value` opens a mapping whose keys sit at the column after "- "
            column = line.indent + len(line.text) - len(rest)
            self.lines[self.pos] = _Line(line.number, column, rest)
            if rest == "-" or rest.startswith("- ") or _split_key(rest, line.number) is not None:
                out.append(self.block(column))
            else:
                self.pos += 1
                out.append(self.value_after(rest, column, line.number, False))
        return out


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise NodeConfigError(f"the key '{k}' appears twice")
        out[k] = v
    return out


def parse_yaml_or_json(text: str) -> Any:
    """A document as kubelet's decoder reads it: JSON when it starts with '{' or '[', else the YAML subset."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped, object_pairs_hook=_no_duplicates)
        except NodeConfigError:
            raise
        except ValueError as exc:
            raise NodeConfigError(f"not valid JSON: {exc}") from None
    lines = _yaml_lines(text)
    if not lines:
        return None
    reader = _YamlReader(lines)
    value = reader.block(lines[0].indent)
    if reader.pos < len(lines):
        line = lines[reader.pos]
        raise NodeConfigError(f"unexpected {line.text!r} (check the indentation)", line.number)
    return value


# ======================================================================================================
# kubelet CredentialProviderConfig (k8s pkg/credentialprovider/plugin/config.go)
# ======================================================================================================

CONFIG_GROUP = "kubelet.config.k8s.io"
PROVIDER_GROUP = "credentialprovider.kubelet.k8s.io"
# version -> the first kubelet minor that accepts it (kubelet-credential-provider docs: alpha 1.20, beta 1.24,
# stable 1.26)
API_VERSIONS = {"v1alpha1": "1.20", "v1beta1": "1.24", "v1": "1.26"}
ECR_PROVIDER_NAME = "ecr-credential-provider"
# The EKS AMI's matchImages (research aws-side A2, amazon-eks-ami image-credential-provider template)
EKS_MATCH_IMAGES = (
    "*.dkr.ecr.*.amazonaws.com", "*.dkr-ecr.*.on.aws", "*.dkr.ecr.*.amazonaws.com.cn",
    "*.dkr-ecr.*.on.amazonwebservices.com.cn", "*.dkr.ecr-fips.*.amazonaws.com", "*.dkr-ecr-fips.*.on.aws",
    "*.dkr.ecr.*.c2s.ic.gov", "*.dkr.ecr.*.sc2s.sgov.gov", "*.dkr.ecr.*.cloud.adc-e.uk",
    "*.dkr.ecr.*.csp.hci.ic.gov", "*.dkr.ecr.*.amazonaws.eu", "public.ecr.aws",
)
_CONFIG_FIELDS = ("apiVersion", "kind", "providers")
_PROVIDER_FIELDS = ("name", "matchImages", "defaultCacheDuration", "apiVersion", "args", "env", "tokenAttributes")


@dataclass(frozen=True)
class CredentialProvider:
    name: str
    match_images: Tuple[str, ...]
    default_cache_duration: Optional[str]
    api_version: Optional[str]


@dataclass(frozen=True)
class CredentialProviderConfig:
    """The parsed file, and every reason kubelet would refuse it (it then does not start)."""

    api_version: Optional[str]
    kind: Optional[str]
    providers: Tuple[CredentialProvider, ...]
    problems: Tuple[str, ...] = ()

    @property
    def config_version(self) -> Optional[str]:
        group, _, version = (self.api_version or "").partition("/")
        return version if group == CONFIG_GROUP and version in API_VERSIONS else None


_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds ("12h", "1h30m", "0"); raises NodeConfigError."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    body = s.lstrip("+-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    if not body:
        raise NodeConfigError(f"invalid duration {text!r}")
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m or m.group(1) in ("", "."):
            raise NodeConfigError(f"invalid duration {text!r} (use Go durations such as 12h or 30m)")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def _api_version_problem(value: Any, group: str, where: str) -> Optional[str]:
    if not value:
        return f"{where} apiVersion is missing"
    if not isinstance(value, str):
        return f"{where} apiVersion must be a string"
    g, _, v = value.partition("/")
    if g == group and v in API_VERSIONS:
        return None
    hint = ""
    if group == CONFIG_GROUP and g == PROVIDER_GROUP:
        hint = " (that is a provider's apiVersion, not the file's)"
    elif group == PROVIDER_GROUP and g == CONFIG_GROUP:
        hint = " (that is the file's apiVersion, not a provider's)"
    valid = ", ".join(f"{group}/{x}" for x in API_VERSIONS)
    return f"{where} apiVersion '{value}' is not supported{hint}; kubelet accepts {valid}"


def parse_credential_provider_config(text: str) -> CredentialProviderConfig:
    """Read a CredentialProviderConfig and validate it as kubelet does (strict: unknown fields are errors)."""
    doc = parse_yaml_or_json(text)
    if not isinstance(doc, dict):
        raise NodeConfigError("the file is not a mapping (expected apiVersion, kind, providers)")
    problems: List[str] = []
    for key in doc:
        if key not in _CONFIG_FIELDS:
            problems.append(f"unknown field '{key}' (kubelet decodes this file strictly)")
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if kind != "CredentialProviderConfig":
        problems.append(f"kind is {kind!r}, not 'CredentialProviderConfig'" if kind else "kind is missing")
    problem = _api_version_problem(api, CONFIG_GROUP, "the file's")
    if problem:
        problems.append(problem)
    raw_providers = doc.get("providers")
    if raw_providers is not None and not isinstance(raw_providers, list):
        problems.append("providers must be a list")
        raw_providers = []
    providers: List[CredentialProvider] = []
    names: List[str] = []
    for i, raw in enumerate(raw_providers or []):
        where = f"providers[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} is not a mapping")
            continue
        for key in raw:
            if key not in _PROVIDER_FIELDS:
                problems.append(f"{where}: unknown field '{key}' (kubelet decodes this file strictly)")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: name is required")
            name = ""
        elif "/" in name or " " in name or name in (".", ".."):
            problems.append(f"{where}: name '{name}' cannot contain '/' or spaces or be '.' or '..'")
        elif name in names:
            problems.append(f"{where}: the provider name '{name}' is used twice")
        names.append(name)
        where = f"provider '{name}'" if name else where
        problem = _api_version_problem(raw.get("apiVersion"), PROVIDER_GROUP, f"{where}:")
        if problem:
            problems.append(problem)
        images = raw.get("matchImages")
        if not isinstance(images, list) or not images or not all(isinstance(m, str) for m in images):
            problems.append(f"{where}: matchImages must be a non-empty list of strings")
            images = [m for m in images if isinstance(m, str)] if isinstance(images, list) else []
        for m in images:
            if not m or " " in m or "%" in m and not re.search(r"%[0-9a-fA-F]{2}", m):
                problems.append(f"{where}: match image {m!r} is invalid")
        duration = raw.get("defaultCacheDuration")
        if duration is None:
            problems.append(f"{where}: defaultCacheDuration is required")
        elif not isinstance(duration, str):
            problems.append(f"{where}: defaultCacheDuration must be a quoted duration string such as \"12h\", "
                            f"not {json.dumps(duration)}")
        else:
            try:
                if parse_go_duration(duration) < 0:
                    problems.append(f"{where}: defaultCacheDuration must be greater than or equal to 0")
            except NodeConfigError as exc:
                problems.append(f"{where}: defaultCacheDuration: {exc.message}")
        providers.append(CredentialProvider(name, tuple(images), duration if isinstance(duration, str) else None,
                                            raw.get("apiVersion") if isinstance(raw.get("apiVersion"), str) else None))
    if not providers and not any("providers" in p for p in problems):
        problems.append("providers is empty: at least one provider is required")
    return CredentialProviderConfig(api if isinstance(api, str) else None, kind if isinstance(kind, str) else None,
                                    tuple(providers), tuple(problems))


def _go_glob_label(pattern: str, label: str) -> bool:
    """Go's filepath.Match for one DNS label ('*' never crosses a '.', since labels are matched one by one)."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return False  # ErrBadPattern: kubelet treats it as no match
            body = pattern[i + 1:end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return re.fullmatch(out, label) is not None


def _split_image_url(value: str) -> Tuple[List[str], str, str]:
    host, slash, path = value.partition("/")
    m = re.fullmatch(r"(.*):([0-9]*)", host)
    name, port = (m.group(1), m.group(2)) if m and not host.endswith("]") else (host, "")
    return name.split("."), port, (slash + path)


def match_image(pattern: str, image: str) -> bool:
    """kubelet's URLsMatchStr: same number of labels, each glob-matched, same port, pattern path a prefix."""
    glob_parts, glob_port, glob_path = _split_image_url(pattern)
    parts, port, path = _split_image_url(image)
    if glob_port != port or len(glob_parts) != len(parts) or not path.startswith(glob_path):
        return False
    return all(_go_glob_label(g, p) for g, p in zip(glob_parts, parts))


def suggest_match_image(host: str) -> Optional[str]:
    """The EKS default pattern that covers an ECR host, to add to matchImages."""
    return next((p for p in EKS_MATCH_IMAGES if match_image(p, host)), None)


# ======================================================================================================
# systemd units and kubelet flags
# ======================================================================================================

@dataclass(frozen=True)
class UnitSettings:
    """What systemd takes from a unit and its drop-ins, in order."""

    exec_start: Optional[str] = None
    exec_start_source: Optional[str] = None
    environment: Tuple[Tuple[str, str], ...] = ()
    environment_files: Tuple[Tuple[str, bool], ...] = ()  # (path, optional "-")


def _unit_lines(text: str) -> List[Tuple[str, str, str]]:
    """(section, key, value) of a unit file; backslash-newline continues a line."""
    out: List[Tuple[str, str, str]] = []
    section, pending = "", ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        if eq:
            out.append((section, key.strip(), value.strip()))
    return out


def parse_units(files: Sequence[Tuple[str, str]]) -> UnitSettings:
    """Combine a unit and its drop-ins (given in systemd's order): an empty ExecStart= resets it."""
    exec_start: Optional[str] = None
    source: Optional[str] = None
    env: List[Tuple[str, str]] = []
    env_files: List[Tuple[str, bool]] = []
    for path, text in files:
        for section, key, value in _unit_lines(text):
            if section != "Service":
                continue
            if key == "ExecStart":
                exec_start, source = (value or None), (path if value else None)
            elif key == "Environment":
                for word in _unit_words(value):
                    name, eq, val = word.partition("=")
                    if eq:
                        env.append((name, val))
            elif key == "EnvironmentFile" and value:
                env_files.append((value.lstrip("-"), value.startswith("-")))
    return UnitSettings(exec_start, source, tuple(env), tuple(env_files))


def _unit_words(value: str) -> List[str]:
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def parse_environment_file(text: str) -> Dict[str, str]:
    """systemd EnvironmentFile=: KEY=VALUE lines, # and ; comments, one level of quotes removed."""
    out: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def expand_exec(exec_start: str, env: Mapping[str, str]) -> List[str]:
    """The argv systemd runs: $VAR and ${VAR} replaced (unset ones by nothing), then split into words."""
    line = exec_start.lstrip("-@+!:")

    def sub(m: re.Match[str]) -> str:
        return env.get(m.group(1) or m.group(2) or "", "")

    expanded = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, line)
    return _unit_words(expanded)


def parse_cmdline(text: str) -> List[str]:
    """/proc/<pid>/cmdline: NUL-separated arguments."""
    return [part for part in text.split("\0") if part]


def kubelet_flags(argv: Sequence[str]) -> Dict[str, str]:
    """`--name=value` and `--name value` flags; the last one given wins, as with kubelet's pflag."""
    flags: Dict[str, str] = {}
    i = 1 if argv and not argv[0].startswith("-") else 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value, i = argv[i + 1], i + 1
            flags[name] = value
        i += 1
    return flags


# ======================================================================================================
# TOML (see the module docstring)
# ======================================================================================================

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}
_TOML_NUMBER = re.compile(
    r"[+-]?(?:inf|nan)|0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|0o[0-7](?:_?[0-7])*|0b[01](?:_?[01])*"
    r"|[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?")


class _Toml:
    def __init__(self, text: str) -> None:
        self.s = text.replace("\r\n", "\n")
        self.i = 0
        self.root: Dict[str, Any] = {}
        self.defined: set[Tuple[str, ...]] = set()  # tables defined by a header or inline

    def error(self, message: str, unsupported: bool = False) -> NodeConfigError:
        return NodeConfigError(message, self.s.count("\n", 0, self.i) + 1, unsupported)

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def skip_comment(self) -> None:
        self.skip_ws()
        if self.i < len(self.s) and self.s[self.i] == "#":
            end = self.s.find("\n", self.i)
            self.i = len(self.s) if end < 0 else end

    def end_of_line(self) -> None:
        self.skip_comment()
        if self.i < len(self.s):
            if self.s[self.i] != "\n":
                raise self.error(f"unexpected {self.s[self.i]!r} after a value")
            self.i += 1

    def parse(self) -> Dict[str, Any]:
        current = self.root
        while self.i < len(self.s):
            self.skip_comment()
            if self.i >= len(self.s):
                break
            ch = self.s[self.i]
            if ch == "\n":
                self.i += 1
            elif ch == "[":
                current = self.header()
            else:
                self.key_value(current)
                self.end_of_line()
        return self.root

    def key(self) -> List[str]:
        parts: List[str] = []
        while True:
            self.skip_ws()
            ch = self.s[self.i:self.i + 1]
            if ch == '"':
                parts.append(self.basic_string())
            elif ch == "'":
                parts.append(self.literal_string())
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise self.error("expected a key")
                parts.append(m.group(0))
                self.i = m.end()
            self.skip_ws()
            if self.s[self.i:self.i + 1] != ".":
                return parts
            self.i += 1

    def header(self) -> Dict[str, Any]:
        array = self.s.startswith("[[", self.i)
        self.i += 2 if array else 1
        path = self.key()
        close = "]]" if array else "]"
        if not self.s.startswith(close, self.i):
            raise self.error(f"a table header must end with {close}")
        self.i += len(close)
        self.end_of_line()
        parent = self.walk(path[:-1])
        last = path[-1]
        if array:
            items = parent.setdefault(last, [])
            if not isinstance(items, list):
                raise self.error(f"'{'.'.join(path)}' is already a table, not an array of tables")
            table: Dict[str, Any] = {}
            items.append(table)
            return table
        if tuple(path) in self.defined:
            raise self.error(f"the table [{'.'.join(path)}] is defined twice")
        self.defined.add(tuple(path))
        existing = parent.setdefault(last, {})
        if not isinstance(existing, dict):
            raise self.error(f"'{'.'.join(path)}' is already a value")
        return existing

    def walk(self, path: Sequence[str]) -> Dict[str, Any]:
        table = self.root
        for part in path:
            nxt = table.setdefault(part, {})
            if isinstance(nxt, list):
                nxt = nxt[-1] if nxt and isinstance(nxt[-1], dict) else None
            if not isinstance(nxt, dict):
                raise self.error(f"'{part}' is a value, not a table")
            table = nxt
        return table

    def key_value(self, table: Dict[str, Any]) -> None:
        path = self.key()
        if self.s[self.i:self.i + 1] != "=":
            raise self.error("expected '=' after a key")
        self.i += 1
        self.skip_ws()
        value = self.value()
        target = table
        for part in path[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise self.error(f"'{part}' is a value, not a table")
            target = nxt
        if path[-1] in target:
            raise self.error(f"the key '{'.'.join(path)}' is defined twice")
        target[path[-1]] = value

    def value(self) -> Any:
        s, i = self.s, self.i
        ch = s[i:i + 1]
        if s.startswith('"""', i):
            return self.multiline(basic=True)
        if s.startswith("'''", i):
            return self.multiline(basic=False)
        if ch == '"':
            return self.basic_string()
        if ch == "'":
            return self.literal_string()
        if ch == "[":
            return self.array()
        if ch == "{":
            return self.inline_table()
        for word, val in (("true", True), ("false", False)):
            if s.startswith(word, i) and not _BARE_KEY.match(s, i + len(word)):
                self.i += len(word)
                return val
        if re.match(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}", s[i:]):
            raise self.error("TOML dates and times are not read", unsupported=True)
        m = _TOML_NUMBER.match(s, i)
        if not m or not m.group(0) or s[m.end():m.end() + 1] not in ("", " ", "\t", "\n", ",", "]", "}", "#"):
            raise self.error("expected a value")
        self.i = m.end()
        text = m.group(0).replace("_", "")
        if text.lstrip("+-") in ("inf", "nan"):
            return float(text)
        if text[:2] in ("0x", "0o", "0b"):
            return int(text, 0)
        if any(c in text for c in ".eE"):
            return float(text)
        return int(text)

    def basic_string(self) -> str:
        self.i += 1
        out: List[str] = []
        while True:
            if self.i >= len(self.s) or self.s[self.i] == "\n":
                raise self.error("a string does not end on its line")
            ch = self.s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "\\":
                out.append(self.escape())
                continue
            out.append(ch)
            self.i += 1

    def escape(self) -> str:
        code = self.s[self.i + 1:self.i + 2]
        if code in _TOML_ESCAPES:
            self.i += 2
            return _TOML_ESCAPES[code]
        if code in ("u", "U"):
            n = 4 if code == "u" else 8
            digits = self.s[self.i + 2:self.i + 2 + n]
            if len(digits) != n or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise self.error("a bad \\u escape")
            self.i += 2 + n
            return chr(int(digits, 16))
        raise self.error(f"an unknown escape \\{code}")

    def literal_string(self) -> str:
        end = self.s.find("'", self.i + 1)
        nl = self.s.find("\n", self.i + 1)
        if end < 0 or 0 <= nl < end:
            raise self.error("a string does not end on its line")
        value = self.s[self.i + 1:end]
        self.i = end + 1
        return value

    def multiline(self, basic: bool) -> str:
        delim = '"""' if basic else "'''"
        self.i += 3
        if self.s.startswith("\n", self.i):
            self.i += 1
        out: List[str] = []
        while True:
            if self.i >= len(self.s):
                raise self.error("a multi-line string does not end")
            if self.s.startswith(delim, self.i):
                extra = 0
                while self.s.startswith(delim[0], self.i + 3 + extra) and extra < 2:
                    extra += 1
                out.append(delim[0] * extra)
                self.i += 3 + extra
                return "".join(out)
            ch = self.s[self.i]
            if basic and ch == "\\":
                rest = re.match(r"\\[ \t]*\n\s*", self.s[self.i:])
                if rest:
                    self.i += rest.end()
                    continue
                out.append(self.escape())
                continue
            out.append(ch)
            self.i += 1

    def skip_array_space(self) -> None:
        while True:
            self.skip_comment()
            if self.s[self.i:self.i + 1] == "\n":
                self.i += 1
            else:
                return

    def array(self) -> List[Any]:
        self.i += 1
        items: List[Any] = []
        while True:
            self.skip_array_space()
            if self.s[self.i:self.i + 1] == "]":
                self.i += 1
                return items
            if self.i >= len(self.s):
                raise self.error("an array does not end")
            items.append(self.value())
            self.skip_array_space()
            ch = self.s[self.i:self.i + 1]
            if ch == ",":
                self.i += 1
            elif ch != "]":
                raise self.error("expected ',' or ']' in an array")

    def inline_table(self) -> Dict[str, Any]:
        self.i += 1
        table: Dict[str, Any] = {}
        self.skip_ws()
        if self.s[self.i:self.i + 1] == "}":
            self.i += 1
            return table
        while True:
            self.key_value(table)
            self.skip_ws()
            ch = self.s[self.i:self.i + 1]
            self.i += 1
            if ch == "}":
                return table
            if ch != ",":
                raise self.error("expected ',' or '}' in an inline table")


def parse_toml(text: str) -> Dict[str, Any]:
    """Parse the TOML subset described in the module docstring; raises NodeConfigError."""
    return _Toml(text).parse()


# ======================================================================================================
# containerd: config.toml (versions 1, 2, 3) and certs.d/<host>/hosts.toml
# ======================================================================================================

@dataclass(frozen=True)
class RegistryCredential:
    host: str
    source: str  # where it was written, e.g. registry.configs."<host>".auth
    credential: StaticCredential


@dataclass(frozen=True)
class ContainerdConfig:
    version: int
    sandbox_image: Optional[str] = None
    sandbox_key: Optional[str] = None  # sandbox_image (1.x) or pinned_images.sandbox (2.x)
    config_path: Optional[str] = None
    credentials: Tuple[RegistryCredential, ...] = ()
    mirrors: Mapping[str, Tuple[str, ...]] = field(default_factory=_empty)
    imports: Tuple[str, ...] = ()


def _table(doc: Mapping[str, Any], *path: str) -> Dict[str, Any]:
    node: Any = doc
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def merge_containerd_import(base: Mapping[str, Any], imported: Mapping[str, Any]) -> Dict[str, Any]:
    """containerd's mergeConfig for an `imports` file: top-level values are overridden, and each plugin's
    whole table is replaced (`[plugins."io.containerd.grpc.v1.cri"]` in an import drops the main file's)."""
    out = dict(base)
    for key, value in imported.items():
        if key == "plugins" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif key != "imports":
            out[key] = value
    return out


def containerd_config(doc: Mapping[str, Any]) -> ContainerdConfig:
    """The pull-related settings of a parsed config.toml (already merged with its imports)."""
    version = doc.get("version")
    version = version if isinstance(version, int) and not isinstance(version, bool) else 1
    plugins = _table(doc, "plugins")
    if version >= 3:
        images = _table(plugins, "io.containerd.cri.v1.images")
        sandbox, key = _table(images, "pinned_images").get("sandbox"), "pinned_images.sandbox"
        registry, prefix = _table(images, "registry"), 'plugins."io.containerd.cri.v1.images".registry'
    else:
        cri = _table(plugins, "io.containerd.grpc.v1.cri") if version == 2 else _table(plugins, "cri")
        sandbox, key = cri.get("sandbox_image"), "sandbox_image"
        registry = _table(cri, "registry")
        prefix = 'plugins."io.containerd.grpc.v1.cri".registry' if version == 2 else "plugins.cri.registry"
    creds: List[RegistryCredential] = []
    for host, conf in _table(registry, "configs").items():
        auth = _table(conf, "auth") if isinstance(conf, dict) else {}
        if not auth:
            continue
        strs = {k: v for k, v in auth.items() if isinstance(v, str)}
        cred = describe_credential(strs.get("username"), strs.get("password"), strs.get("auth"))
        creds.append(RegistryCredential(host, f'{prefix}.configs."{host}".auth', cred))
    mirrors: Dict[str, Tuple[str, ...]] = {}
    for h in _table(registry, "mirrors"):
        endpoints = _table(registry, "mirrors", h).get("endpoint")
        mirrors[h] = tuple(e for e in endpoints if isinstance(e, str)) if isinstance(endpoints, list) else ()
    imports = tuple(i for i in doc.get("imports", []) if isinstance(i, str)) if isinstance(doc.get("imports"),
                                                                                          list) else ()
    path = registry.get("config_path")
    return ContainerdConfig(version, sandbox if isinstance(sandbox, str) and sandbox else None, key,
                            path if isinstance(path, str) and path else None, tuple(creds),
                            MappingProxyType(mirrors), imports)


def image_host(image: str) -> Optional[str]:
    """The registry host of an image reference, when it names one (docker's rule: a '.' or ':' or localhost)."""
    first, slash, _ = image.partition("/")
    return first if slash and ("." in first or ":" in first or first == "localhost") else None


@dataclass(frozen=True)
class HostsEntry:
    url: str
    capabilities: Tuple[str, ...]
    credential: Optional[StaticCredential] = None  # from a static Authorization header


@dataclass(frozen=True)
class HostsToml:
    server: Optional[str]
    hosts: Tuple[HostsEntry, ...]
    server_credential: Optional[StaticCredential] = None


def _header_credential(headers: Mapping[str, Any]) -> Optional[StaticCredential]:
    for name, value in headers.items():
        if name.lower() != "authorization":
            continue
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, str) and v.lower().startswith("basic "):
                return describe_credential(auth=v[6:].strip())
            if isinstance(v, str):
                return StaticCredential(False)
    return None


def parse_hosts_toml(text: str) -> HostsToml:
    """containerd's certs.d/<host>/hosts.toml: server, [host."..."] entries, static Authorization headers."""
    doc = parse_toml(text)
    hosts: List[HostsEntry] = []
    for url, conf in _table(doc, "host").items():
        conf = conf if isinstance(conf, dict) else {}
        caps = conf.get("capabilities", ["pull", "resolve", "push"])
        caps = tuple(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else ()
        hosts.append(HostsEntry(url, caps, _header_credential(_table(conf, "header"))))
    server = doc.get("server")
    return HostsToml(server if isinstance(server, str) else None, tuple(hosts),
                     _header_credential(_table(doc, "header")))


# ======================================================================================================
# podman / buildah / skopeo: containers-auth.json(5) and registries.conf
# ======================================================================================================

@dataclass(frozen=True)
class AuthFileCandidate:
    path: str
    why: str
    legacy: bool = False  # ~/.dockercfg: the registries map without "auths"
    needs_dir: Optional[str] = None  # XDG_RUNTIME_DIR: skipped (with a warning) when the directory is missing


def describe_expiry(expires_at: Optional[datetime.datetime], now: datetime.datetime) -> str:
    """'expired at 2026-01-01T00:00:00Z (3 h ago)' / 'expires at … (in 5 h)' / 'expiry unknown'."""
    if expires_at is None:
        return "expiry unknown"
    stamp = expires_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    hours = (expires_at - now).total_seconds() / 3600
    span = f"{abs(hours):.0f} h" if abs(hours) >= 1 else f"{abs(hours) * 60:.0f} min"
    return f"expired at {stamp} ({span} ago)" if hours <= 0 else f"expires at {stamp} (in {span})"


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
    auths: Mapping[str, Tuple[str, str]] = field(default_factory=_empty)  # key -> (auth, identitytoken), secret
    cred_helpers: Mapping[str, str] = field(default_factory=_empty)


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
        auth, token = _go_field(entry, "auth"), _go_field(entry, "identitytoken")
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
    host = _strip_schema(key).split("/", 1)[0]
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
