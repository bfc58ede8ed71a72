"""The sections of gateway.toml: server, database, security, fx, durations, webhooks,
timeouts, partner defaults and sandbox delays."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import (
    Annotated,
    Literal,
    cast,
)

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fx import default_ecb_file
from gateway.core.config.fields import (
    CurrencyCode,
    CurrencyPair,
    Duration,
    EnvVarName,
    HttpUrl,
    OptionalDuration,
    PartnerId,
    Rate,
    WalletId,
    _Model,
    normalise_database_url,
)
from gateway.core.config.layout import DEFAULT_DATABASE_URL
from gateway.core.config.problems import _fail
from gateway.core.durations import EXAMPLES, DurationError, parse_duration


class ServerSettings(_Model):
    """The merchant API listener."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(65536, ge=1024)
    public_url: HttpUrl | None = None


class DatabaseSettings(_Model):
    """`url` is normalised: async drivers, and SQLite paths made absolute against the project root.

    `DATABASE_URL` in the environment replaces the configured URL.
    """

    url: str = DEFAULT_DATABASE_URL

    @field_validator("url")
    @classmethod
    def _normalise(cls, url: str, info: ValidationInfo) -> str:
        root = (info.context or {}).get("project_root")
        return normalise_database_url(url, root if isinstance(root, Path) else None)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite+aiosqlite:")


class SecuritySettings(_Model):
    code_hash_key_env: EnvVarName = "GATEWAY_CODE_HASH_KEY"
    """Names the variable holding the HMAC key for wallet-code hashes (`resolve_code_hash_key`)."""
    secrets_key_env: EnvVarName = "GATEWAY_SECRETS_KEY"
    """Names the variable holding the key that seals merchants' webhook and signing secrets
    (`resolve_secrets_key`, `gateway/core/secrets.py`)."""


SourceName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


ECB_DAILY = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"


