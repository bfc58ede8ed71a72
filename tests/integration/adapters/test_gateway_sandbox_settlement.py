"""`gateway.sandboxes` starts each sandbox on its partner's settlement terms, and opens the
settlement tampering switch in the `test` profile only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time

import httpx
import pytest

from adapters import SystemClock
from adapters._sandbox import SETTLEMENT
from adapters.sandboxes import SettlementTerms
from gateway.core.config import Settings, load_settings
from gateway.sandboxes import (
    sandbox_app,
    sandbox_environment,
    settlement_terms,
    start_sandboxes,
    tamper_allowed,
)
from tests.support.families import THAI_PARTNERS


@pytest.fixture(scope="module")
def test_profile() -> Settings:
    return load_settings(profile="test", env={})


@pytest.fixture(scope="module")
def default_profile() -> Settings:
    return load_settings(env={})


def test_terms_come_from_the_partner_config(test_profile: Settings) -> None:
    siam = test_profile.partner("th-siampay")
    assert settlement_terms(siam) == SettlementTerms(
        timezone=siam.timezone,
        cutoff=siam.cutoff,
        fee_bps=siam.fees.bps,
        fee_fixed=dict(siam.fees.fixed),
    )
    assert (siam.timezone, siam.cutoff) == ("Asia/Bangkok", time(23, 0))  # the config's own


def test_tampering_is_for_the_test_profile_only(
    test_profile: Settings, default_profile: Settings
) -> None:
    assert tamper_allowed(test_profile) is True
    assert tamper_allowed(test_profile, False) is False
    assert tamper_allowed(default_profile) is False
    assert tamper_allowed(default_profile, False) is False
    with pytest.raises(ValueError, match="outside the 'test' profile"):
        tamper_allowed(default_profile, True)


def test_each_protocols_sandbox_gets_the_terms_and_the_switch(
    test_profile: Settings, default_profile: Settings, protocol_family: str
) -> None:
    partner_id = THAI_PARTNERS[protocol_family]
    assert test_profile.partner(partner_id).protocol == protocol_family
    env = sandbox_environment(test_profile, {})
    for settings, allowed in ((test_profile, True), (default_profile, False)):
        partner = settings.partner(partner_id)
        app = sandbox_app(settings, partner, env, SystemClock())
        desk = app[SETTLEMENT]
        assert desk.terms == settlement_terms(partner)
        assert desk.allow_tamper is allowed
    with pytest.raises(ValueError):
        sandbox_app(
            default_profile,
            default_profile.partner(partner_id),
            env,
            SystemClock(),
            allow_tamper=True,
        )


@pytest.fixture
async def running(test_profile: Settings) -> AsyncIterator[dict[str, str]]:
    env = sandbox_environment(test_profile, {})
    ports = {p.id: 0 for p in test_profile.partners if p.sandbox.enabled}
    started = await start_sandboxes(test_profile, env, ports=ports)
    try:
        yield started.urls
    finally:
        await started.stop()


async def test_started_sandboxes_accept_tampering_in_the_test_profile(
    running: dict[str, str],
) -> None:
    async with httpx.AsyncClient() as http:
        for url in running.values():
            answer = await http.post(
                f"{url}/_sandbox/settlement_tamper", json={"business_date": "2026-11-26"}
            )
            assert answer.status_code == 200, answer.text
