"""Merchants and their API keys, webhooks and request signing (secrets are shown once, on stdout;
notes go to stderr)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click

from gateway.cli.base import _admin, _settings, main
from gateway.core.config import ConfigError, Settings, resolve_secrets_key
from gateway.core.durations import DurationError, parse_duration
from gateway.core.secrets import Purpose, SecretBox
from gateway.merchants import admin
from gateway.merchants.auth import Role


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


# --- FX markups -------------------------------------------------------------------------------


@merchants.group("fx")
def merchants_fx() -> None:
    """A merchant's own FX markup rules (the most specific rule wins; see gateway.toml [fx])."""


@merchants_fx.command("set")
@click.argument("merchant_id")
@click.option("--markup-bps", type=int, required=True, help="Basis points over the mid rate.")
@click.option("--wallet", default=None, help="Only for this wallet's sales.")
@click.option("--pair", default=None, help="Only for this currency pair, e.g. THB/CNY.")
@click.pass_context
def merchants_fx_set(
    ctx: click.Context, merchant_id: str, markup_bps: int, wallet: str | None, pair: str | None
) -> None:
    """Set the merchant's markup (for a wallet and/or pair); new quotes use it."""
    settings = _settings(ctx)
    rules = _admin(
        settings,
        lambda db: admin.set_markup(
            db,
            merchant_id=merchant_id,
            bps=markup_bps,
            wallet=wallet,
            pair=pair,
            wallets=list(settings.wallets),
        ),
    )
    cfg = settings.fx
    if not cfg.markup_floor_bps <= markup_bps <= cfg.markup_cap_bps:
        click.echo(
            f"note: quotes hold it within the floor and cap, {cfg.markup_floor_bps}.."
            f"{cfg.markup_cap_bps} bps",
            err=True,
        )
    for rule in rules:
        click.echo(f"{rule.bps:>6} bps  {rule.label()}")


@merchants_fx.command("clear")
@click.argument("merchant_id")
@click.option("--wallet", default=None, help="The rule for this wallet.")
@click.option("--pair", default=None, help="The rule for this currency pair.")
@click.pass_context
def merchants_fx_clear(
    ctx: click.Context, merchant_id: str, wallet: str | None, pair: str | None
) -> None:
    """Remove the merchant's rule of that scope (the configured rules apply again)."""
    removed = _admin(
        _settings(ctx),
        lambda db: admin.clear_markup(db, merchant_id=merchant_id, wallet=wallet, pair=pair),
    )
    click.echo("rule removed" if removed else "no such rule", err=not removed)
