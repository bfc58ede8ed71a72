"""Finance's commands: `settle` a business day, `settlements export`, and `reconcile` a partner's
settlement file against the journal."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import click

from gateway.cli.base import _admin, _settings, main
from gateway.core.config import ConfigError
from gateway.storage.db import Database

# --- settlement -------------------------------------------------------------------------------


def _business_date(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    from gateway.settlement.model import parse_business_date

    try:
        return parse_business_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


_DATE_OPTION = click.option(
    "--date",
    "day",
    required=True,
    callback=_business_date,
    help="The business date, YYYY-MM-DD (in each owner's own zone).",
)
_OWNER_OPTIONS = (
    click.option("--merchant", "merchant_id", default=None, help="Only this merchant's batches."),
    click.option("--partner", default=None, help="Only this partner's receivable batches."),
)


def _one_owner(merchant_id: str | None, partner: str | None) -> None:
    if merchant_id is not None and partner is not None:
        raise click.UsageError("give --merchant or --partner, not both")


@main.command()
@_DATE_OPTION
@_OWNER_OPTIONS[0]
@_OWNER_OPTIONS[1]
@click.option(
    "--force",
    is_flag=True,
    help="Close even if the day's cut-off + grace has not passed yet (lines committed later for "
    "that day then go to the next day's batch).",
)
@click.pass_context
def settle(
    ctx: click.Context, day: date, merchant_id: str | None, partner: str | None, force: bool
) -> None:
    """Close the settlement batches of a business date; prints each one. Idempotent: a batch
    closed already is reported, never closed again. Exit 1 if a batch was not yet due."""
    from adapters import SystemClock
    from gateway.settlement.closing import settle_day

    _one_owner(merchant_id, partner)
    settings = _settings(ctx)
    results = _admin(
        settings,
        lambda db: settle_day(
            db,
            settings,
            day=day,
            now=SystemClock().now(),
            closed_by=f"cli:{os.getpid()}",
            merchant_id=merchant_id,
            partner=partner,
            force=force,
        ),
    )
    for result in results:
        click.echo(result.describe())
    if not results:
        click.echo(f"nothing to settle on {day.isoformat()}")
    ctx.exit(1 if any(r.outcome in {"not_due", "unknown_owner"} for r in results) else 0)


@main.group()
def settlements() -> None:
    """Settlement batches and their files."""


# A progress bar is worth showing from this many bytes on (and only on a terminal).
_PROGRESS_FROM_BYTES = 8 << 20


@settlements.command("export")
@_DATE_OPTION
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the files, manifest.json and SHA256SUMS into (made if missing).",
)
@_OWNER_OPTIONS[0]
@_OWNER_OPTIONS[1]
@click.pass_context
def settlements_export(
    ctx: click.Context, day: date, out: Path, merchant_id: str | None, partner: str | None
) -> None:
    """Write every closed batch file of a business date, each checked against its SHA-256."""
    from tqdm import tqdm

    from gateway.settlement.export import ExportError, closed_batches_of, export_day

    _one_owner(merchant_id, partner)
    settings = _settings(ctx)

    async def run(db: Database) -> list[Any]:
        batches = await closed_batches_of(db, day, merchant_id=merchant_id, partner=partner)
        total = sum(b.file_bytes for b in batches)
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"settlement files {day.isoformat()}",
            disable=True if total < _PROGRESS_FROM_BYTES else None,  # None: only on a terminal
        ) as bar:
            return await export_day(
                db,
                day,
                out,
                merchant_id=merchant_id,
                partner=partner,
                progress=bar.update,
            )

    try:
        exported = _admin(settings, run)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    for item in exported:
        click.echo(f"{item.batch.file_sha256}  {item.path}  ({item.batch.line_count} rows)")
    click.echo(f"{len(exported)} file(s) of {day.isoformat()} in {out} (manifest.json, SHA256SUMS)")


# --- reconciliation ---------------------------------------------------------------------------


@main.command()
@click.option("--partner", required=True, help="The partner whose settlement file to check.")
@_DATE_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write each report here as <partner>_<date>_<currency>.csv.",
)
@click.pass_context
def reconcile(ctx: click.Context, partner: str, day: date, out: Path | None) -> None:
    """Fetch PARTNER's settlement file for the date and match it line by line against our
    partner receivable lines; store and print the result (exit 1 on any discrepancy)."""
    from adapters import SettlementFileUnavailable, SystemClock, new_http_client
    from gateway.bootstrap import one_partner_calls
    from gateway.reconciliation.service import ReconciliationResult
    from gateway.reconciliation.service import reconcile as run

    settings = _settings(ctx)
    if partner not in {p.id for p in settings.partners}:
        raise click.BadParameter(f"no partner {partner!r} is configured", param_hint="--partner")
    clock = SystemClock()

    async def go(db: Database) -> list[ReconciliationResult]:
        async with new_http_client() as http:
            try:
                calls = one_partner_calls(settings, partner, http=http, clock=clock, env=os.environ)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
            try:
                return await run(db, settings, calls, partner=partner, day=day, now=clock.now())
            except SettlementFileUnavailable as exc:
                raise click.ClickException(
                    f"{partner}'s settlement file for {day} is unavailable: {exc.message}"
                ) from exc

    results = _admin(settings, go)
    if not results:
        click.echo(f"{partner} {day}: no lines on either side")
    clean = True
    for result in results:
        click.echo(f"{result.row['id']}  {result.summary()}")
        clean = clean and result.row["matched"] == sum(result.counts.values())
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            name = f"{partner}_{day.isoformat()}_{result.row['currency']}.csv"
            (out / name).write_text(result.row["report"], encoding="utf-8")
    ctx.exit(0 if clean else 1)
