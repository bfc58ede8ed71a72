"""`gateway ledger verify`: prove the journal, the payment and refund rows, and the fee schedules
tell one story.

Checks (each reported with a count and the first few offending ids):
- `unbalanced_entries`: an entry whose lines do not sum to 0 in some currency.
- `account_mismatches`: an account (account, merchant or partner, currency) whose journal balance
  differs from what the succeeded payments and succeeded merchant refunds imply under the posting
  rules of `gateway.ledger.postings`, with the fees stored on their rows.
- `cancelled_not_zero`: a cancelled payment whose lines do not net to 0 on every account.
- `payment_fees` / `refund_fees`: stored fees and FX revenue that differ from the formulas (the
  merchant's current mdr_bps and fixed_fee, the partner's configured fees, the payment's mid rate).
  Refunds' FX reversals are checked per payment, as a sum: being cumulative, they must add up to
  round_half_up(fx_revenue × refunded / amount) whatever order the refunds succeeded in.
- `entry_counts`: a record without exactly the entries its status calls for: one `payment` entry
  per succeeded payment, one `refund` entry per succeeded merchant refund, a `reversal` for each
  payment entry of a cancelled payment, nothing for anything else (a refund the gateway made to
  complete a cancel moves no money of its own: the payment's reversal does).
- `malformed_entries`: an entry whose kind and refund id disagree, or a line whose payment or
  refund id is not its entry's.
- `business_dates`: a payment or refund in a final state without both business dates, or a journal
  line without one.

Every sum is done by the database (GROUP BY); what needs Python (Decimal rates, partner fee
schedules) walks the rows in keyset-paged batches, so memory stays flat however big the tables.
All reads share one snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite), so
writes committing meanwhile cannot show up as false mismatches.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import fx
from gateway.core.config import Partner, Settings
from gateway.ledger import postings as ledger
from gateway.partners.routing import partner_fee
from gateway.storage.db import Database
from gateway.storage.tables import metadata

__all__ = ["Finding", "LedgerReport", "verify_ledger"]

EXAMPLES = 5
"""Offending ids reported per check."""
_BATCH = 1000

_payments = metadata.tables["payments"]
_refunds = metadata.tables["refunds"]
_merchants = metadata.tables["merchants"]
_entries = metadata.tables["journal_entries"]
_lines = metadata.tables["journal_lines"]

_SUCCEEDED, _FAILED, _CANCELLED = "succeeded", "failed", "cancelled"
_FINAL_PAYMENT = (_SUCCEEDED, _FAILED, _CANCELLED)
_FINAL_REFUND = (_SUCCEEDED, _FAILED)
_MERCHANT_REFUND = "merchant"

Account = tuple[str, str | None, str | None, str]
"""(account, merchant_id, partner, currency): the key a balance is kept under."""


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One check that failed: how many records it caught, and the first few of them."""

    check: str
    description: str
    count: int
    examples: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerReport:
    """What `verify_ledger` looked at, and what it found wrong (`problems` empty when clean)."""

    entries: int
    lines: int
    accounts: int
    payments: int
    refunds: int
    problems: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """A few lines for an operator's terminal."""
        head = (
            f"checked {self.entries} journal entries ({self.lines} lines), "
            f"{self.accounts} accounts, {self.payments} payments, {self.refunds} refunds"
        )
        if self.ok:
            return f"{head}\nledger OK: no problems"
        out = [head, f"ledger has problems in {len(self.problems)} checks:"]
        for finding in self.problems:
            out.append(f"- {finding.check}: {finding.count} ({finding.description})")
            out.extend(f"    {example}" for example in finding.examples)
            if finding.count > len(finding.examples):
                out.append(f"    ... and {finding.count - len(finding.examples)} more")
        return "\n".join(out)


class _Collector:
    """Counts offenders found in Python and keeps the first few."""

    def __init__(self, check: str, description: str) -> None:
        self.check, self.description = check, description
        self.count = 0
        self.examples: list[str] = []

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)

    def finding(self) -> Finding | None:
        if not self.count:
            return None
        return Finding(self.check, self.description, self.count, tuple(self.examples))


async def verify_ledger(db: Database, settings: Settings) -> LedgerReport:
    """Run every check over one consistent snapshot of the database (read only)."""
    async with db.reader.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        elif conn.dialect.name == "sqlite":
            # The reader runs in autocommit (one WAL snapshot per statement): hold one snapshot
            # for all the reads; closing the connection rolls it back.
            await conn.exec_driver_sql("BEGIN")
        try:
            return await _verify(conn, settings)
        finally:
            await conn.rollback()


