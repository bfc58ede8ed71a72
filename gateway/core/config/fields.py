"""The value types settings are made of (durations, decimals, currencies, countries, zones,
URLs, cut-offs, environment variable names), each refusing a bad value with its fix."""

from __future__ import annotations

import difflib
import importlib.resources
import re
from collections.abc import Callable
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import (
    Annotated,
    cast,
)
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from fx import UnsupportedCurrency, get_currency
from gateway.core.config.problems import _fail
from gateway.core.durations import EXAMPLES, DurationError, parse_duration
from gateway.core.iso3166 import ALPHA2


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


def _currency_pair(pair: str) -> str:
    base, slash, quote = pair.partition("/")
    if not slash:
        raise _fail(f"{pair!r} is not a currency pair", "write it as 'THB/CNY'")
    _currency(base)
    _currency(quote)
    return pair


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
CurrencyPair = Annotated[str, AfterValidator(_currency_pair)]
"""`"THB/CNY"`: a merchant currency and a wallet currency."""
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
