"""Running the partner sandboxes named in the config, with keys generated on this machine.

Sandbox keys are never committed: `sandbox_environment` makes any that the environment lacks
(fresh RSA pairs, a client id, the wallet-code hash key) so the demo and the tests run with zero
set-up, and `gateway sandbox keys` prints them as `export` lines to share between processes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from adapters import PROTOCOLS, Clock, SystemClock
from adapters.alipayplus import SandboxSettings, generate_keypair
from gateway.config import Partner, Settings

__all__ = ["RunningSandboxes", "sandbox_environment", "start_sandboxes"]


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.replace("\\n", "\n").encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _sandbox_partners(settings: Settings) -> list[Partner]:
    return [p for p in settings.partners if p.sandbox.enabled]


def sandbox_environment(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """Variables missing from `env` that the sandbox partners need, freshly generated."""
    made: dict[str, str] = {}
    hash_key = settings.security.code_hash_key_env
    if not env.get(hash_key):
        made[hash_key] = secrets.token_urlsafe(32)
    for partner in _sandbox_partners(settings):
        creds = partner.credentials
        if not env.get(creds["client_id"]):
            made[creds["client_id"]] = f"SANDBOX_{partner.id.upper().replace('-', '_')}"
        if not env.get(creds["private_key"]):
            made[creds["private_key"]] = generate_keypair()[0]
        sandbox_key = partner.sandbox.private_key_env
        assert sandbox_key is not None
        if not env.get(sandbox_key):
            made[sandbox_key] = generate_keypair()[0]
        if not env.get(creds["partner_public_key"]):
            private = env.get(sandbox_key) or made[sandbox_key]
            made[creds["partner_public_key"]] = _public_pem(private)
    return made


def apply_sandbox_environment(settings: Settings, env: MutableMapping[str, str]) -> dict[str, str]:
    made = sandbox_environment(settings, env)
    env.update(made)
    return made


@dataclass
class RunningSandboxes:
    runners: list[web.AppRunner]
    apps: dict[str, web.Application]
    urls: dict[str, str]

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


def sandbox_app(
    settings: Settings, partner: Partner, env: Mapping[str, str], clock: Clock
) -> web.Application:
    creds = partner.credentials
    sandbox_key = partner.sandbox.private_key_env
    assert sandbox_key is not None
    spec = PROTOCOLS[partner.protocol]
    merchant_public = _public_pem(env[creds["private_key"]])
    return spec.sandbox(
        SandboxSettings(
            private_key_pem=env[sandbox_key],
            merchant_public_keys={env[creds["client_id"]]: merchant_public},
            hold_seconds=settings.sandbox.hold.total_seconds(),
            confirm_seconds=settings.sandbox.confirm.total_seconds(),
            expire_seconds=settings.sandbox.expire.total_seconds(),
            clock=clock,
        )
    )


async def start_sandboxes(
    settings: Settings,
    env: Mapping[str, str],
    *,
    clock: Clock | None = None,
    ports: Mapping[str, int] | None = None,
    host: str = "127.0.0.1",
) -> RunningSandboxes:
    """Start each sandbox partner on the port of its `base_url` (or `ports[partner]`)."""
    clock = clock or SystemClock()
    running = RunningSandboxes([], {}, {})
    try:
        for partner in _sandbox_partners(settings):
            app = sandbox_app(settings, partner, env, clock)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            running.runners.append(runner)
            port = (ports or {}).get(partner.id, partner.port)
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0][1]
            running.apps[partner.id] = app
            running.urls[partner.id] = f"http://{host}:{bound}"
    except BaseException:
        await running.stop()
        raise
    return running
