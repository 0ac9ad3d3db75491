"""Diagnostic bundles (SPEC §6): a redacted recording of one run, written as tar.gz, replayable offline.

Layout of a bundle (format 1):

    manifest.json   what this is: tool and format versions, when, the options and target, what was collected
                    (calls by kind, files), and how secrets were redacted
    report.json     the report of the recorded run
    env.json        environment variable names; values only for names on the allow-list
    calls.json      every answer the checks received: host primitives, AWS calls, network probes
    files/...       the text of every file read (docker config, helper log tail, ecs.config, ...), redacted;
                    calls.json refers to them by member name

Reading a bundle never trusts it: members are looked up by name only, sizes are capped, and nothing is
extracted to disk.
"""

from __future__ import annotations

import datetime
import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ecrdoctor import __version__
from ecrdoctor.context import RunOptions
from ecrdoctor.model import Report
from ecrdoctor.redact import MASK, Redactor
from ecrdoctor.render import report_json
from ecrdoctor.tape import TAPE_VERSION, Tape, bundle_value

FORMAT = "ecrdoctor-bundle"
FORMAT_VERSION = 1
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024

# Variables whose values a bundle keeps (after redaction by shape); every other variable keeps only its name.
ENV_VALUES = frozenset({
    "HOME", "USER", "LOGNAME", "PATH", "SHELL", "LANG", "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND",
    "DOCKER_CONFIG", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_AUTH_CONFIG",
    "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "REGISTRY_AUTH_FILE", "CONTAINERS_REGISTRIES_CONF", "KUBECONFIG",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT", "AWS_SDK_LOAD_CONFIG", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_METADATA_SERVICE_TIMEOUT", "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    "AWS_ECR_CACHE_DIR", "AWS_ECR_DISABLE_CACHE", "AWS_ECR_IGNORE_CREDS_STORAGE", "AWS_ECR_CACHE_ENCRYPTION",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "ALL_PROXY", "all_proxy",
})
ENV_PREFIXES = ("AWS_ENDPOINT_URL",)
NOT_RECORDED = "[not recorded]"

REDACTION_RULES = (
    "ECR tokens (docker `auth`, the helper's Secret, GetAuthorizationToken): rewritten with the payload and data "
    "key removed; only version, type and expiration are kept",
    "other docker `auth` values: the user name is kept, the password replaced",
    "password, identitytoken, registrytoken, Secret, SecretAccessKey, SessionToken and Token values: replaced",
    "AWS secret keys and session tokens (env, ~/.aws files, SDK answers): replaced",
    "Authorization, Proxy-Authorization and IMDS token headers: only the scheme is kept",
    "query strings of pre-signed URLs; passwords in URLs (proxies): replaced",
    "PEM private keys: replaced",
    "every secret value seen during the run, and its base64 forms: replaced wherever it appears",
    "environment: names always, values only for an allow-list of non-secret variables",
)


class BundleError(Exception):
    """A file that is not a readable ecrdoctor bundle (a usage error: exit 2)."""


@dataclass(frozen=True)
class Bundle:
    manifest: Mapping[str, Any]
    report: Mapping[str, Any]
    env: Mapping[str, Optional[str]]
    calls: Sequence[dict[str, Any]]

    @property
    def options(self) -> RunOptions:
        opts = self.manifest.get("options", {})
        return RunOptions(
            image=opts.get("image"), region=opts.get("region"), profile=opts.get("profile"),
            offline=bool(opts.get("offline")), resolve=tuple(opts.get("resolve") or ()), root=opts.get("root"),
            only=tuple(opts.get("only") or ()), skip=tuple(opts.get("skip") or ()),
        )

    def replay_env(self) -> dict[str, str]:
        return {k: (NOT_RECORDED if v is None else v) for k, v in self.env.items()}

    def tape(self) -> Tape:
        return Tape("replay", entries=self.calls, recorded_at=float(self.manifest.get("recorded_at_epoch", 0.0)))


def bundle_env(env: Mapping[str, str], redactor: Redactor) -> dict[str, Optional[str]]:
    """Names of every variable; values of allow-listed ones only, redacted."""
    out: dict[str, Optional[str]] = {}
    for name in sorted(env):
        if name in ENV_VALUES or name.startswith(ENV_PREFIXES):
            value = redactor.bundle_text(env[name])
            out[name] = value
        else:
            out[name] = None
    return out


def _file_member(path: str, used: set[str]) -> str:
    clean = "/".join(p for p in path.split("/") if p not in ("", ".", ".."))
    name = f"files/{clean or 'unnamed'}"
    n = 1
    while name in used:
        n += 1
        name = f"files/{clean}.{n}"
    used.add(name)
    return name


