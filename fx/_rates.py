"""Mid-market rates: the `RateSource` port, a static source and the ECB reference-rate file.

Both sources hold rates as "1 EUR = x units" and derive any pair as a cross rate, computed
exactly and then rounded to 10 significant digits, so a mid rate can be shown and reused as is.
Sources never read the clock: callers pass `now`, which only matters for the maximum age.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Context, Decimal
from pathlib import Path
from typing import Protocol, Self, runtime_checkable
from zoneinfo import ZoneInfo

from ._currency import Currency, coerce_currency
from ._exceptions import InvalidAmount, RateUnavailable
from ._rounding import check_rate, round_significant

__all__ = [
    "EcbXmlRateSource",
    "MidRate",
    "RateSource",
    "StaticRateSource",
    "default_ecb_file",
]

RATE_DIGITS = 10
_ONE = Decimal(1)
# Truncating at 50 digits and then rounding half-up at 10 gives the same result as rounding the
# exact quotient: a tie at digit 11 is representable in 50 digits, and truncation never crosses it.
_CROSS = Context(prec=50, rounding=ROUND_DOWN)
_RATE_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
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
    """

    base: Currency
    quote: Currency
    rate: Decimal
    as_of: datetime
    source: str

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

    name: str

    def mid_rate(self, base: Currency, quote: Currency, now: datetime) -> MidRate:
        """The mid rate for 1 `base` in `quote`, or `RateUnavailable` (missing or stale)."""
        ...


class _PerEurSource:
    """Shared cross-rate logic for rate sets quoted as 1 EUR = x units (EUR itself is 1)."""

    name: str

    def __init__(
        self,
        rates_per_eur: Mapping[str, Decimal],
        as_of: datetime,
        max_age: timedelta | None = None,
    ) -> None:
        self._as_of = require_aware(as_of, "as_of")
        if max_age is not None and (not isinstance(max_age, timedelta) or max_age < timedelta(0)):
            raise ValueError(f"max_age must be a non-negative timedelta or None, got {max_age!r}")
        self._max_age = max_age
        rates = {code: check_rate(rate, f"{code} rate") for code, rate in rates_per_eur.items()}
        if rates.setdefault("EUR", _ONE) != _ONE:
            raise InvalidAmount(f"EUR is the base of a per-EUR rate set; got {rates['EUR']}")
        self._rates = rates

    @property
    def as_of(self) -> datetime:
        """When the rate set was published."""
        return self._as_of

    @property
    def max_age(self) -> timedelta | None:
        """How old the set may get before it is refused; None never refuses it."""
        return self._max_age

    def currencies(self) -> frozenset[str]:
        """Codes this source can price, EUR included."""
        return frozenset(self._rates)

    def mid_rate(self, base: Currency | str, quote: Currency | str, now: datetime) -> MidRate:
        """Cross rate quote/base to 50 digits, then half-up to 10 significant digits.

        The same currency on both sides is 1 and never stale: no published rate is involved.
        """
        base_cur, quote_cur = coerce_currency(base), coerce_currency(quote)
        require_aware(now, "now")
        if base_cur == quote_cur:
            return MidRate(base_cur, quote_cur, _ONE, self._as_of, self.name)
        if self._max_age is not None and now - self._as_of > self._max_age:
            raise RateUnavailable(
                f"{self.name} rates as of {self._as_of.isoformat()} are older than "
                f"{self._max_age} at {now.isoformat()}"
            )
        missing = [c.code for c in (base_cur, quote_cur) if c.code not in self._rates]
        if missing:
            raise RateUnavailable(f"{self.name} has no rate for {', '.join(missing)}")
        cross = _CROSS.divide(self._rates[quote_cur.code], self._rates[base_cur.code])
        rate = round_significant(cross, RATE_DIGITS)
        return MidRate(base_cur, quote_cur, rate, self._as_of, self.name)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, as_of={self._as_of.isoformat()!r}, "
            f"currencies={len(self._rates)}, max_age={self._max_age!r})"
        )


