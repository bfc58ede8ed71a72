"""The checks both protocol families apply to what a partner says about an entry order or a
registered store: bounded printable ASCII identifiers, positive amounts, a code fit to print.
Private to the adapters; pure."""

from __future__ import annotations

import re

__all__ = [
    "MAX_ENTRY_CODE",
    "MAX_ID",
    "MAX_WALLET",
    "entry_code_problem",
    "plain_id",
    "plain_text",
]

MAX_ID = 64
MAX_WALLET = 32
MAX_ENTRY_CODE = 1024  # characters: a QR holds at most 4296 alphanumerics; an EMVCo payload 512
_ID = re.compile(r"[\x21-\x7e]+")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def plain_id(value: object, limit: int = MAX_ID) -> bool:
    """1-`limit` printable ASCII characters, no spaces."""
    return isinstance(value, str) and 0 < len(value) <= limit and bool(_ID.fullmatch(value))


def plain_text(value: str, limit: int) -> str:
    """A partner's or our own free text, cut to `limit` with control characters replaced."""
    return _CONTROL.sub("\ufffd", value[:limit])


def entry_code_problem(code: object) -> str | None:
    """Why a store's code cannot be printed as issued, or None."""
    if not isinstance(code, str) or not code:
        return "no entry code"
    if len(code) > MAX_ENTRY_CODE:
        return f"the entry code is longer than {MAX_ENTRY_CODE} characters"
    if _UNPRINTABLE.search(code) or code != code.strip():
        return "the entry code holds control characters or surrounding spaces"
    return None
