"""The AWS gateway: lazily created botocore sessions and clients, bounded, read-only by construction."""

from __future__ import annotations

import copy
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

from ecrdoctor.redact import Redactor, key_hint
from ecrdoctor.tape import Tape, decode, tape_type

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.session import Session

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
MAX_ATTEMPTS = 2  # the first try and at most one retry

# SPEC §7: the only operations ecrdoctor may send. Anything else raises before it is signed or sent.
ALLOWED_OPERATIONS: dict[str, frozenset[str]] = {
    "sts": frozenset({"GetCallerIdentity"}),
    "ecr": frozenset({
        "GetAuthorizationToken", "DescribeRepositories", "DescribeImages", "ListImages", "BatchGetImage",
        "GetDownloadUrlForLayer", "GetRepositoryPolicy", "GetLifecyclePolicy", "GetLifecyclePolicyPreview",
        "DescribePullThroughCacheRules", "ValidatePullThroughCacheRule", "DescribeRegistry",
        "GetRegistryPolicy", "GetAccountSetting", "DescribeRepositoryCreationTemplates",
        "ListTagsForResource",
    }),
    "ecr-public": frozenset({"GetAuthorizationToken", "DescribeRepositories", "DescribeImages"}),
    "iam": frozenset({"SimulatePrincipalPolicy", "GetRole", "ListRoles", "GetInstanceProfile"}),
    "secretsmanager": frozenset({"DescribeSecret"}),
    "ec2": frozenset({"DescribeVpcEndpoints", "DescribeInstances", "DescribeRouteTables", "DescribeSubnets"}),
}


class OperationNotAllowed(RuntimeError):
    """An AWS operation outside the read-only allow-list was attempted; nothing was sent."""


def guard_operation(model: Any, **_: Any) -> None:
    """botocore `before-parameter-build` hook, the first event of every call: the one allow-list gate."""
    service = model.service_model.service_name
    if model.name not in ALLOWED_OPERATIONS.get(service, frozenset()):
        raise OperationNotAllowed(
            f"{service}:{model.name} is not on ecrdoctor's read-only allow-list; the request was not sent"
        )


@tape_type
@dataclass(frozen=True)
class CredentialFacts:
    """Which provider of botocore's chain supplied credentials, without the secret parts."""

    method: Optional[str]  # botocore's name: env, shared-credentials-file, sso, iam-role, ...
    access_key_hint: Optional[str] = None
    has_session_token: bool = False
    profile: Optional[str] = None
    error: Optional[str] = None  # type and redacted message when resolution raised
    error_type: Optional[str] = None


@tape_type
@dataclass(frozen=True)
class DateProbe:
    """One unsigned request and what came back: the answer's headers and the local send/receive times."""

    endpoint: str
    sent: Optional[float] = None  # time.time() when the request left
    received: Optional[float] = None  # time.time() when the answer's headers arrived
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    status: Optional[int] = None
    error: Optional[str] = None  # "Code: message" of the error answer, or why there was no answer


def client_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error, seeing through moto's XML-in-JSON 403 bodies."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return type(exc).__name__
    err = response.get("Error", {})
    code = str(err.get("Code", ""))
    message = str(err.get("Message", ""))
    inner = re.search(r"<Code>([^<]+)</Code>", message)
    if inner and (not code or code.isdigit()):
        return inner.group(1)
    return code or type(exc).__name__


def client_error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return str(exc)
    message = str(response.get("Error", {}).get("Message", "")) or str(exc)
    inner = re.search(r"<Message>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</Message>", message, re.S)  # moto 5.1 wraps in CDATA
    return inner.group(1).strip() if inner else message


