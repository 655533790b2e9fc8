"""Field rules that map one source row to a record field."""

from __future__ import annotations

import numpy as np
import pytest

from mosr.data import JailbreakTemplate, render_template
from mosr.data.fields import (
    AdversarialSuffix,
    Coalesce,
    Col,
    Format,
    JoinText,
    Keys,
    Majority,
    MapValue,
    PositionOf,
    RemoveSuffix,
    RowError,
    TextAfter,
    ToInt,
    Values,
    When,
    WithPlaceholder,
)


def test_col_reads_nested_path():
    row = {"messages": [{"role": "user", "content": "hello"}]}
    assert Col("messages.0.content").evaluate(row) == "hello"
    assert Col("messages.0.content").columns() == {"messages"}


def test_col_reports_missing_key():
    with pytest.raises(RowError, match="has no key 'text'"):
        Col("choices.text").evaluate({"choices": {"label": ["A"]}})


def test_col_turns_nan_and_numpy_into_python():
    assert Col("x").evaluate({"x": float("nan")}) is None
    assert Col("x").evaluate({"x": np.array(["a", "b"])}) == ["a", "b"]
    assert type(Col("x").evaluate({"x": np.int64(3)})) is int


def test_format_builds_ids():
    assert Format("{model}:{id}").evaluate({"model": "gpt4", "id": "v2-1"}) == "gpt4:v2-1"
    assert Format("{model}:{id}").columns() == {"model", "id"}


def test_join_text_skips_blank_parts():
    rule = JoinText(("context", "behavior"), "\n\n---\n\n")
    assert rule.evaluate({"context": "", "behavior": "Do X"}) == "Do X"
    assert rule.evaluate({"context": "Text", "behavior": "Do X"}) == "Text\n\n---\n\nDo X"


def test_map_value_prefix_rule():
    rule = MapValue("type", {"contrast_": "malicious", "": "pseudo_malicious"}, prefix=True)
    assert rule.evaluate({"type": "contrast_homonyms"}) == "malicious"
    assert rule.evaluate({"type": "homonyms"}) == "pseudo_malicious"


def test_map_value_unknown_value():
    with pytest.raises(RowError, match="unexpected value 'x' in column 'label'"):
        MapValue("label", {"safe": 1}).evaluate({"label": "x"})


def test_majority_of_votes():
    rule = Majority(("a", "b", "c"))
    assert rule.evaluate({"a": 1, "b": 0, "c": 1}) is True
    assert rule.evaluate({"a": 1, "b": 0, "c": 0}) is False


def test_majority_rejects_non_binary_votes():
    with pytest.raises(RowError, match="not all 0 or 1"):
        Majority(("a", "b")).evaluate({"a": 2, "b": "yes"})


def test_position_of_answer_key():
    rule = PositionOf("answerKey", "choices.label")
    assert rule.evaluate({"answerKey": "C", "choices": {"label": ["A", "B", "C", "D"]}}) == 2


def test_position_of_missing_key():
    with pytest.raises(RowError, match="'E' is not among"):
        PositionOf("answerKey", "labels").evaluate({"answerKey": "E", "labels": ["A", "B"]})


def test_keys_and_values_keep_file_order():
    row = {"targets": {"right": 1, "wrong": 0, "also wrong": 0}}
    assert Keys("targets").evaluate(row) == ["right", "wrong", "also wrong"]
    assert Values("targets").evaluate(row) == [1, 0, 0]


def test_coalesce_and_remove_suffix():
    rule = Coalesce((RemoveSuffix("model", ".json"), "experiment"))
    assert rule.evaluate({"model": "llama2_7b.json", "experiment": "x"}) == "llama2_7b"
    assert rule.evaluate({"model": ".json", "experiment": "gpt-4"}) == "gpt-4"


def test_text_after_marker():
    assert TextAfter("answer", "####").evaluate({"answer": "steps\n#### 18"}) == "18"
    assert TextAfter("answer", "####").evaluate({"answer": "no marker"}) is None


def test_when_keeps_value_only_on_match():
    rule = When("status", "1_full_compliance", "response")
    assert rule.evaluate({"status": "1_full_compliance", "response": "Sure"}) == "Sure"
    assert rule.evaluate({"status": "2_full_refusal", "response": "No"}) is None


def test_to_int_rejects_text():
    assert ToInt("answer").evaluate({"answer": " 3 "}) == 3
    with pytest.raises(RowError, match="should be an integer"):
        ToInt("answer").evaluate({"answer": "B"})


def test_placeholder_is_normalised_or_appended():
    rule = WithPlaceholder("_value", "{0}", "{instruction}")
    assert rule.evaluate({"_value": "Say {0} with {braces}"}) == "Say {instruction} with {braces}"
    assert rule.evaluate({"_value": "No slot here. "}) == "No slot here.\n\n{instruction}"


def test_render_template_keeps_other_braces():
    template = JailbreakTemplate(id="t:0", source="t", template="{braces} then {instruction}")
    assert render_template(template, "REQUEST") == "{braces} then REQUEST"


def test_adversarial_suffix_rules():
    rule = AdversarialSuffix(
        prompt="prompt", goal="goal", attack="attack", goal_prefix_attacks=("GCG",), marker_attacks={"RS": "(end)"}
    )
    assert rule.evaluate({"prompt": "Do X !! ??", "goal": "Do X", "attack": "GCG"}) == " !! ??"
    assert rule.evaluate({"prompt": "rules (end) do X (end) ! ! !", "goal": "Do X", "attack": "RS"}) == " ! ! !"
    assert rule.evaluate({"prompt": "Do Y !!", "goal": "Do X", "attack": "GCG"}) is None
    assert rule.evaluate({"prompt": "Roleplay: Do X", "goal": "Do X", "attack": "PAIR"}) is None
    assert rule.evaluate({"prompt": "Do X", "goal": "Do X", "attack": "GCG"}) is None
