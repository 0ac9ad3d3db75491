"""EKS / Kubernetes nodes: kubelet's image credential provider, containerd's registry config, the pause image."""

from __future__ import annotations

import datetime
import fnmatch
import json
import posixpath
import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ecrdoctor.api import Finding, Outcome, check, conclude, skip
from ecrdoctor.containerdconfig import (
    ContainerdConfig,
    containerd_config,
    image_host,
    merge_containerd_import,
    parse_hosts_toml,
)
from ecrdoctor.context import Context
from ecrdoctor.kubeletconfig import (
    API_VERSIONS,
    ECR_PROVIDER_NAME,
    EKS_MATCH_IMAGES,
    CredentialProvider,
    CredentialProviderConfig,
    expand_exec,
    kubelet_flags,
    match_image,
    parse_cmdline,
    parse_credential_provider_config,
    parse_environment_file,
    parse_units,
    suggest_match_image,
)
from ecrdoctor.model import Status
from ecrdoctor.nodeconfig import NodeConfigError, StaticCredential, describe_expiry
from ecrdoctor.reference import RegistryHost, parse_registry_host
from ecrdoctor.tomlsubset import parse_toml

# amazon-eks-ami: AL2 kubelet.service flags and nodeadm (AL2023) defaults
DEFAULT_CONFIG = "/etc/eks/image-credential-provider/config.json"
DEFAULT_BIN_DIR = "/etc/eks/image-credential-provider"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
CONFIG_FLAG = "image-credential-provider-config"
BIN_DIR_FLAG = "image-credential-provider-bin-dir"
SAMPLE_ECR_HOST = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
RESTART_KUBELET = "sudo systemctl restart kubelet"
RESTART_CONTAINERD = "sudo systemctl restart containerd"


@dataclass(frozen=True)
class KubeletInvocation:
    """How kubelet is (or will be) started: its flags and where they were read."""

    flags: Dict[str, str]
    source: str


def _listdir(ctx: Context, path: str) -> List[str]:
    """Names in a directory as the host sees it, sorted; none when it cannot be listed."""
    return ctx.host.listdir(path).names


def _is_dir(ctx: Context, path: str) -> bool:
    return ctx.host.stat(path).is_dir


def _executable(ctx: Context, path: str) -> bool:
    """Any execute bit set, as kubelet needs it (whoever ecrdoctor runs as)."""
    return bool(ctx.host.stat(path).mode & 0o111)


def kubelet_invocation(ctx: Context) -> Optional[KubeletInvocation]:
    """kubelet's flags: from the running process, else from kubelet.service and its drop-ins (shared fact)."""
    return ctx.fact("kubelet_invocation", lambda: _find_invocation(ctx))


def _find_invocation(ctx: Context) -> Optional[KubeletInvocation]:
    for pid in _listdir(ctx, "/proc"):
        if pid.isdigit() and (ctx.host.read_text(f"/proc/{pid}/comm", limit=64).text or "").strip() == "kubelet":
            argv = parse_cmdline(ctx.host.read_text(f"/proc/{pid}/cmdline").text or "")
            if argv:
                return KubeletInvocation(kubelet_flags(argv), f"the running kubelet (pid {pid})")
    unit = next((f"{d}/kubelet.service" for d in UNIT_DIRS if ctx.host.exists(f"{d}/kubelet.service")), None)
    if unit is None:
        return None
    dropins: Dict[str, str] = {}
    for d in reversed(UNIT_DIRS):  # a drop-in in /etc replaces one of the same name further down
        for name in _listdir(ctx, f"{d}/kubelet.service.d"):
            if name.endswith(".conf"):
                dropins[name] = f"{d}/kubelet.service.d/{name}"
    files = [(unit, ctx.host.read_text(unit).text or "")]
    files += [(p, ctx.host.read_text(p).text or "") for _, p in sorted(dropins.items())]
    settings = parse_units(files)
    env = dict(settings.environment)
    for path, _optional in settings.environment_files:  # they override Environment=, in order
        env.update(parse_environment_file(ctx.host.read_text(path).text or ""))
    if not settings.exec_start:
        return None
    where = ", ".join(p for p, _ in files)
    return KubeletInvocation(kubelet_flags(expand_exec(settings.exec_start, env)), where)