class AwsGateway:
    """One botocore session per profile, one client per (service, region, profile), built on demand."""

    # Called with every new client: how recording (bundles) and test stubs attach to botocore's events.
    default_client_hooks: list[Callable[[BaseClient], None]] = []

    def __init__(self, profile: Optional[str] = None, region: Optional[str] = None,
                 redactor: Optional[Redactor] = None,
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
                 tape: Optional[Tape] = None) -> None:
        self.tape = tape
        self.profile = profile
        self.default_region = region
        self.redactor = redactor or Redactor()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._lock = threading.RLock()
        self._sessions: dict[Optional[str], Session] = {}
        self._clients: dict[tuple[str, Optional[str], Optional[str]], BaseClient] = {}
        self.client_hooks: list[Callable[[BaseClient], None]] = list(type(self).default_client_hooks)

    def _recorded(self, kind: str, args: Any, compute: Callable[[], Any]) -> Any:
        return compute() if self.tape is None else self.tape.call(kind, args, compute)

    def session(self, profile: Optional[str] = None) -> Session:
        profile = profile or self.profile
        with self._lock:
            if profile not in self._sessions:
                import botocore.session

                if self.tape is not None and self.tape.replaying:
                    session = _replay_session()
                else:
                    session = botocore.session.Session(profile=profile)
                    _never_prompt(session)
                self._sessions[profile] = session
            return self._sessions[profile]

    def configured_region(self, profile: Optional[str] = None) -> Optional[str]:
        """The region the SDK would use on its own (env, profile); never raises."""

        def look() -> Optional[str]:
            try:
                region = self.session(profile).get_config_variable("region")
            except Exception:
                return None
            return str(region) if region else None

        found: Optional[str] = self._recorded("aws.configured_region", {"profile": profile or self.profile}, look)
        return found

    def config_file(self, profile: Optional[str] = None) -> dict[str, Any]:
        """The AWS config and credentials files as botocore merged them: {"profiles": ..., "sso_sessions": ...}
        (values can be secrets; a bundle keeps only the names of secret settings). Empty when unparseable."""

        def load() -> dict[str, Any]:
            try:
                full = self.session(profile).full_config
            except Exception:  # botocore's own error surfaces in aws.credentials
                return {}
            profiles = full.get("profiles", {})
            sessions = full.get("sso_sessions", {})
            return {
                "profiles": {str(k): dict(v) for k, v in profiles.items() if isinstance(v, dict)},
                "sso_sessions": dict(sessions) if isinstance(sessions, dict) else {},
            }

        found: dict[str, Any] = self._recorded("aws.config_file", {"profile": profile or self.profile}, load)
        return found

    def region(self) -> Optional[str]:
        return self.default_region or self.configured_region()

    def client(self, service: str, region: Optional[str] = None, profile: Optional[str] = None) -> BaseClient:
        region = region or self.region()
        if region is None and self.tape is not None and self.tape.replaying:
            from botocore.exceptions import NoRegionError

            raise NoRegionError()  # as the live run did: this machine's own AWS_REGION must not leak in
        key = (service, region, profile or self.profile)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                config = Config(
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                    user_agent_extra="ecrdoctor",
                )
                client = self.session(profile).create_client(service, region_name=region, config=config)
                self.attach(client, profile or self.profile, region)
                self._clients[key] = client
            return self._clients[key]

    def attach(self, client: BaseClient, profile: Optional[str] = None, region: Optional[str] = None) -> None:
        """The allow-list guard, then recording or replay, then the hooks: on every client ecrdoctor makes.

        Calls are keyed by the region the gateway asked for, not the client's (IAM's is `aws-global`, or the
        asked region under an endpoint override), so a bundle replays whatever endpoints either side has."""
        client.meta.events.register("before-parameter-build", guard_operation)
        if self.tape is not None:
            _TapeHooks(self.tape, client, profile, region).register()
        for hook in self.client_hooks:
            hook(client)

    def probe_date(self, service: str, operation: str) -> DateProbe:
        """Send one unsigned request and keep what came back, for the Date header of AWS's clock.

        Unsigned, so it needs no credentials: AWS answers an unsigned request with an error, and every answer,
        error or not, carries AWS's Date. Built from the gateway's session (AWS_ENDPOINT_URL, proxies and CA
        bundles apply), with the allow-list guard; a bundle keeps the answer and both local times."""
        return self._recorded(  # type: ignore[no-any-return]
            "aws.probe_date", {"service": service, "operation": operation, "region": self.region()},
            lambda: self._probe_date(service, operation))

    def _probe_date(self, service: str, operation: str) -> DateProbe:
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(signature_version=UNSIGNED, connect_timeout=self.connect_timeout,
                        read_timeout=min(self.read_timeout, 4.0), retries={"total_max_attempts": 1},
                        user_agent_extra="ecrdoctor")
        try:
            client = self.session().create_client(service, region_name=self.region() or "us-east-1", config=config)
        except Exception as exc:
            return DateProbe("", error=f"cannot build an AWS client: {type(exc).__name__}: {exc}")
        client.meta.events.register("before-parameter-build", guard_operation)
        for hook in self.client_hooks:
            hook(client)
        seen: dict[str, Any] = {}

        def sent(**_: Any) -> None:  # a before-send handler that returned a value would replace the response
            seen.setdefault("sent", time.time())

        def received(response_dict: dict[str, Any], **_: Any) -> None:
            seen["received"] = time.time()
            seen["headers"] = {str(k).lower(): str(v) for k, v in response_dict.get("headers", {}).items()}
            seen["status"] = response_dict.get("status_code")

        client.meta.events.register("before-send", sent)  # this client makes this one call only
        client.meta.events.register("before-parse", received)
        endpoint = urlsplit(client.meta.endpoint_url).netloc or client.meta.endpoint_url
        error = None
        try:
            getattr(client, operation)()
        except Exception as exc:  # an error answer is expected and fine: only its Date matters
            error = self.redactor.text(f"{client_error_code(exc)}: {client_error_message(exc)}")
        if "received" not in seen:
            return DateProbe(endpoint, error=error or "no answer")
        return DateProbe(endpoint, seen.get("sent"), seen["received"], seen.get("headers", {}), seen.get("status"),
                         error)

    def credentials(self, profile: Optional[str] = None) -> CredentialFacts:
        """Resolve credentials through botocore's chain, forcing deferred providers (SSO) to load."""
        profile = profile or self.profile
        found: CredentialFacts = self._recorded("aws.credentials", {"profile": profile},
                                                lambda: self._credentials(profile))
        return found

    def _credentials(self, profile: Optional[str]) -> CredentialFacts:
        try:
            creds = self.session(profile).get_credentials()
            if creds is None:
                return CredentialFacts(method=None, profile=profile)
            frozen = creds.get_frozen_credentials()
        except Exception as exc:
            self.redactor.add(getattr(exc, "token", None))
            return CredentialFacts(
                method=None, profile=profile, error_type=type(exc).__name__,
                error=self.redactor.text(str(exc)),
            )
        self.redactor.add(frozen.secret_key)
        self.redactor.add(frozen.token)
        return CredentialFacts(
            method=getattr(creds, "method", None),
            access_key_hint=key_hint(frozen.access_key),
            has_session_token=bool(frozen.token),
            profile=profile,
        )


