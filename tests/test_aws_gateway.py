"""The AWS gateway against a real moto server: the allow-list guard, bounded clients, lazy sessions."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ecrdoctor.aws import ALLOWED_OPERATIONS, AwsGateway, OperationNotAllowed
from tests.conftest import AwsStubs, MotoServer


def test_allowed_operation_reaches_moto(moto: MotoServer) -> None:
    gw = AwsGateway(region="us-east-1")
    assert gw.client("sts").get_caller_identity()["Account"] == "123456789012"


@pytest.mark.parametrize(
    ("service", "operation", "kwargs"),
    [
        ("ecr", "create_repository", {"repositoryName": "must-not-exist"}),
        ("ecr", "delete_repository", {"repositoryName": "team/app", "force": True}),
        ("ecr", "put_image", {"repositoryName": "team/app", "imageManifest": "{}", "imageTag": "evil"}),
        ("secretsmanager", "get_secret_value", {"SecretId": "ecr-pullthroughcache/x"}),
        ("sts", "assume_role", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s"}),
        ("iam", "create_user", {"UserName": "must-not-exist"}),
    ],
)
def test_operation_outside_the_allow_list_raises_and_sends_nothing(
    moto: MotoServer, service: str, operation: str, kwargs: dict[str, object]
) -> None:
    moto.boto3_client("ecr").create_repository(repositoryName="team/app")
    gw = AwsGateway(region="us-east-1")
    client = gw.client(service)
    sent: list[str] = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
    with pytest.raises(OperationNotAllowed, match="not on ecrdoctor's read-only allow-list"):
        getattr(client, operation)(**kwargs)
    assert sent == [], "a request left the process"
    # and the server's state proves it received nothing: the repository is untouched, nothing was created
    ecr = moto.boto3_client("ecr")
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert names == ["team/app"]
    assert ecr.list_images(repositoryName="team/app")["imageIds"] == []
    assert [u["UserName"] for u in moto.boto3_client("iam").list_users()["Users"]] == []


def test_every_allowed_operation_exists_in_botocore() -> None:
    """A typo in the allow-list would silently block a check; every name must be a real operation."""
    import botocore.session

    session = botocore.session.get_session()
    for service, operations in ALLOWED_OPERATIONS.items():
        model = session.get_service_model(service)
        missing = operations - set(model.operation_names)
        assert not missing, f"{service}: {missing}"


def test_clients_are_bounded_connect_3s_read_5s_one_retry() -> None:
    client = AwsGateway(region="us-east-1").client("ecr")
    cfg = client.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (3.0, 5.0)
    assert cfg.retries["total_max_attempts"] == 2


def test_a_hanging_endpoint_costs_at_most_two_read_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A listener that accepts and never answers: the call fails after read timeout x 2 attempts, not 60 s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{srv.getsockname()[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHANG")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    gw = AwsGateway(region="us-east-1", read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(Exception, match="Read timeout"):
        gw.client("sts").get_caller_identity()
    elapsed = time.monotonic() - started
    stop.set()
    srv.close()
    assert elapsed < 0.5 * 2 + 1.0


def test_sessions_and_clients_are_created_once_and_lazily(moto: MotoServer) -> None:
    gw = AwsGateway(region="us-east-1")
    assert gw._sessions == {} and gw._clients == {}
    assert gw.client("ecr") is gw.client("ecr")
    assert gw.client("ecr", region="eu-west-1") is not gw.client("ecr")
    assert len(gw._sessions) == 1


def test_credentials_name_the_provider_and_hide_the_secret(moto: MotoServer) -> None:
    gw = AwsGateway(region="us-east-1")
    facts = gw.credentials()
    assert facts.method == "env"
    assert facts.access_key_hint == "…ABCD"
    assert "moto-secret-key-do-not-print" not in repr(facts)
    assert gw.redactor.text("x moto-secret-key-do-not-print y") == "x [REDACTED] y"


def test_stubbed_operation_answers_beside_real_moto_calls(moto: MotoServer, aws_stubs: AwsStubs) -> None:
    """Stubs only for what moto lacks (here DescribePullThroughCacheRules); the rest still reaches moto."""
    aws_stubs.add("ecr", "DescribePullThroughCacheRules", {"pullThroughCacheRules": [
        {"ecrRepositoryPrefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"}]})
    moto.boto3_client("ecr").create_repository(repositoryName="team/app")
    client = AwsGateway(region="us-east-1").client("ecr")
    assert client.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["ecrRepositoryPrefix"] == "docker-hub"
    assert client.describe_repositories()["repositories"][0]["repositoryName"] == "team/app"
    with pytest.raises(OperationNotAllowed):
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="x", upstreamRegistryUrl="quay.io")


def test_stubbed_error_is_a_real_client_error(aws_stubs: AwsStubs, moto: MotoServer) -> None:
    aws_stubs.add("ecr", "ValidatePullThroughCacheRule", error_code="PullThroughCacheRuleNotFoundException",
                  message="rule not found")
    client = AwsGateway(region="us-east-1").client("ecr")
    with pytest.raises(client.exceptions.PullThroughCacheRuleNotFoundException):
        client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
