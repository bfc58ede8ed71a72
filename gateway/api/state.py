"""Typed application state (`web.AppKey`), shared by the app factory, routes and middlewares."""

from __future__ import annotations

from aiohttp import web

from gateway.context import Context
from gateway.merchants.auth import KeyStore

__all__ = ["CONTEXT", "KEYS", "MAX_BODY"]

CONTEXT = web.AppKey("context", Context)
KEYS = web.AppKey("keys", KeyStore)
MAX_BODY = web.AppKey("max_body_bytes", int)
