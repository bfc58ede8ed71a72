"""The groups of issue #16's targets that every benchmark result judges (PASS, FAIL or SKIP):
a run that drops one has stopped judging it."""

from __future__ import annotations

TARGET_GROUPS = frozenset(
    {"latency", "cpu", "throughput", "round trips", "memory", "integrity", "webhooks"}
)
