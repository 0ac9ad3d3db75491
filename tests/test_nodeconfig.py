"""ecrdoctor.nodeconfig: stored credentials in node configs (ECR token or not, expiry), and the token fixtures."""

from __future__ import annotations

import datetime
import time

import pytest

from ecrdoctor.ecrtoken import TokenError, ecr_password_expiry
from ecrdoctor.nodeconfig import describe_credential, describe_expiry
from tests.nodeconfig_fixtures import EXPIRED, MARKER, NOW, VALID, b64, ecr_auth, ecr_password

# --- ECR tokens ------------------------------------------------------------------------------------

def test_ecr_token_expiry_is_read_offline_from_the_password() -> None:
    assert ecr_password_expiry(ecr_password(VALID)) == datetime.datetime.fromtimestamp(int(VALID),
                                                                                     datetime.timezone.utc)


def test_get_login_era_token_without_expiration_has_unknown_expiry() -> None:
    assert ecr_password_expiry(ecr_password(None)) is None
    assert describe_expiry(None, NOW) == "expiry unknown (the token has no expiration field)"


@pytest.mark.parametrize("password", ["hunter2", b64("just text"), b64('{"no":"payload"}'), ""])
def test_plain_password_is_not_an_ecr_token(password: str) -> None:
    with pytest.raises(TokenError) as err:
        ecr_password_expiry(password)
    assert password == "" or password not in str(err.value)


def test_docker_auth_value_of_an_expired_login_is_described_without_the_secret() -> None:
    cred = describe_credential(auth=ecr_auth(EXPIRED))
    assert cred.is_ecr_token and cred.username == "AWS" and cred.expired(NOW)
    assert MARKER not in repr(cred)
    assert describe_expiry(cred.expires_at, NOW) == "expired 2026-11-27 11:00 UTC (1 h ago)"
    assert describe_expiry(describe_credential("AWS", ecr_password(VALID)).expires_at, NOW).endswith("(in 5 h)")


def test_auth_that_is_not_base64_is_not_a_token() -> None:
    assert not describe_credential(auth="not base64!").is_ecr_token


def test_token_builder_is_the_real_shape() -> None:
    """The fixtures' tokens decode the way research aws-side A3 describes real ones."""
    auth = ecr_auth(time.time())
    assert auth.startswith("QVdTOmV5SndZWGxzYjJGa0lqb2")  # base64("AWS:" + base64('{"payload":'))
