"""Explanation templates: one parser for validation and rendering.

A template is text with replacement fields in ``str.format`` syntax, limited
to what a pack author needs and nothing an attacker could use:

* a field names one of :data:`FIELDS` exactly: no attribute access
  (``{value.__class__}``), no indexing (``{value[0]}``), no conversion
  (``{value!r}``), no nested field in a format spec (``{value:{width}}``);
* a format spec is the standard mini-language
  (``[[fill]align][sign][z][#][0][width][grouping][.precision][type]``) with
  width and precision at most :data:`MAX_WIDTH`, and it must apply to every
  value its field can hold (a number spec to an integer and to a fraction,
  a text spec to text);
* the template itself is at most :data:`MAX_TEMPLATE` characters, and a
  rendered text at most :data:`MAX_RENDERED` (longer output is cut).

:func:`parse_template` returns the parsed :class:`Template` or the problems
found; the validator reports those problems and the renderer only ever sees
templates that parsed, so what validates renders. :func:`render` cannot
raise: a value that refuses its spec (a missing number) makes it return
``None``, and the caller writes its plain sentence instead.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from .suggest import did_you_mean

__all__ = [
    "FIELDS",
    "MAX_RENDERED",
    "MAX_TEMPLATE",
    "MAX_WIDTH",
    "FieldKind",
    "Literal",
    "Slot",
    "Template",
    "TemplateProblem",
    "bounded",
    "compile_template",
    "parse_template",
    "render",
]


class FieldKind(Enum):
    """What a field holds, which decides the format specs it accepts."""

    COUNT = "count"  # a whole number of orders, messages...
    NUMBER = "number"  # an integer or a fraction (a rate, a threshold, days)
    TEXT = "text"


#: Fields an explanation template may name (docs/pack-format.md), and their kinds.
FIELDS: Mapping[str, FieldKind] = {
    "value": FieldKind.NUMBER,
    "threshold": FieldKind.NUMBER,
    "num": FieldKind.COUNT,
    "den": FieldKind.COUNT,
    "metric": FieldKind.TEXT,
    "window_start": FieldKind.TEXT,
    "window_end": FieldKind.TEXT,
    "window_days": FieldKind.NUMBER,
    "rule": FieldKind.TEXT,
    "title": FieldKind.TEXT,
    "seller_id": FieldKind.TEXT,
    "as_of": FieldKind.TEXT,
    "orders": FieldKind.COUNT,
}

MAX_WIDTH = 64
MAX_TEMPLATE = 1_000
MAX_RENDERED = 2_000
_ELLIPSIS = "…"

# The format-spec mini-language, anchored; the fill may be any character but a brace.
_SPEC = re.compile(
    r"(?:(?P<fill>[^{}])?(?P<align>[<>=^]))?"
    r"(?P<sign>[-+ ])?z?#?0?"
    r"(?P<width>\d+)?[,_]?"
    r"(?:\.(?P<precision>\d+))?"
    r"(?P<type>[bcdeEfFgGnosxX%])?",
    re.DOTALL,
)
# A spec must apply to each of these samples of its field's kind.
_SAMPLES: Mapping[FieldKind, tuple[object, ...]] = {
    FieldKind.COUNT: (3, 2_000),
    FieldKind.NUMBER: (3, 0.0135),
    FieldKind.TEXT: ("x",),
}


@dataclass(frozen=True, slots=True)
class Literal:
    """Text copied as it is (``{{`` and ``}}`` already unescaped)."""

    text: str


@dataclass(frozen=True, slots=True)
class Slot:
    """A replacement field: a documented name and a checked format spec."""

    name: str
    spec: str
    kind: FieldKind


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literals and slots, in order."""

    source: str
    parts: tuple[Literal | Slot, ...]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """Why a template is refused: a diagnostic code, a message and a hint."""

    code: str
    message: str
    hint: str | None = None


