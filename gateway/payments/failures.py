"""What each normalised failure code tells the merchant (partner wording stays on the attempt)."""

from __future__ import annotations

from adapters import FailureCode

__all__ = ["failure_message"]

_MESSAGES = {
    FailureCode.INSUFFICIENT_FUNDS: "The wallet's balance is too low for this payment.",
    FailureCode.RISK_REJECTED: "The wallet declined the payment for risk reasons.",
    FailureCode.CODE_EXPIRED: "The payment code has expired; ask the customer to refresh it.",
    FailureCode.PAYMENT_CODE_INVALID: "The wallet did not recognise the payment code.",
    FailureCode.PAYMENT_EXPIRED: "The customer did not confirm the payment in time.",
    FailureCode.PARTNER_DECLINED: "The partner declined the payment.",
    FailureCode.CANCELLED_AFTER_TIMEOUT: (
        "The outcome could not be confirmed in time, so the payment was reversed; "
        "nothing was charged."
    ),
}


def failure_message(code: FailureCode) -> str:
    return _MESSAGES[code]
