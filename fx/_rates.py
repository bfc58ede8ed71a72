"""Mid-market rates: rate sets as published, the `RateSource` port and the ECB's XML layout.

A `RateSet` is one publication of one source ("1 EUR = x units" for the ECB). Any pair is derived
as a cross rate through the set's base, computed exactly and then rounded to 10 significant
digits, so a mid rate can be shown and reused as is. Nothing here reads the clock: callers pass
`now`, which only matters for staleness (`fx._book.RateBook`).
"""

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_DOWN, Context, Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from ._currency import Currency, coerce_currency
from ._exceptions import InvalidAmount, RateUnavailable
from ._rounding import check_rate, format_rate, round_significant

__all__ = [
    "MidRate",
    "RateSet",
    "RateSource",
    "default_ecb_file",
    "largest_move",
    "parse_ecb_xml",
]

RATE_DIGITS = 10
_ONE = Decimal(1)
# Truncating at 50 digits and then rounding half-up at 10 gives the same result as rounding the
# exact quotient: a tie at digit 11 is representable in 50 digits, and truncation never crosses it.
_CROSS = Context(prec=50, rounding=ROUND_DOWN)
_RATE_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
_CODE = re.compile(r"[A-Z]{3}")
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_ECB_NS = {
    "gesmes": "http://www.gesmes.org/xml/2002-08-01",
    "ecb": "http://www.ecb.int/vocabulary/2002-08-01/eurofxref",
}
ECB_ZONE = "Europe/Berlin"  # the ECB publishes in CET/CEST...
ECB_PUBLISHED = time(16, 0)  # ...around 16:00 on TARGET business days
_ECB_FILE = "ecb-eurofxref-2022-07-08.xml"


def require_aware(value: object, what: str) -> datetime:
    """Naive datetimes cannot be compared across zones, so they are a bug, not bad data."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value


def parse_rate_text(text: str, what: str) -> Decimal:
    """A positive plain decimal string ("36.602"); exponents and signs are not rates."""
    if not isinstance(text, str) or _RATE_TEXT.fullmatch(text) is None:
        raise InvalidAmount(f"{what}: not a plain decimal rate: {text!r}")
    return check_rate(Decimal(text), what)


@dataclass(frozen=True, slots=True)
class MidRate:
    """1 `base` = `rate` `quote`, before markup, with where and when it was published.

    `rate` has at most 10 significant digits, so the string shown is the number used.
    `rate_set` is the id of the `RateSet` it was derived from, when there is one.
    """

    base: Currency
    quote: Currency
    rate: Decimal
    as_of: datetime
    source: str
    rate_set: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base, Currency) or not isinstance(self.quote, Currency):
            raise TypeError("base and quote must be Currency instances")
        rate = check_rate(self.rate)
        if round_significant(rate, RATE_DIGITS) != rate:
            raise InvalidAmount(f"mid rate {rate} has more than {RATE_DIGITS} significant digits")
        require_aware(self.as_of, "as_of")


@runtime_checkable
class RateSource(Protocol):
    """Where mid rates come from; the gateway depends on this, never on a concrete source."""

    def mid_rate(self, base: Currency, quote: Currency, now: datetime) -> MidRate:
        """The mid rate for 1 `base` in `quote`, or `RateUnavailable` (missing or stale)."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class RateSet:
    """One publication of one source: 1 `base` = `rates[code]` units of each currency.

    Usage::

        rates = RateSet("ecb", get_currency("EUR"), {"THB": "36.602", "CNY": "6.8095"}, published)
        rates.mid_rate(get_currency("THB"), get_currency("CNY"))

    Rates are Decimals or plain decimal strings (never floats); codes are three capital letters
    and need not be payment currencies (the ECB publishes some we do not take). The base itself
    is 1. `id` is derived from the content (source, base, publication instant, rates), so the
    same publication fetched twice, or by two processes, is the same set.
    """

    source: str
    base: Currency
    rates: Mapping[str, Decimal]
    published_at: datetime
    id: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or _SOURCE_NAME.fullmatch(self.source) is None:
            raise ValueError(f"source must match {_SOURCE_NAME.pattern}, got {self.source!r}")
        base = coerce_currency(self.base)
        require_aware(self.published_at, "published_at")
        if not isinstance(self.rates, Mapping):
            raise TypeError(f"rates must be a mapping, got {type(self.rates).__name__}")
        rates: dict[str, Decimal] = {}
        for code, raw in self.rates.items():
            if not isinstance(code, str) or _CODE.fullmatch(code) is None:
                raise InvalidAmount(f"not a currency code: {code!r}")
            what = f"{code} rate"
            rates[code] = (
                parse_rate_text(raw, what) if isinstance(raw, str) else check_rate(raw, what)
            )
        if rates.setdefault(base.code, _ONE) != _ONE:
            raise InvalidAmount(f"{base.code} is the base of this set; its rate must be 1")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "rates", MappingProxyType(dict(sorted(rates.items()))))
        object.__setattr__(self, "id", "rs_" + hashlib.sha256(self.canonical()).hexdigest()[:32])

    def canonical(self) -> bytes:
        """The content the id is a hash of: one `key=value` per line, rates by code."""
        published = self.published_at.astimezone(UTC).isoformat()
        lines = [f"source={self.source}", f"base={self.base.code}", f"published_at={published}"]
        lines += [f"{code}={format_rate(rate)}" for code, rate in self.rates.items()]
        return "\n".join(lines).encode()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RateSet) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def has(self, currency: Currency) -> bool:
        return currency.code in self.rates

    def mid_rate(self, base: Currency | str, quote: Currency | str) -> MidRate:
        """Cross rate quote/base to 50 digits, then half-up to 10 significant digits."""
        base_cur, quote_cur = coerce_currency(base), coerce_currency(quote)
        missing = [c.code for c in (base_cur, quote_cur) if c.code not in self.rates]
        if missing:
            raise RateUnavailable(f"{self.source} has no rate for {', '.join(missing)}")
        cross = _CROSS.divide(self.rates[quote_cur.code], self.rates[base_cur.code])
        rate = round_significant(cross, RATE_DIGITS)
        return MidRate(base_cur, quote_cur, rate, self.published_at, self.source, self.id)

    def __repr__(self) -> str:
        return (
            f"RateSet(id={self.id!r}, source={self.source!r}, base={self.base.code!r}, "
            f"published_at={self.published_at.isoformat()!r}, currencies={len(self.rates)})"
        )


