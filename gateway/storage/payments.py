"""Payments' reads, and the units of work that begin them, fail them over, commit their
outcomes and discard them.

Reads go to the reader engine and never write. Writes are *units*: async functions of a
connection (or batchable commands) handed to `GroupCommitWriter.run`. Each unit reads what it
must decide on inside its transaction and reports business outcomes as return values (never
exceptions), so a batch of units commits together (see `storage/writer.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.merchants.model import Merchant
from gateway.payments.model import Attempt, Payment
from gateway.quotes.model import MerchantQuote
from gateway.storage import rows
from gateway.storage import rows as _rows
from gateway.storage.db import Database
from gateway.storage.idempotency import (
    IdempotencyConflict,
    IdempotencyOutcome,
    create_with_key,
    idempotency,
    judge_idempotency,
)
from gateway.storage.open_days import Dated, Sides, batch_keys, move_to_open_days
from gateway.storage.raw import Insert, OneStatement, RawTransaction, Update, Write
from gateway.storage.settlement import holding_open, holding_open_in_statement
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "BeginPayment",
    "CommitOutcome",
    "DuplicateReference",
    "Rows",
    "api_keys",
    "attempt_by_request_id",
    "attempts",
    "begin_payment",
    "commit_outcome",
    "create_quote",
    "discard_payment",
    "get_attempts",
    "get_merchant",
    "get_payment",
    "get_quote",
    "insert_rows",
    "list_payments",
    "merchants",
    "payments",
    "quotes",
    "switch_partner",
]

merchants = metadata.tables["merchants"]
api_keys = metadata.tables["api_keys"]
quotes = metadata.tables["quotes"]
payments = metadata.tables["payments"]
attempts = metadata.tables["payment_attempts"]


Rows = list[tuple[str, dict[str, Any]]]
"""(table, row) pairs a state change brings (journal entry and lines, events, a refund), in
insertion order."""


# --- results of units -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DuplicateReference:
    payment_id: str


# --- reads ------------------------------------------------------------------------------------


async def _one(db: Database, stmt: sa.Select[Any]) -> dict[str, Any] | None:
    async with db.reader.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def find_api_key(db: Database, key_hash: str) -> dict[str, Any] | None:
    return await _one(db, sa.select(api_keys).where(api_keys.c.key_hash == key_hash))


async def get_merchant(db: Database, merchant_id: str) -> Merchant | None:
    row = await _one(db, sa.select(merchants).where(merchants.c.id == merchant_id))
    return None if row is None else rows.merchant(row)


async def get_quote(db: Database, quote_id: str) -> MerchantQuote | None:
    row = await _one(db, sa.select(quotes).where(quotes.c.id == quote_id))
    return None if row is None else rows.quote(row)


def create_quote(
    *, claim: dict[str, Any], quote: MerchantQuote, now: datetime
) -> Unit[IdempotencyOutcome]:
    """A quote and its completed idempotency record, in one commit."""
    return create_with_key(claim=claim, table=quotes, row=rows.quote_row(quote), now=now)


async def get_payment(db: Database, payment_id: str) -> Payment | None:
    row = await _one(db, sa.select(payments).where(payments.c.id == payment_id))
    return None if row is None else rows.payment(row)


async def attempt_by_request_id(db: Database, partner_request_id: str) -> Attempt | None:
    """The attempt a partner knows by `partner_request_id` (unique across payments)."""
    stmt = sa.select(attempts).where(attempts.c.partner_request_id == partner_request_id)
    row = await _one(db, stmt)
    return None if row is None else rows.attempt(row)


async def get_attempts(db: Database, payment_id: str) -> list[Attempt]:
    stmt = sa.select(attempts).where(attempts.c.payment_id == payment_id).order_by(attempts.c.seq)
    async with db.reader.connect() as conn:
        return [rows.attempt(r) for r in (await conn.execute(stmt)).mappings()]


async def list_payments(
    db: Database,
    *,
    merchant_id: str | None,
    merchant_reference: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[Payment], bool]:
    """Newest first. Ids sort by creation time, so paging is an id range."""
    stmt = sa.select(payments)
    if merchant_id is not None:
        stmt = stmt.where(payments.c.merchant_id == merchant_id)
    if merchant_reference is not None:
        stmt = stmt.where(payments.c.merchant_reference == merchant_reference)
    if starting_after is not None:
        stmt = stmt.where(payments.c.id < starting_after)
    stmt = stmt.order_by(payments.c.id.desc()).limit(limit + 1)
    async with db.reader.connect() as conn:
        found = [rows.payment(r) for r in (await conn.execute(stmt)).mappings()]
    return found[:limit], len(found) > limit


# --- units ------------------------------------------------------------------------------------


BeginOutcome = IdempotencyOutcome | DuplicateReference


@dataclasses.dataclass(frozen=True, slots=True)
class BeginPayment:
    """The first commit of a payment: key claim, spot quote, payment and first attempt.

    Batched: however many payments begin together, their rows go in with one write per table
    after one lookup (keys already claimed, references already used).
    """

    kind: ClassVar[str] = "begin_payment"
    lane: ClassVar[str] = "begin_payment"
    """Commits beside the other writes on PostgreSQL (see `storage/writer.py`): it only inserts
    rows no other transaction can see yet, and deletes expired keys no one else writes."""

    claim: dict[str, Any]
    quote: MerchantQuote | None
    """A quote made on the spot for this payment (stored with it)."""
    payment: Payment
    attempt: Attempt
    now: datetime

    def _key(self) -> tuple[str, str]:
        return (self.claim["merchant_id"], self.claim["key"])

    def _reference(self) -> tuple[str, str]:
        return (self.payment.merchant_id, self.payment.merchant_reference)

    @classmethod
    async def run_batch(
        cls, tx: RawTransaction, commands: Sequence[BeginPayment]
    ) -> list[BeginOutcome]:
        results: list[BeginOutcome] = [None] * len(commands)
        records, taken = await _keys_and_references(tx, commands)
        expired: list[tuple[str, str]] = []
        claimed: dict[tuple[str, str], int] = {}
        for i, command in enumerate(commands):
            key = command._key()
            if key in claimed:  # the same key twice in this batch: the first one runs
                first = commands[claimed[key]].claim["request_hash"]
                results[i] = IdempotencyConflict(in_use=first == command.claim["request_hash"])
                continue
            verdict = judge_idempotency(
                records.get(key), command.claim["request_hash"], command.now
            )
            if verdict is not None:
                results[i] = verdict
                continue
            if key in records:
                expired.append(key)
            claimed[key] = i

        go: list[BeginPayment] = []
        for i in claimed.values():
            command = commands[i]
            reference = command._reference()
            if reference in taken:
                results[i] = DuplicateReference(payment_id=taken[reference])
                continue
            taken[reference] = command.payment.id
            go.append(command)

        if expired:
            match, args = tx.matching(("merchant_id", "key"), expired)
            await tx.execute(f"DELETE FROM idempotency_keys WHERE {match}", args)
        await tx.write(*cls._writes(go))
        return results

    @classmethod
    async def run_in_one_statement(
        cls, db: OneStatement, commands: Sequence[BeginPayment]
    ) -> list[BeginOutcome] | None:
        """The usual batch in one round trip (PostgreSQL): no key and no reference of it is
        known yet, nor twice in it, so every payment begins. Otherwise nothing is written and
        the answer is None: `run_batch` looks them up and judges each."""
        keys = list(dict.fromkeys(c._key() for c in commands))
        references = list(dict.fromkeys(c._reference() for c in commands))
        if len(keys) != len(commands) or len(references) != len(commands):
            return None
        known_keys, key_args = db.matching(("merchant_id", "key"), keys)
        known_references, reference_args = db.matching(
            ("merchant_id", "merchant_reference"), references
        )
        fresh = (
            f"SELECT NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE {known_keys})"
            f" AND NOT EXISTS (SELECT 1 FROM payments WHERE {known_references}) AS ok"
        )
        written = await db.write_if(
            [("fresh", fresh)], [*key_args, *reference_args], *cls._writes(commands)
        )
        return [None] * len(commands) if written else None

    @staticmethod
    def _writes(commands: Sequence[BeginPayment]) -> list[Write]:
        return [
            Insert("idempotency_keys", [c.claim for c in commands]),
            Insert("quotes", [rows.quote_row(c.quote) for c in commands if c.quote is not None]),
            Insert("payments", [rows.new_payment_row(c.payment) for c in commands]),
            Insert("payment_attempts", [rows.new_attempt_row(c.attempt) for c in commands]),
        ]


def begin_payment(
    *,
    claim: dict[str, Any],
    quote: MerchantQuote | None,
    payment: Payment,
    attempt: Attempt,
    now: datetime,
) -> BeginPayment:
    return BeginPayment(claim=claim, quote=quote, payment=payment, attempt=attempt, now=now)


def switch_partner(
    *,
    payment: Payment,
    failed_attempt: tuple[Attempt, Attempt],
    next_attempt: Attempt,
    now: datetime,
) -> Unit[bool]:
    """Fail over after a partner certainly charged nothing: close its attempt, open the next;
    False (nothing written) if `payment`'s lease is no longer the one it was taken under."""

    async def unit(conn: AsyncConnection) -> bool:
        moved = await conn.execute(
            sa.update(payments)
            .where(payments.c.id == payment.id, payments.c.lease_owner == payment.lease_owner)
            .values(
                partner=next_attempt.partner,
                route_reason=next_attempt.route_reason,
                updated_at=now,
            )
        )
        if moved.rowcount != 1:
            return False
        ended = rows.attempt_changes(*failed_attempt)
        await conn.execute(
            sa.update(attempts).where(attempts.c.id == ended.pop("id")).values(**ended)
        )
        await conn.execute(sa.insert(attempts).values(**rows.new_attempt_row(next_attempt)))
        return True

    return unit


