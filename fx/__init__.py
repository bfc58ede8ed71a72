"""Currencies, money, rates and quotes for the gateway: pure, synchronous, stdlib only.

Amounts are integer minor units (`Money`), rates are `Decimal`, and the one rounding is half-up
at the end. Nothing here reads the clock or logs: callers pass `now`.
"""

from ._book import RateBook, SourceState
from ._calendar import EcbCalendar, FixedAge, PublicationCalendar, easter_sunday, is_target_holiday
from ._currency import Currency, get_currency, payment_currencies
from ._exceptions import (
    CurrencyMismatch,
    FXError,
    InvalidAmount,
    QuoteExpired,
    RateUnavailable,
    UnsupportedCurrency,
)
from ._money import MAX_AMOUNT, Money
from ._quote import Quote, make_quote, quote_rate
from ._rates import (
    MidRate,
    RateSet,
    RateSource,
    default_ecb_file,
    largest_move,
    parse_ecb_xml,
)
from ._rounding import convert_minor, format_rate, round_half_up, round_significant
from ._wire import (
    from_major_str,
    from_minor_int,
    from_minor_str,
    to_major_str,
    to_minor_int,
    to_minor_str,
)

# Plain sorted() order (tests/unit/fx/test_fx_exports.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "Currency",
    "CurrencyMismatch",
    "EcbCalendar",
    "FXError",
    "FixedAge",
    "InvalidAmount",
    "MAX_AMOUNT",
    "MidRate",
    "Money",
    "PublicationCalendar",
    "Quote",
    "QuoteExpired",
    "RateBook",
    "RateSet",
    "RateSource",
    "RateUnavailable",
    "SourceState",
    "UnsupportedCurrency",
    "convert_minor",
    "default_ecb_file",
    "easter_sunday",
    "format_rate",
    "from_major_str",
    "from_minor_int",
    "from_minor_str",
    "get_currency",
    "is_target_holiday",
    "largest_move",
    "make_quote",
    "parse_ecb_xml",
    "payment_currencies",
    "quote_rate",
    "round_half_up",
    "round_significant",
    "to_major_str",
    "to_minor_int",
    "to_minor_str",
]


# Show the public path (fx.Money, not fx._money.Money) in reprs and tracebacks.
def _set_public_module() -> None:
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            obj.__module__ = "fx"


_set_public_module()
