"""What every `python -m adapters.<family>.sandbox` command line shares.

Secrets come from environment variables (`env`), never from arguments, which `ps` shows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import time

from aiohttp import web

from adapters._sandbox.terms import SettlementTerms

__all__ = [
    "add_common_arguments",
    "add_settlement_arguments",
    "add_timing_arguments",
    "env",
    "run",
    "settlement_terms_from_args",
]


def env(name: str) -> str:
    """A secret from an environment variable (never from the command line, which `ps` shows)."""
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"environment variable {name} is not set")
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """`--host` and `--port`."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """The test codes' timings: `--hold-seconds`, `--confirm-seconds`, `--expire-seconds`."""
    parser.add_argument("--hold-seconds", type=float, default=9.0)
    parser.add_argument("--confirm-seconds", type=float, default=2.0)
    parser.add_argument("--expire-seconds", type=float, default=3.0)


def add_settlement_arguments(parser: argparse.ArgumentParser) -> None:
    """The partner's settlement terms: `--timezone`, `--cutoff HH:MM`, `--fee-bps`,
    `--fee-fixed CUR=MINOR` (repeatable)."""
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--cutoff", default="00:00", metavar="HH:MM")
    parser.add_argument("--fee-bps", type=int, default=0)
    parser.add_argument("--fee-fixed", action="append", default=[], metavar="CUR=MINOR")


def settlement_terms_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> SettlementTerms:
    """The terms `add_settlement_arguments` read; a bad value is a usage error (exit 2)."""
    fixed: dict[str, int] = {}
    for item in args.fee_fixed:
        code, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            parser.error(f"--fee-fixed wants CUR=MINOR, got {item!r}")
        fixed[code] = int(value)
    try:
        return SettlementTerms(
            timezone=args.timezone,
            cutoff=time.fromisoformat(args.cutoff),
            fee_bps=args.fee_bps,
            fee_fixed=fixed,
        )
    except ValueError as exc:
        parser.error(str(exc))


def run(app: web.Application, args: argparse.Namespace) -> None:
    """Serve a sandbox app on `args.host`:`args.port`, logging to stderr."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    web.run_app(app, host=args.host, port=args.port)