class StaticRateSource(_PerEurSource):
    """Fixed rates for tests and demos, with the same per-EUR semantics as the ECB file.

    Usage::

        source = StaticRateSource({"THB": "36.602", "KWD": "0.3125"}, as_of=published)
        source.mid_rate(get_currency("THB"), get_currency("KWD"), now)

    Parameters: `rates_per_eur` maps a payment currency code to 1 EUR in that currency (Decimal
    or plain decimal string, never float); `max_age` None means the rates never go stale.
    """

    def __init__(
        self,
        rates_per_eur: Mapping[str, Decimal | str],
        as_of: datetime,
        max_age: timedelta | None = None,
        name: str = "static",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        self.name = name
        rates: dict[str, Decimal] = {}
        for code, raw in rates_per_eur.items():
            currency = coerce_currency(code)
            what = f"{currency.code} rate"
            rate = parse_rate_text(raw, what) if isinstance(raw, str) else check_rate(raw, what)
            rates[currency.code] = rate
        super().__init__(rates, as_of, max_age)


class EcbXmlRateSource(_PerEurSource):
    """The ECB euro foreign exchange reference rates (eurofxref XML), as a mid-rate source.

    The ECB publishes these rates for information purposes only; they are not a dealing rate.
    The markup that turns a mid rate into a customer rate is the gateway's own policy.

    `as_of` is the file's date at 16:00 Europe/Berlin, when the ECB publishes. `max_age` None
    (the default) never refuses the rates, which the shipped 2022 file needs; a live feed should
    set it so that a stale file yields `RateUnavailable` instead of an old price.
    """

    name = "ecb"

    @classmethod
    def from_file(cls, path: str | Path, max_age: timedelta | None = None) -> Self:
        """Read an eurofxref XML file (daily, or historic: the latest day is used)."""
        return cls.from_bytes(Path(path).read_bytes(), max_age=max_age)

    @classmethod
    def from_bytes(cls, data: bytes, max_age: timedelta | None = None) -> Self:
        """Parse eurofxref XML; anything malformed is `RateUnavailable` (no usable rates)."""
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            # The ECB never sends a DTD; refusing one rules out entity-expansion attacks.
            raise RateUnavailable("ECB data must not contain a DTD")
        try:
            root = ET.fromstring(bytes(data))
        except ET.ParseError as exc:
            raise RateUnavailable(f"malformed ECB XML: {exc}") from exc
        if root.tag != f"{{{_ECB_NS['gesmes']}}}Envelope":
            raise RateUnavailable(f"not an ECB gesmes:Envelope: {root.tag}")
        days: dict[date, dict[str, Decimal]] = {}
        for day in root.iterfind("ecb:Cube/ecb:Cube[@time]", _ECB_NS):
            try:
                when = date.fromisoformat(day.get("time", ""))
            except ValueError as exc:
                raise RateUnavailable(f"bad ECB date {day.get('time')!r}") from exc
            days[when] = _parse_day(day)
        if not days:
            raise RateUnavailable("ECB XML has no dated Cube")
        latest = max(days)
        as_of = datetime.combine(latest, ECB_PUBLISHED, tzinfo=ZoneInfo(ECB_ZONE))
        return cls(days[latest], as_of, max_age)


def _parse_day(day: ET.Element) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for cube in day.iterfind("ecb:Cube", _ECB_NS):
        code, text = cube.get("currency"), cube.get("rate")
        if code is None or text is None or re.fullmatch(r"[A-Z]{3}", code) is None:
            raise RateUnavailable(f"bad ECB rate entry {dict(cube.attrib)!r}")
        try:
            rates[code] = parse_rate_text(text, f"ECB {code} rate")
        except InvalidAmount as exc:
            raise RateUnavailable(str(exc)) from exc
    return rates


def default_ecb_file() -> Path:
    """The ECB file shipped with the package (2022-07-08), for demos and tests."""
    return Path(__file__).resolve().parent / "data" / _ECB_FILE
