"""The money proof (issue #17): a day of N mixed payments, refunded in random partial steps and
cancelled, booked by the gateway's own code, closed, and checked to the minor unit.

    .venv/bin/python -m bench.money [--payments 1000000] [--quick] [--database sqlite|postgresql]
                                    [--seed 17] [--chunk 5000] [--no-verify]

On a fresh database (SQLite: a file in the temp dir, kept only with `--keep`; PostgreSQL: a
`bench_<random>` database on `GATEWAY_TEST_POSTGRES`'s server or 127.0.0.1:5432, dropped at the
end), migrated by `gateway.storage.migrate`:

1. **generate**, through the domain and storage code, not HTTP: five merchants of exponents 0, 2
   and 3 (THB 150 bps + 1.00, JPY 180 bps, KRW 200 bps, KWD 120 bps + 0.100, CNY 100 bps + 0.50;
   made by `merchants.admin.create_merchant`), each with its partner (th-siampay, jp-sakurapay,
   kr-hanapay, ph-bayadpay, and th-krungpay whose schedule is switched to `kept` for the run, so
   both partner schedules are proven); tourists paying in CNY, KRW, JPY, THB or BHD (exponents 2,
   0, 0, 2, 3; 1 in 20 in the merchant's own currency). Each payment is a `payments.model.Payment`
   priced at a fixed mid rate plus 150 bps (`fx.quote_rate`, `fx.convert_minor`, 10 significant
   digits like a quote) and booked by `payments.booking.book_outcome` (fees, fee terms, business
   dates, journal entry). Then its fate: 6 % cancelled (`Payment.cancelled`, the entry reversed by
   `booking.reverse_payment`), 30 % refunded in full in 1 to 5 random steps (2 in 5 ending with a
   residue of 1 or 2 minor units), 14 % refunded in part, 50 % left alone. Each refund step is
   priced by `refunds.service.cumulative_payer_value`, judged by `refunds.model.payer_verdict`
   (a step worth 0 payer units while the tourist is still owed some is refused and joins the next
   one, as a POS would do after `invalid_amount`; a residue is accepted with payer amount 0), and
   booked by `booking.book_refund` with the `RefundBasis` that `storage.reversals.refund_basis`
   would read. Rows are mapped by `storage.rows` and bulk-inserted per chunk; the events the
   booking renders are not stored (nothing here reads them).
2. **close** the day: `settlement.closing.settle_day(..., force=True)`, every merchant and
   partner batch, lines frozen and files hashed.
3. **check**, printing each figure:
   - payer amounts: Σ refund payer amounts ≤ the payer amount for every payment, and = for every
     fully refunded one;
   - net zero: every fully refunded payment nets, over its closed lines, to exactly minus the
     fixed fee in its merchant's batch, and in its partner's batch to minus the partner's fixed fee
     (schedule `returned`) or minus its whole fee (`kept`): 0 where there is no fixed fee;
   - batch = ledger: every closed batch's net equals the journal balance of its account for its
     key and day (−merchant_payable for a merchant batch, partner_receivable for a partner's);
   - FX position: each currency's `fx_position` balance equals what the records imply: Σ
     merchant-side legs (amounts of the succeeded payments less their refunds, in the merchant's
     currency) − Σ payer-side legs (payer amounts less FX revenue, likewise, in the payer's);
   - `gateway ledger verify` (`ledger.verify.verify_ledger`) over everything (unless `--no-verify`);
   - time per phase and the process's peak RSS (VmHWM).

`--quick` is N = 3,000 (what `tests/integration/gateway/test_money_proof_quick.py` runs in-process
on both databases through `prove`). Exit status: 0 when every check holds, 1 when one fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

import fx
from adapters import Outcome
from gateway.core.config import Settings, load_settings
from gateway.core.ids import new_id
from gateway.ledger.model import FEE_TERM_COLUMNS
from gateway.ledger.verify import verify_ledger
from gateway.merchants import admin
from gateway.merchants.model import Merchant
from gateway.payments.booking import book_outcome, book_payment, book_refund, reverse_payment
from gateway.payments.model import Payment, PaymentStatus
from gateway.quotes.model import QuoteUse
from gateway.refunds.model import Refund, RefundBasis, RefundKind, RefundStatus, payer_verdict
from gateway.refunds.service import cumulative_payer_value
from gateway.settlement.closing import settle_day
from gateway.storage import payments as payments_repo
from gateway.storage import rows as rowmap
from gateway.storage.db import Database, open_database
from gateway.storage.migrate import upgrade_async
from gateway.storage.tables import metadata

DEFAULT_PAYMENTS = 1_000_000
QUICK_PAYMENTS = 3_000
DAY = date(2026, 11, 20)
WINDOW = (datetime(2026, 11, 20, 1, 0, tzinfo=UTC), datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
"""01:00-12:00 UTC: inside 20 November for every merchant's and partner's zone and cut-off."""
MARKUP_BPS = 150
KEPT = "th-krungpay"
"""The partner whose schedule the run switches to `kept` (its fee is not returned on refunds)."""


@dataclasses.dataclass(frozen=True)
class Shop:
    name: str
    country: str
    currency: str
    timezone: str
    mdr_bps: int
    fixed_fee: int
    partner: str
    low: int
    """Smallest price, major units (log-uniform up to `high`)."""
    high: int


SHOPS = (
    Shop("Siam Souvenirs", "TH", "THB", "Asia/Bangkok", 150, 100, "th-siampay", 20, 20_000),
    Shop("Kyoto Crafts", "JP", "JPY", "Asia/Tokyo", 180, 0, "jp-sakurapay", 100, 300_000),
    Shop("Seoul Market", "KR", "KRW", "Asia/Seoul", 200, 0, "kr-hanapay", 1_000, 3_000_000),
    Shop("Kuwait Gold", "KW", "KWD", "Asia/Kuwait", 120, 100, "ph-bayadpay", 1, 2_000),
    Shop("Shanghai Tea", "CN", "CNY", "Asia/Shanghai", 100, 50, KEPT, 5, 5_000),
)
PAYERS = (("CNY", 0.35), ("KRW", 0.25), ("JPY", 0.15), ("THB", 0.10), ("BHD", 0.15))
WALLETS = {"CNY": "alipay_cn", "KRW": "kakaopay", "THB": "truemoney", "PHP": "gcash"}
PER_EUR = {
    "THB": "37.52",
    "JPY": "162.3",
    "KRW": "1451.7",
    "CNY": "7.684",
    "KWD": "0.3291",
    "BHD": "0.4072",
}
"""Fixed mid rates (units per EUR) the day's quotes are made from."""


