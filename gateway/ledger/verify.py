"""`gateway ledger verify`: prove the journal, the payment and refund rows, and the fee schedules
tell one story.

Checks (each reported with a count and the first few offending ids):
- `unbalanced_entries`: an entry whose lines do not sum to 0 in some currency.
- `account_mismatches`: an account (account, merchant or partner, currency) whose journal balance
  differs from what the succeeded payments and succeeded merchant refunds imply under the posting
  rules of `gateway.ledger.postings`, with the fees stored on their rows.
- `cancelled_not_zero`: a cancelled payment whose lines do not net to 0 on every account.
- `payment_fees` / `refund_fees`: stored fees and FX revenue that differ from the formulas, under
  the fee terms stored with the payment (its `payment` journal entry: mdr_bps, fixed fee, the
  partner's bps and fixed fee and whether it returns its fee on refunds), never today's
  configuration; and the payment's mid rate. (A payment booked before revision 0010 has its
  merchant's terms at migration time; its partner terms were not kept, so its partner fee is judged
  by the partner's configuration, as it was before.)
  What refunds give back is checked per payment, as sums, since it is cumulative (API.md, Business
  days and fees): whatever the order the refunds succeeded in, they must add up to
  round_half_up(fx_revenue × refunded / amount) of FX revenue, round_half_up(refunded × mdr_bps /
  10^4) of merchant fee, and round_half_up(payer amounts refunded × bps / 10^4) of partner fee
  (nothing, by the refunds booked since 0010, for a partner that keeps its fee). Refunds booked
  before 0010 (their entries record no terms) returned fees one line at a time: each is judged by
  that rule, and a later refund's cumulative return makes up for their rounding.
- `refund_payer_amounts`: a payment whose succeeded refunds return more payer units than the tourist
  paid, or, refunded in full, not exactly what the tourist paid.
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
            *await _check_refund_fees(snap, settings),
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
            try:
                amount = fx.Money.of(row["amount_value"], row["currency"])
                payer = fx.Money.of(row["payer_value"], row["payer_currency"])
                mid = Decimal(row["mid_rate"]) if row["mid_rate"] is not None else None
                if row["partner_fee_bps"] is not None:  # the partner's terms it was booked under
                    expected_partner_fee = ledger.merchant_fee(
                        payer.value, row["partner_fee_bps"], int(row["partner_fee_fixed"] or 0)
                    )
                else:  # booked before 0010: only the partner's configuration is known
                    partner = partners.get(row["partner"])
                    if partner is None:
                        found.add(f"{row['id']}: partner {row['partner']!r} is not configured")
                        continue
                    expected_partner_fee = partner_fee(partner, payer)
                expected = {
                    "merchant_fee": ledger.merchant_fee(
                        amount.value, row["mdr_bps"], int(row["fixed_fee"])
                    ),
                    "partner_fee": expected_partner_fee,
                    "fx_revenue": ledger.fx_revenue(amount, payer, mid),
                }
            except (fx.FXError, InvalidOperation) as exc:
                found.add(f"{row['id']}: cannot recompute its fees: {exc}")
                continue
            wrong = _differences(row, expected)
            if wrong:
                found.add(f"{row['id']}: " + ", ".join(wrong))
    return found.finding()


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


async def _check_refund_fees(
    snap: repo.LedgerSnapshot, settings: Settings
) -> tuple[Finding | None, Finding | None]:
    partners = _Partners(settings)
    found = Collector(
        "refund_fees",
        "succeeded refunds whose stored fees, or per-payment returns, break the formulas",
    )
    payer_found = Collector(
        "refund_payer_amounts",
        "payments whose refunds return more than the tourist paid, or not all of it when full",
    )
    # Refunds booked before 0010, one line at a time.
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

    # Cumulative returns telescope: per payment they add up to the return of the refunded total.
    async for rows in repo.refund_fx_per_payment(snap):
        for row in rows:
            payment_id = row["payment_id"]
            refunded, reversed_ = _int(row["refunded"]), _int(row["reversed"])
            payer_refunded, payer_value = _int(row["payer_refunded"]), _int(row["payer_value"])
            if payer_refunded > payer_value or (
                refunded == row["amount_value"] and payer_refunded != payer_value
            ):
                payer_found.add(
                    f"{payment_id}: refunds return {payer_refunded} of {payer_value} payer units"
                    f" ({refunded} of {row['amount_value']} refunded)"
                )
            for problem in _cumulative_returns(row, refunded, payer_refunded):
                found.add(f"{payment_id}: {problem}")
            if row["stored"] != row["refunds"]:
                found.add(f"{payment_id}: a refund's fx_revenue is not stored")
                continue
            try:
                due = ledger.fx_revenue_reversed(
                    _int(row["fx_revenue"]), row["amount_value"], 0, refunded
                )
            except ValueError:
                found.add(f"{payment_id}: refunds total {refunded} > the payment")
                continue
            if reversed_ != due:
                found.add(f"{payment_id}: refunds reverse fx_revenue {reversed_} (expected {due})")
    return found.finding(), payer_found.finding()


def _cumulative_returns(row: Mapping[str, Any], refunded: int, payer_refunded: int) -> list[str]:
    """What is wrong with the fees a payment's refunds returned, if any was booked under the
    cumulative rule (0010 on), under the payment's stored terms."""
    if not _int(row["cumulative"]):
        return []
    wrong: list[str] = []
    mdr = _first(row["mdr_bps"], row["refund_mdr_max"])
    low, high = row["refund_mdr_min"], row["refund_mdr_max"]
    if low != high or high != mdr:
        wrong.append(f"refund entries record mdr_bps {low}..{high} (the payment's: {mdr})")
    due = ledger.merchant_fee_returned(refunded, int(mdr), 0)
    if _int(row["merchant_returned"]) != due:
        wrong.append(
            f"refunds return merchant_fee {_int(row['merchant_returned'])} (expected {due})"
        )
    bps = _first(row["partner_fee_bps"], row["refund_partner_bps"])
    gives_back = _first(row["partner_fee_returned"], row["refund_partner_returned"])
    if bps is None or gives_back is None:
        return wrong
    if gives_back:
        got, due = (
            _int(row["partner_returned"]),
            ledger.partner_fee_returned(payer_refunded, int(bps), 0, returned=True),
        )
    else:  # the partner keeps its fee: the refunds booked since 0010 return nothing
        got, due = _int(row["partner_returned_cumulative"]), 0
    if got != due:
        wrong.append(f"refunds return partner_fee {got} (expected {due})")
    return wrong


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
