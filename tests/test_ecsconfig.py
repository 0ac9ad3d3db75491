"""ecrdoctor.ecsconfig: /etc/ecs/ecs.config and ECS_ENGINE_AUTH_DATA as ecs-init and the agent read them."""

from __future__ import annotations

import json

import pytest

from ecrdoctor.ecsconfig import no_proxy_covers, parse_ecs_config, parse_engine_auth
from ecrdoctor.nodeconfig import NodeConfigError
from tests.nodeconfig_fixtures import EXPIRED, HOST, MARKER, NOW, VALID, b64, ecr_auth, ecr_password

# --- ecs.config ------------------------------------------------------------------------------------

def test_ecs_config_is_read_like_ecs_init_last_line_wins_and_quotes_stay() -> None:
    cfg = parse_ecs_config("ECS_CLUSTER=a\n#ECS_CLUSTER=ignored\nECS_CLUSTER=b\nNO_PROXY='169.254.169.254'\n\n")
    assert cfg.values["ECS_CLUSTER"] == "b"
    assert cfg.values["NO_PROXY"] == "'169.254.169.254'"
    assert cfg.duplicates == ("ECS_CLUSTER",)
    assert "#ECS_CLUSTER" in cfg.values  # not a comment for ecs-init, just a key nobody reads


def test_export_prefix_and_spaces_around_equals_hide_a_key_from_the_agent() -> None:
    cfg = parse_ecs_config("export ECS_LOGLEVEL=debug\nECS_CLUSTER = prod\nECS_OK=1\n")
    assert [(u.line, u.key) for u in cfg.unseen] == [(1, "export ECS_LOGLEVEL"), (2, "ECS_CLUSTER ")]
    assert "ECS_OK" in cfg.values and "ECS_CLUSTER" not in cfg.values


def test_dockercfg_auth_data_with_an_ecr_login_is_described() -> None:
    data = json.dumps({f"https://{HOST}": {"auth": ecr_auth(EXPIRED), "email": "x@example.com"}})
    auth = parse_engine_auth("dockercfg", data)
    assert [(e.key, e.host, e.usable) for e in auth.entries] == [(f"https://{HOST}", HOST, True)]
    assert auth.entries[0].credential.expired(NOW) and not auth.problems


def test_docker_type_auth_data_with_username_and_password() -> None:
    auth = parse_engine_auth("docker", json.dumps({HOST: {"username": "AWS", "password": ecr_password(VALID)}}))
    assert auth.entries[0].usable and auth.entries[0].credential.is_ecr_token


@pytest.mark.parametrize("auth_type", ["dockercfg", "docker"])
def test_outer_auths_object_is_ignored_by_the_agent(auth_type: str) -> None:
    auth = parse_engine_auth(auth_type, json.dumps({"auths": {HOST: {"auth": ecr_auth(VALID)}}}))
    assert not auth.entries
    assert "outer 'auths' object" in auth.problems[0] and HOST in auth.problems[0]


def test_dockercfg_shape_under_docker_type_has_no_username_for_the_agent() -> None:
    auth = parse_engine_auth("docker", json.dumps({"registry.example.com": {"auth": b64("u:p")}}))
    assert not auth.entries[0].usable
    assert "dockercfg format" in auth.problems[0]


def test_malformed_dockercfg_entry_is_what_the_agent_logs() -> None:
    auth = parse_engine_auth("dockercfg", json.dumps({"registry.example.com": {"auth": b64("no-colon")}}))
    assert "Malformed auth data for registry registry.example.com" in auth.problems[0]


def test_quoted_auth_data_is_not_json_and_says_why() -> None:
    with pytest.raises(NodeConfigError) as err:
        parse_engine_auth("dockercfg", "'" + json.dumps({HOST: {"auth": ecr_auth(VALID)}}) + "'")
    assert "not JSON" in err.value.message and "quoted" in err.value.message
    assert MARKER not in str(err.value) and ecr_auth(VALID) not in str(err.value)


@pytest.mark.parametrize("data", ['{"r": "x"}', '{"r": {"username": 5}}', "[1]"])
def test_auth_data_of_the_wrong_shape_is_unparseable(data: str) -> None:
    with pytest.raises(NodeConfigError):
        parse_engine_auth("docker", data)


@pytest.mark.parametrize(("auth_type", "says"), [("", "is not set"), ("basic", "Unknown auth configuration: basic")])
def test_missing_or_unknown_auth_type_means_the_data_is_unused(auth_type: str, says: str) -> None:
    auth = parse_engine_auth(auth_type, "{}")
    assert says in auth.problems[0] and not auth.entries


@pytest.mark.parametrize(
    ("no_proxy", "host", "covered"),
    [
        ("169.254.169.254,169.254.170.2", "169.254.170.2", True),
        ("169.254.0.0/16", "169.254.169.254", True),
        ("*", "169.254.169.254", True),
        (" 169.254.169.254 ", "169.254.169.254", True),
        ("localhost,.amazonaws.com", "api.ecr.us-east-1.amazonaws.com", True),
        ("amazonaws.com", "api.ecr.us-east-1.amazonaws.com", True),
        ("169.254.169.254", "169.254.170.2", False),
        ("/var/run/docker.sock", "169.254.170.2", False),
        ("", "169.254.169.254", False),
    ],
)
def test_no_proxy_matching_follows_go(no_proxy: str, host: str, covered: bool) -> None:
    assert no_proxy_covers(no_proxy, host) is covered
