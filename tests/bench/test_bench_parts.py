"""The benchmark's own parts: the sink's signature check, process-group sums, delivery figures.

Fast and timing-free: the sink is held to API.md through the gateway's signer (if either drifts
from the other, the benchmark's webhook figures would be counting rejections), the process-group
sums are checked against a real group of processes, and the per-run delivery figures against a
hand-made record of arrivals.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bench._checks import webhook_report
from bench._procs import cpu_seconds, group_cpu_seconds, group_peak_rss, group_pids, peak_rss_mb
from bench.sink import Sink, check_signature
from gateway.events.signing import sign_webhook

SECRET = "whsec_" + "a" * 43
BODY = (
    b'{"id":"evt_1","type":"payment.succeeded","created_at":"2026-11-26T10:00:00.250Z",'
    b'"data":{"id":"pay_1"}}'
)


def test_sink_accepts_what_the_gateway_signs() -> None:
    now = int(time.time())
    header = sign_webhook([SECRET], BODY, now)
    assert check_signature(header, SECRET, BODY, now) is None
    # Several v1 values (a secret being rotated): any one matching will do.
    header = sign_webhook(["whsec_old", SECRET], BODY, now)
    assert check_signature(header, SECRET, BODY, now) is None


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=00", "malformed"),
        ("t=abc,v1=00", "malformed"),
        ("t=1", "malformed"),
    ],
)
def test_sink_rejects_malformed_headers(header: str | None, problem: str) -> None:
    assert check_signature(header, SECRET, BODY, time.time()) == problem


def test_sink_rejects_wrong_and_stale_signatures() -> None:
    now = int(time.time())
    assert check_signature(sign_webhook(["whsec_other"], BODY, now), SECRET, BODY, now) == "wrong"
    tampered = BODY.replace(b"pay_1", b"pay_2")
    assert check_signature(sign_webhook([SECRET], BODY, now), SECRET, tampered, now) == "wrong"
    old = now - 301
    assert check_signature(sign_webhook([SECRET], BODY, old), SECRET, BODY, now) == "stale"


def test_sink_counts_events_once_and_reports_the_rest() -> None:
    sink = Sink(SECRET)
    header = sign_webhook([SECRET], BODY, int(time.time()))
    assert sink.receive(BODY, header, "evt_1") == 200
    assert sink.receive(BODY, header, "evt_1") == 200  # a redelivery: answered, counted once
    assert sink.receive(BODY, "t=1,v1=" + "0" * 64, "evt_1") == 400
    assert sink.receive(b"not json", sign_webhook([SECRET], b"not json", int(time.time())), None)
    stats = sink.stats()
    assert stats["posts"] == 4 and stats["events"] == 1 and stats["duplicates"] == 1
    assert stats["bad_signatures"] == 1 and stats["bad_signature_kinds"] == {"stale": 1}
    assert stats["unparseable"] == 1
    kind, object_id, created_ms, arrived_ms, copies = sink.events["evt_1"]
    assert (kind, object_id, copies) == ("payment.succeeded", "pay_1", 2)
    assert created_ms == datetime(2026, 11, 26, 10, 0, 0, 250000, UTC).timestamp() * 1000
    assert arrived_ms > created_ms


@pytest.fixture
def process_group() -> Iterator[subprocess.Popen[bytes]]:
    """A leader in a session of its own that starts two busy children, as `serve -j 2` does."""
    script = (
        "import subprocess, sys, time\n"
        "busy = 'import time\\nprint(1, flush=True)\\nend = time.time() + 30\\n"
        "while time.time() < end: pass'\n"
        "kids = [subprocess.Popen([sys.executable, '-c', busy], stdout=subprocess.PIPE)"
        " for _ in range(2)]\n"
        "[kid.stdout.readline() for kid in kids]  # started: their peak RSS holds still\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield proc
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(5)


def test_group_measurements_sum_every_process(process_group: subprocess.Popen[bytes]) -> None:
    pids = group_pids(process_group.pid)
    assert len(pids) == 3 and pids[0] == process_group.pid
    memory = group_peak_rss(process_group.pid)
    assert memory is not None and memory.processes == 3
    marks = [peak_rss_mb(pid) or 0.0 for pid in pids]
    assert memory.total_mb == pytest.approx(sum(marks), abs=0.2)
    assert memory.largest_mb == max(marks)
    # The children's CPU, not just the sleeping leader's (polled: the machine may be busy).
    deadline = time.monotonic() + 20
    while True:
        total, leader = group_cpu_seconds(process_group.pid), cpu_seconds(process_group.pid)
        assert total is not None and leader is not None
        if total - leader >= 0.1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert total - leader >= 0.1, (total, leader)
    assert group_pids(2**22 + 12345) == [] and group_cpu_seconds(2**22 + 12345) is None


def test_webhook_report_splits_arrivals_by_run() -> None:
    runs = [
        {
            "mode": "closed",
            "concurrency": 1,
            "rate": None,
            "payment_ids": ["pay_a", "pay_b"],
            "ended_unix": 100.0,
        },
        {
            "mode": "open",
            "concurrency": 256,
            "rate": 5.0,
            "payment_ids": ["pay_c", "pay_d"],
            "ended_unix": 200.0,
            "drain_wait_s": 1.5,
        },
    ]
    arrivals = {
        "evt_a": ["payment.succeeded", "pay_a", 99_000.0, 99_500.0, 1],
        "evt_b": ["payment.succeeded", "pay_b", 99_900.0, 100_300.0, 2],
        "evt_c": ["payment.succeeded", "pay_c", 199_000.0, 199_100.0, 1],
    }
    db = {
        "lag_ms": None,
        "delivery_status": {"delivered": 3},
        "delivery_attempts": 4,
        "failed_attempts": 0,
        "delivered_twice": 1,
    }
    report = webhook_report(runs, arrivals, {"events": 3}, db)
    first, second = report["runs"]
    assert (first["delivered"], first["per_payment"], first["by_end_of_run"]) == (2, 1.0, 0.5)
    assert first["lag_ms"]["p50"] == 400.0 and first["lag_ms"]["max"] == 500.0
    assert first["last_after_end_s"] == 0.3 and first["duplicates"] == 1
    assert (second["delivered"], second["per_payment"], second["by_end_of_run"]) == (1, 0.5, 0.5)
    assert second["drain_wait_s"] == 1.5 and second["last_after_end_s"] == -0.9