def write_bundle(path: Path, report: Report, tape: Tape, options: RunOptions, env: Mapping[str, str]) -> dict[str, Any]:
    """Write the recorded run as a bundle; returns the manifest."""
    redactor = tape.redactor
    calls: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    used: set[str] = set()
    by_path: dict[str, tuple[Any, str]] = {}
    counts: dict[str, int] = {}
    for entry in tape.export():
        counts[entry["kind"]] = counts.get(entry["kind"], 0) + 1
        value = entry.get("value")
        text_field = _text_of(entry["kind"], value)
        if text_field is not None and isinstance(value, dict):
            holder, field_name = text_field
            text = holder[field_name]
            member = next((name for name, (p, t) in by_path.items() if p == value.get("path") and t == text), None)
            if member is None:  # a file read twice with the same text is stored once
                member = _file_member(str(value.get("path", "")), used)
                by_path[member] = (value.get("path"), text)
            files[member] = text
            holder[field_name] = None
            holder["__member__"] = member
        calls.append(entry)
    recorded_at = datetime.datetime.fromtimestamp(tape.recorded_at, tz=datetime.timezone.utc)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tape_version": TAPE_VERSION,
        "schema_version": "1",
        "tool": {"name": "ecrdoctor", "version": __version__},
        "recorded_at": recorded_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "recorded_at_epoch": tape.recorded_at,
        "options": bundle_value({
            "image": options.image, "region": options.region, "profile": options.profile,
            "offline": options.offline,
            "root": str(Path(options.root).resolve()) if options.root else None, "resolve": list(options.resolve),
            "only": list(options.only), "skip": list(options.skip),
        }, redactor),
        "target": report.to_dict().get("target"),
        "diagnosis": list(report.diagnosis),
        "collected": {"calls": dict(sorted(counts.items())), "files": sorted(files)},
        "redaction": list(REDACTION_RULES),
        "members": ["manifest.json", "report.json", "env.json", "calls.json", *sorted(files)],
    }
    members: list[tuple[str, bytes]] = [
        ("manifest.json", _json(manifest)),
        ("report.json", report_json(report).encode()),
        ("env.json", _json(bundle_env(env, redactor))),
        ("calls.json", _json({"tape_version": TAPE_VERSION, "calls": calls})),
    ] + [(name, text.encode()) for name, text in sorted(files.items())]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(tape.recorded_at)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return manifest


def _text_of(kind: str, value: Any) -> Optional[tuple[dict[str, Any], str]]:
    """Where a recorded answer keeps file text: (the dict holding it, the field) for file reads."""
    if not isinstance(value, dict):
        return None
    if kind == "host.read_text" and isinstance(value.get("text"), str):
        return value, "text"
    if kind == "host.read_tail" and isinstance(value.get("tail"), dict) and isinstance(value["tail"].get("text"), str):
        tail: dict[str, Any] = value["tail"]
        tail.setdefault("path", value.get("path"))
        return tail, "text"
    return None


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=False, ensure_ascii=False) + "\n").encode()


def read_bundle(path: Path) -> Bundle:
    """Load a bundle written by this or an earlier version (format 1); BundleError says why it cannot be read."""
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by the `with` below)
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{path} is not a readable bundle: {exc}") from None
    with tar:
        members: dict[str, tarfile.TarInfo] = {}
        total = 0
        for info in tar.getmembers():
            if not info.isfile():
                continue
            if info.size > MAX_MEMBER_BYTES:
                raise BundleError(f"{path}: member {info.name} is larger than {MAX_MEMBER_BYTES} bytes")
            total += info.size
            if total > MAX_TOTAL_BYTES:
                raise BundleError(f"{path}: more than {MAX_TOTAL_BYTES} bytes inside")
            members[info.name] = info

        def load(name: str) -> bytes:
            info = members.get(name)
            if info is None:
                raise BundleError(f"{path} has no {name}: not an ecrdoctor bundle")
            handle = tar.extractfile(info)
            if handle is None:
                raise BundleError(f"{path}: {name} cannot be read")
            return handle.read()

        def load_json(name: str) -> Any:
            try:
                return json.loads(load(name).decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise BundleError(f"{path}: {name} is not valid JSON ({exc})") from None

        manifest = load_json("manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{path} is not an ecrdoctor bundle (manifest.json has no format {FORMAT!r})")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(f"{path} is bundle format {manifest.get('format_version')}; this ecrdoctor "
                              f"{__version__} reads format {FORMAT_VERSION}")
        report = load_json("report.json") if "report.json" in members else {}
        env = load_json("env.json")
        calls_doc = load_json("calls.json")
        calls = calls_doc.get("calls") if isinstance(calls_doc, dict) else None
        if not isinstance(calls, list) or not isinstance(env, dict):
            raise BundleError(f"{path}: calls.json or env.json is not in the expected shape")
        for entry in calls:
            if not isinstance(entry, dict) or "kind" not in entry or "key" not in entry:
                raise BundleError(f"{path}: calls.json holds an entry without kind and key")
            _restore_text(entry.get("value"), load)
    return Bundle(manifest, report if isinstance(report, dict) else {}, env, calls)


def _restore_text(value: Any, load: Any) -> None:
    if not isinstance(value, dict):
        return
    for holder in (value, value.get("tail")):
        if isinstance(holder, dict) and isinstance(holder.get("__member__"), str):
            holder["text"] = load(holder.pop("__member__")).decode("utf-8", errors="replace")


def default_bundle_name(hostname: str, now: Optional[float] = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in hostname) or "host"
    return f"ecrdoctor-{safe}-{stamp}.tar.gz"


__all__ = ["MASK", "Bundle", "BundleError", "FORMAT_VERSION", "read_bundle", "write_bundle", "default_bundle_name"]
