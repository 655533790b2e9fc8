"""Find the data folder, look up registry entries and load their records."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from mosr.data.build import build_records, problems_message, read_dataset_frame
from mosr.data.records import JailbreakTemplate, PromptRecord, Record
from mosr.data.registry import DATASETS
from mosr.data.spec import DatasetSpec
from mosr.data.splits import sample_records
from mosr.errors import DataError

DATA_DIR_ENV = "MOSR_DATA_DIR"


def list_datasets() -> list[DatasetSpec]:
    """Return every registry entry, in registry order."""
    return list(DATASETS.values())


def get_spec(name: str) -> DatasetSpec:
    """Look up a registry entry by name. An unknown name raises a DataError that suggests close names."""
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, list(DATASETS), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(option) for option in close)}? " if close else ""
    raise DataError(f"unknown dataset {name!r}; {hint}Run `mosr data list` to see every dataset name")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return the benchmark folder: the argument if given, else $MOSR_DATA_DIR."""
    if data_dir is None or str(data_dir) == "":
        from_env = os.environ.get(DATA_DIR_ENV)
        if not from_env:
            raise DataError(
                f"no data folder given; pass --data-dir PATH or set {DATA_DIR_ENV} to the benchmark folder"
            )
        data_dir = from_env
        origin = f"${DATA_DIR_ENV}"
    else:
        origin = "--data-dir"
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise DataError(f"data folder {path} (from {origin}) does not exist; pass --data-dir PATH or set {DATA_DIR_ENV}")
    if not path.is_dir():
        raise DataError(f"data folder {path} (from {origin}) is a file, not a folder; pass the benchmark folder")
    return path.resolve()


def load_records(
    name: str,
    data_dir: str | Path | None = None,
    encoding: str | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[Record]:
    """Load a dataset's records from the local files.

    With ``limit``, a seeded sample chosen by hash of the record ids (not the first rows)
    is returned in file order. Any problem in the data raises one DataError listing them.
    """
    spec = get_spec(name)
    folder = resolve_data_dir(data_dir)
    frame = read_dataset_frame(spec, folder, encoding)
    result = build_records(spec, frame)
    if result.problems:
        raise DataError(
            problems_message(f"dataset {name}", result.problems)
            + "\nFix the file, or run `mosr data validate` to list every problem of every dataset"
        )
    return sample_records(result.records, limit, seed)


def load_prompts(
    name: str,
    data_dir: str | Path | None = None,
    encoding: str | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[PromptRecord]:
    """Load a dataset of kind 'prompts'; any other kind raises a DataError."""
    spec = get_spec(name)
    if spec.kind != "prompts":
        raise DataError(
            f"dataset {name} contains {spec.kind}, not prompts; use load_records, or pick a prompt dataset from `mosr data list`"
        )
    records = load_records(name, data_dir=data_dir, encoding=encoding, limit=limit, seed=seed)
    return [record for record in records if isinstance(record, PromptRecord)]


def count_rows(name: str, data_dir: str | Path | None = None, encoding: str | None = None) -> int:
    """Count the rows the dataset's files provide after its filters, without building records."""
    spec = get_spec(name)
    return len(read_dataset_frame(spec, resolve_data_dir(data_dir), encoding))


def render_template(template: JailbreakTemplate, request: str) -> str:
    """Insert a request into a jailbreak template.

    Uses plain replacement, not ``str.format``, because many templates contain other braces.
    """
    return template.template.replace(template.placeholder, request)