def _applies(ctx: Context) -> Optional[str]:
    if ctx.host.which("kubelet") or any(ctx.host.exists(p) for p in (
            "/etc/eks", "/etc/kubernetes/kubelet", "/var/lib/kubelet", *(f"{d}/kubelet.service" for d in UNIT_DIRS))):
        return None
    return "no kubelet on this host (no kubelet binary, kubelet.service, /etc/eks or /etc/kubernetes/kubelet)"


def _read_provider_config(ctx: Context, path: str) -> Tuple[Optional[CredentialProviderConfig], List[str], str]:
    """The config file (or, for kubelets that accept one, a directory of *.json/*.yaml/*.yml files read in name
    order), its problems, and the file a fix should edit."""
    files = [path]
    if _is_dir(ctx, path):
        files = [posixpath.join(path, n) for n in _listdir(ctx, path) if n.endswith((".json", ".yaml", ".yml"))]
        if not files:
            return None, [f"{path} is a directory without *.json, *.yaml or *.yml files"], path
    providers: List[CredentialProvider] = []
    problems: List[str] = []
    api_version: Optional[str] = None
    kind: Optional[str] = None
    for f in files:
        read = ctx.host.read_text(f)
        if read.text is None:
            return None, [f"kubelet cannot read {f}: {read.error}"], f
        parsed = parse_credential_provider_config(read.text)  # NodeConfigError goes to the caller
        providers += parsed.providers
        problems += [f"{f}: {p}" for p in parsed.problems] if len(files) > 1 else list(parsed.problems)
        api_version, kind = api_version or parsed.api_version, kind or parsed.kind
    return CredentialProviderConfig(api_version, kind, tuple(providers), tuple(problems)), [], files[0]


def default_config_command(path: str, version: str = "v1") -> str:
    """Write the EKS AMI's credential provider config (all ECR host forms)."""
    doc = {"apiVersion": f"kubelet.config.k8s.io/{version}", "kind": "CredentialProviderConfig",
           "providers": [{"name": ECR_PROVIDER_NAME, "matchImages": list(EKS_MATCH_IMAGES),
                          "defaultCacheDuration": "12h",
                          "apiVersion": f"credentialprovider.kubelet.k8s.io/{version}"}]}
    return f"echo {shlex.quote(json.dumps(doc, separators=(',', ':')))} | sudo tee {shlex.quote(path)} >/dev/null"


def _rewrite_text(path: str) -> str:
    if path.endswith(".json"):
        return ("Repair the file, or replace it with the EKS default below (this overwrites the file, and any "
                "other provider in it), then restart kubelet.")
    return "Repair the file, then restart kubelet."


def add_match_image_command(path: str, provider: str, pattern: str) -> str:
    script = ('import json,sys; p,n,m=sys.argv[1:4]; c=json.load(open(p)); '
              '[q["matchImages"].append(m) for q in c["providers"] if q["name"]==n and m not in q["matchImages"]]; '
              'json.dump(c,open(p,"w"),indent=2)')
    return f"sudo python3 -c {shlex.quote(script)} {shlex.quote(path)} {shlex.quote(provider)} {shlex.quote(pattern)}"


def _target_image(ctx: Context) -> Tuple[Optional[str], Optional[RegistryHost]]:
    """The image kubelet would be asked to pull, when it is an ECR one."""
    if ctx.registry is None or not ctx.registry.is_ecr:
        return None, None
    if ctx.image is not None:
        return ctx.image.full, ctx.image.host
    return ctx.registry.host, ctx.registry


