"""Loss terms of representation rerouting, the cross-entropy terms and the coefficient schedule.

Shapes: hidden states are stacked per layer as ``[layers, batch, tokens, hidden]``; masks are
``[batch, tokens]`` with 1 on the tokens a term covers. Every loss is computed in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def coefficients(step: int, max_steps: int, alpha: float, schedule: str = "reference", retain_ratio: float = 1.0) -> tuple[float, float]:
    """Return (c_E, c_R) at 0-based ``step`` of ``max_steps``.

    ``reference`` is the Circuit Breakers shape derived from the step count:
    c_E = alpha (1 - t / 2N) and c_R = alpha t / 2N, so c_E falls from alpha to alpha / 2 while
    c_R rises from 0 to alpha / 2. ``constant`` keeps c_E = alpha and c_R = retain_ratio * alpha.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if schedule == "reference":
        progress = step / (2 * max_steps)
        return alpha * (1.0 - progress), alpha * progress
    if schedule == "constant":
        return alpha, alpha * retain_ratio
    raise ValueError(f"unknown schedule {schedule!r}; use reference or constant")


def _masked_mean_per_sample(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average ``[layers, batch, tokens]`` values over layers and masked tokens, per sample."""
    weights = mask.to(values.dtype).unsqueeze(0).expand_as(values)
    totals = (values * weights).sum(dim=(0, 2))
    counts = weights.sum(dim=(0, 2)).clamp_min(1.0)
    return totals / counts


@dataclass
class ErasureGeometry:
    """Transform applied to hidden states before the rerouting cosine.

    ``plain`` leaves states unchanged. ``standardised`` subtracts the per-dimension mean and
    divides by the std of the frozen states on retain data, which removes the few massive
    dimensions that otherwise dominate the cosine. ``masked`` zeroes the dimensions in
    ``mask`` (the largest mean magnitudes). ``random_target`` uses ``target`` instead of a cosine.
    Tensors are per target layer: ``mean``/``std``/``mask``/``target`` are ``[layers, hidden]``.
    """

    name: str = "plain"
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    target: torch.Tensor | None = None

    def transform(self, states: torch.Tensor) -> torch.Tensor:
        if self.name == "standardised":
            return (states - self.mean[:, None, None, :]) / self.std[:, None, None, :]
        if self.name == "masked":
            return states * self.mask[:, None, None, :]
        return states

    def to(self, device: torch.device) -> ErasureGeometry:
        moved = {key: None if value is None else value.to(device) for key, value in self.tensors().items()}
        return ErasureGeometry(self.name, **moved)

    def tensors(self) -> dict[str, torch.Tensor | None]:
        return {"mean": self.mean, "std": self.std, "mask": self.mask, "target": self.target}


def rerouting_loss_per_sample(
    adapted: torch.Tensor,
    frozen: torch.Tensor,
    mask: torch.Tensor,
    geometry: ErasureGeometry | None = None,
) -> torch.Tensor:
    """Return l_i per sample: the mean over masked tokens and layers of the rerouting loss.

    For the cosine geometries l_i = mean ReLU(cos(h', h)) (identical states give 1, orthogonal
    or opposite states give 0). For ``random_target`` l_i = mean ||h' - t||_2, the distance to a
    fixed random vector t over the dimensions the geometry's ``mask`` keeps (all without a mask),
    which has a non-zero gradient at the start. It is in hidden-state
    units like the retain loss, so c_E and c_R weigh gradients of comparable size per token.
    """
    geometry = geometry or ErasureGeometry()
    adapted = adapted.float()
    if geometry.name == "random_target":
        target = geometry.target.float()[:, None, None, :]
        difference = adapted - target
        if geometry.mask is not None:
            difference = difference * geometry.mask[:, None, None, :]
        distance = difference.norm(dim=-1)
        return _masked_mean_per_sample(distance, mask)
    cosine = F.cosine_similarity(geometry.transform(adapted), geometry.transform(frozen.float()), dim=-1, eps=1e-6)
    return _masked_mean_per_sample(F.relu(cosine), mask)


def weighted_erasure_loss(per_sample: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """L_E = sum_i w_i l_i / batch size (uniform weights when ``weights`` is None)."""
    if weights is None:
        return per_sample.mean()
    return (weights.to(per_sample) * per_sample).sum() / per_sample.shape[0]


def mean_cosine(adapted: torch.Tensor, frozen: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean plain cosine of adapted and frozen states over masked tokens and layers (a diagnostic)."""
    cosine = F.cosine_similarity(adapted.float(), frozen.float(), dim=-1, eps=1e-6)
    return _masked_mean_per_sample(cosine, mask).mean()


def retain_loss(
    adapted: torch.Tensor, frozen: torch.Tensor, mask: torch.Tensor, denominator: torch.Tensor | float | None = None
) -> torch.Tensor:
    """L_R = mean over masked tokens and layers of ||h' - h||_2.

    ``denominator`` replaces the local count of (token, layer) pairs, so that processes sharing
    a global batch can divide by the global count (see ``shared_count``).
    """
    distance = (adapted.float() - frozen.float()).norm(dim=-1)
    weights = mask.to(distance.dtype).unsqueeze(0).expand_as(distance)
    count = weights.sum() if denominator is None else denominator
    return (distance * weights).sum() / torch.as_tensor(count, dtype=distance.dtype, device=distance.device).clamp_min(1.0)


def token_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    sample_index: torch.Tensor,
    sample_weights: torch.Tensor | None = None,
    denominator: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Cross-entropy over labelled tokens only, optionally weighted per sample.

    ``logits`` ``[n, vocab]`` and ``labels`` ``[n]`` are already gathered at the labelled positions
    (the caller drops positions labelled -100); ``sample_index`` ``[n]`` names each token's sample.
    With weights the loss is sum_i w_i sum_t ce_it / number of tokens, so weights of mean 1 keep
    the scale of the unweighted mean. ``denominator`` replaces the local token count (see
    ``shared_count``).
    """
    if labels.numel() == 0:
        return logits.sum() * 0.0
    losses = F.cross_entropy(logits.float(), labels, reduction="none")
    if sample_weights is not None:
        losses = losses * sample_weights.to(losses)[sample_index]
    count = labels.numel() if denominator is None else denominator
    return losses.sum() / torch.as_tensor(count, dtype=losses.dtype, device=losses.device).clamp_min(1.0)


def shared_count(local_count: torch.Tensor | float) -> torch.Tensor:
    """Return the global count divided by the process count (the local count in one process).

    Data-parallel training averages gradients over processes, so dividing each process's sum
    by this value makes a token mean over the global batch, whatever each process holds.
    """
    count = torch.as_tensor(local_count, dtype=torch.float32).detach().clone()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        world = torch.distributed.get_world_size()
        if world > 1:
            backend = torch.distributed.get_backend()
            device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
            count = count.to(device)
            torch.distributed.all_reduce(count)
            count = count / world
    return count
