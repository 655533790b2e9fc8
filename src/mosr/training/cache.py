"""Frozen-model hidden states, computed once before training instead of once per step.

The frozen model's states of the erasure and retain examples never change during training, so
they are computed in one pass per example (adapter disabled, no gradients, stopping after the
deepest needed block) and kept in memory in ``cache_dtype``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import nn

from mosr.training.data import Example
from mosr.training.forward import autocast, run_layers
from mosr.training.losses import ErasureGeometry

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _right_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[index, : len(row)] = 1
    return input_ids, attention_mask


@torch.no_grad()
def frozen_states(
    model: nn.Module,
    examples: Sequence[Example],
    layers: Sequence[int],
    pad_id: int,
    precision: str = "float32",
    cache_dtype: str = "bfloat16",
    batch_size: int = 8,
) -> list[torch.Tensor]:
    """Return one ``[len(layers), tokens, hidden]`` tensor per example from the adapter-free model."""
    device = next(model.parameters()).device
    states: list[torch.Tensor | None] = [None] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]))
    disable = model.disable_adapter() if hasattr(model, "disable_adapter") else torch.no_grad()
    with disable:
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            input_ids, attention_mask = _right_pad([examples[i].input_ids for i in indices], pad_id)
            with autocast(device, precision):
                stacked, _ = run_layers(model, input_ids.to(device), attention_mask.to(device), layers)
            stacked = stacked.to("cpu", DTYPES[cache_dtype])
            for row, index in enumerate(indices):
                states[index] = stacked[:, row, : len(examples[index])].clone()
    return states  # type: ignore[return-value]


@torch.no_grad()
def prompt_embeddings(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    layers: Sequence[int],
    pad_id: int,
    precision: str = "float32",
    batch_size: int = 16,
) -> torch.Tensor:
    """Return ``[n, len(layers), hidden]`` float32 states at the last token of each prompt (adapter off)."""
    device = next(model.parameters()).device
    out = torch.zeros((len(prompts), len(layers), 0))
    rows: list[torch.Tensor | None] = [None] * len(prompts)
    disable = model.disable_adapter() if hasattr(model, "disable_adapter") else torch.no_grad()
    with disable:
        for start in range(0, len(prompts), batch_size):
            chunk = list(range(start, min(start + batch_size, len(prompts))))
            input_ids, attention_mask = _right_pad([prompts[i] for i in chunk], pad_id)
            with autocast(device, precision):
                stacked, _ = run_layers(model, input_ids.to(device), attention_mask.to(device), layers)
            for row, index in enumerate(chunk):
                rows[index] = stacked[:, row, len(prompts[index]) - 1].float().cpu()
    if rows:
        out = torch.stack(rows)  # type: ignore[arg-type]
    return out


def geometry_from_states(
    name: str,
    retain_states: Sequence[torch.Tensor],
    layer_positions: Sequence[int],
    masked_dims: int,
    random_target_scale: float,
    seed: int,
) -> ErasureGeometry:
    """Build the erasure geometry from frozen retain states.

    ``layer_positions`` picks the target layers out of the cached retain layer axis. Statistics
    are per dimension over every retain token: mean and std (standardised), the ``masked_dims``
    largest mean magnitudes (masked, and left out of the random target), and the mean norm of
    the other dimensions, which scales the random target.
    """
    if name == "plain":
        return ErasureGeometry("plain")
    if not retain_states:
        raise ValueError(f"the {name} erasure geometry needs frozen retain states, and there are none")
    tokens = torch.cat([state[list(layer_positions)].float() for state in retain_states], dim=1)
    mean = tokens.mean(dim=1)
    std = tokens.std(dim=1).clamp_min(1e-4)
    if name == "standardised":
        return ErasureGeometry("standardised", mean=mean, std=std)
    mask = torch.ones_like(mean)
    top = tokens.abs().mean(dim=1).topk(min(masked_dims, mean.shape[1]), dim=1).indices
    mask.scatter_(1, top, 0.0)
    if name == "masked":
        return ErasureGeometry("masked", mask=mask)
    if name == "random_target":
        # The target lives outside the masked massive dimensions: LoRA barely moves those, and
        # they would otherwise take most of the distance and of its gradient.
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(mean.shape, generator=generator) * mask
        direction = direction / direction.norm(dim=1, keepdim=True)
        norm = (tokens * mask[:, None, :]).norm(dim=-1).mean(dim=1, keepdim=True)
        return ErasureGeometry("random_target", mask=mask, target=direction * norm * random_target_scale)
    raise ValueError(f"unknown erasure geometry {name!r}")
