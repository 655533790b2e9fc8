"""Benchmark data: a declarative registry of every benchmark and loaders that map its files to typed records.

Local files are read from the data folder (``--data-dir`` or $MOSR_DATA_DIR). The Hugging
Face Hub is used only through ``load_hub``, which the CLI calls for ``--source hub``.
"""

from __future__ import annotations

from mosr.data.hub import load_hub
from mosr.data.leaks import assert_no_leak, find_leaks, normalise_text, record_text
from mosr.data.loading import (
    count_rows,
    get_spec,
    list_datasets,
    load_prompts,
    load_records,
    render_template,
    resolve_data_dir,
)
from mosr.data.records import (
    AttackArtifact,
    JailbreakTemplate,
    LabelledCompletion,
    MultipleChoiceRecord,
    PromptRecord,
    Record,
)
from mosr.data.registry import DATASETS
from mosr.data.spec import DatasetSpec
from mosr.data.splits import sample_records, split_records
from mosr.data.validation import ValidationReport, validate_dataset, validate_path

__all__ = [
    "DATASETS",
    "AttackArtifact",
    "DatasetSpec",
    "JailbreakTemplate",
    "LabelledCompletion",
    "MultipleChoiceRecord",
    "PromptRecord",
    "Record",
    "ValidationReport",
    "assert_no_leak",
    "count_rows",
    "find_leaks",
    "get_spec",
    "list_datasets",
    "load_hub",
    "load_prompts",
    "load_records",
    "normalise_text",
    "record_text",
    "render_template",
    "resolve_data_dir",
    "sample_records",
    "split_records",
    "validate_dataset",
    "validate_path",
]
