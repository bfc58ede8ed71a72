"""The `gateway` command line: serve, sandbox, demo, merchants (webhooks, signing), keys, migrate,
partners status, ledger verify, settle, settlements export, reconcile, fx refresh and fx sources,
stores (static entry codes).

click rather than argparse: nested command groups (`merchants create`, `keys create`) with typed
options and generated help come for free, and `CliRunner` tests them without a subprocess.
The group is in `base.py`; each module adds its commands to it when imported here.
"""

# Imported for the commands they register on `main`.
from gateway.cli import finance, fx, merchants, operations, serving, stores  # noqa: F401
from gateway.cli.base import main

__all__ = ["main"]
