"""Resumable stage markers."""

from __future__ import annotations

import pytest

from mosr.stages import StageRunner, is_done, settings_hash


def test_stage_runs_once_with_same_settings(tmp_path):
    calls = []
    runner = StageRunner()
    assert runner.run("a", tmp_path / "a", {"x": 1}, lambda: calls.append(1)) is True
    assert runner.run("a", tmp_path / "a", {"x": 1}, lambda: calls.append(2)) is False
    assert calls == [1]
    assert [r.status for r in runner.records] == ["done", "skipped"]


def test_stage_reruns_when_settings_change(tmp_path):
    calls = []
    runner = StageRunner()
    runner.run("a", tmp_path / "a", {"x": 1}, lambda: calls.append(1))
    runner.run("a", tmp_path / "a", {"x": 2}, lambda: calls.append(2))
    assert calls == [1, 2]


def test_failed_stage_leaves_no_marker(tmp_path):
    def crash() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        StageRunner().run("a", tmp_path / "a", {"x": 1}, crash)
    assert not is_done(tmp_path / "a", {"x": 1})


def test_settings_hash_ignores_key_order():
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})
