"""The context: the single seam between checks and the outside world, plus facts computed once."""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

from ecrdoctor.aws import AwsGateway
from ecrdoctor.dockerconfig import (
    ConfigError,
    ConfigLocation,
    DockerConfig,
    locate_config,
    parse_config,
    parse_docker_auth_config,
)
from ecrdoctor.host import CommandResult, EngineAnswer, FileRead, Host
from ecrdoctor.model import Target
from ecrdoctor.net import NetProbe, SocketProbe, TapedProbe
from ecrdoctor.redact import Redactor
from ecrdoctor.reference import ImageReference, RegistryHost, parse_reference, parse_registry_host
from ecrdoctor.tape import Tape

T = TypeVar("T")

DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class RunOptions:
    image: Optional[str] = None
    region: Optional[str] = None
    profile: Optional[str] = None
    timeout: float = DEFAULT_TIMEOUT
    offline: bool = False
    root: Optional[str] = None
    verbose: bool = False
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    resolve: Sequence[str] = ()  # curl's --resolve HOST:PORT:ADDR, for probing a VPC endpoint or a test registry
    ca_bundle: Optional[str] = None  # extra CA certificates for the network and registry probes


@dataclass(frozen=True)
class TargetSpec:
    """The IMAGE argument understood: an image reference, or only a registry host."""

    text: str
    registry: RegistryHost
    image: Optional[ImageReference] = None


def parse_target(text: str) -> TargetSpec:
    """Parse the IMAGE argument; raises ReferenceError (a usage error) when it cannot be parsed."""
    bare = text.strip().rstrip("/")
    if bare and "/" not in bare and "@" not in bare and parse_registry_host(bare).is_ecr:
        return TargetSpec(text, parse_registry_host(bare))
    ref = parse_reference(text)
    return TargetSpec(text, ref.host, ref)


def parse_resolve(entries: Sequence[str]) -> dict[tuple[str, int], str]:
    """`HOST:PORT:ADDR` entries (as curl's --resolve) to a map; raises ValueError naming a bad entry."""
    out: dict[tuple[str, int], str] = {}
    for entry in entries:
        host, sep, rest = entry.partition(":")
        port, sep2, addr = rest.partition(":")
        if not (sep and sep2 and host and port.isdigit() and addr):
            raise ValueError(f"--resolve {entry!r} is not HOST:PORT:ADDRESS")
        out[(host.lower(), int(port))] = addr.strip("[]")
    return out


@dataclass(frozen=True)
class DockerClientConfig:
    """The docker CLI's config as docker itself would load it, and DOCKER_AUTH_CONFIG."""

    location: ConfigLocation
    read: FileRead
    config: Optional[DockerConfig] = None  # None when the file is missing, unreadable or invalid
    error: Optional[ConfigError] = None
    auth_config: Optional[DockerConfig] = None
    auth_config_error: Optional[ConfigError] = None

    @property
    def effective(self) -> DockerConfig:
        """What docker works with: an invalid or missing file counts as an empty config."""
        return self.config or parse_config("{}")


