"""Imports go one way: fx ← adapters ← gateway. Sibling adapters never import each other. SQL
stays in gateway/storage/, which knows the domains' models only; HTTP handlers call services."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
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


# --- SQL stays in gateway/storage/ -----------------------------------------------------------
# The domains and the HTTP layer speak to the database only through repository functions in
# `gateway/storage/` (docs/architecture.md); storage in turn knows the domains' model modules
# (pure values) and nothing of their rules.

_DRIVERS = {"sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg"}
_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b")
_SQL_HOMES = ("gateway/storage/", "gateway/migrations/")
_SQL_ELSEWHERE: set[str] = set()
"""Modules allowed SQL outside storage, each with its reason (none today)."""


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _gateway_modules(under: str = "gateway") -> list[Path]:
    return sorted((ROOT / under).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (prose may name SQL; code may not)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _sql_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and _SQL.search(node.value)
    ]


def _imported(path: Path) -> list[tuple[str, set[str]]]:
    """Each import as (what the line names, every module it may bring in): `from a.b import c`
    may bring in `a.b` or the module `a.b.c`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, {alias.name}) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.append((full, {node.module, full}))
    return found


def test_sql_stays_in_storage() -> None:
    offenders = []
    for path in _gateway_modules():
        name = _relative(path)
        if name.startswith(_SQL_HOMES) or name in _SQL_ELSEWHERE:
            continue
        for line, _modules in _imported(path):
            if line.split(".")[0] in _DRIVERS:
                offenders.append(f"{name} imports {line}")
        offenders.extend(f"{name} holds SQL {text!r}" for text in _sql_strings(path))
    assert offenders == []


def test_sql_allow_list_is_still_needed() -> None:
    """An entry of `_SQL_ELSEWHERE` goes once its file no longer needs it."""
    for name in sorted(_SQL_ELSEWHERE):
        path = ROOT / name
        drivers = [m for m, _ in _imported(path) if m.split(".")[0] in _DRIVERS]
        assert drivers or _sql_strings(path), f"{name} holds no SQL: drop it from the list"


def _storage_may_import(module: str) -> bool:
    parts = module.split(".")
    if parts[0] != "gateway":
        return True  # the standard library, third parties, fx: not our layering question
    if len(parts) >= 2 and parts[1] in ("storage", "core"):
        return True
    return len(parts) == 3 and parts[2] == "model"  # a domain's pure model: `gateway.<d>.model`


def test_storage_imports_no_business_logic() -> None:
    offenders = []
    for path in _gateway_modules("gateway/storage"):
        for line, modules in _imported(path):
            if not any(_storage_may_import(m) for m in modules):
                offenders.append(f"{_relative(path)} imports {line}")
    assert offenders == []


_API_STORAGE: dict[str, str] = {
    # Handlers call services (`gateway.<domain>.service`, ...); a module that needs storage
    # itself (wiring) would be listed here as {path: reason}. None does today.
}


def test_api_does_not_reach_into_storage() -> None:
    offenders = []
    for path in _gateway_modules("gateway/api"):
        name = _relative(path)
        if name in _API_STORAGE:
            continue
        for line, modules in _imported(path):
            if any(m == "gateway.storage" or m.startswith("gateway.storage.") for m in modules):
                offenders.append(f"{name} imports {line}")
    assert offenders == []


# --- inside the gateway: api → domains → storage, with core under everything -------------------

_NOT_DOMAINS = {"api", "storage", "core", "migrations", "wire"}
_DOMAINS = sorted(
    p.name
    for p in (ROOT / "gateway").iterdir()
    if (p / "__init__.py").exists() and p.name not in _NOT_DOMAINS
)


def _offenders(paths: list[Path], refused: Callable[[str], bool]) -> list[str]:
    return [
        f"{_relative(path)} imports {shown}"
        for path in paths
        for shown, modules in _imported(path)
        if any(refused(module) for module in modules)
    ]


def _is_api(module: str) -> bool:
    return module == "gateway.api" or module.startswith("gateway.api.")


def test_no_domain_imports_the_api_layer() -> None:
    """Only `api/` speaks HTTP; domains, wire types, storage and core never reach up to it."""
    under = [*(f"gateway/{d}" for d in _DOMAINS), "gateway/wire", "gateway/storage", "gateway/core"]
    assert _DOMAINS, "no domain package found"
    assert _offenders([p for u in under for p in _gateway_modules(u)], _is_api) == []


def test_core_imports_nothing_else_of_the_gateway() -> None:
    def refused(module: str) -> bool:
        return module.startswith("gateway.") and not module.startswith("gateway.core")

    assert _offenders(_gateway_modules("gateway/core"), refused) == []


def test_domain_models_are_pure() -> None:
    """A `model.py` holds state and its transitions: it may use core, fx, the adapter contract's
    types and other models, never storage, a service, the context or I/O."""
    models = sorted((ROOT / "gateway").glob("*/model.py"))
    assert len(models) >= 5, models

    def refused(module: str) -> bool:
        if module.split(".")[0] in {"sqlalchemy", "sqlmodel", "aiohttp", "httpx", "asyncpg"}:
            return True
        if not module.startswith("gateway."):
            return False
        pure = module.startswith("gateway.core.") or "model" in module.split(".")
        wire = module == "gateway.wire" or module.startswith("gateway.wire.")
        return not (pure or wire or module.startswith("gateway.payments.failures"))

    assert _offenders(models, refused) == []
