"""Deterministic, length-grouped batch schedules and padding of training examples."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from mosr.training.data import IGNORE_INDEX, Example


def batch_schedule(lengths: Sequence[int], batch_size: int, steps: int, seed: int, group_size: int = 8) -> list[list[int]]:
    """Return ``steps`` global batches of example indices, cycling through shuffled epochs.

    Within each epoch the shuffled order is cut into groups of ``group_size`` batches, each group
    is sorted by length and cut into batches, and the batches are shuffled again: examples of
    similar length share a batch (less padding) while the order stays random. The schedule
    depends only on the lengths, batch size, step count and seed, so a resumed run replays it.
    """
    if not lengths:
        return [[] for _ in range(steps)]
    rng = random.Random(seed)
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        epoch: list[list[int]] = []
        span = batch_size * max(group_size, 1)
        for start in range(0, len(order), span):
            group = sorted(order[start:start + span], key=lambda i: lengths[i])
            epoch.extend(group[i:i + batch_size] for i in range(0, len(group), batch_size))
        # A short last batch would change the loss scale; top it up from the epoch start.
        if len(epoch[-1]) < batch_size and len(order) >= batch_size:
            epoch[-1] = epoch[-1] + order[: batch_size - len(epoch[-1])]
        rng.shuffle(epoch)
        batches.extend(epoch)
    return batches[:steps]


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """Return this process's share of a global batch (every world_size-th example)."""
    return batch[rank::world_size]


def pad_examples(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad examples into ``input_ids``, ``attention_mask``, ``labels``, ``erasure_mask`` and ``weights``."""
    width = max(len(example) for example in examples)
    size = (len(examples), width)
    input_ids = torch.full(size, pad_id, dtype=torch.long)
    attention_mask = torch.zeros(size, dtype=torch.long)
    labels = torch.full(size, IGNORE_INDEX, dtype=torch.long)
    erasure_mask = torch.zeros(size, dtype=torch.float32)
    refusal_rows = torch.zeros(len(examples), dtype=torch.bool)
    for row, example in enumerate(examples):
        length = len(example)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        attention_mask[row, :length] = 1
        labels[row, :length] = torch.tensor(example.labels)
        if example.erasure_mask:
            erasure_mask[row, :length] = torch.tensor(example.erasure_mask, dtype=torch.float32)
        refusal_rows[row] = example.kind in ("refusal", "caa")
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "erasure_mask": erasure_mask,
        "weights": torch.tensor([example.weight for example in examples], dtype=torch.float32),
        "refusal_rows": refusal_rows,
    }


def pad_states(states: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """Stack cached ``[layers, tokens, hidden]`` states into ``[layers, batch, width, hidden]`` (zeros on padding)."""
    layers, _, hidden = states[0].shape
    out = torch.zeros((layers, len(states), width, hidden), dtype=states[0].dtype)
    for row, state in enumerate(states):
        out[:, row, : state.shape[1]] = state
    return out
