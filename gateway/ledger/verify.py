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

Every sum is done by the database; what needs Python (Decimal rates, partner fee schedules)
walks the rows in keyset-paged batches, so memory stays flat however big the tables. All reads
share one snapshot, so writes committing meanwhile cannot show up as false mismatches. The
queries are `gateway/storage/ledger.py` and `ledger_offenders.py`; this module holds the rules
they are compared against, and words what is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import fx
from gateway.core.config import Partner, Settings
from gateway.ledger import postings as ledger
from gateway.ledger.report import EXAMPLES, Collector, Finding, LedgerReport
from gateway.partners.routing import partner_fee
from gateway.storage import ledger as repo
from gateway.storage import ledger_offenders as offenders
from gateway.storage.db import Database

__all__ = ["Finding", "LedgerReport", "verify_ledger"]

Account = tuple[str, str | None, str | None, str]
"""(account, merchant_id, partner, currency): the key a balance is kept under."""


async def verify_ledger(db: Database, settings: Settings) -> LedgerReport:
    """Run every check over one consistent snapshot of the database (read only)."""
    async with repo.ledger_snapshot(db) as snap:
        counts = await repo.table_counts(snap)
        accounts, account_problems = await _check_accounts(snap)
        findings = [
            await _check_unbalanced(snap),
            account_problems,
            await _check_cancelled(snap),
            await _check_payment_fees(snap, settings),
            await _check_refund_fees(snap, settings),
            await _check_entry_counts(snap),
            await _check_malformed(snap),
            await _check_business_dates(snap),
        ]
    return LedgerReport(
        entries=counts.entries,
        lines=counts.lines,
        accounts=accounts,
        payments=counts.payments,
        refunds=counts.refunds,
        problems=tuple(f for f in findings if f is not None),
    )


# --- helpers -----------------------------------------------------------------------------------


def _finding(
    check: str,
    description: str,
    found: repo.Offenders,
    describe: Callable[[Mapping[str, Any]], str],
) -> Finding | None:
    if not found.count:
        return None
    return Finding(check, description, found.count, tuple(describe(row) for row in found.first))


def _signed(value: int) -> str:
    return f"{value:+d}"


def _int(value: Any) -> int:
    """SUM over BIGINT is NUMERIC on PostgreSQL (a Decimal, always integral here)."""
    return int(value or 0)


# --- (a) balance per entry and currency ------------------------------------------------------


async def _check_unbalanced(snap: repo.LedgerSnapshot) -> Finding | None:
    return _finding(
        "unbalanced_entries",
        "journal entries whose lines do not sum to 0 in a currency",
        await offenders.unbalanced_entries(snap, EXAMPLES),
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


async def _check_accounts(snap: repo.LedgerSnapshot) -> tuple[int, Finding | None]:
    journal: dict[Account, int] = {}
    for row in await repo.journal_balances(snap):
        key = (row["account"], row["merchant_id"], row["partner"], row["currency"])
        journal[key] = _int(row["total"])

    implied: defaultdict[Account, int] = defaultdict(int)
    groups = [
        (await repo.succeeded_payment_sums(snap), False),
        (await repo.merchant_refund_sums(snap), True),
    ]
    for rows, refund in groups:
        for row in rows:
            for line in _implied(row, refund=refund):
                key = (line["account"], line["merchant_id"], line["partner"], line["currency"])
                implied[key] += line["amount"]

    keys = sorted(set(journal) | set(implied), key=lambda k: tuple(part or "" for part in k))
    found = Collector(
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


async def _check_cancelled(snap: repo.LedgerSnapshot) -> Finding | None:
    return _finding(
        "cancelled_not_zero",
        "cancelled payments whose journal lines do not net to 0",
        await offenders.cancelled_not_zero(snap, EXAMPLES),
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


async def _check_payment_fees(snap: repo.LedgerSnapshot, settings: Settings) -> Finding | None:
    partners = _Partners(settings)
    found = Collector(
        "payment_fees", "succeeded payments whose stored fees differ from the formulas"
    )
    async for rows in repo.payment_fee_rows(snap):
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


async def _check_refund_fees(snap: repo.LedgerSnapshot, settings: Settings) -> Finding | None:
    partners = _Partners(settings)
    found = Collector(
        "refund_fees",
        "succeeded refunds whose stored fees, or per-payment FX reversals, break the formulas",
    )
    async for rows in repo.refund_fee_rows(snap):
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
    async for rows in repo.refund_fx_per_payment(snap):
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


def _describe_entry_counts(row: Mapping[str, Any]) -> str:
    if row["record"] == "refund":
        return (
            f"{row['id']} ({row['status']}): {_int(row['payment_entries'])} refund entries, "
            f"{_int(row['reversals'])} others"
        )
    return (
        f"{row['id']} ({row['status']}): {_int(row['payment_entries'])} payment entries, "
        f"{_int(row['reversals'])} reversals"
    )


async def _check_entry_counts(snap: repo.LedgerSnapshot) -> Finding | None:
    return _finding(
        "entry_counts",
        "payments and refunds without exactly the journal entries their status calls for",
        await offenders.entry_count_offenders(snap, EXAMPLES),
        _describe_entry_counts,
    )


async def _check_malformed(snap: repo.LedgerSnapshot) -> Finding | None:
    return _finding(
        "malformed_entries",
        "entries whose kind and refund disagree, lines not matching their entry or account",
        await offenders.malformed_entries(snap, EXAMPLES),
        lambda r: (
            f"{r['id']}: "
            + ("kind and refund_id disagree" if r["what"] == "kind" else "ids or account wrong")
        ),
    )


async def _check_business_dates(snap: repo.LedgerSnapshot) -> Finding | None:
    return _finding(
        "business_dates",
        "final payments and refunds without both business dates, lines without one",
        await offenders.missing_business_dates(snap, EXAMPLES),
        lambda r: str(r["id"]),
    )
