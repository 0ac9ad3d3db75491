"""ecrdoctor.dockerconfig: docker's config location, parsing and credential precedence, by symptom."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, Optional

import pytest

from ecrdoctor.dockerconfig import (
    DOCKER_HUB_KEY,
    AuthEntry,
    ConfigError,
    DockerConfig,
    convert_to_hostname,
    default_store_candidate,
    find_key_near_misses,
    locate_config,
    parse_config,
    parse_docker_auth_config,
    resolve_credentials,
)

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
WEST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
OTHER_ACCOUNT = "210987654321.dkr.ecr.us-east-1.amazonaws.com"
FIPS = "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"
DUALSTACK = "123456789012.dkr-ecr.us-east-1.on.aws"
MARKER = "S3CRET-MARKER-7f3a"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def cfg(**doc: Any) -> DockerConfig:
    return parse_config(json.dumps(doc))


def env_cfg(**auths: str) -> DockerConfig:
    return parse_docker_auth_config(json.dumps({"auths": {k: {"auth": v} for k, v in auths.items()}}))


TOKEN = b64("AWS:" + MARKER)


# --- locate_config -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("env", "home", "path", "source", "says"),
    [
        pytest.param({"DOCKER_CONFIG": "/ci/docker", "HOME": "/home/u"}, "/home/u", "/ci/docker/config.json",
                     "DOCKER_CONFIG", "DOCKER_CONFIG=/ci/docker is set", id="ci_docker_config_redirects"),
        pytest.param({"DOCKER_CONFIG": "/ci/docker/"}, None, "/ci/docker/config.json", "DOCKER_CONFIG",
                     "so docker reads /ci/docker/config.json", id="trailing_slash_cleaned_like_go"),
        pytest.param({"DOCKER_CONFIG": "", "HOME": "/home/u"}, None, "/home/u/.docker/config.json", "HOME",
                     "set but empty, which docker treats as unset", id="empty_docker_config_is_unset"),
        pytest.param({"HOME": "/home/u"}, "/root", "/home/u/.docker/config.json", "HOME", "HOME=/home/u",
                     id="home_env_beats_passwd_home"),
        pytest.param({"HOME": ""}, "/root", "/root/.docker/config.json", "HOME", "passwd home /root",
                     id="cron_without_home_uses_passwd_home"),
        pytest.param({}, None, ".docker/config.json", "HOME", "relative to its working directory",
                     id="no_home_at_all_reads_relative_path"),
    ],
)
def test_locate_config_follows_docker_config_dir_rules(
    env: dict[str, str], home: Optional[str], path: str, source: str, says: str
) -> None:
    loc = locate_config(env, home)
    assert (loc.path, loc.source) == (path, source)
    assert says in loc.explanation


# --- parse_config ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "  \n\t", "null"])
def test_empty_config_file_is_an_empty_config_not_an_error(text: str) -> None:
    assert parse_config(text) == DockerConfig()


def test_config_fields_are_read_with_auth_decoded() -> None:
    c = cfg(
        auths={HOST: {"auth": TOKEN}, "registry.example": {"username": "bob", "password": "pw"},
               "id.example": {"identitytoken": "tok"}, "empty.example": {}},
        credHelpers={WEST: "ecr-login"}, credsStore="desktop", proxies={"default": {"httpProxy": "http://p"}},
        psFormat="x",
    )
    assert c.keys == ("auths", "credHelpers", "credsStore", "proxies", "psFormat")
    assert (c.creds_store, dict(c.cred_helpers), c.has_proxies) == ("desktop", {WEST: "ecr-login"}, True)
    assert c.auths[HOST] == AuthEntry(HOST, "AWS", True, False, True, TOKEN)
    assert c.auths["registry.example"].username == "bob" and c.auths["registry.example"].has_password
    assert c.auths["id.example"].has_identity_token and not c.auths["id.example"].has_auth
    assert c.auths["empty.example"] == AuthEntry("empty.example", None, False, False, False)


def test_hand_edited_key_case_still_honoured_like_go_json() -> None:
    c = parse_config(f'{{"CredHelpers": {{"{HOST}": "ecr-login"}}, "CREDSSTORE": "pass", '
                     f'"Auths": {{"h": {{"Auth": "{TOKEN}"}}}}}}')
    assert dict(c.cred_helpers) == {HOST: "ecr-login"} and c.creds_store == "pass"
    assert c.auths["h"].username == "AWS"


def test_two_auths_blocks_after_manual_append_are_merged_like_go() -> None:
    c = parse_config('{"auths": {"a.example": {}}, "auths": {"b.example": {}}, "credsStore": "x", '
                     '"credsStore": null}')
    assert list(c.auths) == ["a.example", "b.example"] and c.creds_store == "x"


def test_trailing_garbage_after_config_object_is_ignored_like_go_decoder() -> None:
    assert parse_config('{"credsStore": "ecr-login"}\n}}garbage').creds_store == "ecr-login"


def test_auth_base64_with_line_breaks_is_accepted_like_go() -> None:
    wrapped = TOKEN[:8] + "\n" + TOKEN[8:]
    assert parse_config(json.dumps({"auths": {HOST: {"auth": wrapped}}})).auths[HOST].has_auth


@pytest.mark.parametrize(
    ("text", "words", "line", "column"),
    [
        pytest.param('{\n  "credsStore": "ecr-login",\n}', "not valid JSON", 3, 1, id="trailing_comma"),
        pytest.param('{"auths": {"h": {"auth": "' + MARKER, "not valid JSON", 1, 26,
                     id="unterminated_secret"),
        pytest.param("\ufeff{}", "byte order mark", 1, 1, id="notepad_bom"),
        pytest.param('{"credsStore": NaN}', "not valid JSON", None, None, id="nan_literal"),
        pytest.param("[]", "must be a JSON object", None, None, id="top_level_array"),
        pytest.param(json.dumps({"auths": {HOST: {"auth": MARKER + "!"}}}),
                     f"invalid auth configuration file: auths entry '{HOST}'", None, None,
                     id="auth_not_base64"),
        pytest.param(json.dumps({"auths": {HOST: {"auth": b64("AWS" + MARKER)[:-1]}}}),
                     "not valid base64", None, None, id="auth_base64_padding_stripped"),
        pytest.param(json.dumps({"auths": {HOST: {"auth": b64(MARKER)}}}),
                     "without a ':'", None, None, id="auth_missing_colon"),
        pytest.param(json.dumps({"auths": {HOST: {"auth": b64(":" + MARKER)}}}),
                     "empty user name", None, None, id="auth_empty_user"),
        pytest.param('{"credHelpers": ["ecr-login"]}', "credHelpers must be an object, not an array", None,
                     None, id="credhelpers_as_list"),
        pytest.param('{"credHelpers": {"h": true}}', "credHelpers['h'] must be a string, not a boolean", None,
                     None, id="credhelper_value_bool"),
        pytest.param('{"credsStore": 1}', "credsStore must be a string, not a number", None, None,
                     id="credsstore_number"),
        pytest.param('{"auths": {"h": "' + TOKEN + '"}}', "auths['h'] must be an object, not a string", None,
                     None, id="auths_entry_is_bare_token"),
        pytest.param('{"auths": {"h": {"password": 123456}}}', "auths['h'].password must be a string", None,
                     None, id="password_number"),
        pytest.param('{"proxies": "http://proxy:3128"}', "proxies must be an object", None, None,
                     id="proxies_as_string"),
        pytest.param('{"pruneFilters": [1]}', "pruneFilters[0] must be a string", None, None,
                     id="unrelated_field_wrong_type_still_breaks_file"),
        pytest.param('{"plugins": {"p": {"o": []}}}', "plugins['p']['o'] must be a string", None, None,
                     id="nested_plugin_option"),
    ],
)
def test_config_docker_rejects_whole_file_raises_config_error(
    text: str, words: str, line: Optional[int], column: Optional[int]
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    err = info.value
    assert words in err.message and (err.line, err.column) == (line, column)
    for shown in (str(err), repr(err), err.message):
        assert MARKER not in shown and TOKEN not in shown and b64(MARKER) not in shown


def test_auth_secret_never_appears_in_repr_str_or_dict() -> None:
    config = cfg(auths={HOST: {"auth": TOKEN}}, credHelpers={WEST: "ecr-login"})
    source = resolve_credentials(config, HOST)
    env_source = resolve_credentials(config, HOST, env_cfg(**{HOST: TOKEN}))
    entry = config.auths[HOST]
    assert entry.secret_auth == TOKEN
    for obj in (config, entry, source, env_source, entry.to_dict()):
        for shown in (repr(obj), str(obj)):
            assert MARKER not in shown and TOKEN not in shown


# --- DOCKER_AUTH_CONFIG ------------------------------------------------------------------------------

def test_docker_auth_config_reads_only_auths_auth() -> None:
    c = parse_docker_auth_config(json.dumps({
        "auths": {HOST: {"auth": TOKEN, "identitytoken": "ignored"}}, "credHelpers": {WEST: "ecr-login"}}))
    assert c.auths[HOST] == AuthEntry(HOST, "AWS", True, False, True, TOKEN)
    assert dict(c.cred_helpers) == {} and c.keys == ("auths", "credHelpers")


@pytest.mark.parametrize("text", ["", " ", "null", "{}"])
def test_docker_auth_config_blank_lists_no_hosts(text: str) -> None:
    assert parse_docker_auth_config(text).auths == {}


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        pytest.param({"auths": {HOST: {"username": "AWS", "password": MARKER}}},
                     "has no 'auth' value; docker reads only 'auth'", id="username_password_instead_of_auth"),
        pytest.param({"auths": {HOST: {"identitytoken": MARKER}}}, "ignored keys: identitytoken",
                     id="identitytoken_only"),
        pytest.param({"auths": {HOST: {"auth": MARKER}}}, "not valid base64", id="auth_not_base64"),
        pytest.param({"auths": {HOST: {"auth": b64(MARKER)}}}, "without a ':'", id="auth_missing_colon"),
        pytest.param({"auths": [HOST]}, "auths must be an object", id="auths_as_list"),
        pytest.param({"auths": {HOST: {"auth": 5}}}, "must be a string", id="auth_number"),
    ],
)
def test_docker_auth_config_docker_ignores_raises_config_error(doc: Any, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_docker_auth_config(json.dumps(doc))
    assert words in info.value.message
    assert MARKER not in str(info.value) and b64(MARKER) not in repr(info.value)


def test_docker_auth_config_bad_json_reports_position() -> None:
    with pytest.raises(ConfigError) as info:
        parse_docker_auth_config('{"auths": {,}}')
    assert (info.value.line, info.value.column) == (1, 12)


# --- resolve_credentials -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("doc", "host", "kind", "helper", "key"),
    [
        pytest.param({"credHelpers": {HOST: "ecr-login"}}, HOST, "cred-helper", "ecr-login", HOST,
                     id="credhelpers_exact_key_selects_helper"),
        pytest.param({"credHelpers": {HOST: "ecr-login"}, "credsStore": "desktop"}, HOST, "cred-helper",
                     "ecr-login", HOST, id="credhelpers_beats_credsstore"),
        pytest.param({"credHelpers": {WEST: "ecr-login"}, "credsStore": "desktop"}, HOST, "creds-store",
                     "desktop", None, id="mac_desktop_credsstore_used_when_no_helper_key"),
        pytest.param({"credsStore": "ecr-login", "auths": {HOST: {"auth": TOKEN}}}, HOST, "creds-store",
                     "ecr-login", None, id="credsstore_beats_stale_auths_token"),
        pytest.param({"auths": {HOST: {"auth": TOKEN}}}, HOST, "auths", None, HOST, id="auths_exact_key"),
        pytest.param({"auths": {f"https://{HOST}": {"auth": TOKEN}}}, HOST, "auths", None, f"https://{HOST}",
                     id="auths_legacy_https_key_matches"),
        pytest.param({"auths": {f"{HOST}/v2/": {"auth": TOKEN}}}, HOST, "auths", None, f"{HOST}/v2/",
                     id="auths_legacy_v2_path_key_matches"),
        pytest.param({"auths": {"https://reg.example:5000/v1/": {}}}, "reg.example:5000", "auths", None,
                     "https://reg.example:5000/v1/", id="auths_legacy_key_keeps_port"),
        pytest.param({"auths": {"https://reg.example:5000/": {}}}, "reg.example", "none", None, None,
                     id="auths_legacy_key_with_port_does_not_match_portless_host"),
        pytest.param({"credHelpers": {f"https://{HOST}": "ecr-login"}}, HOST, "none", None, None,
                     id="credhelpers_key_with_https_scheme_never_matches"),
        pytest.param({"credHelpers": {HOST: ""}, "credsStore": "desktop", "auths": {HOST: {}}}, HOST, "auths",
                     None, HOST, id="empty_credhelper_value_disables_credsstore_for_host"),
        pytest.param({}, HOST, "none", None, None, id="no_basic_auth_credentials_nothing_configured"),
        pytest.param({"auths": {DOCKER_HUB_KEY: {"auth": TOKEN}}}, "docker.io", "auths", None, DOCKER_HUB_KEY,
                     id="docker_hub_uses_index_v1_url_key"),
        pytest.param({"credHelpers": {DOCKER_HUB_KEY: "desktop"}}, "index.docker.io", "cred-helper",
                     "desktop", DOCKER_HUB_KEY, id="index_docker_io_normalised_to_hub_key"),
        pytest.param({"auths": {"docker.io": {"auth": TOKEN}}}, "docker.io", "none", None, None,
                     id="docker_hub_bare_docker_io_auths_key_never_matches"),
    ],
)
def test_docker_credential_precedence(
    doc: Any, host: str, kind: str, helper: Optional[str], key: Optional[str]
) -> None:
    source = resolve_credentials(cfg(**doc), host)
    assert (source.kind, source.helper, source.key) == (kind, helper, key)
    if kind == "auths":
        assert source.entry is not None and source.entry.key == key


def test_docker_auth_config_wins_over_credhelpers_for_listed_host_only() -> None:
    config = cfg(credHelpers={HOST: "ecr-login", WEST: "ecr-login"}, auths={HOST: {"auth": TOKEN}})
    env = env_cfg(**{HOST: TOKEN})
    listed = resolve_credentials(config, HOST, env)
    assert (listed.kind, listed.key, listed.helper) == ("docker-auth-config", HOST, None)
    assert listed.entry is not None and listed.entry.username == "AWS"
    because = "is ignored because DOCKER_AUTH_CONFIG has an entry for this host"
    assert listed.shadowed == (f"credHelpers entry '{HOST}' (ecr-login) {because}",
                               f"auths entry '{HOST}' {because}")
    other = resolve_credentials(config, WEST, env)
    assert (other.kind, other.helper) == ("cred-helper", "ecr-login")


def test_docker_auth_config_key_with_scheme_is_not_normalised() -> None:
    source = resolve_credentials(cfg(credsStore="ecr-login"), HOST, env_cfg(**{f"https://{HOST}": TOKEN}))
    assert source.kind == "creds-store"


def test_docker_auth_config_shadows_credsstore() -> None:
    source = resolve_credentials(cfg(credsStore="desktop"), HOST, env_cfg(**{HOST: TOKEN}))
    assert source.kind == "docker-auth-config"
    assert source.shadowed == (
        "credsStore 'desktop' is ignored because DOCKER_AUTH_CONFIG has an entry for this host",)


@pytest.mark.parametrize(
    ("doc", "shadowed"),
    [
        pytest.param({"credHelpers": {HOST: "ecr-login"}, "auths": {f"https://{HOST}": {"auth": TOKEN}}},
                     (f"auths entry 'https://{HOST}' is ignored because credHelpers selects ecr-login",),
                     id="stale_login_token_ignored_under_helper"),
        pytest.param({"credHelpers": {HOST: "ecr-login"}, "credsStore": "desktop"},
                     ("credsStore 'desktop' is not used for this host because credHelpers selects "
                      "ecr-login",),
                     id="credsstore_not_used_for_helper_host"),
        pytest.param({"credHelpers": {HOST: ""}, "credsStore": "desktop"},
                     ("credsStore 'desktop' is not used for this host because credHelpers maps it to an "
                      "empty helper name",), id="empty_helper_hides_credsstore"),
        pytest.param({"credsStore": "desktop", "auths": {HOST: {"auth": TOKEN}}},
                     (f"auths entry '{HOST}' is ignored because credsStore selects desktop",),
                     id="desktop_store_hides_auths"),
        pytest.param({"auths": {f"https://{HOST}": {}, HOST: {}}},
                     (f"auths entry 'https://{HOST}' is ignored because auths has an exact entry '{HOST}'",),
                     id="exact_auths_key_beats_legacy_key"),
        pytest.param({"auths": {f"https://{HOST}": {}, f"{HOST}/v2/": {}}},
                     (f"auths entry '{HOST}/v2/' also matches this host; docker uses one of the matching "
                      "legacy keys in random (Go map) order",), id="two_legacy_keys_pick_is_random"),
        pytest.param({"credHelpers": {HOST: "ecr-login"}}, (), id="nothing_shadowed"),
    ],
)
def test_lower_precedence_sources_are_reported_as_shadowed(doc: Any, shadowed: tuple[str, ...]) -> None:
    assert resolve_credentials(cfg(**doc), HOST).shadowed == shadowed


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("https://reg.example/v1/", "reg.example"),
        ("http://reg.example:5000", "reg.example:5000"),
        ("reg.example/v2/", "reg.example"),
        ("https://user@reg.example:443/x", "reg.example:443"),
        ("https://[::1]:5000/", "[::1]:5000"),
        ("reg.example", "reg.example"),
    ],
)
def test_legacy_auths_key_converted_like_docker(key: str, host: str) -> None:
    assert convert_to_hostname(key) == host


# --- default_store_candidate -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("doc", "on_path", "expected"),
    [
        pytest.param({}, {"pass", "docker-credential-pass"}, "pass", id="pass_installed"),
        pytest.param({}, {"pass", "docker-credential-secretservice"}, None,
                     id="pass_without_its_helper_does_not_fall_back_to_secretservice"),
        pytest.param({}, {"docker-credential-secretservice"}, "secretservice",
                     id="headless_server_with_distro_helpers_gets_secretservice_dbus_error"),
        pytest.param({}, set(), None, id="no_helpers_installed"),
        pytest.param({"auths": {}}, {"docker-credential-secretservice"}, "secretservice",
                     id="empty_auths_object_still_autodetects"),
        pytest.param({"credsStore": "ecr-login"}, {"docker-credential-secretservice"}, None,
                     id="explicit_credsstore_disables_autodetect"),
        pytest.param({"credHelpers": {HOST: "ecr-login"}}, {"docker-credential-secretservice"}, None,
                     id="credhelpers_disable_autodetect"),
        pytest.param({"auths": {HOST: {}}}, {"docker-credential-secretservice"}, None,
                     id="auths_entry_disables_autodetect"),
    ],
)
def test_default_credential_store_autodetection(doc: Any, on_path: set[str], expected: Optional[str]) -> None:
    def which(name: str) -> Optional[str]:
        return f"/usr/bin/{name}" if name in on_path else None

    assert default_store_candidate(cfg(**doc), which) == expected


def test_autodetected_store_feeds_resolution() -> None:
    config = cfg()
    store = default_store_candidate(config, lambda n: "/usr/bin/" + n if "secretservice" in n else None)
    source = resolve_credentials(dataclasses.replace(config, creds_store=store), HOST)
    assert (source.kind, source.helper) == ("creds-store", "secretservice")


# --- find_key_near_misses ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("key", "kind", "words"),
    [
        pytest.param(f"https://{HOST}", "scheme",
                     f"credHelpers key 'https://{HOST}' has a scheme; docker looks up the bare host exactly, "
                     "so it never matches", id="credhelpers_key_with_https_scheme_never_matches"),
        pytest.param(f"{HOST}/v2/", "path", "has a path", id="credhelpers_key_with_v2_path"),
        pytest.param(f"{HOST}/", "trailing-slash", "ends with '/'", id="credhelpers_key_with_trailing_slash"),
        pytest.param(f"https://{HOST}/", "scheme", "has a scheme and ends with '/'",
                     id="credhelpers_key_copied_from_console_url"),
        pytest.param("*.dkr.ecr.*.amazonaws.com", "wildcard", "does not expand wildcards",
                     id="credhelpers_wildcard_key_never_matches"),
        pytest.param("*.dkr.ecr.us-east-1.amazonaws.com", "wildcard", "uses a wildcard",
                     id="credhelpers_region_wildcard_never_matches"),
        pytest.param(HOST.upper(), "case", "letter case", id="credhelpers_key_in_upper_case"),
        pytest.param(f" {HOST}", "whitespace", "contains whitespace",
                     id="credhelpers_key_with_leading_space"),
        pytest.param(f"{HOST}\n", "whitespace", "contains whitespace", id="credhelpers_key_with_newline"),
        pytest.param(WEST, "other-region",
                     "same account's registry in us-west-2, but the image is in us-east-1",
                     id="credhelpers_configured_for_other_region"),
        pytest.param(OTHER_ACCOUNT, "other-account", "account 210987654321's registry",
                     id="credhelpers_configured_for_other_account"),
        pytest.param(FIPS, "fips-or-dualstack-variant", "FIPS endpoint of the same registry",
                     id="credhelpers_key_is_fips_but_image_uses_standard_host"),
        pytest.param(DUALSTACK, "fips-or-dualstack-variant", "dual-stack endpoint",
                     id="credhelpers_key_is_dualstack_but_image_uses_standard_host"),
    ],
)
def test_credhelpers_near_miss_keys(key: str, kind: str, words: str) -> None:
    misses = find_key_near_misses(cfg(credHelpers={key: "ecr-login"}), HOST)
    assert [(m.section, m.key, m.kind) for m in misses] == [("credHelpers", key, kind)]
    assert words in misses[0].reason


def test_ecr_public_dualstack_key_is_a_variant_of_public_ecr() -> None:
    misses = find_key_near_misses(cfg(credHelpers={"ecr-public.aws.com": "ecr-login"}), "public.ecr.aws")
    assert [m.kind for m in misses] == ["fips-or-dualstack-variant"]


@pytest.mark.parametrize(
    ("doc", "host"),
    [
        pytest.param({"credHelpers": {HOST: "ecr-login", WEST: "ecr-login"}}, HOST, id="exact_key_present"),
        pytest.param({"credHelpers": {"210987654321.dkr.ecr.eu-west-1.amazonaws.com": "x"}}, HOST,
                     id="other_account_and_region_is_unrelated"),
        pytest.param({"credHelpers": {"gcr.io": "gcloud", "registry.example": "x"}}, HOST,
                     id="non_ecr_registries_unrelated"),
        pytest.param({"credHelpers": {f"{HOST}:443": "ecr-login"}}, HOST, id="port_is_not_a_variant"),
        pytest.param({"auths": {f"https://{HOST}": {}, f"{WEST}/v2/": {}}}, HOST,
                     id="auths_scheme_and_path_are_normalised_by_docker"),
        pytest.param({"auths": {HOST.upper(): {}, f" {HOST}": {}}}, HOST, id="auths_only_ecr_mismatches"),
        pytest.param({"credHelpers": {"https://index.docker.io": "x"}}, "docker.io", id="docker_hub_skipped"),
    ],
)
def test_no_near_miss_reported(doc: Any, host: str) -> None:
    assert find_key_near_misses(cfg(**doc), host) == []


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        pytest.param(f"https://{WEST}", "other-region", id="auths_login_for_other_region"),
        pytest.param(OTHER_ACCOUNT, "other-account", id="auths_login_for_other_account"),
        pytest.param(f"{FIPS}/v2/", "fips-or-dualstack-variant", id="auths_login_for_fips_host"),
    ],
)
def test_auths_near_miss_only_for_ecr_region_account_or_variant(key: str, kind: str) -> None:
    misses = find_key_near_misses(cfg(auths={key: {"auth": TOKEN}}), HOST)
    assert [(m.section, m.key, m.kind) for m in misses] == [("auths", key, kind)]
    assert MARKER not in misses[0].reason


def test_docker_auth_config_key_with_scheme_is_a_near_miss() -> None:
    env = env_cfg(**{f"https://{HOST}": TOKEN})
    misses = find_key_near_misses(cfg(credHelpers={WEST: "ecr-login"}), HOST, env)
    assert [(m.section, m.kind) for m in misses] == [
        ("DOCKER_AUTH_CONFIG", "scheme"), ("credHelpers", "other-region")]
    assert misses[0].reason.startswith(f"DOCKER_AUTH_CONFIG key 'https://{HOST}' has a scheme")
