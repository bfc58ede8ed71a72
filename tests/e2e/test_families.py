"""One behavioural suite for both partner protocol families (issue #4): every test code of API.md's
"Sandbox partners and test codes" table, through the gateway, once per family.

- family `alipayplus`: a Thai merchant (THB) whose first partner is th-siampay (Alipay+); Thailand
  has a second partner, th-krungpay (WalletRest), so fail-over (and the lack of it) shows too;
- family `walletrest`: a Philippine merchant (PHP) whose only partner is ph-bayadpay (WalletRest).

Every payment uses an alipay_cn code (the tourist pays in CNY), so FX is exercised: each payer
amount is recomputed here with Decimal from the ECB file and API.md's formulas, independently of
`fx`. What each sandbox charged is read from its ledger: Alipay+ writes amounts as minor-unit
strings, WalletRest as major-unit decimal strings.

The test codes take seconds of sandbox time (holds, confirmations, inquiry deadlines), so one
gateway per database takes all the payments at once, up front, and each test then checks its own.
They cannot disturb each other: a payment's charges are found by its partner request ids, and no
partner sees enough consecutive failures (at most two: 0500 and 0503) to open its breaker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

import fx
from fx import default_ecb_file
from gateway.core.config import Settings
from gateway.sandboxes import sandbox_environment, start_sandboxes
from tests.e2e.conftest import Answer, Gateway, code, start_gateway_app, with_partner_urls
from tests.e2e.conftest import test_settings as settings_for  # (not collected as a test)
from tests.support.families import MERCHANT_FAMILIES as FAMILIES
from tests.support.families import MerchantFamily as Family
from tests.support.seeding import SHOPS, seed

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALIPAY_CN = "28"  # pays in CNY
VALUE = 125050  # 1,250.50 in the merchant currency (THB or PHP, both exponent 2)
MARKUP_BPS = 150  # configs/gateway.toml [fx] markup_bps
EXPONENTS = {"THB": 2, "PHP": 2, "CNY": 2}


def ledger_money(protocol: str, value: str, currency: str) -> fx.Money:
    """A sandbox ledger amount as Money: Alipay+ writes minor units, WalletRest major units."""
    if protocol == "alipayplus":
        return fx.from_minor_str(value, currency)  # "24352" CNY is 243.52 CNY
    assert protocol == "walletrest", protocol
    return fx.from_major_str(value, currency)  # "243.52" CNY


SECOND_TH_PARTNER = "th-krungpay"  # priority 20 in Thailand: after th-siampay
CODES = ("0000", "0051", "0059", "0054", "0091", "0092", "0093", "0094", "0500", "0503")


@dataclasses.dataclass
class Run:
    """One payment: what POST answered, its final state and its partner attempts."""

    family: Family
    last4: str
    reference: str
    answer: Answer
    final: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def payment(self) -> dict[str, Any]:
        assert self.final is not None, self.answer.body
        return self.final


@dataclasses.dataclass
class Scene:
    gateway: Gateway
    runs: dict[tuple[str, str], Run]

    def run(self, family: str, last4: str) -> Run:
        return self.runs[(family, last4)]

    def charges(self, partner: str, partner_request_id: str) -> list[fx.Money]:
        """What the partner's sandbox charged for this partner request id."""
        protocol = self.gateway.settings.partner(partner).protocol
        return [
            ledger_money(protocol, e.amount.value, e.amount.currency)
            for e in self.gateway.ledger(partner).entries
            if e.kind == "charge" and e.payment_request_id == partner_request_id
        ]


# --- FX, recomputed from the ECB file and API.md ---------------------------------------------


def _significant(value: Decimal, digits: int = 10) -> Decimal:
    return Context(prec=digits, rounding=ROUND_HALF_UP).plus(value)


def ecb_rate(merchant_currency: str, payer_currency: str) -> Decimal:
    """API.md: mid (10 significant digits, crossed through EUR) × (1 + markup), 10 digits."""
    tree = ET.parse(default_ecb_file())
    per_eur = {
        cube.attrib["currency"]: Decimal(cube.attrib["rate"])
        for cube in tree.iter()
        if cube.tag.endswith("Cube") and "currency" in cube.attrib
    }
    exact = Context(prec=60)
    mid = _significant(exact.divide(per_eur[payer_currency], per_eur[merchant_currency]))
    return _significant(mid * (1 + Decimal(MARKUP_BPS) / 10_000))


