"""Turning a benchmark result (the JSON document) into targets, a summary and docs/benchmarks.md.

Results written before webhooks and several processes were measured (no `kind`, `webhooks`,
`processes` or `peak_rss_largest_mb` in a target) render too: what they lack is left out.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BASELINE",
    "PLAIN",
    "WHERE_THE_TIME_GOES",
    "evaluate_targets",
    "gateway_targets",
    "render_markdown",
    "render_summary",
]

WHERE_THE_TIME_GOES = "## Where the time goes"
_PLACEHOLDER = "_To be filled in after profiling._"
BUSY_LOADAVG = 0.5

BASELINE = "baseline-aiohttp"
PLAIN = "baseline-plain-httpx"
WEBHOOKS_SUFFIX = "+webhooks"

RATIO_MIN = 0.5
RATIO_CONCURRENCY = 64
OWN_P99_MAX_MS = 10.0
OWN_P50_MAX_MS = 3.0
RSS_MAX_MB = 150.0


def gateway_targets(result: dict[str, Any]) -> list[str]:
    """The gateway targets of the result, in run order."""
    return [name for name in result["targets"] if name.startswith("gateway-")]


def _run(result: dict[str, Any], target: str, concurrency: int) -> dict[str, Any] | None:
    for run in result["targets"].get(target, {}).get("runs", []):
        if run["concurrency"] == concurrency:
            return dict(run)
    return None


def ratio(
    result: dict[str, Any], target: str, concurrency: int, to: str = BASELINE
) -> float | None:
    run, base = _run(result, target, concurrency), _run(result, to, concurrency)
    if run is None or base is None or not base["payments_per_s"]:
        return None
    return round(float(run["payments_per_s"]) / float(base["payments_per_s"]), 3)


def _ratio_concurrency(result: dict[str, Any]) -> int:
    levels: list[int] = result["config"]["concurrency"]
    return RATIO_CONCURRENCY if RATIO_CONCURRENCY in levels else max(levels)


def _largest_rss(data: dict[str, Any]) -> float | None:
    """The largest single process's peak RSS (the whole target's, for older results)."""
    value = data.get("peak_rss_largest_mb", data.get("peak_rss_mb"))
    return None if value is None else float(value)


def _short(target: str) -> str:
    return target.removeprefix("gateway-")


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for every gateway target, each with its value and PASS / FAIL (SKIP)."""
    out: list[dict[str, Any]] = []
    c = _ratio_concurrency(result)
    note = "" if c == RATIO_CONCURRENCY else f" (c={RATIO_CONCURRENCY} not run: c={c})"

    def add(name: str, value: str, ok: bool | None) -> None:
        out.append(
            {"target": name, "value": value, "status": "SKIP" if ok is None else _verdict(ok)}
        )

    for gateway in gateway_targets(result):
        data = result["targets"][gateway]
        db = _short(gateway)
        r = ratio(result, gateway, c)
        add(
            f"{db}: throughput ÷ bare proxy at c={c} ≥ {RATIO_MIN}{note}",
            "n/a" if r is None else f"{r:.2f}",
            None if r is None else r >= RATIO_MIN,
        )
        half = data.get("half_peak")
        own = half["own_ms"] if half else None
        # The same figure one request at a time: the floor that no queueing adds to.
        alone = (_run(result, gateway, 1) or {}).get("own_ms")
        if own:
            add(
                f"{db}: gateway's own p99 ≤ {OWN_P99_MAX_MS:g} ms at half peak "
                f"({half['rate']:.0f}/s)",
                f"{own['p99']:.2f} ms{_at_c1(alone, 'p99')}",
                own["p99"] <= OWN_P99_MAX_MS,
            )
            add(
                f"{db}: gateway's own p50 ≤ {OWN_P50_MAX_MS:g} ms at half peak",
                f"{own['p50']:.2f} ms{_at_c1(alone, 'p50')}",
                own["p50"] <= OWN_P50_MAX_MS,
            )
        else:
            add(f"{db}: gateway's own latency at half peak", "not measured", None)
        rss = _largest_rss(data)
        several = (data.get("processes") or 1) > 1
        add(
            f"{db}: peak RSS of "
            + ("each gateway process" if several else "the gateway process")
            + f" ≤ {RSS_MAX_MB:g} MB",
            "n/a"
            if rss is None
            else f"{rss:.0f} MB"
            + (f" (all processes: {data['peak_rss_mb']:.0f} MB)" if several else ""),
            None if rss is None else rss <= RSS_MAX_MB,
        )
    for gateway, reason in result.get("skipped", {}).items():
        if gateway.startswith("gateway-"):
            add(f"{_short(gateway)}: throughput ÷ bare proxy at c={c} ≥ {RATIO_MIN}", reason, None)
    integrity = result["integrity"]
    add(
        "no failed or duplicated payment in any run; journal, events, `ledger verify` and "
        "webhook deliveries consistent",
        f"failed: {integrity['failed']}, duplicated: {integrity['duplicated']}"
        + (f", other problems: {len(integrity['problems'])}" if integrity["problems"] else ""),
        integrity["ok"],
    )
    return out


