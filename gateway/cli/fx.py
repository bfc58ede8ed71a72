"""The FX desk on the command line: `gateway fx refresh`, `sources`, `rates`, `quote`, `explain`
and `position`."""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

import fx
from adapters import Clock
from gateway.cli.base import _admin, _settings, main
from gateway.core.config import Settings
from gateway.core.render import dumps, rfc3339
from gateway.storage.db import Database

if TYPE_CHECKING:
    from gateway.core.errors import GatewayError
    from gateway.merchants.model import Merchant
    from gateway.partners.routing import Router
    from gateway.quotes.markups import MarkupPolicy
    from gateway.rates.refresher import RateRefresher

T = TypeVar("T")


@main.group("fx")
def fx_group() -> None:
    """Rate sources and their sets."""


@dataclasses.dataclass(frozen=True)
class _Desk:
    """What the fx commands work with: the database, a rate book filled from it, the clock,
    and a refresher that can fetch."""

    db: Database
    book: fx.RateBook
    clock: Clock
    refresher: RateRefresher


def _with_refresher(settings: Settings, work: Callable[[_Desk], Awaitable[T]]) -> T:
    """Run `work` with the configured sets stored and the book filled from the database."""
    from adapters import SystemClock, new_http_client
    from gateway.core.metrics import Metrics
    from gateway.rates.refresher import RateRefresher, rate_book
    from gateway.storage.writer import GroupCommitWriter

    async def action(db: Database) -> T:
        writer = GroupCommitWriter(db.writer)
        await writer.start()
        try:
            async with new_http_client() as http:
                clock = SystemClock()
                book = rate_book(settings)
                refresher = RateRefresher(
                    settings=settings,
                    db=db,
                    writer=writer,
                    book=book,
                    http=http,
                    clock=clock,
                    metrics=Metrics(),
                    owner=f"{socket.gethostname()}:{os.getpid()}:cli",
                )
                await refresher.prepare()
                return await work(_Desk(db, book, clock, refresher))
        finally:
            await writer.stop()

    return _admin(settings, action)


@fx_group.command("refresh")
@click.pass_context
def fx_refresh(ctx: click.Context) -> None:
    """Fetch every fetched source now (unless a running gateway is fetching it this moment),
    store what is new, and print each source's state; exit 1 if a fetch failed or was refused."""
    settings = _settings(ctx)

    async def work(desk: _Desk) -> bool:
        reports = await desk.refresher.refresh(force=True)
        for report in reports:
            click.echo(f"{report.source}: {report.outcome} {report.detail}".rstrip())
        _print_states(desk.book, desk.clock)
        return all(report.outcome not in ("failed", "refused") for report in reports)

    ctx.exit(0 if _with_refresher(settings, work) else 1)


@fx_group.command("sources")
@click.pass_context
def fx_sources(ctx: click.Context) -> None:
    """Each source, in priority order: its current set, publication, when it goes stale."""
    settings = _settings(ctx)

    async def work(desk: _Desk) -> None:
        _print_states(desk.book, desk.clock)

    _with_refresher(settings, work)


def _print_states(book: fx.RateBook, clock: Clock) -> None:
    from gateway.rates.views import rate_sources_view

    now = clock.now()
    rows = [("source", "fresh", "rate set", "published at", "stale at", "age")]
    for name, state in rate_sources_view(book.states(now), now).items():
        rows.append(
            (
                name,
                "yes" if state["fresh"] else "NO",
                state["rate_set"] or "-",
                state["published_at"] or "-",
                state["stale_at"] or "never",
                _age(state["age_seconds"]),
            )
        )
    _print_table(rows)


def _age(seconds: int | None) -> str:
    return "-" if seconds is None else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


# --- what a POS would be shown, what a quote would be: nothing stored ---------------------------


@dataclasses.dataclass(frozen=True)
class _Pricing:
    """What `gateway.quotes.service` prices with (its `Pricing`), without a running gateway:
    the configured markups and routes, and the desk's book and clock."""

    settings: Settings
    clock: Clock
    rates: fx.RateBook
    markups: MarkupPolicy
    router: Router


def _pricing(settings: Settings, desk: _Desk) -> _Pricing:
    from gateway.partners.routing import Router
    from gateway.quotes.markups import markup_policy

    router = Router(settings.wallets, settings.partners)
    return _Pricing(settings, desk.clock, desk.book, markup_policy(settings), router)


