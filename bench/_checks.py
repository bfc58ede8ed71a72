"""What a target's run left behind, checked: answers, the database, the sandbox's ledger, the sink.

`read_database` reads a gateway database after its server stopped (payments, journal, outbox,
delivery attempts); `check_integrity` compares it with what the load generator was answered and
what the sandbox partner charged; `webhook_report` turns the sink's record of arrivals into
delivery figures per run (how many, how late, how many twice).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from typing import Any

from bench.load import percentiles

__all__ = ["check_integrity", "merge_integrity", "pg_fetch", "read_database", "webhook_report"]

SUCCEEDED_EVENT = "payment.succeeded"

# (name, SQL): each answers rows of plain values; `lag_ms` differs per dialect.
_QUERIES: tuple[tuple[str, str], ...] = (
    ("by_status", "SELECT status, count(*) FROM payments GROUP BY status"),
    ("succeeded_ids", "SELECT id FROM payments WHERE status = 'succeeded'"),
    ("attempt_request_ids", "SELECT partner_request_id FROM payment_attempts"),
    ("distinct_references", "SELECT count(DISTINCT merchant_reference) FROM payments"),
    ("entry_kinds", "SELECT kind, count(*) FROM journal_entries GROUP BY kind"),
    ("journal_lines", "SELECT count(*) FROM journal_lines"),
    (
        "one_entry",
        "SELECT count(*) FROM payments p WHERE p.status = 'succeeded' AND (SELECT count(*) "
        "FROM journal_entries j WHERE j.payment_id = p.id AND j.kind = 'payment') = 1",
    ),
    ("event_types", "SELECT type, count(*) FROM events GROUP BY type"),
    (
        "one_event",
        "SELECT count(*) FROM payments p WHERE p.status = 'succeeded' AND (SELECT count(*) "
        f"FROM events e WHERE e.object_id = p.id AND e.type = '{SUCCEEDED_EVENT}') = 1",
    ),
    ("delivery_status", "SELECT delivery_status, count(*) FROM events GROUP BY delivery_status"),
    (
        "attempts",
        "SELECT count(*), count(error), count(DISTINCT event_id) FROM event_deliveries",
    ),
    (
        "delivered_twice",
        "SELECT count(*) FROM (SELECT event_id FROM event_deliveries WHERE error IS NULL "
        "GROUP BY event_id HAVING count(*) > 1) d",
    ),
)
_LAG = {
    "sqlite": "SELECT (julianday(delivered_at) - julianday(created_at)) * 86400000.0 "
    "FROM events WHERE delivered_at IS NOT NULL",
    "postgresql": "SELECT extract(epoch FROM delivered_at - created_at) * 1000 "
    "FROM events WHERE delivered_at IS NOT NULL",
}


async def pg_fetch(dsn: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        out: list[list[tuple[Any, ...]]] = []
        for statement in statements:
            out.append([tuple(r) for r in await conn.fetch(statement)])
        return out
    finally:
        await conn.close()


def read_database(url: str) -> dict[str, Any]:
    """Everything the integrity check and the webhook report need, read after the run."""
    names = [name for name, _ in _QUERIES] + ["lag_ms"]
    if url.startswith("sqlite"):
        statements = [sql for _, sql in _QUERIES] + [_LAG["sqlite"]]
        path = url.split(":///", 1)[1]
        conn = sqlite3.connect(path)
        try:
            rows = [conn.execute(q).fetchall() for q in statements]
            durability = f"journal_mode={conn.execute('PRAGMA journal_mode').fetchone()[0]}"
        finally:
            conn.close()
    else:
        statements = [sql for _, sql in _QUERIES] + [_LAG["postgresql"]]
        rows = asyncio.run(pg_fetch(url, *statements, "SHOW synchronous_commit"))
        durability = f"synchronous_commit={rows.pop()[0][0]}"
    got = dict(zip(names, rows, strict=True))
    by_status = {str(status): int(n) for status, n in got["by_status"]}
    attempts = got["attempts"][0]
    return {
        "by_status": by_status,
        "count": sum(by_status.values()),
        "succeeded_ids": {str(r[0]) for r in got["succeeded_ids"]},
        "attempt_request_ids": {str(r[0]) for r in got["attempt_request_ids"]},
        "distinct_references": int(got["distinct_references"][0][0]),
        "journal_entries": {str(k): int(n) for k, n in got["entry_kinds"]},
        "journal_lines": int(got["journal_lines"][0][0]),
        "succeeded_with_one_entry": int(got["one_entry"][0][0]),
        "events": {str(k): int(n) for k, n in got["event_types"]},
        "succeeded_with_one_event": int(got["one_event"][0][0]),
        "delivery_status": {str(k): int(n) for k, n in got["delivery_status"]},
        "delivery_attempts": int(attempts[0]),
        "failed_attempts": int(attempts[1]),
        "events_attempted": int(attempts[2]),
        "delivered_twice": int(got["delivered_twice"][0][0]),
        "lag_ms": percentiles([float(r[0]) for r in got["lag_ms"]]),
        "durability": durability,
    }


def check_integrity(
    runs: list[dict[str, Any]],
    ledger: dict[str, Any],
    *,
    db: dict[str, Any] | None,
    ledger_verify: dict[str, Any] | None = None,
    sink: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Answers vs the sandbox's charges (and the database, the ledger check and the sink, when
    given). `duplicated` counts payments made or charged twice; `problems` says everything."""
    sent = sum(r["sent_total"] for r in runs)
    succeeded = sum(r["succeeded_total"] for r in runs)
    failed = sum(r["failed_total"] for r in runs)
    ids = [i for r in runs for i in r["payment_ids"]]
    duplicate_ids = len(ids) - len(set(ids))
    entries = ledger["entries"]
    charges = Counter(e["payment_request_id"] for e in entries if e["kind"] == "charge")
    reversals = sum(1 for e in entries if e["kind"] == "reversal")
    double_charged = sum(n - 1 for n in charges.values() if n > 1)
    total_charges = sum(charges.values())
    problems: list[str] = []
    duplicated = duplicate_ids + double_charged
    if duplicate_ids:
        problems.append(f"{duplicate_ids} payment ids answered twice")
    if double_charged:
        problems.append(f"{double_charged} extra charges of one paymentRequestId")
    if reversals:
        problems.append(f"{reversals} reversals at the sandbox")
    if total_charges != succeeded:
        problems.append(f"sandbox charges {total_charges} != successful payments {succeeded}")
    out: dict[str, Any] = {
        "sent": sent,
        "succeeded": succeeded,
        "failed": failed,
        "duplicated": 0,
        "ledger_charges": total_charges,
        "ledger_payments": len(ledger["payments"]),
    }
    if db is not None:
        duplicated += _check_database(db, ids, sent, charges, out, problems)
    if ledger_verify is not None:
        out["ledger_verify"] = ledger_verify
        if not ledger_verify["ok"]:
            problems.append(f"gateway ledger verify failed: {ledger_verify['summary']}")
    if sink is not None and db is not None:
        _check_deliveries(db, sink, out, problems)
    out["duplicated"] = duplicated
    out["problems"] = problems
    out["ok"] = failed == 0 and duplicated == 0 and not problems
    return out


