"""Image references and ECR host names: what docker accepts, and what a user probably meant."""

from __future__ import annotations

from typing import Optional

import pytest

from ecrdoctor.reference import (
    ImageReference,
    NearMiss,
    ReferenceError,
    find_near_miss,
    parse_reference,
    parse_registry_host,
)

ACCT = "123456789012"
ECR = f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com"
SHA = "sha256:" + "a" * 64
P = pytest.param

# Every host form in research/aws-side.md A2.
# host, kind, account, region, partition, fips, dualstack, api_host, canonical_host
HOST_FORMS = [
    P(f"{ACCT}.dkr.ecr.us-west-2.amazonaws.com", "private", ACCT, "us-west-2", "aws", False, False,
      "api.ecr.us-west-2.amazonaws.com", f"{ACCT}.dkr.ecr.us-west-2.amazonaws.com", id="ipv4-standard"),
    P(f"{ACCT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "private", ACCT, "us-gov-west-1", "aws-us-gov",
      True, False, "ecr-fips.us-gov-west-1.amazonaws.com", f"{ACCT}.dkr.ecr.us-gov-west-1.amazonaws.com",
      id="fips-govcloud"),
    P(f"{ACCT}.dkr.ecr-fips.us-east-1.amazonaws.com", "private", ACCT, "us-east-1", "aws", True, False,
      "ecr-fips.us-east-1.amazonaws.com", ECR, id="fips-commercial"),
    P(f"{ACCT}.dkr-ecr.us-west-2.on.aws", "private", ACCT, "us-west-2", "aws", False, True,
      "ecr.us-west-2.api.aws", f"{ACCT}.dkr.ecr.us-west-2.amazonaws.com", id="dual-stack"),
    P(f"{ACCT}.dkr-ecr-fips.us-west-2.on.aws", "private", ACCT, "us-west-2", "aws", True, True,
      "ecr-fips.us-west-2.api.aws", f"{ACCT}.dkr.ecr.us-west-2.amazonaws.com", id="dual-stack-fips"),
    P("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "private", "210987654321", "cn-north-1", "aws-cn",
      False, False, "api.ecr.cn-north-1.amazonaws.com.cn", "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
      id="china"),
    P("210987654321.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", "private", "210987654321",
      "cn-northwest-1", "aws-cn", False, True, "ecr.cn-northwest-1.api.amazonwebservices.com.cn",
      "210987654321.dkr.ecr.cn-northwest-1.amazonaws.com.cn", id="china-dual-stack"),
    P(f"{ACCT}.dkr.ecr.eusc-de-east-1.amazonaws.eu", "private", ACCT, "eusc-de-east-1", "aws-eusc", False,
      False, "api.ecr.eusc-de-east-1.amazonaws.eu", f"{ACCT}.dkr.ecr.eusc-de-east-1.amazonaws.eu",
      id="eu-sovereign"),
    P(f"{ACCT}.dkr.ecr.us-iso-east-1.c2s.ic.gov", "private", ACCT, "us-iso-east-1", "aws-iso", False, False,
      "api.ecr.us-iso-east-1.c2s.ic.gov", f"{ACCT}.dkr.ecr.us-iso-east-1.c2s.ic.gov", id="iso"),
    P(f"{ACCT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "private", ACCT, "us-isob-east-1", "aws-iso-b", False,
      False, "api.ecr.us-isob-east-1.sc2s.sgov.gov", f"{ACCT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
      id="iso-b"),
    P(f"{ACCT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "private", ACCT, "eu-isoe-west-1", "aws-iso-e", False,
      False, "api.ecr.eu-isoe-west-1.cloud.adc-e.uk", f"{ACCT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
      id="iso-e"),
    P(f"{ACCT}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "private", ACCT, "us-isof-south-1", "aws-iso-f",
      False, False, "api.ecr.us-isof-south-1.csp.hci.ic.gov",
      f"{ACCT}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
      id="iso-f"),
    P("public.ecr.aws", "public", None, None, "aws", False, False, "api.ecr-public.us-east-1.amazonaws.com",
      "public.ecr.aws", id="ecr-public"),
    P("ecr-public.aws.com", "public", None, None, "aws", False, True,
      "api.ecr-public.us-east-1.amazonaws.com", "public.ecr.aws", id="ecr-public-dual-stack"),
    P("ghcr.io", "other", None, None, None, False, False, None, None, id="not-ecr"),
]