def _provider_findings(ctx: Context, cfg: CredentialProviderConfig, edit_path: str, bin_dir: str,
                       details: List[str], evidence: Dict[str, Any]) -> List[Finding]:
    findings: List[Finding] = []
    image, reg = _target_image(ctx)
    probe = image or SAMPLE_ECR_HOST
    matching = [p for p in cfg.providers if any(match_image(m, probe) for m in p.match_images)]
    ecr = next((p for p in cfg.providers if p.name == ECR_PROVIDER_NAME), None) or \
        (cfg.providers[0] if cfg.providers else None)
    evidence.update(providers=[p.name for p in cfg.providers], matching=[p.name for p in matching])
    version = cfg.config_version
    if version:
        details.append(f"{edit_path}: {cfg.api_version} (kubelet {API_VERSIONS[version]} or newer)")
    editable = edit_path.endswith(".json")
    if not matching and reg is not None and reg.kind == "public":
        details.append(f"no provider matches {reg.host}: kubelet pulls it anonymously, which works for public images")
        return findings
    if not matching:
        host = reg.host if reg else SAMPLE_ECR_HOST
        pattern = suggest_match_image(host.lower())
        name = ecr.name if ecr else ECR_PROVIDER_NAME
        patterns = [m for p in cfg.providers for m in p.match_images]
        lead = f"no credential provider in {edit_path} matches {host}" if reg else \
            f"no credential provider in {edit_path} matches standard ECR hosts such as {SAMPLE_ECR_HOST}"
        commands = (add_match_image_command(edit_path, name, pattern),) if pattern and editable else \
            (f"sudoedit {edit_path}",)
        findings.append(Finding(
            Status.FAIL if reg and reg.is_ecr else Status.WARN,
            f"{lead}: kubelet asks no plugin and pulls anonymously (401 Unauthorized / no basic auth credentials)",
            [f"matchImages: {', '.join(patterns) or '(none)'}",
             "kubelet matches each '*' against exactly one DNS label, needs the same number of labels, and a port "
             "only matches when the pattern names it; FIPS, dual-stack (on.aws) and China hosts need their own "
             "patterns"],
            f"Add {pattern!r} to the matchImages of provider '{name}', then restart kubelet." if pattern else
            "Add a matchImages pattern covering the registry host.", commands + (RESTART_KUBELET,)))
        return findings
    for p in matching:
        if "docker-credential" in p.name:
            findings.append(Finding(
                Status.FAIL, f"provider '{p.name}' in {edit_path} is a docker credential helper: kubelet speaks the "
                "CredentialProviderRequest protocol, which only ecr-credential-provider understands",
                ["the helper fails with `Error parsing the serverURL` and kubelet pulls anonymously"],
                "Use ecr-credential-provider (cloud-provider-aws), as EKS AMIs ship it.",
                ((default_config_command(edit_path),) if editable else (f"sudoedit {edit_path}",))
                + (RESTART_KUBELET,)))
            continue
        binary = posixpath.join(bin_dir, p.name)
        if not _is_dir(ctx, bin_dir):
            findings.append(Finding(
                Status.FAIL, f"the plugin directory {bin_dir} does not exist: kubelet refuses to start "
                f"(`plugin binary directory {bin_dir} did not exist`)", [],
                "Point --image-credential-provider-bin-dir at the directory holding the provider binary.",
                (f"ls -l {DEFAULT_BIN_DIR}", "sudo systemctl edit kubelet", RESTART_KUBELET)))
        elif not ctx.host.exists(binary):
            elsewhere = next((c for c in (posixpath.join(DEFAULT_BIN_DIR, p.name), ctx.host.which(p.name))
                              if c and c != binary and ctx.host.exists(c)), None)
            findings.append(Finding(
                Status.FAIL, f"the credential provider binary {binary} does not exist: kubelet logs `plugin binary "
                f"executable {binary} did not exist` and does not start",
                [f"the provider name '{p.name}' must be the file name of the binary in {bin_dir}"]
                + ([f"a binary of that name exists at {elsewhere}"] if elsewhere else []),
                f"Install {p.name} into {bin_dir}" + (f" (copy {elsewhere})" if elsewhere else "") + ".",
                ((f"sudo install -m 0755 {elsewhere} {binary}",) if elsewhere else (f"ls -l {bin_dir}",))
                + (RESTART_KUBELET,)))
        elif not _executable(ctx, binary):
            findings.append(Finding(
                Status.FAIL, f"{binary} is not executable: kubelet fails with `fork/exec {binary}: permission denied` "
                "and pulls anonymously", [], "Make the provider executable.", (f"sudo chmod 0755 {binary}",)))
        else:
            details.append(f"{binary} exists and is executable")
        if p.default_cache_duration:
            details.append(f"provider '{p.name}': defaultCacheDuration {p.default_cache_duration} (ecr-credential-"
                           "provider returns its own cache duration, half the token's remaining life)")
    return findings


