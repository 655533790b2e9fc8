"""Dataset specifications: what a registry entry declares about one benchmark."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from mosr.data.fields import Col, Const, Expr, Source, columns_of, describe
from mosr.data.records import (
    AttackArtifact,
    Group,
    JailbreakTemplate,
    LabelledCompletion,
    MultipleChoiceRecord,
    PromptRecord,
    Record,
)

Kind = Literal["prompts", "multiple_choice", "labelled_completions", "templates", "artifacts"]
FileFormat = Literal["csv", "json", "jsonl", "lines"]

RECORD_TYPES: dict[str, type[Record]] = {
    "prompts": PromptRecord,
    "multiple_choice": MultipleChoiceRecord,
    "labelled_completions": LabelledCompletion,
    "templates": JailbreakTemplate,
    "artifacts": AttackArtifact,
}

# The field that must hold non-blank text in every record of a kind.
TEXT_FIELDS: dict[str, str] = {
    "prompts": "text",
    "multiple_choice": "question",
    "labelled_completions": "prompt",
    "templates": "template",
    "artifacts": "prompt",
}


@dataclass(frozen=True)
class RowFilter:
    """A row filter: keep the rows whose ``column`` is one of ``values``, or with ``not_null`` the rows where it is set."""

    column: str
    values: tuple[Any, ...] = ()
    not_null: bool = False

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        keep = pd.Series(True, index=frame.index)
        if self.values:
            keep &= frame[self.column].isin(self.values)
        if self.not_null:
            keep &= frame[self.column].notna()
        return frame[keep]

    def describe(self) -> str:
        parts = []
        if self.values:
            parts.append(f"{self.column} in {list(self.values)}")
        if self.not_null:
            parts.append(f"{self.column} is set")
        return " and ".join(parts)


@dataclass(frozen=True)
class Lookup:
    """A column filled from another file by key, e.g. HarmBench target strings by BehaviorID.

    A JSON object file maps key to value directly. For a table (CSV or a JSON list of
    objects) name the key and value columns with ``table_key`` and ``table_value``.
    """

    column: str
    path: str
    format: FileFormat
    key: str
    table_key: str | None = None
    table_value: str | None = None
    required: bool = True


@dataclass(frozen=True)
class AlignedFile:
    """A column read from a file with one value per line, aligned with the rows of the main file."""

    column: str
    path: str


@dataclass(frozen=True)
class HubSource:
    """Where the same benchmark lives on the Hugging Face Hub, and how its columns differ from the local files.

    ``rename`` maps Hub column names to the local ones, so that the local field rules apply.
    ``fields`` and ``id`` replace local rules where the Hub layout differs in shape.
    """

    repo_id: str
    config: str | None = None
    split: str = "train"
    rename: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, Source] = field(default_factory=dict)
    id: Source | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry: the files of a benchmark and how their rows become records.

    ``files`` are paths relative to the data folder. Glob patterns select several files,
    read in sorted order. ``path_pattern`` is a regular expression with named groups,
    matched against each file's relative path, whose groups become columns (the model name
    in a file name, for example). ``id`` gives the source id; the record id is
    ``<name>:<source id>``. ``group`` is a fixed group or a rule over the row.
    ``expected_rows`` is the record count stated by the benchmark's documentation.
    """

    name: str
    kind: Kind
    description: str
    licence: str
    files: tuple[str, ...]
    format: FileFormat
    fields: Mapping[str, Source]
    id: Source = Col("_row")
    group: Group | Expr | None = None
    meta: Mapping[str, Source] = field(default_factory=dict)
    json_path: tuple[str, ...] = ()
    json_layout: Literal["records", "grouped"] = "records"
    path_pattern: str | None = None
    filters: tuple[RowFilter, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    aligned: tuple[AlignedFile, ...] = ()
    expected_rows: int | None = None
    hub: HubSource | None = None

    @property
    def record_type(self) -> type[Record]:
        return RECORD_TYPES[self.kind]

    @property
    def text_field(self) -> str:
        return TEXT_FIELDS[self.kind]

    def group_expr(self) -> Expr | None:
        if self.group is None:
            return None
        return Const(self.group) if isinstance(self.group, str) else self.group

    def all_sources(self, fields: Mapping[str, Source] | None = None, id: Source | None = None) -> list[Source]:
        sources: list[Source] = [*(fields or self.fields).values(), *self.meta.values(), id or self.id]
        group = self.group_expr()
        if group is not None:
            sources.append(group)
        return sources

    def required_columns(self) -> set[str]:
        """Columns every source file must have (virtual, path and looked-up columns excluded)."""
        provided = {lookup.column for lookup in self.lookups} | {aligned.column for aligned in self.aligned}
        needed = columns_of(self.all_sources()) | {row_filter.column for row_filter in self.filters}
        needed |= {lookup.key for lookup in self.lookups}
        return needed - provided - self.path_columns()

    def path_columns(self) -> set[str]:
        if not self.path_pattern:
            return set()
        return set(re.compile(self.path_pattern).groupindex)

    def describe_group(self) -> str:
        group = self.group_expr()
        if group is None:
            return "-"
        if isinstance(group, Const):
            return str(group.value)
        return f"by {', '.join(sorted(group.columns())) or describe(group)}"
