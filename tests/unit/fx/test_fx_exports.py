"""The public surface of `fx` is exactly its sorted `__all__` (httpx's test_exported_members)."""

import fx


def test_all_is_sorted_and_equals_public_names() -> None:
    public = {name for name in vars(fx) if not name.startswith("_")}
    assert fx.__all__ == sorted(fx.__all__)
    assert set(fx.__all__) == public


def test_exported_objects_show_public_module() -> None:
    for name in fx.__all__:
        obj = getattr(fx, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == "fx", name


def test_every_private_module_declares_all() -> None:
    from fx import (
        _book,
        _calendar,
        _currency,
        _exceptions,
        _money,
        _quote,
        _rates,
        _rounding,
        _wire,
    )

    modules = (_book, _calendar, _currency, _exceptions, _money, _quote, _rates, _rounding, _wire)
    declared: list[str] = []
    for module in modules:
        assert module.__all__ == sorted(module.__all__)
        declared.extend(module.__all__)
    assert sorted(declared) == fx.__all__


def test_rate_names() -> None:
    for name in ("RateBook", "RateSet", "SourceState", "largest_move", "parse_ecb_xml"):
        assert name in fx.__all__
    assert not hasattr(fx, "StaticRateSource")
    assert "StaticRateSource" not in fx.__all__


def test_fx_imports_only_the_stdlib() -> None:
    import ast
    import sys
    from pathlib import Path

    package = Path(fx.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in sys.stdlib_module_names, f"{path.name} imports {root}"


def test_exception_tree() -> None:
    for leaf in (
        fx.UnsupportedCurrency,
        fx.InvalidAmount,
        fx.CurrencyMismatch,
        fx.RateUnavailable,
        fx.QuoteExpired,
    ):
        assert issubclass(leaf, fx.FXError)
    assert issubclass(fx.FXError, Exception)
