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
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import fx
from gateway.core.render import rfc3339

__all__ = [
    "COLUMNS",
    "FORMAT",
    "LINE_FIELDS",
    "FileDigest",
    "LineRenderer",
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


LINE_FIELDS: tuple[str, ...] = tuple(
    "object_id" if column == "id" else column for column in _COLUMNS[2]
)
"""A frozen line's fields in the order `LineRenderer` takes them as a row (the order of the
file's columns of format 2, `object_id` for `id`)."""

_MEMO_ENTRIES = 4096

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _Memo(dict[_K, _V]):
    """`memo[key]`: `make(key)`, remembered; forgets everything once full (memory stays
    bounded however many distinct values a batch has)."""

    def __init__(self, make: Callable[[_K], _V]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: _K) -> _V:
        if len(self) >= _MEMO_ENTRIES:
            self.clear()
        made = self[key] = self._make(key)
        return made


def _amounts(currency: str | None) -> Callable[[int], str]:
    """`format_amount` for one currency, as a function of the value (not None)."""
    if currency is None:
        return lambda _value: ""
    exponent = _exponent(currency)
    if exponent == 0:
        return str
    scale = 10**exponent
    fractions = tuple(f"{fraction:0{exponent}d}" for fraction in range(scale))

    def amount(value: int) -> str:
        if value < 0:
            whole, fraction = divmod(-value, scale)
            return f"-{whole}.{fractions[fraction]}"
        whole, fraction = divmod(value, scale)
        return f"{whole}.{fractions[fraction]}"

    return amount


def _stamp(value: datetime | None) -> str:
    return "" if value is None else cell(rfc3339(value))


# `rfc3339` (`YYYY-MM-DDTHH:MM:SS.mmmZ`) from a UTC day, minute, second and millisecond.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTES = tuple(f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60))
_SECONDS = tuple(f":{second:02d}" for second in range(60))
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def _day(days: int) -> str:
    """`YYYY-MM-DDT` of the day `days` after the epoch (UTC)."""
    return (_EPOCH + timedelta(days=days)).isoformat()[:11]


def _bps(value: int | None) -> str:
    return "" if value is None else cell(str(value), number=True)


class LineRenderer:
    """`render_line` for many rows at a time, several times faster, with the same bytes: each
    row a sequence of `LINE_FIELDS` (after `start` leading fields it skips), one f-string per
    line. The cells of columns with few distinct values (currencies, partners, rates, rate sets,
    their timestamps) are remembered (bounded); ids, references, amounts and `succeeded_at` are
    rendered every time. One instance per file: it is not thread-safe."""

    def __init__(self, file_format: int = FORMAT) -> None:
        columns(file_format)  # ValueError for a layout this code does not know
        self.file_format = file_format
        self._text = _Memo(cell)
        self._stamps = _Memo(_stamp)
        self._bps = _Memo(_bps)
        self._days = _Memo(_day)
        self._formats = _Memo(_amounts)  # per currency: its amount formatter

    def render(self, rows: Iterable[Sequence[Any]], start: int = 0) -> str:
        """The rows' lines (each with its `\\n`), joined."""
        text, stamps, bps_cells, formats = self._text, self._stamps, self._bps, self._formats
        days, minutes, seconds, millis, epoch = self._days, _MINUTES, _SECONDS, _MILLIS, _EPOCH
        format_1 = self.file_format == 1
        out: list[str] = []
        add = out.append
        for row in rows:
            (
                record_type,
                object_id,
                payment_id,
                reference,
                partner,
                wallet,
                succeeded_at,
                currency,
                amount,
                payer_currency,
                payer_amount,
                fx_rate,
                fee,
                net,
                mid_rate,
                markup_bps,
                rate_source,
                rate_set,
                rate_as_of,
                payment_method,
            ) = row[start:]
            ids = (
                f"{cell(object_id, number=record_type == 'total')},{cell(payment_id)},"
                f"{cell(reference)}"
            )
            if succeeded_at is None:
                at = ""
            elif succeeded_at.tzinfo is None:  # what `rfc3339` makes of a naive one
                at = cell(rfc3339(succeeded_at))
            else:  # `rfc3339`, without `isoformat` every time (it is slow)
                since = succeeded_at - epoch
                minute, second = divmod(since.seconds, 60)
                at = (
                    days[since.days]
                    + minutes[minute]
                    + seconds[second]
                    + millis[since.microseconds // 1000]
                )
            money = formats[currency]
            amount_cell = "" if amount is None else money(amount)
            payer_cell = "" if payer_amount is None else formats[payer_currency](payer_amount)
            fee_cell = "" if fee is None else money(fee)
            net_cell = "" if net is None else money(net)
            if format_1:
                add(
                    f"{text[record_type]},{ids},{text[partner]},{text[wallet]},{at},"
                    f"{text[currency]},{amount_cell},{text[payer_currency]},{payer_cell},"
                    f"{text[fx_rate]},{fee_cell},{net_cell}\n"
                )
            else:
                add(
                    f"{text[record_type]},{ids},{text[partner]},{text[wallet]},{at},"
                    f"{text[currency]},{amount_cell},{text[payer_currency]},{payer_cell},"
                    f"{text[fx_rate]},{fee_cell},{net_cell},{text[mid_rate]},"
                    f"{bps_cells[markup_bps]},{text[rate_source]},{text[rate_set]},"
                    f"{stamps[rate_as_of]},{text[payment_method]}\n"
                )
        return "".join(out)


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