async def _merchant(db: Database, merchant_id: str) -> Merchant:
    from gateway.storage.payments import get_merchant

    merchant = await get_merchant(db, merchant_id)
    if merchant is None:
        raise click.BadParameter(f"no merchant {merchant_id}", param_hint="--merchant")
    return merchant


# The API's names of the fields a refusal is about, as this command line's options.
_OPTIONS = {
    "wallet": "--wallet",
    "amount.currency": "--currency",
    "amount.value": "--amount",
    "base": "--base",
}


def _refused(exc: GatewayError) -> click.ClickException:
    """The API's refusal as a click error: a bad option's (exit 2), or the code and message
    (exit 1), e.g. `rate_unavailable: no fresh rate for THB->CNY: ...`."""
    option = _OPTIONS.get(exc.param or "")
    if option is not None:
        return click.BadParameter(exc.message, param_hint=option)
    return click.ClickException(f"{exc.code}: {exc.message}")


@fx_group.command("rates")
@click.option(
    "--merchant",
    "merchant_id",
    default=None,
    help="Show what GET /v1/fx/rates shows this merchant's POS.",
)
@click.option(
    "--base",
    default=None,
    help="Without --merchant: 1 unit of this currency in each other one (default "
    "EUR). With it: the merchant's currency or nothing, as the API's ?base=.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the JSON document instead (with --merchant: the API's answer).",
)
@click.pass_context
def fx_rates(ctx: click.Context, merchant_id: str | None, base: str | None, as_json: bool) -> None:
    """Indicative rates now: what GET /v1/fx/rates shows a merchant's POS, or the book's mids.

    With --merchant: per wallet the merchant can take in another currency, the rate a quote
    would have now (mid rate, markup and its rule, source, rate set, age), then the wallets
    without a fresh rate and why. For display only: a payment is priced by its own quote.
    Without --merchant: the book's mid rates of 1 BASE in every currency of the freshest
    fresh source holding BASE (exit 1 if there is none)."""
    from gateway.core.errors import GatewayError
    from gateway.quotes.service import merchant_display_rates
    from gateway.wire.quotes import DisplayRates

    settings = _settings(ctx)
    if merchant_id is None:
        _book_rates(settings, base or "EUR", as_json)
        return

    async def work(desk: _Desk) -> tuple[Merchant, DisplayRates]:
        merchant = await _merchant(desk.db, merchant_id)
        try:
            return merchant, merchant_display_rates(_pricing(settings, desk), merchant, base)
        except GatewayError as exc:
            raise _refused(exc) from exc

    merchant, shown = _with_refresher(settings, work)
    if as_json:
        click.echo(dumps(shown))
        return
    click.echo(
        f"indicative rates for {merchant.name} ({merchant.id}): 1 {shown['base']} in each "
        "wallet's currency, markup included (for display only: a payment is priced by its "
        "own quote)"
    )
    rows = [
        (
            "wallet",
            "currency",
            "rate",
            "mid rate",
            "markup bps",
            "markup rule",
            "source",
            "rate set",
            "age",
        ),
    ]
    for rate in shown["rates"]:
        rows.append(
            (
                rate["wallet"],
                rate["currency"],
                rate["rate"],
                rate["mid_rate"],
                str(rate["markup_bps"]),
                rate["markup_rule"],
                rate["rate_source"],
                rate["rate_set"] or "-",
                _age(rate["age_seconds"]),
            )
        )
    if shown["rates"]:
        _print_table(rows)
    for missing in shown["unavailable"]:
        click.echo(f"no rate for {missing['wallet']} ({missing['currency']}): {missing['reason']}")
    if not shown["rates"] and not shown["unavailable"]:
        click.echo(f"no wallet taken in {merchant.country} pays in another currency")


