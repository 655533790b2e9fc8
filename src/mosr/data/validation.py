"""Check a data file or a registry entry and report every problem found, without raising."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mosr.data.build import build_records, read_dataset_frame
from mosr.data.fields import is_blank, to_python
from mosr.data.loading import get_spec, resolve_data_dir
from mosr.data.readers import format_for, read_table
from mosr.data.registry import DATASETS
from mosr.data.spec import DatasetSpec
from mosr.errors import DataError

# Column names tried, in order, for the prompt and the id of a file that is not in the registry.
PROMPT_COLUMNS = ("prompt", "text", "instruction", "goal", "Goal", "Behavior", "Request", "question", "query")
ID_COLUMNS = ("id", "ID", "prompt_id", "BehaviorID", "Index")


@dataclass
class ValidationReport:
    """The outcome of checking one file or dataset: the rows read and every problem found."""

    target: str
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    dataset: str | None = None
    expected_rows: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_dataset(name: str, data_dir: str | Path | None = None, encoding: str | None = None) -> ValidationReport:
    """Load a registry entry's files and check every row, and the row count against the documented one."""
    spec = get_spec(name)
    report = ValidationReport(target=name, dataset=name, expected_rows=spec.expected_rows)
    try:
        frame = read_dataset_frame(spec, resolve_data_dir(data_dir), encoding)
    except DataError as error:
        report.problems.append(str(error))
        return report
    _check_built(spec, frame, report)
    if spec.expected_rows is not None and report.rows != spec.expected_rows and not report.problems:
        report.problems.append(f"expected {spec.expected_rows} records (the benchmark's documented count), found {report.rows}")
    return report


def validate_path(path: str | Path, encoding: str | None = None) -> ValidationReport:
    """Check one CSV, JSON or JSON Lines file.

    A file that belongs to a registry entry (matched by its path under the data folder)
    is checked against that entry's rules. Any other file must be a table with a prompt
    column (one of PROMPT_COLUMNS) whose texts are non-blank. If it has an id column
    (one of ID_COLUMNS), its ids must be unique.
    """
    path = Path(path).expanduser()
    report = ValidationReport(target=str(path))
    spec = registry_spec_for(path)
    try:
        if spec is not None:
            report.dataset = spec.name
            relative = _relative_name(path, spec)
            frame = read_dataset_frame(spec, _data_dir_of(path, relative), encoding, files=[(path, relative)])
            _check_built(spec, frame, report)
        else:
            frame = read_table(path, format_for(path), encoding)
            _check_generic(frame, report)
    except DataError as error:
        report.problems.append(str(error))
    return report


def registry_spec_for(path: Path) -> DatasetSpec | None:
    """Find the registry entry that reads this file, judged by the end of its path (unfiltered entries first)."""
    posix = path.resolve().as_posix()
    matches = [
        spec
        for spec in DATASETS.values()
        if any(fnmatch.fnmatch(posix, f"*/{pattern}") for pattern in spec.files)
    ]
    matches.sort(key=lambda spec: bool(spec.filters))
    return matches[0] if matches else None


def _relative_name(path: Path, spec: DatasetSpec) -> str:
    posix = path.resolve().as_posix()
    for pattern in spec.files:
        depth = pattern.count("/") + 1
        candidate = "/".join(posix.split("/")[-depth:])
        if fnmatch.fnmatch(candidate, pattern):
            return candidate
    return path.name


def _data_dir_of(path: Path, relative: str) -> Path:
    resolved = path.resolve()
    for _ in relative.split("/"):
        resolved = resolved.parent
    return resolved


def _check_built(spec: DatasetSpec, frame: pd.DataFrame, report: ValidationReport) -> None:
    result = build_records(spec, frame)
    report.rows = len(result.records)
    report.problems.extend(result.problems)


def _check_generic(frame: pd.DataFrame, report: ValidationReport) -> None:
    report.rows = len(frame)
    columns = [str(column) for column in frame.columns if not str(column).startswith("_")]
    text_column = next((name for name in PROMPT_COLUMNS if name in frame.columns), None)
    if text_column is None:
        report.problems.append(
            f"no prompt column: expected one of {', '.join(PROMPT_COLUMNS)}; columns present: {', '.join(columns) or 'none'}"
        )
        return
    id_column = next((name for name in ID_COLUMNS if name in frame.columns), None)
    ids = [to_python(value) for value in frame[id_column]] if id_column else list(frame["_row"])

    for row_number, (record_id, text) in enumerate(zip(ids, frame[text_column], strict=True), start=1):
        if is_blank(to_python(text)):
            report.problems.append(f"data row {row_number} (id {record_id}): empty or whitespace-only {text_column}")
    if id_column:
        first_row: dict[object, int] = {}
        for row_number, record_id in enumerate(ids, start=1):
            if record_id in first_row:
                report.problems.append(f"duplicate id {record_id!r} in column {id_column}: data rows {first_row[record_id]} and {row_number}")
            else:
                first_row[record_id] = row_number
