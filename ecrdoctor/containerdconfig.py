"""containerd's config.toml (versions 1, 2, 3) and certs.d/<host>/hosts.toml: mirrors and registry credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ecrdoctor.nodeconfig import StaticCredential, describe_credential, empty_mapping
from ecrdoctor.tomlsubset import parse_toml


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
    mirrors: Mapping[str, Tuple[str, ...]] = field(default_factory=empty_mapping)
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
