"""Run a sandbox partner: `python -m adapters.alipayplus.sandbox --port 9001 ...`.

Keys come from environment variables, never from the command line (which `ps` shows):

    python -m adapters.alipayplus.sandbox --port 9001 --private-key-env SANDBOX_KEY \
        --merchant-key SANDBOX_GATEWAY=GATEWAY_PUBLIC_KEY
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from adapters._sandbox.cli import (
    add_common_arguments,
    add_settlement_arguments,
    add_timing_arguments,
    env,
    run,
    settlement_terms_from_args,
)
from adapters.alipayplus.sandbox.app import SandboxSettings, create_sandbox_app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adapters.alipayplus.sandbox")
    add_common_arguments(parser)
    parser.add_argument("--private-key-env", required=True, metavar="VAR")
    parser.add_argument(
        "--merchant-key",
        action="append",
        default=[],
        metavar="CLIENT_ID=VAR",
        help="a merchant client id and the variable holding its public key (repeatable)",
    )
    parser.add_argument("--client-id-in-responses", default=None)
    parser.add_argument("--key-version", type=int, default=1)
    add_timing_arguments(parser)
    add_settlement_arguments(parser)
    args = parser.parse_args(argv)

    merchants: dict[str, str] = {}
    for item in args.merchant_key:
        client_id, sep, var = item.partition("=")
        if not sep or not client_id or not var:
            parser.error(f"--merchant-key wants CLIENT_ID=VAR, got {item!r}")
        merchants[client_id] = env(var)
    if not merchants:
        parser.error("at least one --merchant-key is required")

    settings = SandboxSettings(
        private_key_pem=env(args.private_key_env),
        merchant_public_keys=merchants,
        client_id_in_responses=args.client_id_in_responses,
        key_version=args.key_version,
        hold_seconds=args.hold_seconds,
        confirm_seconds=args.confirm_seconds,
        expire_seconds=args.expire_seconds,
        settlement=settlement_terms_from_args(parser, args),
    )
    run(create_sandbox_app(settings), args)


if __name__ == "__main__":
    main()