def _containerd(ctx: Context) -> Tuple[Optional[ContainerdConfig], List[str], Optional[str]]:
    """config.toml merged with its imports; (config, details, error)."""
    read = ctx.host.read_text(CONTAINERD_CONFIG)
    if read.text is None:
        return None, [f"{CONTAINERD_CONFIG}: {read.error} (containerd uses its defaults)"], None
    details: List[str] = []
    try:
        doc = parse_toml(read.text)
        for pattern in doc.get("imports", []) if isinstance(doc.get("imports"), list) else []:
            if not isinstance(pattern, str):
                continue
            full = posixpath.join(posixpath.dirname(CONTAINERD_CONFIG), pattern)
            directory, name = posixpath.split(full)
            files = [posixpath.join(directory, n) for n in _listdir(ctx, directory) if fnmatch.fnmatchcase(n, name)] \
                if "*" in name else [full]
            for f in files:
                imported = ctx.host.read_text(f)
                if imported.text is not None:
                    doc = merge_containerd_import(doc, parse_toml(imported.text))
                    details.append(f"{CONTAINERD_CONFIG} imports {f}")
    except NodeConfigError as exc:
        if exc.unsupported:
            return None, [f"{CONTAINERD_CONFIG}: not evaluated ({exc})"], None
        return None, [], f"{CONTAINERD_CONFIG} is not valid TOML ({exc}): containerd does not start with it"
    return containerd_config(doc), details, None


def _credential_finding(cred: StaticCredential, host: str, where: str, critical: bool, now: datetime.datetime,
                        edit: str, restart: str) -> Finding:
    expiry = describe_expiry(cred.expires_at, now) if cred.is_ecr_token else "a static password"
    why = ["containerd uses it only when kubelet sends no credentials: for the pause image, and for pulls "
           "where no credential provider answered; ECR tokens last 12 hours"]
    fix = f"Remove the static credentials for {host} from {edit}; let kubelet's ecr-credential-provider supply them."
    if cred.expired(now):
        return Finding(Status.FAIL if critical else Status.WARN,
                       f"{where} holds an ECR token for {host} that {expiry}", why, fix, (f"sudoedit {edit}", restart))
    return Finding(Status.WARN, f"{where} holds static credentials for {host} ({expiry}): they stop working when "
                   "the token expires", why, fix, (f"sudoedit {edit}", restart))


def _containerd_findings(ctx: Context, cc: ContainerdConfig, target: Optional[RegistryHost], has_provider: bool,
                         details: List[str], evidence: Dict[str, Any]) -> List[Finding]:
    findings: List[Finding] = []
    now = ctx.now()
    sandbox_host = image_host(cc.sandbox_image) if cc.sandbox_image else None
    hosts_of_interest = {h for h in (target.host if target else None, sandbox_host) if h}
    def critical(host: str) -> bool:
        # with a working provider kubelet sends its own credentials; containerd falls back to static ones only for
        # the pause image (which containerd pulls itself) and when no provider answers
        return host == sandbox_host or (not has_provider and (target is None or host == target.host))

    for rc in cc.credentials:
        if parse_registry_host(rc.host).is_ecr:
            findings.append(_credential_finding(rc.credential, rc.host, f"{CONTAINERD_CONFIG} {rc.source}",
                                                critical(rc.host), now, CONTAINERD_CONFIG, RESTART_CONTAINERD))
    for host in sorted(hosts_of_interest):
        if host in cc.mirrors:
            details.append(f"{CONTAINERD_CONFIG}: registry.mirrors.\"{host}\" (deprecated) sends pulls to "
                           f"{', '.join(cc.mirrors[host]) or 'no endpoint'}")
        for root in (cc.config_path or "").split(":"):
            path = posixpath.join(root, host, "hosts.toml") if root else ""
            read = ctx.host.read_text(path) if path else None
            if read is None or read.text is None:
                continue
            try:
                hosts = parse_hosts_toml(read.text)
            except NodeConfigError as exc:
                findings.append(Finding(Status.WARN if exc.unsupported else Status.FAIL,
                                        f"{path} is not valid TOML ({exc}): containerd cannot use it for {host}",
                                        [], "Repair the file.", (f"sudoedit {path}",)))
                break
            for entry in hosts.hosts:
                if entry.credential is not None:
                    findings.append(_credential_finding(entry.credential, host, f"{path} [host.\"{entry.url}\"."
                                                        "header] Authorization", critical(host), now, path,
                                                        RESTART_CONTAINERD))
                if host not in entry.url and "pull" in entry.capabilities:
                    details.append(f"{path}: pulls of {host} try {entry.url} first")
            if hosts.server_credential is not None:
                findings.append(_credential_finding(hosts.server_credential, host, f"{path} [header] Authorization",
                                                    critical(host), now, path, RESTART_CONTAINERD))
            details.append(f"{host}: containerd reads {path}")
            break
    if cc.sandbox_image:
        evidence["sandbox_image"] = cc.sandbox_image
        findings += _sandbox_findings(ctx, cc, details)
    return findings


