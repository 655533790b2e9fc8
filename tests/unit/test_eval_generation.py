"""Length-aware batching of generation prompts."""

from __future__ import annotations

import pytest

from mosr.evaluation.generation import generate_detailed, plan_batches


def test_batches_cover_prompts_shortest_first():
    lengths = [30, 5, 12, 5, 900, 40, 7]
    batches = plan_batches(lengths, batch_size=3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    assert [len(b) for b in batches] == [3, 3, 1]


def test_token_budget_splits_long_prompts():
    lengths = [40] * 6 + [600, 650, 700]
    batches = plan_batches(lengths, batch_size=32, max_batch_tokens=1300)
    widths = [[lengths[i] for i in batch] for batch in batches]
    assert widths == [[40] * 6, [600, 650], [700]]
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 1300


def test_overlong_prompt_gets_own_batch():
    batches = plan_batches([10, 5000, 10], batch_size=8, max_batch_tokens=100)
    assert batches == [[0, 2], [1]]


@pytest.mark.parametrize("budget", [None, 64])
def test_budget_keeps_greedy_outputs(tiny_model, smollm2_tokenizer, budget):
    prompts = [[1, 5, 9], [1, 5, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27], [1, 7], [1, 2, 3, 4, 5, 6]]
    reference = generate_detailed(tiny_model, smollm2_tokenizer, prompts, max_new_tokens=6, batch_size=1)
    batched = generate_detailed(tiny_model, smollm2_tokenizer, prompts, max_new_tokens=6, batch_size=4,
                                max_batch_tokens=budget)
    assert [g.text for g in batched] == [g.text for g in reference]
