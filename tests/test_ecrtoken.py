"""ecrdoctor.ecrtoken: ECR tokens read offline, built exactly in the shape `aws ecr get-login-password` returns."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from ecrdoctor.ecrtoken import (
    TOKEN_LIFETIME,
    EcrTokenInfo,
    TokenError,
    decode_basic_auth,
    decode_ecr_auth,
    describe_expiry,
    format_duration,
    format_time,
    is_expired,
    time_left,
)

MARKER = "ecrtoken-secret-marker-Qp4x"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def ecr_password(expiration: Optional[Any], **extra: Any) -> str:
    """The password part of an ECR token: base64 of the token document, keys in the order AWS sends them."""
    doc: dict[str, Any] = {
        "payload": base64.b64encode(f"{MARKER}-ciphertext".encode() * 8).decode(),
        "datakey": "AQEBAHij" + base64.b64encode(f"{MARKER}-datakey".encode() * 4).decode(),
        "version": "2",
        "type": "DATA_KEY",
    }
    if expiration is not None:
        doc["expiration"] = expiration
    doc.update(extra)
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def ecr_auth(expiration: Optional[Any], **extra: Any) -> str:
    """What `docker login` stores in auths.<host>.auth: base64 of `AWS:<password>`."""
    return base64.b64encode(f"AWS:{ecr_password(expiration, **extra)}".encode()).decode()


def test_a_real_token_shape_starts_with_the_well_known_prefix() -> None:
    # every ECR login in a config.json starts like this (aws-side.md A3)
    assert ecr_auth(1702600189).startswith("QVdTOmV5SndZWGxzYjJGa0lqb2")


def test_expiry_of_a_token_from_get_login_password_is_read_offline() -> None:
    # the expiration of the published sample: 1702600189 = the API's expiresAt 2023-12-15T00:29:49.328Z
    token = decode_ecr_auth(ecr_auth(1702600189))
    assert token == EcrTokenInfo(is_ecr=True, expires_at=datetime(2023, 12, 15, 0, 29, 49, tzinfo=timezone.utc),
                                 version="2", kind="DATA_KEY")
    assert token.expires_at is not None and token.expires_at.tzinfo is timezone.utc
    assert token.expiry_known


def test_old_get_login_token_without_expiration_has_unknown_expiry_never_a_guess() -> None:
    token = decode_ecr_auth(ecr_auth(None))
    assert token.is_ecr and token.expires_at is None and not token.expiry_known
    assert time_left(token, NOW) is None
    assert is_expired(token, NOW) is None
    assert describe_expiry(token, NOW) == "expiry unknown (the token has no expiration field)"


@pytest.mark.parametrize(("offset", "expired", "words"), [
    pytest.param(timedelta(hours=-3, minutes=-2), True, "expired 2026-03-01 08:58 UTC (3 h 2 min ago)", id="expired"),
    pytest.param(timedelta(minutes=30), False, "expires 2026-03-01 12:30 UTC (in 30 min)", id="half_an_hour_left"),
    pytest.param(timedelta(hours=11), False, "expires 2026-03-01 23:00 UTC (in 11 h)", id="fresh_login"),
    pytest.param(timedelta(0), True, "expired 2026-03-01 12:00 UTC (0 s ago)", id="expiring_this_second"),
])
def test_time_left_and_expired_against_a_given_now(offset: timedelta, expired: bool, words: str) -> None:
    token = decode_ecr_auth(ecr_auth(int((NOW + offset).timestamp())))
    assert time_left(token, NOW) == offset
    assert is_expired(token, NOW) is expired
    assert describe_expiry(token, NOW) == words


def test_a_naive_now_is_taken_as_utc() -> None:
    token = decode_ecr_auth(ecr_auth(int(NOW.timestamp()) + 60))
    assert time_left(token, NOW.replace(tzinfo=None)) == timedelta(seconds=60)


def test_another_registrys_login_is_not_an_ecr_token() -> None:
    assert decode_ecr_auth(base64.b64encode(b"octocat:ghp_" + MARKER.encode()).decode()) == EcrTokenInfo(False)


@pytest.mark.parametrize("password", [
    pytest.param(MARKER, id="hand_typed_password"),
    pytest.param(base64.b64encode(b'{"no":"payload"}').decode(), id="json_without_payload"),
    pytest.param(base64.b64encode(b"[1,2]").decode(), id="json_array"),
    pytest.param(base64.b64encode(b"\xff\xfe").decode(), id="binary"),
])
def test_user_aws_with_a_password_that_is_not_a_token_document(password: str) -> None:
    token = decode_ecr_auth(base64.b64encode(f"AWS:{password}".encode()).decode())
    assert token == EcrTokenInfo(is_ecr=False)


def test_line_wrapped_and_unpadded_values_are_still_read() -> None:
    # `base64` without -w0 wraps at 76 columns; some tools drop the padding
    auth = ecr_auth(1702600189)
    wrapped = "\n".join(auth[i:i + 76] for i in range(0, len(auth), 76))
    assert decode_ecr_auth(wrapped).expires_at == decode_ecr_auth(auth.rstrip("=")).expires_at
    assert decode_ecr_auth(wrapped).expires_at is not None


@pytest.mark.parametrize("value", [
    pytest.param(MARKER + "!", id="not_base64"),
    pytest.param(base64.b64encode(MARKER.encode()).decode(), id="no_colon"),
    pytest.param("QVdTO", id="truncated"),
    pytest.param("", id="empty"),
    pytest.param("QVdTOm\u00e9V5", id="non_ascii"),
])
def test_garbage_raises_token_error_without_echoing_the_value(value: str) -> None:
    with pytest.raises(TokenError) as exc:
        decode_ecr_auth(value)
    assert MARKER not in str(exc.value) and (not value or value not in str(exc.value))


@pytest.mark.parametrize("expiration", [
    pytest.param("soon", id="a_word"),
    pytest.param(True, id="a_boolean"),
    pytest.param([1702600189], id="a_list"),
    pytest.param(-5, id="negative"),
    pytest.param(10 ** 30, id="beyond_year_9999"),
    pytest.param(float("inf"), id="infinity"),
])
def test_ecr_token_with_an_impossible_expiration_raises_token_error(expiration: Any) -> None:
    with pytest.raises(TokenError, match="expiration"):
        decode_ecr_auth(ecr_auth(expiration))


def test_expiration_written_as_a_numeric_string_is_accepted() -> None:
    assert decode_ecr_auth(ecr_auth("1702600189")).expires_at == datetime(2023, 12, 15, 0, 29, 49,
                                                                          tzinfo=timezone.utc)


def test_the_result_holds_nothing_secret() -> None:
    token = decode_ecr_auth(ecr_auth(1702600189))
    assert {f.name for f in dataclasses.fields(token)} == {"is_ecr", "expires_at", "version", "kind"}
    assert MARKER not in repr(token) and "AQEBAHij" not in repr(token)


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=40), "40 s"),
    (timedelta(minutes=29, seconds=59), "29 min"),
    (timedelta(hours=1), "1 h"),
    (timedelta(hours=11, minutes=59), "11 h 59 min"),
    (timedelta(days=2, hours=3, minutes=5), "2 d 3 h"),
    (timedelta(days=400), "400 d"),
    (-timedelta(hours=3), "3 h"),
])
def test_durations_read_like_a_person_says_them(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


def test_times_are_shown_in_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 3, 1, 13, 5, tzinfo=cet)) == "2026-03-01 12:05 UTC"
    assert timedelta(hours=12) == TOKEN_LIFETIME


def _mutations(rng: random.Random, base: str) -> str:
    chars = list(base)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rng.choice("A/+=:\n\x00é{}\"-_"))
        elif op == 2 and chars:
            chars[min(pos, len(chars) - 1)] = rng.choice("ABCxyz019+/=")
        else:
            chars = chars[:pos]
    return "".join(chars)


def _documents(rng: random.Random) -> str:
    values: list[Any] = [None, 0, 1, -1, 2 ** 63, 1.5, "1702600189", "", [], {}, True, "x" * 50, 1e308]
    doc: Any = {k: rng.choice(values) for k in rng.sample(["payload", "datakey", "version", "type", "expiration"],
                                                              rng.randint(0, 5))}
    if rng.random() < 0.1:
        doc = "[" * rng.randint(1, 5000) + "]" * rng.randint(0, 5000)  # deep nesting
        return base64.b64encode(b"AWS:" + base64.b64encode(doc.encode())).decode()
    password = base64.b64encode(json.dumps(doc).encode()).decode()
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def test_fuzzed_values_raise_only_token_error() -> None:
    rng = random.Random(20260301)
    seeds = [ecr_auth(1702600189), ecr_auth(None), base64.b64encode(b"me:pat").decode()]
    for i in range(4000):
        if i % 3 == 0:
            value = _documents(rng)
        elif i % 3 == 1:
            value = _mutations(rng, rng.choice(seeds))
        else:
            value = base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.randrange(64)))).decode()
        try:
            token = decode_ecr_auth(value)
        except TokenError:
            continue
        assert isinstance(token, EcrTokenInfo)
        assert token.expires_at is None or token.expires_at.tzinfo is not None


def test_basic_auth_strict_as_the_ecs_agent_and_lenient_as_docker() -> None:
    auth = base64.b64encode(b"AWS:p?w>").decode()  # "QVdTOnA/dz4=": padding and the standard alphabet
    assert decode_basic_auth(auth, strict=True) == ("AWS", "p?w>")
    for variant in (auth.rstrip("="), auth.replace("/", "_")):
        assert decode_basic_auth(variant) == ("AWS", "p?w>")
        with pytest.raises(TokenError):
            decode_basic_auth(variant, strict=True)
