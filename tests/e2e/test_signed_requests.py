"""Signed merchant requests over HTTP (API.md, Authentication): missing, malformed, stale and
wrong signatures are `401 authentication_failed` saying which; rotation keeps the old secret
valid only as long as asked; command-line changes reach the running gateway within the key
cache's time to live (`durations.key_cache_ttl`, 200 ms in the test profile)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta

from gateway.core.secrets import Purpose
from gateway.events.signing import (
    SIGNATURE_HEADER,
    compute_signature,
    request_content,
    sign_request,
    signature_header,
)
from gateway.merchants import admin
from tests.e2e._receiver import database, secret_box
from tests.e2e.conftest import Answer, Gateway
from tests.support.waiting import eventually

QUOTE = json.dumps({"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"})


async def _send(
    gateway: Gateway,
    method: str,
    path: str,
    *,
    secrets: Sequence[str] = (),
    header: str | None = None,
    body: bytes = b"",
    signed_body: bytes | None = None,
    signed_target: str | None = None,
    skew: int = 0,
    key: str = "th_pos",
    idempotency_key: str | None = None,
) -> Answer:
    """Send a request signed with each of `secrets` (or with `header` as given)."""
    t = int(time.time()) + skew
    if header is None and secrets:
        content = request_content(
            t, method, signed_target or path, body if signed_body is None else signed_body
        )
        header = signature_header(t, [compute_signature(s, content) for s in secrets])
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = header
    return await gateway.request(
        method,
        path,
        key=key,
        data=body or None,
        headers=headers,
        idempotency_key=idempotency_key,
    )


async def _enable(gateway: Gateway, merchant: str = "th") -> str:
    async with database(gateway.settings.database.url) as db:
        secret = await admin.enable_signing(
            db, secret_box(gateway), merchant_id=gateway.merchants[merchant]
        )
    assert secret is not None and secret.startswith("gsk_")
    return secret


async def _until(gateway: Gateway, status: int, secrets: Sequence[str] = ()) -> Answer:
    """Repeat a request until it gets `status`: changes reach the key cache within its TTL."""
    last: list[Answer] = []

    async def check() -> bool:
        last[:] = [await _send(gateway, "GET", "/v1/payments?limit=5", secrets=secrets)]
        return last[0].status == status

    assert await eventually(check, timeout=3), last[0].body
    return last[0]


def _message(answer: Answer) -> str:
    assert (answer.status, answer.error) == (401, "authentication_failed"), answer.body
    return str(answer.body["error"]["message"])


async def test_a_signing_merchant_must_sign_every_request(gateway: Gateway) -> None:
    assert (await _send(gateway, "GET", "/v1/payments")).status == 200  # warms the key cache
    secret = await _enable(gateway)
    missing = await _until(gateway, 401)  # the cached key sees the change within the TTL
    assert "missing" in _message(missing)

    ok = await _send(gateway, "GET", "/v1/payments?limit=5", secrets=[secret])
    assert ok.status == 200, ok.body

    no_query = await _send(
        gateway, "GET", "/v1/payments?limit=5", secrets=[secret], signed_target="/v1/payments"
    )
    assert "wrong" in _message(no_query)  # the query string is part of the signed target
    for header in ("t=12,v1=zz", "v1=" + "a" * 64, "t=abc,v1=" + "a" * 64, "nonsense"):
        assert "malformed" in _message(
            await _send(gateway, "GET", "/v1/payments", header=header)
        ), header
    assert "stale" in _message(
        await _send(gateway, "GET", "/v1/payments", secrets=[secret], skew=-400)
    )
    assert "stale" in _message(
        await _send(gateway, "GET", "/v1/payments", secrets=[secret], skew=+400)
    )
    assert (await _send(gateway, "GET", "/v1/payments", secrets=[secret], skew=-250)).status == 200
    assert "wrong" in _message(
        await _send(gateway, "GET", "/v1/payments", secrets=["gsk_" + "x" * 43])
    )
    # Keys of other merchants are not affected; the operator's carry no signature.
    assert (await _send(gateway, "GET", "/v1/payments", key="jp_pos")).status == 200
    assert (await _send(gateway, "GET", "/v1/payments", key="operator")).status == 200


async def test_the_raw_body_is_what_is_signed(gateway: Gateway) -> None:
    secret = await _enable(gateway)
    await _until(gateway, 401)
    body = QUOTE.encode()
    created = await _send(
        gateway, "POST", "/v1/fx/quotes", secrets=[secret], body=body, idempotency_key="q1"
    )
    assert created.status == 201, created.body
    # The same JSON with other bytes (spacing) is another body: the signature does not match.
    respaced = json.dumps(json.loads(QUOTE), indent=1).encode()
    tampered = await _send(
        gateway,
        "POST",
        "/v1/fx/quotes",
        secrets=[secret],
        body=respaced,
        signed_body=body,
        idempotency_key="q2",
    )
    assert "wrong" in _message(tampered)
    # The signer's own helper produces what the gateway expects.
    t = int(time.time())
    header = sign_request(secret, "POST", "/v1/fx/quotes", body, t)
    helper = await _send(
        gateway, "POST", "/v1/fx/quotes", header=header, body=body, idempotency_key="q3"
    )
    assert helper.status == 201, helper.body


async def test_rotation(gateway: Gateway) -> None:
    old = await _enable(gateway)
    await _until(gateway, 401)
    async with database(gateway.settings.database.url) as db:
        graced = await admin.rotate_secret(
            db,
            secret_box(gateway),
            merchant_id=gateway.merchants["th"],
            purpose=Purpose.SIGNING,
            keep_previous=timedelta(hours=1),
        )
    await _until(gateway, 200, secrets=[graced])
    for secrets in ([old], [graced], [old, graced], [graced, old]):
        assert (await _send(gateway, "GET", "/v1/payments", secrets=secrets)).status == 200

    async with database(gateway.settings.database.url) as db:
        newest = await admin.rotate_secret(
            db,
            secret_box(gateway),
            merchant_id=gateway.merchants["th"],
            purpose=Purpose.SIGNING,
        )
    await _until(gateway, 401, secrets=[graced])  # no grace this time: the old one is refused
    assert "wrong" in _message(await _send(gateway, "GET", "/v1/payments", secrets=[old]))
    assert (await _send(gateway, "GET", "/v1/payments", secrets=[newest])).status == 200
    # Several v1 values: valid if any matches (an SDK sending old and new during its switch).
    both = await _send(gateway, "GET", "/v1/payments", secrets=[graced, newest])
    assert both.status == 200


async def test_disabled_signing_still_checks_a_signature_sent(gateway: Gateway) -> None:
    secret = await _enable(gateway)
    await _until(gateway, 401)
    async with database(gateway.settings.database.url) as db:
        await admin.disable_signing(db, merchant_id=gateway.merchants["th"])
    await _until(gateway, 200)  # unsigned requests are accepted again
    assert "wrong" in _message(
        await _send(gateway, "GET", "/v1/payments", secrets=["gsk_" + "y" * 43])
    )
    assert (await _send(gateway, "GET", "/v1/payments", secrets=[secret])).status == 200
    # A merchant that never had a secret: no signature can match.
    stray = await _send(gateway, "GET", "/v1/payments", key="jp_pos", secrets=[secret])
    assert "wrong" in _message(stray)