def largest_move(old: RateSet, new: RateSet) -> tuple[str, Decimal] | None:
    """The currency whose rate moved most from `old` to `new`, with |new/old − 1| (to 50
    significant digits, truncated); None when they share no currency besides the base. Both
    sets must have the same base: a move is only meaningful against the same unit."""
    if old.base != new.base:
        raise ValueError(f"sets have different bases: {old.base.code}, {new.base.code}")

    def size(code: str) -> Decimal:
        # |new − old| / old, all in `_CROSS`: `x - 1` in the ambient context would round to its
        # precision (28 digits by default) and depend on whatever context the caller set.
        was = old.rates[code]
        return _CROSS.divide(_CROSS.subtract(new.rates[code], was).copy_abs(), was)

    shared = old.rates.keys() & new.rates.keys() - {old.base.code}
    moves = [(size(code), code) for code in shared]
    if not moves:
        return None
    move, code = max(moves)
    return code, move


def parse_ecb_xml(data: bytes, source: str = "ecb") -> RateSet:
    """The latest day of eurofxref XML (daily or historic) as a `RateSet` based on EUR,
    published at that day's 16:00 Europe/Berlin. Anything malformed is `RateUnavailable`."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        # The ECB never sends a DTD; refusing one rules out entity-expansion attacks.
        raise RateUnavailable("ECB data must not contain a DTD")
    try:
        parser = ET.XMLParser(target=_RefuseDtd())
        parser.feed(bytes(data))
        root = parser.close()
    except ET.ParseError as exc:
        raise RateUnavailable(f"malformed ECB XML: {exc}") from exc
    if root.tag != f"{{{_ECB_NS['gesmes']}}}Envelope":
        raise RateUnavailable(f"not an ECB gesmes:Envelope: {root.tag}")
    days: dict[date, ET.Element] = {}
    for day in root.iterfind("ecb:Cube/ecb:Cube[@time]", _ECB_NS):
        try:
            days[date.fromisoformat(day.get("time", ""))] = day
        except ValueError as exc:
            raise RateUnavailable(f"bad ECB date {day.get('time')!r}") from exc
    if not days:
        raise RateUnavailable("ECB XML has no dated Cube")
    latest = max(days)
    published = datetime.combine(latest, ECB_PUBLISHED, tzinfo=ZoneInfo(ECB_ZONE))
    try:
        return RateSet(source, coerce_currency("EUR"), _parse_day(days[latest]), published)
    except InvalidAmount as exc:
        raise RateUnavailable(str(exc)) from exc


class _RefuseDtd(ET.TreeBuilder):
    """The byte search above misses a DTD in UTF-16; expat reports it whatever the encoding."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise RateUnavailable("ECB data must not contain a DTD")


def _parse_day(day: ET.Element) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for cube in day.iterfind("ecb:Cube", _ECB_NS):
        code, text = cube.get("currency"), cube.get("rate")
        if code is None or text is None or _CODE.fullmatch(code) is None or code == "EUR":
            raise RateUnavailable(f"bad ECB rate entry {dict(cube.attrib)!r}")
        if code in rates:
            raise RateUnavailable(f"ECB rate for {code} given twice")
        try:
            rates[code] = parse_rate_text(text, f"ECB {code} rate")
        except InvalidAmount as exc:
            raise RateUnavailable(str(exc)) from exc
    if not rates:
        raise RateUnavailable("ECB day has no rates")
    return rates


def default_ecb_file() -> Path:
    """The ECB file shipped with the package (2022-07-08): test data, never a live price."""
    return Path(__file__).resolve().parent / "data" / _ECB_FILE