@pytest.mark.parametrize("host,kind,account,region,partition,fips,dualstack,api_host,canonical", HOST_FORMS)
def test_every_documented_ecr_host_form_is_recognised_with_its_api_endpoint(
    host: str,
    kind: str,
    account: Optional[str],
    region: Optional[str],
    partition: Optional[str],
    fips: bool,
    dualstack: bool,
    api_host: Optional[str],
    canonical: Optional[str],
) -> None:
    ref = parse_reference(f"{host}/team/app:v1")
    parsed = ref.host
    assert (ref.registry, ref.repository, ref.tag, ref.registry_given) == (host, "team/app", "v1", True)
    assert (parsed.kind, parsed.account, parsed.region) == (kind, account, region)
    assert parsed.partition == partition
    assert (parsed.fips, parsed.dualstack) == (fips, dualstack)
    assert (parsed.api_host, parsed.canonical_host) == (api_host, canonical)
    assert parsed == parse_registry_host(host)


def test_ecr_public_tokens_come_from_us_east_1_whatever_the_users_region() -> None:
    assert parse_registry_host("public.ecr.aws").api_region == "us-east-1"


def test_auths_key_written_as_url_still_names_the_registry() -> None:
    assert parse_registry_host(f"https://{ECR}/v2/").canonical_host == ECR


@pytest.mark.parametrize(
    "text,registry,repository",
    [
        P("localhost:5000/app", "localhost:5000", "app", id="localhost-port"),
        P("localhost/app", "localhost", "app", id="localhost-without-port"),
        P("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", id="ipv4-port"),
        P("[::1]:5000/app", "[::1]:5000", "app", id="ipv6-port"),
        P("registry.example.com:8443/a/b/c", "registry.example.com:8443", "a/b/c", id="dns-port-nested"),
        P(f"{ECR}:443/app", f"{ECR}:443", "app", id="ecr-explicit-443"),
        P("myregistry:5000/app", "myregistry:5000", "app", id="single-label-host-port"),
    ],
)
def test_registry_with_a_port_keeps_the_port_in_the_registry(
    text: str, registry: str, repository: str
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, "latest", None)
    assert ref.registry_given and not ref.is_docker_hub


def test_ecr_host_with_port_443_is_still_the_ecr_registry() -> None:
    assert parse_reference(f"{ECR}:443/app").host.account == ACCT


def test_pull_without_tag_means_latest() -> None:
    ref = parse_reference(f"{ECR}/team/app")
    assert (ref.tag, ref.digest, ref.reference) == ("latest", None, "latest")
    assert ref.full == f"{ECR}/team/app:latest"


def test_pull_by_digest_has_no_default_tag() -> None:
    ref = parse_reference(f"{ECR}/app@{SHA}")
    assert (ref.tag, ref.digest, ref.reference, ref.full) == (None, SHA, SHA, f"{ECR}/app@{SHA}")


def test_pull_by_tag_and_digest_keeps_both_and_the_digest_wins() -> None:
    ref = parse_reference(f"{ECR}/app:v1@{SHA}")
    assert (ref.tag, ref.digest, ref.reference, ref.full) == ("v1", SHA, SHA, f"{ECR}/app:v1@{SHA}")


def test_tag_may_have_capitals_dots_dashes_and_underscores() -> None:
    assert parse_reference(f"{ECR}/app:Release_1.2-rc.3").tag == "Release_1.2-rc.3"


def test_repository_separators_docker_allows() -> None:
    assert parse_reference(f"{ECR}/my-team__x/app.v2_a--b").repository == "my-team__x/app.v2_a--b"


def test_bare_name_like_nginx_is_docker_hub_library_image() -> None:
    ref = parse_reference("nginx")
    assert ref == ImageReference("nginx", "docker.io", "library/nginx", "latest", None, False)
    assert ref.full == "docker.io/library/nginx:latest" and ref.is_docker_hub and not ref.host.is_ecr


@pytest.mark.parametrize(
    "text,repository,given",
    [
        P("team/app:v1", "team/app", False, id="namespace-without-registry"),
        P("docker.io/nginx", "library/nginx", True, id="docker-io-official"),
        P("index.docker.io/library/nginx", "library/nginx", True, id="legacy-index-host"),
        P("docker.io/team/app", "team/app", True, id="docker-io-namespace"),
    ],
)
def test_docker_hub_names_normalise_like_docker(text: str, repository: str, given: bool) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.registry_given, ref.is_docker_hub) == (
        "docker.io",
        repository,
        given,
        True,
    )


