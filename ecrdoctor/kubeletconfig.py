"""kubelet on a node: its image credential provider config, its systemd units and its command-line flags."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ecrdoctor.nodeconfig import NodeConfigError
from ecrdoctor.yamlsubset import parse_yaml_or_json

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
