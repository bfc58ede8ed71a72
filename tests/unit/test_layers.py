"""Imports go one way: fx ← adapters ← gateway. Sibling adapters never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"fx": {"fx"}, "adapters": {"fx", "adapters"}, "gateway": {"fx", "adapters", "gateway"}}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ALLOWED and top not in ALLOWED[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_adapter_families_do_not_import_each_other() -> None:
    # A private package (`_sandbox`) is shared code every family may use, not a family.
    families = [
        p.name
        for p in (ROOT / "adapters").iterdir()
        if (p / "__init__.py").exists() and not p.name.startswith("_")
    ]
    offenders = []
    for family in families:
        for path in sorted((ROOT / "adapters" / family).rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                sibling = len(parts) > 1 and parts[1] in families and parts[1] != family
                if parts[0] == "adapters" and sibling:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_sandboxes_never_import_their_client() -> None:
    for path in sorted(ROOT.glob("adapters/*/sandbox/*.py")):
        client = f"adapters.{path.parent.parent.name}.client"
        assert client not in _imports(path), path
