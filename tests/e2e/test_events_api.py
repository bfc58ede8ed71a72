"""The events API over HTTP: roles, another merchant's event is 404, paging, redelivery's
idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.events.model import EventType
from gateway.merchants import admin
from tests.e2e._receiver import Receiver, database, insert_events, running_receiver, secret_box
from tests.e2e.conftest import Gateway


@pytest.fixture
async def events(gateway: Gateway) -> dict[str, list[str]]:
    """Five TH events (three payment.succeeded, two refund.succeeded) and one JP event."""
    url = gateway.settings.database.url
    th = gateway.merchants["th"]
    made = await insert_events(url, th, count=3)
    made += await insert_events(url, th, count=2, event_type=EventType.REFUND_SUCCEEDED)
    return {"th": made, "jp": await insert_events(url, gateway.merchants["jp"])}


@pytest.fixture
async def endpoint(gateway: Gateway) -> AsyncIterator[Receiver]:
    async with (
        running_receiver(Receiver()) as receiver,
        database(gateway.settings.database.url) as db,
    ):
        secret = await admin.set_webhook(
            db, secret_box(gateway), merchant_id=gateway.merchants["th"], url=receiver.url
        )
        assert secret is not None
        receiver.secrets = [secret]
        yield receiver


async def test_get_by_role_and_merchant(gateway: Gateway, events: dict[str, list[str]]) -> None:
    event_id = events["th"][0]
    for key in ("th_pos", "th_finance", "operator"):
        answer = await gateway.request("GET", f"/v1/events/{event_id}", key=key)
        assert answer.status == 200, (key, answer.body)
        assert answer.body["id"] == event_id and answer.body["object"] == "event"
        assert answer.body["type"] == "payment.succeeded"
        assert set(answer.body["delivery"]) == {
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_error",
        }
    other = await gateway.request("GET", f"/v1/events/{event_id}", key="jp_pos")
    assert (other.status, other.error) == (404, "not_found")
    unknown = await gateway.request("GET", "/v1/events/evt_nope")
    assert (unknown.status, unknown.error) == (404, "not_found")
    anonymous = await gateway.request("GET", f"/v1/events/{event_id}", key=None)
    assert (anonymous.status, anonymous.error) == (401, "authentication_failed")


async def test_list_is_the_merchants_own_newest_first(
    gateway: Gateway, events: dict[str, list[str]]
) -> None:
    answer = await gateway.request("GET", "/v1/events?limit=100", key="th_finance")
    assert answer.status == 200
    assert answer.body["object"] == "list" and answer.body["has_more"] is False
    ids = [e["id"] for e in answer.body["data"]]
    assert ids == sorted(events["th"], reverse=True)

    refunds = await gateway.request("GET", "/v1/events?type=refund.succeeded&limit=100")
    assert [e["id"] for e in refunds.body["data"]] == sorted(events["th"][3:], reverse=True)
    assert {e["type"] for e in refunds.body["data"]} == {"refund.succeeded"}

    everyone = await gateway.request("GET", "/v1/events?limit=100", key="operator")
    seen = {e["id"] for e in everyone.body["data"]}
    assert set(events["th"]) | set(events["jp"]) <= seen


async def test_paging(gateway: Gateway, events: dict[str, list[str]]) -> None:
    pages: list[list[str]] = []
    after = ""
    while True:
        answer = await gateway.request("GET", f"/v1/events?limit=2{after}")
        assert answer.status == 200
        pages.append([e["id"] for e in answer.body["data"]])
        if not answer.body["has_more"]:
            break
        after = f"&starting_after={pages[-1][-1]}"
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for page in pages for i in page] == sorted(events["th"], reverse=True)


@pytest.mark.parametrize(
    ("query", "param"),
    [("?color=red", "color"), ("?type=payment.exploded", "type"), ("?limit=0", "limit")],
)
async def test_bad_list_queries(gateway: Gateway, query: str, param: str) -> None:
    answer = await gateway.request("GET", f"/v1/events{query}")
    assert (answer.status, answer.error) == (400, "invalid_request")
    assert answer.body["error"]["param"] == param


async def test_redeliver_roles_and_input(
    gateway: Gateway, events: dict[str, list[str]], endpoint: Receiver
) -> None:
    path = f"/v1/events/{events['th'][0]}/redeliver"
    finance = await gateway.request("POST", path, key="th_finance", json={}, idempotency_key="a")
    assert (finance.status, finance.error) == (403, "forbidden")
    other = await gateway.request("POST", path, key="jp_pos", json={}, idempotency_key="a")
    assert (other.status, other.error) == (404, "not_found")
    no_key = await gateway.request("POST", path, json={})
    assert (no_key.status, no_key.error) == (400, "idempotency_key_missing")
    extra = await gateway.request("POST", path, json={"force": True}, idempotency_key="b")
    assert (extra.status, extra.error) == (400, "invalid_request")
    assert extra.body["error"]["param"] == "force"
    empty = await gateway.request("POST", path, idempotency_key="c")  # no body at all: `{}`
    assert empty.status == 202, empty.body
    operator = await gateway.request("POST", path, key="operator", json={}, idempotency_key="c")
    assert operator.status == 202  # an operator's keys have a scope of their own
    assert "Idempotent-Replayed" not in operator.headers


async def test_redeliver_is_idempotent(
    gateway: Gateway, events: dict[str, list[str]], endpoint: Receiver
) -> None:
    first_path = f"/v1/events/{events['th'][0]}/redeliver"
    first = await gateway.request("POST", first_path, json={}, idempotency_key="once")
    assert first.status == 202 and first.body["delivery"]["status"] == "pending"
    again = await gateway.request("POST", first_path, json={}, idempotency_key="once")
    assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == first.body  # the first answer, not the current state
    elsewhere = f"/v1/events/{events['th'][1]}/redeliver"
    reused = await gateway.request("POST", elsewhere, json={}, idempotency_key="once")
    assert (reused.status, reused.error) == (409, "idempotency_key_reused")
