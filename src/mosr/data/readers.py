"""Read one benchmark file into a pandas DataFrame, or raise a DataError that names the file and the fix."""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mosr.errors import DataError

ENCODING_HINT = "pass its encoding, e.g. --encoding latin-1 (or --encoding mac_roman for files saved by old Mac software)"


def decode_file(path: Path, encoding: str | None = None) -> str:
    """Read a file as text. Without an encoding it must be UTF-8, and a leading byte-order mark is dropped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file {path} not found; check the path, or the data folder given by --data-dir or MOSR_DATA_DIR") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None

    codec = encoding or "utf-8-sig"
    try:
        codecs.lookup(codec)
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 or mac_roman") from None
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        bad_byte = raw[error.start]
        name = encoding or "UTF-8"
        raise DataError(
            f"{path} is not valid {name}: byte 0x{bad_byte:02x} at byte offset {error.start} (line {line}) "
            f"cannot be decoded. Re-save the file as UTF-8, or {ENCODING_HINT}"
        ) from None


def read_table(
    path: Path,
    file_format: str,
    encoding: str | None = None,
    json_path: Sequence[str] = (),
    json_layout: str = "records",
) -> pd.DataFrame:
    """Parse a CSV, JSON, JSON Lines or one-value-per-line file and add the ``_row`` column (0-based position).

    CSV cells are read as text, with no conversion of 'NA', 'None' or empty cells to NaN:
    MMLU has answer options that read 'None', and those must stay text.
    """
    text = decode_file(path, encoding)
    if file_format == "csv":
        frame = _read_csv(path, text)
    elif file_format == "jsonl":
        frame = _read_jsonl(path, text)
    elif file_format == "json":
        frame = _read_json(path, text, json_path, json_layout)
    elif file_format == "lines":
        frame = _read_lines(path, text)
    else:
        raise DataError(f"unsupported file format {file_format!r} for {path}; use csv, json, jsonl or lines")
    frame = frame.reset_index(drop=True)
    frame["_row"] = range(len(frame))
    return frame


def format_for(path: Path) -> str:
    """Return the reader format implied by a file's extension."""
    suffix = path.suffix.lower()
    formats = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".lst": "lines", ".txt": "lines"}
    if suffix not in formats:
        raise DataError(f"cannot tell the format of {path} from its extension; use a .csv, .json or .jsonl file")
    return formats[suffix]


def _read_csv(path: Path, text: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; a CSV file needs a header row with the column names") from None
    except pd.errors.ParserError as error:
        raise DataError(
            f"{path} is not valid CSV: {_csv_parser_message(error)}. A field that contains commas, quotes or line "
            'breaks must be enclosed in double quotes, with each inner quote written twice ("")'
        ) from None
    # When the first data row has more fields than the header, pandas silently turns the
    # extra leading field into the row index instead of failing.
    if not isinstance(frame.index, pd.RangeIndex):
        raise DataError(
            f"{path} is not valid CSV: the first data row (line 2) has more fields than the {len(frame.columns)} column name(s) in the header. "
            'Enclose fields that contain commas in double quotes, or add the missing column names to the header'
        )
    return frame


def _read_lines(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), header=None, names=["_value"], dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame({"_value": pd.Series([], dtype=str)})
    except pd.errors.ParserError as error:
        raise DataError(f"{path} should hold one value per line: {_first_line(error)}") from None


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_json(io.StringIO(text), lines=True, dtype=False)
    except ValueError:
        # pandas does not report which line is broken, but the standard parser does.
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path} is not valid JSON Lines: line {number}, column {error.colno}: {error.msg}. "
                    "Each line must hold one complete JSON object"
                ) from None
            if not isinstance(item, dict):
                raise DataError(f"{path} line {number} contains a JSON {type(item).__name__}; each line must contain one JSON object")
        raise DataError(f"{path} is not valid JSON Lines; each line must hold one complete JSON object") from None


def _read_json(path: Path, text: str, json_path: Sequence[str], layout: str) -> pd.DataFrame:
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} (character {error.pos})"
        ) from None

    for step, key in enumerate(json_path):
        if not isinstance(document, dict) or key not in document:
            where = "at the top level" if step == 0 else f"under {'.'.join(json_path[:step])!r}"
            present = ", ".join(map(str, document)) if isinstance(document, dict) else f"a {type(document).__name__}"
            raise DataError(f"{path}: expected the key {key!r} {where}; found {present}")
        document = document[key]

    if isinstance(document, list):
        return _frame_of_items(path, document)
    if isinstance(document, dict) and layout == "grouped":
        rows = []
        for key, items in document.items():
            if not isinstance(items, list):
                raise DataError(f"{path}: the value of {key!r} should be a list of records but is a {type(items).__name__}")
            for position, item in enumerate(items):
                if not isinstance(item, dict):
                    raise DataError(f"{path}: item {position} of {key!r} should be a JSON object")
                rows.append({**item, "_key": key, "_item": position})
        return pd.DataFrame.from_records(rows)
    if isinstance(document, dict):
        return pd.DataFrame({"_key": list(document.keys()), "_value": list(document.values())})
    raise DataError(f"{path}: expected a JSON list or object of records, found a {type(document).__name__}")


def _frame_of_items(path: Path, items: list[Any]) -> pd.DataFrame:
    if all(isinstance(item, dict) for item in items):
        return pd.DataFrame.from_records(items) if items else pd.DataFrame()
    if not any(isinstance(item, dict | list) for item in items):
        return pd.DataFrame({"_value": items})
    position = next(index for index, item in enumerate(items) if isinstance(item, dict) != isinstance(items[0], dict) or isinstance(item, list))
    raise DataError(
        f"{path}: item {position} of the list is a JSON {type(items[position]).__name__}; "
        "the list must hold only JSON objects, or only plain values"
    )


def _csv_parser_message(error: Exception) -> str:
    """Return pandas' parser message with its 0-based 'row' of an unclosed quote as a 1-based line."""
    message = _first_line(error)
    return re.sub(r"starting at row (\d+)", lambda match: f"starting at line {int(match.group(1)) + 1}", message)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
