"""Turning a benchmark result (the JSON document) into targets, a summary and docs/benchmarks.md."""

from __future__ import annotations

from typing import Any

__all__ = ["WHERE_THE_TIME_GOES", "evaluate_targets", "render_markdown", "render_summary"]

WHERE_THE_TIME_GOES = "## Where the time goes"
_PLACEHOLDER = "_To be filled in after profiling._"
BUSY_LOADAVG = 0.5

BASELINE = "baseline-aiohttp"
PLAIN = "baseline-plain-httpx"
GATEWAYS = ("gateway-sqlite", "gateway-postgresql")

RATIO_MIN = 0.5
RATIO_CONCURRENCY = 64
OWN_P99_MAX_MS = 10.0
OWN_P50_MAX_MS = 3.0
RSS_MAX_MB = 150.0


def _run(result: dict[str, Any], target: str, concurrency: int) -> dict[str, Any] | None:
    for run in result["targets"].get(target, {}).get("runs", []):
        if run["concurrency"] == concurrency:
            return dict(run)
    return None


def ratio(result: dict[str, Any], target: str, concurrency: int) -> float | None:
    run, base = _run(result, target, concurrency), _run(result, BASELINE, concurrency)
    if run is None or base is None or not base["payments_per_s"]:
        return None
    return round(float(run["payments_per_s"]) / float(base["payments_per_s"]), 3)


