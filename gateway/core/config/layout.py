"""Where a configuration directory keeps what, and the defaults it falls back on."""

from __future__ import annotations

from pathlib import Path

# The checkout this package runs from (its `configs/` is the default configuration directory).
PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PROFILE = "default"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/gateway.db"
GATEWAY_FILE = "gateway.toml"
WALLETS_FILE = "wallets.toml"
PARTNERS_DIR = "partners"
PROFILES_DIR = "profiles"
SANDBOX_KEYS_HINT = "export it, or run `gateway sandbox keys` for the demo partners"