class RateSourceSettings(_Model):
    """One source of mid rates (`[[fx.sources]]`, in priority order).

    `kind`: `ecb_xml` fetches eurofxref XML from `url` (the ECB's, or a sandbox's copy);
    `ecb_file` reads eurofxref XML from `file` once (test data; without `file`, the 2022 file
    shipped with `fx`); `partner` asks a partner's `fx_rates` for 1 `base` in its wallets'
    currencies (`calendar = "fixed"` and `max_age`, its quotes' validity, by default 10m);
    `static` is the `rates` table (1 EUR in each currency) published at `as_of`, for pegged
    or missing currencies. `calendar` says when a set goes stale: `ecb` at the next TARGET
    publication plus `grace`, `fixed` after `max_age`, `never` not at all (the default for
    `static` and `ecb_file`; `ecb` is the default for `ecb_xml`).
    """

    name: SourceName
    kind: Literal["ecb_xml", "ecb_file", "static", "partner"]
    url: HttpUrl | None = None
    partner: PartnerId | None = None
    base: CurrencyCode | None = None
    file: Path | None = None
    rates: dict[CurrencyCode, Rate] | None = None
    as_of: datetime | None = None
    calendar: Literal["ecb", "fixed", "never"] | None = None
    grace: Duration = timedelta(hours=2)
    max_age: OptionalDuration = None

    @field_validator("file")
    @classmethod
    def _resolve(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        root = (info.context or {}).get("project_root")
        if path is not None and isinstance(root, Path) and not path.is_absolute():
            return root / path
        return path

    @model_validator(mode="after")
    def _complete(self) -> RateSourceSettings:
        needs = {"ecb_xml": "url", "ecb_file": "file", "static": "rates", "partner": "partner"}[
            self.kind
        ]
        if self.kind == "partner" and self.base is None:
            raise _fail("a partner source needs base", 'add base = "THB"', key="base")
        if self.kind == "ecb_file" and self.file is None:
            object.__setattr__(self, "file", default_ecb_file())
        if getattr(self, needs) is None:
            example = {
                "partner": 'partner = "th-siampay"',
                "url": 'url = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"',
                "file": 'file = "data/eurofxref-daily.xml"',
                "rates": 'rates = { THB = "36.541" }',
            }[needs]
            raise _fail(f"a {self.kind} source needs {needs}", f"add {example}", key=needs)
        if self.kind == "static" and self.as_of is None:
            raise _fail(
                "a static source needs the rates' publication time",
                "add as_of = 2026-11-26T16:00:00+01:00",
                key="as_of",
            )
        if self.as_of is not None and self.as_of.utcoffset() is None:
            raise _fail(
                "as_of has no UTC offset",
                "write it with an offset, e.g. 2026-11-26T16:00:00+01:00",
                key="as_of",
            )
        if self.file is not None and not self.file.is_file():
            raise _fail(
                f"no such file: {self.file}",
                "point file at an eurofxref XML file",
                key="file",
            )
        if self.kind == "partner" and self.calendar is None and self.max_age is None:
            object.__setattr__(self, "max_age", timedelta(minutes=10))
        if (self.stale_after == "fixed") != (self.max_age is not None):
            raise _fail(
                "max_age goes with calendar = 'fixed', and only with it",
                'write calendar = "fixed" and max_age = "1h", or neither',
                key="max_age",
            )
        return self

    @property
    def stale_after(self) -> Literal["ecb", "fixed", "never"]:
        """`calendar`, or its default for the kind."""
        if self.calendar is not None:
            return self.calendar
        if self.kind == "ecb_xml":
            return "ecb"
        return "fixed" if self.kind == "partner" else "never"

    @property
    def fetched(self) -> bool:
        """Fetched by the refresher (the others are read at start-up)."""
        return self.kind in ("ecb_xml", "partner")


class MarkupRuleSettings(_Model):
    """A markup rule (`[[fx.markups]]`) for the sales of a wallet, a partner and/or a currency
    pair ("THB/CNY"); the most specific matching rule wins (gateway/quotes/markups.py)."""

    bps: int = Field(ge=0, le=10_000)
    wallet: WalletId | None = None
    partner: PartnerId | None = None
    pair: CurrencyPair | None = None


class FxSettings(_Model):
    """Where mid rates come from, how often they are fetched, and the markup added to them:
    `markup_bps` unless a rule matches, always within `markup_floor_bps`..`markup_cap_bps`."""

    sources: list[RateSourceSettings] = Field(
        default_factory=lambda: [RateSourceSettings(name="ecb", kind="ecb_xml", url=ECB_DAILY)],
        min_length=1,
    )
    markup_bps: int = Field(150, ge=0, le=10_000)
    markup_floor_bps: int = Field(0, ge=0, le=10_000)
    markup_cap_bps: int = Field(10_000, ge=0, le=10_000)
    markups: list[MarkupRuleSettings] = []
    refresh_interval: Duration = timedelta(minutes=15)
    """Each fetched source is fetched at most once per interval, across all processes."""
    fetch_timeout: Duration = timedelta(seconds=10)
    max_move_bps: int = Field(1000, ge=1, le=1_000_000)
    """A fetched set in which a rate moved more than this against the source's previous set
    is refused (a broken feed, not a market)."""

    @model_validator(mode="after")
    def _markups(self) -> FxSettings:
        if self.markup_floor_bps > self.markup_cap_bps:
            raise _fail(
                f"markup_floor_bps ({self.markup_floor_bps}) is above markup_cap_bps "
                f"({self.markup_cap_bps})",
                "lower the floor or raise the cap",
                key="markup_floor_bps",
            )
        scopes = [(r.wallet, r.partner, r.pair) for r in self.markups]
        for scope in scopes:
            if scopes.count(scope) > 1:
                raise _fail(
                    f"two [[fx.markups]] for the same wallet, partner and pair: {scope}",
                    "keep one rule per scope",
                    key="markups",
                )
        return self

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[RateSourceSettings]) -> list[RateSourceSettings]:
        names = [source.name for source in sources]
        for name in names:
            if names.count(name) > 1:
                raise _fail(
                    f"rate source {name!r} is listed twice",
                    "give each [[fx.sources]] its own name",
                )
        return sources


