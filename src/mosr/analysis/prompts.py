"""Load the three prompt groups of an analysis, splitting the per-group limit across datasets."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mosr.config import AnalysisConfig, DataConfig
from mosr.data.records import PromptRecord
from mosr.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


def group_datasets(settings: AnalysisConfig) -> dict[str, list[str]]:
    """Map each group name to its dataset names, rejecting empty groups and a dataset in two groups."""
    groups = {"benign": list(settings.benign), "malicious": list(settings.malicious), "pseudo_malicious": list(settings.pseudo)}
    for group, names in groups.items():
        if not names:
            raise ConfigError(f"analysis group {group!r} has no dataset; give at least one")
    seen: dict[str, str] = {}
    for group, names in groups.items():
        for name in names:
            if name in seen and seen[name] != group:
                raise ConfigError(f"dataset {name!r} is listed in both {seen[name]!r} and {group!r}; a prompt has one group")
            seen[name] = group
    return groups


def split_limit(limit: int, sizes: Sequence[int]) -> list[int]:
    """Split ``limit`` evenly over datasets of the given sizes, giving a small dataset's unused share to the others.

    No quota exceeds its dataset's size, so the quotas sum to less than ``limit`` only when the
    datasets together contain fewer prompts.
    """
    quotas = [0] * len(sizes)
    open_indices = [i for i, size in enumerate(sizes) if size > 0]
    while open_indices:
        remaining = limit - sum(quotas)
        if remaining <= 0:
            break
        share, extra = divmod(remaining, len(open_indices))
        for position, index in enumerate(open_indices):
            requested = share + (1 if position < extra else 0)
            quotas[index] += min(requested, sizes[index] - quotas[index])
        open_indices = [i for i in open_indices if quotas[i] < sizes[i]]
    return quotas


def load_groups(settings: AnalysisConfig, data: DataConfig) -> dict[str, list[PromptRecord]]:
    """Load up to ``settings.limit`` prompts per group, sampled by ``data.seed`` within each dataset.

    The sample of a dataset is the data module's seeded sample (by hash of the record ids),
    kept in file order.
    """
    from mosr.data import load_prompts, sample_records

    groups = group_datasets(settings)
    loaded: dict[str, list[PromptRecord]] = {}
    for group, names in groups.items():
        available = [load_prompts(name, data_dir=data.data_dir, encoding=data.encoding) for name in names]
        quotas = split_limit(settings.limit, [len(records) for records in available])
        if sum(quotas) < settings.limit:
            logger.warning(
                "group %s: only %d prompts in %s, fewer than limit=%d", group, sum(quotas), names, settings.limit
            )
        records: list[PromptRecord] = []
        for name, records_of_dataset, quota in zip(names, available, quotas):
            if quota == 0:
                continue
            chosen = sample_records(records_of_dataset, quota, data.seed)
            mislabelled = sum(1 for record in chosen if record.group is not None and record.group != group)
            if mislabelled:
                logger.warning("dataset %s is used as %s but %d of its prompts are labelled otherwise", name, group, mislabelled)
            records.extend(chosen)
        loaded[group] = records

    all_ids = [record.id for records in loaded.values() for record in records]
    if len(set(all_ids)) != len(all_ids):
        repeated = sorted({i for i in all_ids if all_ids.count(i) > 1})
        raise DataError(f"prompt ids occur more than once across the analysis groups: {repeated[:5]}")
    return loaded


def spread_subset(records: Sequence[PromptRecord], limit: int) -> list[int]:
    """Return the indices of up to ``limit`` records, split evenly across their sources.

    Within each source the earliest records are taken, so a prefix of a seeded sample stays a
    seeded sample, and every dataset of the group is represented.
    """
    by_source: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_source.setdefault(record.source, []).append(index)
    quotas = split_limit(limit, [len(indices) for indices in by_source.values()])
    chosen = [i for indices, quota in zip(by_source.values(), quotas) for i in indices[:quota]]
    return sorted(chosen)
