"""Where a configuration directory keeps what, and the defaults it falls back on."""

from __future__ import annotations

from pathlib import Path


def _project_root(module: Path) -> Path:
    """The checkout this package runs from, whose `configs/` is the default configuration
    directory.

    Found rather than counted (`parents[n]` broke each time a module moved a level deeper): the
    directory holding the top-level package (the first parent that is not itself a package), or
    the one above it for a `src/` layout, whichever holds `pyproject.toml`. The search stops
    there so that an installed copy never adopts some unrelated project further up; without a
    `pyproject.toml` (an installed wheel) it is the directory holding the package, as before.
    """
    top = next(parent for parent in module.parents if not (parent / "__init__.py").exists())
    for candidate in (top, top.parent):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return top


PROJECT_ROOT = _project_root(Path(__file__).resolve())
DEFAULT_PROFILE = "default"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/gateway.db"
GATEWAY_FILE = "gateway.toml"
WALLETS_FILE = "wallets.toml"
PARTNERS_DIR = "partners"
PROFILES_DIR = "profiles"
SANDBOX_KEYS_HINT = "export it, or run `gateway sandbox keys` for the demo partners"
