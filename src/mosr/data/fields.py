"""Field sources: declarative rules that compute one record field from one row of a source file.

A registry entry maps each record field to a source. A plain string is a column name
(``"prompt"``) or a dotted path into nested JSON (``"messages.0.content"``). The classes
below cover every other rule the benchmarks need, so that adding a dataset means writing
a registry entry, not a new loader function.

Rows are plain dicts. Besides the file's own columns, the reader adds virtual columns.
``_row`` is the 0-based position in the file and ``_file`` the path relative to the data
folder. ``_key`` and ``_item`` are the key and position inside a JSON object of lists.
``_value`` is a JSON item that is not an object, or one line of a text file.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

VIRTUAL_COLUMNS = frozenset({"_row", "_file", "_key", "_item", "_value"})


class RowError(ValueError):
    """A row value that does not fit a rule. The builder adds the file and the record id to the message."""


def to_python(value: Any) -> Any:
    """Convert pandas and numpy values to plain Python values (NaN becomes None)."""
    if isinstance(value, np.ndarray):
        return [to_python(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {key: to_python(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(item) for item in value]
    return value


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Expr:
    """Base class of the field rules. Each subclass is a frozen dataclass."""

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def columns(self) -> set[str]:
        """Top-level columns the rule reads, so that a missing one is reported before any row is built."""
        raise NotImplementedError


Source = Union[str, Expr]


def as_expr(source: Source) -> Expr:
    return Col(source) if isinstance(source, str) else source


def columns_of(sources: Sequence[Source]) -> set[str]:
    names: set[str] = set()
    for source in sources:
        names |= as_expr(source).columns()
    return names


@dataclass(frozen=True)
class Col(Expr):
    """A column, or a dotted path into nested JSON where integer parts index lists."""

    path: str

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        head, *rest = self.path.split(".")
        value = to_python(row[head])
        for part in rest:
            if value is None:
                return None
            if isinstance(value, Mapping):
                if part not in value:
                    raise RowError(f"field '{self.path}' has no key '{part}' (keys: {', '.join(map(str, value))})")
                value = value[part]
            elif isinstance(value, list) and part.isdigit():
                index = int(part)
                if index >= len(value):
                    raise RowError(f"field '{self.path}' has {len(value)} items, so item {index} does not exist")
                value = value[index]
            else:
                raise RowError(f"cannot read '{part}' in field '{self.path}': the value is a {type(value).__name__}")
        return value

    def columns(self) -> set[str]:
        return {self.path.split(".")[0]}


@dataclass(frozen=True)
class Const(Expr):
    value: Any

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        return self.value

    def columns(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Format(Expr):
    """A ``str.format`` template over columns, e.g. ``"{model}:{id}"`` for a stable id."""

    template: str

    def _names(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        values = {name: "" if (value := to_python(row[name])) is None else value for name in self._names()}
        return self.template.format(**values)

    def columns(self) -> set[str]:
        return set(self._names())


@dataclass(frozen=True)
class JoinText(Expr):
    """Non-blank parts joined by a separator. A blank part is left out together with its separator."""

    parts: tuple[Source, ...]
    separator: str

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        texts = [as_expr(part).evaluate(row) for part in self.parts]
        return self.separator.join(str(text) for text in texts if not is_blank(text))

    def columns(self) -> set[str]:
        return columns_of(self.parts)


_REQUIRED = object()


@dataclass(frozen=True)
class MapValue(Expr):
    """A value translated through a table. With ``prefix=True`` the keys are prefixes, tried in order.

    A value that matches no key is an error unless a default is given, so that a new label
    in a file is reported instead of being silently mislabelled.
    """

    source: Source
    mapping: Mapping[str, Any]
    prefix: bool = False
    default: Any = _REQUIRED

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        value = as_expr(self.source).evaluate(row)
        key = "" if value is None else str(value)
        if self.prefix:
            for start, result in self.mapping.items():
                if key.startswith(start):
                    return result
        elif key in self.mapping:
            return self.mapping[key]
        if self.default is not _REQUIRED:
            return self.default
        expected = ", ".join(repr(option) for option in self.mapping)
        kind = "a value starting with one of" if self.prefix else "one of"
        raise RowError(f"unexpected value {value!r} in {describe(self.source)}; expected {kind} {expected}")

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


@dataclass(frozen=True)
class Majority(Expr):
    """True when more than half of the 0/1 votes are 1."""

    votes: tuple[Source, ...]

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        values = [as_expr(vote).evaluate(row) for vote in self.votes]
        try:
            ones = [int(value) for value in values]
        except (TypeError, ValueError):
            raise RowError(f"votes {values!r} in {', '.join(map(describe, self.votes))} are not all 0 or 1") from None
        if any(value not in (0, 1) for value in ones):
            raise RowError(f"votes {values!r} in {', '.join(map(describe, self.votes))} are not all 0 or 1")
        return 2 * sum(ones) > len(ones)

    def columns(self) -> set[str]:
        return columns_of(self.votes)


@dataclass(frozen=True)
class ListOf(Expr):
    """Several columns collected into one list, e.g. the answer options of a question."""

    items: tuple[Source, ...]

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        return [as_expr(item).evaluate(row) for item in self.items]

    def columns(self) -> set[str]:
        return columns_of(self.items)


@dataclass(frozen=True)
class Keys(Expr):
    """The keys of a JSON object, in file order."""

    source: Source

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        return list(_mapping_of(self.source, row).keys())

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


@dataclass(frozen=True)
class Values(Expr):
    """The values of a JSON object, in file order."""

    source: Source

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        return list(_mapping_of(self.source, row).values())

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


def _mapping_of(source: Source, row: Mapping[str, Any]) -> Mapping[str, Any]:
    value = as_expr(source).evaluate(row)
    if not isinstance(value, Mapping):
        raise RowError(f"{describe(source)} should be a JSON object but is {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PositionOf(Expr):
    """The 0-based position of a value inside a list, e.g. an answer key among the option labels."""

    value: Source
    within: Source

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        wanted = as_expr(self.value).evaluate(row)
        options = as_expr(self.within).evaluate(row)
        if not isinstance(options, list):
            raise RowError(f"{describe(self.within)} should be a list but is {type(options).__name__}")
        matches = [index for index, option in enumerate(options) if option == wanted]
        if len(matches) != 1:
            found = "is not among" if not matches else "occurs more than once in"
            raise RowError(f"{wanted!r} {found} {options!r} ({describe(self.within)})")
        return matches[0]

    def columns(self) -> set[str]:
        return columns_of((self.value, self.within))


@dataclass(frozen=True)
class Coalesce(Expr):
    """The first non-blank value."""

    options: tuple[Source, ...]

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        for option in self.options:
            value = as_expr(option).evaluate(row)
            if not is_blank(value):
                return value
        return None

    def columns(self) -> set[str]:
        return columns_of(self.options)


@dataclass(frozen=True)
class RemoveSuffix(Expr):
    source: Source
    suffix: str

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        value = as_expr(self.source).evaluate(row)
        return value.removesuffix(self.suffix) if isinstance(value, str) else value

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


@dataclass(frozen=True)
class TextAfter(Expr):
    """The stripped text after the last marker, or None where the marker is missing."""

    source: Source
    marker: str

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        value = as_expr(self.source).evaluate(row)
        if not isinstance(value, str) or self.marker not in value:
            return None
        return value.rsplit(self.marker, 1)[1].strip()

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


@dataclass(frozen=True)
class When(Expr):
    """``then`` where ``condition`` equals ``equals``, else None."""

    condition: Source
    equals: Any
    then: Source

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        if as_expr(self.condition).evaluate(row) != self.equals:
            return None
        return as_expr(self.then).evaluate(row)

    def columns(self) -> set[str]:
        return columns_of((self.condition, self.then))


@dataclass(frozen=True)
class ToInt(Expr):
    source: Source

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        value = as_expr(self.source).evaluate(row)
        try:
            return int(str(value).strip())
        except ValueError:
            raise RowError(f"{describe(self.source)} should be an integer but is {value!r}") from None

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


@dataclass(frozen=True)
class WithPlaceholder(Expr):
    """A jailbreak template with its request slot rewritten to ``placeholder``.

    Templates that have no slot get ``separator + placeholder`` appended, so the request
    follows the jailbreak text.
    """

    source: Source
    original: str
    placeholder: str
    separator: str = "\n\n"

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        template = as_expr(self.source).evaluate(row)
        if not isinstance(template, str):
            raise RowError(f"{describe(self.source)} should be text but is {type(template).__name__}")
        if self.original in template:
            return template.replace(self.original, self.placeholder)
        return template.rstrip() + self.separator + self.placeholder

    def columns(self) -> set[str]:
        return as_expr(self.source).columns()


@dataclass(frozen=True)
class AdversarialSuffix(Expr):
    """The optimised suffix of a suffix attack, or None for attacks that rewrite the whole prompt.

    ``goal_prefix_attacks`` name attacks whose prompt is the goal followed by the suffix.
    ``marker_attacks`` maps an attack to the fixed text that ends its prompt template, after
    which the suffix starts. A prompt that does not have the expected shape (for example a
    GCG prompt whose goal was shortened) gets None rather than a wrong suffix. The suffix
    keeps its leading whitespace, so for goal-prefix attacks ``goal + suffix == prompt``.
    """

    prompt: Source
    goal: Source
    attack: Source
    goal_prefix_attacks: tuple[str, ...] = ()
    marker_attacks: Mapping[str, str] = field(default_factory=dict)

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        prompt = as_expr(self.prompt).evaluate(row)
        goal = as_expr(self.goal).evaluate(row)
        attack = as_expr(self.attack).evaluate(row)
        if not isinstance(prompt, str):
            return None
        suffix: str | None = None
        if attack in self.goal_prefix_attacks and isinstance(goal, str) and prompt.startswith(goal):
            suffix = prompt[len(goal) :]
        elif attack in self.marker_attacks and self.marker_attacks[attack] in prompt:
            suffix = prompt.rsplit(self.marker_attacks[attack], 1)[1]
        if suffix is None or not suffix.strip():
            return None
        return suffix

    def columns(self) -> set[str]:
        return columns_of((self.prompt, self.goal, self.attack))


def describe(source: Source) -> str:
    """Name a source in messages: a column as ``column 'x'``, a rule by its class."""
    expr = as_expr(source)
    if isinstance(expr, Col):
        return f"column '{expr.path}'"
    return type(expr).__name__
