"""wallets.toml (wallets and their code prefixes) and partners/<id>.toml (one licensed partner
per file: licences, retry policy, fees, limits, sandbox)."""

from __future__ import annotations

from datetime import time
from typing import (
    Annotated,
    Literal,
)
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from gateway.core.config.fields import (
    CodePrefix,
    CountryCode,
    CredentialName,
    CurrencyCode,
    CurrencyPair,
    Cutoff,
    EnvVarName,
    HttpUrl,
    NonNegative,
    PartnerId,
    Text,
    TimeZoneName,
    UrlPath,
    WalletId,
    _Model,
)
from gateway.core.config.layout import PARTNERS_DIR
from gateway.core.config.problems import _fail
from gateway.core.config.sections import Timeouts


class CodeLength(_Model):
    """How many digits a wallet's payment codes have (API.md: 16 to 24)."""

    min: int = Field(16, ge=8, le=64)
    max: int = Field(24, ge=8, le=64)

    @model_validator(mode="after")
    def _ordered(self) -> CodeLength:
        if self.max < self.min:
            raise _fail(f"max ({self.max}) is below min ({self.min})", "swap them", key="max")
        return self


class Wallet(_Model):
    """A tourist's home wallet, recognised by the prefix of its payment code.

    `id` is the table name in wallets.toml (`[wallets.alipay_cn]`); `currency` is what the
    tourist pays in.
    """

    id: WalletId
    display_name: Text
    currency: CurrencyCode
    prefixes: tuple[CodePrefix, ...] = Field(min_length=1)
    code_length: CodeLength = CodeLength()

    @model_validator(mode="after")
    def _prefixes_fit(self) -> Wallet:
        for index, prefix in enumerate(self.prefixes):
            if prefix in self.prefixes[:index]:
                raise _fail(f"'{prefix}' is listed twice", "remove one", key=f"prefixes[{index}]")
            if len(prefix) + 4 > self.code_length.min:
                raise _fail(
                    f"'{prefix}' leaves fewer than 4 digits in a {self.code_length.min}-digit code",
                    "use a shorter prefix or raise code_length.min",
                    key=f"prefixes[{index}]",
                )
        return self

    def matches(self, code: str) -> bool:
        return (
            code.isdigit()
            and self.code_length.min <= len(code) <= self.code_length.max
            and code.startswith(self.prefixes)
        )


# --- partners/<id>.toml ------------------------------------------------------------------------


class Licence(_Model):
    regulator: Text
    number: Text


_VerdictName = Literal["final", "not_sent", "not_accepted", "in_process", "not_found", "maybe_sent"]
_ActionName = Literal["stop", "retry", "inquire", "fail_over"]


class RetryPolicy(_Model):
    """How hard to retry this partner, and overrides of the policy table
    (`gateway/partners/retry.py`): `[retry.pay]` / `[retry.inquire]` map a verdict to an action,
    e.g. `not_sent = "retry"`."""

    max_attempts: int = Field(3, ge=1, le=20)
    """`pay` sends per attempt within the POS wait budget, the first included; 1 never retries."""
    pay: dict[_VerdictName, _ActionName] = {}
    inquire: dict[_VerdictName, _ActionName] = {}

    def overrides(self) -> dict[str, dict[str, str]]:
        return {
            "pay": {str(k): str(v) for k, v in self.pay.items()},
            "inquire": {str(k): str(v) for k, v in self.inquire.items()},
        }


class Fees(_Model):
    """What the partner charges the gateway per payment, in the payer currency."""

    bps: int = Field(0, ge=0, le=10_000)
    fixed: dict[CurrencyCode, NonNegative] = {}
    """Minor units per payment, by payer currency."""
    refunds: Literal["returned", "kept"] = "returned"
    """What becomes of the `bps` part of its fee when a payment is refunded: `returned` (the
    default, what every partner did before it could be said) gives it back cumulatively, like the
    merchant's fee (round_half_up(Σ payer amounts refunded × bps / 10^4) in all, so a full refund
    gets the whole % fee back); `kept` gives nothing back. The fixed part is always kept. Each
    payment stores the schedule it was booked under (its journal entry's fee terms)."""


class AmountLimit(_Model):
    """Per-payment limits in minor units of one currency; either side may be left out."""

    min: int | None = Field(None, ge=1)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> AmountLimit:
        if self.min is not None and self.max is not None and self.max < self.min:
            raise _fail(f"max ({self.max}) is below min ({self.min})", "swap them", key="max")
        return self


class PartnerMarkup(_Model):
    """A markup rule of this partner (`[[markups]]`): for all its sales, or those of a wallet
    and/or a currency pair ("THB/CNY"); the most specific rule wins (gateway/quotes/markups.py)."""

    bps: int = Field(ge=0, le=10_000)
    wallet: WalletId | None = None
    pair: CurrencyPair | None = None


class PartnerSandbox(_Model):
    """The demo server speaking this partner's protocol; `port` defaults to base_url's port.

    `private_key_env` names the sandbox's own signing key, for protocols whose partners sign
    with a key of their own (Alipay+); `gateway/sandboxes.py` says so when one is missing."""

    enabled: bool = False
    private_key_env: EnvVarName | None = None
    port: int | None = Field(None, ge=1, le=65535)


class Partner(_Model):
    """A licensed local partner: where it may acquire, what it serves, how to reach it.

    `timeouts` are effective values: the file's `[timeouts]` over `partner_defaults.timeouts`.
    `credentials` maps the protocol's credential names to environment variable NAMES.
    """

    id: PartnerId
    display_name: Text
    licence: Licence
    timezone: TimeZoneName
    cutoff: Cutoff = time(0, 0)
    markets: tuple[CountryCode, ...] = Field(min_length=1)
    wallets: dict[str, CurrencyCode] = Field(min_length=1)
    protocol: Text
    base_url: HttpUrl
    path_prefix: UrlPath | None = None
    priority: int = Field(100, ge=0)
    credentials: dict[CredentialName, EnvVarName] = {}
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    fees: Fees = Fees()
    limits: dict[CurrencyCode, AmountLimit] = {}
    exponent_overrides: dict[CurrencyCode, Annotated[int, Field(ge=0, le=4)]] = {}
    markups: tuple[PartnerMarkup, ...] = ()
    sandbox: PartnerSandbox = PartnerSandbox()

    @field_validator("markups")
    @classmethod
    def _one_markup_per_scope(cls, markups: tuple[PartnerMarkup, ...]) -> tuple[PartnerMarkup, ...]:
        scopes = [(m.wallet, m.pair) for m in markups]
        for scope in scopes:
            if scopes.count(scope) > 1:
                raise _fail(
                    f"two [[markups]] for the same wallet and pair: {scope}",
                    "keep one rule per scope",
                )
        return markups

    _source_file: str = PrivateAttr(default="")

    @field_validator("markets")
    @classmethod
    def _distinct_markets(cls, markets: tuple[str, ...]) -> tuple[str, ...]:
        for index, market in enumerate(markets):
            if market in markets[:index]:
                raise _fail(f"'{market}' is listed twice", "remove one", key=f"[{index}]")
        return markets

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def source_file(self) -> str:
        """The file this partner was read from, as error messages name it."""
        return self._source_file or f"configs/{PARTNERS_DIR}/{self.id}.toml"

    @property
    def port(self) -> int:
        """Where this partner's sandbox listens: `sandbox.port`, else the port of `base_url`."""
        url = urlsplit(self.base_url)
        return self.sandbox.port or url.port or (443 if url.scheme == "https" else 80)
