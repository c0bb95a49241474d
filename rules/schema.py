"""Stage 2, validate: JSON Schema (draft 2020-12), every error located.

Each schema error becomes a :class:`Diagnostic` with code
``schema_<keyword>`` (``schema_additionalProperties``, ``schema_enum``...),
the JSON path of the offending value, and the ``line:column`` where it was
written (or where its nearest written parent was). Schemas may carry an
``x-message`` annotation: a sentence for people that replaces the generic
message of the failing keyword, and an ``x-code`` annotation that replaces
the ``schema_<keyword>`` code (a metric outside the catalog's enum is an
``unknown_metric``, like a rule naming an undeclared metric use). Editors
read the ``errorMessage`` written beside each ``x-message`` instead.

The three document schemas have no ``$id``: their cross-file references
(``rule-pack.schema.json#/$defs/date``) resolve against the files' own
location, so check-jsonschema and the YAML language server read them as
shipped. Here each schema is registered under its file name, which is what
those references resolve to from a schema without an ``$id``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from .diagnostics import Diagnostic
from .jsonpath import child_path, join_path
from .loader import LoadedDocument, yaml11_reading
from .suggest import did_you_mean

#: The schema file of each document kind.
SCHEMA_FILES: Mapping[str, str] = {
    "PolicyPack": "rule-pack.schema.json",
    "PolicyExemption": "exemption.schema.json",
    "PackTest": "pack-test.schema.json",
}

_JSON_TYPES: Mapping[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def load_schema(file_name: str) -> dict[str, Any]:
    """A schema shipped in ``sellerpolicy.schemas``, parsed."""
    text = resources.files("sellerpolicy.schemas").joinpath(file_name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resources(
        (name, Resource.from_contents(load_schema(name))) for name in SCHEMA_FILES.values()
    )
    return Draft202012Validator(load_schema(SCHEMA_FILES[kind]), registry=registry)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _listed(error: ValidationError) -> list[Any]:
    value = error.validator_value
    return list(value) if isinstance(value, list | tuple) else []


class _Reporter:
    """Turns jsonschema errors into diagnostics for one document."""

    def __init__(self, document: LoadedDocument) -> None:
        self.document = document

    def at(
        self, path: str, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        where = self.document.locate(path, key=key)
        return Diagnostic(self.document.file, where.line, where.column, code, path, message, hint)

    def convert(self, error: ValidationError) -> Iterator[Diagnostic]:
        path = join_path(error.absolute_path)
        keyword = str(error.validator)
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        code = str(schema.get("x-code", f"schema_{keyword}"))
        custom = schema.get("x-message")
        instance = error.instance
        if "propertyNames" in error.relative_schema_path:
            name_path = child_path(path, str(instance))
            reason = custom or error.message
            yield self.at(name_path, code, f"bad key {instance!r}: {reason}", key=True)
            return
        if keyword == "additionalProperties" and isinstance(instance, Mapping):
            allowed = sorted(schema.get("properties", {}))
            patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
            for name in instance:
                if name in allowed or any(p.search(name) for p in patterns):
                    continue
                hint = did_you_mean(name, allowed) or f"allowed keys: {', '.join(allowed)}"
                yield self.at(child_path(path, name), code, f"unknown key {name!r}", hint, key=True)
            return
        yield self.at(
            path, code, self.message(error, keyword, custom), self.hint(error, keyword, custom)
        )

    @staticmethod
    def message(error: ValidationError, keyword: str, custom: str | None) -> str:
        instance = error.instance
        if keyword in ("pattern", "enum") and custom:
            return f"{_short(instance)}: {custom}"
        if custom and keyword != "type":
            return str(custom)
        if keyword == "required":
            return f"missing required key {error.message.split(' is a required')[0]}"
        if keyword == "const":
            return f"expected {error.validator_value!r}, got {_short(instance)}"
        if keyword == "enum":
            allowed = ", ".join(repr(v) for v in _listed(error))
            return f"{_short(instance)} is not one of {allowed}"
        if keyword == "type":
            expected = error.validator_value
            wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
            return f"expected {wanted}, got {_type_name(instance)} {_short(instance)}"
        if keyword == "pattern":
            return f"{_short(instance)} does not match {error.validator_value}"
        return error.message

    @staticmethod
    def hint(error: ValidationError, keyword: str, custom: str | None) -> str | None:
        if keyword in ("type", "anyOf") and isinstance(error.instance, str):
            older = yaml11_reading(error.instance)
            if not isinstance(older, str):
                return (
                    f"YAML 1.2 reads {error.instance} as text; "
                    f"YAML 1.1 read it as {json.dumps(older)}"
                )
        if keyword == "type" and custom:
            return custom
        if keyword == "enum" and isinstance(error.instance, str):
            choices = [str(v) for v in _listed(error)]
            return did_you_mean(error.instance, choices)
        return None


def validate_schema(document: LoadedDocument, kind: str) -> list[Diagnostic]:
    """Every schema error of ``document`` against the schema of ``kind``.

    Two keywords of one subschema that fail with the same ``x-message`` at the
    same place are one problem, reported once.
    """
    reporter = _Reporter(document)
    found: dict[tuple[str, str], Diagnostic] = {}
    for error in _validator(kind).iter_errors(document.data):
        for diagnostic in reporter.convert(error):
            key = (diagnostic.json_path, diagnostic.message)
            if key not in found or diagnostic < found[key]:
                found[key] = diagnostic
    return sorted(found.values())
