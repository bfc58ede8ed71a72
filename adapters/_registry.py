"""The protocols the gateway can configure a partner with, by name (`protocol:` in its config).

Each entry says which credentials a partner of that protocol needs, how to build its adapter,
and how to start its sandbox (with the protocol's own settings type).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adapters import alipayplus, walletrest
from adapters._base import Adapter

__all__ = ["PROTOCOLS", "ProtocolSpec"]


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """One partner protocol.

    - `required_credentials` / `optional_credentials`: the credential names `build` accepts
      (any other name is refused, so a typo cannot go unnoticed).
    - `build(*, partner_id, base_url, credentials, http, timeouts, clock) -> Adapter`, where
      `credentials` maps each name of `required_credentials` to its secret value.
    - `sandbox(settings) -> web.Application`, `settings` being a `sandbox_settings` instance.
    """

    name: str
    required_credentials: tuple[str, ...]
    build: Callable[..., Adapter]
    sandbox: Callable[[Any], web.Application]
    sandbox_settings: type[Any]
    optional_credentials: tuple[str, ...] = ()


PROTOCOLS: Mapping[str, ProtocolSpec] = MappingProxyType(
    {
        "alipayplus": ProtocolSpec(
            name="alipayplus",
            required_credentials=alipayplus.REQUIRED_CREDENTIALS,
            build=alipayplus.build_adapter,
            sandbox=alipayplus.create_sandbox_app,
            sandbox_settings=alipayplus.SandboxSettings,
            optional_credentials=alipayplus.OPTIONAL_CREDENTIALS,
        ),
        "walletrest": ProtocolSpec(
            name="walletrest",
            required_credentials=walletrest.REQUIRED_CREDENTIALS,
            build=walletrest.build_adapter,
            sandbox=walletrest.create_sandbox_app,
            sandbox_settings=walletrest.SandboxSettings,
            optional_credentials=walletrest.OPTIONAL_CREDENTIALS,
        ),
    }
)
