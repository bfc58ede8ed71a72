"""The notifications benchmark's summary (text) and `docs/benchmarks-notify.md` (generated whole,
except its "Reading the numbers" section, written by hand and kept at each re-render)."""

from __future__ import annotations

from typing import Any

from bench._fxreport import READING, kept_section
from bench._report import BUSY_LOADAVG

__all__ = ["BARE", "render_markdown", "render_summary"]

BARE = "baseline-aiohttp"
_HEADERS = (
    "target",
    "per s",
    "p50 ms",
    "p99 ms",
    "own p50",
    "own p99",
    "server CPU ms/req",
    "load gen. CPU ms/req",
    "÷ bare",
)
_LINES = (
    ("order_codes", "order codes shown"),
    ("booked", "notifications booked"),
    ("replayed", "notifications replayed"),
)


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | int) and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _p(figures: dict[str, Any] | None, key: str) -> Any:
    return None if not figures else figures.get(key)


def _row(name: str, line: dict[str, Any], ratio: str, cpu: str, ldgen: str) -> list[str]:
    return [
        name,
        f"{line['per_s']:,.0f}",
        _f(_p(line["latency_ms"], "p50")),
        _f(_p(line["latency_ms"], "p99")),
        _f(_p(line.get("own_ms"), "p50")),
        _f(_p(line.get("own_ms"), "p99")),
        _f(line.get(cpu), 3),
        _f(line.get(ldgen), 3),
        ratio,
    ]


def _rows(result: dict[str, Any]) -> list[list[str]]:
    """The bare rounds and the databases in the order they ran."""
    bare = result["bare"]
    rows: list[list[str]] = []

    def bare_row(i: int) -> list[str]:
        return _row(
            f"{BARE} #{i + 1} (payments)",
            bare[i],
            "–",
            "server_cpu_ms_per_request",
            "loadgen_cpu_ms_per_request",
        )

    if bare:
        rows.append(bare_row(0))
    for database, data in result["databases"].items():
        first, second = data["bare_rounds"]
        for key, words in _LINES:
            cpu, ldgen = (
                ("server_cpu_ms_per_request", "loadgen_cpu_ms_per_request")
                if key == "order_codes"
                else ("server_cpu_ms_per_note", "loadgen_cpu_ms_per_note")
            )
            ratio = f"**{data['ratios'][key]:.2f}** (#{first + 1}, #{second + 1})"
            rows.append(_row(f"notify-{database}: {words}", data[key], ratio, cpu, ldgen))
        rows.append(bare_row(second))
    return rows


def _spread(result: dict[str, Any]) -> str:
    rates = [b["per_s"] for b in result["bare"]]
    if len(rates) < 2:
        return f"{rates[0]:,.0f}/s (one round)" if rates else "none"
    low, high = min(rates), max(rates)
    mid = (low + high) / 2
    return f"{low:,.0f}–{high:,.0f}/s over {len(rates)} rounds (±{(high - low) / 2 / mid:.0%})"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def _calls(calls: dict[str, int]) -> str:
    """The gateway's partner calls by `operation outcome`; `unknown_maybe_sent` is how an
    inquiry answered "in process" (the sandbox's answer for a pending order) is counted."""
    return _counts({k.replace("unknown_maybe_sent", "in process"): v for k, v in calls.items()})


_DETAIL_HEADERS = (
    "database",
    "verdicts, booked round",
    "verdicts, replayed round",
    "gateway's partner calls, booked round",
    "… replayed round",
    "notifications built before the clock",
    "gateway peak RSS",
    "durability",
)


def _details(database: str, data: dict[str, Any]) -> list[str]:
    booked, replayed, build = data["booked"], data["replayed"], data["build"]
    return [
        database,
        _counts(booked["verdicts"]),
        _counts(replayed["verdicts"]),
        _calls(booked["partner_calls"]),
        _calls(replayed["partner_calls"]),
        f"{data['orders']:,} in {build['seconds']:.1f} s ({build['cpu_ms_per_note']:.2f} ms "
        "CPU each)",
        f"{_f(data['peak_rss_mb'], 1)} MiB",
        data["database"]["durability"],
    ]


def render_summary(result: dict[str, Any]) -> str:
    config = result["config"]
    rows = [list(_HEADERS), *_rows(result)]
    widths = [max(len(r[i].replace("**", "")) for r in rows) for i in range(len(_HEADERS))]
    lines = [
        f"Notifications benchmark: c={config['concurrency']}, {config['payments']:,} payments "
        f"per database (+{config['warmup']} warm-up), {config['bare_requests']:,} payments per "
        f"bare round; machine shared ({result['machine']['nproc']} CPUs, load "
        f"{result['machine']['loadavg_start']} at the start)",
        "",
    ]
    for row in rows:
        cells = [cell.replace("**", "") for cell in row]
        lines.append(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(cells)
            )
        )
    lines.append(f"{BARE} spread: {_spread(result)}")
    for database, data in result["databases"].items():
        cells = _details(database, data)
        lines.append(
            f"{database}: verdicts {cells[1]} (booked round), {cells[2]} (replayed round); "
            f"gateway's partner calls during them: {cells[3]}; {cells[4]}; "
            f"notifications built before the clock: {cells[5]}"
        )
    for name, why in result.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)


