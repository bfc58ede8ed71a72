"""The `gateway` command line: serve, sandbox, demo, merchants (webhooks, signing), keys, migrate,
settle and settlements export.

click rather than argparse: nested command groups (`merchants create`, `keys create`) with typed
options and generated help come for free, and `CliRunner` tests them without a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from aiohttp import web

from gateway.core.config import ConfigError, Settings, load_settings, resolve_secrets_key
from gateway.core.durations import DurationError, parse_duration
from gateway.core.secrets import Purpose, SecretBox
from gateway.merchants import admin
from gateway.merchants.auth import Role
from gateway.storage.db import Database, open_database
from gateway.storage.migrate import upgrade

__all__ = ["main"]

log = logging.getLogger("gateway")

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj["config_dir"], obj["profile"])
        except ConfigError as exc:
            raise click.ClickException(f"invalid configuration:\n{exc}") from exc
    settings: Settings = obj["settings"]
    return settings


def _fast_event_loop() -> None:
    """uvloop where it exists: the same asyncio API with a libuv loop, markedly less CPU per
    request for aiohttp, httpx-aiohttp and asyncpg alike."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # One line per partner call at INFO is httpx's default; our own lines say more, once.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@click.group()
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar="GATEWAY_CONFIG_DIR",
    help="Folder with gateway.toml, wallets.toml and partners/ (default: ./configs).",
)
@click.option("--profile", default=None, envvar="GATEWAY_PROFILE", help="Overlay, e.g. 'test'.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def main(ctx: click.Context, config_dir: Path | None, profile: str | None, verbose: bool) -> None:
    """Cross-border acquiring gateway."""
    ctx.ensure_object(dict).update(config_dir=config_dir, profile=profile)
    _setup_logging(verbose)
    _fast_event_loop()


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic)."""
    settings = _settings(ctx)
    upgrade(settings.database.url)
    click.echo(f"database at head: {_redact(settings.database.url)}")


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def _serve_one(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    """One gateway process: the merchant API and its workers (a child of `serve --processes`)."""
    from gateway.bootstrap import create_app

    _fast_event_loop()
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        access_log=None,
        reuse_port=reuse_port,
        print=lambda text: click.echo(text),
    )


@main.command()
@click.option("--host", default=None, help="Override server.host.")
@click.option("--port", type=int, default=None, help="Override server.port.")
@click.option(
    "--processes",
    "-j",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Gateway processes sharing the port (PostgreSQL only).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, processes: int) -> None:
    """Run the merchant API (and its background workers).

    With `--processes N` (PostgreSQL), N processes share the port (SO_REUSEPORT) and the
    database; leases keep their workers from acting on the same payment at once.
    """
    settings = _settings(ctx)
    host, port = host or settings.server.host, port or settings.server.port
    if processes > 1 and settings.database.is_sqlite:
        raise click.UsageError(
            "SQLite serves one gateway process. For --processes > 1, point DATABASE_URL at "
            "PostgreSQL (e.g. postgresql://user@host/db)."
        )
    try:
        if processes == 1:
            _serve_one(settings, host, port, reuse_port=False)
            return
        _serve_many(settings, host, port, processes)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _serve_many(settings: Settings, host: str, port: int, processes: int) -> None:
    import multiprocessing
    import signal

    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no loop, no threads
    children = [
        spawn.Process(target=_serve_one, args=(settings, host, port, True), name=f"gateway-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()
    click.echo(f"{processes} gateway processes on http://{host}:{port}")

    def stop(_signum: int, _frame: Any) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()


@main.group(invoke_without_command=True)
@click.option("--partner", "only", default=None, help="Run only this partner's sandbox.")
@click.option("--port", type=int, default=None, help="With --partner: listen here instead.")
@click.pass_context
def sandbox(ctx: click.Context, only: str | None, port: int | None) -> None:
    """Run the partner sandboxes of the config (or print their keys: `sandbox keys`)."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.sandboxes import start_sandboxes

    settings = _settings(ctx)
    ports: dict[str, int] = {}
    if only is not None:
        if only not in {p.id for p in settings.partners}:
            raise click.BadParameter(f"no partner {only!r} in the config", param_hint="--partner")
        settings = settings.model_copy(update={"partners": tuple(_only_sandbox(settings, only))})
        if port is not None:
            ports[only] = port
    elif port is not None:
        raise click.BadParameter("--port needs --partner", param_hint="--port")

    async def run() -> None:
        running = await start_sandboxes(settings, os.environ, ports=ports)
        for partner_id, url in running.urls.items():
            click.echo(f"sandbox {partner_id}: {url}")
        try:
            await asyncio.Event().wait()
        finally:
            await running.stop()

    try:
        asyncio.run(run())
    except KeyError as exc:
        raise click.ClickException(
            f'environment variable {exc} is not set; run `eval "$(gateway sandbox keys)"` first'
        ) from exc
    except KeyboardInterrupt:
        pass


