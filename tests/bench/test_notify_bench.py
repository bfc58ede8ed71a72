"""`python -m bench.notify --quick` runs end to end and its integrity checks hold: every
notification acknowledged, every payment succeeded once, the verdicts counted, the ledger
verified (no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_notify_benchmark_run(tmp_path: Path) -> None:
    out = str(tmp_path / "results")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.notify", "--quick", "--payments", "40", "--out", out],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-5000:]}"
    assert "integrity: ok" in proc.stdout
    assert "notify-sqlite booked" in proc.stdout and "notify-sqlite replayed" in proc.stdout
