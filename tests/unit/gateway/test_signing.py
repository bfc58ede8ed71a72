"""`Gateway-Signature` for webhooks and merchant requests: known vectors (computed with
`openssl dgst -sha256 -hmac`), parsing, tolerance both ways, several `v1=` values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from gateway.events.signing import (
    SignatureError,
    SignatureProblem,
    parse_signature_header,
    request_content,
    sign_request,
    sign_webhook,
    verify_request,
    verify_webhook,
    webhook_content,
)

T = 1_700_000_000
AT_T = datetime.fromtimestamp(T, UTC)
WEBHOOK_SECRET = "whsec_test_secret"
SIGNING_SECRET = "gsk_test_secret"
BODY = b'{"id":"evt_1","type":"payment.succeeded"}'

# printf '%s' '1700000000.{"id":"evt_1","type":"payment.succeeded"}' \
#   | openssl dgst -sha256 -hmac whsec_test_secret -hex
WEBHOOK_VECTOR = "0a731970e30844c135c2ba545c0b030783248e5151afff97d4b4cac22ffa7321"
# printf '%s' '1700000000.POST /v1/payments?limit=5.{"a":1}' | openssl dgst ... gsk_test_secret
POST_VECTOR = "a3d8f16358901bea4c876be8d65cc850aca1c8e0d61189244c935c9aa5e52d6c"
# printf '%s' '1700000000.GET /v1/events?type=refund.succeeded.' | openssl dgst ... gsk_test_secret
GET_VECTOR = "ce73dcde7a884d235a07fec4502d2af06f07e9c8df44c9b843ba66b7c70088e1"


def test_known_vectors() -> None:
    assert sign_webhook([WEBHOOK_SECRET], BODY, T) == f"t={T},v1={WEBHOOK_VECTOR}"
    assert sign_request(SIGNING_SECRET, "POST", "/v1/payments?limit=5", b'{"a":1}', T) == (
        f"t={T},v1={POST_VECTOR}"
    )
    assert sign_request(SIGNING_SECRET, "get", "/v1/events?type=refund.succeeded", b"", T) == (
        f"t={T},v1={GET_VECTOR}"
    )
    assert webhook_content(T, b"{}") == b"1700000000.{}"
    assert request_content(T, "post", "/v1/x?y=1", b"{}") == b"1700000000.POST /v1/x?y=1.{}"


def test_verify_accepts_the_vectors() -> None:
    header = f"t={T},v1={WEBHOOK_VECTOR}"
    assert verify_webhook(header, [WEBHOOK_SECRET], BODY, now=AT_T) == T
    post = f"t={T},v1={POST_VECTOR}"
    assert (
        verify_request(
            post,
            [SIGNING_SECRET],
            method="POST",
            target="/v1/payments?limit=5",
            body=b'{"a":1}',
            now=AT_T,
        )
        == T
    )
    # Upper-case hex and spaces after commas are read too; unknown schemes are ignored.
    loose = f"t={T}, v0=abc, v1={WEBHOOK_VECTOR.upper()}"
    assert verify_webhook(loose, [WEBHOOK_SECRET], BODY, now=AT_T) == T


def _problem(
    header: str | None,
    *,
    secrets: Sequence[str] = (WEBHOOK_SECRET,),
    body: bytes = BODY,
    now: datetime = AT_T,
) -> SignatureProblem:
    with pytest.raises(SignatureError) as caught:
        verify_webhook(header, secrets, body, now=now)
    assert caught.value.problem.value in caught.value.message  # the message says which
    return caught.value.problem


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing(header: str | None) -> None:
    assert _problem(header) is SignatureProblem.MISSING


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"v1={WEBHOOK_VECTOR}",  # no timestamp
        f"t={T}",  # no signature
        f"t={T},t={T},v1={WEBHOOK_VECTOR}",  # two timestamps
        f"t=-5,v1={WEBHOOK_VECTOR}",
        f"t=1.5,v1={WEBHOOK_VECTOR}",
        f"t=١٢٣,v1={WEBHOOK_VECTOR}",  # non-ASCII digits
        f"t={T},v1={WEBHOOK_VECTOR[:-1]}",  # too short
        f"t={T},v1={WEBHOOK_VECTOR[:-1]}g",  # not hex
        f"t={T}," + ",".join([f"v1={WEBHOOK_VECTOR}"] * 9),  # too many
        f"t={T},v1={WEBHOOK_VECTOR}," + "x" * 3000,
    ],
)
def test_malformed(header: str) -> None:
    assert _problem(header) is SignatureProblem.MALFORMED
    with pytest.raises(SignatureError):
        parse_signature_header(header)


def test_tolerance_is_both_ways_and_inclusive() -> None:
    header = sign_webhook([WEBHOOK_SECRET], BODY, T)
    for offset in (300, -300):
        now = AT_T + timedelta(seconds=offset)
        assert verify_webhook(header, [WEBHOOK_SECRET], BODY, now=now) == T
    for offset in (301, -301):
        assert _problem(header, now=AT_T + timedelta(seconds=offset)) is SignatureProblem.STALE
    tight = timedelta(seconds=10)
    with pytest.raises(SignatureError):
        verify_webhook(
            header, [WEBHOOK_SECRET], BODY, now=AT_T + timedelta(seconds=11), tolerance=tight
        )


def test_wrong_secret_body_or_target() -> None:
    header = sign_webhook([WEBHOOK_SECRET], BODY, T)
    assert _problem(header, secrets=["whsec_other"]) is SignatureProblem.WRONG
    assert _problem(header, body=BODY + b" ") is SignatureProblem.WRONG
    assert _problem(header, secrets=[]) is SignatureProblem.WRONG
    signed = sign_request(SIGNING_SECRET, "GET", "/v1/payments?limit=5", b"", T)
    for method, target in (("GET", "/v1/payments"), ("POST", "/v1/payments?limit=5")):
        with pytest.raises(SignatureError) as caught:
            verify_request(
                signed, [SIGNING_SECRET], method=method, target=target, body=b"", now=AT_T
            )
        assert caught.value.problem is SignatureProblem.WRONG


def test_rotation_several_secrets_and_signatures() -> None:
    old, new = "whsec_old", "whsec_new"
    both = sign_webhook([new, old], BODY, T)
    assert both.count("v1=") == 2
    for receiver_knows in ([old], [new], [old, new]):
        assert verify_webhook(both, receiver_knows, BODY, now=AT_T) == T
    only_new = sign_webhook([new], BODY, T)
    assert _problem(only_new, secrets=[old]) is SignatureProblem.WRONG
    # A merchant sending old and new while the gateway holds either.
    target = "/v1/payments"
    two = (
        sign_request("gsk_a", "GET", target, b"", T)
        + ",v1="
        + (sign_request("gsk_b", "GET", target, b"", T).split("v1=")[1])
    )
    for held in (["gsk_a"], ["gsk_b"]):
        assert verify_request(two, held, method="GET", target=target, body=b"", now=AT_T) == T
