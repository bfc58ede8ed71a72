"""`SignedHttpClient`: what every protocol's client does around one signed HTTP call.

Each protocol signs and verifies its own way, but every client validates its base URL and
per-operation timeouts the same way at construction, bounds each call by its operation's timeout
and an overall deadline, and turns whatever the transport raises into an UNKNOWN `Outcome`
(`adapters._transport.classify_transport_error`: NOT_SENT only when the request certainly never
left). A partner call never raises. So a protocol client subclasses this, implements
`_request_headers` (its signature), and keeps only what is its own: which answers it trusts, and
its transforms.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx

from adapters._base import DEFAULT_TIMEOUTS, AdapterConfigError, Operation, Outcome
from adapters._clock import Clock
from adapters._transport import call_deadline, classify_transport_error, request_timeout

__all__ = ["SignedHttpClient"]


class SignedHttpClient:
    """The HTTP half of an adapter: one partner's base URL, timeouts, clock and shared client.

    **Parameters**
    - `partner_id`: the partner's name in our configuration (every error names it).
    - `base_url`: scheme, host and optional base path; no query string or fragment.
    - `http`: a shared client (see `adapters._transport.new_http_client`); not closed here.
    - `timeouts`: seconds per operation; each of `capabilities` needs a positive one, except
      those with a built-in default (`adapters._base.DEFAULT_TIMEOUTS`, e.g. `fx_rates`),
      which it may leave out.
    - `clock`: the protocol's source of request times (and of "now" when it checks answers).
    - `path_prefix`: a fixed path the protocol puts between the base path and each operation's.

    `AdapterConfigError` names the first bad setting, checked in that order: base URL, path
    prefix, timeouts (a subclass checks its own settings after).
    """

    def __init__(
        self,
        *,
        partner_id: str,
        base_url: str,
        http: httpx.AsyncClient,
        timeouts: Mapping[Operation, float],
        clock: Clock,
        path_prefix: str = "",
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise AdapterConfigError(f"partner {partner_id!r}: bad base_url: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
            raise AdapterConfigError(
                f"partner {partner_id!r}: base_url must be http(s)://host[:port][/path]"
            )
        if path_prefix and not path_prefix.startswith("/"):
            raise AdapterConfigError(f"partner {partner_id!r}: path_prefix must start with '/'")
        timeouts = {**DEFAULT_TIMEOUTS, **timeouts}
        for operation in (op for op in Operation if op in self.capabilities):  # stable order
            seconds = timeouts.get(operation)
            if seconds is None or not seconds > 0:
                raise AdapterConfigError(
                    f"partner {partner_id!r}: no positive timeout for {operation.value}"
                )
        self._partner_id = partner_id
        self._http = http
        self._timeouts = timeouts
        self._clock = clock
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._base_path = self._base_path_of(url) + path_prefix.rstrip("/")
        # Log under the protocol client's own module, as each client did before sharing this.
        self._log = logging.getLogger(type(self).__module__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(partner_id={self._partner_id!r}, base={self._origin!r})"

    @property
    def partner_id(self) -> str:
        return self._partner_id

    @property
    def capabilities(self) -> frozenset[Operation]:
        """The operations this protocol offers (each needs a timeout)."""
        raise NotImplementedError

    def _base_path_of(self, url: httpx.URL) -> str:
        """The base URL's path as the protocol signs it: by default percent-encoded, exactly
        the bytes sent. A protocol whose partners sign the decoded path overrides this."""
        return url.raw_path.decode("ascii").rstrip("/")

    async def _request_headers(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        """Every header of the request, its signature included, in the order they are sent.
        `path` is the full path (base path included), `body` None for a request without one."""
        raise NotImplementedError

    async def _send(
        self,
        operation: Operation,
        method: str,
        path: str,
        body: bytes | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response | Outcome:
        """Sign and send one call (`path` after the base path; `headers` added after the signed
        ones): the partner's response, whatever its status, for the protocol to verify, or the
        UNKNOWN a transport error amounts to."""
        full_path = self._base_path + path
        sent = await self._request_headers(method, full_path, body)
        sent.update(headers or {})
        seconds = self._timeouts[operation]
        try:
            async with asyncio.timeout(call_deadline(seconds)):
                return await self._http.request(
                    method,
                    self._origin + full_path,
                    content=body,
                    headers=sent,
                    timeout=request_timeout(seconds),
                )
        except Exception as exc:  # a partner call never raises: classify whatever happened
            delivery = classify_transport_error(exc)
            self._log.debug("%s %s: %r -> %s", self._partner_id, operation.value, exc, delivery)
            return Outcome.unknown(delivery, f"{operation.value}: {_describe_error(exc)}")


def _describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
