"""Run a sandbox partner: `python -m adapters.walletrest.sandbox --port 9201 ...`.

Secrets come from environment variables, never from the command line (which `ps` shows):

    python -m adapters.walletrest.sandbox --port 9201 --secret-env WR_SECRET \
        --api-key-env WR_API_KEY
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from aiohttp import web

from adapters.walletrest.sandbox.app import SandboxSettings, create_sandbox_app


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"environment variable {name} is not set")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adapters.walletrest.sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-env", required=True, metavar="VAR")
    parser.add_argument(
        "--api-key-env",
        action="append",
        default=[],
        metavar="VAR",
        help="a variable holding an accepted API key (repeatable)",
    )
    parser.add_argument("--hold-seconds", type=float, default=9.0)
    parser.add_argument("--confirm-seconds", type=float, default=2.0)
    parser.add_argument("--expire-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not args.api_key_env:
        parser.error("at least one --api-key-env is required")

    settings = SandboxSettings(
        signing_secret=_env(args.secret_env),
        api_keys=frozenset(_env(var) for var in args.api_key_env),
        hold_seconds=args.hold_seconds,
        confirm_seconds=args.confirm_seconds,
        expire_seconds=args.expire_seconds,
    )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    web.run_app(create_sandbox_app(settings), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
