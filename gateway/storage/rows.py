"""Rows to domain objects: the one place that knows which column holds what."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.core.business_days import parse_cutoff
from gateway.merchants.model import Merchant

__all__ = ["merchant"]


def merchant(row: Mapping[str, Any]) -> Merchant:
    return Merchant(
        id=row["id"],
        name=row["name"],
        country=row["country"],
        currency=row["currency"],
        timezone=row["timezone"],
        cutoff=parse_cutoff(row["cutoff"]),
        mdr_bps=row["mdr_bps"],
        fixed_fee=row["fixed_fee"],
        created_at=row["created_at"],
        webhook_url=row["webhook_url"],
        webhook_secret=row["webhook_secret"],
        signing_secret=row["signing_secret"],
        require_signature=bool(row["require_signature"]),
    )
