"""Batched greedy generation with left padding, length-sorted batches and stop at end of turn."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

# Padded prompt tokens per generation batch. With 32-prompt batches, the study suite's few long
# prompts (jailbreak templates up to ~900 tokens) padded whole batches to their length: 105k
# padded vs 51k real prompt tokens, over half of the base model's generation time (2 CPU threads).
DEFAULT_MAX_BATCH_TOKENS = 4096


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """End-of-turn tokens: EOS plus the chat template's turn terminators where the vocabulary has them."""
    ids = {tokenizer.eos_token_id}
    for token in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>", "<|endoftext|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            ids.add(token_id)
    return sorted(i for i in ids if i is not None)


def _left_pad(batch: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, width - len(ids):] = 1
    return input_ids.to(device), attention_mask.to(device)


@dataclass(frozen=True)
class Generation:
    """One response: decoded text, number of generated tokens, and whether an end-of-turn token ended it.

    ``text`` is stripped; ``raw`` keeps leading spaces, for joining a continuation to a prefill.
    """

    text: str
    num_tokens: int
    stopped: bool
    raw: str = ""


def plan_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None) -> list[list[int]]:
    """Group prompt indices into batches of similar length, shortest first.

    A batch contains at most ``batch_size`` prompts. When ``max_batch_tokens`` is set, it also
    contains at most that many padded prompt tokens (rows x longest prompt). A few long prompts
    (in-context jailbreak templates, HarmBench contextual behaviours) then do not pad a whole
    batch to their length. A prompt longer than the budget gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[index]  # sorted, so the newest prompt is the batch's longest
        too_many = len(current) >= batch_size
        too_wide = max_batch_tokens is not None and (len(current) + 1) * width > max_batch_tokens
        if current and (too_many or too_wide):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


@torch.inference_mode()
def generate_detailed(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: Sequence[Sequence[int]],
    max_new_tokens: int = 256,
    batch_size: int = 16,
    on_batch_done: Callable[[list[int], list[Generation]], None] | None = None,
    max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
) -> list[Generation]:
    """Generate greedy responses for tokenised prompts, returned in input order.

    Prompts are batched by length (see ``plan_batches``) so each batch pads little.
    ``on_batch_done(indices, results)`` fires after every batch, which lets callers append
    results to a cache as they arrive. Generation stops at the tokenizer's end-of-turn tokens
    or after ``max_new_tokens``.
    """
    if not prompt_ids:
        return []
    device = next(model.parameters()).device
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    results: list[Generation | None] = [None] * len(prompt_ids)

    for indices in plan_batches([len(ids) for ids in prompt_ids], batch_size, max_batch_tokens):
        input_ids, attention_mask = _left_pad([prompt_ids[i] for i in indices], pad_id, device)
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=pad_id,
        )
        new_tokens = output[:, input_ids.shape[1]:]
        batch_results = [_decode_row(tokenizer, row.tolist(), stops) for row in new_tokens]
        for index, result in zip(indices, batch_results):
            results[index] = result
        if on_batch_done is not None:
            on_batch_done(indices, batch_results)

    return [r if r is not None else Generation("", 0, False) for r in results]


def _decode_row(tokenizer: PreTrainedTokenizerBase, row: list[int], stops: Sequence[int]) -> Generation:
    """Cut a generated row at its first stop token; padding after the stop is not counted."""
    stop_set = set(stops)
    length = len(row)
    stopped = False
    for position, token in enumerate(row):
        if token in stop_set:
            length, stopped = position, True
            break
    raw = tokenizer.decode(row[:length], skip_special_tokens=True)
    return Generation(text=raw.strip(), num_tokens=length, stopped=stopped, raw=raw)


def generate_batched(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: Sequence[Sequence[int]],
    max_new_tokens: int = 256,
    batch_size: int = 16,
    on_batch_done: Callable[[list[int], list[str]], None] | None = None,
    max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
) -> list[str]:
    """Generate greedy responses for tokenised prompts and return only the texts, in input order.

    Same contract as ``generate_detailed``; ``on_batch_done(indices, texts)`` gets the texts.
    """
    callback = None
    if on_batch_done is not None:
        def callback(indices: list[int], batch: list[Generation]) -> None:
            on_batch_done(indices, [g.text for g in batch])

    results = generate_detailed(model, tokenizer, prompt_ids, max_new_tokens, batch_size, callback, max_batch_tokens)
    return [g.text for g in results]


def kv_cache_of(output: Any) -> tuple[Any, str]:
    """Return the KV cache of a forward output and the keyword that passes it back.

    transformers 5.x renamed ``past_key_values`` to ``cache``, and the old name still works with
    a deprecation warning. This function accepts either name.
    """
    if getattr(output, "cache", None) is not None:
        return output.cache, "cache"
    return output.past_key_values, "past_key_values"
