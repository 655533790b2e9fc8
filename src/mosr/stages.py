"""Resumable stages: a stage is skipped when its completion marker matches the current settings.

A stage writes ``stage.json`` into its folder only after all its outputs are in place. A crash
or Ctrl-C mid-stage therefore leaves no marker, and the next run redoes just that stage. Stages
that cache their own partial work, such as generation, also resume inside the stage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MARKER = "stage.json"


def settings_hash(settings: Any) -> str:
    """Stable short hash of JSON-serialisable settings."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_done(folder: Path, settings: Any) -> bool:
    marker = folder / MARKER
    if not marker.exists():
        return False
    try:
        stored = json.loads(marker.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return stored.get("settings_hash") == settings_hash(settings)


def mark_done(folder: Path, name: str, settings: Any, seconds: float, extra: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "stage": name,
        "settings_hash": settings_hash(settings),
        "seconds": round(seconds, 2),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(extra or {}),
    }
    (folder / MARKER).write_text(json.dumps(payload, indent=2), encoding="utf-8")


@dataclass
class StageRecord:
    name: str
    folder: Path
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    note: str = ""


@dataclass
class StageRunner:
    """Run named stages in order, skipping finished ones and recording what happened."""

    records: list[StageRecord] = field(default_factory=list)
    on_change: Callable[[StageRecord], None] | None = None

    def run(self, name: str, folder: Path, settings: Any, action: Callable[[], Any]) -> bool:
        """Run ``action`` unless ``folder`` already contains a matching marker, and return whether it ran."""
        if is_done(folder, settings):
            self._record(StageRecord(name, folder, "skipped", note="finished earlier with the same settings"))
            return False

        logger.info("stage %s: started", name)
        started = time.perf_counter()
        folder.mkdir(parents=True, exist_ok=True)
        action()
        seconds = time.perf_counter() - started
        mark_done(folder, name, settings, seconds)
        logger.info("stage %s: finished in %.1f s", name, seconds)
        self._record(StageRecord(name, folder, "done", seconds))
        return True

    def _record(self, record: StageRecord) -> None:
        self.records.append(record)
        if self.on_change is not None:
            self.on_change(record)
