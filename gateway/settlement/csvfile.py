"""The settlement file of API.md: pure rendering of frozen lines to CSV bytes.

- RFC 4180 quoting (a cell holding `,`, `"`, CR or LF is quoted, its `"` doubled), UTF-8, `\\n`
  line ends, the header row first, then one row per line in `seq` order, then the `total` row.
- Amounts are signed minor units rendered in major units with exactly the currency's ISO 4217
  decimals (`1250.50`, `1234`, `1.250`, `-0.05`): `fx.Money.format`.
- Spreadsheet formula guard: a *text* cell beginning with `=`, `+`, `-` or `@` gets a leading
  `'`. Amounts are numbers, not text, so a negative refund stays `-12.50`.

The bytes depend only on the stored lines, never on the clock or the process, so every download
and every export of a closed batch is byte-identical. `FORMAT` is stored on each batch: a change
of layout gets a new number, and batches closed before it keep rendering the old way.

- Format 1: API.md's 14 columns, `record_type` .. `net`.
- Format 2 (current): the same 14 in the same order, then where `fx_rate` came from:
  `fx_mid_rate`, `fx_markup_bps`, `fx_rate_source`, `fx_rate_set`, `fx_rate_as_of` (empty on
  lines without FX), then `payment_method` (`wallet_code`, `merchant_qr` or `entry_code`); all
  empty on the `total` row.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import fx
from gateway.core.render import rfc3339

__all__ = [
    "COLUMNS",
    "FORMAT",
    "FileDigest",
    "cell",
    "columns",
    "format_amount",
    "header",
    "render_line",
    "render_lines",
]

FORMAT = 2
"""The layout batches are closed with now."""

_FORMAT_1: tuple[str, ...] = (
    "record_type",
    "id",
    "payment_id",
    "merchant_reference",
    "partner",
    "wallet",
    "succeeded_at",
    "currency",
    "amount",
    "payer_currency",
    "payer_amount",
    "fx_rate",
    "fee",
    "net",
)
_FORMAT_2_ADDS: tuple[str, ...] = (
    "fx_mid_rate",
    "fx_markup_bps",
    "fx_rate_source",
    "fx_rate_set",
    "fx_rate_as_of",
    "payment_method",
)
_COLUMNS = {1: _FORMAT_1, 2: _FORMAT_1 + _FORMAT_2_ADDS}
COLUMNS = _COLUMNS[FORMAT]


def columns(file_format: int) -> tuple[str, ...]:
    """The columns of a layout; `ValueError` for one this code does not know."""
    try:
        return _COLUMNS[file_format]
    except KeyError:
        raise ValueError(f"unknown settlement file format {file_format}") from None


def header(file_format: int = FORMAT) -> str:
    return ",".join(columns(file_format)) + "\n"


_FORMULA_STARTS = ("=", "+", "-", "@")


def cell(text: str | None, *, number: bool = False) -> str:
    """One CSV cell: formula-guarded (text only), then quoted if RFC 4180 needs it."""
    if not text:
        return ""
    if not number and text.startswith(_FORMULA_STARTS):
        text = "'" + text
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


@functools.cache
def _exponent(currency: str) -> int:
    return fx.get_currency(currency).exponent


def format_amount(value: int | None, currency: str | None) -> str | None:
    """Minor units as major units with the currency's exact decimals (what `fx.Money.format`
    writes, without building a `Money` per cell); None stays empty."""
    if value is None or currency is None:
        return None
    exponent = _exponent(currency)
    sign = "-" if value < 0 else ""
    digits = str(abs(value))
    if exponent == 0:
        return sign + digits
    digits = digits.rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def render_line(line: Mapping[str, Any], file_format: int = FORMAT) -> str:
    """One row (with its `\\n`) from a `settlement_lines` row: a payment, refund, reversal or
    the `total` row (whose `id` is the number of rows above it), in `file_format`'s layout."""
    currency = line["currency"]
    payer_currency = line.get("payer_currency")
    total = line["record_type"] == "total"
    succeeded_at = line.get("succeeded_at")
    cells = (
        cell(line["record_type"]),
        cell(line["object_id"], number=total),
        cell(line.get("payment_id")),
        cell(line.get("merchant_reference")),
        cell(line.get("partner")),
        cell(line.get("wallet")),
        cell(rfc3339(succeeded_at) if succeeded_at is not None else None),
        cell(currency),
        cell(format_amount(line["amount"], currency), number=True),
        cell(payer_currency),
        cell(format_amount(line.get("payer_amount"), payer_currency), number=True),
        cell(line.get("fx_rate")),
        cell(format_amount(line["fee"], currency), number=True),
        cell(format_amount(line["net"], currency), number=True),
    )
    if file_format == 1:
        return ",".join(cells) + "\n"
    markup_bps = line.get("fx_markup_bps")
    rate_as_of = line.get("fx_rate_as_of")
    fx_cells = (
        cell(line.get("fx_mid_rate")),
        cell(None if markup_bps is None else str(markup_bps), number=True),
        cell(line.get("fx_rate_source")),
        cell(line.get("fx_rate_set")),
        cell(None if rate_as_of is None else rfc3339(rate_as_of)),
        cell(line.get("payment_method")),
    )
    return ",".join(cells + fx_cells) + "\n"


def render_lines(
    lines: Iterable[Mapping[str, Any]], *, with_header: bool = False, file_format: int = FORMAT
) -> Iterator[bytes]:
    """UTF-8 bytes of each line (after the header, if asked for)."""
    if with_header:
        yield header(file_format).encode()
    for line in lines:
        yield render_line(line, file_format).encode()


class FileDigest:
    """SHA-256 and size of a file seen chunk by chunk (constant memory)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.bytes = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.bytes += len(chunk)

    def feed(self, part: bytearray) -> bytes:
        """Take what `part` holds into the digest, and empty it: its bytes."""
        data = bytes(part)
        part.clear()
        self.update(data)
        return data

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()
