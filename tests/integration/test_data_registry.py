"""Every registry entry loads from the real benchmark folder with its documented row count."""

from __future__ import annotations

from collections import Counter

import pytest

from mosr.data import (
    DATASETS,
    AttackArtifact,
    JailbreakTemplate,
    LabelledCompletion,
    MultipleChoiceRecord,
    PromptRecord,
    load_prompts,
    load_records,
    record_text,
    validate_path,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loaded(data_dir):
    return {name: load_records(name, data_dir=data_dir) for name in DATASETS}


@pytest.mark.parametrize("name", list(DATASETS))
def test_entry_loads_with_documented_count(loaded, name):
    records = loaded[name]
    spec = DATASETS[name]
    assert len(records) == spec.expected_rows
    assert all(isinstance(record, spec.record_type) for record in records)
    assert all(record.id.startswith(f"{name}:") for record in records)
    assert all(record.source == name for record in records)
    assert len({record.id for record in records}) == len(records)
    assert all(record_text(record).strip() for record in records)


def test_every_entry_has_a_count(loaded):
    assert [name for name, spec in DATASETS.items() if spec.expected_rows is None] == []


def test_xstest_groups(loaded):
    assert Counter(record.group for record in loaded["xstest"]) == {"pseudo_malicious": 250, "malicious": 200}
    assert {record.group for record in loaded["xstest_safe"]} == {"pseudo_malicious"}
    assert all(record.category.startswith("contrast_") for record in loaded["xstest_unsafe"])
    assert loaded["xstest"][0].id == "xstest:1"


def test_harmbench_targets_and_context(loaded):
    records = loaded["harmbench_test"]
    assert all(record.target for record in records)
    assert all(record.group == "malicious" for record in records)
    contextual = [record for record in records if record.meta["functional_category"] == "contextual"]
    assert len(contextual) == 81
    assert all(record.text.endswith("\n\n---\n\n" + record.meta["behavior"]) for record in contextual)
    assert all(record.text.startswith(record.meta["context"].strip()) for record in contextual)


def test_prompt_fields(loaded):
    assert all(record.target for record in loaded["advbench"])
    assert all(record.target and record.category for record in loaded["jbb_harmful"])
    assert Counter(record.category for record in loaded["phtest"]) == {"harmless": 2069, "controversial": 1191}
    assert all(record.reference for record in loaded["alpaca_eval"])
    assert all(record.reference for record in loaded["alpaca_pairs"])
    assert all(record.meta["final_answer"] for record in loaded["gsm8k"])
    retain = loaded["orbench_retain"]
    assert sum(record.reference is not None for record in retain) == 530


def test_group_of_every_prompt_set(loaded):
    for name, records in loaded.items():
        if DATASETS[name].kind == "prompts":
            assert all(record.group is not None for record in records), name


def test_multiple_choice_answers_in_range(loaded):
    for name in ("mmlu", "mmlu_dev", "arc_easy", "arc_challenge", "piqa", "truthfulqa_mc1"):
        records = loaded[name]
        assert all(isinstance(record, MultipleChoiceRecord) for record in records)
        assert all(0 <= record.answer < len(record.choices) for record in records), name
    assert len({record.category for record in loaded["mmlu"]}) == 57
    assert Counter(record.answer for record in loaded["piqa"]).keys() == {0, 1}


def test_labelled_completions(loaded):
    xstest = loaded["xstest_completions"]
    assert Counter(record.model for record in xstest) == {
        "gpt4": 450, "llama2new": 450, "llama2orig": 450, "mistralguard": 450, "mistralinstruct": 450
    }
    assert {record.label for record in xstest} == {"compliance", "refusal", "partial"}
    assert all(isinstance(record, LabelledCompletion) for record in xstest)
    harmbench = loaded["harmbench_classifier_val"]
    assert Counter(record.harmful for record in harmbench) == {False: 329, True: 273}
    assert all(record.model for record in harmbench)
    assert sum(record.meta["behavior"] is None for record in harmbench) > 0
    assert {record.label for record in loaded["phtest_responses"]} == {"compliance", "refusal", "partial"}


def test_templates_have_one_placeholder_each(loaded):
    templates = loaded["harmbench_human_jailbreaks"]
    assert all(isinstance(record, JailbreakTemplate) for record in templates)
    assert all(record.placeholder in record.template for record in templates)
    assert all("{0}" not in record.template for record in templates)


def test_artifacts(loaded):
    artifacts = loaded["jbb_artifacts"]
    assert all(isinstance(record, AttackArtifact) for record in artifacts)
    assert Counter(record.attack for record in artifacts) == {
        "PAIR": 237, "GCG": 400, "JBC": 400, "prompt_with_random_search": 400, "DSN": 200
    }
    gcg = [record for record in artifacts if record.attack == "GCG" and record.suffix]
    assert len(gcg) == 384
    assert all(record.goal + record.suffix == record.prompt for record in gcg)
    random_search = [record for record in artifacts if record.attack == "prompt_with_random_search"]
    assert all(record.suffix and record.prompt.endswith(record.suffix) for record in random_search)
    assert all(record.suffix is None for record in artifacts if record.attack in ("PAIR", "JBC"))
    assert {record.target_model for record in loaded["jbb_pair"]} == {
        "gpt-3.5-turbo-1106", "gpt-4-0125-preview", "llama-2-7b-chat-hf", "vicuna-13b-v1.5"
    }


def test_limit_samples_by_id(data_dir):
    sample = load_prompts("xstest", data_dir=data_dir, limit=20, seed=0)
    assert len(sample) == 20
    assert [record.id for record in sample] == [record.id for record in load_prompts("xstest", data_dir=data_dir, limit=20, seed=0)]
    assert [record.id for record in sample] != [f"xstest:{index}" for index in range(1, 21)]


def test_validate_real_file(data_dir):
    report = validate_path(data_dir / "xstest" / "xstest_prompts.csv")
    assert report.ok, report.problems
    assert report.dataset == "xstest"
    assert report.rows == 450


def test_prompt_records_have_text(loaded):
    for name, records in loaded.items():
        if DATASETS[name].kind == "prompts":
            assert all(isinstance(record, PromptRecord) and record.text == record.text.strip() for record in records)
