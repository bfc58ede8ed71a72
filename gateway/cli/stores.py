"""Stores with a static entry code (issue #15): `gateway stores create`, `list`, `disable`,
`enable`, `register` (ask the partner again) and `qr` (render a store's code again).

`create` registers the store with the partner (the first of the merchant's market offering
entry codes, or `--partner`), so it needs that partner's credentials in the environment, as the
gateway does; the partner sends entry orders to `<public URL>/partners/<id>/notify`
(`server.public_url`, else the configured host and port; `--public-url` overrides it)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click

from adapters import Clock, SystemClock
from gateway.cli.base import _admin, _settings, main
from gateway.core.config import ConfigError, Settings
from gateway.partners.calls import PartnerCalls
from gateway.storage.db import Database
from gateway.storage.writer import GroupCommitWriter
from gateway.stores.model import Store

T = TypeVar("T")

_QR_KINDS = {".svg": "svg", ".png": "png"}


@main.group()
def stores() -> None:
    """Stores with a static entry code: the tourist scans it and types the amount."""


@dataclasses.dataclass(frozen=True)
class _Deps:
    """What `gateway.stores.service` needs (`StoreDeps`), outside a running gateway."""

    settings: Settings
    db: Database
    writer: GroupCommitWriter
    clock: Clock
    partners: PartnerCalls


def _with_deps(
    settings: Settings,
    work: Callable[[_Deps], Awaitable[T]],
    *,
    partners_for: Callable[[Database], Awaitable[list[str]]] | None = None,
) -> T:
    """Run `work` with a writer and the adapters of the partners `partners_for` names (in
    order, up to the first that offers entry codes: only its credentials are needed), built
    from the configuration and the environment as the gateway builds them."""
    from adapters import Adapter, AdapterConfigError, Operation, new_http_client
    from gateway.bootstrap import build_adapter
    from gateway.core.metrics import Metrics
    from gateway.partners.health import Health

    async def action(db: Database) -> T:
        clock = SystemClock()
        writer = GroupCommitWriter(db.writer)
        await writer.start()
        try:
            async with new_http_client() as http:
                adapters: dict[str, Adapter] = {}
                for partner in [] if partners_for is None else await partners_for(db):
                    try:
                        adapter = build_adapter(
                            settings,
                            settings.partner(partner),
                            http=http,
                            clock=clock,
                            env=os.environ,
                        )
                    except (ConfigError, AdapterConfigError) as exc:
                        raise click.ClickException(str(exc)) from exc
                    adapters[partner] = adapter
                    if Operation.ENTRY_CODE in adapter.capabilities:
                        break
                health = Health(
                    adapters,
                    failures=settings.partner_defaults.breaker_failures,
                    cooldown=settings.durations.breaker_cooldown.total_seconds(),
                )
                calls = PartnerCalls(adapters, health=health, metrics=Metrics())
                return await work(_Deps(settings, db, writer, clock, calls))
        finally:
            await writer.stop()

    return _admin(settings, action)


def _notify_base(settings: Settings, public_url: str | None) -> str:
    if public_url:
        return public_url
    if settings.server.public_url is not None:
        return str(settings.server.public_url)
    return f"http://{settings.server.host}:{settings.server.port}"


def _qr_paths(paths: Sequence[Path], option: str = "--qr-out") -> list[tuple[Path, str]]:
    """Each --qr-out path and the image kind its suffix asks for; checked before any work."""
    checked = []
    for path in paths:
        kind = _QR_KINDS.get(path.suffix.lower())
        if kind is None:
            raise click.BadParameter(
                f"{path}: the file name must end in .svg or .png", param_hint=option
            )
        if not path.parent.is_dir():
            raise click.BadParameter(f"{path.parent} is not a folder", param_hint=option)
        checked.append((path, kind))
    return checked


def _write_qr(code: str, paths: list[tuple[Path, str]]) -> None:
    import segno

    qr = segno.make(code, error="m")
    for path, kind in paths:
        qr.save(str(path), kind=kind, scale=4 if kind == "svg" else 8, border=4)
        click.echo(f"wrote {path}", err=True)


def _line(store: Store) -> str:
    return f"{store.id} {store.status.value}"


_QR_OUT = click.option(
    "--qr-out",
    "qr_out",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    help="Write the code's QR here (.svg or .png; may be given twice).",
)
_PUBLIC_URL = click.option(
    "--public-url",
    default=None,
    help="Where the partner reaches this gateway (default: server.public_url, else "
    "http://server.host:server.port).",
)


@stores.command("create")
@click.option("--merchant", "merchant_id", required=True, help="The merchant (mer_...).")
@click.option("--name", required=True, help="The store's name, as tourists' wallets show it.")
@click.option(
    "--partner",
    default=None,
    help="Register with this partner (default: the first of the merchant's market offering "
    "entry codes).",
)
@_QR_OUT
@_PUBLIC_URL
@click.pass_context
def stores_create(
    ctx: click.Context,
    merchant_id: str,
    name: str,
    partner: str | None,
    qr_out: tuple[Path, ...],
    public_url: str | None,
) -> None:
    """Create a store and register it with the partner; prints the store id, then its static
    code (what the QR encodes). Exit 1 if the partner issued no code."""
    from gateway.merchants.admin import AdminError
    from gateway.storage.payments import get_merchant
    from gateway.stores import service

    settings = _settings(ctx)
    paths = _qr_paths(qr_out)
    try:
        name = service.check_name(name)
    except AdminError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.option) from exc
    if partner is not None and partner not in {p.id for p in settings.partners}:
        raise click.BadParameter(f"no partner {partner!r} is configured", param_hint="--partner")

    async def market(db: Database) -> list[str]:
        """The merchant market's partners, in routing order (or only `--partner`)."""
        merchant = await get_merchant(db, merchant_id)
        if merchant is None:
            raise click.BadParameter(f"no merchant {merchant_id!r}", param_hint="--merchant")
        ranked = sorted(settings.partners, key=lambda p: (p.priority, p.id))
        found = [p.id for p in ranked if merchant.country in p.markets and partner in (None, p.id)]
        if partner is not None and not found:
            raise click.BadParameter(
                f"{partner!r} is not licensed in {merchant.country} (the merchant's)",
                param_hint="--partner",
            )
        return found

    async def work(deps: _Deps) -> Store:
        try:
            return await service.create_store(
                deps,
                merchant_id=merchant_id,
                name=name,
                notify_base=_notify_base(settings, public_url),
                partner=partner,
            )
        except (service.StoreRegistrationFailed, service.StoreRegistrationUnknown) as exc:
            raise click.ClickException(str(exc)) from exc

    store = _with_deps(settings, work, partners_for=market)
    assert store.code is not None
    click.echo(store.id)
    click.echo(store.code)
    _write_qr(store.code, paths)


