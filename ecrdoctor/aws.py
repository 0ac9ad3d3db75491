"""The AWS gateway: lazily created botocore sessions and clients, bounded, read-only by construction."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from ecrdoctor.redact import Redactor, key_hint

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


@dataclass(frozen=True)
class CredentialFacts:
    """Which provider of botocore's chain supplied credentials, without the secret parts."""

    method: Optional[str]  # botocore's name: env, shared-credentials-file, sso, iam-role, ...
    access_key_hint: Optional[str] = None
    has_session_token: bool = False
    profile: Optional[str] = None
    error: Optional[str] = None  # type and redacted message when resolution raised
    error_type: Optional[str] = None


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
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> None:
        self.profile = profile
        self.default_region = region
        self.redactor = redactor or Redactor()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._lock = threading.RLock()
        self._sessions: dict[Optional[str], Session] = {}
        self._clients: dict[tuple[str, Optional[str], Optional[str]], BaseClient] = {}
        self.client_hooks: list[Callable[[BaseClient], None]] = list(type(self).default_client_hooks)

    def session(self, profile: Optional[str] = None) -> Session:
        profile = profile or self.profile
        with self._lock:
            if profile not in self._sessions:
                import botocore.session

                session = botocore.session.Session(profile=profile)
                _never_prompt(session)
                self._sessions[profile] = session
            return self._sessions[profile]

    def configured_region(self, profile: Optional[str] = None) -> Optional[str]:
        """The region the SDK would use on its own (env, profile); never raises."""
        try:
            region = self.session(profile).get_config_variable("region")
        except Exception:
            return None
        return str(region) if region else None

    def region(self) -> Optional[str]:
        return self.default_region or self.configured_region()

    def client(self, service: str, region: Optional[str] = None, profile: Optional[str] = None) -> BaseClient:
        region = region or self.region()
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
                client.meta.events.register("before-parameter-build", guard_operation)
                for hook in self.client_hooks:
                    hook(client)
                self._clients[key] = client
            return self._clients[key]

    def credentials(self, profile: Optional[str] = None) -> CredentialFacts:
        """Resolve credentials through botocore's chain, forcing deferred providers (SSO) to load."""
        profile = profile or self.profile
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


def _never_prompt(session: Session) -> None:
    """botocore asks for an MFA code with getpass; a diagnostic run must fail instead of waiting."""

    def refuse(prompt: str = "") -> str:
        raise RuntimeError(f"the profile needs an MFA code ({prompt.strip()}), which ecrdoctor never asks for")

    try:
        provider = session.get_component("credential_provider").get_provider("assume-role")
        provider._prompter = refuse
    except Exception:  # a botocore without that provider: nothing to patch
        pass