class _Once(Generic[T]):
    """A value computed on first use, at most once even when many checks ask at the same moment."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._done = False
        self._value: Optional[T] = None
        self._error: Optional[BaseException] = None

    @property
    def done(self) -> bool:
        return self._done

    def get(self) -> T:
        with self._lock:
            if not self._done:
                try:
                    self._value = self._compute()
                except Exception as exc:  # remembered, and raised to every caller
                    self._error = exc
                self._done = True
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@dataclass
class Context:
    """Given to every check. Checks reach the host, AWS and the network only through it."""

    options: RunOptions
    host: Host
    aws: AwsGateway
    net: NetProbe
    redactor: Redactor
    target_spec: Optional[TargetSpec] = None
    deadline: float = field(default=0.0)  # time.monotonic() by which the run must end
    _facts: dict[str, _Once[Any]] = field(default_factory=dict, repr=False)
    _facts_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, options: RunOptions, env: Optional[dict[str, str]] = None,
               tape: Optional[Tape] = None) -> Context:
        """A context for a live run; with a tape, one that records it (bundle) or replays it (--from-bundle)."""
        redactor = tape.redactor if tape is not None else Redactor()
        host = Host(env=env, root=options.root, redactor=redactor, tape=tape)
        for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            redactor.add(host.env.get(name))
        spec = parse_target(options.image) if options.image else None
        region = options.region or (spec.registry.api_region if spec else None)
        aws = AwsGateway(profile=options.profile, region=region, redactor=redactor, tape=tape)
        probe: NetProbe = SocketProbe(overrides=parse_resolve(options.resolve), ca_bundle=options.ca_bundle)
        if tape is not None:
            probe = TapedProbe(probe, tape)
        return cls(options, host, aws, probe, redactor, spec,
                   deadline=time.monotonic() + options.timeout)

    # -- the outside world ---------------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float, input: Optional[str] = None,
            env: Optional[dict[str, str]] = None, redact: bool = True) -> CommandResult:
        """Run a program with a timeout never longer than what is left of the run."""
        return self.host.run(argv, timeout=min(timeout, self.remaining()), input=input, env=env,
                             redact=redact)

    def now(self) -> datetime.datetime:
        """Now, in UTC, as checks must read it (a bundle replays at the time it was recorded)."""
        return self.host.now()

    def remaining(self) -> float:
        return max(0.05, self.deadline - time.monotonic()) if self.deadline else 3600.0

    # -- facts several checks share ----------------------------------------------------------------
    def fact(self, name: str, compute: Callable[[], T]) -> T:
        """Compute a shared fact once per run (exceptions are remembered and re-raised)."""
        with self._facts_lock:
            once = self._facts.setdefault(name, _Once(compute))
        value: T = once.get()
        return value

    def known_fact(self, name: str) -> Any:
        """A shared fact if some check already computed it successfully, else None (never computes)."""
        with self._facts_lock:
            once = self._facts.get(name)
        if once is None or not once.done:
            return None
        try:
            return once.get()
        except Exception:
            return None

    @property
    def image(self) -> Optional[ImageReference]:
        return self.target_spec.image if self.target_spec else None

    @property
    def registry(self) -> Optional[RegistryHost]:
        return self.target_spec.registry if self.target_spec else None

    def target(self) -> Target:
        spec = self.target_spec
        if spec is None:
            return Target()
        reg, ref = spec.registry, spec.image
        kind, prefix = reg.kind, None
        rules = self.known_fact("aws.pull_through_rules")
        if rules and ref is not None:
            from ecrdoctor.awsfacts import match_rule

            rule = match_rule(rules, ref.repository)
            if rule is not None:
                kind, prefix = "pull-through", rule.prefix
        return Target(
            image=spec.text,
            registry=ref.registry if ref else reg.host,
            account=reg.account,
            region=reg.region or (reg.api_region if reg.kind == "public" else None),
            repository=ref.repository if ref else None,
            reference=ref.reference if ref else None,
            kind=kind,
            ptc_prefix=prefix,
        )

    def docker_config(self) -> DockerClientConfig:
        return self.fact("docker_config", self._load_docker_config)

    def _load_docker_config(self) -> DockerClientConfig:
        location = locate_config(self.host.env, self.host.home)
        read = self.host.read_text(location.path)
        config: Optional[DockerConfig] = None
        error: Optional[ConfigError] = None
        if read.text is not None:
            try:
                config = parse_config(read.text)
            except ConfigError as exc:
                error = exc
        auth_config = auth_error = None
        raw_auth = self.host.env.get("DOCKER_AUTH_CONFIG")
        if raw_auth:
            try:
                auth_config = parse_docker_auth_config(raw_auth)
            except ConfigError as exc:
                auth_error = exc
        return DockerClientConfig(location, read, config, error, auth_config, auth_error)

    def docker_engine(self, timeout: float = 5.0) -> EngineAnswer:
        """/version and /info of the daemon docker would use (DOCKER_HOST etc. from the host's env), once per
        run; the docker SDK is imported only when a check asks. `error` holds why the daemon could not be
        reached (socket missing, permission denied)."""
        return self.fact("docker_engine", lambda: self.host.docker_engine(min(timeout, self.remaining())))

    def caller_identity(self) -> dict[str, str]:
        """sts:GetCallerIdentity, once per run."""

        def call() -> dict[str, str]:
            resp = self.aws.client("sts").get_caller_identity()
            return {k: str(resp[k]) for k in ("Account", "Arn", "UserId") if k in resp}

        return self.fact("caller_identity", call)
