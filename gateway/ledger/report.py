"""What `gateway ledger verify` reports: a finding per failed check, the counts it looked at,
and the few lines an operator reads (`LedgerReport.summary`).

Kept apart from the checks (`verify.py`) so that the report's wording is tested without a
database, and so the command line only needs this shape.
"""

from __future__ import annotations

import dataclasses

__all__ = ["EXAMPLES", "Collector", "Finding", "LedgerReport"]

EXAMPLES = 5
"""Offending ids reported per check."""


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One check that failed: how many records it caught, and the first few of them."""

    check: str
    description: str
    count: int
    examples: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class LedgerReport:
    """What `verify_ledger` looked at, and what it found wrong (`problems` empty when clean)."""

    entries: int
    lines: int
    accounts: int
    payments: int
    refunds: int
    problems: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """A few lines for an operator's terminal."""
        head = (
            f"checked {self.entries} journal entries ({self.lines} lines), "
            f"{self.accounts} accounts, {self.payments} payments, {self.refunds} refunds"
        )
        if self.ok:
            return f"{head}\nledger OK: no problems"
        out = [head, f"ledger has problems in {len(self.problems)} checks:"]
        for finding in self.problems:
            out.append(f"- {finding.check}: {finding.count} ({finding.description})")
            out.extend(f"    {example}" for example in finding.examples)
            if finding.count > len(finding.examples):
                out.append(f"    ... and {finding.count - len(finding.examples)} more")
        return "\n".join(out)


class Collector:
    """Counts offenders found in Python and keeps the first few."""

    def __init__(self, check: str, description: str) -> None:
        self.check, self.description = check, description
        self.count = 0
        self.examples: list[str] = []

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)

    def finding(self) -> Finding | None:
        if not self.count:
            return None
        return Finding(self.check, self.description, self.count, tuple(self.examples))
