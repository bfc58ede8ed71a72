"""Settlement: daily batches of what the gateway owes merchants and what partners owe it, closed
once at each cut-off + grace, frozen, and served as byte-identical CSV files (API.md,
Settlements; DESIGN.md, Settlement).

- `domain`: batch keys, deterministic ids, business-day ends, totals, the Batch object;
- `csvfile`: the file format, pure (RFC 4180, formula guard, exact decimals);
- `closing`: closing a batch (atomic, idempotent, race-safe) and `gateway settle`;
- `batches`: reading batches (closed rows, open ones live) and streaming a file;
- `export`: `gateway settlements export`;
- `worker`: the scheduler in every running gateway.

The SQL lives in `gateway/storage/`: `settlement_lines.py` (which lines a batch holds; open
batches live), `settlement_batches.py` (closing, closed batches and their frozen lines) and
`settlement.py` (the questions the payment lifecycle asks before it dates a line:
`next_open_dates`, `closed_through`, `is_closed`).
"""
