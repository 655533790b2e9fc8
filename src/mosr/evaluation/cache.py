"""Append-only JSONL cache of generated responses, so an interrupted evaluation resumes.

A row's key hashes everything that determines the response: model, adapter, dataset, prompt
id, attack name and configuration, the exact prompt token ids, and the generation settings.
Rows are appended and flushed once per batch. Reading keeps the first row of each key (later
duplicates are ignored) and skips a torn last line left by a crash, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def cache_key(**parts: Any) -> str:
    """Stable SHA-1 of the given parts, serialised as sorted JSON (order of keywords does not matter)."""
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


class GenerationCache:
    """Responses by key, backed by one JSONL file; rows are dicts with at least ``key`` and ``response``.

    With ``path=None`` the cache lives in memory only (nothing is resumed or written).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.rows: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.torn_lines = 0
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = row["key"]
            except (json.JSONDecodeError, KeyError, TypeError):
                self.torn_lines += 1
                logger.warning(
                    "skipping unreadable line %d of %s (a torn write from an interrupted run); "
                    "its prompt is generated again", number, self.path,
                )
                continue
            if key in self.rows:
                self.duplicates += 1
                continue
            self.rows[key] = row
        if self.torn_lines:
            self._rewrite()

    def _rewrite(self) -> None:
        """Rewrite the file without torn lines, so later appends start on a clean line."""
        assert self.path is not None
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for row in self.rows.values():
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(temporary, self.path)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append rows whose key is new, flush to disk, and return how many were written."""
        new_rows = []
        for row in rows:
            if row["key"] in self.rows:
                continue
            self.rows[row["key"]] = dict(row)
            new_rows.append(row)
        if not new_rows or self.path is None:
            return len(new_rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for row in new_rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return len(new_rows)
