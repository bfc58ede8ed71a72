"""The gateway's tables, as SQLModel classes.

Money is stored the way it travels: a BigInteger of minor units beside a `char(3)` currency, with
the merchant-side and payer-side amounts side by side. Rates are strings (the exact 10-significant-
digit decimal the API showed), never floats. Timestamps are UTC, timezone-aware on both databases.

The hot path writes through SQLAlchemy Core on `Model.__table__` (see `storage/writer.py`); the
classes are the single description of the schema, which Alembic's migrations follow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

__all__ = [
    "ApiKey",
    "Event",
    "EventDelivery",
    "IdempotencyRecord",
    "JournalEntry",
    "JournalLine",
    "Merchant",
    "Payment",
    "PaymentAttempt",
    "Quote",
    "RateFeed",
    "RateSet",
    "Reconciliation",
    "Refund",
    "SettlementFilePart",
    "Store",
    "UTCDateTime",
    "metadata",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite would otherwise hand back naive ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - defensive, SQLite returns datetime
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime(), nullable=nullable, index=index)


def _money(nullable: bool = False) -> Any:
    return Field(sa_type=sa.BigInteger(), nullable=nullable)


def _ccy(nullable: bool = False) -> Any:
    return Field(sa_type=sa.CHAR(3), nullable=nullable)


def _counter() -> Any:
    """A running sum in minor units, 0 for rows written before the column existed."""
    return Field(default=0, sa_type=sa.BigInteger(), sa_column_kwargs={"server_default": "0"})


def _date() -> Any:
    """A business date, `YYYY-MM-DD`: a string sorts and compares the same on both databases."""
    return Field(default=None, sa_type=sa.String(10), nullable=True)


class Merchant(SQLModel, table=True):
    __tablename__ = "merchants"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    country: str = Field(sa_type=sa.CHAR(2))
    currency: str = _ccy()
    timezone: str = Field(max_length=64)
    cutoff: str = Field(max_length=5, default="00:00")
    mdr_bps: int = Field(default=0)
    fixed_fee: int = Field(default=0, sa_type=sa.BigInteger())
    created_at: datetime = _ts()
    # Webhooks and signed requests (API.md). Secrets are sealed with the key from the
    # environment (`gateway/core/secrets.py`), never stored in the clear.
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret: str | None = Field(default=None, sa_type=sa.Text())
    signing_secret: str | None = Field(default=None, sa_type=sa.Text())
    require_signature: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    fx_markups: str | None = Field(default=None, sa_type=sa.Text())
    """JSON list of the merchant's own markup rules: `{"bps", "wallet"?, "pair"?}`."""


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    key_hash: str = Field(max_length=64, unique=True)
    hint: str = Field(max_length=24)
    role: str = Field(max_length=16)
    merchant_id: str | None = Field(default=None, foreign_key="merchants.id", max_length=40)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class RateSet(SQLModel, table=True):
    """One publication of one rate source, as fetched (`fx.RateSet`): `id` is derived from the
    content, so the same publication fetched twice or by two processes is one row."""

    __tablename__ = "rate_sets"
    __table_args__ = (sa.Index("ix_rate_sets_source_published", "source", "published_at"),)

    id: str = Field(primary_key=True, max_length=40)
    source: str = Field(max_length=32)
    base: str = _ccy()
    published_at: datetime = _ts()
    fetched_at: datetime = _ts()
    content_sha256: str = Field(max_length=64)
    rates: str = Field(sa_type=sa.Text())
    """JSON object: currency code -> 1 `base` in that currency, as a decimal string."""


class RateFeed(SQLModel, table=True):
    """A fetched rate source's schedule, shared by every process: who fetches it next (the
    lease) and when, and what the last fetch said (conditional-request validators, error)."""

    __tablename__ = "rate_feeds"

    source: str = Field(primary_key=True, max_length=32)
    next_fetch_at: datetime = _ts()
    lease_owner: str | None = Field(default=None, max_length=120)
    lease_expires_at: datetime | None = _ts(nullable=True)
    etag: str | None = Field(default=None, max_length=200)
    last_modified: str | None = Field(default=None, max_length=64)
    fetched_at: datetime | None = _ts(nullable=True)
    error: str | None = Field(default=None, max_length=500)
    error_at: datetime | None = _ts(nullable=True)


