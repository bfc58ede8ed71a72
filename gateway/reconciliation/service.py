"""Reconciling a partner's settlement file with what the gateway booked (API.md, Reconciliation).

    fetch the partner's files for D−1, D, D+1 → our movements for those days → match day D
    per payer currency → a stored report per currency (counts + CSV) → printed summary

Our side is the partner receivable batch of the day: succeeded payments and refunds by their
partner business date. It also carries what a cancel left at the partner when the partner refused
the cancel: the charge and the full refund that undid it are real movements there, and net to
nothing in our batches. The neighbouring days are read because each side dates a line by its own
clock: a line committed a moment after the partner's cut-off is on the next day here and on this
day there; such a line is matched, not reported missing.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import fx
from adapters import SettlementFile, SettlementFileRequest, implied_rate
from gateway.core.config import Settings
from gateway.core.ids import new_id
from gateway.ledger import postings as ledger
from gateway.partners.calls import PartnerCalls
from gateway.reconciliation.matching import Category, Finding, Movement, match
from gateway.storage import reconciliation as repo
from gateway.storage.db import Database

__all__ = [
    "ReconciliationResult",
    "gateway_movements",
    "get_reconciliation",
    "get_report",
    "list_reconciliations",
    "partner_movements",
    "reconcile",
]

_HEADER = (
    "category",
    "record_type",
    "partner_request_id",
    "gateway_id",
    "partner_reference",
    "currency",
    "gateway_amount",
    "partner_amount",
    "gateway_fee",
    "partner_fee",
    "gateway_fx_rate",
    "partner_fx_rate",
    "detail",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ReconciliationResult:
    row: dict[str, Any]
    findings: list[Finding]

    @property
    def counts(self) -> dict[str, int]:
        return {c.value: self.row[c.value] for c in Category}

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        return f"{self.row['partner']} {self.row['business_date']} {self.row['currency']}: {counts}"


def _money(currency: str, value: int) -> fx.Money:
    return fx.Money(value, fx.get_currency(currency))


def _rate(payer: fx.Money, merchant: fx.Money) -> Any:
    if payer.currency == merchant.currency:
        return None
    return implied_rate(payer, merchant)


async def gateway_movements(
    db: Database, settings: Settings, partner: str, days: Sequence[date]
) -> dict[date, list[Movement]]:
    """What we booked with `partner` on each of `days` (its business dates), keyed by the
    partner request id we sent."""
    fees = settings.partner(partner).fees
    bps = fees.bps if fees.refunds == "returned" else 0  # what a full refund gives back
    payments, refunds = await repo.booked_with_partner(db, partner, days)
    out: dict[date, list[Movement]] = {d: [] for d in days}
    for row in payments:
        payer = _money(row["payer_currency"], row["payer_value"])
        merchant = _money(row["currency"], row["amount_value"])
        out[date.fromisoformat(row["partner_business_date"])].append(
            Movement(
                key=row["request_id"],
                record_type="payment",
                currency=payer.currency.code,
                amount=payer.value,
                fee=row["partner_fee"] or 0,
                merchant_amount=merchant.value,
                fx_rate=_rate(payer, merchant),
                reference=row["id"],
            )
        )
    for row in refunds:
        payer = _money(row["payer_currency"], row["payer_value"])
        merchant = _money(row["currency"], row["amount_value"])
        fee = row["partner_fee"]
        if fee is None:  # a cancel's own refund (a full one) books no fees; the partner still
            fee = ledger.partner_refund_fee(payer.value, bps)  # returns its own, unless kept
        out[date.fromisoformat(row["partner_business_date"])].append(
            Movement(
                key=row["partner_request_id"],
                record_type="refund",
                currency=payer.currency.code,
                amount=payer.value,
                fee=fee,
                merchant_amount=merchant.value,
                fx_rate=_rate(payer, merchant),
                reference=row["id"],
            )
        )
    return out


def partner_movements(file: SettlementFile) -> list[Movement]:
    return [
        Movement(
            key=line.partner_request_id,
            record_type=line.record_type,
            currency=line.amount.currency.code,
            amount=line.amount.value,
            fee=line.fee.value,
            merchant_amount=line.merchant_amount.value if line.merchant_amount else None,
            fx_rate=line.fx_rate,
            reference=line.partner_reference,
        )
        for line in file.lines
    ]


def _resolve_neighbours(
    findings: list[Finding], ours_nearby: dict[str, Movement], theirs_nearby: dict[str, Movement]
) -> list[Finding]:
    """A line missing on one side today but dated the next or previous day there is compared
    with that line instead."""
    resolved: list[Finding] = []
    for finding in findings:
        if finding.category is Category.MISSING_AT_PARTNER and finding.key in theirs_nearby:
            assert finding.gateway is not None
            resolved += match([finding.gateway], [theirs_nearby[finding.key]])
        elif finding.category is Category.MISSING_AT_GATEWAY and finding.key in ours_nearby:
            assert finding.partner is not None
            resolved += match([ours_nearby[finding.key]], [finding.partner])
        else:
            resolved.append(finding)
    return resolved


def _report_csv(findings: Iterable[Finding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    for f in findings:
        ours, theirs = f.gateway, f.partner
        currency = (ours or theirs).currency  # type: ignore[union-attr]

        def major(value: int | None, code: str = currency) -> str:
            return "" if value is None else fx.to_major_str(_money(code, value))

        writer.writerow(
            [
                f.category.value,
                (ours or theirs).record_type,  # type: ignore[union-attr]
                f.key,
                ours.reference if ours else "",
                theirs.reference if theirs else "",
                currency,
                major(ours.amount if ours else None),
                major(theirs.amount if theirs else None),
                major(ours.fee if ours else None),
                major(theirs.fee if theirs else None),
                "" if ours is None or ours.fx_rate is None else fx.format_rate(ours.fx_rate),
                "" if theirs is None or theirs.fx_rate is None else fx.format_rate(theirs.fx_rate),
                f.detail,
            ]
        )
    return out.getvalue()


async def reconcile(
    db: Database,
    settings: Settings,
    partners: PartnerCalls,
    *,
    partner: str,
    day: date,
    now: datetime,
) -> list[ReconciliationResult]:
    """Reconcile `partner`'s file for `day`, one result per payer currency; each is stored.

    The files are fetched through `partners` (`PartnerCalls.settlement_file`: timed, counted, and
    an adapter's exception turned into `adapters.SettlementFileUnavailable`, which is raised
    when the partner's file cannot be had)."""
    days = [day - timedelta(days=1), day, day + timedelta(days=1)]
    files = {d: await partners.settlement_file(partner, SettlementFileRequest(d)) for d in days}
    theirs = {d: partner_movements(files[d]) for d in days}
    ours = await gateway_movements(db, settings, partner, days)
    ours_nearby = {m.key: m for d in days if d != day for m in ours[d]}
    theirs_nearby = {m.key: m for d in days if d != day for m in theirs[d]}

    by_currency: dict[str, tuple[list[Movement], list[Movement]]] = defaultdict(lambda: ([], []))
    for m in ours[day]:
        by_currency[m.currency][0].append(m)
    for m in theirs[day]:
        by_currency[m.currency][1].append(m)

    results = []
    for currency in sorted(by_currency):
        gateway_side, partner_side = by_currency[currency]
        findings = _resolve_neighbours(
            match(gateway_side, partner_side), ours_nearby, theirs_nearby
        )
        report = _report_csv(findings)
        counts = {c.value: 0 for c in Category}
        for f in findings:
            counts[f.category.value] += 1
        row = {
            "id": new_id("rec"),
            "partner": partner,
            "business_date": day.isoformat(),
            "currency": currency,
            **counts,
            "report": report,
            "report_sha256": hashlib.sha256(report.encode()).hexdigest(),
            "created_at": now,
        }
        await repo.insert_reconciliation(db, row)
        results.append(ReconciliationResult(row, findings))
    return results


# --- stored runs, for the API ---------------------------------------------------------------


async def list_reconciliations(
    db: Database,
    *,
    partner: str | None,
    day: date | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Stored runs (without their reports) newest first, a page of `limit`, and whether more
    follow."""
    rows = await repo.list_reconciliations(
        db, partner=partner, day=day, limit=limit + 1, starting_after=starting_after
    )
    return rows[:limit], len(rows) > limit


async def get_reconciliation(db: Database, run_id: str) -> dict[str, Any] | None:
    """A stored run without its report, or None."""
    return await repo.get_reconciliation(db, run_id)


async def get_report(db: Database, run_id: str) -> dict[str, Any] | None:
    """A stored run's `id` and `report` (the CSV as written when it ran), or None."""
    return await repo.get_report(db, run_id)
