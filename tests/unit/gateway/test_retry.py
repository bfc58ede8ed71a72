"""The retry policy table: verdicts from outcomes, defaults, overrides, full-jitter waits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters import Delivery, FailureCode, Outcome
from gateway.core.config import load_settings
from gateway.partners.retry import (
    DEFAULT_POLICY,
    Action,
    Verdict,
    full_jitter,
    policy_with,
    verdict,
)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.succeeded(), Verdict.FINAL),
        (Outcome.failed(FailureCode.RISK_REJECTED), Verdict.FINAL),
        (Outcome.unknown(Delivery.NOT_SENT, "refused"), Verdict.NOT_SENT),
        (
            Outcome.unknown(Delivery.NOT_SENT, "signed refusal", http_status=200),
            Verdict.NOT_ACCEPTED,
        ),
        (Outcome.unknown(Delivery.MAYBE_SENT, "in process", in_process=True), Verdict.IN_PROCESS),
        (Outcome.unknown(Delivery.MAYBE_SENT, "no record", not_found=True), Verdict.NOT_FOUND),
        (Outcome.unknown(Delivery.MAYBE_SENT, "HTTP 500", http_status=500), Verdict.MAYBE_SENT),
        (Outcome.unknown(Delivery.MAYBE_SENT, "read timeout"), Verdict.MAYBE_SENT),
    ],
)
def test_verdicts(outcome: Outcome, expected: Verdict) -> None:
    assert verdict(outcome) is expected


def test_defaults_follow_the_design() -> None:
    assert DEFAULT_POLICY[("pay", Verdict.FINAL)] is Action.STOP
    assert DEFAULT_POLICY[("pay", Verdict.NOT_SENT)] is Action.FAIL_OVER
    assert DEFAULT_POLICY[("pay", Verdict.NOT_ACCEPTED)] is Action.FAIL_OVER
    assert DEFAULT_POLICY[("pay", Verdict.MAYBE_SENT)] is Action.RETRY  # same partner, same id
    assert DEFAULT_POLICY[("pay", Verdict.IN_PROCESS)] is Action.INQUIRE
    # Every (operation, verdict) has an entry: the table is total.
    assert {(op, v) for op in ("pay", "inquire") for v in Verdict} == set(DEFAULT_POLICY)


def test_a_partner_file_overrides_entries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from tests.conftest import REPO

    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs)
    siam = configs / "partners" / "th-siampay.toml"
    siam.write_text(siam.read_text() + '\n[retry.pay]\nnot_sent = "retry"\n')
    partner = load_settings(configs, env={}).partner("th-siampay")
    table = policy_with(partner.retry.overrides())
    assert table[("pay", Verdict.NOT_SENT)] is Action.RETRY
    assert table[("pay", Verdict.NOT_ACCEPTED)] is Action.FAIL_OVER


def test_full_jitter_stays_under_the_growing_cap() -> None:
    wait = full_jitter(timedelta(milliseconds=100), timedelta(seconds=1))
    for n, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        samples = [wait(n) for _ in range(200)]
        assert all(0 <= s <= ceiling + 1e-9 for s in samples)
        assert max(samples) > ceiling / 2  # uses the range, not a constant
