"""The settlement benchmark's smoke run (`python -m bench.settlement --quick`) must keep working.

No performance thresholds: the figures and the memory PASS/FAIL are the benchmark's own output
(docs/settlement-benchmark.md), never a timed test. This proves that one small run generates the
payments, closes and exports the batch and downloads its file (and, on PostgreSQL, COPYs its frozen
lines), each step in a process of its own, that every check holds (the file's rows, sums and total
row against the aggregate, the SHA-256 against the stored one, the stored parts hashing to it),
that issue #16's targets are reported, and that nothing it started is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.settlement import QUICK_SIZE, Generated, flatness, targets, verify

REPO = Path(__file__).resolve().parents[2]
STEPS = {"aggregate", "close", "export", "http"}
PG_STEPS = STEPS | {"copy"}  # the COPY denominator: PostgreSQL only


@pytest.mark.slow
def test_quick_settlement_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    work = tmp_path / "work"  # the run's temp dir (configs, SQLite files, exports, logs)
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.settlement", "--quick", "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(work)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-5000:]}"
    files = sorted(out.glob("settlement-*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())

    expected = {"sqlite"} | ({"postgresql"} - set(result["skipped"]))
    if os.environ.get("GATEWAY_REQUIRE_POSTGRES") == "1":
        assert "postgresql" in expected, result["skipped"]
    assert {run["database"] for run in result["runs"]} == expected
    for run in result["runs"]:
        name = run["database"]
        assert run["n"] == QUICK_SIZE, name
        generated = run["generated"]
        assert generated["payments"] == QUICK_SIZE and generated["refunds"] > 0, name
        assert set(run["steps"]) == (PG_STEPS if name == "postgresql" else STEPS), name
        for step in run["steps"].values():
            assert step["seconds"] > 0 and step["peak_rss_mb"] > 0, (name, step)
        payments, refunds = run["steps"]["aggregate"]["aggregate"].values()
        assert payments[0] == QUICK_SIZE and refunds[0] == generated["refunds"], name
        assert run["close_over_aggregate"] > 0, name
        assert run["checks"]["ok"], (name, run["checks"])
        assert len(run["checks"]["checks"]) >= 12, name
        names = {check["name"] for check in run["checks"]["checks"]}
        assert {"file stored in parts", "stored parts sha256 = stored"} <= names, name
        verdicts = {t["name"]: t for t in run["targets"]}
        assert set(verdicts) == {"close ÷ aggregate", "export ÷ copy", "download ÷ copy"}, name
        assert verdicts["close ÷ aggregate"]["status"] in ("PASS", "FAIL"), name
        if name == "postgresql":
            copy = run["steps"]["copy"]
            assert copy["bytes"] > 0 and run["copy_seconds"] > 0, name
            assert all(t["status"] in ("PASS", "FAIL") for t in verdicts.values()), name
        else:
            assert run["copy_seconds"] is None, name
            assert verdicts["export ÷ copy"]["status"] == "n/a", name
    assert "targets (issue #16): close ÷ aggregate" in proc.stdout
    assert result["ok"]
    assert "checks: all passed" in proc.stdout
    # Nothing it started is left running, and its temp dir is gone.
    leftover = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
    assert list(work.iterdir()) == []


def _run(database: str, n: int, peaks: dict[str, float]) -> dict[str, object]:
    return {
        "database": database,
        "n": n,
        "steps": {step: {"peak_rss_mb": mb} for step, mb in peaks.items()},
    }


def test_memory_is_flat_within_the_margin() -> None:
    verdicts = flatness(
        [
            _run("postgresql", 1_000_000, {"close": 125.0, "export": 140.0}),
            _run("postgresql", 100_000, {"close": 110.0, "export": 110.0}),
            _run("sqlite", 100_000, {"close": 110.0}),  # one size only: no verdict
        ]
    )
    assert [(v["step"], v["small_mb"], v["large_mb"], v["status"]) for v in verdicts] == [
        ("close", 110.0, 125.0, "PASS"),
        ("export", 110.0, 140.0, "FAIL"),
    ]


def test_targets_against_the_limits() -> None:
    def run(close: float, export: float, download: float | None, copy: float | None) -> list[str]:
        steps = {"close": {"seconds": close}, "export": {"seconds": export}}
        if download is not None:
            steps["http"] = {"seconds": download}
        database = "sqlite" if copy is None else "postgresql"
        found = targets(
            {"database": database, "steps": steps, "aggregate_seconds": 1.0, "copy_seconds": copy}
        )
        return [t["status"] for t in found]

    assert run(10.0, 2.0, 2.0, 1.0) == ["PASS", "PASS", "PASS"]
    assert run(10.5, 2.1, 1.0, 1.0) == ["FAIL", "FAIL", "PASS"]
    assert run(3.0, 5.0, None, 1.0) == ["PASS", "FAIL", "n/a"]
    assert run(3.0, 5.0, 5.0, None) == ["PASS", "n/a", "n/a"]


def test_verify_catches_a_total_row_that_is_not_the_sum(tmp_path: Path) -> None:
    header = "record_type,id,payment_id,merchant_reference,partner,wallet,succeeded_at,currency,"
    header += "amount,payer_currency,payer_amount,fx_rate,fee,net\n"
    lines = [
        "payment,pay_1,pay_1,o-1,th-siampay,alipay_cn,2026-11-05T01:00:00Z,THB,100.00,CNY,18.88,"
        "0.1888323726,2.50,97.50\n",
        "refund,rf_1,pay_1,o-1,th-siampay,alipay_cn,2026-11-05T02:00:00Z,THB,-40.00,CNY,-7.55,"
        "0.1888323726,-0.60,-39.40\n",
    ]

    def checks(total: str) -> dict[str, bool]:
        body = (header + "".join(lines) + total).encode()
        folder = tmp_path / total.replace(",", "_").strip()
        folder.mkdir()
        (folder / "merchant_mer_1_THB_2026-11-05.csv").write_bytes(body)
        sha = hashlib.sha256(body).hexdigest()
        (folder / "manifest.json").write_text(json.dumps({"files": [{"sha256": sha, "rows": 2}]}))
        batch = {
            "payments_count": 1,
            "payments_amount": 10000,
            "refunds_count": 1,
            "refunds_amount": 4000,
            "fees": 190,
            "net": 5810,
            "line_count": 2,
            "file_sha256": sha,
            "file_bytes": len(body),
        }
        generated = Generated(1, 10000, 250, 1, 4000, 60)
        aggregate = {"payment": [1, 10000, 250], "refund": [1, 4000, 60]}
        found = verify(generated, aggregate, batch, folder, None)
        return {c["name"]: c["ok"] for c in found["checks"]}

    good = checks("total,2,,,,,,THB,60.00,,,,1.90,58.10\n")
    assert all(good.values()), good
    bad = checks("total,2,,,,,,THB,60.00,,,,1.90,58.11\n")
    assert not bad["total row = sum of rows"]
    assert [name for name, ok in bad.items() if not ok] == ["total row = sum of rows"]
