"""The FX desk on the command line: `gateway fx refresh` and `gateway fx sources`."""

from __future__ import annotations

import os
import socket
from typing import Any

import click

from gateway.cli.base import _admin, _settings, main


@main.group("fx")
def fx_group() -> None:
    """Rate sources and their sets."""


def _with_refresher(settings: Any, work: Any) -> Any:
    """Run `work(refresher, book, clock)` with a refresher on the configured database."""
    from adapters import SystemClock, new_http_client
    from gateway.core.metrics import Metrics
    from gateway.rates.refresher import RateRefresher, rate_book
    from gateway.storage.writer import GroupCommitWriter

    async def action(db: Any) -> Any:
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
                return await work(refresher, book, clock)
        finally:
            await writer.stop()

    return _admin(settings, action)


@fx_group.command("refresh")
@click.pass_context
def fx_refresh(ctx: click.Context) -> None:
    """Fetch every fetched source now (unless a running gateway is fetching it this moment),
    store what is new, and print each source's state; exit 1 if a fetch failed or was refused."""
    settings = _settings(ctx)

    async def work(refresher: Any, book: Any, clock: Any) -> bool:
        reports = await refresher.refresh(force=True)
        for report in reports:
            click.echo(f"{report.source}: {report.outcome} {report.detail}".rstrip())
        _print_states(book, clock)
        return all(report.outcome not in ("failed", "refused") for report in reports)

    ctx.exit(0 if _with_refresher(settings, work) else 1)


@fx_group.command("sources")
@click.pass_context
def fx_sources(ctx: click.Context) -> None:
    """Each source, in priority order: its current set, publication, when it goes stale."""
    settings = _settings(ctx)

    async def work(refresher: Any, book: Any, clock: Any) -> None:
        _print_states(book, clock)

    _with_refresher(settings, work)


def _print_states(book: Any, clock: Any) -> None:
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
