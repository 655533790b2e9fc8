"""White-box soft-prompt (embedding) attack: optimise a few input embeddings so the model starts with a target.

Layout of the input, in embedding space:
``[chat template up to and including the request] [soft vectors] [rest of the template] [target]``.
The soft vectors start as the embeddings of "!" (the usual GCG initialisation) and are
optimised with Adam to minimise the cross-entropy of the target tokens. Model weights are
frozen for the attack and their ``requires_grad`` flags are restored afterwards, so this works
on a PEFT model during or after training. The response is then generated greedily from the
prompt with the optimised vectors (the target itself is not prefilled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mosr.evaluation.generation import Generation, kv_cache_of, stop_token_ids
from mosr.models import encode_rendered, render_chat

logger = logging.getLogger(__name__)

_MARKER = "\u2063MOSR-SOFT-PROMPT\u2063"


@dataclass(frozen=True)
class SoftPromptResult:
    generation: Generation
    final_loss: float
    steps_run: int


def split_chat(tokenizer: PreTrainedTokenizerBase, request: str, system_prompt: str | None) -> tuple[list[int], list[int]]:
    """Token ids of the chat template before (request included) and after the point where soft vectors go."""
    rendered = render_chat(tokenizer, _MARKER, system_prompt)
    position = rendered.index(_MARKER)
    before = encode_rendered(tokenizer, rendered[:position] + request)
    after = tokenizer(rendered[position + len(_MARKER):], add_special_tokens=False)["input_ids"]
    return before, after


def soft_prompt_attack(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    request: str,
    target: str,
    num_soft_tokens: int = 8,
    steps: int = 40,
    learning_rate: float = 0.01,
    early_stop_loss: float = 0.05,
    max_new_tokens: int = 64,
    system_prompt: str | None = None,
    seed: int = 0,
) -> SoftPromptResult:
    """Optimise ``num_soft_tokens`` vectors for at most ``steps`` Adam steps, then generate the response."""
    torch.manual_seed(seed)
    embedding = model.get_input_embeddings()
    device = embedding.weight.device
    dtype = embedding.weight.dtype

    before, after = split_chat(tokenizer, request, system_prompt)
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    if not target_ids:
        raise ValueError("soft-prompt attack needs a non-empty target string")
    init_id = tokenizer("!", add_special_tokens=False)["input_ids"][0]

    frozen: list[tuple[torch.nn.Parameter, bool]] = [(p, p.requires_grad) for p in model.parameters()]
    was_training = model.training
    try:
        for parameter, _ in frozen:
            parameter.requires_grad_(False)
        model.eval()

        with torch.no_grad():
            embed = lambda ids: embedding(torch.tensor([ids], dtype=torch.long, device=device))  # noqa: E731
            before_embeds = embed(before).float()
            after_embeds = embed(after).float()
            target_embeds = embed(target_ids).float()
            soft_init = embed([init_id] * num_soft_tokens).float().clone()
        soft = torch.nn.Parameter(soft_init)
        optimiser = torch.optim.Adam([soft], lr=learning_rate)
        targets = torch.tensor([target_ids], dtype=torch.long, device=device)

        loss_value = float("inf")
        steps_run = 0
        with torch.enable_grad():
            for step in range(steps):
                inputs = torch.cat([before_embeds, soft, after_embeds, target_embeds], dim=1).to(dtype)
                # Only the positions that predict target tokens need vocabulary logits.
                logits = model(inputs_embeds=inputs, logits_to_keep=len(target_ids) + 1).logits.float()
                predicted = logits[:, :-1]
                loss = torch.nn.functional.cross_entropy(predicted.reshape(-1, predicted.shape[-1]), targets.reshape(-1))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                loss_value = float(loss.detach())
                steps_run = step + 1
                if loss_value < early_stop_loss:
                    break

        with torch.no_grad():
            prompt_embeds = torch.cat([before_embeds, soft.detach(), after_embeds], dim=1).to(dtype)
            generation = _generate_from_embeds(model, tokenizer, prompt_embeds, max_new_tokens)
    finally:
        for parameter, flag in frozen:
            parameter.requires_grad_(flag)
        model.train(was_training)

    logger.debug("soft-prompt attack: loss %.3f after %d steps", loss_value, steps_run)
    return SoftPromptResult(generation=generation, final_loss=loss_value, steps_run=steps_run)


def _generate_from_embeds(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt_embeds: torch.Tensor, max_new_tokens: int
) -> Generation:
    """Greedy decoding from input embeddings with a KV cache, stopping at end-of-turn tokens."""
    stops = set(stop_token_ids(tokenizer))
    embedding = model.get_input_embeddings()
    output: Any = model(inputs_embeds=prompt_embeds, use_cache=True)
    past, cache_argument = kv_cache_of(output)
    tokens: list[int] = []
    stopped = False
    for _ in range(max_new_tokens):
        next_token = int(output.logits[0, -1].argmax())
        if next_token in stops:
            stopped = True
            break
        tokens.append(next_token)
        next_embeds = embedding(torch.tensor([[next_token]], device=prompt_embeds.device)).to(prompt_embeds.dtype)
        output = model(inputs_embeds=next_embeds, use_cache=True, **{cache_argument: past})
        past, cache_argument = kv_cache_of(output)
    raw = tokenizer.decode(tokens, skip_special_tokens=True)
    return Generation(text=raw.strip(), num_tokens=len(tokens), stopped=stopped, raw=raw)
