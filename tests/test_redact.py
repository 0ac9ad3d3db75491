"""Redaction of each secret kind SPEC §7 names, by shape and by value (including base64 forms)."""

from __future__ import annotations

import base64
import json

import pytest

from ecrdoctor.redact import MASK, Redactor, key_hint

MARK = "S3CRETMARKERx9"
ECR_PASSWORD = base64.b64encode(json.dumps(
    {"payload": MARK * 4, "datakey": "AQEBAHij" + MARK, "version": "2", "type": "DATA_KEY",
     "expiration": 1702600189}).encode()).decode()
ECR_AUTH = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("docker config auth", json.dumps({"auths": {"h": {"auth": ECR_AUTH}}})),
        ("docker config password", json.dumps({"auths": {"h": {"username": "AWS", "password": MARK}}})),
        ("identitytoken", json.dumps({"identitytoken": MARK})),
        ("registrytoken", json.dumps({"registrytoken": MARK})),
        ("helper Secret", json.dumps({"ServerURL": "h", "Username": "AWS", "Secret": MARK})),
        ("GetAuthorizationToken", json.dumps({"authorizationToken": MARK})),
        ("bare ECR token in a log line", f"time=x msg=\"using token\" token={ECR_AUTH}"),
        ("bare ECR password", f"password is {ECR_PASSWORD}"),
        ("AWS secret key in env", f"AWS_SECRET_ACCESS_KEY={MARK}"),
        ("AWS session token in ini", f"aws_session_token = {MARK}"),
        ("SecretAccessKey in JSON", json.dumps({"SecretAccessKey": MARK, "SessionToken": MARK})),
        ("Authorization header", f"Authorization: Basic {MARK}"),
        ("Authorization SigV4", f"authorization: AWS4-HMAC-SHA256 Credential={MARK}"),
        ("pre-signed URL", f"GET https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/a/b"
                           f"?X-Amz-Security-Token={MARK}&X-Amz-Signature={MARK} 200"),
        ("PEM private key", f"-----BEGIN RSA PRIVATE KEY-----\nMIIE{MARK}\n-----END RSA PRIVATE KEY-----"),
        ("PEM key cut off", f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl{MARK}"),
    ],
)
def test_each_secret_kind_is_masked_by_shape(kind: str, text: str) -> None:
    out = Redactor().text(text)
    assert MARK not in out, kind
    assert MASK in out, kind


def test_registered_values_are_masked_with_their_base64_forms() -> None:
    r = Redactor()
    r.add(MARK)
    for text in (MARK, base64.b64encode(MARK.encode()).decode(),
                 base64.b64encode(f"AWS:{MARK}".encode()).decode().rstrip("=")):
        assert MARK not in r.text(f"x {text} y") and text not in r.text(f"x {text} y")


def test_what_identifies_without_revealing_survives() -> None:
    text = "key AKIAIOSFODNN7EXAMPLE expires 2026-11-27T22:00:00Z for 123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert Redactor().text(text) == text
    assert key_hint("AKIAIOSFODNN7EXAMPLE") == "…MPLE"


def test_values_inside_nested_evidence_are_masked() -> None:
    r = Redactor([MARK])
    assert r.value({"a": [MARK, {"b": f"x{MARK}"}], "n": 3}) == {"a": [MASK, {"b": f"x{MASK}"}], "n": 3}