def test_uppercase_registry_host_is_legal_for_docker_and_kept_as_written() -> None:
    ref = parse_reference(f"{ACCT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM/app")
    assert ref.registry == f"{ACCT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM"


def test_capitalised_first_component_is_taken_for_a_registry_host_like_docker_does() -> None:
    ref = parse_reference("Team/app")
    assert (ref.registry, ref.repository, ref.registry_given) == ("Team", "app", True)


BAD = "invalid reference format"
HEX64 = "a" * 64
# text, docker's message, reason fragment, suggestion
REFERENCE_ERRORS = [
    P("", BAD, "empty", None, id="empty-image-setting"),
    P("   ", BAD, "empty", None, id="only-spaces"),
    P(f" {ECR}/app:v1\n", BAD, "spaces or newlines", f"{ECR}/app:v1", id="pasted-with-newline"),
    P(f"https://{ECR}/app:v1", BAD, "no URL scheme", f"{ECR}/app:v1", id="https-scheme-from-console-url"),
    P(f"https://{ECR}/", BAD, "no URL scheme", None, id="registry-url-without-repository"),
    P("http://localhost:5000/app", BAD, "no URL scheme", "localhost:5000/app", id="http-scheme-local"),
    P("team/App", f"{BAD}: repository name (team/App) must be lowercase", "lowercase", "team/app",
      id="capital-in-repository"),
    P(f"{ECR}/Team/App:V1", f"{BAD}: repository name (Team/App) must be lowercase", "lowercase",
      f"{ECR}/team/app:V1", id="capitals-in-ecr-repository-tag-kept"),
    P("MyApp", f"{BAD}: repository name (library/MyApp) must be lowercase", "lowercase", "myapp",
      id="capital-in-short-name"),
    P("Team/App", f"{BAD}: repository name (App) must be lowercase", "lowercase", "team/app",
      id="capitalised-namespace-and-name"),
    P(f"{ECR}/team/app/", BAD, "ends with '/'", f"{ECR}/team/app", id="trailing-slash"),
    P(f"{ECR}//team/app", BAD, "contains '//'", f"{ECR}/team/app", id="double-slash-after-host"),
    P(f"{ECR}/team//app:v1", BAD, "contains '//'", f"{ECR}/team/app:v1", id="double-slash-in-path"),
    P("/app", BAD, "starts with '/'", "app", id="leading-slash"),
    P(f"{ECR}/app:", BAD, "tag after ':' is empty", f"{ECR}/app", id="empty-tag-from-unset-variable"),
    P(f"{ECR}/app:-v1", BAD, "tag '-v1' is not valid", None, id="tag-starting-with-dash"),
    P(f"{ECR}/app:v 1", BAD, "tag 'v 1' is not valid", None, id="space-in-tag"),
    P(f"{ECR}/app:" + "v" * 129, BAD, "is not valid", None, id="tag-longer-than-128"),
    P(f"{ECR}/app:v1:v2", BAD, "tag 'v1:v2' is not valid", None, id="two-tags"),
    P(f"{ECR}/-app", BAD, "component '-app' is not valid", None, id="repository-starting-with-dash"),
    P(f"{ECR}/app@sha256:abc", BAD, "digest 'sha256:abc' is not valid", None, id="truncated-digest"),
    P(f"{ECR}/app@{HEX64}", BAD, "lacks its algorithm", f"{ECR}/app@{SHA}", id="digest-without-sha256"),
    P(f"{ECR}/app@sha256:{'a' * 40}", "invalid checksum digest length", "has 64 hex digits, this one has 40",
      None, id="digest-wrong-length"),
    P(f"{ECR}/app@sha256:{'A' * 64}", "invalid checksum digest format", "lowercase", f"{ECR}/app@{SHA}",
      id="digest-in-capitals"),
    P(f"{ECR}/app@md5:{'a' * 32}", "unsupported digest algorithm", "'md5'", None, id="md5-digest"),
    P(HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings", "image id",
      None, id="image-id-instead-of-name"),
    P("aws_account_id.dkr.ecr.us-east-1.amazonaws.com/app", BAD,
      "'aws_account_id.dkr.ecr.us-east-1.amazonaws.com' is not a valid registry host", None,
      id="docs-placeholder-left-in-host"),
    P(f"{ECR}/" + "a" * 250, "repository name must not be more than 255 characters", "too long", None,
      id="name-longer-than-255"),
]