class Durations(_Model):
    """The gateway's clocks and schedules (production defaults; see profiles/test.toml)."""

    pos_wait_budget: Duration = timedelta(seconds=10)
    """How long a POS request may wait for a final answer; `pay` is only (re)sent inside it."""
    pay_retry_backoff: Duration = timedelta(milliseconds=200)
    """First wait before re-sending `pay`; doubles each retry, capped at `pay_retry_backoff_max`."""
    pay_retry_backoff_max: Duration = timedelta(seconds=2)
    inquiry_initial_interval: Duration = timedelta(seconds=2)
    inquiry_max_interval: Duration = timedelta(seconds=10)
    inquiry_deadline: Duration = timedelta(seconds=60)
    """Measured from the payment's creation; still unknown after it, the payment is cancelled."""
    cancel_initial_interval: Duration = timedelta(seconds=2)
    cancel_max_interval: Duration = timedelta(seconds=60)
    cancel_deadline: Duration = timedelta(hours=24)
    quote_lifetime: Duration = timedelta(minutes=5)
    order_code_lifetime: Duration = timedelta(minutes=5)
    """How long a merchant-presented code may be paid (Alipay+ allows at most 30 minutes)."""
    idempotency_retention: Duration = timedelta(hours=48)
    resume_interval: Duration = timedelta(seconds=5)
    """How often the background sweep looks for unfinished work."""
    lease_duration: Duration = timedelta(seconds=120)
    readiness_timeout: Duration = timedelta(seconds=2)
    breaker_cooldown: Duration = timedelta(seconds=30)
    """How long an open partner breaker refuses traffic before letting one trial call through."""
    signature_tolerance: Duration = timedelta(minutes=5)
    """How far a `Gateway-Signature` timestamp may be from the gateway's clock, either way."""
    webhook_poll_interval: Duration = timedelta(seconds=1)
    """How often the webhook worker looks for due events (it is also kicked after a commit)."""
    key_cache_ttl: Duration = timedelta(seconds=30)
    """How long an API key's lookup (its merchant, webhook and signing settings) is cached:
    changes made with the command line take effect in running gateways within it."""
    settlement_grace: Duration = timedelta(hours=2)
    """How long after a business day's cut-off its settlement batches are closed: late
    answers committed meanwhile still land in the day they belong to."""
    settlement_poll_interval: Duration = timedelta(minutes=1)
    """How often the settlement worker looks for batches whose cut-off + grace has passed."""
    settlement_lookback: Duration = timedelta(days=7)
    """How far back (from today, UTC) the settlement worker and `GET /v1/settlements` without
    a `business_date` look for open batches; older ones are closed with `gateway settle`."""
    settlement_rescan_interval: Duration = timedelta(hours=1)
    """How often the settlement worker looks at every open batch of the lookback, not only at
    the days that just became due (it also does at start)."""

    @model_validator(mode="after")
    def _consistent(self) -> Durations:
        pairs = [
            ("pay_retry_backoff", "pay_retry_backoff_max"),
            ("inquiry_initial_interval", "inquiry_max_interval"),
            ("cancel_initial_interval", "cancel_max_interval"),
        ]
        for low, high in pairs:
            if getattr(self, high) < getattr(self, low):
                raise _fail(
                    f"{high} is shorter than {low}",
                    f"make {high} at least {low}",
                    key=high,
                )
        if self.inquiry_deadline <= self.pos_wait_budget:
            raise _fail(
                "inquiry_deadline (from the payment's creation) must be longer than "
                "pos_wait_budget, or no inquiry ever runs",
                "raise inquiry_deadline or lower pos_wait_budget",
                key="inquiry_deadline",
            )
        if self.lease_duration <= self.pos_wait_budget:
            raise _fail(
                "lease_duration must outlast the longest run (pos_wait_budget)",
                "raise lease_duration",
                key="lease_duration",
            )
        return self


def _schedule_step(value: object) -> timedelta:
    if isinstance(value, timedelta):
        step: timedelta | None = value
    else:
        try:
            step = parse_duration(cast(str, value))
        except DurationError as exc:
            raise _fail(str(exc), f'write a duration string such as "0s", {EXAMPLES}') from None
    if step is None:
        raise _fail("'off' is not a delay", 'write e.g. "0s" or "5m"')
    return step


ScheduleStep = Annotated[timedelta, BeforeValidator(_schedule_step)]