class Quote(SQLModel, table=True):
    __tablename__ = "quotes"

    id: str = Field(primary_key=True, max_length=40)
    merchant_id: str = Field(foreign_key="merchants.id", max_length=40, index=True)
    wallet: str = Field(max_length=32)
    amount_value: int = _money()
    amount_currency: str = _ccy()
    payer_value: int = _money()
    payer_currency: str = _ccy()
    rate: str = Field(max_length=40)
    mid_rate: str = Field(max_length=40)
    markup_bps: int
    rate_source: str = Field(max_length=32)
    rate_as_of: datetime = _ts()
    rate_set_id: str | None = Field(default=None, foreign_key="rate_sets.id", max_length=40)
    markup_rule: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "merchant_reference", name="uq_payments_reference"),
        sa.Index("ix_payments_merchant_created", "merchant_id", "created_at"),
        sa.Index("ix_payments_resolution", "status", "next_action_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    merchant_id: str = Field(foreign_key="merchants.id", max_length=40)
    merchant_reference: str = Field(max_length=64)
    idempotency_key: str = Field(max_length=255)
    status: str = Field(max_length=24)  # "requires_customer" is 17
    amount_value: int = _money()
    currency: str = _ccy()
    payer_value: int = _money()
    payer_currency: str = _ccy()
    wallet: str = Field(max_length=32)
    partner: str = Field(max_length=64)
    route_reason: str = Field(max_length=200)
    # The terms of its quote (`QuoteUse`), copied so each figure says where it came from.
    quote_id: str | None = Field(default=None, foreign_key="quotes.id", max_length=40)
    rate: str | None = Field(default=None, max_length=40)
    mid_rate: str | None = Field(default=None, max_length=40)
    markup_bps: int | None = None
    rate_source: str | None = Field(default=None, max_length=32)
    rate_set_id: str | None = Field(default=None, max_length=40)
    rate_as_of: datetime | None = _ts(nullable=True)
    quote_expires_at: datetime | None = _ts(nullable=True)
    code_mask: str = Field(max_length=32)
    code_hash: str = Field(max_length=64, index=True)
    store_id: str | None = Field(default=None, max_length=64)
    terminal_id: str | None = Field(default=None, max_length=64)
    metadata_json: str | None = Field(default=None, sa_type=sa.Text())
    failure_code: str | None = Field(default=None, max_length=40)
    failure_message: str | None = Field(default=None, max_length=500)
    partner_reference: str | None = Field(default=None, max_length=128)
    partner_completed_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # Refunds: `refunded_value` succeeded; `reserved_*` succeeded + processing (the guard that
    # keeps refunds within the payment, and the base of the cumulative payer amounts).
    refunded_value: int = _counter()
    reserved_value: int = _counter()
    reserved_payer_value: int = _counter()
    cancel_status: str | None = Field(default=None, max_length=16)
    cancel_requested_at: datetime | None = _ts(nullable=True)
    # Set when the payment succeeds: what the ledger booked (minor units; fees are positive).
    merchant_fee: int | None = Field(default=None, sa_type=sa.BigInteger())
    partner_fee: int | None = Field(default=None, sa_type=sa.BigInteger())
    fx_revenue: int | None = Field(default=None, sa_type=sa.BigInteger())
    # Set when the final state commits (API.md, Business days).
    merchant_business_date: str | None = _date()
    partner_business_date: str | None = _date()
    # Resolution of unknown outcomes: when to look next, until when to inquire, and who holds it.
    next_action_at: datetime | None = _ts(nullable=True)
    resolve_deadline: datetime | None = _ts(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = _ts(nullable=True)
    # How the tourist pays (`PaymentMethod`), and a merchant-presented payment's code.
    payment_method: str = Field(
        default="wallet_code", max_length=16, sa_column_kwargs={"server_default": "wallet_code"}
    )
    qr_code: str | None = Field(default=None, max_length=2048)
    qr_expires_at: datetime | None = _ts(nullable=True)
    version: int = Field(default=0)


class PaymentAttempt(SQLModel, table=True):
    """One partner's turn at a payment. Persisted before the partner is called."""

    __tablename__ = "payment_attempts"

    id: str = Field(primary_key=True, max_length=40)
    payment_id: str = Field(foreign_key="payments.id", max_length=40, index=True)
    seq: int
    partner: str = Field(max_length=64)
    partner_request_id: str = Field(max_length=64, unique=True)
    route_reason: str = Field(max_length=200)
    status: str = Field(max_length=16)
    delivery: str | None = Field(default=None, max_length=16)
    partner_code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=500)
    pay_calls: int = Field(default=0)
    inquiries: int = Field(default=0)
    cancel_calls: int = Field(default=0)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a (merchant, Idempotency-Key), replayed to each identical retry."""

    __tablename__ = "idempotency_keys"

    merchant_id: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=16)
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_type=sa.Text())
    resource_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)


class Refund(SQLModel, table=True):
    """Money returned on a succeeded payment. `kind` is `merchant` (asked for through the API) or
    `cancel` (the gateway's own full refund when a partner refuses a cancel)."""

    __tablename__ = "refunds"
    __table_args__ = (sa.Index("ix_refunds_resolution", "status", "next_action_at"),)

    id: str = Field(primary_key=True, max_length=40)
    payment_id: str = Field(foreign_key="payments.id", max_length=40, index=True)
    merchant_id: str = Field(foreign_key="merchants.id", max_length=40, index=True)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=16)
    amount_value: int = _money()
    currency: str = _ccy()
    payer_value: int = _money()
    payer_currency: str = _ccy()
    # The payment's quote terms (`QuoteUse`): the refund is priced at its rate.
    quote_id: str | None = Field(default=None, max_length=40)
    rate: str | None = Field(default=None, max_length=40)
    mid_rate: str | None = Field(default=None, max_length=40)
    markup_bps: int | None = None
    rate_source: str | None = Field(default=None, max_length=32)
    rate_set_id: str | None = Field(default=None, max_length=40)
    rate_as_of: datetime | None = _ts(nullable=True)
    quote_expires_at: datetime | None = _ts(nullable=True)
    partner: str = Field(max_length=64)
    partner_request_id: str = Field(max_length=64, unique=True)
    reason: str | None = Field(default=None, max_length=500)
    failure_code: str | None = Field(default=None, max_length=40)
    failure_message: str | None = Field(default=None, max_length=500)
    partner_reference: str | None = Field(default=None, max_length=128)
    partner_completed_at: datetime | None = _ts(nullable=True)
    # What the refund reverses (positive minor units), set when it succeeds.
    merchant_fee: int | None = Field(default=None, sa_type=sa.BigInteger())
    partner_fee: int | None = Field(default=None, sa_type=sa.BigInteger())
    fx_revenue: int | None = Field(default=None, sa_type=sa.BigInteger())
    merchant_business_date: str | None = _date()
    partner_business_date: str | None = _date()
    refund_calls: int = Field(default=0)
    inquiries: int = Field(default=0)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    next_action_at: datetime | None = _ts(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = _ts(nullable=True)
    version: int = Field(default=0)


class JournalEntry(SQLModel, table=True):
    """One balanced movement: a payment's success, a refund's, or a cancelled payment's reversal."""

    __tablename__ = "journal_entries"

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)
    payment_id: str = Field(foreign_key="payments.id", max_length=40, index=True)
    refund_id: str | None = Field(default=None, foreign_key="refunds.id", max_length=40)
    created_at: datetime = _ts()
    # The fee terms it was booked under (`ledger.model.FeeTerms`): on a payment's entry, the
    # terms its fees were computed with; on a refund's, the payment's terms its cumulative
    # returns used (none: booked before 0010, one line at a time). None on reversals.
    mdr_bps: int | None = None
    fixed_fee: int | None = Field(default=None, sa_type=sa.BigInteger())
    partner_fee_bps: int | None = None
    partner_fee_fixed: int | None = Field(default=None, sa_type=sa.BigInteger())
    partner_fee_returned: bool | None = None


class JournalLine(SQLModel, table=True):
    """One leg: `amount` > 0 is a debit, < 0 a credit. Each entry sums to 0 per currency."""

    __tablename__ = "journal_lines"
    __table_args__ = (sa.Index("ix_journal_lines_account", "account", "currency", "business_date"),)

    id: str = Field(primary_key=True, max_length=48)
    entry_id: str = Field(foreign_key="journal_entries.id", max_length=40, index=True)
    account: str = Field(max_length=32)
    merchant_id: str | None = Field(default=None, max_length=40)
    partner: str | None = Field(default=None, max_length=64)
    currency: str = _ccy()
    amount: int = _money()
    business_date: str | None = _date()
    payment_id: str = Field(max_length=40, index=True)
    refund_id: str | None = Field(default=None, max_length=40)


class Event(SQLModel, table=True):
    """The outbox: written in the same transaction as the state change it reports.

    `body` is the exact JSON delivered (and signed), so every delivery sends the same bytes.
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_delivery", "delivery_status", "next_attempt_at"),
        sa.Index("ix_events_merchant", "merchant_id", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    merchant_id: str = Field(foreign_key="merchants.id", max_length=40)
    type: str = Field(max_length=40)
    object_id: str = Field(max_length=40, index=True)
    body: str = Field(sa_type=sa.Text())
    created_at: datetime = _ts()
    delivery_status: str = Field(max_length=16)
    delivery_attempts: int = Field(default=0)
    next_attempt_at: datetime | None = _ts(nullable=True)
    delivered_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = _ts(nullable=True)
    version: int = Field(default=0)


class EventDelivery(SQLModel, table=True):
    """One attempt to POST an event to its merchant's webhook URL."""

    __tablename__ = "event_deliveries"

    id: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(foreign_key="events.id", max_length=40, index=True)
    url: str = Field(max_length=2000)
    attempted_at: datetime = _ts()
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int = Field(default=0)


metadata = SQLModel.metadata


# --- settlement (API.md, Settlements; gateway/settlement/) ----------------------------------------


class SettlementBatch(SQLModel, table=True):
    """A closed settlement batch: one row per (type, owner, currency, business date), written
    once, in the transaction that freezes its lines; it never changes afterwards.

    Open batches have no row: they are computed live from the payments and refunds of their key,
    under the same deterministic id (`gateway/settlement/model.py::batch_id`). `owner` is the
    merchant id (type `merchant`) or the partner id (type `partner`); the unique key is what
    makes closing idempotent across processes (insert, or find it already there).
    """

    __tablename__ = "settlement_batches"
    __table_args__ = (
        sa.UniqueConstraint(
            "type", "owner", "currency", "business_date", name="uq_settlement_batches_key"
        ),
        sa.Index("ix_settlement_batches_date", "business_date", "type"),
        sa.Index("ix_settlement_batches_merchant", "merchant_id", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    type: str = Field(max_length=16)
    owner: str = Field(max_length=64)
    merchant_id: str | None = Field(default=None, foreign_key="merchants.id", max_length=40)
    partner: str | None = Field(default=None, max_length=64)
    currency: str = _ccy()
    business_date: str = Field(sa_type=sa.String(10))
    status: str = Field(max_length=16)
    payments_count: int = Field(default=0)
    payments_amount: int = _money()
    refunds_count: int = Field(default=0)
    refunds_amount: int = _money()
    fees: int = _money()
    net: int = _money()
    line_count: int = Field(default=0)
    """Payment, refund and reversal rows of the file (the header and `total` rows excluded)."""
    file_sha256: str = Field(max_length=64)
    file_bytes: int = _money()
    file_format: int = Field(default=1)
    """How the frozen lines render as CSV (`gateway/settlement/csvfile.py`); 1 is API.md's."""
    forced: bool = Field(default=False)
    """Closed on demand before its cut-off + grace had passed (`gateway settle --force`)."""
    closed_by: str = Field(max_length=120)
    closed_at: datetime = _ts()


class SettlementFilePart(SQLModel, table=True):
    """A closed batch's file as rendered at closing, in parts of about a mebibyte (`seq` from
    1): the file is rendered once, and every download or export streams these bytes."""

    __tablename__ = "settlement_file_parts"

    batch_id: str = Field(primary_key=True, foreign_key="settlement_batches.id", max_length=40)
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_type=sa.LargeBinary())


class SettlementLine(SQLModel, table=True):
    """A closed batch's lines, frozen at closing, in file order (`seq` 1..n), then its `total`
    row (`seq` n + 1). Every CSV column is here: amounts are signed minor units of their
    currency (refunds and reversals negative), rendered with the currency's exact decimals."""

    __tablename__ = "settlement_lines"
    __table_args__ = (sa.Index("ix_settlement_lines_object", "object_id"),)

    batch_id: str = Field(primary_key=True, foreign_key="settlement_batches.id", max_length=40)
    seq: int = Field(primary_key=True)
    record_type: str = Field(max_length=16)
    object_id: str = Field(max_length=40)
    """The CSV `id`: the payment or refund id; on the `total` row, the number of rows."""
    payment_id: str | None = Field(default=None, max_length=40)
    merchant_reference: str | None = Field(default=None, max_length=64)
    partner: str | None = Field(default=None, max_length=64)
    wallet: str | None = Field(default=None, max_length=32)
    succeeded_at: datetime | None = _ts(nullable=True)
    currency: str = _ccy()
    amount: int = _money()
    payer_currency: str | None = _ccy(nullable=True)
    payer_amount: int | None = _money(nullable=True)
    fx_rate: str | None = Field(default=None, max_length=40)
    fee: int = _money()
    net: int = _money()
    # File format 2's columns after `net`: where `fx_rate` came from.
    fx_mid_rate: str | None = Field(default=None, max_length=40)
    fx_markup_bps: int | None = None
    fx_rate_source: str | None = Field(default=None, max_length=32)
    fx_rate_set: str | None = Field(default=None, max_length=40)
    fx_rate_as_of: datetime | None = _ts(nullable=True)
    payment_method: str | None = Field(default=None, max_length=16)
    """Format 2's last column: how the payment was paid (`wallet_code`, `merchant_qr`)."""


class Reconciliation(SQLModel, table=True):
    """One partner's settlement file for one day and currency, matched against our receivable
    lines: the counts per category and the line-by-line report (CSV), kept as written."""

    __tablename__ = "reconciliations"
    __table_args__ = (sa.Index("ix_reconciliations_partner_day", "partner", "business_date"),)

    id: str = Field(primary_key=True, max_length=40)
    partner: str = Field(max_length=64)
    business_date: str = Field(sa_type=sa.String(10))
    currency: str = _ccy()
    matched: int
    missing_at_partner: int
    missing_at_gateway: int
    amount_mismatch: int
    fx_mismatch: int
    fee_mismatch: int
    report: str = Field(sa_type=sa.Text())
    report_sha256: str = Field(max_length=64)
    created_at: datetime = _ts()


class Store(SQLModel, table=True):
    """A merchant's store with a static entry code (issue #15, `gateway/stores/`): registered
    with one partner (`partner`, the merchant market's), whose code (`code`, what the printed
    QR encodes) every tourist scans, typing the amount. `pending` until the partner has issued
    the code; `disabled` stores are refused every entry order."""

    __tablename__ = "stores"

    id: str = Field(primary_key=True, max_length=40)
    merchant_id: str = Field(foreign_key="merchants.id", max_length=40, index=True)
    name: str = Field(max_length=100)
    partner: str = Field(max_length=64)
    partner_store_id: str | None = Field(default=None, max_length=128)
    code: str | None = Field(default=None, max_length=2048)
    status: str = Field(max_length=16)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


# Batches are computed from the business dates of payments and refunds: each batch's lines are
# one index range, and so are the recent days the settlement worker looks at.
sa.Index(
    "ix_payments_merchant_day",
    Payment.__table__.c.merchant_business_date,  # type: ignore[attr-defined]
    Payment.__table__.c.merchant_id,  # type: ignore[attr-defined]
)
sa.Index(
    "ix_payments_partner_day",
    Payment.__table__.c.partner_business_date,  # type: ignore[attr-defined]
    Payment.__table__.c.partner,  # type: ignore[attr-defined]
)
sa.Index(
    "ix_refunds_merchant_day",
    Refund.__table__.c.merchant_business_date,  # type: ignore[attr-defined]
    Refund.__table__.c.merchant_id,  # type: ignore[attr-defined]
)
sa.Index(
    "ix_refunds_partner_day",
    Refund.__table__.c.partner_business_date,  # type: ignore[attr-defined]
    Refund.__table__.c.partner,  # type: ignore[attr-defined]
)