@pytest.mark.parametrize("text,message,reason,suggestion", REFERENCE_ERRORS)
def test_reference_docker_refuses_gets_dockers_message_and_a_working_suggestion(
    text: str, message: str, reason: str, suggestion: Optional[str]
) -> None:
    with pytest.raises(ReferenceError) as caught:
        parse_reference(text)
    err = caught.value
    assert (err.message, str(err), err.suggestion) == (message, message, suggestion)
    assert reason in err.reason
    assert isinstance(err, ValueError)
    if suggestion is not None:
        parse_reference(suggestion)


D, A = "eu-west-1", "111122223333"
HUB = "<account>.dkr.ecr.<region>.amazonaws.com"
# reference, default region, default account, kind, corrected, reason fragment
NEAR_MISSES = [
    P("nginx", None, None, "docker-hub", f"{HUB}/nginx:latest", "Docker Hub", id="short-name-goes-to-hub"),
    P("team/app:v1", D, A, "docker-hub", f"{A}.dkr.ecr.{D}.amazonaws.com/team/app:v1", "Docker Hub",
      id="namespace-goes-to-hub-defaults-filled"),
    P(f"app@{SHA}", "cn-north-1", A, "docker-hub", f"{A}.dkr.ecr.cn-north-1.amazonaws.com.cn/app@{SHA}",
      "Hub",
      id="digest-short-name-china-default"),
    P("Team/app", D, A, "uppercase-namespace", f"{A}.dkr.ecr.{D}.amazonaws.com/team/app:latest", "capitals",
      id="capitalised-namespace-read-as-host"),
    P(f"{ACCT}.dkr.ecr.amazonaws.com/app:v1", None, None, "missing-region",
      f"{ACCT}.dkr.ecr.<region>.amazonaws.com/app:v1", "no region", id="region-left-out"),
    P(f"{ACCT}.dkr.ecr.amazonaws.com/app:v1", D, A, "missing-region",
      f"{ACCT}.dkr.ecr.{D}.amazonaws.com/app:v1",
      "no region", id="region-left-out-default-region"),
    P("api.ecr.us-east-1.amazonaws.com/app", None, None, "api-host",
      "<account>.dkr.ecr.us-east-1.amazonaws.com/app:latest", "API endpoint", id="api-endpoint-as-registry"),
    P("ecr.us-east-1.amazonaws.com/app", None, A, "api-host",
      f"{A}.dkr.ecr.us-east-1.amazonaws.com/app:latest",
      "API endpoint", id="api-alias-as-registry"),
    P("ecr-fips.us-gov-west-1.amazonaws.com/app", None, A, "api-host",
      f"{A}.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:latest", "API endpoint", id="fips-api-as-registry"),
    P("ecr.us-west-2.api.aws/app", None, A, "api-host", f"{A}.dkr-ecr.us-west-2.on.aws/app:latest", "API",
      id="dual-stack-api-as-registry"),
    P("api.ecr.cn-north-1.amazonaws.com.cn/app", None, A, "api-host",
      f"{A}.dkr.ecr.cn-north-1.amazonaws.com.cn/app:latest", "API", id="china-api-as-registry"),
    P("api.ecr-public.us-east-1.amazonaws.com/nginx/nginx", None, None, "api-host",
      "public.ecr.aws/nginx/nginx:latest", "ECR Public API", id="public-api-as-registry"),
    P("12345678901.dkr.ecr.us-east-1.amazonaws.com/app", None, None, "account-digits",
      "012345678901.dkr.ecr.us-east-1.amazonaws.com/app:latest", "leading zero",
      id="account-lost-leading-zero-as-number"),
    P("1234567890123.dkr.ecr.us-east-1.amazonaws.com/app", None, None, "account-digits",
      "<account>.dkr.ecr.us-east-1.amazonaws.com/app:latest", "not 12 digits", id="account-extra-digit"),
    P("1234567890123.dkr.ecr.us-east-1.amazonaws.com/app", None, A, "account-digits",
      f"{A}.dkr.ecr.us-east-1.amazonaws.com/app:latest", "not 12 digits", id="account-extra-digit-default"),
    P("dkr.ecr.us-east-1.amazonaws.com/app", None, A, "missing-account",
      f"{A}.dkr.ecr.us-east-1.amazonaws.com/app:latest", "no 12-digit account", id="account-left-out"),
    P(f"{ACCT}.drk.ecr.us-east-1.amazonaws.com/app", None, None, "dkr-typo", f"{ECR}/app:latest", "'drk'",
      id="drk-for-dkr"),
    P(f"{ACCT}.docker.ecr.us-east-1.amazonaws.com/app", None, None, "dkr-typo", f"{ECR}/app:latest", "docker",
      id="docker-for-dkr"),
    P(f"{ACCT}.ecr.us-east-1.amazonaws.com/app", None, None, "dkr-typo", f"{ECR}/app:latest", "lacks 'dkr'",
      id="dkr-left-out"),
    P(f"{ACCT}.dkr.erc.us-east-1.amazonaws.com/app", None, None, "ecr-typo", f"{ECR}/app:latest", "'erc'",
      id="erc-for-ecr"),
    P(f"{ACCT}.dkr.ecs.us-east-1.amazonaws.com/app", None, None, "ecr-typo", f"{ECR}/app:latest", "'ecs'",
      id="ecs-for-ecr"),
    P(f"{ACCT}.dkr.us-east-1.amazonaws.com/app", None, None, "ecr-typo", f"{ECR}/app:latest", "lacks 'ecr'",
      id="ecr-left-out"),
    P(f"{ACCT}.drk-ecr.us-west-2.on.aws/app", None, None, "dkr-typo",
      f"{ACCT}.dkr-ecr.us-west-2.on.aws/app:latest",
      "'drk'", id="drk-in-dual-stack-host"),
    P(f"{ACCT}.dkr.ecr.us-east-1.amazonaws.con/app", None, None, "domain-typo", f"{ECR}/app:latest",
      "end in .amazonaws.com, not .amazonaws.con", id="amazonaws-con"),
    P(f"{ACCT}.dkr.ecr.us-east-1.amazonws.com/app", None, None, "domain-typo", f"{ECR}/app:latest",
      "not .amazonws.com", id="amazonws-com"),
    P(f"{ACCT}.dkr.ecr.useast1.amazonaws.com/app", None, None, "region-shape", f"{ECR}/app:latest",
      "(probably us-east-1)", id="region-without-dashes"),
    P(f"{ACCT}.dkr.ecr.us-east1.amazonaws.com/app", None, None, "region-shape", f"{ECR}/app:latest",
      "'us-east1' is not a region name (probably us-east-1)", id="region-missing-last-dash"),
    P(f"{ACCT}.dkr.ecr.us-east-1a.amazonaws.com/app", None, None, "region-shape", f"{ECR}/app:latest",
      "(probably us-east-1)", id="availability-zone-for-region"),
    P(f"{ACCT}.dkr.ecr.us-esat-1.amazonaws.com/app", None, None, "region-typo", f"{ECR}/app:latest",
      "'us-esat-1' is not an AWS region (probably us-east-1)", id="region-letters-swapped"),
    P(f"{ACCT}.dkr.ecr.eu-centrl-1.amazonaws.com/app", None, None, "region-typo",
      f"{ACCT}.dkr.ecr.eu-central-1.amazonaws.com/app:latest", "(probably eu-central-1)",
      id="region-letter-lost"),
    P(f"{ACCT}.dkr.ecr.us-east.amazonaws.com/app", None, None, "region-shape",
      f"{ACCT}.dkr.ecr.<region>.amazonaws.com/app:latest",
      "'us-east' is not a region name (regions look like",
      id="region-number-left-out"),
    P(f"{ACCT}.dkr.ecr.us-east.amazonaws.com/app", D, None, "region-shape",
      f"{ACCT}.dkr.ecr.{D}.amazonaws.com/app:latest", "look like us-east-1",
      id="region-number-left-out-default"),
    P(f"{ACCT}.dkr.ecr.cn-north-1.amazonaws.com/app", None, None, "partition-suffix",
      f"{ACCT}.dkr.ecr.cn-north-1.amazonaws.com.cn/app:latest", ".amazonaws.com.cn", id="china-without-cn"),
    P(f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com.cn/app", None, None, "partition-suffix", f"{ECR}/app:latest",
      "hosts in us-east-1 end in .amazonaws.com, not .amazonaws.com.cn", id="commercial-region-with-cn"),
    P(f"{ACCT}.dkr.ecr.eusc-de-east-1.amazonaws.com/app", None, None, "partition-suffix",
      f"{ACCT}.dkr.ecr.eusc-de-east-1.amazonaws.eu/app:latest", ".amazonaws.eu", id="eu-sovereign-with-com"),
    P("12345678901.drk.erc.useast1.amazonaws.con/app", None, None, "account-digits",
      "012345678901.dkr.ecr.us-east-1.amazonaws.com/app:latest",
      "not 12 digits (a leading zero was probably lost); 'drk' is a typo for 'dkr'; 'erc' is a typo for "
      "'ecr'; 'useast1' is not a region name (probably us-east-1); hosts in us-east-1 end in .amazonaws.com, "
      "not .amazonaws.con", id="every-part-wrong-all-fixed"),
    P(f"{ACCT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM/app", None, None, "uppercase-host", f"{ECR}/app:latest",
      "credHelpers", id="host-in-capitals"),
    P(f"{ACCT}.dkr.ecr.US-EAST-1.amazonaws.com/app", None, None, "uppercase-host", f"{ECR}/app:latest",
      "capitals", id="region-in-capitals"),
    P("PUBLIC.ECR.AWS/nginx/nginx", None, None, "uppercase-host", "public.ecr.aws/nginx/nginx:latest",
      "capitals", id="public-host-in-capitals"),
    P("public.ecr.com/nginx/nginx:1.27", None, None, "public-typo", "public.ecr.aws/nginx/nginx:1.27",
      "public.ecr.aws", id="public-ecr-com"),
    P("ecr.aws/nginx/nginx", None, None, "public-typo", "public.ecr.aws/nginx/nginx:latest", "public.ecr.aws",
      id="public-left-out"),
    P("gallery.ecr.aws/nginx/nginx", None, None, "public-typo", "public.ecr.aws/nginx/nginx:latest",
      "gallery",
      id="gallery-web-page-url"),
    P("pubilc.ecr.aws/nginx/nginx", None, None, "public-typo", "public.ecr.aws/nginx/nginx:latest", "pubilc",
      id="public-misspelt"),
    P("public.ecr.amazonaws.com/nginx/nginx", None, None, "public-typo", "public.ecr.aws/nginx/nginx:latest",
      "public", id="public-under-amazonaws"),
]


