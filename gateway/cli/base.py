"""The `gateway` command group, its options (config directory, profile, verbosity), and what
every command shares: the settings, logging, the event loop, admin actions on the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway.core.config import ConfigError, Settings, load_settings
from gateway.merchants import admin
from gateway.storage.db import Database, open_database

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
    ctx.ensure_object(dict).update(config_dir=config_dir, profile=profile, verbose=verbose)
    _setup_logging(verbose)
    _fast_event_loop()


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
