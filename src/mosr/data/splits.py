"""Deterministic sampling and splitting keyed on record ids, so results do not depend on row order."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TypeVar

from mosr.data.records import Record
from mosr.errors import ConfigError, DataError

R = TypeVar("R", bound=Record)

FRACTION_TOLERANCE = 1e-6


def stable_hash(seed: int, record_id: str) -> int:
    """Hash (seed, id) to 64 bits, with the same result on every machine and Python run."""
    digest = hashlib.blake2b(f"{seed}\x00{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _hash_order(records: Sequence[R], seed: int) -> list[R]:
    return sorted(records, key=lambda record: (stable_hash(seed, record.id), record.id))


def sample_records(records: Sequence[R], limit: int | None, seed: int = 0) -> list[R]:
    """Pick ``limit`` records by seeded hash of their ids, returned in their original order."""
    if limit is None:
        return list(records)
    if limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}; omit it to load every record")
    if limit >= len(records):
        return list(records)
    chosen = {record.id for record in _hash_order(records, seed)[:limit]}
    return [record for record in records if record.id in chosen]


def split_records(records: Sequence[R], fractions: Mapping[str, float], seed: int) -> dict[str, list[R]]:
    """Split records into named parts of the given fractions (which must sum to 1).

    Records are ordered by a seeded hash of their ids and cut at the cumulative fractions,
    rounded to whole records. The result depends only on the set of ids, the fractions and
    the seed, not on the input order. Each part is returned in hash order.
    """
    if not fractions:
        raise ConfigError("fractions is empty; give at least one split name and fraction, e.g. {'train': 0.8, 'val': 0.2}")
    for name, fraction in fractions.items():
        if not 0 <= fraction <= 1 or math.isnan(fraction):
            raise ConfigError(f"fraction of split {name!r} must be between 0 and 1, got {fraction}")
    total = sum(fractions.values())
    if abs(total - 1) > FRACTION_TOLERANCE:
        raise ConfigError(
            f"split fractions must sum to 1, got {total:g} ({dict(fractions)}); add a split for the remainder"
        )

    counts = Counter(record.id for record in records)
    duplicates = sorted(record_id for record_id, count in counts.items() if count > 1)
    if duplicates:
        raise DataError(f"cannot split records with duplicate ids: {', '.join(duplicates[:10])}; ids must be unique")

    ordered = _hash_order(records, seed)
    parts: dict[str, list[R]] = {}
    cumulative = 0.0
    start = 0
    names = list(fractions)
    for position, name in enumerate(names):
        cumulative += fractions[name]
        end = len(ordered) if position == len(names) - 1 else round(cumulative * len(ordered))
        parts[name] = ordered[start:end]
        start = end
    return parts
