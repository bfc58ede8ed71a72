"""The payment benchmark's targets (issue #16), judged from a hand-made result: no run, no timing.

Each target is a ratio against the bare proxy of the same run (latency at c=1 and, open loop, at
the same offered rate; CPU per payment and throughput at the same concurrency), the counted
PostgreSQL round trips, memory, integrity, and webhooks keeping pace; SKIP when the run lacks
the data. Also: which rates the bare proxy must be run at (one run per rate within 1 %), and the
docs and summary rendering all of it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench._checks import merge_integrity
from bench._report import evaluate_targets, proxy_open_plan, render_markdown, render_summary
from tests.support.bench_targets import TARGET_GROUPS


def _stats(p50: float, p99: float) -> dict[str, float]:
    return {"p50": p50, "p95": p99, "p99": p99, "mean": p50, "max": p99}


def _run(
    c: int,
    pps: float,
    p50: float,
    p99: float,
    cpu: float,
    *,
    rate: float | None = None,
    fraction: float | None = None,
    requests: int = 2000,
) -> dict[str, Any]:
    return {
        "mode": "closed" if rate is None else "open",
        "concurrency": c,
        "rate": rate,
        **({"fraction": fraction} if fraction is not None else {}),
        "requests": requests,
        "sent_total": requests,
        "succeeded_total": requests,
        "payments_per_s": pps,
        "achieved_rate": rate or pps,
        "latency_ms": _stats(p50, p99),
        "own_ms": _stats(p50 / 2, p99 / 2),
        "cpu_ms_per_payment": {"server": cpu, "sandbox": 1.0},
        "peak_rss_mb": 100.0,
    }


def _check(sent: int) -> dict[str, Any]:
    return {
        "sent": sent,
        "succeeded": sent,
        "failed": 0,
        "duplicated": 0,
        "ledger_charges": sent,
        "ledger_payments": sent,
        "problems": [],
        "ok": True,
    }


def _gateway(
    c1: tuple[float, float, float],
    c64: tuple[float, float],
    open_p99: dict[float, float],
    *,
    peak: float,
    rss: float = 120.0,
    processes: int = 1,
) -> dict[str, Any]:
    """c1: (payments/s, p50, cpu); c64: (payments/s, cpu); open_p99: {fraction: p99}."""
    opens = {
        f: _run(256, peak * f, 5.0, p99, 4.0, rate=round(peak * f, 1), requests=int(peak * f * 15))
        for f, p99 in open_p99.items()
    }
    half = opens.pop(0.5)
    half["peak_payments_per_s"] = peak
    half["peak_concurrency"] = 64
    curve = []
    for fraction, run in opens.items():
        run["fraction"] = fraction
        curve.append(run)
    return {
        "kind": "gateway",
        "database": "postgresql",
        "webhooks": False,
        "processes": processes,
        "runs": [_run(1, c1[0], c1[1], c1[1] * 2, c1[2]), _run(64, c64[0], 100, 200, c64[1])],
        "half_peak": half,
        "curve": curve,
        "peak_rss_mb": rss * processes,
        "peak_rss_largest_mb": rss,
        "os_processes": processes,
        "integrity": _check(4000),
    }


ROUND_TRIPS = {
    "payments": 200,
    "concurrency": 1,
    "warmup_payments": 50,
    "idle_s": 5.0,
    "window_s": 4.0,
    "kinds": {
        "writer": {
            "connections": 2,
            "opened": 0,
            "round_trips": 410,
            "ready": 410,
            "by_type": {"S": 406, "Q": 4},
            "idle_round_trips": 20,
            "idle_noise": 16.0,
            "raw_per_payment": 2.05,
            "per_payment": 1.97,
        },
        "pool": {
            "connections": 1,
            "opened": 0,
            "round_trips": 6,
            "ready": 6,
            "by_type": {"Q": 6},
            "idle_round_trips": 5,
            "idle_noise": 4.0,
            "raw_per_payment": 0.03,
            "per_payment": 0.01,
        },
    },
    "round_trips": 416,
    "idle_noise": 20.0,
    "total_per_payment": 1.98,
    "writer_identified": True,
    "connections_seen": 3,
    "proxy_errors": [],
}


def full_result() -> dict[str, Any]:
    """Every target measured. Bare proxy: c=1 300/s p50 3 ms CPU 2 ms; c=64 400/s CPU 2 ms."""
    sqlite = _gateway((240, 3.6, 3.0), (330, 2.5), {0.25: 9.0, 0.5: 10.0}, peak=330)
    postgresql = _gateway((150, 4.5, 3.4), (300, 2.7), {0.25: 12.0, 0.5: 30.0}, peak=300)
    postgresql["round_trips"] = copy.deepcopy(ROUND_TRIPS)
    two = _gateway((220, 4.0, 3.1), (350, 2.5), {0.5: 30.0}, peak=350, rss=160, processes=2)
    webhooks = _gateway((200, 5.0, 4.0), (300, 3.0), {0.5: 12.0}, peak=300)
    webhooks["webhooks_report"] = {
        "runs": [
            {
                "mode": "closed",
                "concurrency": c,
                "rate": None,
                "fraction": None,
                "payments": 2050,
                "delivered": 2050,
                "per_payment": 1.0,
                "by_end_of_run": share,
                "last_after_end_s": 0.1,
                "lag_ms": _stats(5, 20),
                "duplicates": 0,
                "drain_wait_s": 0.0,
                "cpu_ms_per_payment": {"server_incl_delivery": 5.0, "sink": 0.5},
            }
            for c, share in ((1, 1.0), (64, 0.96))
        ],
        "sink": {"posts": 4100, "events": 4100, "duplicates": 0, "bad_signatures": 0},
        "lag_ms_db": _stats(5, 20),
        "delivery_status": {"delivered": 4100},
        "delivery_attempts": 4100,
        "failed_attempts": 0,
        "delivered_twice": 0,
    }
    baseline: dict[str, Any] = {
        "kind": "baseline",
        "runs": [_run(1, 300, 3.0, 5.0, 2.0), _run(64, 400, 150, 300, 2.0)],
        "peak_rss_mb": 70.0,
        "integrity": _check(4100),
    }
    result: dict[str, Any] = {
        "machine": {
            "nproc": 2,
            "cpu_model": "test",
            "mem_gb": 8,
            "python": "3.11",
            "kernel": "Linux",
            "date": "2026-12-06 00:00 UTC",
            "loadavg_start": "0.10 0.10 0.10",
            "loadavg_end": "1.00 1.00 1.00",
            "postgresql": "15",
        },
        "config": {
            "concurrency": [1, 64],
            "requests": 2000,
            "warmup": 50,
            "half_peak_requests": 2000,
            "half_peak_max_seconds": 15.0,
            "curve": [0.25, 0.75],
            "drain_max_seconds": 120.0,
            "count_requests": 200,
            "count_idle_seconds": 5.0,
        },
        "targets": {
            "baseline-aiohttp": baseline,
            "gateway-sqlite": sqlite,
            "gateway-sqlite+webhooks": webhooks,
            "gateway-postgresql": postgresql,
            "gateway-postgresql-2proc": two,
        },
        "skipped": {"gateway-postgresql+webhooks": "no PostgreSQL server (test)"},
        "durability": {"sqlite": "journal_mode=wal", "postgresql": "synchronous_commit=on"},
        "integrity": {"failed": 0, "duplicated": 0, "problems": [], "ok": True},
    }
    # The bare proxy's open-loop runs at the latency targets' rates (sqlite's 50 % and
    # postgresql's 50 % differ by 10 %: two runs; p99 5 ms at each).
    baseline["open_runs"] = [
        {**_run(256, p["rate"], 2.0, 5.0, 2.5, rate=p["rate"]), "for": p["for"]}
        for p in proxy_open_plan(result)
    ]
    return result


def _by_prefix(checks: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    found = [c for c in checks if c["target"].startswith(prefix)]
    assert len(found) == 1, (prefix, [c["target"] for c in checks])
    return found[0]


def test_every_target_judged_against_the_bare_proxy_of_the_run() -> None:
    checks = evaluate_targets(full_result())
    expect = {
        # latency: p50 at c=1 ÷ 3 ms; p99 open loop ÷ 5 ms at the same rate
        "sqlite: client p50 at c=1": ("PASS", 1.2),
        "sqlite: client p99 at 25%": ("PASS", 1.8),
        "sqlite: client p99 at 50%": ("PASS", 2.0),
        "postgresql: client p50 at c=1": ("FAIL", 1.5),
        "postgresql: client p99 at 25%": ("FAIL", 2.4),
        "postgresql: client p99 at 50%": ("FAIL", 6.0),
        # CPU per payment ÷ 2 ms
        "sqlite: server CPU per payment ≤ 1.3 × the bare proxy's at c=64": ("PASS", 1.25),
        "sqlite: server CPU per payment ≤ 1.6 × the bare proxy's at c=1": ("PASS", 1.5),
        "postgresql: server CPU per payment ≤ 1.3 × the bare proxy's at c=64": ("FAIL", 1.35),
        "postgresql: server CPU per payment ≤ 1.6 × the bare proxy's at c=1": ("FAIL", 1.7),
        "postgresql-2proc: server CPU per payment ≤ 1.3 × the bare proxy's at c=64": (
            "PASS",
            1.25,
        ),
        # throughput ÷ 400/s at c=64, ÷ 300/s at c=1
        "sqlite: throughput ≥ 0.8 × the bare proxy's at c=64": ("PASS", 0.825),
        "sqlite: throughput ≥ 0.7 × the bare proxy's at c=1": ("PASS", 0.8),
        "postgresql: throughput ≥ 0.8 × the bare proxy's at c=64": ("FAIL", 0.75),
        "postgresql: throughput ≥ 0.7 × the bare proxy's at c=1": ("FAIL", 0.5),
        "postgresql-2proc: throughput ≥ 0.8 × the bare proxy's at c=64": ("PASS", 0.875),
        "postgresql: PostgreSQL round trips per payment": ("PASS", 1.97),
        "postgresql-2proc: peak RSS of each gateway process": ("FAIL", 160.0),
        "sqlite: peak RSS of the gateway process": ("PASS", 120.0),
        "sqlite+webhooks: ≥ 95% of a c=64 run's events": ("PASS", 0.96),
        "no failed or duplicated payment": ("PASS", None),
    }
    for prefix, (status, measured) in expect.items():
        check = _by_prefix(checks, prefix)
        assert check["status"] == status, check
        assert check["measured"] == pytest.approx(measured), check
    # The rows a skipped target still has, saying why.
    for prefix in (
        "postgresql+webhooks: ≥ 95%",
        "postgresql+webhooks: peak RSS",
    ):
        check = _by_prefix(checks, prefix)
        assert check["status"] == "SKIP" and "no PostgreSQL server" in check["value"], check
    assert (
        "(counted, the writer's connections)"
        in _by_prefix(checks, "postgresql: PostgreSQL")["target"]
    )
    assert {c["group"] for c in checks} == TARGET_GROUPS


def test_what_a_quick_run_lacks_is_skipped_with_its_reason() -> None:
    result = full_result()
    # --quick: no c=64, no 25 % of peak, no bare proxy open loop, no round-trip count
    for data in result["targets"].values():
        data["runs"] = [r for r in data["runs"] if r["concurrency"] == 1]
        data["curve"] = []
        data.pop("round_trips", None)
    result["targets"]["baseline-aiohttp"].pop("open_runs")
    result["targets"]["gateway-sqlite+webhooks"]["webhooks_report"]["runs"].pop()
    result["config"]["concurrency"] = [1, 16]
    checks = evaluate_targets(result)
    for prefix, why in {
        "sqlite: client p99 at 25%": "no open-loop run at 25% of peak",
        "sqlite: client p99 at 50%": "the bare proxy was not run open loop at 165/s",
        "sqlite: server CPU per payment ≤ 1.3 × the bare proxy's at c=64": "c=64 not run",
        "sqlite: throughput ≥ 0.8 × the bare proxy's at c=64": "c=64 not run",
        "postgresql: PostgreSQL round trips per payment": "not counted in this run",
        "sqlite+webhooks: ≥ 95%": "c=64 not run",
    }.items():
        check = _by_prefix(checks, prefix)
        assert check["status"] == "SKIP" and why in check["value"], check
    assert _by_prefix(checks, "sqlite: client p50 at c=1")["status"] == "PASS"
    # Without the bare proxy, nothing compared with it is judged.
    del result["targets"]["baseline-aiohttp"]
    for check in evaluate_targets(result):
        if check["group"] in ("latency", "cpu", "throughput"):
            assert check["status"] == "SKIP", check
    # A target not asked for is a SKIP too, never missing from the table.
    del result["targets"]["gateway-postgresql-2proc"]
    check = _by_prefix(evaluate_targets(result), "postgresql-2proc: throughput ≥ 0.7")
    assert check["status"] == "SKIP" and "--targets" in check["value"]


def test_without_the_writer_told_apart_all_connections_are_judged() -> None:
    result = full_result()
    counted = result["targets"]["gateway-postgresql"]["round_trips"]
    counted["kinds"] = {"pool": counted["kinds"]["pool"]}
    counted["writer_identified"] = False
    counted["total_per_payment"] = 3.5
    check = _by_prefix(evaluate_targets(result), "postgresql: PostgreSQL round trips")
    assert check["status"] == "FAIL" and check["measured"] == 3.5
    assert "(counted, all connections)" in check["target"]


def test_the_proxy_runs_once_per_rate_within_one_percent() -> None:
    result = full_result()
    sqlite = result["targets"]["gateway-sqlite"]
    postgresql = result["targets"]["gateway-postgresql"]
    sqlite["half_peak"]["rate"] = 150.0
    postgresql["half_peak"]["rate"] = 151.2  # within 1 % of 150: one run, the longer one
    postgresql["half_peak"]["requests"] = 2000
    plan = proxy_open_plan(result)
    assert [(p["rate"], p["requests"], p["for"]) for p in plan] == [
        (75.0, 1125, ["gateway-postgresql 25%"]),
        (82.5, 1237, ["gateway-sqlite 25%"]),  # 10 % away from 75: a run of its own
        (150.0, 2475, ["gateway-sqlite 50%", "gateway-postgresql 50%"]),
    ]
    # The 2-process and webhooks targets' latency is not judged: no proxy run for them.
    assert all("2proc" not in " ".join(p["for"]) for p in plan)
    assert all("webhooks" not in " ".join(p["for"]) for p in plan)


def test_docs_and_summary_render_the_targets() -> None:
    result = full_result()
    result["targets_check"] = evaluate_targets(result)
    markdown = render_markdown(result, None)
    assert "## Targets" in markdown and "within targets" not in markdown
    assert "## PostgreSQL round trips per payment (counted)" in markdown
    assert "## Latency against load (open loop)" in markdown
    assert "| writer | 2 | 410 | Q 4, S 406 | 20 in 5.0 s | 16.0 | 2.05 | **1.97** |" in markdown
    for check in result["targets_check"]:
        assert f"| {check['target']} | {check['value']} | **{check['status']}** |" in markdown
    summary = render_summary(result)
    assert "[FAIL] postgresql: client p50 at c=1" in summary
    assert "PostgreSQL round trips per payment (gateway-postgresql, c=1, 200 payments" in summary
    assert "baseline-aiohttp" in summary and "/s" in summary
    # An older result (no open runs, no count, no groups) still renders.
    del result["targets"]["baseline-aiohttp"]["open_runs"]
    del result["targets"]["gateway-postgresql"]["round_trips"]
    assert "## Targets" in render_markdown(result, None)


def test_merge_integrity_sums_two_checks() -> None:
    first, second = _check(10), _check(5)
    second["problems"] = ["1 reversals at the sandbox"]
    second["ok"] = False
    merged = merge_integrity(first, second)
    assert merged["sent"] == merged["succeeded"] == merged["ledger_charges"] == 15
    assert merged["problems"] == ["1 reversals at the sandbox"] and merged["ok"] is False


def test_a_ratio_just_over_its_limit_does_not_read_as_the_limit() -> None:
    result = full_result()
    result["targets"]["gateway-sqlite"]["runs"][1]["cpu_ms_per_payment"]["server"] = 2.608
    check = _by_prefix(evaluate_targets(result), "sqlite: server CPU per payment ≤ 1.3")
    assert check["status"] == "FAIL" and check["value"].startswith("1.304× "), check
