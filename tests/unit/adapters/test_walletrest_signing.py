"""HMAC signing of WalletRest requests and answers: content, header format, freshness."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from adapters.walletrest.signing import (
    WalletRestCredentials,
    is_fresh,
    request_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)

SECRET = "whsec_" + "k" * 40
NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)


def test_request_content_is_timestamp_method_path_body() -> None:
    content = request_content("1795658400", "post", "/v1/payments", b'{"a":1}')
    assert content == b'1795658400.POST./v1/payments.{"a":1}'
    assert request_content("1", "GET", "/v1/payments/x", b"") == b"1.GET./v1/payments/x."


def test_response_content_is_timestamp_status_body() -> None:
    assert response_content("1795658400", 201, b"{}") == b"1795658400.201.{}"


def test_sign_is_hex_hmac_sha256_with_scheme() -> None:
    content = b"1.GET./x."
    expected = hmac.new(SECRET.encode(), content, hashlib.sha256).hexdigest()
    assert sign(SECRET, content) == f"v1={expected}"


def test_verify_accepts_the_signature_and_refuses_changes() -> None:
    content = response_content("1795658400", 200, b'{"status":"succeeded"}')
    header = sign(SECRET, content)
    assert verify(SECRET, content, header)
    assert not verify(SECRET, content + b" ", header)
    assert not verify(SECRET + "x", content, header)
    assert not verify(
        SECRET, response_content("1795658400", 201, b'{"status":"succeeded"}'), header
    )


@pytest.mark.parametrize(
    "header", [None, "", "v1=", "v0=abc", "nonsense", "v1=zz", "v2=" + "0" * 64, "v1=é"]
)
def test_verify_never_raises_on_bad_headers(header: str | None) -> None:
    assert not verify(SECRET, b"x", header)


def test_verify_accepts_any_of_several_values_during_rotation() -> None:
    content = b"1.200.{}"
    header = f"v1={'0' * 64}, {sign(SECRET, content)}"
    assert verify(SECRET, content, header)


@pytest.mark.parametrize(
    ("timestamp", "fresh"),
    [
        (timestamp_of(NOW), True),
        (str(int(NOW.timestamp()) - 300), True),
        (str(int(NOW.timestamp()) + 300), True),
        (str(int(NOW.timestamp()) - 301), False),
        (str(int(NOW.timestamp()) + 301), False),
        (None, False),
        ("", False),
        ("-1", False),
        ("1795658400.5", False),
        ("１７９５６５８４００", False),  # non-ASCII digits
        ("9" * 40, False),
    ],
)
def test_freshness(timestamp: str | None, fresh: bool) -> None:
    assert is_fresh(timestamp, NOW, 300) is fresh


def test_credentials_validate_and_never_show_secrets() -> None:
    credentials = WalletRestCredentials(api_key="sk_test_abc", signing_secret=SECRET)
    assert "sk_test_abc" not in repr(credentials) and SECRET not in repr(credentials)
    with pytest.raises(ValueError, match="signing_secret"):
        WalletRestCredentials(api_key="sk_test_abc", signing_secret="short")
    with pytest.raises(ValueError, match="api_key"):
        WalletRestCredentials(api_key="sk test", signing_secret=SECRET)
