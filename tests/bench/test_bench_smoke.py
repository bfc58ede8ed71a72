"""The benchmark's smoke run (`python -m bench --quick`) must keep working, whatever it measures.

No performance thresholds here: the targets are checked by the benchmark's own output
(docs/benchmarks.md), never by timed tests. This only proves that one small run starts every
process, measures every target (one of them with webhooks delivered to the sink) and finds no
failed or duplicated payment, no journal or outbox gap, a passing `ledger verify`, and every
event delivered once with a good signature.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bench_targets import TARGET_GROUPS

REPO = Path(__file__).resolve().parents[2]
BASELINES = {"baseline-aiohttp", "baseline-plain-httpx"}
WEBHOOKS = "gateway-sqlite+webhooks"


@pytest.mark.slow
def test_quick_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    work = tmp_path / "work"  # the run's temp dir (configs, SQLite file, logs) goes here
    work.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--requests",
            "60",
            "--no-docs",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(work)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-5000:]}"
    files = sorted(out.glob("*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())

    targets = result["targets"]
    expected = BASELINES | {"gateway-sqlite", WEBHOOKS}
    if "gateway-postgresql" not in result["skipped"]:
        expected.add("gateway-postgresql")
    assert set(targets) == expected, (set(targets), result["skipped"])

    levels = result["config"]["concurrency"]
    for name, target in targets.items():
        assert [run["concurrency"] for run in target["runs"]] == levels, name
        for run in target["runs"]:
            assert run["requests"] == result["config"]["requests"], name
            assert run["payments_per_s"] > 0, name
            assert run["latency_ms"]["p99"] >= run["latency_ms"]["p50"] > 0, name
        assert target["peak_rss_mb"] > 0, name
        check = target["integrity"]
        assert check["failed"] == 0 and check["duplicated"] == 0, (name, check)
        assert check["problems"] == [] and check["ok"], (name, check)
        assert check["ledger_charges"] == check["succeeded"] == check["sent"], (name, check)
        if name.startswith("gateway-"):
            assert check["db_payments"] == check["sent"], (name, check)
            assert check["succeeded_with_one_entry"] == check["sent"], (name, check)
            assert check["succeeded_with_one_event"] == check["sent"], (name, check)
            assert check["journal_entries"] == check["events"] == check["sent"], (name, check)
            assert check["ledger_verify"]["ok"], (name, check["ledger_verify"])
            half = target["half_peak"]
            assert half["mode"] == "open" and half["own_ms"]["p99"] > 0, name
            for run in target["runs"]:
                assert run["own_ms"] is not None, name

    report = targets[WEBHOOKS]["webhooks_report"]
    assert report["sink"]["events"] == targets[WEBHOOKS]["integrity"]["sent"], report["sink"]
    assert report["sink"]["duplicates"] == report["sink"]["bad_signatures"] == 0, report["sink"]
    assert report["failed_attempts"] == report["delivered_twice"] == 0, report
    assert len(report["runs"]) == len(levels) + 1  # the closed runs and the half-peak one
    for run in report["runs"]:
        assert run["per_payment"] == 1.0, run
        assert run["lag_ms"]["p99"] >= run["lag_ms"]["p50"] > 0, run

    # The bare proxy again, open loop at the gateways' half-peak rates (the latency targets
    # compare p99 at the same offered rate); its runs counted in its integrity.
    proxy_rates = [run["rate"] for run in targets["baseline-aiohttp"]["open_runs"]]
    gateway_rates = [
        targets[name]["half_peak"]["rate"]
        for name in ("gateway-sqlite", "gateway-postgresql")
        if name in targets
    ]
    assert proxy_rates and all(
        any(abs(p - g) <= 0.01 * max(p, g) for p in proxy_rates) for g in gateway_rates
    ), (proxy_rates, gateway_rates)
    for run in targets["baseline-aiohttp"]["open_runs"]:
        assert run["mode"] == "open" and run["latency_ms"]["p99"] > 0, run
    base_check = targets["baseline-aiohttp"]["integrity"]
    assert base_check["sent"] > sum(r["sent_total"] for r in targets["baseline-aiohttp"]["runs"])

    # PostgreSQL round trips per payment, counted through bench.pgcount.
    if "gateway-postgresql" in targets:
        counted = targets["gateway-postgresql"]["round_trips"]
        assert counted["payments"] == result["config"]["count_requests"], counted
        assert counted["proxy_errors"] == [] and counted["writer_identified"], counted
        writer = counted["kinds"]["writer"]
        assert writer["round_trips"] >= counted["payments"], counted  # at least one each
        # Sync and Query: one Z each; besides, one Z ends each start-up in the window, and a Z
        # may answer a Sync sent just before it began (one per connection at most).
        slack = writer["opened"] + writer["connections"]
        assert writer["ready"] <= writer["round_trips"] + slack, counted
        assert 0 < writer["per_payment"] <= counted["total_per_payment"] + 1e-9, counted

    assert result["integrity"] == {"failed": 0, "duplicated": 0, "problems": [], "ok": True}
    checks = result["targets_check"]
    assert {t["status"] for t in checks} <= {"PASS", "FAIL", "SKIP"}
    assert {t["group"] for t in checks} == TARGET_GROUPS
    # Judged with --quick: what c=1 and the half peak give (c=64 and 25 % of peak are not run).
    judged = [(t["group"], t["target"]) for t in checks if t["status"] != "SKIP"]
    wanted = [
        ("latency", "sqlite: client p50 at c=1 "),
        ("latency", "sqlite: client p99 at 50% of its peak "),
        ("cpu", "sqlite: server CPU per payment "),
        ("throughput", "sqlite: throughput "),
        ("memory", "sqlite: peak RSS "),
        ("integrity", "no failed or duplicated payment"),
    ]
    if "gateway-postgresql" in targets:
        wanted.append(("round trips", "postgresql: PostgreSQL round trips per payment "))
    for group, prefix in wanted:
        assert any(g == group and t.startswith(prefix) for g, t in judged), (group, prefix)
    assert "[PASS] no failed or duplicated payment" in proc.stdout
    assert "failed: 0, duplicated: 0" in proc.stdout
    # Nothing it started is left running (a child would keep a port, the DB, the CPU), and
    # its temp dir is gone.
    leftover = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
    assert list(work.iterdir()) == []
