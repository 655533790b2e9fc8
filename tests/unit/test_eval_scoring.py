"""Log-likelihood scoring on the tiny model against a hand computation with one unpadded forward pass."""

from __future__ import annotations

import pytest
import torch

from mosr.data.records import MultipleChoiceRecord
from mosr.evaluation.scoring import continuation_logprobs, mc_context, score_multiple_choice


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


def test_multiple_choice_picks_highest_sum(tiny_model, smollm2_tokenizer):
    record = MultipleChoiceRecord(id="mc:0", source="mc", question="Which colour is the sky?",
                                  choices=["blue", "green grass", "red"], answer=0)
    row = score_multiple_choice(tiny_model, smollm2_tokenizer, [record], batch_size=2)[0]
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
