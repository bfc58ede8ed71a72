"""The gateway's one settings object, read from TOML under `configs/` and validated at start-up.

Layout of a configuration directory (the project ships `configs/`; `GATEWAY_CONFIG_DIR` picks
another):

    gateway.toml            server, database, security, fx, durations, partner_defaults, sandbox
    profiles/<name>.toml    an overlay deep-merged over gateway.toml (`test` is the fast profile)
    wallets.toml            [wallets.<id>]: payer currency and code prefixes
    partners/<id>.toml      one licensed local partner per file; `id` equals the file name

Every problem found is collected, across all files, before anything is raised: `ConfigError`
holds one `ConfigProblem` (file, key, message, fix) per mistake. Secrets are never values in these
files; the files name environment variables, read by `resolve_credentials` and friends.

Every duration is a string with a unit (`"8s"`, `"250ms"`, `"off"`), exposed as `timedelta`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import os
import re
import tomllib
import types
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    Protocol,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fx import UnsupportedCurrency, default_ecb_file, get_currency
from gateway.core.durations import EXAMPLES, DurationError, parse_duration
from gateway.core.iso3166 import ALPHA2

__all__ = [
    "AmountLimit",
    "CodeLength",
    "ConfigError",
    "ConfigProblem",
    "DatabaseSettings",
    "Durations",
    "Fees",
    "FxSettings",
    "Licence",
    "Partner",
    "PartnerDefaults",
    "PartnerSandbox",
    "ProtocolLike",
    "RetryPolicy",
    "SandboxDelays",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "Timeouts",
    "Wallet",
    "WebhookSettings",
    "default_config_dir",
    "load_settings",
    "normalise_database_url",
    "resolve_code_hash_key",
    "resolve_credentials",
    "resolve_sandbox_private_key",
    "resolve_secrets_key",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PROFILE = "default"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/gateway.db"
GATEWAY_FILE = "gateway.toml"
WALLETS_FILE = "wallets.toml"
PARTNERS_DIR = "partners"
PROFILES_DIR = "profiles"
SANDBOX_KEYS_HINT = "export it, or run `gateway sandbox keys` for the demo partners"


# --- errors ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One mistake: the file, the dotted key in it (`markets[1]`), what is wrong, how to fix it."""

    file: str
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        fix = self.fix if self.fix.endswith((".", "?", "!")) else self.fix + "."
        return f"{where}: {self.message}. Fix: {fix}"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every mistake found, one per line."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def single(cls, file: str, key: str, message: str, fix: str) -> ConfigError:
        return cls([ConfigProblem(file, key, message, fix)])


def _fail(message: str, fix: str, key: str = "") -> PydanticCustomError:
    """A validation error carrying its fix (and optionally a sub-key of the failing model)."""
    return PydanticCustomError(
        "gateway_config", "{message}", {"message": message, "fix": fix, "key": key}
    )


# --- value types -------------------------------------------------------------------------------


def _duration(value: object) -> timedelta | None:
    if isinstance(value, timedelta):
        parsed: timedelta | None = value
    else:
        try:
            parsed = parse_duration(cast(str, value))
        except DurationError as exc:
            raise _fail(str(exc), f"write a duration string such as {EXAMPLES}") from None
    if parsed is not None and parsed <= timedelta(0):
        raise _fail("a duration here must be longer than zero", 'write e.g. "250ms" or "10s"')
    return parsed


def _required_duration(value: object) -> timedelta:
    parsed = _duration(value)
    if parsed is None:
        raise _fail("'off' is not allowed here", f"write a duration such as {EXAMPLES}")
    return parsed


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise _fail(
            f"{value!r} is a TOML float, which is inexact",
            f'write the rate as a decimal string, e.g. "{value}"',
        )
    try:
        number = Decimal(value) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number <= 0:
        raise _fail(f"{value!r} is not a positive decimal number", 'write e.g. "36.541"')
    return number


def _currency(code: str) -> str:
    try:
        get_currency(code)
    except UnsupportedCurrency:
        if code.upper() != code and _is_currency(code.upper()):
            raise _fail(
                f"'{code}' is not an ISO 4217 code (codes are upper case)",
                f"write '{code.upper()}'",
            ) from None
        raise _fail(
            f"'{code}' is not an ISO 4217 payment currency",
            "use a code such as 'THB', 'JPY' or 'CNY'",
        ) from None
    return code


def _is_currency(code: str) -> bool:
    try:
        get_currency(code)
    except UnsupportedCurrency:
        return False
    return True


_COMMON_COUNTRY_MISTAKES = {"UK": "GB", "EL": "GR", "EN": "GB", "JA": "JP", "KO": "KR"}


def _country(code: str, info: ValidationInfo) -> str:
    if code in ALPHA2:
        return code
    if code.upper() in ALPHA2:
        fix = f"write it in upper case: '{code.upper()}'"
    else:
        timezone = info.data.get("timezone")
        guess = (
            _COMMON_COUNTRY_MISTAKES.get(code.upper())
            or (_zone_country(timezone) if isinstance(timezone, str) else None)
            or next(iter(difflib.get_close_matches(code.upper(), sorted(ALPHA2), n=1)), "TH")
        )
        fix = f"use a code such as '{guess}'"
    raise _fail(f"'{code}' is not an ISO 3166-1 alpha-2 country code", fix)


