"""The operator's summary of `gateway ledger verify`."""

from __future__ import annotations

from gateway.ledger.report import EXAMPLES, Finding, LedgerReport


def test_clean_summary() -> None:
    report = LedgerReport(entries=3, lines=17, accounts=7, payments=2, refunds=1, problems=())
    assert report.ok
    assert report.summary() == (
        "checked 3 journal entries (17 lines), 7 accounts, 2 payments, 1 refunds\n"
        "ledger OK: no problems"
    )


def test_problem_summary_lists_examples_and_the_rest() -> None:
    examples = tuple(f"pay_{n}" for n in range(EXAMPLES))
    finding = Finding("entry_counts", "records without their entries", 12, examples)
    report = LedgerReport(
        entries=0, lines=0, accounts=0, payments=12, refunds=0, problems=(finding,)
    )
    assert not report.ok
    text = report.summary().splitlines()
    assert text[1] == "ledger has problems in 1 checks:"
    assert text[2] == "- entry_counts: 12 (records without their entries)"
    assert text[3:-1] == [f"    {e}" for e in examples]
    assert text[-1] == f"    ... and {12 - EXAMPLES} more"
