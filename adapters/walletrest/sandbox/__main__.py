"""Run a sandbox partner: `python -m adapters.walletrest.sandbox --port 9201 ...`.

Secrets come from environment variables, never from the command line (which `ps` shows):

    python -m adapters.walletrest.sandbox --port 9201 --secret-env WR_SECRET \
        --api-key-env WR_API_KEY
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
from adapters.walletrest.sandbox.app import SandboxSettings, create_sandbox_app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adapters.walletrest.sandbox")
    add_common_arguments(parser)
    parser.add_argument("--secret-env", required=True, metavar="VAR")
    parser.add_argument(
        "--api-key-env",
        action="append",
        default=[],
        metavar="VAR",
        help="a variable holding an accepted API key (repeatable)",
    )
    add_timing_arguments(parser)
    add_settlement_arguments(parser)
    args = parser.parse_args(argv)
    if not args.api_key_env:
        parser.error("at least one --api-key-env is required")

    settings = SandboxSettings(
        signing_secret=env(args.secret_env),
        api_keys=frozenset(env(var) for var in args.api_key_env),
        hold_seconds=args.hold_seconds,
        confirm_seconds=args.confirm_seconds,
        expire_seconds=args.expire_seconds,
        settlement=settlement_terms_from_args(parser, args),
    )
    run(create_sandbox_app(settings), args)


if __name__ == "__main__":
    main()