def _zone_country(timezone: str) -> str | None:
    """The country of an IANA zone (tzdata's zone.tab), to suggest a market code (errors only)."""
    try:
        table = importlib.resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    except (ModuleNotFoundError, OSError):
        return None
    for line in table.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[2] == timezone and fields[0] in ALPHA2:
            return fields[0]
    return None


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def _env_name(name: str) -> str:
    if _ENV_NAME.fullmatch(name):
        return name
    # Never echo the value: someone may have pasted the secret itself.
    raise _fail(
        "must be the NAME of an environment variable (upper case letters, digits, '_'), "
        "never a secret value",
        'write e.g. "TH_SIAMPAY_PRIVATE_KEY" and put the secret in that variable',
    )


def _pattern(regex: str, what: str, example: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _fail(f"{value!r} is not a valid {what}", f"use {regex}, e.g. '{example}'")
        return value

    return check


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _fail(
            f"'{value}' has an invalid port", "write e.g. 'http://127.0.0.1:9101'"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"'{value}' is not an http(s) URL", "write e.g. 'https://api.example.com'")
    if parts.query or parts.fragment:
        raise _fail(f"'{value}' has a query or fragment", "give only scheme, host, port and path")
    return value.rstrip("/")


def _path_prefix(value: str) -> str:
    if not value.startswith("/") or "?" in value or "#" in value or " " in value:
        raise _fail(f"'{value}' is not a URL path", "start it with '/', e.g. '/aps/api'")
    return value.rstrip("/")


_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _cutoff(value: object) -> time:
    if isinstance(value, time) and value.second == 0 and value.microsecond == 0:
        return value.replace(tzinfo=None)
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(f"{value!r} is not a local wall time HH:MM", 'write e.g. "00:00" or "18:30"')
    return time(int(match[1]), int(match[2]))


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        guess = next(iter(difflib.get_close_matches(name, sorted(available_timezones()), n=1)), "")
        fix = f"did you mean '{guess}'?" if guess else "use an IANA name such as 'Asia/Bangkok'"
        raise _fail(f"'{name}' is not an IANA time zone", fix) from None
    return name


Duration = Annotated[timedelta, BeforeValidator(_required_duration)]
OptionalDuration = Annotated[timedelta | None, BeforeValidator(_duration)]
Rate = Annotated[Decimal, BeforeValidator(_decimal)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
CountryCode = Annotated[str, AfterValidator(_country)]
EnvVarName = Annotated[str, AfterValidator(_env_name)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
UrlPath = Annotated[str, AfterValidator(_path_prefix)]
Cutoff = Annotated[time, BeforeValidator(_cutoff)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Text = Annotated[str, Field(min_length=1)]
WalletId = Annotated[str, AfterValidator(_pattern(r"[a-z0-9_]+", "wallet id", "alipay_cn"))]
PartnerId = Annotated[
    str, AfterValidator(_pattern(r"[a-z0-9][a-z0-9-]*", "partner id", "th-siampay"))
]
CredentialName = Annotated[
    str, AfterValidator(_pattern(r"[a-z][a-z0-9_]*", "credential name", "private_key"))
]
CodePrefix = Annotated[str, AfterValidator(_pattern(r"[0-9]{1,8}", "code prefix", "28"))]
ProfileName = re.compile(r"[a-z0-9][a-z0-9_-]*")
NonNegative = Annotated[int, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- gateway.toml sections ---------------------------------------------------------------------


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


class FxSettings(_Model):
    """Where mid rates come from and the markup added to them.

    `static_rates` maps a currency to 1 EUR in that currency (decimal strings). `max_age` "off"
    never refuses old rates (the shipped ECB file is from 2022).
    """

    source: Literal["ecb", "static"] = "ecb"
    ecb_file: Path = Field(default_factory=default_ecb_file)
    max_age: OptionalDuration = None
    markup_bps: int = Field(150, ge=0, le=10_000)
    static_rates: dict[CurrencyCode, Rate] | None = None
    static_as_of: datetime | None = None
    """When the static rates were published (a TOML offset date-time); required with them."""

    @field_validator("ecb_file")
    @classmethod
    def _resolve(cls, path: Path, info: ValidationInfo) -> Path:
        root = (info.context or {}).get("project_root")
        return root / path if isinstance(root, Path) and not path.is_absolute() else path

    @model_validator(mode="after")
    def _source_has_rates(self) -> FxSettings:
        if self.source == "static" and not self.static_rates:
            raise _fail(
                "source = 'static' needs rates",
                'add a [fx.static_rates] table, e.g. THB = "36.541"',
                key="static_rates",
            )
        if self.source == "static" and self.static_as_of is None:
            raise _fail(
                "source = 'static' needs the rates' publication time",
                "add static_as_of = 2026-11-26T16:00:00+01:00 under [fx]",
                key="static_as_of",
            )
        if self.static_as_of is not None and self.static_as_of.utcoffset() is None:
            raise _fail(
                "static_as_of has no UTC offset",
                "write it with an offset, e.g. 2026-11-26T16:00:00+01:00",
                key="static_as_of",
            )
        if self.source == "ecb" and not self.ecb_file.is_file():
            raise _fail(
                f"no such file: {self.ecb_file}",
                "point fx.ecb_file at an eurofxref XML file, or remove the key to use the "
                "file shipped with fx",
                key="ecb_file",
            )
        return self


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
    concurrency: int = Field(16, ge=1, le=1000)
    """Deliveries in flight at once, per gateway process."""
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


# --- wallets.toml ------------------------------------------------------------------------------


class CodeLength(_Model):
    """How many digits a wallet's payment codes have (API.md: 16 to 24)."""

    min: int = Field(16, ge=8, le=64)
    max: int = Field(24, ge=8, le=64)

    @model_validator(mode="after")
    def _ordered(self) -> CodeLength:
        if self.max < self.min:
            raise _fail(f"max ({self.max}) is below min ({self.min})", "swap them", key="max")
        return self


class Wallet(_Model):
    """A tourist's home wallet, recognised by the prefix of its payment code.

    `id` is the table name in wallets.toml (`[wallets.alipay_cn]`); `currency` is what the
    tourist pays in.
    """

    id: WalletId
    display_name: Text
    currency: CurrencyCode
    prefixes: tuple[CodePrefix, ...] = Field(min_length=1)
    code_length: CodeLength = CodeLength()

    @model_validator(mode="after")
    def _prefixes_fit(self) -> Wallet:
        for index, prefix in enumerate(self.prefixes):
            if prefix in self.prefixes[:index]:
                raise _fail(f"'{prefix}' is listed twice", "remove one", key=f"prefixes[{index}]")
            if len(prefix) + 4 > self.code_length.min:
                raise _fail(
                    f"'{prefix}' leaves fewer than 4 digits in a {self.code_length.min}-digit code",
                    "use a shorter prefix or raise code_length.min",
                    key=f"prefixes[{index}]",
                )
        return self

    def matches(self, code: str) -> bool:
        return (
            code.isdigit()
            and self.code_length.min <= len(code) <= self.code_length.max
            and code.startswith(self.prefixes)
        )


# --- partners/<id>.toml ------------------------------------------------------------------------


class Licence(_Model):
    regulator: Text
    number: Text


_VerdictName = Literal["final", "not_sent", "not_accepted", "in_process", "not_found", "maybe_sent"]
_ActionName = Literal["stop", "retry", "inquire", "fail_over"]


class RetryPolicy(_Model):
    """How hard to retry this partner, and overrides of the policy table
    (`gateway/partners/retry.py`): `[retry.pay]` / `[retry.inquire]` map a verdict to an action,
    e.g. `not_sent = "retry"`."""

    max_attempts: int = Field(3, ge=1, le=20)
    """`pay` sends per attempt within the POS wait budget, the first included; 1 never retries."""
    pay: dict[_VerdictName, _ActionName] = {}
    inquire: dict[_VerdictName, _ActionName] = {}

    def overrides(self) -> dict[str, dict[str, str]]:
        return {
            "pay": {str(k): str(v) for k, v in self.pay.items()},
            "inquire": {str(k): str(v) for k, v in self.inquire.items()},
        }


class Fees(_Model):
    """What the partner charges the gateway per payment, in the payer currency."""

    bps: int = Field(0, ge=0, le=10_000)
    fixed: dict[CurrencyCode, NonNegative] = {}
    """Minor units per payment, by payer currency."""


class AmountLimit(_Model):
    """Per-payment limits in minor units of one currency; either side may be left out."""

    min: int | None = Field(None, ge=1)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> AmountLimit:
        if self.min is not None and self.max is not None and self.max < self.min:
            raise _fail(f"max ({self.max}) is below min ({self.min})", "swap them", key="max")
        return self


class PartnerSandbox(_Model):
    """The demo server speaking this partner's protocol; `port` defaults to base_url's port.

    `private_key_env` names the sandbox's own signing key, for protocols whose partners sign
    with a key of their own (Alipay+); `gateway/sandboxes.py` says so when one is missing."""

    enabled: bool = False
    private_key_env: EnvVarName | None = None
    port: int | None = Field(None, ge=1, le=65535)


class Partner(_Model):
    """A licensed local partner: where it may acquire, what it serves, how to reach it.

    `timeouts` are effective values: the file's `[timeouts]` over `partner_defaults.timeouts`.
    `credentials` maps the protocol's credential names to environment variable NAMES.
    """

    id: PartnerId
    display_name: Text
    licence: Licence
    timezone: TimeZoneName
    cutoff: Cutoff = time(0, 0)
    markets: tuple[CountryCode, ...] = Field(min_length=1)
    wallets: dict[str, CurrencyCode] = Field(min_length=1)
    protocol: Text
    base_url: HttpUrl
    path_prefix: UrlPath | None = None
    priority: int = Field(100, ge=0)
    credentials: dict[CredentialName, EnvVarName] = {}
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    fees: Fees = Fees()
    limits: dict[CurrencyCode, AmountLimit] = {}
    exponent_overrides: dict[CurrencyCode, Annotated[int, Field(ge=0, le=4)]] = {}
    sandbox: PartnerSandbox = PartnerSandbox()

    _source_file: str = PrivateAttr(default="")

    @field_validator("markets")
    @classmethod
    def _distinct_markets(cls, markets: tuple[str, ...]) -> tuple[str, ...]:
        for index, market in enumerate(markets):
            if market in markets[:index]:
                raise _fail(f"'{market}' is listed twice", "remove one", key=f"[{index}]")
        return markets

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def source_file(self) -> str:
        """The file this partner was read from, as error messages name it."""
        return self._source_file or f"configs/{PARTNERS_DIR}/{self.id}.toml"

    @property
    def port(self) -> int:
        """Where this partner's sandbox listens: `sandbox.port`, else the port of `base_url`."""
        url = urlsplit(self.base_url)
        return self.sandbox.port or url.port or (443 if url.scheme == "https" else 80)


# --- the settings object -----------------------------------------------------------------------


class Settings(_Sections):
    """Everything the gateway, its workers, CLI and sandboxes read from configuration.

    Build it with `load_settings`; constructing it directly (tests) skips the cross-file checks.
    `wallets` is keyed by id; `partners` is sorted by id.
    """

    wallets: dict[str, Wallet] = {}
    partners: tuple[Partner, ...] = ()
    profile: str = DEFAULT_PROFILE
    config_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "configs")

    @property
    def project_root(self) -> Path:
        return self.config_dir.parent

    def partner(self, partner_id: str) -> Partner:
        """The partner with this id; `KeyError` if there is none."""
        for partner in self.partners:
            if partner.id == partner_id:
                return partner
        raise KeyError(partner_id)

    def partner_timeouts(self, partner: Partner) -> dict[str, float]:
        """Seconds per `adapters.Operation` value for the partner's adapter (connect excluded:
        see `partner.timeouts.connect`)."""
        return {op: s for op, s in partner.timeouts.as_seconds.items() if op != "connect"}

    def wallet_for_code(self, code: str) -> Wallet | None:
        """The wallet whose longest prefix starts the code, if the code's length fits it."""
        matches = [
            (len(prefix), wallet)
            for wallet in self.wallets.values()
            for prefix in wallet.prefixes
            if code.startswith(prefix)
        ]
        if not matches:
            return None
        wallet = max(matches, key=lambda item: item[0])[1]
        return wallet if wallet.matches(code) else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = _schedule_problems(self)  # load_settings reports them all; here the first
        if problems:
            key, message, fix = problems[0]
            raise _fail(message, fix, key=key)
        return self


def _schedule_problems(settings: Settings) -> list[tuple[str, str, str]]:
    """Checks across sections and partners: (dotted key, message, fix) for each one broken."""
    problems: list[tuple[str, str, str]] = []
    sandbox, durations = settings.sandbox, settings.durations
    pay_timeouts = [("partner_defaults.timeouts.pay", settings.partner_defaults.timeouts.pay)]
    pay_timeouts += [
        (f"partner {p.id}'s timeouts.pay", p.timeouts.pay)
        for p in settings.partners
        if p.sandbox.enabled
    ]
    for what, pay in pay_timeouts:
        if sandbox.hold <= pay:
            problems.append(
                (
                    "sandbox.hold",
                    f"must exceed the pay timeout ({what}), or test code 0091 never times out",
                    f"raise sandbox.hold above {what}",
                )
            )
    for name, code in (("confirm", "0093"), ("expire", "0094")):
        if getattr(sandbox, name) >= durations.inquiry_deadline:
            problems.append(
                (
                    f"sandbox.{name}",
                    f"must be shorter than durations.inquiry_deadline, or test code {code} "
                    "is cancelled before inquiry sees its end",
                    f"lower sandbox.{name} or raise durations.inquiry_deadline",
                )
            )
    timeouts = [settings.partner_defaults.timeouts] + [p.timeouts for p in settings.partners]
    if durations.lease_duration <= max(t.longest for t in timeouts):
        problems.append(
            (
                "durations.lease_duration",
                "must outlast the longest partner timeout",
                "raise durations.lease_duration",
            )
        )
    webhook = settings.webhooks.timeout
    if durations.lease_duration <= webhook + max(timedelta(milliseconds=500), webhook / 4):
        problems.append(
            (
                "durations.lease_duration",
                "must outlast a webhook delivery (webhooks.timeout, plus a quarter of it or "
                "500ms at least), or two processes could deliver one event at once",
                "raise durations.lease_duration or lower webhooks.timeout",
            )
        )
    ports: dict[int, str] = {settings.server.port: "server.port"}
    for partner in settings.partners:
        if not partner.sandbox.enabled:
            continue
        port = partner.port
        if port in ports:
            problems.append(
                (
                    f"partners.{partner.id}.sandbox.port",
                    f"sandbox port {port} is also used by {ports[port]}",
                    "give each sandbox its own port (sandbox.port, or the port in base_url)",
                )
            )
        ports[port] = f"partner {partner.id}'s sandbox"
    return problems


# --- secrets from the environment --------------------------------------------------------------


def _require_env(
    env: Mapping[str, str], var: str, file: str, key: str, fix: str
) -> str | ConfigProblem:
    value = env.get(var)
    if value:
        return value
    state = "is empty" if value == "" else "is not set"
    return ConfigProblem(file, key, f"environment variable {var} {state}", fix)


def resolve_credentials(partner: Partner, env: Mapping[str, str]) -> dict[str, str]:
    """The partner's secrets, read from the environment variables its file names.

    Raises `ConfigError` naming every variable that is missing or empty.
    """
    values: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for name, var in partner.credentials.items():
        found = _require_env(
            env, var, partner.source_file, f"credentials.{name}", SANDBOX_KEYS_HINT
        )
        if isinstance(found, ConfigProblem):
            problems.append(found)
        else:
            values[name] = found
    if problems:
        raise ConfigError(problems)
    return values


def resolve_sandbox_private_key(partner: Partner, env: Mapping[str, str]) -> str:
    """The PEM private key the partner's sandbox signs with."""
    var = partner.sandbox.private_key_env
    if var is None:
        raise ConfigError(
            [
                ConfigProblem(
                    partner.source_file,
                    "sandbox.private_key_env",
                    "no sandbox signing key is configured",
                    'add private_key_env = "<PARTNER>_SANDBOX_PRIVATE_KEY" under [sandbox]',
                )
            ]
        )
    found = _require_env(
        env, var, partner.source_file, "sandbox.private_key_env", SANDBOX_KEYS_HINT
    )
    if isinstance(found, ConfigProblem):
        raise ConfigError([found])
    return found


def resolve_code_hash_key(settings: Settings, env: Mapping[str, str]) -> bytes:
    """The HMAC key for wallet-code hashes (UTF-8 bytes of the variable's value)."""
    found = _require_env(
        env,
        settings.security.code_hash_key_env,
        _display(settings.config_dir / GATEWAY_FILE, settings.config_dir),
        "security.code_hash_key_env",
        "export it with a long random value, e.g. `export "
        f'{settings.security.code_hash_key_env}="$(openssl rand -hex 32)"`',
    )
    if isinstance(found, ConfigProblem):
        raise ConfigError([found])
    return found.encode()


def resolve_secrets_key(settings: Settings, env: Mapping[str, str]) -> bytes:
    """The key sealing merchants' secrets (UTF-8 bytes of the variable; at least 32 of them)."""
    var = settings.security.secrets_key_env
    file = _display(settings.config_dir / GATEWAY_FILE, settings.config_dir)
    fix = f'export it with a long random value, e.g. `export {var}="$(openssl rand -hex 32)"`'
    found = _require_env(env, var, file, "security.secrets_key_env", fix)
    if isinstance(found, ConfigProblem):
        raise ConfigError([found])
    key = found.encode()
    if len(key) < 32:
        # Never echo the value.
        raise ConfigError.single(
            file,
            "security.secrets_key_env",
            f"environment variable {var} is too short ({len(key)} bytes; at least 32)",
            fix,
        )
    return key


# --- database URLs -----------------------------------------------------------------------------

_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def normalise_database_url(url: str, project_root: Path | None = None) -> str:
    """Pick the async driver (`postgres://` → `postgresql+asyncpg://`, `sqlite://` →
    `sqlite+aiosqlite://`) and make a relative SQLite path absolute against `project_root`."""
    scheme, separator, rest = url.partition("://")
    driver = _DRIVERS.get(scheme.lower()) if separator else None
    if driver is None:
        # Never echo the URL: it may carry a password.
        shown = scheme if separator and len(scheme) < 40 else "(none)"
        raise _fail(
            f"unsupported database URL scheme {shown!r}",
            "use sqlite+aiosqlite:///var/gateway.db or postgresql://user@host:5432/dbname",
        )
    if driver == "sqlite+aiosqlite" and project_root is not None:
        path, question, query = rest.partition("?")
        relative = path[1:] if path.startswith("/") else path
        if relative and relative != ":memory:" and not relative.startswith(("/", "file:")):
            rest = "/" + str(project_root / relative) + question + query
    return f"{driver}://{rest}"


# --- loading -----------------------------------------------------------------------------------


class ProtocolLike(Protocol):
    """What the loader needs of an `adapters.PROTOCOLS` entry."""

    @property
    def name(self) -> str: ...

    @property
    def required_credentials(self) -> tuple[str, ...]: ...


def _protocols() -> Mapping[str, ProtocolLike]:
    # Looked up at each load (not at import) so that tests can swap the registry.
    from adapters import PROTOCOLS

    return PROTOCOLS


def default_config_dir(env: Mapping[str, str] = os.environ) -> Path:
    """`GATEWAY_CONFIG_DIR`, else `<project root>/configs`."""
    chosen = env.get("GATEWAY_CONFIG_DIR")
    return Path(chosen) if chosen else PROJECT_ROOT / "configs"


def load_settings(
    config_dir: Path | None = None,
    profile: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """Read, merge and validate the configuration; raise `ConfigError` listing every problem.

    `config_dir` defaults to `default_config_dir(env)`; `profile` to `GATEWAY_PROFILE` (none:
    gateway.toml alone). `DATABASE_URL` replaces `database.url`. Secrets are not read here
    (`resolve_credentials`), so commands that need none run without them.
    """
    directory = (config_dir if config_dir is not None else default_config_dir(env)).resolve()
    name = profile or env.get("GATEWAY_PROFILE") or DEFAULT_PROFILE
    return _Loader(directory, env).load(name)


def _display(path: Path, config_dir: Path) -> str:
    try:
        return path.relative_to(config_dir.parent).as_posix()
    except ValueError:
        return path.as_posix()


_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out += part
        else:
            text = part if _TOML_BARE_KEY.fullmatch(part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class validating the table at `loc`, to list the keys it allows."""
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif origin in (dict, Mapping):
            annotation = get_args(annotation)[1]
        elif origin in (list, tuple):
            annotation = get_args(annotation)[0]
        else:
            return None
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


_MISPLACED = {
    "wallets": f"wallets belong in {WALLETS_FILE}",
    "partners": f"partners belong in {PARTNERS_DIR}/<id>.toml, one file each",
    "profile": "choose the profile with GATEWAY_PROFILE or the --profile option",
    "config_dir": "choose the directory with GATEWAY_CONFIG_DIR",
}

_BOUNDS = {
    "greater_than_equal": ("of at least", "ge"),
    "greater_than": ("greater than", "gt"),
    "less_than_equal": ("of at most", "le"),
    "less_than": ("less than", "lt"),
}

_FIXES = {
    "int_type": "write a whole number without quotes, e.g. 100",
    "int_parsing": "write a whole number without quotes, e.g. 100",
    "int_from_float": "write a whole number, e.g. 100",
    "string_type": 'write a quoted string, e.g. "value"',
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "dict_type": "write a table, e.g. [section] followed by key = value lines",
    "model_type": "write a table, e.g. [section] followed by key = value lines",
    "list_type": 'write an array, e.g. ["a", "b"]',
    "tuple_type": 'write an array, e.g. ["a", "b"]',
    "string_too_short": "write a non-empty string",
    "path_type": 'write a path as a string, e.g. "data/rates.xml"',
}


def _describe(
    error: Mapping[str, Any], root: type[BaseModel], loc: tuple[int | str, ...]
) -> tuple[str, str, tuple[int | str, ...]]:
    """message, fix and the (possibly refined) location of one pydantic error."""
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    last = str(loc[-1]) if loc else ""
    if kind == "gateway_config":
        extra = ctx.get("key") or ""
        refined = loc + tuple(_split_key(extra)) if extra else loc
        return str(ctx["message"]), str(ctx["fix"]), refined
    if kind == "missing":
        parent = _dotted(loc[:-1])
        return "is required", f"add {last}" + (f" under [{parent}]" if parent else ""), loc
    if kind == "extra_forbidden":
        if len(loc) == 1 and last in _MISPLACED and root is _Sections:
            return f"'{last}' does not belong in this file", _MISPLACED[last], loc
        model = _model_at(root, loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(last, allowed, n=1)
        if close:
            fix = f"did you mean '{close[0]}'?"
        elif allowed:
            fix = f"remove it; the keys allowed here are {', '.join(allowed)}"
        else:
            fix = "remove it"
        return f"'{last}' is not a known key", fix, loc
    message = str(error["msg"])
    value = error.get("input")
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 32):
        message += f" (got {value!r})"
    if kind in _BOUNDS:
        words, bound = _BOUNDS[kind]
        fix = f"use a value {words} {ctx.get(bound)}"
    elif kind == "too_short":
        message = f"needs at least {ctx.get('min_length', 1)} item(s)"
        fix = "add them"
    elif kind == "literal_error":
        fix = f"use one of {ctx.get('expected')}"
    else:
        fix = _FIXES.get(kind, "compare with the files shipped under configs/")
    return message, fix, loc


def _split_key(key: str) -> list[int | str]:
    parts: list[int | str] = []
    for piece in key.split("."):
        name, _, indexes = piece.partition("[")
        if name:
            parts.append(name)
        if indexes:
            parts.extend(int(i) for i in re.findall(r"\d+", indexes))
    return parts


def _lookup(tree: Mapping[str, Any], loc: tuple[int | str, ...]) -> bool:
    """True when the overlay `tree` supplies the value at `loc`, itself or by replacing a parent."""
    node: Any = tree
    for part in loc:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_M = TypeVar("_M", bound=BaseModel)
Loc = tuple[int | str, ...]
Origin = Callable[[Loc], tuple[str, Loc]]


class _Loader:
    """Reads one configuration directory, collecting every problem before raising."""

    def __init__(self, config_dir: Path, env: Mapping[str, str]) -> None:
        self.dir = config_dir
        self.env = env
        self.context: dict[str, Any] = {"project_root": config_dir.parent}
        self.problems: list[ConfigProblem] = []
        self.overlay: dict[str, Any] = {}
        self.overlay_file = ""

    def show(self, path: Path) -> str:
        return _display(path, self.dir)

    def add(self, file: str, key: str, message: str, fix: str) -> None:
        self.problems.append(ConfigProblem(file, key, message, fix))

    def read(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            self.add(
                self.show(path),
                "",
                "file not found",
                "create it (the project ships examples under configs/), or set "
                "GATEWAY_CONFIG_DIR to the directory holding gateway.toml",
            )
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.add(self.show(path), "", f"cannot be read ({exc})", "save it as UTF-8 text")
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = _TOML_LINE.search(str(exc))
            self.add(
                self.show(path),
                f"line {match[1]}" if match else "",
                f"invalid TOML: {_TOML_LINE.sub('', str(exc)).strip()}",
                'correct the syntax there (strings need quotes, e.g. pay = "8s")',
            )
            return None

    def validate(self, model: type[_M], data: Any, origin: Origin) -> _M | None:
        try:
            return model.model_validate(data, context=self.context)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            failed_items = {error["loc"][:-1] for error in errors if error["loc"]}
            for error in errors:
                if error["type"] == "too_short" and error["loc"] in failed_items:
                    continue  # its items failed; they are reported, the count says nothing more
                loc = tuple(part for part in error["loc"] if part != "[key]")
                message, fix, loc = _describe(error, model, loc)
                file, key = origin(loc)
                self.add(file, _dotted(key), message, fix)
            return None

    def load(self, profile: str) -> Settings:
        if not self.dir.is_dir():
            raise ConfigError(
                [
                    ConfigProblem(
                        self.dir.as_posix(),
                        "",
                        "configuration directory not found",
                        "set GATEWAY_CONFIG_DIR to the directory holding gateway.toml",
                    )
                ]
            )
        sections = self.load_sections(profile)
        wallets, declared = self.load_wallets()
        defaults = sections.partner_defaults.timeouts if sections else Timeouts()
        partners = self.load_partners(wallets, declared, defaults)
        if self.problems or sections is None:
            raise ConfigError(self.problems)
        # Every part is valid: assemble without validating twice, then check across parts.
        settings = Settings.model_construct(
            **dict(sections),
            wallets=wallets,
            partners=tuple(partners.values()),
            profile=profile,
            config_dir=self.dir,
        )
        for key, message, fix in _schedule_problems(settings):
            file, loc = self.settings_origin(tuple(_split_key(key)), partners)
            self.add(file, _dotted(loc), message, fix)
        if self.problems:
            raise ConfigError(self.problems)
        return settings

    def load_sections(self, profile: str) -> _Sections | None:
        base_path = self.dir / GATEWAY_FILE
        base = self.read(base_path) or {}
        if profile != DEFAULT_PROFILE:
            overlay_path = self.dir / PROFILES_DIR / f"{profile}.toml"
            self.overlay_file = self.show(overlay_path)
            if not ProfileName.fullmatch(profile):
                self.add(
                    "GATEWAY_PROFILE",
                    "",
                    f"{profile!r} is not a profile name",
                    "use lower-case letters, digits, '-' or '_', e.g. 'test'",
                )
            elif not overlay_path.is_file():
                known = sorted(p.stem for p in (self.dir / PROFILES_DIR).glob("*.toml"))
                self.add(
                    self.overlay_file,
                    "",
                    f"profile {profile!r} has no file",
                    f"create it, or use one of: {', '.join(known) or '(none)'}",
                )
            else:
                self.overlay = self.read(overlay_path) or {}
        merged = _deep_merge(base, self.overlay)
        url = self.env.get("DATABASE_URL")
        if url:
            database = merged.get("database")
            merged["database"] = {**(database if isinstance(database, dict) else {}), "url": url}
        base_file = self.show(base_path)

        def origin(loc: Loc) -> tuple[str, Loc]:
            if url and loc[:2] == ("database", "url"):
                return "environment variable DATABASE_URL", loc
            if self.overlay and _lookup(self.overlay, loc):
                return self.overlay_file, loc
            return base_file, loc

        return self.validate(_Sections, merged, origin)

    def load_wallets(self) -> tuple[dict[str, Wallet], set[str]]:
        path = self.dir / WALLETS_FILE
        file = self.show(path)
        raw = self.read(path)
        if raw is None:
            return {}, set()
        for key in raw:
            if key != "wallets":
                self.add(
                    file,
                    _dotted([key]),
                    f"'{key}' is not a known key",
                    "put each wallet in its own [wallets.<id>] table",
                )
        tables = raw.get("wallets", {})
        if not isinstance(tables, dict):
            self.add(file, "wallets", "must be a table", "write [wallets.<id>] tables")
            return {}, set()
        wallets: dict[str, Wallet] = {}
        for wallet_id in sorted(tables):
            table = tables[wallet_id]
            where: Loc = ("wallets", wallet_id)
            if not isinstance(table, dict):
                self.add(file, _dotted(where), "must be a table", f"write [wallets.{wallet_id}]")
                continue
            if "id" in table and table["id"] != wallet_id:
                self.add(
                    file,
                    _dotted((*where, "id")),
                    f"{table['id']!r} differs from the table name '{wallet_id}'",
                    "remove the id key: the table name is the wallet id",
                )
                continue

            def origin(loc: Loc, where: Loc = where) -> tuple[str, Loc]:
                return file, where + loc

            wallet = self.validate(Wallet, {**table, "id": wallet_id}, origin)
            if wallet is not None:
                wallets[wallet_id] = wallet
        self.check_prefixes(file, wallets)
        return wallets, set(tables)

    def check_prefixes(self, file: str, wallets: Mapping[str, Wallet]) -> None:
        """No prefix may be shared by two wallets, nor start another wallet's prefix."""
        seen: list[tuple[str, str]] = []  # (prefix, wallet id) of the wallets before, by id
        for wallet in wallets.values():
            for index, prefix in enumerate(wallet.prefixes):
                for other_prefix, other in seen:
                    if prefix == other_prefix:
                        message = f"prefix '{prefix}' is also wallet {other}'s prefix"
                    elif prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                        message = (
                            f"prefix '{prefix}' overlaps wallet {other}'s prefix "
                            f"'{other_prefix}': a code could match both"
                        )
                    else:
                        continue
                    self.add(
                        file,
                        _dotted(("wallets", wallet.id, "prefixes", index)),
                        message,
                        "give each wallet prefixes that no other wallet's prefix starts with",
                    )
            seen.extend((prefix, wallet.id) for prefix in wallet.prefixes)

    def load_partners(
        self, wallets: Mapping[str, Wallet], declared: set[str], defaults: Timeouts
    ) -> dict[str, Partner]:
        protocols = _protocols()
        partners: dict[str, Partner] = {}
        for path in sorted((self.dir / PARTNERS_DIR).glob("*.toml")):
            raw = self.read(path)
            if raw is None:
                continue
            file = self.show(path)
            self.check_references(file, path.stem, raw, wallets, declared, protocols)
            data = dict(raw)
            overrides = raw.get("timeouts", {})
            if isinstance(overrides, dict):
                data["timeouts"] = {**dict(defaults), **overrides}

            def origin(loc: Loc, file: str = file) -> tuple[str, Loc]:
                return file, loc

            partner = self.validate(Partner, data, origin)
            if partner is not None:
                partner._source_file = file
                partners[partner.id] = partner
        return dict(sorted(partners.items()))

    def check_references(
        self,
        file: str,
        stem: str,
        raw: Mapping[str, Any],
        wallets: Mapping[str, Wallet],
        declared: set[str],
        protocols: Mapping[str, ProtocolLike],
    ) -> None:
        """A partner file against its name, the wallets and the adapters registry. Runs on the raw
        table, so it reports even when the partner has other mistakes."""
        partner_id = raw.get("id")
        if isinstance(partner_id, str) and partner_id != stem:
            self.add(
                file,
                "id",
                f"'{partner_id}' does not match the file name {stem}.toml",
                f'write id = "{stem}", or rename the file to {partner_id}.toml',
            )
        protocol = raw.get("protocol")
        spec = protocols.get(protocol) if isinstance(protocol, str) else None
        if isinstance(protocol, str) and spec is None:
            self.add(
                file,
                "protocol",
                f"'{protocol}' is not a known protocol family",
                f"use one of: {', '.join(sorted(protocols)) or '(no protocols registered)'}",
            )
        credentials = raw.get("credentials", {})
        if spec is not None and isinstance(credentials, dict):
            required = tuple(spec.required_credentials)
            # A registry entry may also list optional ones (e.g. key versions for rotation).
            allowed = required + tuple(getattr(spec, "optional_credentials", ()))
            env_prefix = stem.upper().replace("-", "_")
            for name in required:
                if name not in credentials:
                    self.add(
                        file,
                        _dotted(("credentials", name)),
                        f"missing: protocol {protocol} needs the credential '{name}'",
                        f'add {name} = "{env_prefix}_{name.upper()}" under [credentials] '
                        "(the NAME of the environment variable holding it)",
                    )
            for name in credentials:
                if name not in allowed:
                    self.add(
                        file,
                        _dotted(("credentials", name)),
                        f"'{name}' is not a credential of protocol {protocol}",
                        f"remove it; {protocol} takes: {', '.join(allowed)}",
                    )
        served = raw.get("wallets")
        if isinstance(served, dict):
            for wallet_id, currency in served.items():
                key = _dotted(("wallets", wallet_id))
                wallet = wallets.get(wallet_id)
                if wallet_id not in declared:
                    self.add(
                        file,
                        key,
                        f"'{wallet_id}' is not a wallet in {WALLETS_FILE}",
                        f"use one of: {', '.join(sorted(declared)) or '(none)'}; or add "
                        f"[wallets.{wallet_id}] to {WALLETS_FILE}",
                    )
                elif (
                    wallet is not None
                    and isinstance(currency, str)
                    and _is_currency(currency)
                    and currency != wallet.currency
                ):
                    self.add(
                        file,
                        key,
                        f"'{currency}' is not wallet {wallet_id}'s currency ({wallet.currency})",
                        f'write {wallet_id} = "{wallet.currency}"',
                    )

    def settings_origin(self, loc: Loc, partners: Mapping[str, Partner]) -> tuple[str, Loc]:
        """The file a key of the assembled settings came from."""
        if loc[:1] == ("partners",) and len(loc) > 1 and str(loc[1]) in partners:
            return partners[str(loc[1])].source_file, loc[2:]
        if loc[:1] == ("wallets",):
            return self.show(self.dir / WALLETS_FILE), loc
        if self.overlay and _lookup(self.overlay, loc):
            return self.overlay_file, loc
        return self.show(self.dir / GATEWAY_FILE), loc
