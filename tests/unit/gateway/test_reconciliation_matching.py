"""The matcher: every line of both sides lands in exactly one category."""

from __future__ import annotations

from decimal import Decimal

from gateway.reconciliation.matching import Category, Movement, match


def _line(key: str, amount: int = 1000, fee: int = 6, **kw: object) -> Movement:
    return Movement(
        key=key,
        record_type=str(kw.pop("record_type", "payment")),
        currency=str(kw.pop("currency", "CNY")),
        amount=amount,
        fee=fee,
        merchant_amount=kw.pop("merchant_amount", 5000),  # type: ignore[arg-type]
        fx_rate=kw.pop("fx_rate", Decimal("0.2")),  # type: ignore[arg-type]
    )


def test_a_clean_day_is_all_matched() -> None:
    ours = [_line("a"), _line("b", 20, 0, record_type="refund")]
    theirs = [_line("b", 20, 0, record_type="refund"), _line("a")]
    findings = match(ours, theirs)
    assert [f.category for f in findings] == [Category.MATCHED, Category.MATCHED]


def test_each_discrepancy_has_its_category() -> None:
    ours = [_line("same"), _line("gone"), _line("amt"), _line("fx"), _line("fee")]
    theirs = [
        _line("same"),
        _line("amt", amount=1001),
        _line("fx", fx_rate=Decimal("0.21")),
        _line("fee", fee=7),
        _line("extra"),
    ]
    found = {f.key: f.category for f in match(ours, theirs)}
    assert found == {
        "same": Category.MATCHED,
        "gone": Category.MISSING_AT_PARTNER,
        "amt": Category.AMOUNT_MISMATCH,
        "fx": Category.FX_MISMATCH,
        "fee": Category.FEE_MISMATCH,
        "extra": Category.MISSING_AT_GATEWAY,
    }


def test_amount_outranks_fx_and_fee_and_a_duplicate_is_extra() -> None:
    ours = [_line("a")]
    theirs = [_line("a", amount=1, fee=9, fx_rate=Decimal("9")), _line("a")]
    categories = [f.category for f in match(ours, theirs)]
    assert categories == [Category.AMOUNT_MISMATCH, Category.MISSING_AT_GATEWAY]


def test_a_changed_merchant_amount_is_an_fx_mismatch() -> None:
    findings = match([_line("a")], [_line("a", merchant_amount=5001, fx_rate=None)])
    assert findings[0].category is Category.FX_MISMATCH
    assert "5001" in findings[0].detail