class WebhookSettings(_Model):
    """Delivery of events to merchants' webhook URLs (`gateway/events/delivery.py`).

    `schedule[n]` is the wait before attempt n+1, after the previous attempt; the first attempt
    is made when the event is created (or a redelivery is asked for), so the list starts with
    "0s". After the last attempt fails the event is `failed`. Each wait is lengthened by a random
    0 to `jitter_percent` %, so retries of many events do not arrive at once.
    """

    timeout: Duration = timedelta(seconds=10)
    """One delivery: connect, send, and wait for the status line."""
    schedule: tuple[ScheduleStep, ...] = Field(
        default=(
            timedelta(0),
            timedelta(minutes=1),
            timedelta(minutes=5),
            timedelta(minutes=30),
            timedelta(hours=2),
            timedelta(hours=5),
            timedelta(hours=10),
            timedelta(hours=10),
        ),
        min_length=1,
        max_length=50,
    )
    concurrency: int = Field(64, ge=1, le=1000)
    """Deliveries in flight at once, per gateway process. Each is a task on the loop the
    payments share: with fewer slots than payments in flight, deliveries fall behind under
    load (16 slots at 64 POS requests in flight: half the events delivered by the end of a
    run, lag p50 1.5 s; 64 slots: 99 %, 0.1 s; docs/benchmarks.md)."""
    jitter_percent: int = Field(10, ge=0, le=100)

    @field_validator("schedule")
    @classmethod
    def _starts_now(cls, schedule: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if schedule and schedule[0] != timedelta(0):
            raise _fail(
                "the first attempt is made when the event is created",
                'start the list with "0s"',
                key="[0]",
            )
        return schedule

    @property
    def span(self) -> timedelta:
        """From an event's creation to its last attempt, jitter aside."""
        return sum(self.schedule, timedelta(0))


class Timeouts(_Model):
    """Per-operation partner timeouts (field names are `adapters.Operation` values) and connect."""

    pay: Duration = timedelta(seconds=8)
    inquire: Duration = timedelta(seconds=5)
    cancel: Duration = timedelta(seconds=8)
    refund: Duration = timedelta(seconds=8)
    inquire_refund: Duration = timedelta(seconds=5)
    fetch_settlement_file: Duration = timedelta(seconds=30)
    fx_rates: Duration = timedelta(seconds=5)
    order_code: Duration = timedelta(seconds=8)
    entry_code: Duration = timedelta(seconds=8)  # registering a store
    connect: Duration = timedelta(seconds=2)

    def seconds(self, operation: str) -> float:
        """The timeout in seconds for an operation (`Operation.PAY` or "pay") or "connect"."""
        name = str(operation)
        if name not in type(self).model_fields:
            raise KeyError(f"no timeout for operation {name!r}")
        value: timedelta = getattr(self, name)
        return value.total_seconds()

    @property
    def as_seconds(self) -> dict[str, float]:
        """All timeouts in seconds, e.g. for an httpx.Timeout or a tenacity stop."""
        return {name: self.seconds(name) for name in type(self).model_fields}

    @property
    def longest(self) -> timedelta:
        values: list[timedelta] = [getattr(self, name) for name in type(self).model_fields]
        return max(values)


class PartnerDefaults(_Model):
    timeouts: Timeouts = Timeouts()
    breaker_failures: int = Field(5, ge=1, le=1000)
    """Consecutive not-sent or 5xx failures that open a partner's circuit breaker."""


class SandboxDelays(_Model):
    """Delays of the sandbox partner servers (API.md, test codes)."""

    hold: Duration = timedelta(seconds=9)
    """0091/0092 hold their answer this long; must exceed the pay timeout."""
    confirm: Duration = timedelta(seconds=2)
    """0093 stays "in process" this long, then succeeds."""
    expire: Duration = timedelta(seconds=3)
    """0094 stays "in process" this long, then expires."""


class _Sections(_Model):
    """What gateway.toml (and a profile overlay) may hold."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    security: SecuritySettings = SecuritySettings()
    fx: FxSettings = Field(default_factory=FxSettings)
    durations: Durations = Durations()
    partner_defaults: PartnerDefaults = PartnerDefaults()
    sandbox: SandboxDelays = SandboxDelays()
    webhooks: WebhookSettings = WebhookSettings()
