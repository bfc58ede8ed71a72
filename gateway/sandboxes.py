"""Running the partner sandboxes named in the config, with keys generated on this machine.

Sandbox keys are never committed: `sandbox_environment` makes any that the environment lacks
(each protocol knows what its partners need: RSA pairs and a client id, or an API key and a
shared secret; plus the gateway's wallet-code hash key and the key sealing merchants' webhook
and signing secrets) so the demo and the tests run with zero set-up,
and `gateway sandbox keys` prints them as `export` lines to share between processes.

Each sandbox produces its partner's settlement file from its own ledger, on the partner's terms
from the config (`timezone`, `cutoff`, `fees.bps`, `fees.fixed`: `settlement_terms`). Its
test-only tampering route (`POST /_sandbox/settlement_tamper`, see `adapters._sandbox`) is open
only when the settings' profile is `test` (`GATEWAY_PROFILE=test` or `--profile test`, as for
`gateway sandbox`); in any other profile it answers 403, and asking for it is a `ValueError`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from aiohttp import web

from adapters import Clock, SystemClock
from adapters.sandboxes import SANDBOXES, SettlementTerms
from gateway.core.config import ConfigError, Partner, Settings, resolve_credentials

__all__ = [
    "TAMPER_PROFILE",
    "RunningSandboxes",
    "sandbox_app",
    "sandbox_environment",
    "settlement_terms",
    "start_sandboxes",
    "tamper_allowed",
]

TAMPER_PROFILE = "test"
"""The only profile whose sandboxes accept settlement-file tampering."""


def _sandbox_partners(settings: Settings) -> list[Partner]:
    return [p for p in settings.partners if p.sandbox.enabled]


def _variables(partner: Partner) -> list[str]:
    names = list(partner.credentials.values())
    if partner.sandbox.private_key_env:
        names.append(partner.sandbox.private_key_env)
    return names


def sandbox_environment(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """Variables missing from `env` that the sandbox partners need, freshly generated.

    A partner's credentials belong together (a key and the partner's half of it): if any of its
    variables is missing, all of them are made anew.
    """
    made: dict[str, str] = {}
    # The gateway's own keys: wallet-code hashes, and the one sealing merchants' secrets.
    for own_key in (settings.security.code_hash_key_env, settings.security.secrets_key_env):
        if not env.get(own_key):
            made[own_key] = secrets.token_urlsafe(32)
    for partner in _sandbox_partners(settings):
        if all(env.get(name) for name in _variables(partner)):
            continue
        credentials, sandbox_secret = SANDBOXES[partner.protocol].demo_credentials(partner.id)
        for logical, name in partner.credentials.items():
            made[name] = credentials[logical]
        if sandbox_secret is not None:
            if partner.sandbox.private_key_env is None:
                raise ConfigError.single(
                    partner.source_file,
                    "sandbox.private_key_env",
                    f"a {partner.protocol} sandbox signs its answers with a key of its own",
                    'add private_key_env = "<PARTNER>_SANDBOX_PRIVATE_KEY" under [sandbox]',
                )
            made[partner.sandbox.private_key_env] = sandbox_secret
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


def settlement_terms(partner: Partner) -> SettlementTerms:
    """The partner's business day and fee schedule, as its sandbox's settlement file uses them."""
    return SettlementTerms(
        timezone=partner.timezone,
        cutoff=partner.cutoff,
        fee_bps=partner.fees.bps,
        fee_fixed=dict(partner.fees.fixed),
    )


def tamper_allowed(settings: Settings, allow_tamper: bool | None = None) -> bool:
    """Whether sandboxes accept settlement tampering: in the `test` profile, unless
    `allow_tamper=False`; `allow_tamper=True` outside it is a `ValueError`."""
    in_test = settings.profile == TAMPER_PROFILE
    if allow_tamper and not in_test:
        raise ValueError(
            f"settlement tampering is refused outside the {TAMPER_PROFILE!r} profile "
            f"(this is {settings.profile!r}); set GATEWAY_PROFILE={TAMPER_PROFILE}"
        )
    return in_test if allow_tamper is None else allow_tamper


def sandbox_app(
    settings: Settings,
    partner: Partner,
    env: Mapping[str, str],
    clock: Clock,
    *,
    allow_tamper: bool | None = None,
) -> web.Application:
    """The sandbox of `partner`'s protocol that accepts the credentials `env` gives the gateway,
    settling on the partner's terms; tampering as `tamper_allowed` says."""
    secret_name = partner.sandbox.private_key_env
    return SANDBOXES[partner.protocol].sandbox_for(
        resolve_credentials(partner, env),
        env.get(secret_name) if secret_name else None,
        hold_seconds=settings.sandbox.hold.total_seconds(),
        confirm_seconds=settings.sandbox.confirm.total_seconds(),
        expire_seconds=settings.sandbox.expire.total_seconds(),
        clock=clock,
        settlement=settlement_terms(partner),
        allow_settlement_tamper=tamper_allowed(settings, allow_tamper),
    )


async def start_sandboxes(
    settings: Settings,
    env: Mapping[str, str],
    *,
    clock: Clock | None = None,
    ports: Mapping[str, int] | None = None,
    host: str = "127.0.0.1",
    allow_tamper: bool | None = None,
) -> RunningSandboxes:
    """Start each sandbox partner on the port of its `base_url` (or `ports[partner]`);
    settlement tampering as `tamper_allowed(settings, allow_tamper)` says."""
    clock = clock or SystemClock()
    allowed = tamper_allowed(settings, allow_tamper)
    running = RunningSandboxes([], {}, {})
    try:
        for partner in _sandbox_partners(settings):
            app = sandbox_app(settings, partner, env, clock, allow_tamper=allowed)
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
