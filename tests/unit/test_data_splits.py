"""Seeded sampling and splitting of records by id."""

from __future__ import annotations

import random

import pytest

from mosr.data import PromptRecord, sample_records, split_records
from mosr.errors import ConfigError, DataError


def make_records(count: int, prefix: str = "toy") -> list[PromptRecord]:
    return [PromptRecord(id=f"{prefix}:{index}", source=prefix, text=f"prompt {index}") for index in range(count)]


def ids(records: list[PromptRecord]) -> list[str]:
    return [record.id for record in records]


def test_split_is_deterministic():
    records = make_records(100)
    first = split_records(records, {"train": 0.8, "val": 0.2}, seed=3)
    second = split_records(records, {"train": 0.8, "val": 0.2}, seed=3)
    assert {name: ids(part) for name, part in first.items()} == {name: ids(part) for name, part in second.items()}


def test_split_ignores_input_order():
    records = make_records(100)
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    original = split_records(records, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=0)
    reordered = split_records(shuffled, {"train": 0.7, "val": 0.2, "test": 0.1}, seed=0)
    for name in original:
        assert ids(original[name]) == ids(reordered[name])


def test_split_sizes_follow_fractions():
    parts = split_records(make_records(200), {"train": 0.75, "val": 0.15, "test": 0.1}, seed=1)
    assert len(parts["train"]) == 150
    assert len(parts["val"]) == 30
    assert len(parts["test"]) == 20


def test_split_parts_cover_every_record_once():
    records = make_records(37)
    parts = split_records(records, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, seed=5)
    all_ids = [record_id for part in parts.values() for record_id in ids(part)]
    assert sorted(all_ids) == sorted(ids(records))


def test_split_changes_with_seed():
    records = make_records(100)
    first = split_records(records, {"train": 0.5, "val": 0.5}, seed=0)
    second = split_records(records, {"train": 0.5, "val": 0.5}, seed=1)
    assert set(ids(first["train"])) != set(ids(second["train"]))


def test_split_is_not_the_first_rows():
    records = make_records(100)
    parts = split_records(records, {"train": 0.5, "val": 0.5}, seed=0)
    assert set(ids(parts["train"])) != set(ids(records[:50]))


@pytest.mark.parametrize(
    "fractions",
    [{"train": 0.5, "val": 0.3}, {"train": 1.2, "val": -0.2}, {}],
    ids=["sum below one", "negative", "empty"],
)
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(ConfigError):
        split_records(make_records(10), fractions, seed=0)


def test_split_rejects_duplicate_ids():
    records = make_records(3) + make_records(1)
    with pytest.raises(DataError, match="toy:0"):
        split_records(records, {"train": 1.0}, seed=0)


def test_sample_is_seeded_and_in_file_order():
    records = make_records(50)
    sample = sample_records(records, 10, seed=4)
    assert ids(sample) == ids(sample_records(records, 10, seed=4))
    assert len(sample) == 10
    positions = [ids(records).index(record_id) for record_id in ids(sample)]
    assert positions == sorted(positions)
    assert ids(sample) != ids(records[:10])


def test_sample_ignores_input_order():
    records = make_records(50)
    reversed_sample = sample_records(records[::-1], 10, seed=2)
    assert sorted(ids(sample_records(records, 10, seed=2))) == sorted(ids(reversed_sample))


def test_sample_limit_above_size_returns_all():
    records = make_records(5)
    assert ids(sample_records(records, 10, seed=0)) == ids(records)


def test_sample_rejects_zero_limit():
    with pytest.raises(ConfigError, match="at least 1"):
        sample_records(make_records(5), 0, seed=0)