async def _verify(conn: AsyncConnection, settings: Settings) -> LedgerReport:
    entries = await _count(conn, sa.select(sa.func.count()).select_from(_entries))
    lines = await _count(conn, sa.select(sa.func.count()).select_from(_lines))
    payments = await _count(conn, sa.select(sa.func.count()).select_from(_payments))
    refunds = await _count(conn, sa.select(sa.func.count()).select_from(_refunds))
    accounts, account_problems = await _check_accounts(conn)
    findings = [
        await _check_unbalanced(conn),
        account_problems,
        await _check_cancelled(conn),
        await _check_payment_fees(conn, settings),
        await _check_refund_fees(conn, settings),
        await _check_entry_counts(conn),
        await _check_malformed(conn),
        await _check_business_dates(conn),
    ]
    return LedgerReport(
        entries=entries,
        lines=lines,
        accounts=accounts,
        payments=payments,
        refunds=refunds,
        problems=tuple(f for f in findings if f is not None),
    )


# --- helpers -----------------------------------------------------------------------------------


async def _count(conn: AsyncConnection, stmt: sa.Select[Any]) -> int:
    return int(await conn.scalar(stmt) or 0)


async def _offenders(
    conn: AsyncConnection,
    check: str,
    description: str,
    offenders: sa.Subquery,
    order_by: Sequence[sa.ColumnElement[Any]],
    describe: Any,
) -> Finding | None:
    """Count the rows of an offenders subquery in SQL and describe its first few."""
    count = await _count(conn, sa.select(sa.func.count()).select_from(offenders))
    if not count:
        return None
    rows = await conn.execute(sa.select(offenders).order_by(*order_by).limit(EXAMPLES))
    examples = tuple(describe(row) for row in rows.mappings())
    return Finding(check, description, count, examples)


async def _batches(
    conn: AsyncConnection, query: sa.Select[Any], key: sa.ColumnElement[Any], label: str
) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    """The query's rows in keyset-paged batches ordered by `key` (selected as `label`)."""
    last: Any = None
    while True:
        stmt = query if last is None else query.where(key > last)
        rows = (await conn.execute(stmt.order_by(key).limit(_BATCH))).mappings().all()
        if not rows:
            return
        yield rows
        last = rows[-1][label]


def _signed(value: int) -> str:
    return f"{value:+d}"


def _int(value: Any) -> int:
    """SUM over BIGINT is NUMERIC on PostgreSQL (a Decimal, always integral here)."""
    return int(value or 0)


# --- (a) balance per entry and currency ------------------------------------------------------


async def _check_unbalanced(conn: AsyncConnection) -> Finding | None:
    total = sa.func.sum(_lines.c.amount)
    offenders = (
        sa.select(_lines.c.entry_id, _lines.c.currency, total.label("total"))
        .group_by(_lines.c.entry_id, _lines.c.currency)
        .having(total != 0)
        .subquery()
    )
    return await _offenders(
        conn,
        "unbalanced_entries",
        "journal entries whose lines do not sum to 0 in a currency",
        offenders,
        [offenders.c.entry_id, offenders.c.currency],
        lambda r: f"{r['entry_id']}: {r['currency']} {_signed(_int(r['total']))}",
    )


# --- (b) accounts against the records behind them ---------------------------------------------

# The posting rules are linear in amounts and fees, so the balances implied by a group of
# payments are the lines of one entry built from their sums. Building them with the ledger's own
# functions keeps this check and the postings from ever drifting apart. The ids and dates of these
# entries are thrown away.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _implied(row: Mapping[str, Any], *, refund: bool) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "payment_id": "",
        "merchant_id": row["merchant_id"],
        "partner": row["partner"],
        "amount": fx.Money.of(_int(row["amount"]), row["currency"]),
        "payer_amount": fx.Money.of(_int(row["payer"]), row["payer_currency"]),
        "merchant_fee": _int(row["merchant_fee"]),
        "partner_fee": _int(row["partner_fee"]),
        "fx_revenue": _int(row["fx_revenue"]),
        "merchant_date": "",
        "partner_date": "",
        "now": _EPOCH,
    }
    if refund:
        return ledger.refund_entry(refund_id="", **args).lines
    return ledger.payment_entry(**args).lines


