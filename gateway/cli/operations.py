"""What an operator checks: partners' circuit breakers on a running gateway, and `ledger verify`."""

from __future__ import annotations

from typing import Any

import click

from gateway.cli.base import _admin, _settings, main


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
