"""ISO 4217 payment currencies, read from the shipped List One file.

The table comes from the published XML rather than a hand-typed dict, so exponents cannot drift
from the standard. Fund codes (`IsFund="true"`), UYW and codes without numeric minor units (XAU,
XTS, XXX...) are not money a tourist can pay with, so they are not payment currencies.
"""

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources

from ._exceptions import UnsupportedCurrency

__all__ = ["Currency", "get_currency", "payment_currencies"]

_LIST_ONE = "data/iso4217_list_one.xml"
# UYW is an indexed unit of account, not a fund by the XML's flag, but no one pays with it.
_EXCLUDED = frozenset({"UYW"})
_EXPONENTS = frozenset({0, 2, 3, 4})


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: `exponent` is the number of minor-unit digits (THB 2, JPY 0, KWD 3).

    Obtain instances from `get_currency`; `Money` refuses currencies that are not in the table.
    """

    code: str
    exponent: int
    numeric: str
    name: str

    def __str__(self) -> str:
        return self.code


@functools.cache
def _table() -> dict[str, Currency]:
    """Parse List One once, on first use, so importing `fx` reads no file."""
    data = resources.files("fx").joinpath(_LIST_ONE).read_bytes()
    root = ET.fromstring(data)
    table: dict[str, Currency] = {}
    for entry in root.iter("CcyNtry"):
        code = entry.findtext("Ccy")
        name_el = entry.find("CcyNm")
        numeric = entry.findtext("CcyNbr")
        minor = entry.findtext("CcyMnrUnts")
        if code is None or name_el is None or numeric is None or minor is None:
            continue  # territories without a currency of their own (e.g. Antarctica)
        if name_el.get("IsFund") == "true" or code in _EXCLUDED:
            continue
        if not minor.isdigit() or int(minor) not in _EXPONENTS:
            continue  # "N.A.": precious metals, testing and no-currency codes
        currency = Currency(code, int(minor), numeric, (name_el.text or "").strip())
        seen = table.setdefault(code, currency)
        if seen.exponent != currency.exponent:  # pragma: no cover - guards the shipped file
            raise RuntimeError(f"ISO 4217 table lists {code} with two exponents")
    return table


def get_currency(code: str) -> Currency:
    """Look up a payment currency by its upper-case code; anything else raises.

    Case is not folded: the API contract says "thb" is not a currency code.
    """
    if not isinstance(code, str):
        raise UnsupportedCurrency(code)
    try:
        return _table()[code]
    except KeyError:
        raise UnsupportedCurrency(code) from None


def payment_currencies() -> frozenset[str]:
    """All codes `get_currency` accepts, e.g. to publish them in the OpenAPI document."""
    return frozenset(_table())


def coerce_currency(currency: "str | Currency") -> Currency:
    """Accept a code or a `Currency`, but only one that is in the table as published.

    A hand-built `Currency("JPY", 2, ...)` would silently shift amounts by a factor of 100.
    """
    if isinstance(currency, Currency):
        if _table().get(currency.code) != currency:
            raise UnsupportedCurrency(currency.code, f"not a registered currency: {currency!r}")
        return currency
    return get_currency(currency)