def _sums(table: sa.Table) -> sa.Select[Any]:
    c = table.c
    return sa.select(
        c.merchant_id,
        c.partner,
        c.currency,
        c.payer_currency,
        sa.func.sum(c.amount_value).label("amount"),
        sa.func.sum(c.payer_value).label("payer"),
        sa.func.sum(sa.func.coalesce(c.merchant_fee, 0)).label("merchant_fee"),
        sa.func.sum(sa.func.coalesce(c.partner_fee, 0)).label("partner_fee"),
        sa.func.sum(sa.func.coalesce(c.fx_revenue, 0)).label("fx_revenue"),
    ).group_by(c.merchant_id, c.partner, c.currency, c.payer_currency)


async def _check_accounts(conn: AsyncConnection) -> tuple[int, Finding | None]:
    journal: dict[Account, int] = {}
    c = _lines.c
    balances = sa.select(
        c.account, c.merchant_id, c.partner, c.currency, sa.func.sum(c.amount).label("total")
    ).group_by(c.account, c.merchant_id, c.partner, c.currency)
    for row in (await conn.execute(balances)).mappings():
        key = (row["account"], row["merchant_id"], row["partner"], row["currency"])
        journal[key] = _int(row["total"])

    implied: defaultdict[Account, int] = defaultdict(int)
    groups = [
        (_sums(_payments).where(_payments.c.status == _SUCCEEDED), False),
        (
            _sums(_refunds).where(
                _refunds.c.status == _SUCCEEDED, _refunds.c.kind == _MERCHANT_REFUND
            ),
            True,
        ),
    ]
    for stmt, refund in groups:
        for row in (await conn.execute(stmt)).mappings():
            for line in _implied(row, refund=refund):
                key = (line["account"], line["merchant_id"], line["partner"], line["currency"])
                implied[key] += line["amount"]

    keys = sorted(set(journal) | set(implied), key=lambda k: tuple(part or "" for part in k))
    found = _Collector(
        "account_mismatches",
        "accounts whose journal balance differs from the succeeded payments and refunds",
    )
    for key in keys:
        booked, expected = journal.get(key, 0), implied.get(key, 0)
        if booked != expected:
            account, merchant_id, partner, currency = key
            who = merchant_id or partner or "-"
            found.add(
                f"{account} {who} {currency}: journal {_signed(booked)}, "
                f"records {_signed(expected)}"
            )
    return len(keys), found.finding()


async def _check_cancelled(conn: AsyncConnection) -> Finding | None:
    c = _lines.c
    total = sa.func.sum(c.amount)
    nonzero = (
        sa.select(c.payment_id, c.account, c.currency, total.label("total"))
        .join(_payments, _payments.c.id == c.payment_id)
        .where(_payments.c.status == _CANCELLED)
        .group_by(c.payment_id, c.account, c.merchant_id, c.partner, c.currency)
        .having(total != 0)
        .subquery()
    )
    per_payment = (
        sa.select(
            nonzero.c.payment_id,
            sa.func.min(nonzero.c.account).label("account"),
            sa.func.count().label("accounts"),
        )
        .group_by(nonzero.c.payment_id)
        .subquery()
    )
    return await _offenders(
        conn,
        "cancelled_not_zero",
        "cancelled payments whose journal lines do not net to 0",
        per_payment,
        [per_payment.c.payment_id],
        lambda r: f"{r['payment_id']}: {r['accounts']} accounts off, e.g. {r['account']}",
    )


# --- (c) stored fees against the formulas -----------------------------------------------------