def _sandbox_findings(ctx: Context, cc: ContainerdConfig, details: List[str]) -> List[Finding]:
    image = cc.sandbox_image or ""
    reg = parse_registry_host(image_host(image) or "")
    if reg.kind != "private":
        details.append(f"pause image {image} ({cc.sandbox_key}) needs no ECR credentials")
        return []
    pullers = [what for path, what in (
        ("/etc/systemd/system/sandbox-image.service", "sandbox-image.service (AL2) pulls it at boot"),
        ("/usr/lib/systemd/system/sandbox-image.service", "sandbox-image.service (AL2) pulls it at boot"),
        ("/usr/bin/nodeadm", "nodeadm (AL2023) pulls it once at node init"),
    ) if ctx.host.exists(path)]
    repull = f"sudo crictl pull --creds \"AWS:$(aws ecr get-login-password --region {reg.region})\" {image}"
    pinned = cc.sandbox_key == "pinned_images.sandbox"
    note = "pinned, so kubelet's image garbage collection keeps it" if pinned else \
        "if image garbage collection removes it, containerd cannot pull it again by itself (401 Unauthorized)"
    if not pullers:
        return [Finding(
            Status.WARN, f"the pause image {image} ({CONTAINERD_CONFIG} {cc.sandbox_key}) is in private ECR and "
            "nothing on this node pulls it with ECR credentials: containerd pulls it itself, with none",
            ["pod sandboxes then fail with `failed to get sandbox image ... 401 Unauthorized`"],
            "Pull it once with an ECR token (kubelet's credential provider does not cover the pause image).",
            (repull,))]
    details.append(f"pause image {image}: {'; '.join(dict.fromkeys(pullers))} with a one-off ECR token; {note}")
    if not pinned:
        details.append(f"to restore it: {repull}")
    return []


