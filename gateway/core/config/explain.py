"""Pydantic's validation errors as an operator reads them: the dotted TOML key, what is wrong,
and how to fix it (a misplaced section, a bound, a typo with its closest valid name)."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Mapping
from typing import (
    Annotated,
    Any,
    Union,
    get_args,
    get_origin,
)

from pydantic import (
    BaseModel,
)

from gateway.core.config.layout import PARTNERS_DIR, WALLETS_FILE
from gateway.core.config.sections import _Sections

_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out += part
        else:
            text = part if _TOML_BARE_KEY.fullmatch(part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class validating the table at `loc`, to list the keys it allows."""
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif origin in (dict, Mapping):
            annotation = get_args(annotation)[1]
        elif origin in (list, tuple):
            annotation = get_args(annotation)[0]
        else:
            return None
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


_MISPLACED = {
    "wallets": f"wallets belong in {WALLETS_FILE}",
    "partners": f"partners belong in {PARTNERS_DIR}/<id>.toml, one file each",
    "profile": "choose the profile with GATEWAY_PROFILE or the --profile option",
    "config_dir": "choose the directory with GATEWAY_CONFIG_DIR",
}


_BOUNDS = {
    "greater_than_equal": ("of at least", "ge"),
    "greater_than": ("greater than", "gt"),
    "less_than_equal": ("of at most", "le"),
    "less_than": ("less than", "lt"),
}


_FIXES = {
    "int_type": "write a whole number without quotes, e.g. 100",
    "int_parsing": "write a whole number without quotes, e.g. 100",
    "int_from_float": "write a whole number, e.g. 100",
    "string_type": 'write a quoted string, e.g. "value"',
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "dict_type": "write a table, e.g. [section] followed by key = value lines",
    "model_type": "write a table, e.g. [section] followed by key = value lines",
    "list_type": 'write an array, e.g. ["a", "b"]',
    "tuple_type": 'write an array, e.g. ["a", "b"]',
    "string_too_short": "write a non-empty string",
    "path_type": 'write a path as a string, e.g. "data/rates.xml"',
}


def _describe(
    error: Mapping[str, Any], root: type[BaseModel], loc: tuple[int | str, ...]
) -> tuple[str, str, tuple[int | str, ...]]:
    """message, fix and the (possibly refined) location of one pydantic error."""
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    last = str(loc[-1]) if loc else ""
    if kind == "gateway_config":
        extra = ctx.get("key") or ""
        refined = loc + tuple(_split_key(extra)) if extra else loc
        return str(ctx["message"]), str(ctx["fix"]), refined
    if kind == "missing":
        parent = _dotted(loc[:-1])
        return "is required", f"add {last}" + (f" under [{parent}]" if parent else ""), loc
    if kind == "extra_forbidden":
        if len(loc) == 1 and last in _MISPLACED and root is _Sections:
            return f"'{last}' does not belong in this file", _MISPLACED[last], loc
        model = _model_at(root, loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(last, allowed, n=1)
        if close:
            fix = f"did you mean '{close[0]}'?"
        elif allowed:
            fix = f"remove it; the keys allowed here are {', '.join(allowed)}"
        else:
            fix = "remove it"
        return f"'{last}' is not a known key", fix, loc
    message = str(error["msg"])
    value = error.get("input")
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 32):
        message += f" (got {value!r})"
    if kind in _BOUNDS:
        words, bound = _BOUNDS[kind]
        fix = f"use a value {words} {ctx.get(bound)}"
    elif kind == "too_short":
        message = f"needs at least {ctx.get('min_length', 1)} item(s)"
        fix = "add them"
    elif kind == "literal_error":
        fix = f"use one of {ctx.get('expected')}"
    else:
        fix = _FIXES.get(kind, "compare with the files shipped under configs/")
    return message, fix, loc


def _split_key(key: str) -> list[int | str]:
    parts: list[int | str] = []
    for piece in key.split("."):
        name, _, indexes = piece.partition("[")
        if name:
            parts.append(name)
        if indexes:
            parts.extend(int(i) for i in re.findall(r"\d+", indexes))
    return parts


def _lookup(tree: Mapping[str, Any], loc: tuple[int | str, ...]) -> bool:
    """True when the overlay `tree` supplies the value at `loc`, itself or by replacing a parent."""
    node: Any = tree
    for part in loc:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True