def _table(rows: list[list[str]], headers: tuple[str, ...] = _HEADERS) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def render_markdown(result: dict[str, Any], previous: str | None = None) -> str:
    machine, config = result["machine"], result["config"]
    try:
        load = float(str(machine.get("loadavg_start", "0")).split()[0])
    except ValueError:
        load = 0.0
    busy = (
        f" **It was not idle** (1-minute load average {load:.2f} at the start)."
        if load >= BUSY_LOADAVG
        else ""
    )
    total = config["payments"] + config["warmup"]
    lines = [
        "# Partner notifications (issue #15)",
        "",
        "Merchant-presented payments end with the partner's signed notification to "
        "`POST /partners/{partner_id}/notify`. This measures how many the gateway accepts per "
        "second, beside the bare proxy (`baseline-aiohttp`: payments through a bare aiohttp "
        "proxy to the sandbox, the main benchmark's denominator) in the same run. Generated by "
        f"`python -m bench.notify` on {machine['date']} (see `bench/README.md`); the raw "
        "figures are in `bench/results/notify-*.json` (not committed).",
        "",
        "```sh",
        ".venv/bin/python -m bench.notify           # full run (a few minutes), rewrites this file",
        ".venv/bin/python -m bench.notify --quick   # smoke run (SQLite), no docs",
        "```",
        "",
        "## Set-up",
        "",
        f"- **Machine**: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['mem_gb']} GB, Python {machine['python']}, {machine['kernel']}"
        + (f", PostgreSQL {machine['postgresql']}" if machine.get("postgresql") else "")
        + ". **The machine is shared** with other work: figures move between runs; compare "
        "within this run (the ratios), not across runs. Load average "
        f"{machine['loadavg_start']} at the start, {machine.get('loadavg_end', '?')} at the "
        f"end.{busy}",
        f"- **Per database**: a fresh database, a sandbox partner (th-siampay, Alipay+) and "
        f"`gateway serve` with production durations; {total:,} merchant-presented payments "
        f"made through the API (`payment_method: merchant_qr`, wallet `alipay_cn`, "
        f'c={config["concurrency"]}: the "order codes shown" line), each pending at the '
        "sandbox; then each one's `notifyPayment` of success, made and RSA-signed by the "
        "sandbox's own notifier code with the partner's key in the load generator's process "
        "(`python -m bench.notify_load`), sent closed loop at "
        f"c={config['concurrency']}, the first {config['warmup']} unmeasured: "
        '"booked" (each books its payment: verify, find, take the lease, journal entry and '
        'event, signed ack) then "replayed" (the same bytes again: verified, found final, '
        "acknowledged).",
        f"- **Ratios** (÷ bare): per s over the mean of the `{BARE}` rounds run just before "
        f"and after the database ({config['bare_requests']:,} payments each, same "
        'concurrency). "own" is the server\'s own time (`Server-Timing` `gateway;dur=`: its '
        "whole time less its partner call); CPU is the server's CPU ms per request (for the "
        "bare proxy, its own process without the sandbox's; for the notifications, the "
        "gateway's over the measured part, its resolver's inquiries meanwhile included) and "
        "the load generator's.",
        "",
        "## Notifications per second",
        "",
        *_table(_rows(result)),
        "",
        f"`{BARE}` rounds: {_spread(result)}: the machine's own noise during the run.",
        "",
    ]
    if result["databases"]:
        lines += [
            "Verdicts are `gateway_partner_notifications_total` over each round (warm-up "
            "included); the partner calls, `gateway_partner_call_seconds_count` over the same "
            "time: the resolver's inquiries of the payments still pending (the first 2 s after "
            'a code is shown, then every 2-10 s), which the sandbox answers "in process".',
            "",
            *_table(
                [_details(db, data) for db, data in result["databases"].items()], _DETAIL_HEADERS
            ),
        ]
    integrity = result["integrity"]
    lines += [
        "",
        "## Integrity",
        "",
        "Every order code shown; every notification answered 200 with `resultStatus` S in both "
        "rounds; `gateway_partner_notifications_total` counting only `booked`, one per payment, "
        "in the first round and only `already` in the second; every payment `succeeded` with "
        "exactly one `payment` journal entry and one `payment.succeeded` event; nothing charged "
        "or cancelled at the sandbox; `gateway ledger verify` passing. "
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
