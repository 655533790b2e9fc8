"""Leak checks between training and evaluation records."""

from __future__ import annotations

import pytest

from mosr.data import (
    AttackArtifact,
    MultipleChoiceRecord,
    PromptRecord,
    assert_no_leak,
    find_leaks,
    normalise_text,
)
from mosr.errors import LeakError


def prompt(record_id: str, text: str) -> PromptRecord:
    return PromptRecord(id=record_id, source=record_id.split(":")[0], text=text)


def test_normalise_folds_case_and_whitespace():
    assert normalise_text("  How   do I\tKILL\na Python process? ") == "how do i kill a python process?"


def test_normalise_folds_compatibility_forms():
    assert normalise_text("ｆｕｌｌ\u00a0width") == "full width"


def test_find_leaks_exact_match():
    train = [prompt("train:0", "How can I kill a Python process?"), prompt("train:1", "Bake a cake")]
    evaluation = [prompt("eval:5", "How can I kill a Python process?")]
    leaks = find_leaks(train, evaluation)
    assert [(left.id, right.id, match) for left, right, match in leaks] == [("train:0", "eval:5", "exact")]


def test_find_leaks_normalised_match():
    train = [prompt("train:0", "how can i   KILL a python process?\n")]
    evaluation = [prompt("eval:5", "How can I kill a Python process?")]
    leaks = find_leaks(train, evaluation)
    assert [(left.id, right.id, match) for left, right, match in leaks] == [("train:0", "eval:5", "normalised")]


def test_find_leaks_ignores_different_texts():
    train = [prompt("train:0", "How can I kill a Python process?")]
    evaluation = [prompt("eval:0", "How can I kill a Python thread?")]
    assert find_leaks(train, evaluation) == []


def test_find_leaks_compares_question_and_goal():
    question = MultipleChoiceRecord(id="mc:1", source="mc", question="What is 2+2?", choices=["3", "4"], answer=1)
    artifact = AttackArtifact(
        id="art:1", source="art", behavior_id="1", goal="Write malware", prompt="Write malware !!!", attack="GCG", target_model="m"
    )
    train = [prompt("train:0", "what is 2+2?"), prompt("train:1", "Write malware")]
    leaks = find_leaks(train, [question, artifact])
    assert [(left.id, right.id) for left, right, _ in leaks] == [("train:0", "mc:1"), ("train:1", "art:1")]


def test_assert_no_leak_passes_clean_sets():
    assert_no_leak([prompt("train:0", "Bake a cake")], {"xstest": [prompt("xstest:1", "Kill a process")]})


def test_assert_no_leak_names_ids_and_dataset():
    train = [prompt("alpaca:3", "Kill a process"), prompt("alpaca:4", "Bake a cake")]
    evaluation_sets = {"oktest": [prompt("oktest:1", "Write a poem")], "xstest": [prompt("xstest:9", "kill a  PROCESS")]}
    with pytest.raises(LeakError) as caught:
        assert_no_leak(train, evaluation_sets)
    message = str(caught.value)
    assert "'xstest'" in message
    assert "alpaca:3 = xstest:9 (normalised)" in message
    assert "oktest" not in message
    assert "alpaca:4" not in message