@pytest.mark.parametrize("text,region,account,kind,corrected,reason", NEAR_MISSES)
def test_reference_meant_for_ecr_but_wrong_gets_a_specific_reason_and_a_corrected_reference(
    text: str, region: Optional[str], account: Optional[str], kind: str, corrected: str, reason: str
) -> None:
    miss = find_near_miss(parse_reference(text), default_region=region, default_account=account)
    assert isinstance(miss, NearMiss)
    assert (miss.kind, miss.corrected) == (kind, corrected)
    assert reason in miss.reason
    fixed = parse_reference(corrected.replace("<account>", "000000000000").replace("<region>", "us-east-1"))
    assert fixed.host.is_ecr and find_near_miss(fixed) is None


@pytest.mark.parametrize("host", [p.values[0] for p in HOST_FORMS if p.values[1] != "other"] + [f"{ECR}:443"])
def test_valid_ecr_host_is_not_a_near_miss(host: str) -> None:
    assert find_near_miss(parse_reference(f"{host}/team/app:v1"), "us-east-1", "111122223333") is None


def test_new_region_ecrdoctor_does_not_know_yet_is_not_called_a_typo() -> None:
    for region in ("ap-east-3", "me-central-2", "ap-southeast-8"):
        assert find_near_miss(parse_reference(f"{ACCT}.dkr.ecr.{region}.amazonaws.com/app")) is None


@pytest.mark.parametrize(
    "text",
    [
        "ghcr.io/org/app:v1",
        "quay.io/org/app",
        "registry.k8s.io/pause:3.9",
        "localhost:5000/app",
        "localhost/app",
        "127.0.0.1:5000/app",
        "[::1]:5000/app",
        "gcr.io/project/app",
        "docker.io/library/nginx",
        "registry.example.com/team/app",
        "s3.us-east-1.amazonaws.com/bucket",
        "myregistry:5000/app",
        "GHCR.IO/org/app",
    ],
)
def test_clearly_unrelated_registry_is_not_a_near_miss(text: str) -> None:
    assert find_near_miss(parse_reference(text), "us-east-1", "111122223333") is None
