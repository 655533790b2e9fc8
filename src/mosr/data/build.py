"""Turn a registry entry and its files into records, collecting every problem instead of stopping at the first."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from mosr.data.fields import RowError, Source, as_expr, is_blank, to_python
from mosr.data.readers import read_table
from mosr.data.records import Record
from mosr.data.spec import DatasetSpec, Lookup
from mosr.errors import DataError

GLOB_CHARACTERS = frozenset("*?[")
# Problems listed in one error message. The rest are only counted.
MAX_LISTED_PROBLEMS = 10


@dataclass
class BuildResult:
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def resolve_files(spec: DatasetSpec, data_dir: Path) -> list[tuple[Path, str]]:
    """List the dataset's files as (absolute path, path relative to the data folder), in sorted order."""
    found: list[tuple[Path, str]] = []
    for pattern in spec.files:
        if GLOB_CHARACTERS & set(pattern):
            matches = sorted(path for path in data_dir.glob(pattern) if path.is_file())
            if not matches:
                raise DataError(f"{spec.name}: no file matches {pattern} in the data folder {data_dir}. {_folder_hint(spec)}")
            found.extend((path, path.relative_to(data_dir).as_posix()) for path in matches)
        else:
            path = data_dir / pattern
            if not path.is_file():
                raise DataError(f"{spec.name}: file {pattern} not found in the data folder {data_dir}. {_folder_hint(spec)}")
            found.append((path, pattern))
    return found


def _folder_hint(spec: DatasetSpec) -> str:
    folder = spec.files[0].split("/")[0]
    return f"Check that --data-dir or MOSR_DATA_DIR points at the benchmark folder that holds {folder}/"


def read_dataset_frame(
    spec: DatasetSpec,
    data_dir: Path,
    encoding: str | None = None,
    files: list[tuple[Path, str]] | None = None,
) -> pd.DataFrame:
    """Read, check and concatenate the dataset's files, add derived columns, and apply the row filters."""
    frames = []
    for path, relative in files if files is not None else resolve_files(spec, data_dir):
        frame = read_table(path, spec.format, encoding, spec.json_path, spec.json_layout)
        frame["_file"] = relative
        _add_path_columns(spec, frame, relative)
        for aligned in spec.aligned:
            values = read_table(data_dir / aligned.path, "lines", encoding)["_value"]
            if len(values) != len(frame):
                raise DataError(
                    f"{data_dir / aligned.path} has {len(values)} lines but {path} has {len(frame)} rows; "
                    "the two files must be line-aligned"
                )
            frame[aligned.column] = values.to_numpy()
        check_columns(spec, frame, path)
        frames.append(frame)

    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for lookup in spec.lookups:
        table = _lookup_table(lookup, data_dir, encoding)
        combined[lookup.column] = [table.get(to_python(key)) for key in combined[lookup.key]]
    for row_filter in spec.filters:
        combined = row_filter.apply(combined)
    return combined


def check_columns(spec: DatasetSpec, frame: pd.DataFrame, path: Path) -> None:
    """Raise a DataError naming every column the entry needs that the file lacks."""
    present = [str(column) for column in frame.columns if not str(column).startswith("_")]
    missing = sorted(spec.required_columns() - set(frame.columns))
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise DataError(
            f"{path}: missing column {names} needed by dataset {spec.name}; columns present: "
            f"{', '.join(present) or 'none'}. Rename the column in the file or pass the matching file"
        )


def _add_path_columns(spec: DatasetSpec, frame: pd.DataFrame, relative: str) -> None:
    if not spec.path_pattern:
        return
    match = re.search(spec.path_pattern, relative)
    if match is None:
        raise DataError(f"{spec.name}: file name {relative} does not match the pattern {spec.path_pattern}")
    for name, value in match.groupdict().items():
        frame[name] = value


def _lookup_table(lookup: Lookup, data_dir: Path, encoding: str | None) -> dict[Any, Any]:
    path = data_dir / lookup.path
    table = read_table(path, lookup.format, encoding)
    key_column = lookup.table_key or "_key"
    value_column = lookup.table_value or "_value"
    for column in (key_column, value_column):
        if column not in table.columns:
            present = ", ".join(str(name) for name in table.columns if not str(name).startswith("_"))
            raise DataError(f"{path}: missing column {column!r} needed for the lookup of {lookup.column}; columns present: {present}")
    return {to_python(key): to_python(value) for key, value in zip(table[key_column], table[value_column], strict=True)}


def build_records(
    spec: DatasetSpec,
    frame: pd.DataFrame,
    fields: Mapping[str, Source] | None = None,
    id_source: Source | None = None,
) -> BuildResult:
    """Build one record per row. A row that breaks a rule becomes a problem, never a silent drop."""
    record_type = spec.record_type
    field_rules = {name: as_expr(source) for name, source in (fields or spec.fields).items()}
    group = spec.group_expr()
    if group is not None:
        field_rules["group"] = group
    meta_rules = {name: as_expr(source) for name, source in spec.meta.items()}
    id_rule = as_expr(id_source or spec.id)
    required_lookups = [lookup for lookup in spec.lookups if lookup.required]

    result = BuildResult()
    seen: dict[str, str] = {}
    for row in frame.to_dict("records"):
        where = _describe_row(row)
        missing = [lookup for lookup in required_lookups if row.get(lookup.column) is None]
        if missing:
            for lookup in missing:
                key = to_python(row.get(lookup.key))
                result.problems.append(f"{where}: no {lookup.column} for {lookup.key} {key!r} in {lookup.path}")
            continue
        try:
            record_id = f"{spec.name}:{id_rule.evaluate(row)}"
            values = {name: rule.evaluate(row) for name, rule in field_rules.items()}
            if meta_rules:
                values["meta"] = {name: rule.evaluate(row) for name, rule in meta_rules.items()}
        except RowError as error:
            result.problems.append(f"{where}: {error}")
            continue

        text = values.get(spec.text_field)
        if isinstance(text, str):
            values[spec.text_field] = text = text.strip()
        if is_blank(text):
            result.problems.append(f"{where} (id {record_id}): empty or whitespace-only {spec.text_field}")
            continue
        if record_id in seen:
            result.problems.append(f"duplicate id {record_id}: {seen[record_id]} and {where}")
            continue
        seen[record_id] = where

        try:
            result.records.append(record_type(id=record_id, source=spec.name, **values))
        except ValidationError as error:
            details = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
            result.problems.append(f"{where} (id {record_id}): invalid record ({details})")
    return result


def _describe_row(row: Mapping[str, Any]) -> str:
    if "_key" in row and "_item" in row and row.get("_item") is not None:
        return f"{row['_file']}, key {row['_key']!r} item {row['_item']}"
    return f"{row['_file']}, data row {int(row['_row']) + 1}"


def problems_message(subject: str, problems: list[str]) -> str:
    """Format one error message that lists the first problems and counts the rest."""
    listed = "\n".join(f"  - {problem}" for problem in problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return f"{subject}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the data:\n{listed}{tail}"