def payer_value(value: int, rate: str, merchant_currency: str, payer_currency: str) -> int:
    """round_half_up(value × rate × 10^(e_payer − e_merchant))."""
    shift = EXPONENTS[payer_currency] - EXPONENTS[merchant_currency]
    exact = Decimal(value) * Decimal(rate) * Decimal(10) ** shift
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- one gateway per database, every payment taken up front ------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def _take(gateway: Gateway, family: Family, last4: str) -> Run:
    reference = f"FAM-{family.name}-{last4}-{secrets.token_hex(4)}"
    answer = await gateway.pay(
        code(ALIPAY_CN, last4), VALUE, family.currency, key=family.key, reference=reference
    )
    run = Run(family, last4, reference, answer)
    if answer.status == 201:
        path = f"/v1/payments/{answer.body['id']}"
        try:
            run.final = await gateway.wait_final(answer.body["id"], key=family.key)
        except AssertionError:  # still processing: only the tests of this payment fail
            run.final = await gateway.read(path, key=family.key)
        run.attempts = await gateway.attempts(answer.body["id"])
    return run


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(module_database_url: str) -> AsyncIterator[Scene]:
    settings: Settings = settings_for(module_database_url)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}
    )
    settings = with_partner_urls(settings, running.urls)
    try:
        seeded = await seed(settings.database.url, SHOPS)
        runner, url = await start_gateway_app(settings, env)
        try:
            async with aiohttp.ClientSession() as session:
                gateway = Gateway(
                    url, settings, env, session, running, seeded.keys, seeded.merchants
                )
                jobs = [(f, last4) for f in FAMILIES.values() for last4 in CODES]
                runs = await asyncio.gather(*(_take(gateway, f, c) for f, c in jobs))
                yield Scene(gateway, {(r.family.name, r.last4): r for r in runs})
        finally:
            await runner.cleanup()
    finally:
        await running.stop()


@pytest.fixture
def family(protocol_family: str) -> Family:
    return FAMILIES[protocol_family]


# --- the test codes ----------------------------------------------------------------------------


async def test_0000_succeeds_and_charges_exactly_the_payer_amount_once(
    scene: Scene, family: Family
) -> None:
    run = scene.run(family.name, "0000")
    assert run.answer.status == 201, run.answer.body
    payment = run.answer.body
    assert payment["status"] == "succeeded", payment
    assert payment["partner"] == family.partner and payment["wallet"] == "alipay_cn"
    assert payment["amount"] == {"currency": family.currency, "value": VALUE}
    assert payment["failure"] is None and payment["partner_reference"]
    rate = payment["quote"]["rate"]
    assert Decimal(rate) == ecb_rate(family.currency, "CNY")
    expected = payer_value(VALUE, rate, family.currency, "CNY")
    assert payment["payer_amount"] == {"currency": "CNY", "value": expected}
    [attempt] = run.attempts
    assert attempt["partner"] == family.partner
    assert scene.charges(family.partner, attempt["partner_request_id"]) == [
        fx.Money.of(expected, "CNY")
    ]
    assert run.final == payment  # GET shows what POST answered


@pytest.mark.parametrize(
    ("last4", "failure"),
    [("0051", "insufficient_funds"), ("0059", "risk_rejected"), ("0054", "code_expired")],
)
async def test_declines_fail_at_once_and_charge_nothing(
    scene: Scene, family: Family, last4: str, failure: str
) -> None:
    run = scene.run(family.name, last4)
    assert run.answer.status == 201, run.answer.body
    payment = run.answer.body
    assert payment["status"] == "failed", payment
    assert payment["failure"]["code"] == failure and payment["failure"]["message"]
    assert payment["partner"] == family.partner
    [attempt] = run.attempts
    assert scene.charges(family.partner, attempt["partner_request_id"]) == []


@pytest.mark.parametrize("last4", ["0091", "0093"])
async def test_unknown_outcomes_end_succeeded_with_one_charge(
    scene: Scene, family: Family, last4: str
) -> None:
    run = scene.run(family.name, last4)
    assert run.answer.status == 201, run.answer.body
    assert run.answer.body["status"] in {"processing", "succeeded"}
    payment = run.payment
    assert payment["status"] == "succeeded", payment
    assert payment["partner"] == family.partner
    expected = payer_value(VALUE, payment["quote"]["rate"], family.currency, "CNY")
    assert payment["payer_amount"] == {"currency": "CNY", "value": expected}
    [attempt] = run.attempts
    request_id = attempt["partner_request_id"]
    assert scene.charges(family.partner, request_id) == [fx.Money.of(expected, "CNY")]
    ledger = scene.gateway.ledger(family.partner)
    assert ledger.reversals_for(request_id) == 0
    record = ledger.payments[request_id]
    assert record.charged and not record.reversed


