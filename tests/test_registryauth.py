"""Pure parsing of registry answers: challenges, error bodies, docker's wording, manifests and S3 errors.

The inputs are the answers real registries give: ECR's (aws-side.md A1, A3, A5; older ECR's bare JSON string from
amazon-ecr-credential-helper#7), distribution 2.8's (feasibility.md §3), Docker Hub's Bearer challenge, S3's XML."""

from __future__ import annotations

import json

import pytest

from ecrdoctor.registryauth import (
    ECR_SERVICE,
    EXPIRED_MESSAGE,
    ChallengeError,
    ChildManifest,
    ManifestError,
    RegistryError,
    classify_login,
    classify_manifest,
    manifest_blobs,
    parse_challenges,
    parse_error_body,
    parse_s3_error,
    status_text,
)

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
URL = f"https://{HOST}/v2/"
NAME = f"{HOST}/team/app"


def errors(code: str, message: str, detail: object = None) -> str:
    e: dict[str, object] = {"code": code, "message": message}
    if detail is not None:
        e["detail"] = detail
    return json.dumps({"errors": [e]})


# -- challenges --------------------------------------------------------------------------------------------

def test_ecr_challenge_is_basic_with_the_ecr_service() -> None:
    (c,) = parse_challenges(f'Basic realm="https://{HOST}/",service="ecr.amazonaws.com"')
    assert (c.scheme, c.realm, c.service, c.is_ecr) == ("basic", f"https://{HOST}/", ECR_SERVICE, True)


def test_distribution_htpasswd_challenge_is_basic_without_a_service() -> None:
    (c,) = parse_challenges('Basic realm="basic-realm"')
    assert (c.scheme, c.realm, c.service, c.is_ecr) == ("basic", "basic-realm", None, False)


def test_docker_hub_bearer_challenge_keeps_every_parameter() -> None:
    (c,) = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                            'scope="repository:library/nginx:pull"')
    assert c.scheme == "bearer" and not c.is_ecr
    assert dict(c.params) == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                              "scope": "repository:library/nginx:pull"}


def test_several_challenges_in_one_header_with_spaces_and_case() -> None:
    found = parse_challenges('BASIC Realm = "r1" , service=ecr.amazonaws.com, Bearer realm="r2", Negotiate')
    assert [(c.scheme, dict(c.params)) for c in found] == [
        ("basic", {"realm": "r1", "service": "ecr.amazonaws.com"}), ("bearer", {"realm": "r2"}), ("negotiate", {})]
    assert found[0].is_ecr


def test_token68_and_escaped_quotes() -> None:
    (c,) = parse_challenges("Negotiate YIIB4wYJKoZIhvcSAQICAQBuggHS==")
    assert c.token68 == "YIIB4wYJKoZIhvcSAQICAQBuggHS=="
    (d,) = parse_challenges(r'Basic realm="say \"hi\""')
    assert d.realm == 'say "hi"'


@pytest.mark.parametrize("header", ["", "   ", 'Basic realm="unterminated', '"quoted"', "Basic realm=a b=c"])
def test_malformed_challenges_raise_one_error(header: str) -> None:
    with pytest.raises(ChallengeError):
        parse_challenges(header)


# -- error bodies ------------------------------------------------------------------------------------------

def test_ecr_expired_token_body_in_dockers_words() -> None:
    (e,) = parse_error_body(errors("DENIED", EXPIRED_MESSAGE))
    assert e == RegistryError("DENIED", EXPIRED_MESSAGE)
    assert e.docker_text == f"denied: {EXPIRED_MESSAGE}"