def _at_c1(own: dict[str, float] | None, quantile: str) -> str:
    return f" (c=1: {own[quantile]:.2f} ms)" if own else ""


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _ms(stats: dict[str, float] | None, key: str) -> str:
    return "–" if not stats else f"{stats[key]:.2f}"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _cpu(run: dict[str, Any], key: str) -> str:
    value = run.get("cpu_ms_per_payment", {}).get(key)
    return _fmt(value, ".2f")


def _label(run: dict[str, Any]) -> str:
    if run["mode"] != "open":
        return f"c={run['concurrency']}"
    return f"{run['fraction']:.0%} of peak" if run.get("fraction") else "½ peak"


def _open_runs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A gateway's open-loop runs by rate: the half peak and the rest of the load curve."""
    runs = [*([data["half_peak"]] if data.get("half_peak") else []), *data.get("curve", [])]
    return sorted(runs, key=lambda run: run["rate"])


def render_summary(result: dict[str, Any]) -> str:
    """A compact fixed-width table for stdout."""
    width = max([22, *(len(t) + 1 for t in result["targets"])])
    head = (
        f"{'target':<{width}}{'c':>4}{'pay/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'own50':>8}{'own99':>8}{'ratio':>7}{'cpu ms':>8}{'rss MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for target, data in result["targets"].items():
        for run in [*data["runs"], *_open_runs(data)]:
            c = str(run["concurrency"])
            if run["mode"] == "open":
                c = f"{run['fraction']:.0%}" if run.get("fraction") else "½pk"
            r = ratio(result, target, run["concurrency"]) if run["mode"] == "closed" else None
            lines.append(
                f"{target:<{width}}{c:>4}{run['payments_per_s']:>9.0f}"
                f"{_ms(run['latency_ms'], 'p50'):>8}{_ms(run['latency_ms'], 'p95'):>8}"
                f"{_ms(run['latency_ms'], 'p99'):>8}"
                f"{_ms(run['own_ms'], 'p50'):>8}{_ms(run['own_ms'], 'p99'):>8}"
                f"{_fmt(r):>7}{_cpu(run, 'server'):>8}{_fmt(run.get('peak_rss_mb'), '.0f'):>8}"
            )
    lines.append("")
    lines.append("latency in ms (client; own = the server's own time from Server-Timing);")
    lines.append("ratio = payments/s ÷ baseline-aiohttp at the same c; cpu ms = server CPU/payment")
    for target, data in result["targets"].items():
        report = data.get("webhooks_report")
        if not report:
            continue
        for run in report["runs"]:
            lines.append(
                f"webhooks {target} {_label(run)}: {run['delivered']}/{run['payments']} "
                f"delivered, lag p50 {_ms(run['lag_ms'], 'p50')} p99 {_ms(run['lag_ms'], 'p99')} "
                f"ms, {_fmt(run['by_end_of_run'], '.0%')} by the run's end"
            )
        sink = report["sink"]
        lines.append(
            f"webhooks {target}: duplicates {sink['duplicates']}, bad signatures "
            f"{sink['bad_signatures']}, failed attempts {report['failed_attempts']}"
        )
    for target in evaluate_targets(result):
        lines.append(f"[{target['status']}] {target['target']}: {target['value']}")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def kept_section(previous: str | None) -> str:
    """The body of "Where the time goes" in the previous docs (written by hand), if any."""
    if not previous or WHERE_THE_TIME_GOES not in previous:
        return _PLACEHOLDER
    body = previous.split(WHERE_THE_TIME_GOES, 1)[1]
    body = body.split("\n## ", 1)[0].strip()
    return body or _PLACEHOLDER


def _busy_note(machine: dict[str, Any]) -> list[str]:
    try:
        load = float(str(machine.get("loadavg_start", "0")).split()[0])
    except ValueError:
        return []
    if load < BUSY_LOADAVG:
        return []
    return [
        f"- **The machine was not idle**: the 1-minute load average was {load:.2f} when the "
        "run started (other work on the shared cores), so every figure is lower than on an "
        "idle machine; compare targets within one run, not across runs.",
    ]


def _setup(result: dict[str, Any]) -> list[str]:
    machine = result["machine"]
    config = result["config"]
    return [
        "## Set-up",
        "",
        f"- **Machine**: {machine['nproc']} cores ({machine['cpu_model']}), "
        f"{machine['mem_gb']} GB RAM, Python {machine['python']}, {machine['kernel']}; "
        f"PostgreSQL {machine.get('postgresql') or 'not used'}.",
        "- **The load generator, the sandbox partner, the server under test, the webhook sink "
        f"and the database all share this machine's {machine['nproc']} cores**: every figure "
        "below includes the cost of the others (the load generator alone uses a large share "
        "of a core at high throughput). Load average at start / end: "
        f"{machine['loadavg_start']} / {machine['loadavg_end']}.",
        *_busy_note(machine),
        "- **Processes** (each its own OS process): the sandbox partner "
        "(`gateway sandbox`, Alipay+ protocol, RSA-signed answers, an in-memory ledger; a fresh "
        "one per target); the server under test; the load generator (`python -m bench.load`: "
        "aiohttp client, one connection per worker, fresh `Idempotency-Key`, "
        "`merchant_reference` and wallet code per request, approve code `28…0000`, "
        "THB → CNY); for the `+webhooks` targets, the webhook sink (`python -m bench.sink`).",
        "- **Targets**: `baseline-aiohttp` is the physical limit: a bare aiohttp proxy "
        "(`bench/baseline.py`) that parses the body and calls the real `AlipayPlusAdapter.pay` "
        "(signing, verifying) over the gateway's client stack (httpx over the httpx-aiohttp "
        "transport), with no database and no validation. `baseline-plain-httpx` is the same "
        "with a plain `httpx.AsyncClient()`. `gateway-sqlite` and `gateway-postgresql` are "
        "`gateway serve` with production durations (no test profile), a fresh database each, "
        "a TH/THB merchant and a POS key made with the CLI. Every payment writes its journal "
        "entry (7 lines) and its `payment.succeeded` outbox row in the commit of its final "
        "state; without a webhook URL the worker marks those events `no_endpoint`. "
        "`…+webhooks` is the same with the merchant's webhook URL (`gateway merchants webhook "
        "set`) pointing at the sink, an aiohttp server that checks every `Gateway-Signature` "
        "(written from API.md, not the gateway's code) with the secret the CLI printed, "
        "answers `200`, and records each event's arrival; after each run the orchestrator "
        "waits until the sink has every event of it (so no run's deliveries spill into the "
        "next). `gateway-postgresql-2proc` is `gateway serve --processes 2` (two processes on "
        "one port with SO_REUSEPORT, one database).",
        "- **Durability as in production**: SQLite in WAL mode with `synchronous=FULL` "
        f"(journal mode checked after the run: {result.get('durability', {}).get('sqlite', '–')}"
        "); PostgreSQL with `synchronous_commit` on (read back after the run: "
        f"{result.get('durability', {}).get('postgresql', '–')}).",
        f"- **Load**: closed loop at concurrency {', '.join(map(str, config['concurrency']))}, "
        f"{config['requests']} measured requests each after a warm-up of {config['warmup']}; "
        "then, for each gateway, an open-loop run at a fixed arrival rate of half its peak "
        f"throughput (the best of the closed-loop runs; {config['half_peak_requests']} requests "
        f"or {config.get('half_peak_max_seconds', 15):g} s of them, whichever is fewer). "
        "Latency is measured by the "
        "client (`perf_counter`, from when the request was due); the gateway's own time is "
        "the `gateway;dur=` of its `Server-Timing` header (partner time excluded).",
        "- **Peak RSS** is `VmHWM` of the server's processes (its process group: all "
        "`--processes` workers and their parent), summed, read after each run (a high-water "
        "mark: it covers that run and the ones before it, on the same processes). **CPU "
        "ms/payment** is the user + system CPU time of the server's process group over the "
        "run ÷ payments (warm-up included).",
        "",
    ]


def _concurrency_tables(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for c in result["config"]["concurrency"]:
        lines += [f"## Concurrency {c}", ""]
        rows: list[list[str]] = []
        for target in result["targets"]:
            run = _run(result, target, c)
            if run is None:
                continue
            r = ratio(result, target, c)
            rows.append(
                [
                    f"`{target}`",
                    f"{run['payments_per_s']:.0f}",
                    _ms(run["latency_ms"], "p50"),
                    _ms(run["latency_ms"], "p95"),
                    _ms(run["latency_ms"], "p99"),
                    _ms(run["own_ms"], "p50"),
                    _ms(run["own_ms"], "p95"),
                    _ms(run["own_ms"], "p99"),
                    _cpu(run, "server"),
                    _cpu(run, "sandbox"),
                    _fmt(run.get("peak_rss_mb"), ".0f"),
                    "–" if r is None or target == BASELINE else f"**{r:.2f}**",
                ]
            )
        lines += _table(
            [
                "target",
                "payments/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "own p50",
                "own p95",
                "own p99",
                "CPU ms/pay (server)",
                "CPU ms/pay (sandbox)",
                "peak RSS MB",
                "÷ baseline",
            ],
            rows,
        )
        lines.append("")
    lines += [
        'For the baselines, "own" is the proxy\'s own time (its total minus the partner call). '
        "For `+webhooks`, the server's CPU covers the deliveries made during the run (the "
        "webhooks section has it with every delivery of the run's events).",
        "",
    ]
    return lines


def _curve_table(result: dict[str, Any]) -> list[str]:
    rows = []
    for target in gateway_targets(result):
        data = result["targets"][target]
        half = data.get("half_peak")
        if not data.get("curve") or not half:
            continue
        for run in _open_runs(data):
            fraction = run.get("fraction") or 0.5
            rows.append(
                [
                    f"`{target}`",
                    f"{fraction:.0%}",
                    f"{run['rate']:.0f}",
                    f"{run['achieved_rate']:.0f}",
                    _ms(run["own_ms"], "p50"),
                    _ms(run["own_ms"], "p95"),
                    _ms(run["own_ms"], "p99"),
                    _ms(run["latency_ms"], "p99"),
                    _cpu(run, "server"),
                    "yes"
                    if (run["own_ms"] or {}).get("p50", 1e9) <= OWN_P50_MAX_MS
                    and (run["own_ms"] or {}).get("p99", 1e9) <= OWN_P99_MAX_MS
                    else "no",
                ]
            )
    if not rows:
        return []
    return [
        "## Own latency against load (open loop)",
        "",
        "The same open-loop runs at other fractions of each gateway's peak, to show where its "
        "own latency leaves the targets (p50 ≤ "
        f"{OWN_P50_MAX_MS:g} ms, p99 ≤ {OWN_P99_MAX_MS:g} ms).",
        "",
        *_table(
            [
                "target",
                "of peak",
                "offered /s",
                "achieved /s",
                "own p50",
                "own p95",
                "own p99",
                "p99 ms",
                "CPU ms/pay (server)",
                "within targets",
            ],
            rows,
        ),
        "",
    ]


def _half_peak_table(result: dict[str, Any]) -> list[str]:
    rows = []
    for target in gateway_targets(result):
        half = result["targets"][target].get("half_peak")
        if not half:
            continue
        rows.append(
            [
                f"`{target}`",
                f"{half['peak_payments_per_s']:.0f}",
                f"{half['rate']:.0f}",
                f"{half['achieved_rate']:.0f}",
                str(half["requests"]),
                _ms(half["latency_ms"], "p50"),
                _ms(half["latency_ms"], "p99"),
                _ms(half["own_ms"], "p50"),
                _ms(half["own_ms"], "p95"),
                _ms(half["own_ms"], "p99"),
            ]
        )
    return [
        "## Gateway at half of its peak throughput (open loop)",
        "",
        *_table(
            [
                "target",
                "peak payments/s",
                "offered /s",
                "achieved /s",
                "requests",
                "p50 ms",
                "p99 ms",
                "own p50",
                "own p95",
                "own p99",
            ],
            rows,
        ),
        "",
    ]


def _webhooks_section(result: dict[str, Any]) -> list[str]:
    targets = [t for t in gateway_targets(result) if result["targets"][t].get("webhooks_report")]
    if not targets:
        return []
    lines = [
        "## Webhooks on",
        "",
        "Each `payment.succeeded` event as the sink saw it. **Lag** is from the event's "
        "`created_at` (the gateway's clock when it wrote the event, in the payment's commit) "
        "to its arrival at the sink; **by the run's end**: the share of the run's payments "
        "whose event had arrived when the run's last answer came; **last after end**: how long "
        "after that the run's last event arrived. **Server CPU incl. delivery** is the "
        "gateway's CPU from the start of the run until the sink had every event of it, per "
        "payment; beside it, the same target without webhooks during its run.",
        "",
    ]
    rows: list[list[str]] = []
    for target in targets:
        data = result["targets"][target]
        plain = target.removesuffix(WEBHOOKS_SUFFIX)
        plain_runs = {
            (r["mode"], r["concurrency"]): r
            for r in [
                *result["targets"].get(plain, {}).get("runs", []),
                *(
                    [result["targets"][plain]["half_peak"]]
                    if result["targets"].get(plain, {}).get("half_peak")
                    else []
                ),
            ]
        }
        for run in data["webhooks_report"]["runs"]:
            other = plain_runs.get((run["mode"], run["concurrency"]))
            with_ratio = (
                ratio(result, target, run["concurrency"], to=plain)
                if run["mode"] == "closed"
                else None
            )
            rows.append(
                [
                    f"`{target}`",
                    _label(run),
                    "–" if with_ratio is None else f"{with_ratio:.2f}",
                    str(run["payments"]),
                    _fmt(run["per_payment"], ".2f"),
                    _fmt(run["by_end_of_run"], ".0%"),
                    _ms(run["lag_ms"], "p50"),
                    _ms(run["lag_ms"], "p95"),
                    _ms(run["lag_ms"], "p99"),
                    _fmt(run["last_after_end_s"], ".2f"),
                    _cpu(run, "server_incl_delivery"),
                    "–" if other is None else _cpu(other, "server"),
                    _cpu(run, "sink"),
                ]
            )
    lines += _table(
        [
            "target",
            "run",
            "pay/s ÷ without webhooks",
            "payments",
            "events delivered / payment",
            "by the run's end",
            "lag p50 ms",
            "lag p95 ms",
            "lag p99 ms",
            "last after end s",
            "server CPU ms/pay incl. delivery",
            "same, without webhooks",
            "sink CPU ms/event",
        ],
        rows,
    )
    lines.append("")
    rows = []
    for target in targets:
        report = result["targets"][target]["webhooks_report"]
        sink = report["sink"]
        rows.append(
            [
                f"`{target}`",
                str(sink["posts"]),
                str(sink["events"]),
                str(sink["duplicates"]),
                str(sink["bad_signatures"]),
                str(report["delivery_attempts"]),
                str(report["failed_attempts"]),
                str(report["delivered_twice"]),
                ", ".join(f"{k} {n}" for k, n in sorted(report["delivery_status"].items())),
                _ms(report["lag_ms_db"], "p50"),
                _ms(report["lag_ms_db"], "p99"),
            ]
        )
    lines += _table(
        [
            "target",
            "POSTs at the sink",
            "distinct events",
            "duplicates",
            "bad signatures",
            "attempts (DB)",
            "failed attempts",
            "delivered twice (DB)",
            "events by delivery status",
            "lag p50 ms (DB)",
            "lag p99 ms (DB)",
        ],
        rows,
    )
    lines += [
        "",
        "The DB's lag is `delivered_at − created_at` of the `events` rows (the gateway's clock, "
        "after the POST returned and before its outcome was committed).",
        "",
    ]
    return lines


def _processes_section(result: dict[str, Any]) -> list[str]:
    several = [
        t for t in gateway_targets(result) if (result["targets"][t].get("processes") or 1) > 1
    ]
    if not several:
        return []
    lines = ["## Several gateway processes", ""]
    rows: list[list[str]] = []
    for target in several:
        data = result["targets"][target]
        single = f"gateway-{data['database']}"
        one = result["targets"].get(single)
        for c in result["config"]["concurrency"]:
            run, base = _run(result, target, c), _run(result, single, c)
            if run is None:
                continue
            r = ratio(result, target, c, to=single)
            rows.append(
                [
                    f"`{target}`",
                    f"c={c}",
                    "–" if base is None else f"{base['payments_per_s']:.0f}",
                    f"{run['payments_per_s']:.0f}",
                    "–" if r is None else f"**{r:.2f}**",
                    "–" if base is None else _ms(base["own_ms"], "p99"),
                    _ms(run["own_ms"], "p99"),
                    "–" if base is None else _cpu(base, "server"),
                    _cpu(run, "server"),
                ]
            )
        half, one_half = data.get("half_peak"), (one or {}).get("half_peak")
        if half:
            rows.append(
                [
                    f"`{target}`",
                    "½ peak",
                    "–" if not one_half else f"{one_half['achieved_rate']:.0f}",
                    f"{half['achieved_rate']:.0f}",
                    "–",
                    "–" if not one_half else _ms(one_half["own_ms"], "p99"),
                    _ms(half["own_ms"], "p99"),
                    "–" if not one_half else _cpu(one_half, "server"),
                    _cpu(half, "server"),
                ]
            )
        lines += _table(
            [
                "target",
                "run",
                "1 process pay/s",
                f"{data['processes']} processes pay/s",
                "ratio",
                "1 process own p99",
                f"{data['processes']} processes own p99",
                "1 process CPU ms/pay",
                f"{data['processes']} processes CPU ms/pay",
            ],
            rows,
        )
        lines += [
            "",
            f"`{target}`: {data.get('os_processes', '?')} OS processes in its group (the "
            f"`serve` parent, {data['processes']} workers, multiprocessing's resource tracker); "
            f"peak RSS {_fmt(data.get('peak_rss_mb'), '.0f')} MB summed, "
            f"{_fmt(data.get('peak_rss_largest_mb'), '.0f')} MB the largest process "
            f"(`{single}`: {_fmt((one or {}).get('peak_rss_mb'), '.0f')} MB).",
            "",
        ]
        rows = []
    return lines


def _client_section(result: dict[str, Any]) -> list[str]:
    rows = []
    for c in result["config"]["concurrency"]:
        a, p = _run(result, BASELINE, c), _run(result, PLAIN, c)
        if a is None or p is None:
            continue
        rows.append(
            [
                str(c),
                f"{a['payments_per_s']:.0f}",
                f"{p['payments_per_s']:.0f}",
                _fmt(p["payments_per_s"] / a["payments_per_s"] if a["payments_per_s"] else None),
                _ms(a["latency_ms"], "p99"),
                _ms(p["latency_ms"], "p99"),
                _cpu(a, "server"),
                _cpu(p, "server"),
            ]
        )
    return [
        "## Partner client: plain httpx vs httpx over the aiohttp transport",
        "",
        *_table(
            [
                "c",
                "aiohttp transport pay/s",
                "plain httpx pay/s",
                "plain ÷ aiohttp",
                "aiohttp p99 ms",
                "plain p99 ms",
                "aiohttp CPU ms/pay",
                "plain CPU ms/pay",
            ],
            rows,
        ),
        "",
    ]


def _integrity_section(result: dict[str, Any]) -> list[str]:
    rows = []
    for target, data in result["targets"].items():
        check = data["integrity"]
        verify = check.get("ledger_verify")
        rows.append(
            [
                f"`{target}`",
                str(check["sent"]),
                str(check["succeeded"]),
                str(check["failed"]),
                str(check["duplicated"]),
                _fmt(check.get("db_payments"), "d"),
                str(check["ledger_charges"]),
                _fmt(check.get("succeeded_with_one_entry"), "d"),
                _fmt(check.get("succeeded_with_one_event"), "d"),
                "–" if verify is None else ("ok" if verify["ok"] else "**FAILED**"),
                _fmt(check.get("sink_events"), "d"),
                "; ".join(check["problems"]) or "ok",
            ]
        )
    return [
        "## Integrity",
        "",
        *_table(
            [
                "target",
                "sent",
                "succeeded",
                "failed",
                "duplicated",
                "payments in DB",
                "sandbox charges",
                "with one journal entry",
                "with one `payment.succeeded`",
                "`ledger verify`",
                "events at the sink",
                "problems",
            ],
            rows,
        ),
        "",
        "Checked per target: every answer `201` `succeeded`; payment ids unique; payments in the "
        "database = requests sent (warm-up included); the sandbox's ledger has exactly one charge "
        "per `paymentRequestId`, no reversal, as many charges as successful payments, and (for "
        "the gateway) only for request ids of the database's attempts. For the gateway, too: "
        "every succeeded payment has exactly one journal entry (kind `payment`) and exactly one "
        "`payment.succeeded` event, and there are no others; `gateway --config-dir TMP ledger "
        "verify` (the operator's command, on the target's database after the run) passes. With "
        "webhooks: the sink received every event exactly once, every signature verified, no "
        "attempt failed, and the database records each event `delivered` once.",
        "",
    ]


def render_markdown(result: dict[str, Any], previous: str | None = None) -> str:
    """docs/benchmarks.md; `previous` (the current file) keeps its "Where the time goes"."""
    machine = result["machine"]
    lines: list[str] = [
        "# Benchmarks",
        "",
        "How close the gateway runs to the limit of its own HTTP path: one inbound HTTP request,",
        "one outbound partner call, durable records. Generated by `python -m bench` "
        f"on {machine['date']}; the raw figures are in `bench/results/` (not committed).",
        "",
        "```sh",
        ".venv/bin/python -m bench            # full run, rewrites this file (several minutes)",
        ".venv/bin/python -m bench --quick    # smoke run (< 1 min), no docs rewrite; CI runs it",
        "```",
        "",
        "Options: `--concurrency 1,16,64`, `--requests N`, `--databases sqlite,postgresql`, "
        "`--targets NAME,...`, `--out bench/results`, `--no-docs`, `--profile-gateway DIR`.",
        "",
        *_setup(result),
        *_concurrency_tables(result),
        *_half_peak_table(result),
        *_curve_table(result),
        *_webhooks_section(result),
        *_processes_section(result),
        *_client_section(result),
        "## Targets",
        "",
    ]
    lines += _table(
        ["target", "measured", ""],
        [[t["target"], t["value"], f"**{t['status']}**"] for t in evaluate_targets(result)],
    )
    ratio_c = _ratio_concurrency(result)
    if ratio_c != RATIO_CONCURRENCY:
        lines += ["", f"(c={RATIO_CONCURRENCY} was not part of this run; c={ratio_c} is used.)"]
    lines.append("")
    lines += _integrity_section(result)
    skipped = result.get("skipped", {})
    if skipped:
        lines += ["Not run: " + "; ".join(f"`{k}`: {v}" for k, v in skipped.items()), ""]
    lines += [WHERE_THE_TIME_GOES, "", kept_section(previous), ""]
    return "\n".join(lines)