def _log(message: str) -> None:
    print(f"[money {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- pricing -------------------------------------------------------------------------------------


def _mid(merchant: str, payer: str) -> Decimal:
    """payer units per merchant unit, to 10 significant digits (as a quote's rate is kept)."""
    exact = Decimal(PER_EUR[payer]) / Decimal(PER_EUR[merchant])
    return Decimal(fx.format_rate(exact.quantize(Decimal(10) ** (exact.adjusted() - 9))))


class Pricing:
    """Each (merchant, payer currency)'s quote terms, one quote row each (payments name it)."""

    def __init__(self) -> None:
        self.terms: dict[tuple[str, str], QuoteUse] = {}
        self.quote_rows: list[dict[str, Any]] = []

    def add(self, merchant: Merchant) -> None:
        for payer, _share in PAYERS:
            if payer == merchant.currency:
                continue
            mid = _mid(merchant.currency, payer)
            rate = fx.quote_rate(mid, MARKUP_BPS)
            use = QuoteUse(
                id=new_id("qt"),
                rate=fx.format_rate(rate),
                mid_rate=fx.format_rate(mid),
                markup_bps=MARKUP_BPS,
                rate_source="bench",
                rate_set=None,
                rate_as_of=WINDOW[0] - timedelta(hours=12),
                expires_at=WINDOW[1] + timedelta(days=1),
            )
            self.terms[(merchant.id, payer)] = use
            self.quote_rows.append(
                {
                    "id": use.id, "merchant_id": merchant.id, "wallet": WALLETS.get(payer, payer),
                    "amount_value": 100, "amount_currency": merchant.currency,
                    "payer_value": fx.convert_minor(
                        100, rate, fx.get_currency(merchant.currency), fx.get_currency(payer)
                    ) or 1,
                    "payer_currency": payer, "rate": use.rate, "mid_rate": use.mid_rate,
                    "markup_bps": MARKUP_BPS, "rate_source": "bench", "rate_as_of": use.rate_as_of,
                    "rate_set_id": None, "markup_rule": "bench", "created_at": WINDOW[0],
                    "expires_at": use.expires_at,
                }
            )  # fmt: skip


# --- generation ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    payments: int = 0
    cancelled: int = 0
    full: int = 0
    partial: int = 0
    refunds: int = 0
    residues: int = 0
    refused_zero: int = 0
    journal_entries: int = 0
    journal_lines: int = 0
    by_pair: Counter[str] = dataclasses.field(default_factory=Counter)


class Day:
    """The day's records, made by the gateway's booking code and written in chunks."""

    def __init__(
        self, settings: Settings, merchants: list[tuple[Shop, Merchant]], pricing: Pricing
    ) -> None:
        self.settings = settings
        self.ctx: Any = SimpleNamespace(settings=settings)  # what booking reads of a Context
        self.merchants = merchants
        self.pricing = pricing
        self.tally = Tally()
        self.columns = {
            name: [c.name for c in metadata.tables[name].columns]
            for name in ("payments", "refunds", "journal_entries", "journal_lines")
        }

    def _amount(self, rng: random.Random, shop: Shop) -> int:
        exponent = fx.get_currency(shop.currency).exponent
        major = rng.uniform(0, 1)
        value = int(shop.low * (shop.high / shop.low) ** major * 10**exponent)
        if exponent and rng.random() < 0.5:
            value += rng.randrange(10**exponent)
        return max(value, 1)

    def _payer(self, rng: random.Random, merchant: Merchant) -> str:
        if rng.random() < 0.05:
            return merchant.currency
        pick = rng.random()
        for code, share in PAYERS:
            if pick < share and code != merchant.currency:
                return code
            pick -= share
        return "CNY" if merchant.currency != "CNY" else "KRW"

    def payment(
        self, rng: random.Random, shop: Shop, merchant: Merchant, at: datetime
    ) -> tuple[Payment, list[tuple[str, dict[str, Any]]]]:
        """A payment of `merchant`, succeeded at `at`, as `book_outcome` books it."""
        payer_code = self._payer(rng, merchant)
        m, p = fx.get_currency(merchant.currency), fx.get_currency(payer_code)
        quote = self.pricing.terms.get((merchant.id, payer_code))
        while True:
            value = self._amount(rng, shop)
            payer_value = (
                value if quote is None else fx.convert_minor(value, quote.rate_value, m, p)
            )
            if payer_value >= 1:
                break
        payment_id = new_id("pay")
        code = f"{rng.getrandbits(53):016d}"
        created = at - timedelta(seconds=rng.uniform(0.8, 3.0))
        payment = Payment(
            id=payment_id,
            merchant_id=merchant.id,
            merchant_reference=f"order-{payment_id[-12:]}",
            idempotency_key=f"{rng.getrandbits(128):032x}",
            status=PaymentStatus.PROCESSING,
            amount=fx.Money(value, m),
            payer_amount=fx.Money(payer_value, p),
            wallet=WALLETS.get(payer_code, f"bench_{payer_code.lower()}"),
            partner=shop.partner,
            route_reason="bench.money",
            quote=quote,
            code_mask=code[:6] + "*" * 6 + code[-4:],
            code_hash=f"{rng.getrandbits(256):064x}",
            store_id=None,
            terminal_id=None,
            metadata={},
            created_at=created,
            updated_at=created,
        )
        outcome = Outcome.succeeded(partner_reference=f"P{payment_id[-16:]}", completed_at=at)
        booked = book_outcome(self.ctx, payment, outcome, merchant, at)
        self.tally.by_pair[f"{merchant.currency}->{payer_code}"] += 1
        return booked.payment, booked.rows

    def refund_steps(self, rng: random.Random, value: int, full: bool) -> list[int]:
        target = value if full else max(1, int(value * rng.uniform(0.05, 0.95)))
        parts = rng.randint(1, 5) if full else rng.randint(1, 3)
        cuts = sorted(rng.sample(range(1, target), min(parts - 1, target - 1)))
        steps = [b - a for a, b in zip([0, *cuts], [*cuts, target], strict=True)]
        if full and rng.random() < 0.4 and steps[-1] > 2:
            tail = rng.choice((1, 2))
            steps[-1] -= tail
            steps.append(tail)
        return steps

    def refunds(
        self,
        rng: random.Random,
        payment: Payment,
        entry: dict[str, Any],
        merchant: Merchant,
        at: datetime,
        full: bool,
    ) -> tuple[Payment, list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
        """Refund `payment` in random steps (all of it if `full`), as the refund service does:
        each step priced cumulatively and judged on the payment as it then stands."""
        terms = {name: entry.get(name) for name in FEE_TERM_COLUMNS}
        basis = RefundBasis(terms=terms)
        refund_rows: list[dict[str, Any]] = []
        rows: list[tuple[str, dict[str, Any]]] = []
        carried = 0
        steps = self.refund_steps(rng, payment.amount.value, full)
        for n, step in enumerate(steps):
            amount = carried + step
            reserved_after = payment.reserved_value + amount
            payer_value = cumulative_payer_value(payment, reserved_after)
            verdict = payer_verdict(payment, payer_value)
            if verdict != "priced" and verdict != "residue":
                # Refused (`invalid_amount`): the POS adds it to its next step, if any. Never the
                # last step of a full refund: that one always returns what is left.
                assert not (full and n == len(steps) - 1), (payment.id, verdict, steps)
                self.tally.refused_zero += 1
                carried = amount
                continue
            carried = 0
            at = at + timedelta(seconds=rng.uniform(1, 60))
            refund_id = new_id("rf")
            refund = Refund(
                id=refund_id,
                payment_id=payment.id,
                merchant_id=payment.merchant_id,
                kind=RefundKind.MERCHANT,
                status=RefundStatus.SUCCEEDED,
                amount=fx.Money(amount, payment.amount.currency),
                payer_amount=fx.Money(payer_value, payment.payer_amount.currency),
                quote=payment.quote,
                partner=payment.partner,
                partner_request_id=refund_id,
                reason=None,
                created_at=at,
                updated_at=at,
                partner_completed_at=at,
                partner_reference=None if verdict == "residue" else f"R{refund_id[-16:]}",
            )
            booked = book_refund(self.ctx, payment, refund, merchant, at, basis=basis)
            final = booked.refund
            assert final.merchant_fee is not None and final.partner_fee is not None
            basis = dataclasses.replace(
                basis,
                payer_refunded=basis.payer_refunded + payer_value,
                merchant_returned=basis.merchant_returned + final.merchant_fee,
                partner_returned=basis.partner_returned + final.partner_fee,
            )
            payment = dataclasses.replace(
                payment,
                reserved_value=reserved_after,
                reserved_payer_value=payment.reserved_payer_value + payer_value,
                refunded_value=payment.refunded_value + amount,
                updated_at=at,
            )
            refund_rows.append(rowmap.refund_row(final))
            rows += booked.rows
            self.tally.refunds += 1
            self.tally.residues += verdict == "residue"
        return payment, refund_rows, rows

    def chunk(
        self, rng: random.Random, start: int, count: int, total: int
    ) -> dict[str, list[dict[str, Any]]]:
        """Payments `start`..`start + count` of `total`, with their fates: the rows to insert."""
        out: dict[str, list[dict[str, Any]]] = {name: [] for name in self.columns}
        span = (WINDOW[1] - WINDOW[0]).total_seconds() * 0.8
        for i in range(start, start + count):
            shop, merchant = self.merchants[rng.randrange(len(self.merchants))]
            at = WINDOW[0] + timedelta(seconds=span * i / total)
            payment, rows = self.payment(rng, shop, merchant, at)
            entry = next(row for table, row in rows if table == "journal_entries")
            lines = [row for table, row in rows if table == "journal_lines"]
            fate = rng.random()
            self.tally.payments += 1
            if fate < 0.06:  # cancelled: the success reversed, the payment nowhere in a batch
                later = at + timedelta(seconds=30)
                rows += reverse_payment(lines, later)
                payment = book_payment(self.ctx, payment.cancelled(later), merchant, later).payment
                self.tally.cancelled += 1
            elif fate < 0.50:
                full = fate < 0.36
                payment, refund_rows, refund_booked = self.refunds(
                    rng, payment, entry, merchant, at, full
                )
                out["refunds"] += refund_rows
                rows += refund_booked
                self.tally.full += full
                self.tally.partial += not full
            out["payments"].append(rowmap.payment_row(payment))
            for table, row in rows:
                if table in out:  # the events the booking rendered are not stored here
                    out[table].append(row)
        # One shape per table for executemany: a reversal's entry records no fee terms.
        entries = self.columns["journal_entries"]
        out["journal_entries"] = [{c: e.get(c) for c in entries} for e in out["journal_entries"]]
        self.tally.journal_entries += len(out["journal_entries"])
        self.tally.journal_lines += len(out["journal_lines"])
        return out


# --- the database ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(kind: str, keep: bool = False) -> AsyncIterator[str]:
    """A migrated, empty database of `kind`, removed afterwards (unless `keep`)."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="bench-money-"))
        url = f"sqlite+aiosqlite:///{folder / 'gateway.db'}"
        await upgrade_async(url)
        try:
            yield url
        finally:
            if keep:
                _log(f"database kept: {url}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
        return
    import asyncpg

    server = os.environ.get(
        "GATEWAY_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    dsn = server.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = server.rsplit("/", 1)[0] + f"/{name}"
    await upgrade_async(url)
    try:
        yield url
    finally:
        if not keep:
            conn = await asyncpg.connect(dsn, timeout=5)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


async def _insert(db: Database, tables: dict[str, list[dict[str, Any]]]) -> None:
    async with db.writer.begin() as conn:
        for name in ("payments", "refunds", "journal_entries", "journal_lines"):
            rows = tables.get(name)
            if rows:
                await conn.execute(sa.insert(metadata.tables[name]), rows)


# --- the checks --------------------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    figures: list[str]


_REFUNDED = """
    SELECT r.payment_id, SUM(r.amount_value) AS refunded, SUM(r.payer_value) AS payer_back
    FROM refunds r WHERE r.status = 'succeeded' AND r.kind = 'merchant' GROUP BY r.payment_id
"""


async def check_payer_amounts(db: Database) -> Check:
    sql = f"""
        SELECT COUNT(*) AS refunded_payments,
               SUM(CASE WHEN s.refunded = p.amount_value THEN 1 ELSE 0 END) AS full,
               SUM(CASE WHEN s.payer_back > p.payer_value THEN 1 ELSE 0 END) AS over,
               SUM(CASE WHEN s.refunded = p.amount_value AND s.payer_back <> p.payer_value
                        THEN 1 ELSE 0 END) AS full_not_exact,
               SUM(CASE WHEN s.refunded > p.amount_value THEN 1 ELSE 0 END) AS over_amount
        FROM payments p JOIN ({_REFUNDED}) s ON s.payment_id = p.id
    """
    async with db.reader.connect() as conn:
        row = (await conn.execute(sa.text(sql))).mappings().one()
    n, full = int(row["refunded_payments"] or 0), int(row["full"] or 0)
    over, inexact = int(row["over"] or 0), int(row["full_not_exact"] or 0)
    over_amount = int(row["over_amount"] or 0)
    return Check(
        "payer amounts",
        over == 0 and inexact == 0 and over_amount == 0,
        [
            f"{n} refunded payments, {full} in full",
            f"Σ refund payer amounts > payer amount: {over}",
            f"fully refunded with Σ refund payer amounts ≠ payer amount: {inexact}",
            f"Σ refunds > amount: {over_amount}",
        ],
    )


async def check_net_zero(db: Database) -> Check:
    """Every fully refunded payment's lines in the closed batches net to minus the fee kept."""
    sql = f"""
        SELECT b.type AS side, COUNT(*) AS payments,
               SUM(CASE WHEN n.net = n.expected THEN 1 ELSE 0 END) AS exact,
               SUM(CASE WHEN n.net = 0 THEN 1 ELSE 0 END) AS zero,
               SUM(n.net) AS total, SUM(n.expected) AS expected
        FROM (
            SELECT l.batch_id, l.payment_id, SUM(l.net) AS net,
                   MIN(CASE WHEN bb.type = 'merchant' THEN -e.fixed_fee
                            WHEN e.partner_fee_returned THEN -e.partner_fee_fixed
                            ELSE -p.partner_fee END) AS expected
            FROM settlement_lines l
            JOIN settlement_batches bb ON bb.id = l.batch_id
            JOIN ({_REFUNDED}) s ON s.payment_id = l.payment_id
            JOIN payments p ON p.id = l.payment_id AND s.refunded = p.amount_value
            JOIN journal_entries e ON e.payment_id = p.id AND e.kind = 'payment'
            WHERE l.record_type <> 'total'
            GROUP BY l.batch_id, l.payment_id
        ) n JOIN settlement_batches b ON b.id = n.batch_id
        GROUP BY b.type ORDER BY b.type
    """
    async with db.reader.connect() as conn:
        rows = (await conn.execute(sa.text(sql))).mappings().all()
    ok = bool(rows)
    figures = []
    for row in rows:
        count, exact = int(row["payments"]), int(row["exact"] or 0)
        ok = ok and exact == count
        figures.append(
            f"{row['side']} batches: {count} fully refunded payments, {exact} net exactly to"
            f" minus the fee kept ({int(row['zero'] or 0)} to 0);"
            f" Σ nets {int(row['total'] or 0)} (expected {int(row['expected'] or 0)})"
        )
    return Check("net zero", ok, figures)


async def check_batches_against_ledger(db: Database) -> Check:
    batches_sql = """
        SELECT type, owner, currency, business_date, net, line_count FROM settlement_batches
    """
    balances_sql = """
        SELECT account, COALESCE(merchant_id, partner) AS owner, currency, business_date,
               SUM(amount) AS total
        FROM journal_lines WHERE account IN ('merchant_payable', 'partner_receivable')
        GROUP BY account, merchant_id, partner, currency, business_date
    """
    async with db.reader.connect() as conn:
        rows = (await conn.execute(sa.text(batches_sql))).mappings().all()
        balance = {
            (str(r["account"]), str(r["owner"]), str(r["currency"]), str(r["business_date"])): int(
                r["total"]
            )
            for r in (await conn.execute(sa.text(balances_sql))).mappings()
        }
    wrong = 0
    lines = 0
    for row in rows:
        merchant = row["type"] == "merchant"
        account = "merchant_payable" if merchant else "partner_receivable"
        key = (account, str(row["owner"]), str(row["currency"]), str(row["business_date"]))
        expected = -balance.get(key, 0) if merchant else balance.get(key, 0)
        wrong += int(row["net"]) != expected
        lines += int(row["line_count"])
    sides = Counter(str(row["type"]) for row in rows)
    return Check(
        "batch = ledger",
        bool(rows) and wrong == 0,
        [
            f"{len(rows)} closed batches ({sides['merchant']} merchant, {sides['partner']}"
            f" partner), {lines} lines",
            f"batches whose net ≠ the ledger balance of their account for the day: {wrong}",
        ],
    )


async def check_fx_positions(db: Database) -> Check:
    merchant_side = """
        SELECT currency AS c, SUM(amount_value) AS v FROM payments
         WHERE status = 'succeeded' AND (quote_id IS NOT NULL) GROUP BY currency
        UNION ALL
        SELECT currency, -SUM(amount_value) FROM refunds
         WHERE status = 'succeeded' AND kind = 'merchant' AND quote_id IS NOT NULL
         GROUP BY currency
    """
    payer_side = """
        SELECT payer_currency AS c, SUM(payer_value - fx_revenue) AS v FROM payments
         WHERE status = 'succeeded' AND quote_id IS NOT NULL GROUP BY payer_currency
        UNION ALL
        SELECT payer_currency, -SUM(payer_value - fx_revenue) FROM refunds
         WHERE status = 'succeeded' AND kind = 'merchant' AND quote_id IS NOT NULL
         GROUP BY payer_currency
    """
    journal = """
        SELECT currency AS c, SUM(amount) AS v FROM journal_lines
         WHERE account = 'fx_position' GROUP BY currency
    """

    async def sums(sql: str) -> Counter[str]:
        async with db.reader.connect() as conn:
            out: Counter[str] = Counter()
            for c, v in (await conn.execute(sa.text(sql))).all():
                out[str(c)] += int(v or 0)
            return out

    merchant, payer, booked = await sums(merchant_side), await sums(payer_side), await sums(journal)
    figures, ok = [], True
    for currency in sorted(set(merchant) | set(payer) | set(booked)):
        implied = merchant[currency] - payer[currency]
        ok = ok and implied == booked[currency]
        figures.append(
            f"{currency}: fx_position {booked[currency]:+d} = merchant-side"
            f" {merchant[currency]:+d} − payer-side {payer[currency]:+d}"
            f" {'✓' if implied == booked[currency] else f'✗ ({implied:+d})'}"
        )
    return Check("FX positions", ok, figures)


# --- the run ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Proof:
    payments: int
    tally: Tally
    checks: list[Check]
    seconds: dict[str, float]
    peak_rss_mb: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def report(self) -> str:
        t = self.tally
        pairs = ", ".join(f"{k} {v}" for k, v in sorted(t.by_pair.items()))
        out = [
            f"payments: {t.payments} ({t.cancelled} cancelled, {t.full} refunded in full,"
            f" {t.partial} in part); refunds: {t.refunds} ({t.residues} residues with payer"
            f" amount 0, {t.refused_zero} zero-payer steps refused and carried over)",
            f"journal: {t.journal_entries} entries, {t.journal_lines} lines",
            f"merchant->payer currencies: {pairs}",
        ]
        for check in self.checks:
            out.append(f"{'PASS' if check.ok else 'FAIL'} {check.name}")
            out.extend(f"    {figure}" for figure in check.figures)
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        out.append(f"time: {phases}; peak RSS {self.peak_rss_mb:.0f} MB")
        out.append("ALL CHECKS PASS" if self.ok else "SOME CHECK FAILED")
        return "\n".join(out)


def bench_settings(settings: Settings) -> Settings:
    """The configured partners, `KEPT`'s schedule switched to `kept`."""
    partners = [
        p.model_copy(update={"fees": p.fees.model_copy(update={"refunds": "kept"})})
        if p.id == KEPT
        else p
        for p in settings.partners
    ]
    return settings.model_copy(update={"partners": type(settings.partners)(partners)})


async def prove(
    url: str,
    *,
    payments: int,
    seed: int = 17,
    chunk: int = 5_000,
    verify: bool = True,
    settings: Settings | None = None,
    progress: bool = False,
) -> Proof:
    """Generate, close and check a day of `payments` on the migrated, empty database at `url`."""
    settings = bench_settings(settings or load_settings(profile="test", env={}))
    seconds: dict[str, float] = {}
    db = open_database(url)
    try:
        started = time.perf_counter()
        merchants: list[tuple[Shop, Merchant]] = []
        pricing = Pricing()
        for shop in SHOPS:
            merchant_id = await admin.create_merchant(
                db,
                name=shop.name,
                country=shop.country,
                currency=shop.currency,
                timezone=shop.timezone,
                mdr_bps=shop.mdr_bps,
                fixed_fee=shop.fixed_fee,
            )
            merchant = await payments_repo.get_merchant(db, merchant_id)
            assert merchant is not None
            merchants.append((shop, merchant))
            pricing.add(merchant)
        async with db.writer.begin() as conn:
            await conn.execute(sa.insert(metadata.tables["quotes"]), pricing.quote_rows)
        day = Day(settings, merchants, pricing)
        rng = random.Random(seed)
        made = 0
        while made < payments:
            count = min(chunk, payments - made)
            await _insert(db, day.chunk(rng, made, count, payments))
            made += count
            if progress and (made // chunk) % 20 == 0:
                rate = made / (time.perf_counter() - started)
                _log(f"{made:,} payments written ({rate:,.0f}/s)")
        seconds["generate"] = time.perf_counter() - started

        if db.url.startswith("postgresql"):
            async with db.writer.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(sa.text("ANALYZE"))
        if progress:
            _log("closing the day")
        started = time.perf_counter()
        settled = await settle_day(
            db,
            settings,
            day=DAY,
            now=WINDOW[1] + timedelta(days=2),
            closed_by="bench.money",
            force=True,
        )
        assert all(s.outcome == "closed" for s in settled), [s.describe() for s in settled]
        seconds["close"] = time.perf_counter() - started

        if progress:
            _log(f"closed in {seconds['close']:.1f} s; checking")
        started = time.perf_counter()
        checks = []
        for check in (
            check_payer_amounts,
            check_net_zero,
            check_batches_against_ledger,
            check_fx_positions,
        ):
            checks.append(await check(db))
            if progress:
                _log(f"{checks[-1].name}: {'PASS' if checks[-1].ok else 'FAIL'}")
        seconds["checks"] = time.perf_counter() - started
        if verify:
            if progress:
                _log("ledger verify")
            started = time.perf_counter()
            report = await verify_ledger(db, settings)
            seconds["ledger verify"] = time.perf_counter() - started
            checks.append(Check("ledger verify", report.ok, report.summary().splitlines()))
    finally:
        await db.dispose()
    return Proof(payments, day.tally, checks, seconds, _peak_rss_mb())


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.money", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--payments", type=int, default=DEFAULT_PAYMENTS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PAYMENTS:,} payments")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--no-verify", action="store_true", help="skip `ledger verify`")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    payments = QUICK_PAYMENTS if args.quick else args.payments
    _log(f"{payments:,} payments on {args.database} (seed {args.seed})")
    async with fresh_database(args.database, keep=args.keep) as url:
        proof = await prove(
            url,
            payments=payments,
            seed=args.seed,
            chunk=args.chunk,
            verify=not args.no_verify,
            progress=True,
        )
    print(f"python -m bench.money --payments {payments} --database {args.database}"
          f" --seed {args.seed}")  # fmt: skip
    print(proof.report())
    return 0 if proof.ok else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(_arguments(argv)))


if __name__ == "__main__":
    sys.exit(main())