def parse_template(text: str) -> Template | list[TemplateProblem]:
    """The parsed template, or every problem that refuses it."""
    if len(text) > MAX_TEMPLATE:
        return [
            TemplateProblem(
                "bad_template",
                f"a template is at most {MAX_TEMPLATE:,} characters (this one has {len(text):,})",
            )
        ]
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [TemplateProblem("bad_template", f"not a valid template: {exc}", _BRACES)]
    parts: list[Literal | Slot] = []
    problems: list[TemplateProblem] = []
    for literal, name, spec, conversion in pieces:
        if literal:
            parts.append(Literal(literal))
        if name is None:
            continue
        slot = _slot(name, spec or "", conversion, problems)
        if slot is not None:
            parts.append(slot)
    if problems:
        return problems
    return Template(text, tuple(parts))


_BRACES = "write '{{' for '{' and '}}' for '}'"


def _slot(
    name: str, spec: str, conversion: str | None, problems: list[TemplateProblem]
) -> Slot | None:
    base = re.split(r"[.\[]", name, maxsplit=1)[0]
    kind = FIELDS.get(base)
    if kind is None:
        hint = did_you_mean(base, list(FIELDS)) or f"fields: {', '.join(FIELDS)}"
        problems.append(
            TemplateProblem("unknown_template_field", f"unknown field {base or '{}'!r}", hint)
        )
        return None
    if name != base:
        problems.append(
            TemplateProblem(
                "bad_template",
                f"field {name!r}: a field is a plain name, without '.' or '[...]'",
                f"write {{{base}}}",
            )
        )
        return None
    if conversion is not None:
        problems.append(
            TemplateProblem(
                "bad_template",
                f"field {name!r}: conversions such as '!{conversion}' are not allowed",
                f"write {{{name}}} or {{{name}:spec}}",
            )
        )
        return None
    problem = _spec_problem(name, spec, kind)
    if problem is not None:
        problems.append(problem)
        return None
    return Slot(name, spec, kind)


def _spec_problem(name: str, spec: str, kind: FieldKind) -> TemplateProblem | None:
    if not spec:
        return None
    if "{" in spec or "}" in spec:
        return TemplateProblem(
            "bad_template", f"field {name!r}: a format spec cannot hold another field"
        )
    matched = _SPEC.fullmatch(spec)
    if matched is None:
        return TemplateProblem("bad_template", f"format spec {spec!r} is not a format spec")
    for part in ("width", "precision"):
        size = matched.group(part)
        if size is not None and int(size) > MAX_WIDTH:
            return TemplateProblem(
                "bad_template",
                f"format spec {spec!r}: {part} {int(size):,} is above {MAX_WIDTH}",
            )
    for sample in _SAMPLES[kind]:
        try:
            format(sample, spec)
        except (ValueError, TypeError):
            what = {
                FieldKind.COUNT: "a count",
                FieldKind.NUMBER: "an integer and a fraction",
                FieldKind.TEXT: "text",
            }[kind]
            return TemplateProblem(
                "bad_template",
                f"format spec {spec!r} does not apply to field {name!r} (it holds {what})",
            )
    return None


@lru_cache(maxsize=512)
def compile_template(text: str) -> Template | None:
    """The parsed template, or ``None`` when it does not validate (cached)."""
    parsed = parse_template(text)
    return parsed if isinstance(parsed, Template) else None


def bounded(text: str) -> str:
    """``text`` cut to :data:`MAX_RENDERED` characters (the cut marked with an ellipsis)."""
    if len(text) <= MAX_RENDERED:
        return text
    return text[: MAX_RENDERED - len(_ELLIPSIS)] + _ELLIPSIS


def render(template: Template, fields: Mapping[str, object]) -> str | None:
    """Fill ``template`` from ``fields``: at most :data:`MAX_RENDERED` characters.

    Values are formatted with :func:`format` only, so a value's own
    ``__format__`` decides its default text (the engine passes numbers that
    format themselves for people). ``None`` when a value refuses its spec (a
    missing number under ``{value:.2%}``): the caller then writes its plain
    sentence. It never raises. A field missing from ``fields`` is empty.
    """
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, Literal):
            out.append(part.text)
        elif part.name in fields:
            try:
                out.append(format(fields[part.name], part.spec))
            except (ValueError, TypeError, OverflowError):
                return None
    return bounded("".join(out))
