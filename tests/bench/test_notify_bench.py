"""`python -m bench.notify --quick` runs end to end and its integrity checks hold: every order code
shown, every notification acknowledged S in both rounds, the verdicts booked then already, every
payment succeeded once, nothing charged at the sandbox, the ledger verified (no timing is
asserted). And the load generator reads the gateway's metrics right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.notify_load import metric_counts

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_notify_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.notify", "--quick", "--payments", "40", "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-5000:]}"
    assert "integrity: ok" in proc.stdout
    for line in ("order codes shown", "notifications booked", "notifications replayed"):
        assert f"notify-sqlite: {line}" in proc.stdout
    (path,) = out.glob("notify-*.json")
    result = json.loads(path.read_text())
    assert result["integrity"] == {"problems": [], "ok": True}
    assert len(result["bare"]) == 2  # before and after the database
    data = result["databases"]["sqlite"]
    total = 40 + result["config"]["warmup"]
    assert data["orders"] == total
    assert data["booked"]["verdicts"] == {"booked": total}
    assert data["replayed"]["verdicts"] == {"already": total}
    for name in ("booked", "replayed"):
        assert data[name]["acknowledged_s"] == data[name]["sent_total"] == total
        assert data[name]["requests"] == 40
    assert data["database"]["by_status"] == {"succeeded": total}
    assert data["database"]["journal_entries"] == {"payment": total}
    assert data["database"]["events"] == {"payment.succeeded": total}
    assert data["sandbox"] == {
        "payments": total,
        "by_status": {"PROCESSING": total},
        "money_movements": 0,
    }
    assert data["notify_url_path"] == "/partners/th-siampay/notify"
    assert set(data["ratios"]) == {"order_codes", "booked", "replayed"}
    assert data["ledger_verify"]["ok"]


def test_metric_counts_reads_this_partners_verdicts_and_calls() -> None:
    text = "\n".join(
        [
            "# HELP gateway_partner_notifications_total Partners' notifications received",
            "# TYPE gateway_partner_notifications_total counter",
            'gateway_partner_notifications_total{partner="th-siampay",verdict="booked"} 40.0',
            'gateway_partner_notifications_total{partner="th-siampay",verdict="already"} 3.0',
            'gateway_partner_notifications_total{partner="kr-other",verdict="booked"} 7.0',
            'gateway_partner_notifications_created{partner="th-siampay",verdict="booked"} 1.7e9',
            'gateway_partner_call_seconds_count{partner="th-siampay",operation="inquire",'
            'outcome="unknown_maybe_sent"} 12.0',
            'gateway_partner_call_seconds_sum{partner="th-siampay",operation="inquire",'
            'outcome="unknown_maybe_sent"} 0.5',
            'gateway_partner_call_seconds_bucket{partner="th-siampay",operation="inquire",'
            'outcome="unknown_maybe_sent",le="0.1"} 12.0',
        ]
    )
    assert metric_counts(text, "th-siampay") == {
        "verdicts": {"booked": 40.0, "already": 3.0},
        "partner_calls": {"inquire unknown_maybe_sent": 12.0},
    }
