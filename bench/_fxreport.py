"""The FX benchmark's result (`python -m bench.quotes`) as a summary and as docs/benchmarks-fx.md.

The document is generated whole, except its "Reading the numbers" section, which is written by
hand and kept from the previous file at each re-render (`kept_section`).
"""

from __future__ import annotations

from typing import Any

from bench._report import BUSY_LOADAVG

__all__ = ["READING", "kept_section", "render_markdown", "render_summary"]

READING = "## Reading the numbers"
_PLACEHOLDER = "_To be written after a full run._"
BARE = "bare-json"


def _f(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ms(run: dict[str, Any], key: str, p: str) -> str:
    figures = run.get(key)
    return "–" if not figures else _f(figures[p])


def _bare_spread(result: dict[str, Any]) -> str:
    values = [b["quotes_per_s"] for b in result["bare"]]
    low, high = min(values), max(values)
    half_range = (high - low) / (high + low) * 100
    return f"{low:,.0f}–{high:,.0f}/s over {len(values)} rounds (±{half_range:.0f} %)"


def _rows(result: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for i, bare in enumerate(result["bare"]):
        rows.append(
            [
                f"`{BARE}` #{i + 1}",
                f"{bare['quotes_per_s']:,.0f}",
                _ms(bare, "latency_ms", "p50"),
                _ms(bare, "latency_ms", "p99"),
                _ms(bare, "own_ms", "p50"),
                _ms(bare, "own_ms", "p99"),
                _f(bare.get("server_cpu_ms_per_request"), 3),
                _f(bare.get("loadgen_cpu_ms_per_request"), 3),
                str(bare["response_bytes"]),
                "–",
            ]
        )
    for name, target in result["targets"].items():
        rows.append(
            [
                f"`{name}`",
                f"{target['quotes_per_s']:,.0f}",
                _ms(target, "latency_ms", "p50"),
                _ms(target, "latency_ms", "p99"),
                _ms(target, "own_ms", "p50"),
                _ms(target, "own_ms", "p99"),
                _f(target.get("server_cpu_ms_per_request"), 3),
                _f(target.get("loadgen_cpu_ms_per_request"), 3),
                str(target["response_bytes"]),
                f"**{target['ratio']:.2f}** (bare #{target['bare_rounds'][0] + 1}, "
                f"#{target['bare_rounds'][1] + 1})",
            ]
        )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def _refresh_lines(cost: dict[str, Any]) -> list[str]:
    cpu = cost["cpu"]
    ratios = cost["ratios"]
    lines = [
        f"CPU per refresh of {cost['currencies']} currencies ({cost['xml_bytes']:,} bytes of XML), "
        f"median of {cost['iterations']}: parse {_f(cpu['parse']['median_us'], 0)} µs "
        f"(RateSet alone {_f(cpu['rate_set']['median_us'], 0)} µs), largest_move "
        f"{_f(cpu['largest_move']['median_us'], 0)} µs, install "
        f"{_f(cpu['install']['median_us'], 0)} µs = {_f(cost['cpu_refresh_us'], 0)} µs; "
        f"parse = {ratios['parse_over_json_loads']:.1f} × json.loads of the same size "
        f"({_f(cpu['json_loads']['median_us'], 0)} µs), {ratios['parse_over_xml_parse']:.1f} × "
        f"ElementTree alone ({_f(cpu['xml_parse']['median_us'], 0)} µs)",
    ]
    for dialect, data in cost["databases"].items():
        steps = data["steps"]
        lines.append(
            f"{dialect}: claim {_f(steps['claim']['median_us'] / 1000)} ms + store "
            f"{_f(steps['store']['median_us'] / 1000)} ms "
            f"({data['ratios']['claim_store_over_plain_insert']:.1f} × a plain INSERT "
            f"commit, {_f(steps['plain_insert']['median_us'] / 1000)} ms); refresh "
            f"{_f(data['refresh_us'] / 1000)} ms = "
            f"{data['ratios']['refresh_over_plain_insert']:.1f} × a plain INSERT; reload "
            f"{_f(steps['reload']['median_us'] / 1000)} ms (median of {steps['store']['n']})"
        )
    return lines


def _refresher_bound(result: dict[str, Any], database: str) -> str | None:
    """What a refresh every second costs the process at most, from the measured refresh cost:
    the refresher polls at a tenth of the interval, and every poll tries the feed's lease
    (`claim_feed`, through the writer) and reloads the book; one poll in ten then refreshes.
    Wall times, commit waits included: an upper bound of its CPU."""
    cost = result.get("refresh_cost", {}).get("databases", {}).get(database)
    if not cost:
        return None
    steps = cost["steps"]
    us = cost["refresh_us"] + 9 * steps["claim"]["median_us"] + 10 * steps["reload"]["median_us"]
    ms = us / 1000
    return (
        f"≤ {ms:.0f} ms per second (a refresh, 9 more lease attempts, 10 reloads), "
        f"{ms / 10:.1f} % of one core"
    )


def render_summary(result: dict[str, Any]) -> str:
    config = result["config"]
    lines = [
        f"FX benchmark: c={config['concurrency']}, {config['requests']} quotes per run "
        f"({config['bare_requests']} per bare run; +{config['warmup']} warm-up), "
        f"{config['repeat']} run(s) per target (median run)",
        "",
    ]
    header = ["target", "/s", "p50", "p99", "own p50", "own p99", "CPU", "ldgen", "bytes", "÷ bare"]
    widths = [30, 7, 7, 7, 7, 7, 6, 6, 5, 24]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in _rows(result):
        cells = [c.replace("`", "").replace("**", "") for c in row]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    lines.append(f"bare-json spread: {_bare_spread(result)}")
    for database, effect in result.get("refresh_effect", {}).items():
        bound = _refresher_bound(result, database)
        lines.append(
            f"refresh every second, {database}: quotes/s ÷ without = {effect['ratio']:.2f}"
            + (f"; the refresher's own bound: {bound}" if bound else "")
        )
    if result.get("refresh_cost"):
        lines += _refresh_lines(result["refresh_cost"])
    for name, why in result.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)


def kept_section(previous: str | None) -> str:
    if not previous or READING not in previous:
        return _PLACEHOLDER
    body = previous.split(READING, 1)[1].split("\n## ", 1)[0].strip()
    return body or _PLACEHOLDER


def _setup(result: dict[str, Any]) -> list[str]:
    machine, config = result["machine"], result["config"]
    busy = []
    try:
        load = float(str(machine.get("loadavg_start", "0")).split()[0])
    except ValueError:
        load = 0.0
    if load >= BUSY_LOADAVG:
        busy = [
            f"- **The machine was not idle** (1-minute load average {load:.2f} at the start): "
            "compare figures within this run (the ratios), not across runs."
        ]
    return [
        "## Set-up",
        "",
        f"- **Machine**: {machine['nproc']} cores ({machine['cpu_model']}), {machine['mem_gb']} GB "
        f"RAM, Python {machine['python']}, {machine['kernel']}; PostgreSQL "
        f"{machine.get('postgresql') or 'not used'}. **Shared**: the load generator, the server "
        "under test, the rate feed, the sandbox and the database run on these same cores, beside "
        f"other people's work. Load average at start / end: {machine['loadavg_start']} / "
        f"{machine.get('loadavg_end', '?')}.",
        *busy,
        f"- **Load**: `python -m bench.load --kind quotes`, closed loop at concurrency "
        f"{config['concurrency']}, {config['requests']:,} measured requests per run "
        f"({config['bare_requests']:,} for `{BARE}`, which is much faster) after "
        f"{config['warmup']} of warm-up, {config['repeat']} run(s) per target (the table shows "
        "the run of median throughput; every run is in the JSON). Every request is "
        '`POST /v1/fx/quotes` `{"amount": {"currency": "THB", "value": …}, "wallet": '
        '"alipay_cn"}` with its own `Idempotency-Key` and POS bearer key.',
        f"- **`{BARE}`** (`bench/bare_json.py`): an aiohttp app that reads the body, `json.loads` "
        "it and answers `201` with a quote-shaped document of about the gateway's size "
        "(`json.dumps`): no auth, no validation, no idempotency, no rate book, no database. It "
        "runs before the first group of gateway targets and after each group; each target's "
        "ratio is against the mean of the two bare rounds around its group.",
        "- **Gateway targets**: `gateway serve` (production durations) on a fresh database "
        "(SQLite: WAL, `synchronous=FULL`; PostgreSQL: `synchronous_commit` on) with a TH/THB "
        'merchant and a POS key made by the CLI; its `[[fx.sources]]` "ecb" points at '
        "`bench/fxfeed.py`, the ECB layout with 40 currencies. Each quote writes its row and "
        "its completed Idempotency-Key in one unit of the group-commit writer (concurrent "
        'quotes share commits). `+refresh1s`: `fx.refresh_interval = "1s"` '
        "and a feed answering a new variant of the rates at every fetch, so the refresher "
        "fetches, checks, stores and installs a new 40-currency set every second (and reloads "
        "the book from the database every 100 ms, a tenth of the interval). The targets of one "
        "database run side by side and their runs alternate (A B, B A, A B…), so the machine's "
        "drift falls on both alike; the refresher's work goes on while the other target is "
        "measured too, so their ratio shows its effect on its own process's quotes; its cost to "
        "the machine is bounded by the refresh cost measured below.",
        "",
    ]


def render_markdown(result: dict[str, Any], previous: str | None = None) -> str:
    machine = result["machine"]
    lines = [
        "# FX benchmarks: quotes and rate refreshes",
        "",
        "Issue #14: quotes per second through `POST /v1/fx/quotes` beside a bare aiohttp JSON "
        "endpoint in the same run, and the cost of a refresh of 40 currencies. Generated by "
        f"`python -m bench.quotes` on {machine['date']}; the raw figures are in "
        "`bench/results/quotes-*.json` (not committed). The main benchmark (payments) is "
        "[benchmarks.md](benchmarks.md).",
        "",
        "```sh",
        ".venv/bin/python -m bench.quotes           # full run (a few minutes), rewrites this file",
        ".venv/bin/python -m bench.quotes --quick   # smoke run (< 30 s, SQLite), no docs",
        "```",
        "",
        *_setup(result),
        f"## Quotes per second (c={result['config']['concurrency']})",
        "",
        *_table(
            [
                "target",
                "quotes/s",
                "p50 ms",
                "p99 ms",
                "own p50",
                "own p99",
                "server CPU ms/req",
                "load gen. CPU ms/req",
                "answer bytes",
                "÷ bare (rounds)",
            ],
            _rows(result),
        ),
        "",
        f"`{BARE}` rounds: {_bare_spread(result)}: the machine's own noise during the run. "
        "\"own\" is the server's `Server-Timing` `gateway;dur=` (the bare app's own time, too).",
        "",
    ]
    effect = result.get("refresh_effect", {})
    if effect:
        lines += ["## Quotes while the refresher refreshes every second", ""]
        rows = []
        for database, figures in effect.items():
            fast = result["targets"][f"quotes-{database}+refresh1s"]
            plain = result["targets"][f"quotes-{database}"]
            rows.append(
                [
                    database,
                    f"**{figures['ratio']:.2f}**",
                    ", ".join(f"{v:,.0f}" for v in plain["quotes_per_s_all"])
                    + " / "
                    + ", ".join(f"{v:,.0f}" for v in fast["quotes_per_s_all"]),
                    _refresher_bound(result, database) or "–",
                    f"{fast['feed']['sets_served_during_runs']} "
                    f"({_f(fast['feed']['per_second'])}/s)",
                    str(fast["rate_sets_stored"]),
                ]
            )
        lines += _table(
            [
                "database",
                "quotes/s ÷ without",
                "every run's quotes/s: without / with",
                "the refresher's cost, at most",
                "new sets fetched during the runs",
                "sets stored",
            ],
            rows,
        )
        lines.append("")
    cost = result.get("refresh_cost")
    if cost:
        lines += [
            f"## The cost of a refresh of {cost['currencies']} currencies",
            "",
            "`python -m bench.fxrefresh` (its own process): the shipped ECB file's 31 rates and 9 "
            "more ISO 4217 currencies at synthetic rates, a new variant per iteration, the steps "
            "interleaved. A refresh = parse + largest_move + claim + store + install (medians "
            "summed; the HTTP fetch is not in it).",
            "",
        ]
        rows = [
            [f"`{name}`", _f(f["median_us"], 1), _f(f["p90_us"], 1), str(f["n"])]
            for name, f in cost["cpu"].items()
        ]
        for dialect, data in cost["databases"].items():
            rows += [
                [f"`{name}` ({dialect})", _f(f["median_us"], 1), _f(f["p90_us"], 1), str(f["n"])]
                for name, f in data["steps"].items()
            ]
        lines += _table(["step", "median µs", "p90 µs", "n"], rows)
        lines += ["", *[f"- {line}" for line in _refresh_lines(cost)], ""]
    integrity = result["integrity"]
    lines += [
        "## Integrity",
        "",
        'Every answer `201` with `"object": "fx_quote"` and a distinct id; per gateway '
        "target, as many quotes in the database as requests sent (warm-up included), their ids "
        "those answered, one completed Idempotency-Key each; with `+refresh1s`, new sets stored. "
        + (
            "**All held.**"
            if integrity["ok"]
            else "**Problems**: " + "; ".join(integrity["problems"])
        ),
        "",
    ]
    skipped = result.get("skipped", {})
    if skipped:
        lines += ["Not run: " + "; ".join(f"`{k}`: {v}" for k, v in skipped.items()), ""]
    lines += [READING, "", kept_section(previous), ""]
    return "\n".join(lines)