class _TapeHooks:
    """Records every call a client makes (after-call, after-call-error), or answers it from the tape
    (before-call returns the recorded answer, so nothing is signed or sent and no credentials are needed)."""

    def __init__(self, tape: Tape, client: BaseClient, profile: Optional[str], region: Optional[str]) -> None:
        self.tape = tape
        self.client = client
        self.profile = profile
        self.region = region

    def register(self) -> None:
        events = self.client.meta.events
        events.register("before-parameter-build", self.remember_params)
        if self.tape.replaying:
            from botocore.handlers import json_decode_policies

            # the recording holds IAM policy documents already decoded; decoding again would fail
            events.unregister("after-call.iam", json_decode_policies)
            events.register("before-call", self.answer)
        else:
            events.register("after-call", self.record)
            events.register("after-call-error", self.record_error)

    def remember_params(self, params: Any, model: Any, context: Any = None, **_: Any) -> None:
        if isinstance(context, dict):
            context["ecrdoctor.call"] = (f"aws.{model.service_model.service_name}.{model.name}",
                                         {"region": self.region, "profile": self.profile,
                                          "params": copy.deepcopy(params)})

    def _call(self, context: Any) -> Optional[tuple[str, Any]]:
        return context.get("ecrdoctor.call") if isinstance(context, dict) else None

    def record(self, http_response: Any, parsed: Any, context: Any = None, **_: Any) -> None:
        call = self._call(context)
        if call is not None:
            answer = {"status": int(getattr(http_response, "status_code", 200)), "parsed": parsed}
            self.tape.store(call[0], _key(self.tape, call[1]), answer)

    def record_error(self, exception: BaseException, context: Any = None, **_: Any) -> None:
        call = self._call(context)
        if call is not None:
            kwargs = getattr(exception, "kwargs", None)
            error = {"type": type(exception).__name__, "module": type(exception).__module__,
                     "message": str(exception),
                     "kwargs": {str(k): str(v) for k, v in kwargs.items()} if isinstance(kwargs, dict) else None}
            self.tape.store(call[0], _key(self.tape, call[1]), None, error=error)

    def answer(self, context: Any = None, **_: Any) -> Any:
        call = self._call(context)
        if call is None:
            return None
        entry = self.tape.lookup(call[0], call[1])
        if entry.get("error"):
            raise _rebuild_error(entry["error"])
        value = entry["value"] or {}
        return _ReplayedHttp(int(value.get("status", 200))), decode(value.get("parsed") or {})


def _key(tape: Tape, args: Any) -> str:
    from ecrdoctor.tape import make_key

    return make_key(args, tape.redactor)


@dataclass(frozen=True)
class _ReplayedHttp:
    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""


class ReplayedError(Exception):
    """An exception recorded in a bundle whose class cannot be rebuilt here; its name and text are kept."""


def _rebuild_error(error: dict[str, Any]) -> BaseException:
    """The recorded exception, as the same botocore class when possible."""
    name, message = str(error.get("type", "Exception")), str(error.get("message", ""))
    if str(error.get("module", "")).startswith("botocore"):
        import botocore.exceptions

        cls = getattr(botocore.exceptions, name, None)
        kwargs = error.get("kwargs")
        if isinstance(cls, type) and issubclass(cls, botocore.exceptions.BotoCoreError) and isinstance(kwargs, dict):
            try:
                rebuilt: BaseException = cls(**kwargs)
                return rebuilt
            except Exception:
                pass
    replayed: BaseException = type(name, (ReplayedError,), {})(message)
    return replayed


def _replay_session() -> Session:
    """A session that reads nothing of this machine's AWS set-up: replay answers every call from the bundle."""
    import botocore.session

    session = botocore.session.Session()
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    session.set_config_variable("ignore_configured_endpoint_urls", True)
    session.set_credentials("REPLAY", "REPLAY")
    return session


def _never_prompt(session: Session) -> None:
    """botocore asks for an MFA code with getpass; a diagnostic run must fail instead of waiting."""

    def refuse(prompt: str = "") -> str:
        raise RuntimeError(f"the profile needs an MFA code ({prompt.strip()}), which ecrdoctor never asks for")

    try:
        provider = session.get_component("credential_provider").get_provider("assume-role")
        provider._prompter = refuse
    except Exception:  # a botocore without that provider: nothing to patch
        pass
