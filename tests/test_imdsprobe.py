"""The pure IMDS helpers: the endpoint and proxy the SDKs pick, and what counts as a genuine IMDS answer."""

from __future__ import annotations

import json

import pytest

from ecrdoctor.imdsprobe import (
    ImdsAnswerError,
    metadata_disabled,
    metadata_endpoint,
    no_proxy_has_cidr_for,
    parse_iam_info,
    parse_instance_id,
    parse_region,
    parse_role_list,
    parse_token,
    proxy_for,
)

IMDS = "http://169.254.169.254/"


def test_endpoint_default_override_and_ipv6_mode() -> None:
    assert metadata_endpoint({}) == "http://169.254.169.254"
    assert metadata_endpoint({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8111/"}) == "http://127.0.0.1:8111"
    assert metadata_endpoint({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}) == "http://[fd00:ec2::254]"


@pytest.mark.parametrize(("value", "disabled"), [("true", True), ("TRUE", True), (" true ", True), ("false", False),
                                                 ("1", False), ("", False)])
def test_metadata_disabled_only_by_the_word_true(value: str, disabled: bool) -> None:
    assert metadata_disabled({"AWS_EC2_METADATA_DISABLED": value}) is disabled


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"HTTPS_PROXY": "http://proxy:3128"}, None),  # IMDS is plain HTTP
    ({"HTTP_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
    ({"http_proxy": "http://lower:3128", "HTTP_PROXY": "http://upper:3128"}, "http://lower:3128"),
    ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,169.254.169.254"}, None),
    ({"HTTP_PROXY": "http://proxy:3128", "no_proxy": " 169.254.169.254 "}, None),
    ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "*"}, None),
    ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": ".amazonaws.com,localhost"}, "http://proxy:3128"),
    ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "169.254.0.0/16"}, "http://proxy:3128"),  # botocore: no CIDR
    ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "169.254.169.25"}, "http://proxy:3128"),  # not a prefix match
])
def test_proxy_for_the_metadata_address_as_botocore_decides(env: dict[str, str], expected: str) -> None:
    assert proxy_for(IMDS, env) == expected


def test_domain_suffixes_match_subdomains() -> None:
    env = {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": ".internal"}
    assert proxy_for("http://imds.internal/", env) is None
    assert proxy_for("http://internal.example/", env) == "http://proxy:3128"


def test_cidr_no_proxy_is_recognised_for_the_go_helper_note() -> None:
    assert no_proxy_has_cidr_for("169.254.169.254", {"NO_PROXY": "10.0.0.0/8, 169.254.0.0/16"})
    assert not no_proxy_has_cidr_for("169.254.169.254", {"NO_PROXY": "10.0.0.0/8,bogus/99"})
    assert not no_proxy_has_cidr_for("imds.example", {"NO_PROXY": "169.254.0.0/16"})


def test_token_is_one_opaque_word_and_never_echoed_in_errors() -> None:
    assert parse_token("AQAEAHk3lAbC==\n") == "AQAEAHk3lAbC=="
    with pytest.raises(ImdsAnswerError, match="an HTML page"):
        parse_token("<html>proxy</html>")
    with pytest.raises(ImdsAnswerError) as err:
        parse_token("secret-looking token with spaces")
    assert "secret" not in str(err.value)
    with pytest.raises(ImdsAnswerError):
        parse_token("")


def test_role_list_is_one_iam_role_name() -> None:
    assert parse_role_list("node-role\n") == "node-role"
    assert parse_role_list("eks.node+role@x,y=z\n") == "eks.node+role@x,y=z"
    for bad in ("", "<html>no</html>", "a role with spaces", "x" * 65):
        with pytest.raises(ImdsAnswerError):
            parse_role_list(bad)


def test_iam_info_names_the_instance_profile() -> None:
    doc = {"Code": "Success", "InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/path/nodes",
           "InstanceProfileId": "AIPAEXAMPLE"}
    info = parse_iam_info(json.dumps(doc))
    assert info.arn.endswith("instance-profile/path/nodes") and info.profile_id == "AIPAEXAMPLE"
    assert parse_iam_info(json.dumps({**doc, "InstanceProfileArn": doc["InstanceProfileArn"].replace(
        "arn:aws:", "arn:aws-cn:")})).arn.startswith("arn:aws-cn:")
    for bad in ("not json", "[]", json.dumps({**doc, "Code": "Failure"}),
                json.dumps({**doc, "InstanceProfileArn": "arn:aws:iam::1:role/x"}), json.dumps({"Code": "Success"})):
        with pytest.raises(ImdsAnswerError):
            parse_iam_info(bad)


def test_instance_id_and_region() -> None:
    assert parse_instance_id("i-0123456789abcdef0") == "i-0123456789abcdef0"
    assert parse_instance_id("i-12345678\n") == "i-12345678"
    assert parse_region("eu-west-1") == "eu-west-1"
    assert parse_region("us-gov-west-1") == "us-gov-west-1"
    for bad in ("", "<html>", "i-XYZ"):
        with pytest.raises(ImdsAnswerError):
            parse_instance_id(bad)
    for bad in ("", "<html>", "eu_west_1", "Europe"):
        with pytest.raises(ImdsAnswerError):
            parse_region(bad)