_SUMMED = ("sent", "succeeded", "failed", "duplicated", "ledger_charges", "ledger_payments")


def merge_integrity(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two checks of one target without a database (the bare proxy's closed-loop runs and,
    on another sandbox, its open-loop ones) as one: counts summed, problems together."""
    out = {**first, **{key: first[key] + second[key] for key in _SUMMED}}
    out["problems"] = [*first["problems"], *second["problems"]]
    out["ok"] = bool(first["ok"] and second["ok"])
    return out


def _check_database(
    db: dict[str, Any],
    ids: list[str],
    sent: int,
    charges: Counter[str],
    out: dict[str, Any],
    problems: list[str],
) -> int:
    """The database against the answers and the charges; returns payments made twice."""
    duplicated = 0
    out["db_payments"] = db["count"]
    out["db_by_status"] = db["by_status"]
    extra = db["count"] - sent
    if extra > 0:
        duplicated += extra
        problems.append(f"{extra} more payments in the database than requests sent")
    elif extra < 0:
        problems.append(f"{-extra} requests sent left no payment in the database")
    if db["distinct_references"] != db["count"]:
        problems.append("merchant_reference not unique in the database")
    if set(ids) != db["succeeded_ids"]:
        problems.append(
            f"answered ids and the database's succeeded payments differ "
            f"({len(set(ids) ^ db['succeeded_ids'])} ids)"
        )
    strangers = set(charges) - db["attempt_request_ids"]
    if strangers:
        duplicated += len(strangers)
        problems.append(f"{len(strangers)} charges for no attempt in the database")
    # The ledger and the outbox, written in the payment's own commit.
    succeeded = len(db["succeeded_ids"])
    out["journal_entries"] = sum(db["journal_entries"].values())
    out["journal_lines"] = db["journal_lines"]
    out["succeeded_with_one_entry"] = db["succeeded_with_one_entry"]
    out["events"] = sum(db["events"].values())
    out["succeeded_with_one_event"] = db["succeeded_with_one_event"]
    out["delivery_status"] = db["delivery_status"]
    if db["succeeded_with_one_entry"] != succeeded:
        problems.append(
            f"{succeeded - db['succeeded_with_one_entry']} succeeded payments without exactly "
            "one `payment` journal entry"
        )
    other_entries = {k: n for k, n in db["journal_entries"].items() if k != "payment"}
    if other_entries or db["journal_entries"].get("payment", 0) != succeeded:
        problems.append(f"journal entries {db['journal_entries']} for {succeeded} payments")
    if db["succeeded_with_one_event"] != succeeded:
        problems.append(
            f"{succeeded - db['succeeded_with_one_event']} succeeded payments without exactly "
            f"one `{SUCCEEDED_EVENT}` event"
        )
    if db["events"] != {SUCCEEDED_EVENT: succeeded} and succeeded:
        problems.append(f"events {db['events']} for {succeeded} succeeded payments")
    return duplicated


def _check_deliveries(
    db: dict[str, Any], sink: dict[str, Any], out: dict[str, Any], problems: list[str]
) -> None:
    """Webhooks on: every event arrived once, signed right, and the database says so too."""
    events = sum(db["events"].values())
    delivered = db["delivery_status"].get("delivered", 0)
    out["sink_events"] = sink["events"]
    out["sink_duplicates"] = sink["duplicates"]
    out["sink_bad_signatures"] = sink["bad_signatures"]
    out["failed_attempts"] = db["failed_attempts"]
    if sink["events"] != events:
        problems.append(f"the sink received {sink['events']} of {events} events")
    if delivered != events:
        problems.append(f"{delivered} of {events} events recorded as delivered")
    if sink["duplicates"] or db["delivered_twice"]:
        problems.append(
            f"events delivered twice: {sink['duplicates']} at the sink, "
            f"{db['delivered_twice']} in event_deliveries"
        )
    if sink["bad_signatures"]:
        problems.append(f"{sink['bad_signatures']} bad signatures ({sink['bad_signature_kinds']})")
    if sink["unparseable"] or sink["event_id_header_mismatches"]:
        problems.append(
            f"{sink['unparseable']} unparseable events, "
            f"{sink['event_id_header_mismatches']} Gateway-Event-Id mismatches"
        )
    if db["failed_attempts"]:
        problems.append(f"{db['failed_attempts']} delivery attempts failed")


def webhook_report(
    runs: list[dict[str, Any]],
    arrivals: dict[str, list[Any]],
    sink: dict[str, Any],
    db: dict[str, Any],
) -> dict[str, Any]:
    """Per run: events delivered per payment, delivery lag (created → arrived at the sink), the
    share that arrived before the run's last answer, and how long after it the last one came.

    `arrivals`: the sink's `/_sink/events`, {event id: [type, object id, created ms, first
    arrival ms, copies]}.
    """
    by_object: dict[str, list[Any]] = {}
    for kind, object_id, created, arrived, copies in arrivals.values():
        if kind == SUCCEEDED_EVENT:
            by_object[str(object_id)] = [float(created), float(arrived), int(copies)]
    per_run: list[dict[str, Any]] = []
    for run in runs:
        ids = run["payment_ids"]
        seen = [by_object[i] for i in ids if i in by_object]
        end_ms = float(run.get("ended_unix", 0)) * 1000
        lags = [arrived - created for created, arrived, _ in seen]
        last = max((arrived for _, arrived, _ in seen), default=None)
        per_run.append(
            {
                "mode": run["mode"],
                "concurrency": run["concurrency"],
                "rate": run["rate"],
                "fraction": run.get("fraction"),
                "payments": len(ids),
                "delivered": len(seen),
                "per_payment": round(len(seen) / len(ids), 3) if ids else None,
                "by_end_of_run": (
                    round(sum(1 for _, a, _ in seen if a <= end_ms) / len(ids), 3) if ids else None
                ),
                "last_after_end_s": None if last is None else round((last - end_ms) / 1000, 2),
                "lag_ms": percentiles(lags),
                "duplicates": sum(copies - 1 for _, _, copies in seen),
                "drain_wait_s": run.get("drain_wait_s"),
                "cpu_ms_per_payment": run.get("cpu_ms_per_payment", {}),
            }
        )
    return {
        "runs": per_run,
        "sink": sink,
        "lag_ms_db": db["lag_ms"],
        "delivery_status": db["delivery_status"],
        "delivery_attempts": db["delivery_attempts"],
        "failed_attempts": db["failed_attempts"],
        "delivered_twice": db["delivered_twice"],
    }
