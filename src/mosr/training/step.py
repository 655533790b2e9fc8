"""One training step as a module: every loss term from one erasure batch and one retain batch.

Wrapping the whole step in one ``nn.Module`` gives DDP and DeepSpeed exactly one forward and
one backward per step. Inside, the step runs two passes: a truncated one for the erasure batch,
and a full or truncated one for the retain batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mosr.training import losses
from mosr.training.forward import autocast, labelled_logits, run_layers

TERMS = ("loss", "loss_erasure", "loss_retain", "loss_refusal", "loss_compliance", "erasure_cosine", "retain_distance")


@dataclass
class StepSettings:
    """Switches and weights of one step, derived from the config and the method's components."""

    target_layers: list[int]
    retain_layers: list[int]
    erasure: bool
    refusal: bool
    compliance: bool
    lambda_refusal: float
    lambda_compliance: float
    weight_refusal: bool
    retain_refusal_examples: bool = True
    precision: str = "float32"
    recompute_frozen: bool = False
    reference_loop: bool = False

    @property
    def retain_full_pass(self) -> bool:
        return self.refusal or self.compliance


class TrainStep(nn.Module):
    """Compute the total loss L = c_E L_E + c_R L_R + lambda_F L_F + lambda_C L_C and its terms.

    With ``reference_loop`` set, the step instead recomputes the frozen states with a second,
    adapter-disabled pass and runs every pass at full depth with the head on all positions.
    This is the unoptimised loop that the benchmark compares against.
    """

    def __init__(self, model: nn.Module, settings: StepSettings, geometry: losses.ErasureGeometry) -> None:
        super().__init__()
        self.model = model
        self.settings = settings
        self.geometry = geometry

    def _frozen(self, batch: dict[str, torch.Tensor], layers: list[int]) -> torch.Tensor:
        if self.settings.recompute_frozen and not self.settings.reference_loop:
            with torch.no_grad(), self.model.disable_adapter():
                frozen, _ = run_layers(self.model, batch["input_ids"], batch["attention_mask"], layers)
            return frozen
        if not self.settings.reference_loop:
            return batch["frozen"]
        with torch.no_grad(), self.model.disable_adapter():
            output = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True, use_cache=False)
        # hidden_states[l + 1] is the output of block l. NOTE: transformers applies the final norm
        # to the last entry, so for a target layer at the last block this loop compares normed states.
        return torch.stack([output.hidden_states[layer + 1] for layer in layers])

    def forward(
        self,
        erasure: dict[str, torch.Tensor] | None,
        retain: dict[str, torch.Tensor] | None,
        c_erasure: float,
        c_retain: float,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        settings = self.settings
        device = next(p for p in self.model.parameters() if p.requires_grad).device
        zero = torch.zeros((), device=device)
        terms = {name: zero for name in TERMS}
        total = zero

        if settings.erasure and erasure is not None:
            with autocast(device, settings.precision):
                frozen = self._frozen(erasure, settings.target_layers)
                adapted, _ = run_layers(
                    self.model, erasure["input_ids"], erasure["attention_mask"], settings.target_layers,
                    full=settings.reference_loop,
                )
            mask = erasure["erasure_mask"]
            per_sample = losses.rerouting_loss_per_sample(adapted, frozen, mask, self.geometry)
            loss_erasure = losses.weighted_erasure_loss(per_sample, erasure["weights"])
            terms["loss_erasure"] = loss_erasure
            terms["erasure_cosine"] = losses.mean_cosine(adapted.detach(), frozen, mask)
            total = total + c_erasure * loss_erasure

        if retain is not None and (settings.erasure or settings.retain_full_pass):
            need_states = settings.erasure
            layers = settings.retain_layers if need_states else [0]
            full = settings.retain_full_pass or settings.reference_loop
            with autocast(device, settings.precision):
                frozen = self._frozen(retain, settings.retain_layers) if need_states else None
                adapted, last = run_layers(self.model, retain["input_ids"], retain["attention_mask"], layers, full=full)
                if settings.retain_full_pass:
                    logits, targets, rows = labelled_logits(
                        self.model, last, retain["labels"], all_positions=settings.reference_loop
                    )
            if need_states:
                token_mask = retain["attention_mask"].float()
                if not settings.retain_refusal_examples:
                    token_mask = token_mask * (~retain["refusal_rows"]).float()[:, None]
                pairs = losses.shared_count(token_mask.sum() * adapted.shape[0])
                loss_retain = losses.retain_loss(adapted, frozen, token_mask, pairs)
                terms["loss_retain"] = loss_retain
                terms["retain_distance"] = loss_retain.detach()
                total = total + c_retain * loss_retain
            if settings.retain_full_pass:
                refusal_token = retain["refusal_rows"][rows]
                if settings.refusal:
                    weights = retain["weights"] if settings.weight_refusal else None
                    pick = refusal_token.nonzero(as_tuple=True)[0]
                    loss_refusal = losses.token_cross_entropy(
                        logits[pick], targets[pick], rows[pick], weights, losses.shared_count(pick.numel())
                    )
                    terms["loss_refusal"] = loss_refusal
                    total = total + settings.lambda_refusal * loss_refusal
                if settings.compliance:
                    pick = (~refusal_token).nonzero(as_tuple=True)[0]
                    loss_compliance = losses.token_cross_entropy(
                        logits[pick], targets[pick], rows[pick], denominator=losses.shared_count(pick.numel())
                    )
                    terms["loss_compliance"] = loss_compliance
                    total = total + settings.lambda_compliance * loss_compliance

        terms["loss"] = total
        return total, {name: value.detach().float() for name, value in terms.items()}
