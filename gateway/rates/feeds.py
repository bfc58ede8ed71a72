"""Fetching a rate feed over HTTP: the ECB's eurofxref XML (or a sandbox's copy of it).

Conditional requests (`If-None-Match`, `If-Modified-Since`) make an unchanged feed a `304` with
no body; transport errors and 5xx answers are retried a few times with backoff (tenacity), each
attempt and the whole fetch bounded by the configured timeout. Whatever comes back is parsed
and checked by `fx.parse_ecb_xml` before anything uses it; a body over `MAX_FEED_BYTES` is
refused unread (the daily file is about 2 kB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import tenacity

import fx

__all__ = ["MAX_FEED_BYTES", "FeedError", "Fetched", "fetch_ecb_xml"]

MAX_FEED_BYTES = 1 << 20
_ATTEMPTS = 3


class FeedError(Exception):
    """The feed gave no usable answer (after retries): the message says why."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed's answer: a new set, or None when it has not changed since the validators."""

    rate_set: fx.RateSet | None
    etag: str | None
    last_modified: str | None


class _Retryable(Exception):
    pass


async def fetch_ecb_xml(
    http: httpx.AsyncClient,
    url: str,
    *,
    source: str,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Fetched:
    """GET `url` and parse it as eurofxref XML; `FeedError` when it cannot be used."""
    headers = {"Accept": "application/xml, text/xml"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(_ATTEMPTS),
        wait=tenacity.wait_random_exponential(multiplier=0.5, max=4),
        retry=tenacity.retry_if_exception_type(_Retryable),
        sleep=sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                status, body, answer = await _get(http, url, headers, timeout)
    except _Retryable as exc:
        raise FeedError(f"{source}: {exc} (after {_ATTEMPTS} attempts)") from exc
    if status == 304:
        return Fetched(None, etag, last_modified)
    if status != 200:
        raise FeedError(f"{source}: HTTP {status} from the feed")
    try:
        rate_set = fx.parse_ecb_xml(body, source=source)
    except fx.RateUnavailable as exc:
        raise FeedError(f"{source}: unusable feed: {exc}") from exc
    return Fetched(rate_set, answer.get("etag"), answer.get("last-modified"))


async def _get(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], timeout: float
) -> tuple[int, bytes, httpx.Headers]:
    try:
        async with asyncio.timeout(timeout):
            async with http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code >= 500:
                    raise _Retryable(f"HTTP {response.status_code} from the feed")
                declared = response.headers.get("content-length", "")
                if declared.isascii() and declared.isdigit() and int(declared) > MAX_FEED_BYTES:
                    raise FeedError(f"feed body of {declared} bytes is over {MAX_FEED_BYTES}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_FEED_BYTES:
                        raise FeedError(f"feed body is over {MAX_FEED_BYTES} bytes")
                return response.status_code, bytes(body), response.headers
    except TimeoutError as exc:
        raise _Retryable(f"no answer within {timeout:g}s") from exc
    except httpx.HTTPError as exc:
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