def _book_rates(settings: Settings, base_code: str, as_json: bool) -> None:
    try:
        base = fx.get_currency(base_code)
    except fx.FXError as exc:
        raise click.BadParameter(str(exc), param_hint="--base") from exc

    async def work(desk: _Desk) -> dict[str, Any]:
        return _mid_rates(desk.book, base, desk.clock.now())

    shown = _with_refresher(settings, work)
    if as_json:
        click.echo(dumps(shown))
        return
    stale_at = shown["stale_at"] or "never"
    click.echo(
        f"mid rates of 1 {shown['base']} (no markup) from {shown['rate_source']}, rate set "
        f"{shown['rate_set']}, published {shown['rate_as_of']} (age "
        f"{_age(shown['age_seconds'])}, stale at {stale_at})"
    )
    if shown["quotes_use"] != shown["rate_source"]:
        click.echo(f"note: quotes use {shown['quotes_use']} first (the priority order)")
    _print_table(
        [("currency", "mid rate"), *((r["currency"], r["mid_rate"]) for r in shown["rates"])]
    )
    for missing in shown["unavailable"]:
        click.echo(f"not shown: {missing['currency']}: {missing['reason']}")


def _mid_rates(book: fx.RateBook, base: fx.Currency, now: datetime) -> dict[str, Any]:
    """1 `base` in every currency of the freshest fresh set holding it (the latest published;
    on a tie, the first in priority order), as a JSON document."""
    usable = []
    reasons = []
    for state in book.states(now):
        rate_set = state.rate_set
        if rate_set is None:
            reasons.append(f"{state.source}: no rates yet")
        elif not state.fresh:
            reasons.append(f"{state.source}: went stale at {rfc3339(state.current_until)}")
        elif not rate_set.has(base):
            reasons.append(f"{state.source}: no {base.code} rate")
        else:
            usable.append((state, rate_set))
    if not usable:
        raise click.ClickException(f"no fresh rates from {base.code}: {'; '.join(reasons)}")
    state, rate_set = max(usable, key=lambda pair: pair[1].published_at)  # the first on a tie
    rates = []
    unavailable = []
    for code in rate_set.rates:
        if code == base.code:
            continue
        try:
            mid = rate_set.mid_rate(base, fx.get_currency(code))
        except fx.FXError as exc:
            unavailable.append({"currency": code, "reason": str(exc)})
            continue
        rates.append({"currency": code, "mid_rate": fx.format_rate(mid.rate)})
    return {
        "object": "fx_mid_rates",
        "base": base.code,
        "rate_source": state.source,
        "rate_set": rate_set.id,
        "rate_as_of": rfc3339(rate_set.published_at),
        "age_seconds": int((now - rate_set.published_at).total_seconds()),
        "stale_at": rfc3339(state.current_until),
        "quotes_use": usable[0][0].source,
        "rates": rates,
        "unavailable": unavailable,
    }


