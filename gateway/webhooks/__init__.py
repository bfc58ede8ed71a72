"""Webhooks: signatures (`signing`), the delivery worker (`worker`) and redelivery (`redeliver`).

Kept import-light: `gateway.auth` uses `signing` on every request.
"""