def _ratio_concurrency(result: dict[str, Any]) -> int:
    levels: list[int] = result["config"]["concurrency"]
    return RATIO_CONCURRENCY if RATIO_CONCURRENCY in levels else max(levels)


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and PASS / FAIL (or SKIP)."""
    out: list[dict[str, Any]] = []
    c = _ratio_concurrency(result)
    note = "" if c == RATIO_CONCURRENCY else f" (c={RATIO_CONCURRENCY} not run: c={c})"

    def add(name: str, value: str, ok: bool | None) -> None:
        out.append(
            {"target": name, "value": value, "status": "SKIP" if ok is None else _verdict(ok)}
        )

    for gateway in GATEWAYS:
        data = result["targets"].get(gateway)
        db = gateway.removeprefix("gateway-")
        if data is None:
            reason = result.get("skipped", {}).get(gateway, "not run")
            add(f"{db}: throughput ÷ bare proxy at c={c} ≥ {RATIO_MIN}", reason, None)
            continue
        r = ratio(result, gateway, c)
        add(
            f"{db}: throughput ÷ bare proxy at c={c} ≥ {RATIO_MIN}{note}",
            "n/a" if r is None else f"{r:.2f}",
            None if r is None else r >= RATIO_MIN,
        )
        half = data.get("half_peak")
        own = half["own_ms"] if half else None
        if own:
            add(
                f"{db}: gateway's own p99 ≤ {OWN_P99_MAX_MS:g} ms at half peak "
                f"({half['rate']:.0f}/s)",
                f"{own['p99']:.2f} ms",
                own["p99"] <= OWN_P99_MAX_MS,
            )
            add(
                f"{db}: gateway's own p50 ≤ {OWN_P50_MAX_MS:g} ms at half peak",
                f"{own['p50']:.2f} ms",
                own["p50"] <= OWN_P50_MAX_MS,
            )
        else:
            add(f"{db}: gateway's own latency at half peak", "not measured", None)
        rss = data.get("peak_rss_mb")
        add(
            f"{db}: peak RSS of the gateway process ≤ {RSS_MAX_MB:g} MB",
            "n/a" if rss is None else f"{rss:.0f} MB",
            None if rss is None else rss <= RSS_MAX_MB,
        )
    integrity = result["integrity"]
    add(
        "no failed or duplicated payment in any run",
        f"failed: {integrity['failed']}, duplicated: {integrity['duplicated']}"
        + (f", other problems: {len(integrity['problems'])}" if integrity["problems"] else ""),
        integrity["ok"],
    )
    return out


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _ms(stats: dict[str, float] | None, key: str) -> str:
    return "–" if not stats else f"{stats[key]:.2f}"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _cpu(run: dict[str, Any], key: str) -> str:
    value = run.get("cpu_ms_per_payment", {}).get(key)
    return _fmt(value, ".2f")


def render_summary(result: dict[str, Any]) -> str:
    """A compact fixed-width table for stdout."""
    head = (
        f"{'target':<22}{'c':>4}{'pay/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'own50':>8}{'own99':>8}{'ratio':>7}{'cpu ms':>8}{'rss MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for target, data in result["targets"].items():
        for run in [*data["runs"], *([data["half_peak"]] if data.get("half_peak") else [])]:
            c = "½pk" if run["mode"] == "open" else str(run["concurrency"])
            r = ratio(result, target, run["concurrency"]) if run["mode"] == "closed" else None
            lines.append(
                f"{target:<22}{c:>4}{run['payments_per_s']:>9.0f}"
                f"{_ms(run['latency_ms'], 'p50'):>8}{_ms(run['latency_ms'], 'p95'):>8}"
                f"{_ms(run['latency_ms'], 'p99'):>8}"
                f"{_ms(run['own_ms'], 'p50'):>8}{_ms(run['own_ms'], 'p99'):>8}"
                f"{_fmt(r):>7}{_cpu(run, 'server'):>8}{_fmt(run.get('peak_rss_mb'), '.0f'):>8}"
            )
    lines.append("")
    lines.append("latency in ms (client; own = the server's own time from Server-Timing);")
    lines.append("ratio = payments/s ÷ baseline-aiohttp at the same c; cpu ms = server CPU/payment")
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


def render_markdown(result: dict[str, Any], previous: str | None = None) -> str:
    """docs/benchmarks.md; `previous` (the current file) keeps its "Where the time goes"."""
    machine = result["machine"]
    config = result["config"]
    lines: list[str] = [
        "# Benchmarks",
        "",
        "How close the gateway runs to the limit of its own HTTP path: one inbound HTTP request,",
        "one outbound partner call, durable records. Generated by `python -m bench` "
        f"on {machine['date']}; the raw figures are in `bench/results/` (not committed).",
        "",
        "```sh",
        ".venv/bin/python -m bench            # full run, rewrites this file (a few minutes)",
        ".venv/bin/python -m bench --quick    # smoke run (< 1 min), no docs rewrite; CI runs it",
        "```",
        "",
        "Options: `--concurrency 1,16,64`, `--requests N`, `--databases sqlite,postgresql`, "
        "`--out bench/results`, `--no-docs`.",
        "",
        "## Set-up",
        "",
        f"- **Machine**: {machine['nproc']} cores ({machine['cpu_model']}), "
        f"{machine['mem_gb']} GB RAM, Python {machine['python']}, {machine['kernel']}; "
        f"PostgreSQL {machine.get('postgresql') or 'not used'}.",
        "- **The load generator, the sandbox partner, the server under test and the database all "
        f"share this machine's {machine['nproc']} cores**: every figure below includes the cost "
        "of the others (the load generator alone uses a large share of a core at high "
        "throughput). Load average at start / end: "
        f"{machine['loadavg_start']} / {machine['loadavg_end']}.",
        *_busy_note(machine),
        "- **Processes** (each its own OS process): the sandbox partner "
        "(`gateway sandbox`, Alipay+ protocol, RSA-signed answers, an in-memory ledger; a fresh "
        "one per target); the server under test; the load generator (`python -m bench.load`: "
        "aiohttp client, one connection per worker, fresh `Idempotency-Key`, "
        "`merchant_reference` and wallet code per request, approve code `28…0000`, "
        "THB → CNY).",
        "- **Targets**: `baseline-aiohttp` is the physical limit: a bare aiohttp proxy "
        "(`bench/baseline.py`) that parses the body and calls the real `AlipayPlusAdapter.pay` "
        "(signing, verifying) over the gateway's client stack (httpx over the httpx-aiohttp "
        "transport), with no database and no validation. `baseline-plain-httpx` is the same "
        "with a plain `httpx.AsyncClient()`. `gateway-sqlite` and `gateway-postgresql` are "
        "`gateway serve` with production durations (no test profile), a fresh database each, "
        "a TH/THB merchant and a POS key made with the CLI.",
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
        "- **Peak RSS** is `VmHWM` of the server process, read after each run (a high-water "
        "mark: it covers that run and the ones before it, on the same process). "
        "**CPU ms/payment** is the server process's user + system CPU time over the run ÷ "
        "payments.",
        "",
    ]
    ratio_c = _ratio_concurrency(result)
    for c in config["concurrency"]:
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
        'For the baselines, "own" is the proxy\'s own time (its total minus the partner call).',
        "",
        "## Gateway at half of its peak throughput (open loop)",
        "",
    ]
    rows = []
    for target in GATEWAYS:
        half = result["targets"].get(target, {}).get("half_peak")
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
    lines += _table(
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
    )
    lines += [
        "",
        "## Partner client: plain httpx vs httpx over the aiohttp transport",
        "",
    ]
    rows = []
    for c in config["concurrency"]:
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
    lines += _table(
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
    )
    lines += ["", "## Targets", ""]
    lines += _table(
        ["target", "measured", ""],
        [[t["target"], t["value"], f"**{t['status']}**"] for t in evaluate_targets(result)],
    )
    if ratio_c != RATIO_CONCURRENCY:
        lines += ["", f"(c={RATIO_CONCURRENCY} was not part of this run; c={ratio_c} is used.)"]
    lines += ["", "## Integrity", ""]
    rows = []
    for target, data in result["targets"].items():
        check = data["integrity"]
        rows.append(
            [
                f"`{target}`",
                str(check["sent"]),
                str(check["succeeded"]),
                str(check["failed"]),
                str(check["duplicated"]),
                _fmt(check.get("db_payments"), "d"),
                str(check["ledger_charges"]),
                "; ".join(check["problems"]) or "ok",
            ]
        )
    lines += _table(
        [
            "target",
            "sent",
            "succeeded",
            "failed",
            "duplicated",
            "payments in DB",
            "sandbox charges",
            "problems",
        ],
        rows,
    )
    lines += [
        "",
        "Checked per target: every answer `201` `succeeded`; payment ids unique; payments in the "
        "database = requests sent (warm-up included); the sandbox's ledger has exactly one charge "
        "per `paymentRequestId`, no reversal, as many charges as successful payments, and (for "
        "the gateway) only for request ids of the database's attempts.",
        "",
    ]
    skipped = result.get("skipped", {})
    if skipped:
        lines += ["Not run: " + "; ".join(f"`{k}`: {v}" for k, v in skipped.items()), ""]
    lines += [WHERE_THE_TIME_GOES, "", kept_section(previous), ""]
    return "\n".join(lines)