class _Partners:
    """The configured partners by id, remembering which ones are missing."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._found: dict[str, Partner | None] = {}

    def get(self, partner_id: str) -> Partner | None:
        if partner_id not in self._found:
            try:
                self._found[partner_id] = self._settings.partner(partner_id)
            except KeyError:
                self._found[partner_id] = None
        return self._found[partner_id]


def _differences(stored: Mapping[str, Any], expected: Mapping[str, int]) -> list[str]:
    return [
        f"{name} {stored[name]} (expected {value})"
        for name, value in expected.items()
        if stored[name] is None or int(stored[name]) != value
    ]


async def _check_payment_fees(conn: AsyncConnection, settings: Settings) -> Finding | None:
    p, m = _payments.c, _merchants.c
    query = (
        sa.select(
            p.id,
            p.amount_value,
            p.currency,
            p.payer_value,
            p.payer_currency,
            p.partner,
            p.mid_rate,
            p.merchant_fee,
            p.partner_fee,
            p.fx_revenue,
            m.mdr_bps,
            m.fixed_fee,
        )
        .join(_merchants, m.id == p.merchant_id)
        .where(p.status == _SUCCEEDED)
    )
    partners = _Partners(settings)
    found = _Collector(
        "payment_fees", "succeeded payments whose stored fees differ from the formulas"
    )
    async for rows in _batches(conn, query, p.id, "id"):
        for row in rows:
            partner = partners.get(row["partner"])
            if partner is None:
                found.add(f"{row['id']}: partner {row['partner']!r} is not configured")
                continue
            try:
                amount = fx.Money.of(row["amount_value"], row["currency"])
                payer = fx.Money.of(row["payer_value"], row["payer_currency"])
                mid = Decimal(row["mid_rate"]) if row["mid_rate"] is not None else None
                expected = {
                    "merchant_fee": ledger.merchant_fee(
                        amount.value, row["mdr_bps"], row["fixed_fee"]
                    ),
                    "partner_fee": partner_fee(partner, payer),
                    "fx_revenue": ledger.fx_revenue(amount, payer, mid),
                }
            except (fx.FXError, InvalidOperation) as exc:
                found.add(f"{row['id']}: cannot recompute its fees: {exc}")
                continue
            wrong = _differences(row, expected)
            if wrong:
                found.add(f"{row['id']}: " + ", ".join(wrong))
    return found.finding()


async def _check_refund_fees(conn: AsyncConnection, settings: Settings) -> Finding | None:
    r, m, p = _refunds.c, _merchants.c, _payments.c
    succeeded = sa.and_(r.status == _SUCCEEDED, r.kind == _MERCHANT_REFUND)
    partners = _Partners(settings)
    found = _Collector(
        "refund_fees",
        "succeeded refunds whose stored fees, or per-payment FX reversals, break the formulas",
    )
    fees = (
        sa.select(r.id, r.amount_value, r.payer_value, r.partner, r.merchant_fee, r.partner_fee)
        .add_columns(m.mdr_bps)
        .join(_merchants, m.id == r.merchant_id)
        .where(succeeded)
    )
    async for rows in _batches(conn, fees, r.id, "id"):
        for row in rows:
            partner = partners.get(row["partner"])
            if partner is None:
                found.add(f"{row['id']}: partner {row['partner']!r} is not configured")
                continue
            expected = {
                "merchant_fee": ledger.merchant_refund_fee(row["amount_value"], row["mdr_bps"]),
                "partner_fee": ledger.partner_refund_fee(row["payer_value"], partner.fees.bps),
            }
            wrong = _differences(row, expected)
            if wrong:
                found.add(f"{row['id']}: " + ", ".join(wrong))

    # FX reversals telescope: per payment they add up to the reversal of the refunded total.
    per_payment = (
        sa.select(
            r.payment_id,
            sa.func.sum(r.amount_value).label("refunded"),
            sa.func.sum(sa.func.coalesce(r.fx_revenue, 0)).label("reversed"),
            sa.func.count(r.fx_revenue).label("stored"),
            sa.func.count().label("refunds"),
            p.amount_value,
            p.fx_revenue,
        )
        .join(_payments, p.id == r.payment_id)
        .where(succeeded)
        .group_by(r.payment_id, p.amount_value, p.fx_revenue)
    )
    async for rows in _batches(conn, per_payment, r.payment_id, "payment_id"):
        for row in rows:
            refunded, reversed_ = _int(row["refunded"]), _int(row["reversed"])
            if row["stored"] != row["refunds"]:
                found.add(f"{row['payment_id']}: a refund's fx_revenue is not stored")
                continue
            try:
                due = ledger.fx_revenue_reversed(
                    _int(row["fx_revenue"]), row["amount_value"], 0, refunded
                )
            except ValueError:
                found.add(f"{row['payment_id']}: refunds total {refunded} > the payment")
                continue
            if reversed_ != due:
                found.add(
                    f"{row['payment_id']}: refunds reverse fx_revenue {reversed_} (expected {due})"
                )
    return found.finding()


# --- (d) one entry per record, dates ----------------------------------------------------------


def _kinds(kind: str) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((_entries.c.kind == kind, 1), else_=0))


async def _check_entry_counts(conn: AsyncConnection) -> Finding | None:
    p, r, e = _payments.c, _refunds.c, _entries.c
    n_pay, n_rev = _kinds(ledger.PAYMENT), _kinds(ledger.REVERSAL)
    payments = (
        sa.select(
            p.id.label("id"),
            sa.literal("payment", sa.String).label("record"),
            p.status.label("status"),
            n_pay.label("payment_entries"),
            n_rev.label("reversals"),
        )
        .select_from(
            _payments.outerjoin(
                _entries,
                sa.and_(e.payment_id == p.id, e.kind.in_([ledger.PAYMENT, ledger.REVERSAL])),
            )
        )
        .group_by(p.id, p.status)
        .having(
            sa.not_(
                sa.or_(
                    sa.and_(p.status == _SUCCEEDED, n_pay == 1, n_rev == 0),
                    sa.and_(p.status == _CANCELLED, n_pay == n_rev, n_pay <= 1),
                    sa.and_(p.status.not_in([_SUCCEEDED, _CANCELLED]), n_pay == 0, n_rev == 0),
                )
            )
        )
    )
    n_any, n_refund = sa.func.count(e.id), _kinds(ledger.REFUND)
    booked = sa.and_(r.status == _SUCCEEDED, r.kind == _MERCHANT_REFUND)
    refunds = (
        sa.select(
            r.id.label("id"),
            sa.literal("refund", sa.String).label("record"),
            r.status.label("status"),
            n_refund.label("payment_entries"),  # the refund entries, in the same column
            (n_any - n_refund).label("reversals"),  # entries of any other kind
        )
        .select_from(_refunds.outerjoin(_entries, e.refund_id == r.id))
        .group_by(r.id, r.status, r.kind)
        .having(
            sa.or_(
                sa.and_(booked, sa.or_(n_refund != 1, n_any != 1)),
                sa.and_(sa.not_(booked), n_any != 0),
            )
        )
    )
    offenders = sa.union_all(payments, refunds).subquery()

    def describe(row: Mapping[str, Any]) -> str:
        if row["record"] == "refund":
            return (
                f"{row['id']} ({row['status']}): {_int(row['payment_entries'])} refund entries, "
                f"{_int(row['reversals'])} others"
            )
        return (
            f"{row['id']} ({row['status']}): {_int(row['payment_entries'])} payment entries, "
            f"{_int(row['reversals'])} reversals"
        )

    return await _offenders(
        conn,
        "entry_counts",
        "payments and refunds without exactly the journal entries their status calls for",
        offenders,
        [offenders.c.id],
        describe,
    )


async def _check_malformed(conn: AsyncConnection) -> Finding | None:
    e, c = _entries.c, _lines.c
    bad_entries = sa.select(e.id.label("id"), sa.literal("kind", sa.String).label("what")).where(
        sa.not_(
            sa.or_(
                sa.and_(e.kind.in_([ledger.PAYMENT, ledger.REVERSAL]), e.refund_id.is_(None)),
                sa.and_(e.kind == ledger.REFUND, e.refund_id.is_not(None)),
            )
        )
    )
    bad_lines = (
        sa.select(c.id.label("id"), sa.literal("ids", sa.String).label("what"))
        .join(_entries, e.id == c.entry_id)
        .where(
            sa.or_(
                c.payment_id.is_distinct_from(e.payment_id),
                c.refund_id.is_distinct_from(e.refund_id),
                c.account.not_in(sorted(ledger.ACCOUNTS)),
            )
        )
    )
    offenders = sa.union_all(bad_entries, bad_lines).subquery()
    return await _offenders(
        conn,
        "malformed_entries",
        "entries whose kind and refund disagree, lines not matching their entry or account",
        offenders,
        [offenders.c.id],
        lambda r: (
            f"{r['id']}: "
            + ("kind and refund_id disagree" if r["what"] == "kind" else "ids or account wrong")
        ),
    )


async def _check_business_dates(conn: AsyncConnection) -> Finding | None:
    def missing(table: sa.Table, final: Sequence[str]) -> sa.Select[Any]:
        return sa.select(table.c.id.label("id")).where(
            table.c.status.in_(final),
            sa.or_(
                table.c.merchant_business_date.is_(None),
                table.c.partner_business_date.is_(None),
            ),
        )

    offenders = sa.union_all(
        missing(_payments, _FINAL_PAYMENT),
        missing(_refunds, _FINAL_REFUND),
        sa.select(_lines.c.id.label("id")).where(_lines.c.business_date.is_(None)),
    ).subquery()
    return await _offenders(
        conn,
        "business_dates",
        "final payments and refunds without both business dates, lines without one",
        offenders,
        [offenders.c.id],
        lambda r: str(r["id"]),
    )