def _only_sandbox(settings: Settings, partner_id: str) -> list[Any]:
    """The partners, with every sandbox but `partner_id`'s switched off."""
    return [
        p
        if p.id == partner_id
        else p.model_copy(update={"sandbox": p.sandbox.model_copy(update={"enabled": False})})
        for p in settings.partners
    ]


@sandbox.command("keys")
@click.pass_context
def sandbox_keys(ctx: click.Context) -> None:
    """Print `export` lines for sandbox keys missing from the environment (never stored)."""
    from gateway.sandboxes import sandbox_environment

    for name, value in sandbox_environment(_settings(ctx), os.environ).items():
        click.echo(f"export {name}={shlex.quote(value)}")


# --- merchants and keys -----------------------------------------------------------------------


def _admin(settings: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    """Run one admin action against the configured database, as a click error on bad input."""

    async def go() -> T:
        db = open_database(settings.database.url)
        try:
            return await action(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except admin.AdminError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.option) from exc


@main.group()
def merchants() -> None:
    """Manage merchants."""


@merchants.command("create")
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. TH.")
@click.option("--currency", required=True, help="ISO 4217 settlement currency, e.g. THB.")
@click.option("--timezone", required=True, help="IANA zone, e.g. Asia/Bangkok.")
@click.option("--cutoff", default="00:00", show_default=True, help="Local business-day cut-off.")
@click.option("--mdr-bps", type=int, default=0, show_default=True, help="Merchant fee in bps.")
@click.option(
    "--fixed-fee", type=int, default=0, show_default=True, help="Per payment, minor units."
)
@click.pass_context
def merchants_create(ctx: click.Context, /, **options: Any) -> None:
    """Create a merchant; prints its id."""
    click.echo(_admin(_settings(ctx), lambda db: admin.create_merchant(db, **options)))


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--merchant", "merchant_id", default=None, help="Merchant id (pos and finance keys).")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.pass_context
def keys_create(ctx: click.Context, merchant_id: str | None, role: str) -> None:
    """Create an API key; prints it once (only its SHA-256 is stored)."""
    click.echo(
        _admin(
            _settings(ctx),
            lambda db: admin.create_key(db, role=Role(role), merchant_id=merchant_id),
        )
    )


# --- webhooks and request signing (secrets are shown once, on stdout; notes go to stderr) ------


def _secret_box(settings: Settings) -> SecretBox:
    try:
        return SecretBox(resolve_secrets_key(settings, os.environ))
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _show_secret(secret: str, what: str) -> None:
    click.echo(secret)
    click.echo(f"(the {what} above is shown once: hand it to the merchant now)", err=True)


def _keep_previous(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    try:
        return parse_duration(value) or timedelta(0)
    except DurationError as exc:
        raise click.BadParameter(str(exc)) from exc


_KEEP_PREVIOUS = click.option(
    "--keep-previous",
    default="0s",
    show_default=True,
    callback=_keep_previous,
    help='Keep the old secret valid this long beside the new one (e.g. "24h"; at most 7d).',
)


@merchants.group("webhook")
def merchants_webhook() -> None:
    """A merchant's webhook URL and secret (events are signed with it)."""


@merchants_webhook.command("set")
@click.argument("merchant_id")
@click.option("--url", required=True, help="The http(s) URL events are POSTed to.")
@click.pass_context
def merchants_webhook_set(ctx: click.Context, merchant_id: str, url: str) -> None:
    """Set the webhook URL; makes a webhook secret if there is none and prints it once."""
    settings = _settings(ctx)
    box = _secret_box(settings)
    secret = _admin(
        settings, lambda db: admin.set_webhook(db, box, merchant_id=merchant_id, url=url)
    )
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        click.echo("warning: plain http: events travel unencrypted; prefer https", err=True)
    if secret is not None:
        _show_secret(secret, "webhook secret")
    else:
        click.echo(f"webhook URL of {merchant_id} set; its secret is unchanged", err=True)


@merchants_webhook.command("rotate-secret")
@click.argument("merchant_id")
@_KEEP_PREVIOUS
@click.pass_context
def merchants_webhook_rotate(
    ctx: click.Context, merchant_id: str, keep_previous: timedelta
) -> None:
    """Replace the webhook secret; prints the new one once."""
    settings = _settings(ctx)
    box = _secret_box(settings)
    secret = _admin(
        settings,
        lambda db: admin.rotate_secret(
            db, box, merchant_id=merchant_id, purpose=Purpose.WEBHOOK, keep_previous=keep_previous
        ),
    )
    _show_secret(secret, "new webhook secret")


@merchants_webhook.command("clear")
@click.argument("merchant_id")
@click.pass_context
def merchants_webhook_clear(ctx: click.Context, merchant_id: str) -> None:
    """Remove the webhook URL and secret: events are no longer delivered (`no_endpoint`)."""
    had = _admin(_settings(ctx), lambda db: admin.clear_webhook(db, merchant_id=merchant_id))
    click.echo(f"webhook of {merchant_id} cleared" if had else f"{merchant_id} had no webhook")


@merchants.group("signing")
def merchants_signing() -> None:
    """Signed requests (Gateway-Signature) for a merchant's API keys."""


@merchants_signing.command("enable")
@click.argument("merchant_id")
@click.pass_context
def merchants_signing_enable(ctx: click.Context, merchant_id: str) -> None:
    """Require signed requests; makes a signing secret if there is none and prints it once."""
    settings = _settings(ctx)
    box = _secret_box(settings)
    secret = _admin(settings, lambda db: admin.enable_signing(db, box, merchant_id=merchant_id))
    if secret is not None:
        _show_secret(secret, "signing secret")
    else:
        click.echo(f"{merchant_id} now requires signed requests; its secret is unchanged", err=True)


@merchants_signing.command("disable")
@click.argument("merchant_id")
@click.pass_context
def merchants_signing_disable(ctx: click.Context, merchant_id: str) -> None:
    """Stop requiring signed requests (a signature sent anyway is still checked)."""
    _admin(_settings(ctx), lambda db: admin.disable_signing(db, merchant_id=merchant_id))
    click.echo(f"{merchant_id} no longer requires signed requests")


@merchants_signing.command("rotate-secret")
@click.argument("merchant_id")
@_KEEP_PREVIOUS
@click.pass_context
def merchants_signing_rotate(
    ctx: click.Context, merchant_id: str, keep_previous: timedelta
) -> None:
    """Replace the signing secret; prints the new one once."""
    settings = _settings(ctx)
    box = _secret_box(settings)
    secret = _admin(
        settings,
        lambda db: admin.rotate_secret(
            db, box, merchant_id=merchant_id, purpose=Purpose.SIGNING, keep_previous=keep_previous
        ),
    )
    _show_secret(secret, "new signing secret")


@main.group()
def partners() -> None:
    """Configured partners and their health."""


@partners.command("status")
@click.option("--url", default=None, help="A running gateway (default: server.host:port).")
@click.pass_context
def partners_status(ctx: click.Context, url: str | None) -> None:
    """Each partner's markets, wallets and protocol, and its breaker in a running gateway."""
    import json
    import urllib.error
    import urllib.request

    settings = _settings(ctx)
    url = url or f"http://{settings.server.host}:{settings.server.port}"
    health: dict[str, Any] = {}
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
            health = json.load(answer)["checks"]["partners"]
    except urllib.error.HTTPError as exc:  # 503 still carries the checks
        health = json.load(exc)["checks"]["partners"]
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"(no gateway answering at {url}: {exc}; breakers unknown)", err=True)
    rows = [("partner", "protocol", "markets", "wallets", "priority", "breaker", "failures")]
    for partner in settings.partners:
        state = health.get(partner.id, {})
        rows.append(
            (
                partner.id,
                partner.protocol,
                ",".join(partner.markets),
                ",".join(sorted(partner.wallets)),
                str(partner.priority),
                str(state.get("breaker", "?")),
                str(state.get("consecutive_failures", "?")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


# --- ledger -----------------------------------------------------------------------------------


@main.group()
def ledger() -> None:
    """The double-entry journal."""


@ledger.command("verify")
@click.pass_context
def ledger_verify(ctx: click.Context) -> None:
    """Check the journal against payments, refunds and fee schedules; exit 1 on any problem."""
    from gateway.ledger.verify import verify_ledger

    settings = _settings(ctx)
    report = _admin(settings, lambda db: verify_ledger(db, settings))
    click.echo(report.summary())
    ctx.exit(0 if report.ok else 1)


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
        total = sum(int(b["file_bytes"]) for b in batches)
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
        click.echo(f"{item.batch['file_sha256']}  {item.path}  ({item.batch['line_count']} rows)")
    click.echo(f"{len(exported)} file(s) of {day.isoformat()} in {out} (manifest.json, SHA256SUMS)")


# --- demo -------------------------------------------------------------------------------------

_DEMO_MERCHANT: dict[str, Any] = {
    "name": "Demo Bangkok Store",
    "country": "TH",
    "currency": "THB",
    "timezone": "Asia/Bangkok",
    "mdr_bps": 150,
}


async def _demo_merchant_and_key(db: Database) -> tuple[str, str]:
    merchant_id = await admin.find_merchant_by_name(db, _DEMO_MERCHANT["name"])
    if merchant_id is None:
        merchant_id = await admin.create_merchant(db, **_DEMO_MERCHANT)
    return merchant_id, await admin.create_key(db, role=Role.POS, merchant_id=merchant_id)


def _curl_example(url: str, key: str) -> str:
    reference = f"DEMO-{secrets.token_hex(4).upper()}"
    body = (
        '{"merchant_reference": "' + reference + '", '
        '"amount": {"currency": "THB", "value": 125050}, '
        '"payment_method": {"type": "wallet_code", "code": "281234567890120000"}}'
    )
    return (
        f"curl -s {url}/v1/payments \\\n"
        f"  -H 'Authorization: Bearer {key}' \\\n"
        f"  -H 'Idempotency-Key: {reference}' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


@main.command()
@click.option("--port", type=int, default=None, help="Gateway port (default: server.port).")
@click.pass_context
def demo(ctx: click.Context, port: int | None) -> None:
    """Everything at once: migrate, sandboxes, a demo merchant and POS key, the gateway."""
    from gateway.bootstrap import create_app
    from gateway.sandboxes import apply_sandbox_environment, start_sandboxes

    settings = _settings(ctx)
    apply_sandbox_environment(settings, os.environ)
    upgrade(settings.database.url)
    merchant_id, key = _admin(settings, _demo_merchant_and_key)
    host, port = settings.server.host, port or settings.server.port
    url = f"http://{host}:{port}"

    async def run() -> None:
        sandboxes = await start_sandboxes(settings, os.environ)
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            click.echo("")
            click.echo(f"Gateway running at {url}  (database: {_redact(settings.database.url)})")
            for partner_id, sandbox_url in sandboxes.urls.items():
                click.echo(f"Sandbox partner {partner_id} at {sandbox_url}")
            click.echo(f"Demo merchant {merchant_id} (TH, THB); POS API key (shown once):")
            click.echo(f"  {key}")
            click.echo(
                "Take a payment (Alipay code, 1,250.50 THB; last 4 digits pick the outcome):"
            )
            click.echo(_curl_example(url, key))
            click.echo("Press Ctrl-C to stop.")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await sandboxes.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


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
