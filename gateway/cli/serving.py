"""Running things: `migrate`, `serve` (one process or several), `sandbox` (and its keys), and
`demo`, which starts everything at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shlex
import sys
from typing import Any

import click
from aiohttp import web

from gateway.cli.base import _admin, _fast_event_loop, _settings, _setup_logging, main
from gateway.core.config import ConfigError, Settings
from gateway.merchants import admin
from gateway.merchants.auth import Role
from gateway.storage.db import Database
from gateway.storage.migrate import upgrade


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic)."""
    settings = _settings(ctx)
    upgrade(settings.database.url)
    click.echo(f"database at head: {_redact(settings.database.url)}")


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def _serve_one(settings: Settings, host: str, port: int, reuse_port: bool, verbose: bool) -> None:
    """One gateway process: the merchant API and its workers (a child of `serve --processes`,
    a fresh interpreter: it sets up its own logging)."""
    from gateway.bootstrap import create_app

    _setup_logging(verbose)  # a no-op where `main` set it up; a spawned child has not
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
            _serve_one(settings, host, port, reuse_port=False, verbose=ctx.obj["verbose"])
            return
        _serve_many(settings, host, port, processes, verbose=ctx.obj["verbose"])
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _serve_many(settings: Settings, host: str, port: int, processes: int, *, verbose: bool) -> None:
    import multiprocessing
    import signal

    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no loop, no threads
    children = [
        spawn.Process(
            target=_serve_one, args=(settings, host, port, True, verbose), name=f"gateway-{i}"
        )
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


@sandbox.command("scan")
@click.argument("qr_code")
@click.option(
    "--code-suffix",
    default="0000",
    show_default=True,
    help="The tourist's wallet code's last 4 digits: 0000 pays, 0051 insufficient funds, "
    "0059 risk rejected, 0054 code expired, 0503 partner unavailable.",
)
@click.option(
    "--notify",
    type=click.Choice(["now", "late", "twice", "bad_signature", "never"]),
    default=None,
    help="How the partner then notifies the gateway (anything but 'now': test profile only).",
)
@click.option("--delay", type=float, default=None, help="With --notify late: seconds to wait.")
@click.option(
    "--amount-delta", type=int, default=None, help="Notify this many minor units more (test)."
)
@click.option("--max-attempts", type=click.IntRange(1, 10), default=None, help="Deliveries (test).")
@click.option(
    "--amount",
    default=None,
    help="A store's entry code: the amount the tourist types, e.g. 125.50.",
)
@click.option("--wallet", default=None, help="A store's entry code: the tourist's wallet.")
@click.option(
    "--partner",
    default=None,
    help="The partner whose sandbox issued the code (needed for an EMVCo entry code, which "
    "names no sandbox).",
)
@click.option(
    "--entry-twice", is_flag=True, default=None, help="Send the entry order twice (test)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the sandbox's JSON answer.")
@click.pass_context
def sandbox_scan(
    ctx: click.Context,
    /,
    qr_code: str,
    code_suffix: str,
    notify: str | None,
    delay: float | None,
    amount_delta: int | None,
    max_attempts: int | None,
    amount: str | None,
    wallet: str | None,
    partner: str | None,
    entry_twice: bool | None,
    as_json: bool,
) -> None:
    """Play the tourist: scan a code a sandbox issued and pay it: an order code (its URL), or
    a store's entry code with --amount and --wallet (the tourist types the amount).

    The scan goes to the sandbox that issued the code; it charges or declines as the suffix
    says and notifies the gateway. Exits 1 when the sandbox refuses the scan (a code expired,
    cancelled or paid already).
    """
    from adapters._sandbox.scan import ScanFailed, describe, dumps, scan

    sandbox_url = None
    if partner is not None:
        settings = _settings(ctx)
        if partner not in {p.id for p in settings.partners}:
            raise click.BadParameter(f"no partner {partner!r}", param_hint="--partner")
        sandbox_url = f"http://127.0.0.1:{settings.partner(partner).port}"
    try:
        answer = scan(
            qr_code,
            sandbox_url=sandbox_url,
            suffix=code_suffix,
            notify=notify,
            delay_seconds=delay,
            amount_delta=amount_delta,
            max_attempts=max_attempts,
            amount=amount,
            wallet=wallet,
            entry_twice=entry_twice,
        )
    except ScanFailed as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(dumps(answer) if as_json else describe(answer))
    if not answer.ok:
        sys.exit(1)


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


_SCANNED = '{"type": "wallet_code", "code": "281234567890120000"}'
_PRESENTED = '{"type": "merchant_qr", "wallet": "alipay_cn"}'


def _curl_example(url: str, key: str, method: str = _SCANNED) -> str:
    reference = f"DEMO-{secrets.token_hex(4).upper()}"
    body = (
        '{"merchant_reference": "' + reference + '", '
        '"amount": {"currency": "THB", "value": 125050}, '
        '"payment_method": ' + method + "}"
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
            click.echo("Or show a QR code at the till (the answer's next_action.qr_code):")
            click.echo(_curl_example(url, key, _PRESENTED))
            click.echo("...and pay it as the tourist (0000 pays, 0051 declines):")
            click.echo(
                "  .venv/bin/gateway sandbox scan '<next_action.qr_code>' --code-suffix 0000"
            )
            click.echo("Or print a store's static code (it prints the store id, then the code):")
            click.echo(
                f"  .venv/bin/gateway stores create --merchant {merchant_id} --name 'Front desk'"
                " --qr-out store.svg"
            )
            click.echo(
                "...and pay it as a tourist typing the amount (the webhook names the store):"
            )
            click.echo(
                "  .venv/bin/gateway sandbox scan '<code>' --amount 125.50 --wallet alipay_cn"
                " --partner <the store's partner: gateway stores list>"
            )
            click.echo("Press Ctrl-C to stop.")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await sandboxes.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
