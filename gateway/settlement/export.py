"""`gateway settlements export`: every closed batch of a day written to a folder, with a manifest.

Each file is `<type>_<owner>_<currency>_<date>.csv`, streamed from the frozen lines (constant
memory), written to a temporary name, checked against the SHA-256 stored when the batch closed,
then renamed into place. `manifest.json` lists them (id, key, rows, bytes, sha256) and
`SHA256SUMS` repeats the digests in `sha256sum -c` form. Nothing in either depends on when the
export ran, so exporting the same day twice gives the same bytes, manifest included.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

from gateway.settlement.batches import file_chunks
from gateway.settlement.csvfile import FileDigest
from gateway.settlement.model import BatchType, ClosedBatch
from gateway.storage import settlement_batches as closed_repo
from gateway.storage.db import Database

__all__ = ["ExportError", "Exported", "closed_batches_of", "export_day"]

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"


class ExportError(Exception):
    """A written file does not match its batch's stored SHA-256 (it is not left in place)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Exported:
    path: Path
    batch: ClosedBatch


async def closed_batches_of(
    db: Database, day: date, *, merchant_id: str | None = None, partner: str | None = None
) -> list[ClosedBatch]:
    kind = BatchType.MERCHANT if merchant_id else BatchType.PARTNER if partner else None
    batches = await closed_repo.list_closed(
        db, kind=kind, day=day, merchant_id=merchant_id, limit=1_000_000, starting_after=None
    )
    if partner is not None:
        batches = [b for b in batches if b.key.owner == partner]
    return sorted(batches, key=lambda b: b.file_name)


async def export_day(
    db: Database,
    day: date,
    out: Path,
    *,
    merchant_id: str | None = None,
    partner: str | None = None,
    progress: Callable[[int], object] = lambda _bytes: None,
) -> list[Exported]:
    """Write every closed batch of `day` (one merchant's or partner's, if given) into `out`.
    `progress(n)` is told of each chunk of n bytes written."""
    out.mkdir(parents=True, exist_ok=True)
    exported: list[Exported] = []
    for batch in await closed_batches_of(db, day, merchant_id=merchant_id, partner=partner):
        path = out / batch.file_name
        partial = path.with_name(path.name + ".partial")
        digest = FileDigest()
        with partial.open("wb") as sink:
            async for chunk in file_chunks(db, batch):
                sink.write(chunk)
                digest.update(chunk)
                progress(len(chunk))
            sink.flush()
            os.fsync(sink.fileno())
        if digest.hexdigest != batch.file_sha256 or digest.bytes != batch.file_bytes:
            partial.unlink()
            raise ExportError(
                f"{batch.id}: wrote {digest.bytes} bytes with SHA-256 {digest.hexdigest}, "
                f"but the batch closed as {batch.file_bytes} bytes with {batch.file_sha256}"
            )
        partial.replace(path)
        exported.append(Exported(path, batch))
    manifest = {
        "business_date": day.isoformat(),
        "files": [
            {
                "file": item.path.name,
                "id": item.batch.id,
                "type": str(item.batch.key.type),
                "merchant_id": item.batch.merchant_id,
                "partner": item.batch.partner,
                "currency": item.batch.key.currency,
                "rows": item.batch.line_count,
                "bytes": item.batch.file_bytes,
                "sha256": item.batch.file_sha256,
            }
            for item in exported
        ],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    sums = "".join(f"{item.batch.file_sha256}  {item.path.name}\n" for item in exported)
    (out / SUMS).write_text(sums, encoding="utf-8")
    return exported
