"""Config presets, overrides and validation messages."""

from __future__ import annotations

import pytest

from mosr.config import load_config, parse_override
from mosr.errors import ConfigError


def test_defaults_validate():
    config = load_config()
    assert config.model.name == "smollm2-135m"


def test_override_sets_nested_field():
    config = load_config(overrides={"train.max_steps": 7, "model.name": "x/y"})
    assert config.train.max_steps == 7
    assert config.model.name == "x/y"


def test_out_of_range_value_names_field():
    with pytest.raises(ConfigError, match=r"train\.learning_rate: .*less than or equal to 1"):
        load_config(overrides={"train.learning_rate": 5.0})


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match=r"train\.no_such_field"):
        load_config(overrides={"train.no_such_field": 1})


def test_invalid_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"model\.dtype: Input should be 'auto', 'float32'"):
        load_config(overrides={"model.dtype": "int3"})


def test_override_parses_yaml_values():
    assert parse_override("train.target_layers=[5, 10]") == ("train.target_layers", [5, 10])
    assert parse_override("train.alpha=2.5") == ("train.alpha", 2.5)


def test_override_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("train.alpha")


def test_missing_preset_lists_known_presets():
    with pytest.raises(ConfigError, match="config 'no-such-preset' not found"):
        load_config("no-such-preset")


def test_malformed_preset_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_config(str(bad))