async def test_0094_never_confirmed_expires(scene: Scene, family: Family) -> None:
    run = scene.run(family.name, "0094")
    assert run.answer.status == 201, run.answer.body
    payment = run.payment
    assert payment["status"] == "failed", payment
    assert payment["failure"]["code"] == "payment_expired"
    [attempt] = run.attempts
    assert scene.charges(family.partner, attempt["partner_request_id"]) == []


async def test_0092_lost_payment_is_cancelled_after_the_timeout(
    scene: Scene, family: Family
) -> None:
    run = scene.run(family.name, "0092")
    assert run.answer.status == 201, run.answer.body
    assert run.answer.body["status"] == "processing"  # unknown when the POS budget ran out
    payment = run.payment
    assert payment["status"] == "failed", payment
    assert payment["failure"]["code"] == "cancelled_after_timeout"
    assert [a["partner"] for a in run.attempts] == [family.partner]
    assert scene.charges(family.partner, run.attempts[0]["partner_request_id"]) == []


async def test_0500_is_retried_at_the_same_partner_and_charged_once(
    scene: Scene, family: Family
) -> None:
    run = scene.run(family.name, "0500")
    assert run.answer.status == 201, run.answer.body
    payment = run.answer.body
    assert payment["status"] == "succeeded", payment
    assert payment["partner"] == family.partner  # maybe charged by the 500: never failed over
    [attempt] = run.attempts  # one partner request, sent twice
    assert attempt["partner"] == family.partner and attempt["pay_calls"] == 2
    expected = payer_value(VALUE, payment["quote"]["rate"], family.currency, "CNY")
    assert scene.charges(family.partner, attempt["partner_request_id"]) == [
        fx.Money.of(expected, "CNY")
    ]


async def test_0503_is_partner_unavailable_and_keeps_nothing(scene: Scene, family: Family) -> None:
    run = scene.run(family.name, "0503")
    assert run.answer.status == 503 and run.answer.error == "partner_unavailable", run.answer.body
    assert int(run.answer.headers["Retry-After"]) >= 1
    listed = await scene.gateway.request(
        "GET", f"/v1/payments?merchant_reference={run.reference}", key=family.key
    )
    assert listed.status == 200 and listed.body["data"] == []
    # Every partner it could go to was asked, charged nothing and kept no record of it.
    partners = [family.partner] + ([SECOND_TH_PARTNER] if family.name == "alipayplus" else [])
    for partner in partners:
        records = scene.gateway.ledger(partner).payments.values()
        assert not [r for r in records if r.masked_code.endswith("0503")], partner
    if family.name == "alipayplus":
        # SiamPay said "not accepted" (nothing charged), so the gateway failed over to KrungPay,
        # whose sandbox answers the same for the same code: still 503, and the answer names it.
        assert run.answer.body["error"].get("partner") == SECOND_TH_PARTNER, run.answer.body


async def test_timeout_partner_is_never_failed_over(scene: Scene) -> None:
    """0091 in Thailand: the pay timed out (maybe charged), so the payment stays with SiamPay
    and is resolved by inquiry, although KrungPay could take it."""
    run = scene.run("alipayplus", "0091")
    assert run.payment["status"] == "succeeded" and run.payment["partner"] == "th-siampay"
    assert [a["partner"] for a in run.attempts] == ["th-siampay"]
    assert run.attempts[0]["pay_calls"] >= 1 and run.attempts[0]["inquiries"] >= 1


async def test_no_thai_payment_reached_the_second_partner(scene: Scene) -> None:
    """With SiamPay up, only 0503 (not accepted: certainly nothing charged) fails over; it is
    not recorded by KrungPay either, so KrungPay's books are empty."""
    ledger = scene.gateway.ledger(SECOND_TH_PARTNER)
    assert ledger.payments == {} and ledger.entries == []


async def test_every_charge_belongs_to_one_succeeded_payment(scene: Scene) -> None:
    """Across all the codes: each sandbox charged only succeeded payments, each exactly once,
    exactly its payer amount; and reversed nothing."""
    for family in FAMILIES.values():
        expected: dict[str, fx.Money] = {}
        for last4 in CODES:
            run = scene.run(family.name, last4)
            if run.final is not None and run.final["status"] == "succeeded":
                request_id = run.attempts[-1]["partner_request_id"]
                expected[request_id] = fx.Money.of(run.final["payer_amount"]["value"], "CNY")
        assert len(expected) == 4  # 0000, 0091, 0093, 0500
        entries = scene.gateway.ledger(family.partner).entries
        charged = [
            (e.payment_request_id, ledger_money(family.name, e.amount.value, e.amount.currency))
            for e in entries
            if e.kind == "charge"
        ]
        assert sorted(charged, key=lambda c: c[0]) == sorted(expected.items()), family.name
        assert not [e for e in entries if e.kind != "charge"], family.name
