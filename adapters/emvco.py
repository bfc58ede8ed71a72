"""EMVCo merchant-presented QR payloads (EMV QRCPS-MPM): what PromptPay (Thailand), QR Ph
(Philippines) and other national schemes print at the till, built and parsed here.

A payload is a string of data objects, each an ID (2 digits), a length (2 digits: the number of
characters of the value) and the value; IDs 26-51 and 62, 64, 80-99 are templates holding data
objects of their own. `00` (payload format indicator, `01`) comes first and `63` (a CRC-16/
CCITT-FALSE over the UTF-8 bytes of everything before its 4 hex digits, `6304` included)
comes last. No well-kept Python library covers both directions, so this module is small, pure
(no I/O) and checked against published examples (tests/unit/adapters/test_emvco.py).

Parsing is strict, because a scanned code is input from outside: unknown structure, a wrong
length, a value outside the format's character set, a repeated ID or a wrong CRC are refused
with `EmvcoError` naming the problem, before anything is read from the payload.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

import fx

__all__ = [
    "PROMPTPAY_AID",
    "QRPH_AID",
    "EmvcoError",
    "MerchantCode",
    "crc16",
    "encode",
    "merchant_code",
    "parse",
]

PROMPTPAY_AID = "A000000677010111"
"""PromptPay's merchant account template (ID 29) identifier: credit transfer to a proxy id."""
QRPH_AID = "ph.ppmi.p2m"
"""QR Ph's person-to-merchant template (ID 28) identifier."""

STATIC, DYNAMIC = "11", "12"
"""Point of initiation (ID 01): the same code for every sale, or one made for a sale."""

_MAX_PAYLOAD = 512  # the specification's limit, in characters
_TEMPLATES = frozenset({62, 64, *range(26, 52), *range(80, 100)})
_PRINTABLE = re.compile(r"[\x20-\x7e]*")  # "ans": the character set outside language templates
_AMOUNT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,12})?")
_DIGITS = re.compile(r"[0-9]+")


