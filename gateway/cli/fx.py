"""The FX desk on the command line: `gateway fx refresh` and `gateway fx sources`."""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

import fx
from adapters import Clock
from gateway.cli.base import _admin, _settings, main
from gateway.core.config import Settings
from gateway.storage.db import Database

if TYPE_CHECKING:
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
        age = state["age_seconds"]
        rows.append(
            (
                name,
                "yes" if state["fresh"] else "NO",
                state["rate_set"] or "-",
                state["published_at"] or "-",
                state["stale_at"] or "never",
                "-" if age is None else f"{age // 3600}h{age % 3600 // 60:02d}m",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


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
