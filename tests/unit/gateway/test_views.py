"""Rendering cannot fail on text: what runs after a partner call must always produce an answer."""

from __future__ import annotations

import json

from gateway.core.render import dumps


def test_dumps_renders_any_str_as_ascii() -> None:
    # A row written before parsing refused such text (an unpaired surrogate, a NUL) still renders,
    # and the rendering encodes: at e0798dc its UTF-8 encoding raised after the partner charged.
    value = {"metadata": {"note": "caf\u00e9 \udfff \x00 \U0001f600"}}
    text = dumps(value)
    assert text.isascii()
    assert text.encode("utf-8")
    assert json.loads(text) == value