class EmvcoError(ValueError):
    """A payload that is not a well-formed merchant-presented QR payload."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final
    XOR (check value: 0x29B1 for b"123456789")."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


def _object(tag: str, value: str) -> str:
    if not (len(tag) == 2 and tag.isascii() and tag.isdigit()):
        raise EmvcoError(f"data object ID {tag!r} is not two digits")
    if not 0 < len(value) <= 99:
        raise EmvcoError(f"data object {tag}: a value of {len(value)} characters (1-99)")
    return f"{tag}{len(value):02d}{value}"


def encode(objects: Iterable[tuple[str, str | Sequence[tuple[str, str]]]]) -> str:
    """The payload of `objects` ((ID, value) or (ID, [(sub-ID, value), ...]) for a template),
    in the order given, with `63` and its CRC appended."""
    body = "".join(
        _object(tag, value if isinstance(value, str) else "".join(_object(*v) for v in value))
        for tag, value in objects
    )
    body += "6304"
    return body + f"{crc16(body.encode()):04X}"


def _split(text: str, where: str) -> Iterator[tuple[str, str]]:
    at = 0
    while at < len(text):
        head = text[at : at + 4]
        if len(head) < 4 or not (head.isascii() and head.isdigit()):
            raise EmvcoError(f"{where}: no ID and length at character {at}")
        tag, size = head[:2], int(head[2:])
        value = text[at + 4 : at + 4 + size]
        if size == 0 or len(value) < size:
            raise EmvcoError(f"{where}: data object {tag} says {size} characters, has {len(value)}")
        yield tag, value
        at += 4 + size


def _unique(pairs: Iterable[tuple[str, str]], where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for tag, value in pairs:
        if tag in found:
            raise EmvcoError(f"{where}: data object {tag} appears twice")
        found[tag] = value
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantCode:
    """A parsed payload: its top-level data objects by ID, templates split into theirs."""

    objects: Mapping[str, str]
    templates: Mapping[str, Mapping[str, str]]

    @property
    def static(self) -> bool:
        """A code for any sale (the payer types the amount), not one made for this sale."""
        return self.objects.get("01", STATIC) == STATIC

    @property
    def currency(self) -> fx.Currency:
        return _by_numeric()[self.objects["53"]]

    @property
    def amount(self) -> fx.Money | None:
        text = self.objects.get("54")
        return None if text is None else fx.Money.parse(text, self.currency)

    @property
    def country(self) -> str:
        return self.objects["58"]

    @property
    def merchant_name(self) -> str | None:
        return self.objects.get("59")

    @property
    def merchant_city(self) -> str | None:
        return self.objects.get("60")

    def account(self, identifier: str) -> Mapping[str, str] | None:
        """The merchant account template (IDs 26-51) whose `00` is `identifier` (an AID or a
        reverse domain name, compared case-insensitively), if any."""
        for tag, fields in self.templates.items():
            if 26 <= int(tag) <= 51 and fields.get("00", "").lower() == identifier.lower():
                return fields
        return None


def parse(payload: str) -> MerchantCode:
    """`payload` checked and split; `EmvcoError` saying what is wrong with it."""
    if not isinstance(payload, str) or not 0 < len(payload) <= _MAX_PAYLOAD:
        raise EmvcoError(f"a payload is 1 to {_MAX_PAYLOAD} characters")
    try:
        raw = payload.encode("utf-8")
    except UnicodeEncodeError:
        raise EmvcoError("the payload is not valid Unicode text") from None
    if not payload.startswith("000201"):
        raise EmvcoError("the payload must begin with 000201 (payload format indicator 01)")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise EmvcoError("the payload must end with the CRC, 6304 and four hex digits")
    stated = payload[-4:]
    if not re.fullmatch(r"[0-9A-F]{4}", stated):
        raise EmvcoError(f"CRC {stated!r} is not four uppercase hex digits")
    computed = crc16(raw[:-4])
    if int(stated, 16) != computed:
        raise EmvcoError(f"CRC {stated} does not match the payload ({computed:04X})")
    objects = _unique(_split(payload[:-8], "payload"), "payload")
    templates = {
        tag: _unique(_split(value, f"template {tag}"), f"template {tag}")
        for tag, value in objects.items()
        if int(tag) in _TEMPLATES
    }
    _check(objects, templates)
    return MerchantCode(objects, templates)


def _check(objects: Mapping[str, str], templates: Mapping[str, Mapping[str, str]]) -> None:
    for tag, value in objects.items():
        if tag != "64" and not _PRINTABLE.fullmatch(value):
            raise EmvcoError(f"data object {tag} holds characters outside printable ASCII")
    # 52, 59 and 60 are mandatory in EMVCo's specification, but PromptPay's own codes leave
    # them out: a parser for what tourists scan takes them as optional.
    for tag, name in (("53", "currency"), ("58", "country")):
        if tag not in objects:
            raise EmvcoError(f"data object {tag} ({name}) is missing")
    if objects.get("01") not in (None, STATIC, DYNAMIC):
        raise EmvcoError(f"point of initiation {objects['01']!r} is neither 11 nor 12")
    category = objects.get("52")
    if category is not None and not (len(category) == 4 and _DIGITS.fullmatch(category)):
        raise EmvcoError("the merchant category code is not four digits")
    if objects["53"] not in _by_numeric():
        raise EmvcoError(f"currency {objects['53']!r} is not an ISO 4217 numeric code we know")
    if not re.fullmatch(r"[A-Z]{2}", objects["58"]):
        raise EmvcoError("the country code is not two uppercase letters")
    amount = objects.get("54")
    if amount is not None:
        if not _AMOUNT.fullmatch(amount):
            raise EmvcoError(f"amount {amount!r} is not a decimal of at most 13 characters")
        try:
            fx.Money.parse(amount, _by_numeric()[objects["53"]])
        except fx.FXError as exc:
            raise EmvcoError(f"amount {amount!r}: {exc}") from None
    if not any(26 <= int(tag) <= 51 or 2 <= int(tag) <= 25 for tag in objects):
        raise EmvcoError("no merchant account information (IDs 02-51)")
    for tag, fields in templates.items():
        if 26 <= int(tag) <= 51 and "00" not in fields:
            raise EmvcoError(f"merchant account template {tag} has no identifier (00)")


@functools.cache
def _by_numeric() -> dict[str, fx.Currency]:
    currencies = (fx.get_currency(code) for code in fx.payment_currencies())
    return {currency.numeric: currency for currency in currencies}


def merchant_code(
    *,
    account: tuple[str, Sequence[tuple[str, str]]],
    category: str,
    currency: fx.Currency,
    country: str,
    name: str,
    city: str,
    amount: fx.Money | None = None,
    additional: Sequence[tuple[str, str]] = (),
) -> str:
    """A payload for one merchant account (`(template ID, [(sub-ID, value), ...])`, the
    identifier `00` first): static without `amount`, dynamic with it (in `currency`)."""
    if amount is not None and amount.currency != currency:
        raise EmvcoError(f"the amount is in {amount.currency.code}, the code in {currency.code}")
    if amount is not None and amount.value <= 0:
        raise EmvcoError("a code's amount must be positive")
    objects: list[tuple[str, str | Sequence[tuple[str, str]]]] = [
        ("00", "01"),
        ("01", STATIC if amount is None else DYNAMIC),
        account,
        ("52", category),
        ("53", currency.numeric),
    ]
    if amount is not None:
        objects.append(("54", amount.format()))
    objects += [("58", country), ("59", name[:25]), ("60", city[:15])]
    if additional:
        objects.append(("62", additional))
    payload = encode(objects)
    parse(payload)  # what we print, we can read back: refuses a value outside the format
    return payload
