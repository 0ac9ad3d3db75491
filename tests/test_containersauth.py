"""ecrdoctor.containersauth: where podman looks for auth files, what they say, and registries.conf."""

from __future__ import annotations

import json

import pytest

from ecrdoctor.containersauth import (
    ContainersAuth,
    containers_auth_files,
    find_containers_auth,
    parse_containers_auth,
    registries_conf_blocked,
    registries_conf_helpers,
)
from ecrdoctor.nodeconfig import NodeConfigError
from ecrdoctor.tomlsubset import parse_toml
from tests.nodeconfig_fixtures import EXPIRED, HOST, NOW, VALID, ecr_auth
from tests.test_tomlsubset import TOML_DOCS

# --- containers auth files -------------------------------------------------------------------------

def test_auth_file_search_order_for_root_without_xdg_runtime_dir() -> None:
    files = containers_auth_files({"HOME": "/root"}, "/root", 0)
    assert [f.path for f in files] == ["/run/containers/0/auth.json", "/root/.config/containers/auth.json",
                                       "/root/.docker/config.json", "/root/.dockercfg"]
    assert files[-1].legacy


def test_auth_file_search_order_with_xdg_and_docker_config() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "XDG_CONFIG_HOME": "/cfg", "DOCKER_CONFIG": "/ci/docker"}
    files = containers_auth_files(env, "/home/u", 1000)
    assert [f.path for f in files] == ["/run/user/1000/containers/auth.json", "/cfg/containers/auth.json",
                                       "/ci/docker/config.json", "/home/u/.dockercfg"]
    assert files[0].needs_dir == "/run/user/1000"


def test_registry_auth_file_replaces_the_whole_search() -> None:
    files = containers_auth_files({"REGISTRY_AUTH_FILE": "/ci/auth.json"}, "/home/u", 1000)
    assert [(f.path, f.why) for f in files] == [("/ci/auth.json", "REGISTRY_AUTH_FILE")]


def test_cred_helper_beats_auths_in_the_same_file() -> None:
    auth = parse_containers_auth(json.dumps({"auths": {HOST: {"auth": ecr_auth(EXPIRED)}},
                                             "credHelpers": {HOST: "ecr-login"}}))
    found = find_containers_auth(auth, HOST, "team/app")
    assert found is not None and (found.kind, found.helper) == ("cred-helper", "ecr-login")


def test_auths_by_repository_namespace_then_normalized_host() -> None:
    auth = parse_containers_auth(json.dumps({"auths": {f"{HOST}/team": {"auth": ecr_auth(VALID)}}}))
    team = find_containers_auth(auth, HOST, "team/app")
    assert team is not None and team.key == f"{HOST}/team"
    # containers/image then normalizes every key to its host, so a namespace login also answers for other repos
    other = find_containers_auth(auth, HOST, "other/app")
    assert other is not None and other.key == f"{HOST}/team"
    legacy_key = parse_containers_auth(json.dumps({"auths": {f"https://{HOST}/v2/": {"auth": ecr_auth(EXPIRED)}}}))
    found = find_containers_auth(legacy_key, HOST, "team/app")
    assert found is not None and found.key == f"https://{HOST}/v2/"
    assert found.credential is not None and found.credential.expired(NOW)


def test_entry_without_usable_credentials_lets_the_search_go_on() -> None:
    auth = parse_containers_auth(json.dumps({"auths": {HOST: {"auth": ""}}}))
    assert find_containers_auth(auth, HOST) is None
    assert find_containers_auth(ContainersAuth(), HOST) is None


def test_legacy_dockercfg_is_the_registries_map_itself() -> None:
    auth = parse_containers_auth(json.dumps({HOST: {"auth": ecr_auth(VALID)}}), legacy=True)
    assert find_containers_auth(auth, HOST, "team/app", legacy=True) is not None


@pytest.mark.parametrize("text", ["{", "[]", '{"auths": []}', '{"auths": {"h": {"auth": 1}}}',
                                  '{"credHelpers": {"h": 1}}'])
def test_invalid_auth_files(text: str) -> None:
    with pytest.raises(NodeConfigError):
        parse_containers_auth(text)


def test_registries_conf_helpers_and_blocked_registries() -> None:
    doc = parse_toml(TOML_DOCS[2])
    assert registries_conf_helpers(doc) == ("containers-auth.json", "ecr-login")
    assert registries_conf_helpers({}) == ("containers-auth.json",)
    assert registries_conf_blocked(doc, HOST) == HOST
    assert registries_conf_blocked(doc, "quay.io") is None