@dataclasses.dataclass(frozen=True, slots=True)
class CommitOutcome:
    """Write a payment's new state (and its attempts') if `owner` (a lease name,
    `leases.lease_name`) still holds its lease.

    `response` completes the idempotency record `(merchant_id, key, status, body)` in the same
    commit, unless an answer is already stored there (the POS got it). The result is False when
    the lease was lost (someone else now owns the payment). Batched: one `executemany` per table
    and shape of change.
    """

    kind: ClassVar[str] = "commit_outcome"

    payment_id: str
    changes: dict[str, Any]
    attempt_changes: Sequence[dict[str, Any]]
    owner: str
    response: tuple[str, str, int, str] | None = None
    rows: Rows = dataclasses.field(default_factory=list)
    """Rows the new state brings (journal entry and lines, events), written only with it."""
    sides: Sides | None = None
    """Whose batches the state's business dates belong to (a final state dates its lines)."""

    @classmethod
    async def run_batch(cls, tx: RawTransaction, commands: Sequence[CommitOutcome]) -> list[bool]:
        # The days the states date are held open (PostgreSQL) by the lease read itself.
        held, held_args = holding_open(tx, batch_keys(_states(commands)))
        match, args = tx.matching(("id",), [(c.payment_id,) for c in commands])
        holders = await tx.fetch(
            f"SELECT id, lease_owner FROM {held} LEFT JOIN payments ON {match}",
            [*held_args, *args],
        )
        lease = {r["id"]: r["lease_owner"] for r in holders}
        if tx.dialect == "postgresql":
            # A lease may be taken from a live holder (`leases.seize_lease`): lock the rows and
            # read their owners again, so that no other writer commits between this check and
            # the write (under READ COMMITTED the SELECT above does not stop one).
            ids = sorted({c.payment_id for c in commands})
            locked = await tx.fetch(
                "SELECT id, lease_owner FROM payments WHERE id = ANY(?::text[])"
                " ORDER BY id FOR UPDATE",
                [ids],
            )
            lease = {r["id"]: r["lease_owner"] for r in locked}
        owned = [c for c in commands if lease.get(c.payment_id) == c.owner]
        await move_to_open_days(tx, _states(owned))
        await tx.write(*cls._writes(owned))
        written = {c.payment_id for c in owned}
        return [c.payment_id in written for c in commands]

    @classmethod
    async def run_in_one_statement(
        cls, db: OneStatement, commands: Sequence[CommitOutcome]
    ) -> list[bool] | None:
        """The usual batch in one round trip (PostgreSQL): every payment's lease is still its
        writer's and every day its lines are dated to is open. The statement holds those days
        open first (as `run_batch` does), then locks the payments whose lease is as expected;
        unless it locked them all and found the days open, it writes nothing and the answer is
        None: `run_batch` sorts the batch out (lost leases, lines moved to open days)."""
        ids = [c.payment_id for c in commands]
        if len(set(ids)) != len(ids):
            return None
        checks: list[tuple[str, str]] = []
        args: list[Any] = []
        keys = batch_keys(_states(commands))
        days_open = "TRUE"
        if keys:
            hold, args = holding_open_in_statement(keys)
            checks.append(("days", f"SELECT {hold} AS held_open"))
            days_open = "(SELECT held_open FROM days)"
        checks += [
            (
                "owned",
                "SELECT p.id FROM payments AS p"
                " JOIN unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS v (id, owner)"
                f" ON p.id = v.id AND p.lease_owner = v.owner WHERE {days_open}"
                " ORDER BY p.id FOR UPDATE OF p",
            ),
            ("all_owned", "SELECT count(*) = ? AS ok FROM owned"),
        ]
        args += [ids, [c.owner for c in commands], len(commands)]
        written = await db.write_if(checks, args, *cls._writes(commands))
        return [True] * len(commands) if written else None

    @staticmethod
    def _writes(owned: Sequence[CommitOutcome]) -> list[Write]:
        answers = [
            {"state": "completed", "response_status": status, "response_body": body}
            | {"merchant_id": merchant_id, "key": key}
            for c in owned
            if c.response is not None
            for merchant_id, key, status, body in [c.response]
        ]
        return [
            *_updates(
                "payments",
                [{**c.changes, "id": c.payment_id} for c in owned],
                extra="version = payments.version + 1",
            ),
            *_updates("payment_attempts", [a for c in owned for a in c.attempt_changes]),
            *_inserts([row for c in owned for row in c.rows]),
            # Only the first answer is kept: a later state never rewrites the snapshot.
            Update(
                "idempotency_keys",
                answers,
                keys=("merchant_id", "key"),
                where="idempotency_keys.state = 'in_progress'",
            ),
        ]


