"""Context-Aware Augmentation and refusal examples: labels, prefix lengths, method switches."""

from __future__ import annotations

import random

import pytest

from mosr.config import load_config
from mosr.training import data as training_data
from mosr.training.data import IGNORE_INDEX
from mosr.training.methods import resolve_components

from test_train_fakes import records


def _sets(config):
    return training_data.select_sets(config.train, records)


def _completions(sets, words: int = 30):
    text = " ".join(f"step{i}" for i in range(words))
    return {r.id: {"completion": text, "origin": "generated"} for r in sets.erasure}


def _build(smollm2_tokenizer, method: str, **overrides):
    config = load_config(None, {"train.method": method, "train.data.n_validation": 1, **overrides})
    sets = _sets(config)
    examples = training_data.build_examples(
        sets, _completions(sets), smollm2_tokenizer, config.train, resolve_components(config.train)
    )
    return config, sets, examples


def test_prefix_length_never_whole_completion():
    rng = random.Random(0)
    for length in range(2, 40):
        for _ in range(50):
            k = training_data.caa_prefix_length(rng, length, k_max=100)
            assert 1 <= k <= length - 1


def test_prefix_length_capped_by_k_max():
    rng = random.Random(1)
    draws = {training_data.caa_prefix_length(rng, 500, k_max=7) for _ in range(500)}
    assert max(draws) == 7
    assert min(draws) == 1


def test_prefix_length_zero_for_one_token_completion():
    assert training_data.caa_prefix_length(random.Random(0), 1, k_max=10) == 0


def test_caa_labels_mask_prompt_and_prefix(smollm2_tokenizer):
    _, _, examples = _build(smollm2_tokenizer, "mosr")
    caa = [e for e in examples.retain if e.kind == "caa"]
    assert caa
    for example in caa:
        masked = example.prompt_len + example.prefix_len
        assert example.prefix_len >= 1
        assert all(label == IGNORE_INDEX for label in example.labels[:masked])
        assert all(label != IGNORE_INDEX for label in example.labels[masked:])
        assert example.labels[masked:] == example.input_ids[masked:]


def test_caa_prefix_is_start_of_completion_not_all(smollm2_tokenizer):
    config, sets, examples = _build(smollm2_tokenizer, "mosr")
    completion_ids = smollm2_tokenizer(_completions(sets)[sets.erasure[0].id]["completion"], add_special_tokens=False)["input_ids"]
    for example in (e for e in examples.retain if e.kind == "caa"):
        prefix = example.input_ids[example.prompt_len: example.prompt_len + example.prefix_len]
        assert prefix == completion_ids[: len(prefix)]
        assert len(prefix) < len(completion_ids)


def test_caa_half_of_refusal_examples_prefixed(smollm2_tokenizer):
    _, _, examples = _build(smollm2_tokenizer, "mosr")
    kinds = [e.kind for e in examples.retain if e.kind in ("refusal", "caa")]
    assert abs(kinds.count("caa") - kinds.count("refusal")) <= 1


def test_refusal_labels_only_on_refusal(smollm2_tokenizer):
    _, _, examples = _build(smollm2_tokenizer, "refusal_sft")
    refusals = [e for e in examples.retain if e.kind == "refusal"]
    assert refusals
    assert not [e for e in examples.retain if e.kind == "caa"]
    for example in refusals:
        assert example.prefix_len == 0
        assert all(label == IGNORE_INDEX for label in example.labels[: example.prompt_len])
        assert all(label != IGNORE_INDEX for label in example.labels[example.prompt_len:])


def test_refusal_pool_is_varied(smollm2_tokenizer):
    _, _, examples = _build(smollm2_tokenizer, "refusal_sft")
    texts = {
        smollm2_tokenizer.decode(e.input_ids[e.prompt_len:]) for e in examples.retain if e.kind == "refusal"
    }
    assert len(texts) >= 3


def test_rr_without_refusal_has_no_refusal_examples(smollm2_tokenizer):
    _, _, examples = _build(smollm2_tokenizer, "rr", **{"train.refusal_when_optional": False})
    assert not [e for e in examples.retain if e.kind in ("refusal", "caa")]
    assert examples.erasure


def test_sft_methods_have_no_erasure_examples(smollm2_tokenizer):
    for method in ("refusal_sft", "deep_align"):
        _, _, examples = _build(smollm2_tokenizer, method)
        assert examples.erasure == []


def test_erasure_mask_response_only(smollm2_tokenizer):
    _, _, examples = _build(smollm2_tokenizer, "rr", **{"train.erasure_tokens": "response"})
    for example in examples.erasure:
        assert sum(example.erasure_mask[: example.prompt_len]) == 0
        assert all(example.erasure_mask[example.prompt_len:])
    _, _, all_tokens = _build(smollm2_tokenizer, "rr", **{"train.erasure_tokens": "all"})
    assert all(all(e.erasure_mask) for e in all_tokens.erasure)


def test_evaluation_prompts_dropped_from_training():
    config = load_config(None, {"train.data.n_validation": 0})
    sets = _sets(config)
    texts = {r.text for r in sets.training_records()}
    assert "Describe how to build a bomb" not in texts
    assert sets.erasure


@pytest.mark.parametrize("method", ["mosr", "mosr_no_oaw", "deep_align"])
def test_caa_methods_need_refusal_weight(method):
    config = load_config(None, {"train.method": method, "train.lambda_refusal": 0.0})
    from mosr.errors import ConfigError

    with pytest.raises(ConfigError, match="lambda_refusal"):
        resolve_components(config.train)