@stores.command("register")
@click.argument("store_id")
@_PUBLIC_URL
@click.pass_context
def stores_register(ctx: click.Context, store_id: str, public_url: str | None) -> None:
    """Ask the partner again for STORE_ID's code (a `pending` store's: its answer was lost);
    prints the store id and its code as `create` does."""
    from gateway.stores import service

    settings = _settings(ctx)

    async def partner_of(db: Database) -> list[str]:
        store = await service.get_store(db, store_id)
        return [store.partner] if store.partner in {p.id for p in settings.partners} else []

    async def work(deps: _Deps) -> Store:
        try:
            return await service.register_store(
                deps, store_id=store_id, notify_base=_notify_base(settings, public_url)
            )
        except (service.StoreRegistrationFailed, service.StoreRegistrationUnknown) as exc:
            raise click.ClickException(str(exc)) from exc

    store = _with_deps(settings, work, partners_for=partner_of)
    assert store.code is not None
    click.echo(store.id)
    click.echo(store.code)


@stores.command("list")
@click.option("--merchant", "merchant_id", required=True, help="The merchant (mer_...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per store and line.")
@click.pass_context
def stores_list(ctx: click.Context, merchant_id: str, as_json: bool) -> None:
    """The merchant's stores, oldest first: id, status, partner, name, code."""
    from gateway.core.render import rfc3339
    from gateway.stores import service

    found = _admin(_settings(ctx), lambda db: service.list_stores(db, merchant_id))
    for store in found:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": store.id,
                        "merchant_id": store.merchant_id,
                        "name": store.name,
                        "status": store.status.value,
                        "partner": store.partner,
                        "partner_store_id": store.partner_store_id,
                        "code": store.code,
                        "created_at": rfc3339(store.created_at),
                        "updated_at": rfc3339(store.updated_at),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(
                "\t".join(
                    (store.id, store.status.value, store.partner, store.name, store.code or "-")
                )
            )


@stores.command("disable")
@click.argument("store_id")
@click.pass_context
def stores_disable(ctx: click.Context, store_id: str) -> None:
    """Refuse every entry order for STORE_ID from now on (payments already made stand)."""
    from gateway.stores import service

    settings = _settings(ctx)
    click.echo(_line(_with_deps(settings, lambda deps: service.disable_store(deps, store_id))))


@stores.command("enable")
@click.argument("store_id")
@click.pass_context
def stores_enable(ctx: click.Context, store_id: str) -> None:
    """Take entry orders for a disabled STORE_ID again."""
    from gateway.stores import service

    settings = _settings(ctx)
    click.echo(_line(_with_deps(settings, lambda deps: service.enable_store(deps, store_id))))


@stores.command("qr")
@click.argument("store_id")
@click.option(
    "--out",
    "qr_out",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    required=True,
    help="Write the QR here (.svg or .png; may be given twice).",
)
@click.pass_context
def stores_qr(ctx: click.Context, store_id: str, qr_out: tuple[Path, ...]) -> None:
    """Render STORE_ID's static code again (to print it)."""
    from gateway.stores import service

    paths = _qr_paths(qr_out, "--out")
    store = _admin(_settings(ctx), lambda db: service.get_store(db, store_id))
    if store.code is None:
        raise click.ClickException(
            f"store {store_id} has no code yet: run `gateway stores register {store_id}`"
        )
    _write_qr(store.code, paths)
