"""Forward passes of training: layer capture with gradients, early stop after the deepest needed layer.

Layer l is the output of decoder block l (0-based), the convention used across mosr. The
representation losses need blocks 0..max(layers) only, so those passes stop there by raising
from a forward hook: nothing above that block runs, and the language-model head never runs.
The cross-entropy terms need the full model, and there the head runs only at labelled positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from mosr.errors import ModelError


class _StopForward(Exception):
    """Raised by a hook once the deepest needed layer has run."""


def unwrap(model: nn.Module) -> nn.Module:
    """Return the transformers causal LM under DDP, DeepSpeed or PEFT wrappers."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    if type(model).__name__.startswith("Peft") and hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


def decoder_parts(model: nn.Module) -> tuple[nn.Module, nn.ModuleList, nn.Module]:
    """Return (decoder backbone, its list of blocks, the language-model head)."""
    causal_lm = unwrap(model)
    backbone = causal_lm.get_decoder() if hasattr(causal_lm, "get_decoder") else None
    blocks = getattr(backbone, "layers", None)
    head = causal_lm.get_output_embeddings() if hasattr(causal_lm, "get_output_embeddings") else None
    if backbone is None or not isinstance(blocks, nn.ModuleList) or head is None:
        raise ModelError(
            f"cannot find the decoder blocks and output head of {type(causal_lm).__name__}; "
            "training supports Llama-, Mistral- and Qwen-style causal LMs"
        )
    return backbone, blocks, head


def _hidden(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else value[0]


@contextmanager
def capture(blocks: nn.ModuleList, layers: Sequence[int], stop_after: int | None) -> Iterator[dict[int, torch.Tensor]]:
    """Record the outputs of ``blocks[l]`` for l in ``layers`` (with gradients); optionally stop after a block."""
    captured: dict[int, torch.Tensor] = {}
    wanted = set(layers)
    handles = []

    def make_hook(index: int):
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if index in wanted:
                captured[index] = _hidden(output)
            if stop_after is not None and index == stop_after:
                raise _StopForward

        return hook

    try:
        for index in sorted(wanted | ({stop_after} if stop_after is not None else set())):
            handles.append(blocks[index].register_forward_hook(make_hook(index)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def run_layers(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    layers: Sequence[int],
    full: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the model and return ``([len(layers), batch, tokens, hidden], last hidden state or None)``.

    With ``full`` False the pass stops after block max(layers) and returns None as the last
    state. With ``full`` True it runs every block and the final norm, for the cross-entropy terms.
    """
    backbone, blocks, _ = decoder_parts(model)
    stop = None if full else max(layers)
    last = None
    with capture(blocks, layers, stop) as captured:
        try:
            output = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            last = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        except _StopForward:
            pass
    missing = [layer for layer in layers if layer not in captured]
    if missing:
        raise ModelError(f"layers {missing} were not reached in the forward pass")
    return torch.stack([captured[layer] for layer in layers]), last


def labelled_logits(
    model: nn.Module, last_hidden: torch.Tensor, labels: torch.Tensor, all_positions: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply the output head only where a next token is labelled.

    Returns ``(logits [n, vocab], target ids [n], row index [n])`` for the n positions t whose
    token t+1 has a label other than -100. ``all_positions`` runs the head on every position
    first, as a plain causal-LM forward does (the benchmark's reference loop).
    """
    _, _, head = decoder_parts(model)
    targets = labels[:, 1:]
    rows, cols = torch.nonzero(targets != -100, as_tuple=True)
    if all_positions:
        return head(last_hidden)[:, :-1][rows, cols], targets[rows, cols], rows
    hidden = last_hidden[:, :-1][rows, cols]
    return head(hidden), targets[rows, cols], rows


def autocast(device: torch.device, precision: str):
    """Return a bfloat16 autocast context on request, else a no-op context."""
    if precision == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()