@check("runtime.kubelet", title="Will kubelet get ECR credentials for the image?", applies_when=_applies)
def kubelet_provider(ctx: Context) -> Outcome:
    """Follows kubelet's image credential provider setup to the binary, then containerd's own registry config.

    containerd never runs docker credential helpers: on a Kubernetes node ECR credentials come from
    kubelet's exec plugin `ecr-credential-provider` (or imagePullSecrets). kubelet's flags
    `--image-credential-provider-config` and `--image-credential-provider-bin-dir` are read from the
    running kubelet's command line, else from kubelet.service with its drop-ins and environment files
    (EKS AL2: flags in the unit; AL2023: nodeadm's /etc/eks/kubelet/environment), else the EKS default
    /etc/eks/image-credential-provider/config.json is assumed. The config (JSON, or YAML in the subset
    kubelet configs use) is validated as kubelet does, strictly; the target image is matched against
    each provider's matchImages with kubelet's rules (`*` is one DNS label, ports must match). In
    /etc/containerd/config.toml (and its imports), static `registry.configs."<host>".auth` and
    hosts.toml Authorization headers for ECR hosts expire after 12 hours; the pause image
    (`sandbox_image`, or `pinned_images.sandbox` in containerd 2) is pulled by containerd itself.

    Decides: fail when kubelet runs without a credential provider config, when the file is missing,
    unreadable, not YAML/JSON, or invalid for kubelet (kind, apiVersion, unknown fields, providers,
    matchImages, defaultCacheDuration — kubelet then does not start), when no provider matches the
    target ECR host, when the provider is a docker credential helper, when the bin dir or the binary is
    missing or not executable, and when an expired static ECR token (config.toml registry.configs or
    a hosts.toml Authorization header) is for the pause image's host, or for the target when no
    credential provider answers; warn for a static ECR token that is still valid, or expired while
    kubelet's provider answers, for a private-ECR pause image nothing pre-pulls, and when no provider
    covers standard ECR hosts without IMAGE; pass otherwise; skip when the host runs no kubelet,
    when kubelet's flags cannot be found and the default config does not exist, or the YAML uses
    constructs ecrdoctor does not read.

    References: kubernetes pkg/credentialprovider/plugin/config.go and keyring.go (URLsMatch);
    kubelet-credential-provider docs; awslabs/amazon-eks-ami nodeadm image-credential-provider.go,
    templates/al2 kubelet.service, containerd-config.toml, pull-sandbox-image.sh; research host-side
    §1.5 and Part 2 G1-G3, aws-side A2.
    """
    invocation = kubelet_invocation(ctx)
    details: List[str] = []
    evidence: Dict[str, Any] = {}
    findings: List[Finding] = []
    flags = invocation.flags if invocation else {}
    bin_dir = flags.get(BIN_DIR_FLAG) or DEFAULT_BIN_DIR
    if invocation is not None:
        details.append(f"kubelet flags from {invocation.source}")
    path = flags.get(CONFIG_FLAG)
    if invocation is not None and not path:
        has_default = ctx.host.exists(DEFAULT_CONFIG)
        findings.append(Finding(
            Status.FAIL, f"kubelet runs without --{CONFIG_FLAG} ({invocation.source}): it has no way to get ECR "
            "credentials, so pulls from ECR are anonymous unless the pod has imagePullSecrets",
            ["containerd does not read ~/.docker/config.json or run docker credential helpers"]
            + ([f"{DEFAULT_CONFIG} exists but kubelet is not told to use it"] if has_default else []),
            f"Start kubelet with --{CONFIG_FLAG}={DEFAULT_CONFIG} --{BIN_DIR_FLAG}={DEFAULT_BIN_DIR} (EKS AMIs do).",
            (() if has_default else (default_config_command(DEFAULT_CONFIG),))
            + ("sudo systemctl edit kubelet", RESTART_KUBELET)))
    if invocation is None:
        if not ctx.host.exists(DEFAULT_CONFIG):
            return skip(f"kubelet's flags not found (no running kubelet, no kubelet.service) and no {DEFAULT_CONFIG}")
        path = DEFAULT_CONFIG
        details.append(f"kubelet's flags not found: assuming the EKS default {DEFAULT_CONFIG} and {DEFAULT_BIN_DIR}")
    evidence.update(config=path, bin_dir=bin_dir)
    has_provider = False
    if path:
        try:
            cfg, read_problems, edit_path = _read_provider_config(ctx, path)
        except NodeConfigError as exc:
            if exc.unsupported:
                return skip(f"{path} uses YAML ecrdoctor does not read ({exc}); kubelet may accept it")
            cfg, read_problems, edit_path = None, [], path
            findings.append(Finding(
                Status.FAIL, f"{path} is not valid YAML or JSON ({exc}): kubelet does not start (`error decoding "
                "config`)", [], _rewrite_text(path), ((default_config_command(path),) if path.endswith(".json") else
                                                      (f"sudoedit {path}",)) + (RESTART_KUBELET,)))
        if read_problems:
            missing = ctx.host.read_text(edit_path).missing
            findings.append(Finding(
                Status.FAIL, f"{read_problems[0]}: kubelet does not start (`Failed to register CRI auth plugins`)",
                read_problems[1:], "Write the credential provider config kubelet is pointed at.",
                ((default_config_command(edit_path),) if missing else (f"ls -l {edit_path}",)) + (RESTART_KUBELET,)))
        elif cfg is not None and cfg.problems:
            findings.append(Finding(
                Status.FAIL, f"{edit_path} is not a valid CredentialProviderConfig: {cfg.problems[0]}; kubelet "
                "does not start (`Failed to register CRI auth plugins`)", list(cfg.problems[1:]),
                _rewrite_text(edit_path),
                (default_config_command(edit_path) if edit_path.endswith(".json") else f"sudoedit {edit_path}",
                 RESTART_KUBELET)))
        elif cfg is not None:
            before = len(findings)
            findings += _provider_findings(ctx, cfg, edit_path, bin_dir, details, evidence)
            has_provider = len(findings) == before
    cc, cc_details, cc_error = _containerd(ctx)
    details += cc_details
    if cc_error:
        findings.append(Finding(Status.FAIL, cc_error, [], "Repair the file.",
                                ("sudo containerd config dump >/dev/null", f"sudoedit {CONTAINERD_CONFIG}",
                                 RESTART_CONTAINERD)))
    if cc is not None:
        findings += _containerd_findings(ctx, cc, ctx.registry, has_provider, details, evidence)
    _, reg = _target_image(ctx)
    matched = ", ".join(evidence.get("matching", [])) or "a provider"
    ok = f"kubelet asks {matched} ({path}) for " + (reg.host if reg else "ECR hosts") + \
        f"; the binary in {bin_dir} is executable"
    return conclude(findings, ok, details, evidence)
