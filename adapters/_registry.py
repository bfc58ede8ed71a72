"""The protocols the gateway can configure a partner with, by name (`protocol:` in its config).

Each entry says which credentials a partner of that protocol needs and how to build its adapter:
all a production gateway needs. How to start a protocol's sandbox is not here but in
`adapters.sandboxes` (same names), so that importing the registry loads no sandbox code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

import httpx

from adapters import alipayplus, walletrest
from adapters._base import Adapter, Operation
from adapters._clock import Clock

__all__ = ["PROTOCOLS", "AdapterFactory", "ProtocolSpec"]


class AdapterFactory(Protocol):
    """`build(...)` of a protocol: an adapter from configuration; `AdapterConfigError` names
    the bad setting. `credentials` maps each credential name to its secret value."""

    def __call__(
        self,
        *,
        partner_id: str,
        base_url: str,
        credentials: Mapping[str, str],
        http: httpx.AsyncClient,
        timeouts: Mapping[Operation, float],
        clock: Clock,
    ) -> Adapter: ...


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """One partner protocol.

    - `required_credentials` / `optional_credentials`: the credential names `build` accepts
      (any other name is refused, so a typo cannot go unnoticed).
    - `build(*, partner_id, base_url, credentials, http, timeouts, clock) -> Adapter`, where
      `credentials` maps each name of `required_credentials` to its secret value.
    """

    name: str
    required_credentials: tuple[str, ...]
    build: AdapterFactory
    optional_credentials: tuple[str, ...] = ()


PROTOCOLS: Mapping[str, ProtocolSpec] = MappingProxyType(
    {
        "alipayplus": ProtocolSpec(
            name="alipayplus",
            required_credentials=alipayplus.REQUIRED_CREDENTIALS,
            build=alipayplus.build_adapter,
            optional_credentials=alipayplus.OPTIONAL_CREDENTIALS,
        ),
        "walletrest": ProtocolSpec(
            name="walletrest",
            required_credentials=walletrest.REQUIRED_CREDENTIALS,
            build=walletrest.build_adapter,
            optional_credentials=walletrest.OPTIONAL_CREDENTIALS,
        ),
    }
)
