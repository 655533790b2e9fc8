"""Load a registry entry from the Hugging Face Hub instead of the local files (only on explicit request)."""

from __future__ import annotations

from mosr.data.build import build_records, problems_message
from mosr.data.fields import columns_of
from mosr.data.loading import get_spec
from mosr.data.records import Record
from mosr.data.spec import DatasetSpec, HubSource
from mosr.data.splits import sample_records
from mosr.errors import DataError


def load_hub(name: str, limit: int | None = None, seed: int = 0) -> list[Record]:
    """Download the dataset with ``datasets.load_dataset`` and map it to the same records as the local files.

    Ids follow the Hub rows, so they can differ from the ids of the local files.
    """
    spec = get_spec(name)
    if spec.hub is None:
        raise DataError(
            f"dataset {name} has no Hugging Face Hub source; load it from the local files "
            "(--source local with --data-dir or MOSR_DATA_DIR)"
        )
    hub = spec.hub
    where = f"{hub.repo_id}" + (f" (config {hub.config})" if hub.config else "") + f", split {hub.split}"
    try:
        import datasets
        from datasets.exceptions import DatasetsError
    except ImportError:
        raise DataError("the 'datasets' package is not installed; install it with `pip install datasets`") from None

    try:
        dataset = datasets.load_dataset(hub.repo_id, hub.config, split=hub.split)
    # A missing network or offline mode is an OSError (ConnectionError), a missing dataset a
    # FileNotFoundError, a bad config or split a ValueError, and a dataset that still needs
    # a loading script a RuntimeError (datasets 5 no longer runs scripts).
    except (OSError, ValueError, RuntimeError, DatasetsError) as error:
        raise DataError(
            f"could not load {name} from the Hugging Face Hub ({where}): {type(error).__name__}: {error}. "
            "Check the network and that HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are unset, or use the local "
            "files with --source local"
        ) from None

    frame = dataset.to_pandas().rename(columns=dict(hub.rename))
    frame["_row"] = range(len(frame))
    frame["_file"] = f"hub:{hub.repo_id}"
    missing = sorted(column for column in _required_columns(spec, hub) if column not in frame.columns)
    if missing:
        present = ", ".join(str(column) for column in frame.columns if not str(column).startswith("_"))
        raise DataError(
            f"{where}: missing column {', '.join(map(repr, missing))} needed by dataset {name}; columns present: "
            f"{present}. The Hub layout may have changed; use the local files with --source local"
        )
    for row_filter in spec.filters:
        frame = row_filter.apply(frame)

    result = build_records(spec, frame, fields={**spec.fields, **hub.fields}, id_source=hub.id)
    if result.problems:
        raise DataError(problems_message(f"dataset {name} from {where}", result.problems))
    return sample_records(result.records, limit, seed)


def _required_columns(spec: DatasetSpec, hub: HubSource) -> set[str]:
    sources = spec.all_sources(fields={**spec.fields, **hub.fields}, id=hub.id)
    return columns_of(sources) | {row_filter.column for row_filter in spec.filters}
