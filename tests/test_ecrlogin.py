"""ecrdoctor.ecrlogin: the credential helper's log lines (three formats), causes, requests, tail reads, cache.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ecrdoctor.ecrlogin import (
    CacheError,
    FixFacts,
    HelperCause,
    LogReadError,
    binary_kind,
    classify,
    classify_error,
    fix_for,
    group_requests,
    parse_cache,
    parse_helper_version,
    parse_log,
    parse_log_line,
    parse_time,
    read_head,
    read_tail,
)
from tests.helper_fixtures import HOST, cache_entry, cache_key, logrus_request, write_elf

UTC = timezone.utc

# Observed with the Debian 0.6.0 build (research feasibility.md §2, scenarios A, B, C, H, L, M1).
NO_CREDS = ('time="2026-11-27T09:14:27Z" level=error msg="Error retrieving credentials" error="ecr: Failed to get '
            'authorization token: operation error ECR: GetAuthorizationToken, failed to sign request: failed to '
            'retrieve credentials: failed to refresh cached credentials, no EC2 IMDS role found, operation error '
            'ec2imds: GetMetadata, access disabled to EC2 IMDS via client option, or \\"AWS_EC2_METADATA_DISABLED\\" '
            'environment variable"')
IMDS_DOWN = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, failed to sign "
             "request: failed to retrieve credentials: failed to refresh cached credentials, no EC2 IMDS role found, "
             "operation error ec2imds: GetMetadata, exceeded maximum number of attempts, 3, request send failed, Get "
             "\"http://169.254.169.254/latest/meta-data/iam/security-credentials/\": dial tcp 169.254.169.254:80: "
             "connect: network is unreachable")
NO_NETWORK = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, https response "
              "error StatusCode: 0, RequestID: , request send failed, Post "
              "\"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp: lookup api.ecr.us-east-1.amazonaws.com on "
              "10.255.255.53:53: dial udp 10.255.255.53:53: connect: network is unreachable")
TLS = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, exceeded maximum number "
       "of attempts, 3, https response error StatusCode: 0, RequestID: , request send failed, Post "
       "\"https://api.ecr.us-east-1.amazonaws.com/\": x509: certificate signed by unknown authority")
MOTO_403 = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, https response error "
            "StatusCode: 403, RequestID: syaj, deserialization failed, failed to decode response body, invalid "
            "character '<' looking for beginning of value")


# -- lines ---------------------------------------------------------------------------------------------

def test_logrus_line_with_go_quoting() -> None:
    e = parse_log_line(NO_CREDS)
    assert e is not None and e.format == "logrus" and e.level == "error"
    assert e.message == "Error retrieving credentials"
    assert e.time == datetime(2026, 11, 27, 9, 14, 27, tzinfo=UTC)
    assert e.error.endswith('or "AWS_EC2_METADATA_DISABLED" environment variable')


def test_logrus_line_with_a_local_offset_and_bare_values() -> None:
    e = parse_log_line('time="2019-04-24T13:01:39-07:00" level=error msg="Error parsing the serverURL" '
                       'error="docker-credential-ecr-login can only be used with Amazon Elastic Container Registry." '
                       'serverURL=not-valid.example.com')
    assert e is not None
    assert e.time == datetime(2019, 4, 24, 20, 1, 39, tzinfo=UTC)
    assert e.fields["serverURL"] == "not-valid.example.com"


def test_slog_line_of_helpers_after_0_12() -> None:
    e = parse_log_line('time=2025-06-01T10:00:00.123+02:00 level=WARN msg="Could not save cache" '
                       'error="open /root/.ecr/.config.json.tmp1: permission denied"')
    assert e is not None and e.format == "slog" and e.level == "warning"
    assert e.time == datetime(2025, 6, 1, 8, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize("line, message, fields", [
    ("2018-02-08T11:22:51Z [DEBUG] Retrieving credentials for 123456789012 in us-east-1 (https://" + HOST + ")",
     "Retrieving credentials", {"registry": "123456789012", "region": "us-east-1", "serverURL": "https://" + HOST}),
    ("2018-02-08T11:22:52Z [ERROR] Error parsing the serverURL: index.docker.io, error: docker-credential-ecr-login "
     "can only be used with Amazon EC2 Container Registry.", "Error parsing the serverURL",
     {"serverURL": "index.docker.io", "error": "docker-credential-ecr-login can only be used with Amazon EC2 "
                                               "Container Registry."}),
    ("2018-02-08T11:22:53Z [INFO] Got error fetching authorization token. Falling back to cached token. Error was: "
     "RequestError: send request failed", "Got error fetching authorization token. Falling back to cached token.",
     {"error": "RequestError: send request failed"}),
    ("2018-02-08T11:22:54Z [DEBUG] Listing credentials", "Listing credentials", {}),
])
def test_seelog_lines_of_helpers_before_october_2018(line: str, message: str, fields: dict[str, str]) -> None:
    e = parse_log_line(line)
    assert e is not None and e.format == "seelog"
    assert e.message == message and dict(e.fields) == fields


@pytest.mark.parametrize("line", [
    "", "credentials not found in native keychain", "\x00\x00\x00",
    'ERRO[0000] Error parsing the serverURL   error="..."',  # logrus on a terminal: never written to the file
    'time="2026-11-27T09:14:27Z" msg="no level"', "2018-02-08 [DEBUG] no time",
])
def test_lines_that_are_not_helper_log_lines(line: str) -> None:
    assert parse_log_line(line) is None


def test_times_in_fields_and_nanoseconds() -> None:
    assert parse_time("2015-01-01 00:00:00 +0000 UTC") == datetime(2015, 1, 1, tzinfo=UTC)
    assert parse_time("2026-11-27T09:14:27.144343101Z") == datetime(2026, 11, 27, 9, 14, 27, 144343, tzinfo=UTC)
    assert parse_time("yesterday") is None


# -- causes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("error, cause", [
    (parse_log(NO_CREDS)[0].error, "imds-disabled"),
    (IMDS_DOWN, "imds-unreachable"),
    (IMDS_DOWN.replace("connect: network is unreachable", "i/o timeout").replace("169.254.169.254", "fd00:ec2::254"),
     "imds-unreachable"),
    ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, failed to sign request: "
     "failed to retrieve credentials: failed to refresh cached credentials, no EC2 IMDS role found, operation error "
     "ec2imds: GetMetadata, http response error StatusCode: 404, request to EC2 IMDS failed", "no-credentials"),
    ("NoCredentialProviders: no valid providers in chain. Deprecated.", "no-credentials"),
    (NO_NETWORK, "network"),
    ("RequestError: send request failed\ncaused by: Post https://api.ecr.eu-west-1.amazonaws.com/: read: connection "
     "reset by peer", "network"),
    (TLS, "tls"),
    (MOTO_403, "access-denied"),
    ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, https response error "
     "StatusCode: 400, RequestID: 1, api error UnrecognizedClientException: The security token included in the "
     "request is invalid.", "invalid-keys"),
    ("api error InvalidSignatureException: Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z",
     "clock-skew"),
    ("failed to refresh cached credentials, the SSO session has expired or is invalid: open "
     "/home/u/.aws/sso/cache/3e8b.json: no such file or directory", "sso-expired"),
    ("failed to refresh cached credentials, ProcessProviderExecutionError: error in credential_process, exit status 1",
     "no-tty"),
    ("failed to retrieve credentials: assume role with MFA enabled, but AssumeRoleTokenProvider session option not "
     "set.", "no-tty"),
    ("api error ThrottlingException: Rate exceeded", "throttled"),
    ("failed to get shared config profile, prod", "aws-config"),
    ("docker-credential-ecr-login can only be used with Amazon Elastic Container Registry.", "not-ecr"),
    ("something new", "unknown"),
])
def test_each_real_error_text_names_its_cause(error: str, cause: str) -> None:
    assert classify_error(error).id == cause


def test_access_denied_names_the_principal_and_only_the_tail_is_kept() -> None:
    text = ("ecr: Failed to get authorization token: operation error ECR: GetAuthorizationToken, https response error "
            "StatusCode: 400, RequestID: 5f0c, api error AccessDeniedException: User: arn:aws:sts::123456789012:"
            "assumed-role/node-role/i-0abc is not authorized to perform: ecr:GetAuthorizationToken on resource: *")
    cause = classify_error(text)
    assert cause.id == "access-denied"
    assert cause.principal == "arn:aws:sts::123456789012:assumed-role/node-role/i-0abc"
    assert cause.summary == ("AccessDenied on ecr:GetAuthorizationToken for "
                             "arn:aws:sts::123456789012:assumed-role/node-role/i-0abc")
    assert cause.excerpt.startswith("…") and cause.excerpt.endswith("on resource: *")


def test_moto_style_403_is_access_denied_without_a_principal() -> None:
    cause = classify_error(MOTO_403)
    assert cause.principal is None and cause.summary.endswith("(HTTP 403 with a body that is not AWS JSON)")


@pytest.mark.parametrize("line, cause", [
    ('time="2026-11-27T09:14:27Z" level=info msg="Got error fetching authorization token. Falling back to cached '
     f'token." error={json.dumps(TLS)}', "stale-cache"),
    ('time="2026-11-27T09:14:27Z" level=info msg="Could not save cache" error="open /home/u/.ecr/.config.json.tmp: '
     'permission denied"', "cache-unwritable"),
    ('time="2026-11-27T09:14:27Z" level=warning msg="Add() is not supported by the ecr-login credentials helper as '
     'all issued credentials are temporary. Consider setting the AWS_ECR_IGNORE_CREDS_STORAGE env variable (see '
     'documentation for details)."', "store-unsupported"),
    ('time="2026-11-27T09:14:27Z" level=error msg="Error creating ECR client" error="loading AWS config for '
     'us-east-1: operation error: unknown"', "aws-config"),
    ('time="2026-11-27T09:14:27Z" level=error msg="Error parsing the serverURL" error="docker-credential-ecr-login can '
     'only be used with Amazon Elastic Container Registry." serverURL=index.docker.io', "not-ecr"),
])
def test_lines_that_record_a_problem(line: str, cause: str) -> None:
    entry = parse_log_line(line)
    assert entry is not None
    found = classify(entry)
    assert found is not None and found.id == cause


def test_fallback_keeps_the_api_error_behind_it() -> None:
    entry = parse_log_line('time="2026-11-27T09:14:27Z" level=info msg="Got error fetching authorization token. '
                           f'Falling back to cached token." error={json.dumps(TLS)}')
    assert entry is not None
    cause = classify(entry)
    assert cause is not None and cause.underlying == "tls" and not cause.blocks_pull


@pytest.mark.parametrize("line", [
    'time="2026-11-27T09:14:27Z" level=debug msg="Could not fetch credentials for cache prefix, disabling cache" '
    'error="failed to refresh cached credentials, no EC2 IMDS role found"',  # the error line that follows says it
    'time="2026-11-27T09:14:27Z" level=debug msg="Using cached token" registry=123456789012',
])
def test_progress_lines_record_no_problem(line: str) -> None:
    entry = parse_log_line(line)
    assert entry is not None and classify(entry) is None


# -- requests ----------------------------------------------------------------------------------------------

def test_requests_are_grouped_from_their_cache_setup_to_their_result() -> None:
    when = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    lines = [NO_CREDS.replace("level=error msg=\"Error retrieving credentials\"",
                              "level=debug msg=\"Could not fetch credentials for cache prefix, disabling cache\"")]
    lines += logrus_request(when, IMDS_DOWN)[:1] + [NO_CREDS]  # no creds: the prelude, Retrieving, the error
    lines += logrus_request(when + timedelta(minutes=1))  # a success
    lines += logrus_request(when + timedelta(minutes=2))[:3]  # killed while waiting for the API
    lines += ['time="2026-11-27T09:03:00Z" level=error msg="Error parsing the serverURL" error="docker-credential-'
              'ecr-login can only be used with Amazon Elastic Container Registry." serverURL=index.docker.io']
    lines += ['time="2026-11-27T09:04:00Z" level=debug msg="Cache disabled due to AWS_ECR_DISABLE_CACHE"']
    lines += logrus_request(when + timedelta(minutes=4))[::2]  # Retrieving, Calling: no cache, no error
    requests = group_requests(parse_log("\n".join(lines)))
    assert [(r.outcome, r.cause.id if r.cause else None) for r in requests] == [
        ("failed", "imds-disabled"), ("success", None), ("unfinished", None), ("failed", "not-ecr"),
        ("success", None)]
    assert requests[0].registry == "123456789012" and requests[0].server_url == HOST
    assert requests[3].server_url == "index.docker.io" and requests[3].registry is None


# -- tails -----------------------------------------------------------------------------------------------

def test_tail_drops_the_partial_first_line_and_reads_appended_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ecr-login.log"
    path.write_text("first line\nsecond line\nthird line\n")
    tail = read_tail(path, max_bytes=15)
    assert tail.text == "third line\n" and tail.truncated
    size = path.stat().st_size
    with open(path, "a") as fh:
        fh.write("fourth line\n")
    assert read_tail(path, start=size).text == "fourth line\n"
    assert read_tail(path, end=size).text.endswith("third line\n")
    assert read_tail(path, start=10 ** 9).text.startswith("first line")  # the log was truncated since


def test_a_gibibyte_log_costs_only_its_tail_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "ecr-login.log"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)
        fh.seek(0, 2)
        fh.write(("\n".join(logrus_request(datetime.now(UTC))) + "\n").encode())
    tracemalloc.start()
    try:
        tail = read_tail(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024
    assert [r.outcome for r in group_requests(parse_log(tail.text))] == ["success"]


def test_missing_or_unreadable_logs_raise_one_error(tmp_path: Path) -> None:
    with pytest.raises(LogReadError) as missing:
        read_tail(tmp_path / "nope.log")
    assert missing.value.missing
    with pytest.raises(LogReadError) as directory:
        read_tail(tmp_path)
    assert directory.value.reason == "is a directory" and not directory.value.missing


# -- the binary --------------------------------------------------------------------------------------------

def test_executable_headers(tmp_path: Path) -> None:
    assert binary_kind(read_head(write_elf(tmp_path / "a", 183))).machine_name == "aarch64"
    assert binary_kind(read_head(write_elf(tmp_path / "b", 62))).machine == 62
    big_endian_s390x = b"\x7fELF\x02\x02\x01" + bytes(9) + b"\x00\x02\x00\x16"
    assert binary_kind(big_endian_s390x).machine_name == "s390x"
    assert binary_kind(b"#!/bin/sh\n").format == "script"
    assert binary_kind(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01").format == "mach-o"
    assert binary_kind(b"MZ\x90\x00").format == "pe"
    if os.path.exists("/usr/bin/docker-credential-ecr-login"):
        assert binary_kind(read_head(Path("/usr/bin/docker-credential-ecr-login"))).format == "elf"


@pytest.mark.parametrize("output, version", [
    ("amazon-ecr-credential-helper\nVersion:    0.6.0\nGit commit: 69c85dc\n", "0.6.0"),
    ("docker-credential-ecr-login (github.com/awslabs/amazon-ecr-credential-helper/ecr-login) 0.12.0\n", "0.12.0"),
    ("0.6.4\n", None),  # builds before 0.8: the docker-credential-helpers library's version
    (" (github.com/docker/docker-credential-helpers) v0.0.0+unknown\n", None),
])
def test_version_output(output: str, version: str) -> None:
    assert parse_helper_version(output) == version


# -- cache.json --------------------------------------------------------------------------------------------

def test_cache_entries_without_tokens() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    key = cache_key("us-east-1", "AKIAEXAMPLEKEY0WXYZ", "123456789012")
    text = json.dumps({"Registries": {key: cache_entry(now - timedelta(hours=2), now + timedelta(hours=10),
                                                       token="tok-never-kept")}, "Version": "1.0"})
    cache = parse_cache(text)
    (entry,) = cache.for_registry("123456789012", "us-east-1")
    assert entry.key_owner == "access key …WXYZ"
    assert entry.refresh_at == now + timedelta(hours=4)  # half of the 12 h window
    assert entry.state(now) == "fresh"
    assert entry.state(now + timedelta(hours=5)) == "stale" and entry.state(now + timedelta(hours=11)) == "expired"
    assert "tok-never-kept" not in repr(cache)
    assert cache.for_registry("123456789012", "eu-west-1") == []


def test_ecr_public_entries_and_account_keyed_entries() -> None:
    text = json.dumps({"Registries": {
        "ecr-public-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=": {"ExpiresAt": "2026-01-01T00:00:00Z",
                                                                   "RequestedAt": "2025-12-31T12:00:00Z",
                                                                   "Service": "ecr-public"}},
        "Version": "1.0"})
    (entry,) = parse_cache(text).for_registry(None, None, public=True)
    assert entry.service == "ecr-public" and entry.key_owner is None


@pytest.mark.parametrize("text, message", [
    ('{"Registries": {', "not valid JSON at line 1, column 17"),
    ("[]", "the top level is not an object"),
    ('{"Registries": [], "Version": "1.0"}', "'Registries' is not an object"),
    ('{"Registries": {"k": {"ExpiresAt": "soon"}}, "Version": "1.0"}', "cache entry 'k' has an unreadable ExpiresAt"),
    ('{"Registries": {}}', "'Version' is missing"),
])
def test_corrupt_caches_raise_cache_error(text: str, message: str) -> None:
    with pytest.raises(CacheError, match=message):
        parse_cache(text)


# -- fixes -------------------------------------------------------------------------------------------------

POLICY = "AmazonEC2ContainerRegistryReadOnly"


@pytest.mark.parametrize("principal, command", [
    ("arn:aws:sts::123456789012:assumed-role/node-role/i-0abc",
     f"aws iam attach-role-policy --role-name node-role --policy-arn arn:aws:iam::aws:policy/{POLICY}"),
    ("arn:aws-cn:iam::123456789012:user/ci/deployer",
     f"aws iam attach-user-policy --user-name deployer --policy-arn arn:aws-cn:iam::aws:policy/{POLICY}"),
])
def test_access_denied_fix_attaches_the_read_only_policy_to_the_principal(principal: str, command: str) -> None:
    cause = HelperCause("access-denied", "", principal=principal)
    assert fix_for(cause, FixFacts()).commands == (command,)


def test_imds_fixes_on_ec2() -> None:
    facts = FixFacts(region="eu-west-1", on_ec2=True, instance_id="i-0123456789abcdef0", proxy_set=True,
                     no_proxy="localhost")
    assert fix_for(HelperCause("imds-disabled", ""), facts).commands == ("unset AWS_EC2_METADATA_DISABLED",)
    assert fix_for(HelperCause("imds-unreachable", ""), facts).commands == (
        "aws ec2 modify-instance-metadata-options --region eu-west-1 --instance-id i-0123456789abcdef0 "
        "--http-endpoint enabled --http-put-response-hop-limit 2",
        "export NO_PROXY=169.254.169.254,169.254.170.2,localhost")


def test_tls_fix_names_aws_ca_bundle_when_it_replaces_the_trust_store() -> None:
    fix = fix_for(HelperCause("tls", ""), FixFacts(ca_bundle="/etc/pki/corp.pem"))
    assert fix.commands == ("unset AWS_CA_BUNDLE",) and "AWS_CA_BUNDLE=/etc/pki/corp.pem" in fix.text
    assert fix_for(HelperCause("tls", ""), FixFacts(os_id="amzn2023")).commands == (
        "sudo cp <proxy-root-ca>.pem /etc/pki/ca-trust/source/anchors/ && sudo update-ca-trust",)


def test_not_ecr_fix_moves_the_registry_from_credsstore_to_credhelpers(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "ecr-login", "auths": {}}))
    (command,) = fix_for(HelperCause("not-ecr", ""), FixFacts(host=HOST, config_path=str(config))).commands
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", os.defpath)}
    subprocess.run(["sh", "-c", command], env=env, check=True, timeout=10, capture_output=True)
    assert json.loads(config.read_text()) == {"auths": {}, "credHelpers": {HOST: "ecr-login"}}
