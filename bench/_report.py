"""Turning a benchmark result (the JSON document) into targets, a summary and docs/benchmarks.md.

Results written before webhooks and several processes were measured (no `kind`, `webhooks`,
`processes` or `peak_rss_largest_mb` in a target) render too: what they lack is left out.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BASELINE",
    "LATENCY_TARGETS",
    "PLAIN",
    "ROUND_TRIP_TARGET",
    "WHERE_THE_TIME_GOES",
    "evaluate_targets",
    "gateway_targets",
    "proxy_open_plan",
    "render_markdown",
    "render_summary",
]

WHERE_THE_TIME_GOES = "## Where the time goes"
_PLACEHOLDER = "_To be filled in after profiling._"
BUSY_LOADAVG = 0.5

BASELINE = "baseline-aiohttp"
PLAIN = "baseline-plain-httpx"
WEBHOOKS_SUFFIX = "+webhooks"

# The targets (issue #16): ratios against the bare proxy (BASELINE) of the same run.
LATENCY_TARGETS = ("gateway-sqlite", "gateway-postgresql")
"""Whose latency is judged; the bare proxy also runs open loop at their offered rates."""
CAPACITY_TARGETS = ("gateway-sqlite", "gateway-postgresql", "gateway-postgresql-2proc")
"""Whose CPU per payment and throughput are judged."""
WEBHOOK_TARGETS = ("gateway-sqlite+webhooks", "gateway-postgresql+webhooks")
ROUND_TRIP_TARGET = "gateway-postgresql"
P50_C1_MAX = 1.3  # client p50 at c=1 ÷ the proxy's
P99_OPEN_MAX = 2.0  # client p99 at a fraction of the gateway's peak ÷ the proxy's at that rate
OPEN_FRACTIONS = (0.25, 0.5)
CPU_MAX = {64: 1.3, 1: 1.6}  # server CPU per payment ÷ the proxy's, by concurrency
THROUGHPUT_MIN = {64: 0.8, 1: 0.7}  # payments/s ÷ the proxy's, by concurrency
ROUND_TRIPS_MAX = 3.0  # PostgreSQL round trips per payment (the writer's), counted
RSS_MAX_MB = 150.0
WEBHOOKS_BY_END_MIN = 0.95  # share of a c=64 run's events delivered by the run's end
WEBHOOKS_CONCURRENCY = 64
SAME_RATE = 0.01  # two offered rates within 1 % are the same


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


def _largest_rss(data: dict[str, Any]) -> float | None:
    """The largest single process's peak RSS (the whole target's, for older results)."""
    value = data.get("peak_rss_largest_mb", data.get("peak_rss_mb"))
    return None if value is None else float(value)


def _short(target: str) -> str:
    return target.removeprefix("gateway-")


def _fraction(run: dict[str, Any]) -> float:
    """The share of the gateway's peak an open-loop run was offered (the half peak's: ½)."""
    return float(run.get("fraction") or 0.5)


def _same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= SAME_RATE * max(a, b)


def _open_at(data: dict[str, Any], fraction: float) -> dict[str, Any] | None:
    """A gateway's open-loop run at `fraction` of its peak, if it was run."""
    for run in _open_runs(data):
        if abs(_fraction(run) - fraction) < 1e-9:
            return run
    return None