def _amount(amount: str, currency: str) -> fx.Money:
    """`--amount` in `--currency`, read as strictly as the API reads a value: a plain decimal
    of ASCII digits with at most the currency's decimals, 1 minor unit to 10^13."""
    try:
        money_currency = fx.get_currency(currency)
    except fx.FXError as exc:
        raise click.BadParameter(
            f"{currency!r} is not a supported payment currency (an ISO 4217 code, e.g. THB)",
            param_hint="--currency",
        ) from exc
    try:
        money = fx.Money.parse(amount, money_currency)
    except fx.InvalidAmount as exc:
        example = fx.Money(125050 * 10**money_currency.exponent // 100, money_currency).format()
        raise click.BadParameter(
            f"{exc} (write major units with ASCII digits and at most "
            f"{money_currency.exponent} decimals, e.g. {example})",
            param_hint="--amount",
        ) from exc
    if not 1 <= money.value <= fx.MAX_AMOUNT:
        raise click.BadParameter(
            f"{amount!r} is not between 1 minor unit and 10^13 minor units of {currency}",
            param_hint="--amount",
        )
    return money


@fx_group.command("quote")
@click.option("--merchant", "merchant_id", required=True, help="The merchant's id, mer_...")
@click.option(
    "--amount",
    required=True,
    help="In the merchant's currency, major units: 1250.50 (at most the currency's decimals).",
)
@click.option("--currency", required=True, help="The amount's currency, the merchant's: THB.")
@click.option("--wallet", required=True, help="A configured wallet id, e.g. alipay_cn.")
@click.pass_context
def fx_quote(ctx: click.Context, merchant_id: str, amount: str, currency: str, wallet: str) -> None:
    """A what-if quote for operators, priced now as POST /v1/fx/quotes would price it; NOT
    stored.

    Prints the mid rate, the markup (bps and the rule that chose it), the rate, the payer
    amount, the rate source, its rate set and publication, and when such a quote would expire.
    Nobody is held to it: a quote a tourist is held to comes from POST /v1/fx/quotes. Exit 2
    on a bad option (an unknown merchant or wallet, an amount with more decimals than its
    currency has or not in the merchant's currency), 1 when no fresh rate prices the sale."""
    from gateway.core.errors import GatewayError
    from gateway.quotes.service import preview_quote

    settings = _settings(ctx)
    money = _amount(amount, currency)

    async def work(desk: _Desk) -> tuple[Merchant, str, fx.Quote]:
        merchant = await _merchant(desk.db, merchant_id)
        pricing = _pricing(settings, desk)
        try:
            chosen, quote = preview_quote(pricing, merchant, money, wallet, desk.clock.now())
            route = pricing.router.routes(merchant.country, chosen)[0]
        except GatewayError as exc:
            raise _refused(exc) from exc
        return merchant, route.partner, quote

    merchant, partner, quote = _with_refresher(settings, work)
    payer = quote.payer_amount
    lifetime = quote.expires_at - quote.created_at
    rows = [
        ("merchant", f"{merchant.id} ({merchant.name}, {merchant.country})"),
        ("amount", f"{fx.to_major_str(quote.amount)} {quote.amount.currency.code}"),
        ("wallet", f"{wallet} ({payer.currency.code}), first partner {partner}"),
        ("mid rate", fx.format_rate(quote.mid_rate)),
        ("markup bps", str(quote.markup_bps)),
        ("markup rule", quote.markup_rule or "-"),
        ("rate", fx.format_rate(quote.rate)),
        (
            "payer amount",
            f"{fx.to_major_str(payer)} {payer.currency.code} ({payer.value} minor units)",
        ),
        ("source", quote.rate_source),
        ("rate set", quote.rate_set or "-"),
        ("published at", rfc3339(quote.rate_as_of)),
        ("expires at", f"{rfc3339(quote.expires_at)} (in {_duration(lifetime)})"),
    ]
    click.echo(
        "what-if quote, NOT stored: only POST /v1/fx/quotes makes a quote a tourist is held to"
    )
    _print_table(rows)


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


@fx_group.command("explain")
@click.argument("payment_id")
@click.pass_context
def fx_explain(ctx: click.Context, payment_id: str) -> None:
    """How a payment's payer amount came about (rate set, source, mid, markup rule, the
    arithmetic), recomputed from stored data; exit 1 if anything does not match."""
    from gateway.quotes.explain import NotExplainable, explain_payment

    settings = _settings(ctx)
    try:
        explanation = _admin(settings, lambda db: explain_payment(db, payment_id))
    except NotExplainable as exc:
        raise click.ClickException(str(exc)) from exc
    for line in explanation.lines():
        click.echo(line)
    ctx.exit(0 if explanation.matches else 1)


@fx_group.command("position")
@click.option("--date", "day", default=None, help="A UTC day, YYYY-MM-DD (default: today).")
@click.option("--currency", default="EUR", show_default=True, help="The reporting currency.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the book as CSV (minor units) to this file.")  # fmt: skip
@click.pass_context
def fx_position(ctx: click.Context, day: str | None, currency: str, csv_path: str | None) -> None:
    """The FX book: per currency the open position (fx_position), the markup revenue booked
    (fx_revenue), their value in the reporting currency at the latest mid, and the unrealised
    result, at the end of a UTC day."""
    from datetime import UTC

    from gateway.ledger.fx_book import FxBook, fx_book, table
    from gateway.settlement.model import parse_business_date

    settings = _settings(ctx)

    async def work(desk: _Desk) -> FxBook:
        now = desk.clock.now()
        return await fx_book(desk.db, desk.book, day=when or now.astimezone(UTC).date(),
                             reporting=currency, now=now)  # fmt: skip

    try:
        when = None if day is None else parse_business_date(day)
        fx.get_currency(currency)
    except (ValueError, fx.FXError) as exc:
        raise click.BadParameter(str(exc)) from exc

    result = _with_refresher(settings, work)
    rows = table(result)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    click.echo(f"FX book at the end of {result.day} (UTC), valued in {result.reporting_currency}")
    for row in rows:
        click.echo("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    for reason in result.unavailable:
        click.echo(f"not valued: {reason}", err=True)
    if csv_path:
        with open(csv_path, "w", encoding="utf-8", newline="") as out:
            out.write(result.csv())
        click.echo(f"wrote {csv_path}", err=True)
