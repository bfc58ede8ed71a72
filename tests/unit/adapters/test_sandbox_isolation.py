"""Production never loads a sandbox partner.

The gateway's own imports (`adapters`, `gateway.bootstrap`, `gateway.cli`) must not pull in any
sandbox module (`adapters._sandbox`, `adapters.<family>.sandbox*`, `adapters.sandboxes`,
`gateway.sandboxes`): sandboxes are reached only through `adapters.sandboxes`, which the command
line imports lazily for `sandbox` and `demo`. Checked in a fresh interpreter, because this test
process has long since imported the sandboxes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _sandbox_modules_after(imports: str) -> list[str]:
    """The names of loaded modules containing "sandbox" after `import <imports>`."""
    code = (
        f"import sys; import {imports}; "
        "print('\\n'.join(sorted(m for m in sys.modules if 'sandbox' in m)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_production_imports_load_no_sandbox() -> None:
    assert _sandbox_modules_after("adapters, gateway.bootstrap, gateway.cli") == []


def test_the_sandbox_registry_loads_every_sandbox() -> None:
    """The probe above can see a sandbox: importing the registry of sandboxes loads them all."""
    loaded = _sandbox_modules_after("adapters.sandboxes")
    for module in (
        "adapters._sandbox",
        "adapters.alipayplus.sandbox",
        "adapters.walletrest.sandbox",
    ):
        assert module in loaded, loaded
