"""The merchant API's bodies as types: what requests may hold and what answers hold.

Answers are `TypedDict`s that the views return (`payment_view -> Payment`, ...), so mypy holds
every view to its declared shape; requests are `TypedDict`s whose fields, required-ness and
limits `gateway/api/parsing.py` checks bodies against. The OpenAPI document's
`components/schemas` are generated from these same types (`_schema.component_schemas`), so the
document describes what the code does rather than what someone remembered to write down.

One module per resource, plus `common` (money, identifiers, metadata, timestamps). A class's
docstring is its description in the document: it is written for the API's users. These modules
hold no behaviour and import nothing of the service beyond the enums whose values they list;
modules that render (the views) import them only for type checking. No
`from __future__ import annotations` here: `NotRequired` must be seen when a class is made for
`__required_keys__` to be right.
"""
