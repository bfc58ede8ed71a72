"""The FX benchmark (`python -m bench.quotes`, issue #14) and its parts.

No performance thresholds: the figures are the benchmark's own output (docs/benchmarks-fx.md),
never a timed test. The parts' tests are fast and timing-free (the 40-currency document, its
variants and JSON twin, the bare endpoint's answer, the quotes plan of the load generator, the
refresh steps on a real SQLite file); the smoke run proves that one small run starts every
process, finds every answer good and every quote stored once, that the refresher refreshed in the
`+refresh1s` target, and that nothing it started is left behind.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import fx
from bench import bare_json, fxfeed, fxrefresh
from bench._fxreport import READING, render_markdown, render_summary
from bench.load import build_plan
from gateway.storage.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]


def test_the_document_has_40_currencies_and_parses() -> None:
    rates = fxfeed.rates()
    codes = [code for code, _ in rates]
    assert len(codes) == len(set(codes)) == fxfeed.CURRENCIES == 40
    for code in codes:
        if code != "HRK":  # published by the ECB in 2022; since withdrawn from List One
            fx.get_currency(code)
    rate_set = fx.parse_ecb_xml(fxfeed.document())
    assert set(rate_set.rates) == {*codes, "EUR"}
    assert rate_set.rates["THB"] == Decimal("36.602")  # the shipped file's, as written


def test_variants_are_new_sets_within_the_move_limit() -> None:
    sets = [fx.parse_ecb_xml(fxfeed.document(rates_=fxfeed.variant(i))) for i in range(50)]
    assert len({s.id for s in sets}) == 50
    for old, new in itertools.pairwise(sets):
        move = fx.largest_move(old, new)
        assert move is not None and Decimal(0) < move[1] < Decimal("0.0051")
    assert fxfeed.variant(7) == fxfeed.variant(7)  # deterministic


def test_json_twin_has_the_same_size_and_rates() -> None:
    xml = fxfeed.document()
    twin = fxrefresh.json_twin(xml)
    assert len(twin) == len(xml)
    rates = json.loads(twin)["cubes"][0]["rates"]
    assert [(r["currency"], r["rate"]) for r in rates] == list(fxfeed.rates())


def test_bare_answer_is_quote_shaped() -> None:
    body = {"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"}
    answer = bare_json.answer(body)
    assert answer["object"] == "fx_quote" and answer["id"].startswith("qt_")
    assert answer["amount"] == body["amount"] and answer["wallet"] == "alipay_cn"
    assert answer["payer_amount"] == {"currency": "CNY", "value": 23252}


def test_load_plan_for_quotes() -> None:
    plan = build_plan(key="k", tag="T", start=0, count=3, amount=1000, kind="quotes")
    bodies = [json.loads(b) for b in plan.bodies]
    assert bodies[0] == {"amount": {"currency": "THB", "value": 1000}, "wallet": "alipay_cn"}
    assert len({h["Idempotency-Key"] for h in plan.headers}) == 3
    assert all(h["Authorization"] == "Bearer k" for h in plan.headers)


def test_refresh_steps_on_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'refresh.db'}"
    upgrade(url)
    result = fxrefresh.run([url], iterations=5, store_iterations=3)
    assert result["currencies"] == 40 and result["xml_bytes"] == result["json_bytes"]
    assert set(result["cpu"]) == {
        "parse", "rate_set", "largest_move", "install", "json_loads", "xml_parse"
    }  # fmt: skip
    sqlite = result["databases"]["sqlite"]
    assert sqlite["rate_sets_stored"] == sqlite["plain_rows"] == 3
    assert {step["n"] for step in sqlite["steps"].values()} == {3}


@pytest.mark.slow
def test_quick_quotes_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    work = tmp_path / "work"  # the run's temp dir (configs, SQLite files, logs) goes here
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.quotes", "--quick", "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(work)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-5000:]}"
    files = sorted(out.glob("quotes-*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())
    config = result["config"]
    per_run = config["requests"] + config["warmup"]

    assert set(result["targets"]) == {"quotes-sqlite", "quotes-sqlite+refresh1s"}
    assert len(result["bare"]) == 2  # before and after the SQLite targets (run side by side)
    for bare in result["bare"]:
        assert bare["problems"] == [], bare
        assert (
            bare["good"]
            == bare["sent"]
            == config["repeat"] * (config["bare_requests"] + config["warmup"])
        )
    for name, target in result["targets"].items():
        check = target["integrity"]
        assert check["ok"] and check["problems"] == [], (name, check)
        sent = config["repeat"] * per_run
        assert check["sent"] == check["good"] == check["distinct_ids"] == sent, (name, check)
        assert check["db_quotes"] == check["db_keys"] == sent, (name, check)
        assert target["ratio"] > 0 and target["quotes_per_s"] > 0, name
        assert target["feed"]["currencies"] == 40, name
    assert result["targets"]["quotes-sqlite"]["rate_sets_stored"] == 1
    assert result["targets"]["quotes-sqlite+refresh1s"]["rate_sets_stored"] >= 2
    assert set(result["refresh_effect"]) == {"sqlite"}

    cost = result["refresh_cost"]
    sqlite = cost["databases"]["sqlite"]
    assert sqlite["rate_sets_stored"] == sqlite["plain_rows"] == config["store_iterations"]
    assert cost["cpu"]["parse"]["n"] == config["iterations"]
    assert result["integrity"] == {"problems": [], "ok": True}
    assert "integrity: ok" in proc.stdout

    # The docs render from the result, and keep their hand-written section.
    previous = f"# old\n\n{READING}\n\nWritten by hand.\n"
    markdown = render_markdown(result, previous)
    assert markdown.endswith(f"{READING}\n\nWritten by hand.\n")
    assert "quotes-sqlite+refresh1s" in markdown and "bare-json" in render_summary(result)

    # Nothing it started is left running, and its temp dir is gone.
    leftover = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
    assert list(work.iterdir()) == []