def _states(commits: Sequence[CommitOutcome]) -> list[Dated]:
    return [(c.sides, c.changes, c.rows) for c in commits if c.sides is not None]


async def _keys_and_references(
    tx: RawTransaction, commands: Sequence[BeginPayment]
) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], str]]:
    """The batch's idempotency records, and the payments already holding its references (by
    reference), in one statement: one round trip, and one snapshot. A payment and its key commit
    together, so a payment seen here always comes with its key: a retry of the same request is
    `in use` (or a replay), never a duplicate, even on PostgreSQL's READ COMMITTED where two
    statements may see different commits."""
    keys, key_args = tx.matching(("merchant_id", "key"), list({c._key(): None for c in commands}))
    refs, ref_args = tx.matching(
        ("merchant_id", "merchant_reference"), list({c._reference(): None for c in commands})
    )
    rows = await tx.fetch(
        "SELECT merchant_id, key AS name, NULL AS payment_id, request_hash, state,"
        " response_status, response_body, expires_at"
        f" FROM idempotency_keys WHERE {keys}"
        " UNION ALL"
        " SELECT merchant_id, merchant_reference, id, NULL, NULL, NULL, NULL, NULL"
        f" FROM payments WHERE {refs}",
        [*key_args, *ref_args],
    )
    records: dict[tuple[str, str], dict[str, Any]] = {}
    taken: dict[tuple[str, str], str] = {}
    for r in rows:
        if r["payment_id"] is not None:
            taken[(r["merchant_id"], r["name"])] = r["payment_id"]
        else:
            r["expires_at"] = tx.to_datetime(r["expires_at"])
            records[(r["merchant_id"], r["name"])] = r
    return records, taken


