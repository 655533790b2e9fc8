"""Log-likelihood scoring on the tiny model against a hand computation with one unpadded forward pass."""

from __future__ import annotations

import pytest
import torch

from mosr.data.records import MultipleChoiceRecord
from mosr.evaluation.scoring import (
    continuation_logprobs,
    mc_context,
    merged_adapter,
    score_multiple_choice,
    shared_context_logprobs,
)


def hand_logprobs(model, context, continuation):
    sequence = torch.tensor([list(context) + list(continuation)])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=sequence).logits[0].float(), dim=-1)
    return [float(log_probs[len(context) - 1 + i, token]) for i, token in enumerate(continuation)]


def test_continuation_logprobs_match_hand_computation(tiny_model):
    pairs = [([5, 17, 42], [7, 9]), ([3, 4, 5, 6, 8, 11, 12], [13]), ([1], [2, 3, 4])]
    batched = continuation_logprobs(tiny_model, pairs, batch_size=3, pad_id=0)
    for (context, continuation), values in zip(pairs, batched):
        assert values == pytest.approx(hand_logprobs(tiny_model, context, continuation), abs=1e-4)


def test_shared_context_matches_hand_computation(tiny_model):
    groups = [([5, 17, 42], [[7, 9], [11], [3, 4, 5, 6]]), ([1], [[2, 3], [8]])]
    shared = shared_context_logprobs(tiny_model, groups, pad_id=0)
    for (context, continuations), per_choice in zip(groups, shared):
        assert len(per_choice) == len(continuations)
        for continuation, values in zip(continuations, per_choice):
            assert values == pytest.approx(hand_logprobs(tiny_model, context, continuation), abs=1e-4)


def test_shared_context_without_repeatable_cache(tiny_model, monkeypatch):
    from mosr.evaluation import scoring

    monkeypatch.setattr(scoring, "kv_cache_of", lambda output: (object(), "cache"))
    context, continuations = [5, 17, 42], [[7, 9], [11]]
    shared = shared_context_logprobs(tiny_model, [(context, continuations)], pad_id=0)[0]
    for continuation, values in zip(continuations, shared):
        assert values == pytest.approx(hand_logprobs(tiny_model, context, continuation), abs=1e-4)


def test_shared_context_rejects_empty_continuation(tiny_model):
    with pytest.raises(ValueError, match="non-empty"):
        shared_context_logprobs(tiny_model, [([5, 6], [[7], []])])


@pytest.mark.parametrize("share_context", [True, False])
def test_multiple_choice_picks_highest_sum(tiny_model, smollm2_tokenizer, share_context):
    record = MultipleChoiceRecord(id="mc:0", source="mc", question="Which colour is the sky?",
                                  choices=["blue", "green grass", "red"], answer=0)
    row = score_multiple_choice(tiny_model, smollm2_tokenizer, [record], batch_size=2, share_context=share_context)[0]
    context = smollm2_tokenizer(mc_context(record), add_special_tokens=True)["input_ids"]
    sums = []
    for choice in record.choices:
        continuation = smollm2_tokenizer(" " + choice, add_special_tokens=False)["input_ids"]
        sums.append(sum(hand_logprobs(tiny_model, context, continuation)))
    assert row["logprobs"] == pytest.approx(sums, abs=1e-4)
    assert row["prediction"] == max(range(3), key=lambda i: sums[i])
    normalised = [s / (len(c) + 1) for s, c in zip(sums, record.choices)]
    assert row["prediction_norm"] == max(range(3), key=lambda i: normalised[i])
    assert row["correct"] == (row["prediction"] == 0)


def _lora(model, dtype):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model.to(dtype), LoraConfig(r=4, target_modules=["q_proj", "down_proj"], init_lora_weights=False))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    return peft_model.eval()


def test_merged_adapter_keeps_function(tiny_model):
    model = _lora(tiny_model, torch.float32)
    input_ids = torch.tensor([[5, 17, 300, 42, 9]])
    with torch.no_grad():
        unmerged = model(input_ids=input_ids).logits
        with merged_adapter(model) as merged:
            assert all(m.merged for m in merged.modules() if hasattr(m, "merged_adapters"))
            folded = merged(input_ids=input_ids).logits
        after = model(input_ids=input_ids).logits
        with model.disable_adapter():
            base = model(input_ids=input_ids).logits
    assert torch.allclose(folded, unmerged, atol=1e-4)
    assert not torch.allclose(unmerged, base, atol=1e-3)  # the adapter does change the function
    assert torch.equal(after, unmerged)


def test_merged_adapter_restores_bfloat16_weights(tiny_model):
    model = _lora(tiny_model, torch.bfloat16)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with merged_adapter(model):
        changed = [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]
    assert changed  # merging wrote into the base weights
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name


def test_merged_adapter_skips_plain_model(tiny_model):
    with merged_adapter(tiny_model) as same:
        assert same is tiny_model