def test_distribution_error_with_detail() -> None:
    (e,) = parse_error_body(errors("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "missing"}))
    assert e.docker_text == "manifest unknown: manifest unknown"
    assert e.detail == '{"Tag": "missing"}'


def test_old_ecr_body_is_a_bare_json_string() -> None:
    old = "Your Authorization Token has expired. Please run 'aws ecr get-login' to fetch a new one."
    (e,) = parse_error_body(json.dumps(old))
    assert e == RegistryError("", old) and e.docker_text == old


def test_plain_text_and_html_bodies_are_quoted_briefly() -> None:
    assert parse_error_body("Not Authorized\n") == (RegistryError("", "Not Authorized"),)
    (page,) = parse_error_body("<html><head><title>403</title></head><body><h1>Blocked</h1>" + "x" * 900 + "</body>")
    assert page.message.startswith("403 Blocked") and len(page.message) <= 300


@pytest.mark.parametrize("body", ["", "  \n", '{"errors": []}'])
def test_empty_bodies_have_no_errors(body: str) -> None:
    assert parse_error_body(body) == ()


def test_json_that_is_not_an_error_document_is_kept_as_text() -> None:
    assert parse_error_body('{"repositories": []}') == (RegistryError("", '{"repositories": []}'),)
    assert parse_error_body('{"errors": [1, {"code": "denied"}]}') == (RegistryError("DENIED", ""),)


# -- GET /v2/ with credentials -----------------------------------------------------------------------------

def test_200_is_accepted() -> None:
    assert classify_login(200, "{}", URL).kind == "accepted"


def test_400_is_a_token_of_another_region_in_docker_logins_words() -> None:
    v = classify_login(400, "", URL)
    assert v.kind == "other-region"
    assert v.docker_says == f"login attempt to {URL} failed with status: 400 Bad Request"


@pytest.mark.parametrize("status", [401, 403])
def test_expired_message_wins_over_the_status(status: int) -> None:
    v = classify_login(status, errors("DENIED", EXPIRED_MESSAGE), URL)
    assert v.kind == "expired" and v.docker_says == f"denied: {EXPIRED_MESSAGE}"


def test_refused_token_whose_own_expiry_passed_is_expired_even_without_words() -> None:
    v = classify_login(403, "", URL, token_expired=True)
    assert v.kind == "expired" and v.docker_says == f"denied: {EXPIRED_MESSAGE}"
    assert classify_login(401, "Not Authorized", URL, token_expired=False).kind == "rejected"


def test_401_and_403_and_others() -> None:
    v = classify_login(401, errors("UNAUTHORIZED", "authentication required"), URL)
    assert (v.kind, v.docker_says) == ("rejected", f"login attempt to {URL} failed with status: 401 Unauthorized")
    assert v.first is not None and v.first.docker_text == "unauthorized: authentication required"
    d = classify_login(403, errors("DENIED", "Not allowed"), URL)
    assert (d.kind, d.docker_says) == ("denied", "denied: Not allowed")
    assert classify_login(503, "", URL).docker_says == f"login attempt to {URL} failed with status: 503 Service " \
                                                       "Unavailable"
    assert classify_login(503, "", URL).kind == "unexpected"


# -- manifests -----------------------------------------------------------------------------------------------

def test_found_manifest_reads_digest_and_media_type_from_the_head() -> None:
    v = classify_manifest(200, {"docker-content-digest": "sha256:" + "a" * 64,
                                "content-type": "application/vnd.oci.image.index.v1+json; charset=utf-8"}, "",
                          NAME, ":1.4")
    assert (v.kind, v.digest) == ("found", "sha256:" + "a" * 64)
    assert v.media_type == "application/vnd.oci.image.index.v1+json"


def test_missing_tag_in_dockers_words() -> None:
    v = classify_manifest(404, {}, errors("MANIFEST_UNKNOWN", "Requested image not found"), NAME, ":1.4")
    assert v.kind == "manifest-unknown"
    assert v.docker_says == f"manifest for {NAME}:1.4 not found: manifest unknown: Requested image not found"


def test_a_bodiless_404_to_a_head_is_manifest_unknown() -> None:
    v = classify_manifest(404, {}, "", NAME, "@sha256:" + "b" * 64)
    assert v.docker_says == f"manifest for {NAME}@sha256:{'b' * 64} not found: manifest unknown: manifest unknown"


def test_missing_repository_in_dockers_words() -> None:
    msg = "The repository with name 'team/app' does not exist in the registry with id '123456789012'"
    v = classify_manifest(404, {}, errors("NAME_UNKNOWN", msg), NAME, ":1.4")
    assert v.kind == "name-unknown"
    assert v.docker_says == f"repository {NAME} not found: name unknown: {msg}"


def test_iam_denial_in_dockers_words() -> None:
    msg = "User: arn:aws:sts::1:assumed-role/r/i is not authorized to perform: ecr:BatchGetImage on resource: x"
    v = classify_manifest(403, {}, errors("DENIED", msg), NAME, ":1.4")
    assert v.kind == "denied"
    assert v.docker_says == (f"pull access denied for {NAME}, repository does not exist or may require 'docker login':"
                             f" denied: {msg}")


def test_expired_token_on_the_manifest() -> None:
    v = classify_manifest(403, {}, errors("DENIED", EXPIRED_MESSAGE), NAME, ":1.4")
    assert v.kind == "expired" and v.docker_says.endswith(f"denied: {EXPIRED_MESSAGE}")


def test_403_without_a_code_is_containerds_unexpected_status() -> None:
    url = f"https://{HOST}/v2/team/app/manifests/1.4"
    v = classify_manifest(403, {}, "", NAME, ":1.4", url)
    assert (v.kind, v.docker_says) == ("denied", f"unexpected status from HEAD request to {url}: 403 Forbidden")


def test_401_and_server_errors() -> None:
    v = classify_manifest(401, {}, errors("UNAUTHORIZED", "authentication required"), NAME, ":1.4")
    assert (v.kind, v.docker_says) == ("unauthorized", "unauthorized: authentication required")
    t = classify_manifest(429, {}, errors("TOOMANYREQUESTS", "Rate exceeded"), NAME, ":1.4")
    assert (t.kind, t.docker_says) == ("unexpected", "toomanyrequests: Rate exceeded")
    assert classify_manifest(500, {}, "", NAME, ":1.4").docker_says == "500 Internal Server Error"


def test_status_text_completes_the_reason_phrase() -> None:
    assert status_text(400) == "400 Bad Request" and status_text(599) == "599"


def test_image_manifest_layers_in_order_without_duplicates() -> None:
    doc = {"schemaVersion": 2, "config": {"digest": "sha256:" + "c" * 64},
           "layers": [{"digest": "sha256:" + "1" * 64}, {"digest": "sha256:" + "2" * 64},
                      {"digest": "sha256:" + "1" * 64}, {"digest": "not a digest"}]}
    assert manifest_blobs(json.dumps(doc)).layers == ("sha256:" + "1" * 64, "sha256:" + "2" * 64)


def test_schema1_blob_sums() -> None:
    doc = {"schemaVersion": 1, "fsLayers": [{"blobSum": "sha256:" + "3" * 64}]}
    assert manifest_blobs(json.dumps(doc)).layers == ("sha256:" + "3" * 64,)


def test_index_children_mark_attestations() -> None:
    doc = {"manifests": [
        {"digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:" + "b" * 64, "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        {"digest": "bogus"}]}
    assert manifest_blobs(json.dumps(doc)).children == (
        ChildManifest("sha256:" + "a" * 64, "linux", "arm64", "v8", False),
        ChildManifest("sha256:" + "b" * 64, "unknown", "unknown", "", True))


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"layers": []}', '{"manifests": [{"digest": 1}]}',
                                  '{"schemaVersion": 2}', '{"layers": "x"}'])
def test_manifest_text_without_blobs_raises_one_error(text: str) -> None:
    with pytest.raises(ManifestError):
        manifest_blobs(text)


# -- S3 --------------------------------------------------------------------------------------------------------

def test_s3_access_denied_and_expired() -> None:
    denied = parse_s3_error('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
                            "<RequestId>X</RequestId></Error>")
    assert denied is not None and (denied.code, denied.message, denied.expired) == ("AccessDenied", "Access Denied",
                                                                                    False)
    expired = parse_s3_error("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
    assert expired is not None and expired.expired


def test_a_body_that_is_not_an_s3_error() -> None:
    assert parse_s3_error("<html>Blocked by proxy</html>") is None
    assert parse_s3_error("") is None
    assert parse_s3_error("<Error><Code>SlowDown</Code></Error>") is not None