def proxy_open_plan(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The bare proxy's open-loop runs to make: one per rate that a `LATENCY_TARGETS` gateway
    was offered at `OPEN_FRACTIONS` of its peak, rates within 1 % sharing one run (the larger
    number of requests): [{"rate", "requests", "for": ["gateway-sqlite 25%", ...]}]."""
    wanted: list[tuple[float, int, str]] = []
    for target in LATENCY_TARGETS:
        data = result["targets"].get(target)
        for fraction in OPEN_FRACTIONS:
            run = _open_at(data, fraction) if data else None
            if run is not None:
                wanted.append(
                    (float(run["rate"]), int(run["requests"]), f"{target} {fraction:.0%}")
                )
    plan: list[dict[str, Any]] = []
    for rate, requests, label in sorted(wanted):
        if plan and _same_rate(plan[-1]["rate"], rate):
            plan[-1]["requests"] = max(plan[-1]["requests"], requests)
            plan[-1]["for"].append(label)
        else:
            plan.append({"rate": rate, "requests": requests, "for": [label]})
    return plan


def _proxy_open(result: dict[str, Any], rate: float) -> dict[str, Any] | None:
    """The bare proxy's open-loop run at `rate` (within 1 %), if it was run."""
    for run in result["targets"].get(BASELINE, {}).get("open_runs", []):
        if _same_rate(float(run["rate"]), rate):
            return dict(run)
    return None


def _absent(result: dict[str, Any], target: str) -> str | None:
    """Why `target` has no data in this run (None: it has)."""
    if target in result["targets"]:
        return None
    skipped = result.get("skipped", {})
    if target in skipped:
        return f"not run: {skipped[target]}"
    return "not run (not among --targets)"


def _factor(r: float, limit: float) -> str:
    """`r` to 2 decimals, or 3 where 2 would read as the limit itself (1.304 is not 1.30)."""
    shown = f"{r:.2f}"
    return f"{r:.3f}" if float(shown) == limit and r != limit else shown


def _times(value: float, base: float, unit: str, limit: float) -> str:
    return f"{_factor(value / base, limit)}× ({value:.2f} vs {base:.2f} {unit})"


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #16's targets, each with its value and PASS / FAIL (SKIP when the run lacks the
    data): [{"group", "target", "value", "status", "measured", "limit"}]. Ratios are against
    the bare proxy (`baseline-aiohttp`) of the same run; `measured` is the ratio (or the count)
    the status was judged on."""
    out: list[dict[str, Any]] = []

    def add(
        group: str,
        name: str,
        value: str,
        measured: float | None,
        limit: float | None,
        ok: bool | None,
    ) -> None:
        out.append(
            {
                "group": group,
                "target": name,
                "value": value,
                "status": "SKIP" if ok is None else _verdict(ok),
                "measured": measured,
                "limit": limit,
            }
        )

    def skip(group: str, name: str, why: str, limit: float | None) -> None:
        add(group, name, why, None, limit, None)

    no_proxy = _absent(result, BASELINE)
    no_proxy = f"bare proxy {no_proxy}" if no_proxy else None

    # 1. Latency added at the till.
    for target in LATENCY_TARGETS:
        db = _short(target)
        name = f"{db}: client p50 at c=1 ≤ {P50_C1_MAX:g} × the bare proxy's"
        why = _absent(result, target) or no_proxy
        run, base = _run(result, target, 1), _run(result, BASELINE, 1)
        if why is None and (run is None or base is None):
            why = "c=1 not run"
        if why is not None or run is None or base is None:
            skip("latency", name, why or "n/a", P50_C1_MAX)
        else:
            value, proxy = run["latency_ms"]["p50"], base["latency_ms"]["p50"]
            r = round(value / proxy, 3)
            shown = _times(value, proxy, "ms", P50_C1_MAX)
            add("latency", name, shown, r, P50_C1_MAX, r <= P50_C1_MAX)
        for fraction in OPEN_FRACTIONS:
            name = (
                f"{db}: client p99 at {fraction:.0%} of its peak (open loop) ≤ "
                f"{P99_OPEN_MAX:g} × the bare proxy's at the same offered rate"
            )
            why = _absent(result, target)
            run = _open_at(result["targets"][target], fraction) if why is None else None
            if why is None and run is None:
                why = f"no open-loop run at {fraction:.0%} of peak (not with --quick)"
            if why is not None or run is None:
                skip("latency", name, why or "n/a", P99_OPEN_MAX)
                continue
            name = name.replace(" (open loop)", f" ({run['rate']:.0f}/s, open loop)")
            base = _proxy_open(result, float(run["rate"]))
            if base is None:
                skip(
                    "latency",
                    name,
                    no_proxy or f"the bare proxy was not run open loop at {run['rate']:.0f}/s",
                    P99_OPEN_MAX,
                )
                continue
            value, proxy = run["latency_ms"]["p99"], base["latency_ms"]["p99"]
            r = round(value / proxy, 3)
            shown = _times(value, proxy, "ms", P99_OPEN_MAX)
            add("latency", name, shown, r, P99_OPEN_MAX, r <= P99_OPEN_MAX)

    # 2. CPU per payment and 3. throughput, against the proxy at the same concurrency.
    for group, limits, what in (
        ("cpu", CPU_MAX, "server CPU per payment ≤ {limit:g} × the bare proxy's at c={c}"),
        ("throughput", THROUGHPUT_MIN, "throughput ≥ {limit:g} × the bare proxy's at c={c}"),
    ):
        for target in CAPACITY_TARGETS:
            for c, limit in limits.items():
                name = f"{_short(target)}: " + what.format(limit=limit, c=c)
                why = _absent(result, target) or no_proxy
                run, base = _run(result, target, c), _run(result, BASELINE, c)
                if why is None and (run is None or base is None):
                    why = f"c={c} not run (--concurrency {','.join(map(str, _levels(result)))})"
                if why is not None or run is None or base is None:
                    skip(group, name, why or "n/a", limit)
                    continue
                if group == "cpu":
                    value = run.get("cpu_ms_per_payment", {}).get("server")
                    proxy = base.get("cpu_ms_per_payment", {}).get("server")
                    if value is None or not proxy:
                        skip(group, name, "CPU not measured", limit)
                        continue
                    r = round(value / proxy, 3)
                    add(group, name, _times(value, proxy, "ms", limit), r, limit, r <= limit)
                else:
                    value, proxy = run["payments_per_s"], base["payments_per_s"]
                    if not proxy:
                        skip(group, name, "the bare proxy made no payment", limit)
                        continue
                    r = round(value / proxy, 3)
                    shown = f"{_factor(r, limit)}× ({value:.0f} vs {proxy:.0f} payments/s)"
                    add(group, name, shown, r, limit, r >= limit)

    # 4. PostgreSQL round trips per payment, counted.
    name = f"{_short(ROUND_TRIP_TARGET)}: PostgreSQL round trips per payment ≤ {ROUND_TRIPS_MAX:g}"
    why = _absent(result, ROUND_TRIP_TARGET)
    counted = result["targets"][ROUND_TRIP_TARGET].get("round_trips") if why is None else None
    if why is None and counted is None:
        why = "not counted in this run"
    if why is not None or counted is None:
        skip("round trips", name, why or "n/a", ROUND_TRIPS_MAX)
    else:
        value, shown = _round_trips_value(counted)
        name += (
            " (counted, the writer's connections)"
            if counted.get("writer_identified")
            else " (counted, all connections)"
        )
        add(
            "round trips",
            name,
            shown,
            value,
            ROUND_TRIPS_MAX,
            None if value is None else value <= ROUND_TRIPS_MAX,
        )

    # 5. Memory and integrity.
    memory_targets = [*gateway_targets(result)]
    memory_targets += [t for t in result.get("skipped", {}) if t.startswith("gateway-")]
    for target in memory_targets:
        data = result["targets"].get(target)
        several = (data or {}).get("processes") or 1
        name = (
            f"{_short(target)}: peak RSS of "
            + ("each gateway process" if several > 1 else "the gateway process")
            + f" ≤ {RSS_MAX_MB:g} MB"
        )
        rss = _largest_rss(data) if data else None
        if data is None or rss is None:
            skip("memory", name, _absent(result, target) or "not measured", RSS_MAX_MB)
            continue
        shown = f"{rss:.0f} MB" + (
            f" (all processes: {data['peak_rss_mb']:.0f} MB)" if several > 1 else ""
        )
        add("memory", name, shown, rss, RSS_MAX_MB, rss <= RSS_MAX_MB)
    integrity = result["integrity"]
    add(
        "integrity",
        "no failed or duplicated payment in any run; journal, events, `ledger verify` and "
        "webhook deliveries consistent",
        f"failed: {integrity['failed']}, duplicated: {integrity['duplicated']}"
        + (f", other problems: {len(integrity['problems'])}" if integrity["problems"] else ""),
        None,
        None,
        integrity["ok"],
    )

    # 6. Webhook delivery keeps pace.
    c = WEBHOOKS_CONCURRENCY
    for target in WEBHOOK_TARGETS:
        name = (
            f"{_short(target)}: ≥ {WEBHOOKS_BY_END_MIN:.0%} of a c={c} run's events delivered "
            "by the run's end"
        )
        why = _absent(result, target)
        report = result["targets"][target].get("webhooks_report") if why is None else None
        run = next(
            (
                r
                for r in (report or {}).get("runs", [])
                if r["mode"] == "closed" and r["concurrency"] == c
            ),
            None,
        )
        if why is None and run is None:
            why = f"c={c} not run"
        if why is not None or run is None or run.get("by_end_of_run") is None:
            skip("webhooks", name, why or "no payments", WEBHOOKS_BY_END_MIN)
            continue
        share = float(run["by_end_of_run"])
        shown = f"{share:.0%} ({round(share * run['payments'])} of {run['payments']})"
        add("webhooks", name, shown, share, WEBHOOKS_BY_END_MIN, share >= WEBHOOKS_BY_END_MIN)
    return out


def _round_trips_value(counted: dict[str, Any]) -> tuple[float | None, str]:
    """The figure judged (the writer's round trips per payment, else all connections') and
    how it reads in the table."""
    writer = counted["kinds"].get("writer")
    total = counted.get("total_per_payment")
    noise = f"idle noise {counted['idle_noise']:.0f} subtracted"
    if writer is not None:
        value = writer["per_payment"]
        shown = (
            f"{value:.2f} ({writer['round_trips']} in {counted['payments']} payments at c=1, "
            f"{noise}); all connections {_fmt(total)}"
        )
        return value, shown
    shown = f"{_fmt(total)} ({counted['round_trips']} in {counted['payments']} payments, {noise})"
    return total, shown


def _levels(result: dict[str, Any]) -> list[int]:
    return list(result["config"]["concurrency"])


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
        f"{'target':<{width}}{'c':>6}{'pay/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'own50':>8}{'own99':>8}{'ratio':>7}{'cpu ms':>8}{'rss MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for target, data in result["targets"].items():
        for run in [*data["runs"], *_open_runs(data), *data.get("open_runs", [])]:
            c = str(run["concurrency"])
            if run["mode"] == "open":
                c = f"{run['fraction']:.0%}" if run.get("fraction") else "½pk"
                if target == BASELINE:
                    c = f"{run['rate']:.0f}/s"
            r = ratio(result, target, run["concurrency"]) if run["mode"] == "closed" else None
            lines.append(
                f"{target:<{width}}{c:>6}{run['payments_per_s']:>9.0f}"
                f"{_ms(run['latency_ms'], 'p50'):>8}{_ms(run['latency_ms'], 'p95'):>8}"
                f"{_ms(run['latency_ms'], 'p99'):>8}"
                f"{_ms(run['own_ms'], 'p50'):>8}{_ms(run['own_ms'], 'p99'):>8}"
                f"{_fmt(r):>7}{_cpu(run, 'server'):>8}{_fmt(run.get('peak_rss_mb'), '.0f'):>8}"
            )
    lines.append("")
    lines.append("latency in ms (client; own = the server's own time from Server-Timing);")
    lines.append("ratio = payments/s ÷ baseline-aiohttp at the same c; cpu ms = server CPU/payment")
    lines.append(
        "c: closed-loop concurrency, or open loop: share of the gateway's peak (½pk: 50%),"
    )
    lines.append("the bare proxy's offered rate (/s)")
    counted = result["targets"].get(ROUND_TRIP_TARGET, {}).get("round_trips")
    if counted:
        lines.append(
            f"PostgreSQL round trips per payment ({ROUND_TRIP_TARGET}, c=1, "
            f"{counted['payments']} payments, counted): "
            + ", ".join(
                f"{kind} {_fmt(k.get('per_payment'))}"
                for kind, k in sorted(counted["kinds"].items())
            )
            + f"; all {_fmt(counted.get('total_per_payment'))} (idle noise "
            f"{counted['idle_noise']:.1f} of {counted['round_trips']})"
        )
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
        "At 25 % and 75 % of the peak too, unless `--quick`. After every gateway, the bare "
        "proxy again (a fresh one, on a fresh sandbox), open loop at the rates "
        + " and ".join(f"`{t}`" for t in LATENCY_TARGETS)
        + " were offered at 25 % and 50 % of their peaks, for the same number of requests. "
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
        if not data.get("curve") and target not in LATENCY_TARGETS:
            continue  # the half peak alone: its own table has it
        for run in _open_runs(data):
            base = _proxy_open(result, float(run["rate"]))
            p99 = (run["latency_ms"] or {}).get("p99")
            base_p99 = ((base or {}).get("latency_ms") or {}).get("p99")
            rows.append(
                [
                    f"`{target}`",
                    f"{_fraction(run):.0%}",
                    f"{run['rate']:.0f}",
                    f"{run['achieved_rate']:.0f}",
                    _ms(run["latency_ms"], "p50"),
                    _ms(run["latency_ms"], "p99"),
                    "–" if base is None else _ms(base["latency_ms"], "p50"),
                    "–" if base is None else _ms(base["latency_ms"], "p99"),
                    "–" if p99 is None or not base_p99 else f"**{p99 / base_p99:.2f}**",
                    _ms(run["own_ms"], "p50"),
                    _ms(run["own_ms"], "p95"),
                    _ms(run["own_ms"], "p99"),
                    _cpu(run, "server"),
                    "–" if base is None else _cpu(base, "server"),
                ]
            )
    if not rows:
        return []
    return [
        "## Latency against load (open loop)",
        "",
        "Each gateway's open-loop runs at fractions of its peak and, for "
        + " and ".join(f"`{t}`" for t in LATENCY_TARGETS)
        + " at 25 % and 50 %, the bare proxy's run at the same offered rate (a fresh proxy "
        "and sandbox after the gateways' runs, one run per rate within 1 %): the latency "
        "targets compare the client's p99 with it.",
        "",
        *_table(
            [
                "target",
                "of peak",
                "offered /s",
                "achieved /s",
                "p50 ms",
                "p99 ms",
                "bare proxy p50 ms",
                "bare proxy p99 ms",
                "p99 ÷ bare proxy",
                "own p50",
                "own p95",
                "own p99",
                "CPU ms/pay (server)",
                "bare proxy CPU ms/pay",
            ],
            rows,
        ),
        "",
    ]


def _round_trips_section(result: dict[str, Any]) -> list[str]:
    counted = result["targets"].get(ROUND_TRIP_TARGET, {}).get("round_trips")
    if not counted:
        return []
    rows = []
    for kind, figures in sorted(counted["kinds"].items()):
        by_type = figures.get("by_type", {})
        rows.append(
            [
                kind,
                str(figures.get("connections", 0)),
                str(figures.get("round_trips", 0)),
                ", ".join(f"{t} {n}" for t, n in sorted(by_type.items())) or "–",
                f"{figures['idle_round_trips']} in {counted['idle_s']:.1f} s",
                f"{figures['idle_noise']:.1f}",
                _fmt(figures.get("raw_per_payment")),
                f"**{_fmt(figures.get('per_payment'))}**",
            ]
        )
    return [
        "## PostgreSQL round trips per payment (counted)",
        "",
        f"After its runs, a second `gateway serve` on `{ROUND_TRIP_TARGET}`'s database and "
        "sandbox, its database connections through `bench/pgcount.py`, a TCP proxy that reads "
        "the PostgreSQL protocol and counts, per connection, the messages after which the "
        "client waits for the server: `Sync` (S, the end of an extended-query exchange), "
        "`Query` (Q, asyncpg's `BEGIN` and `COMMIT`) and `Flush` (H, asyncpg's statement "
        "preparation, once per statement and connection). A warm-up of "
        f"{counted['warmup_payments']} payments, then an idle window of "
        f"{counted['idle_s']:.1f} s (the pollers' round trips: webhook worker, resolver "
        f"sweep...), then {counted['payments']} payments at c=1 and a pause for their deferred "
        f"work ({counted['window_s']:.1f} s in all). Per payment = (round trips in that window "
        "− the idle rate × its length) ÷ payments. `writer` is the group-commit writer's "
        "connections (raw asyncpg; they set `plan_cache_mode` at start-up), `pool` "
        "SQLAlchemy's engine (reads, the writer's work units).",
        "",
        *_table(
            [
                "connections",
                "active",
                "round trips",
                "by message",
                "idle window",
                "idle noise in the window",
                "raw per payment",
                "per payment",
            ],
            rows,
        ),
        "",
        f"All connections: **{_fmt(counted.get('total_per_payment'))}** per payment "
        f"({counted['round_trips']} round trips, idle noise {counted['idle_noise']:.1f}).",
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
        *_round_trips_section(result),
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
    lines += [
        "",
        "Every ratio is against the bare proxy (`baseline-aiohttp`) measured in the same run: "
        "its client latency at c=1 and, open loop, at the same offered rate; its server CPU "
        "per payment and its throughput at the same concurrency. The absolute figures in the "
        "other sections are information. SKIP: the run lacked the data (`--quick`, "
        "`--targets`, `--concurrency` without 1 or 64).",
        "",
    ]
    lines += _integrity_section(result)
    skipped = result.get("skipped", {})
    if skipped:
        lines += ["Not run: " + "; ".join(f"`{k}`: {v}" for k, v in skipped.items()), ""]
    lines += [WHERE_THE_TIME_GOES, "", kept_section(previous), ""]
    return "\n".join(lines)
