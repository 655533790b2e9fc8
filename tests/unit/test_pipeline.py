"""Budgets and per-method configs of mosr run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mosr.config import load_config
from mosr.errors import ConfigError
from mosr.pipeline import budget_config, method_config


def test_quick_budget_shrinks_training():
    config = budget_config(load_config("smollm2-135m"), "quick")
    assert config.train.max_steps == 4
    assert config.evaluate.limit == 6


def test_user_override_beats_budget():
    config = budget_config(load_config("smollm2-135m"), "quick", {"evaluate.limit": 3})
    assert config.evaluate.limit == 3


def test_unknown_budget_lists_choices():
    with pytest.raises(ConfigError, match="unknown budget 'huge'"):
        budget_config(load_config(), "huge")


def test_method_config_shares_completion_cache(tmp_path):
    config = method_config(load_config("smollm2-135m"), "rr", tmp_path / "data")
    assert config.train.method == "rr"
    assert Path(config.train.data.completion_cache_dir) == tmp_path / "data"


def test_evaluation_dtype_replaces_model_dtype(monkeypatch, tmp_path):
    import mosr.evaluation.runner as eval_runner
    import mosr.models as models
    from mosr import pipeline

    loaded = []

    def fake_load(settings, adapter=None):
        loaded.append(settings.dtype)
        return None, None

    monkeypatch.setattr(models, "load_model_from_config", fake_load)
    monkeypatch.setattr(eval_runner, "evaluate_model", lambda *args, **kwargs: None)
    config = load_config("smollm2-135m", {"evaluate.dtype": "bfloat16"})

    pipeline.evaluate_stage(config, None, tmp_path, None)
    assert loaded == ["bfloat16"]
    assert config.model.dtype == "float32"
