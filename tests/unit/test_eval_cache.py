"""Generation cache: append per batch, dedupe on read, skip a torn last line."""

from __future__ import annotations

import json
import logging

from mosr.evaluation.cache import GenerationCache, cache_key


def test_cache_key_ignores_keyword_order():
    assert cache_key(model="m", case_id="1", max_new_tokens=8) == cache_key(max_new_tokens=8, case_id="1", model="m")
    assert cache_key(model="m", case_id="1") != cache_key(model="m", case_id="2")


def test_append_and_reload(tmp_path):
    path = tmp_path / "generations.jsonl"
    cache = GenerationCache(path)
    assert cache.append([{"key": "a", "response": "x"}, {"key": "b", "response": "y"}]) == 2
    assert cache.append([{"key": "a", "response": "other"}]) == 0
    reloaded = GenerationCache(path)
    assert len(reloaded) == 2
    assert reloaded.get("a")["response"] == "x"


def test_duplicate_lines_are_ignored_on_read(tmp_path):
    path = tmp_path / "generations.jsonl"
    rows = [{"key": "a", "response": "first"}, {"key": "a", "response": "second"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = GenerationCache(path)
    assert len(cache) == 1
    assert cache.get("a")["response"] == "first"
    assert cache.duplicates == 1


def test_torn_last_line_is_skipped_with_warning(tmp_path, caplog):
    path = tmp_path / "generations.jsonl"
    path.write_text(json.dumps({"key": "a", "response": "ok"}) + "\n" + '{"key": "b", "respo')
    with caplog.at_level(logging.WARNING, logger="mosr.evaluation.cache"):
        cache = GenerationCache(path)
    assert len(cache) == 1
    assert cache.torn_lines == 1
    assert "torn write" in caplog.text
    cache.append([{"key": "b", "response": "again"}])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b"]


def test_memory_only_cache_writes_nothing(tmp_path):
    cache = GenerationCache(None)
    assert cache.append([{"key": "a", "response": "x"}]) == 1
    assert "a" in cache
    assert list(tmp_path.iterdir()) == []