# Insertion order that satisfies the foreign keys among the rows a state change brings.
_INSERT_ORDER = ("refunds", "journal_entries", "journal_lines", "events")


def _inserts(rows: Sequence[tuple[str, dict[str, Any]]]) -> list[Insert]:
    """(table, row) pairs as one insert per table and set of columns, in foreign-key order."""
    by_shape: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for table, row in rows:
        by_shape.setdefault((table, tuple(row)), []).append(row)
    ordered = sorted(by_shape.items(), key=lambda item: _INSERT_ORDER.index(item[0][0]))
    return [Insert(table, group) for (table, _columns), group in ordered]


def _updates(
    table: str, rows: Sequence[dict[str, Any]], *, extra: str | None = None
) -> list[Update]:
    """Rows changed by id, as one update per set of changed columns."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    return [Update(table, group, extra=extra) for group in shapes.values()]


def commit_outcome(
    *,
    before: Payment,
    after: Payment,
    attempts: Sequence[tuple[Attempt, Attempt]],
    response: tuple[int, str] | None = None,
    rows: Rows | None = None,
) -> CommitOutcome:
    """Take the payment from `before` (as this process last knew it, under the lease it holds)
    to `after`, and its `attempts` likewise (each as last known, and as it ended); written only
    while `before.lease_owner` still holds the lease. `response` (status, body) completes its
    Idempotency-Key; `rows` are what the new state brings (a state that brings rows is dated:
    its business dates move to open days if need be)."""
    owner = before.lease_owner
    assert owner is not None, "a payment is written under the lease its writer holds"
    return CommitOutcome(
        payment_id=after.id,
        changes=_rows.payment_changes(before, after),
        attempt_changes=[_rows.attempt_changes(old, new) for old, new in attempts],
        owner=owner,
        response=None
        if response is None
        else (after.merchant_id, after.idempotency_key, *response),
        rows=rows or [],
        sides=_rows.payment_sides(after) if rows else None,
    )


def discard_payment(*, payment: Payment, key: str, spot_quote_id: str | None) -> Unit[bool]:
    """Forget a payment that no partner accepted: nothing was charged, the sale may be retried.

    The quote made on the spot for it goes too; a quote the POS asked for stays usable.
    """
    payment_id, merchant_id = payment.id, payment.merchant_id

    async def unit(conn: AsyncConnection) -> bool:
        # An update, not a read: it locks the row, so nobody takes the lease before the delete.
        owned = await conn.execute(
            sa.update(payments)
            .where(payments.c.id == payment_id, payments.c.lease_owner == payment.lease_owner)
            .values(version=payments.c.version + 1)
        )
        if owned.rowcount != 1:
            return False
        await conn.execute(sa.delete(attempts).where(attempts.c.payment_id == payment_id))
        await conn.execute(sa.delete(payments).where(payments.c.id == payment_id))
        if spot_quote_id is not None:
            await conn.execute(sa.delete(quotes).where(quotes.c.id == spot_quote_id))
        await conn.execute(
            sa.delete(idempotency).where(
                idempotency.c.merchant_id == merchant_id, idempotency.c.key == key
            )
        )
        return True

    return unit


def insert_rows(*rows: tuple[sa.Table, dict[str, Any]]) -> Unit[None]:
    async def unit(conn: AsyncConnection) -> None:
        for table, values in rows:
            await conn.execute(sa.insert(table).values(**values))

    return unit
