"""How the wire types become JSON Schemas for the OpenAPI document's `components/schemas`.

Pydantic generates them; three adjustments keep the document what the API promised:
- no `title`s: pydantic derives one from every class and field name, which says nothing the name
  does not, and fills the document with noise;
- a dictionary's key pattern is a `propertyNames` rule: pydantic writes it as `patternProperties`,
  which would let keys that miss the pattern through unchecked (metadata keys must hold no NUL);
- `named(...)` gives a plain annotated type (an identifier, the metadata map) a component of its
  own, so each field using it is a `$ref` rather than a copy that could drift.
"""

import re
from typing import Any

from pydantic import GetCoreSchemaHandler, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = ["REF_TEMPLATE", "component_schemas", "named"]

REF_TEMPLATE = "#/components/schemas/{model}"


class named:  # a marker, used like a type: `Annotated[str, named("Identifier")]`
    """Annotation marker: the annotated type is the component `name`, referred to by `$ref`.

    `schema` is added to the component (`description=...`, `enum=[...]`): a `Field(...)` beside
    it would describe each field using the type instead (constraints such as `pattern` do reach
    the component)."""

    __slots__ = ("name", "schema")

    def __init__(self, name: str, **schema: Any) -> None:
        self.name = name
        self.schema = schema

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema: dict[str, Any] = {**handler(source), "ref": self.name}
        if self.schema:
            metadata = dict(schema.get("metadata") or {})
            updates = {**metadata.get("pydantic_js_updates", {}), **self.schema}
            schema["metadata"] = {**metadata, "pydantic_js_updates": updates}
        return schema


class _Generator(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        patterns = json_schema.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            json_schema["additionalProperties"] = values
            json_schema.setdefault("propertyNames", {})["pattern"] = pattern
        return json_schema


_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")


def _tidied(node: Any) -> Any:
    """Every schema node without its `title`, and descriptions unwrapped (a docstring's line
    breaks are its source's, not the text's). A property named `title` or `description` maps to
    a schema, not a string, so it is left alone."""
    if isinstance(node, dict):
        return {
            key: _LINE_BREAK.sub(" ", value)
            if key == "description" and isinstance(value, str)
            else _tidied(value)
            for key, value in node.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_tidied(item) for item in node]
    return node


def component_schemas(*types: Any) -> dict[str, Any]:
    """The named schemas of `types` and of everything they refer to, keyed by component name.

    Every type given must have a name of its own (a TypedDict, or `named(...)`): one generator
    sees them all, so two types of the same name fail loudly instead of overwriting each other.
    """
    generator = _Generator(ref_template=REF_TEMPLATE)
    inputs = [(index, "validation", TypeAdapter(t).core_schema) for index, t in enumerate(types)]
    top, definitions = generator.generate_definitions(inputs)  # type: ignore[arg-type]
    for (index, _), schema in top.items():
        if "$ref" not in schema:
            raise TypeError(f"{types[index]!r} has no component name: use a TypedDict or named()")
    for name in definitions:
        if "__" in name:  # pydantic qualifies a name used twice: `gateway__api__...__Name`
            raise TypeError(f"two wire types are both named like {name!r}")
    result: dict[str, Any] = _tidied(definitions)
    return result
