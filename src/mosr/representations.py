"""Residual-stream representations of chat prompts at every layer, batched and stored as safetensors.

Layer indexing: the stored tensor has ``num_layers + 1`` entries on its layer axis, the same
order as Hugging Face's ``hidden_states``. Entry 0 is the input of decoder block 0 (the token
embeddings) and entry ``l + 1`` is the output of decoder block ``l``, taken before the model's
final norm. "Layer l" everywhere else in mosr (analysis and training) means the output of decoder
block ``l``, so it is entry ``l + 1`` here; ``Representations.at_layer`` does that shift.

The states are recorded by forward hooks on the decoder blocks, not by ``output_hidden_states``.
Hugging Face applies the final norm to the last entry of ``hidden_states``, and a hook can keep
one position per prompt instead of the whole sequence.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mosr.errors import ConfigError, DataError, ModelError
from mosr.models import fit_prompt, model_id, num_layers

logger = logging.getLogger(__name__)

INDEX_VERSION = 1
LAYER_CONVENTION = (
    "axis 1 index 0 = token embeddings (input of decoder block 0); index l+1 = output of decoder "
    "block l (residual stream before the final norm); 'layer l' means index l+1"
)

Reducer = Callable[[torch.Tensor], torch.Tensor]


# --- model structure ---------------------------------------------------------------------------


def unwrap_peft(model: nn.Module) -> nn.Module:
    """Return the transformers model under a PeftModel (LoRA layers stay injected in it)."""
    get_base_model = getattr(model, "get_base_model", None)
    if callable(get_base_model) and type(model).__name__.startswith("Peft"):
        return get_base_model()
    return model


def decoder_backbone(model: nn.Module) -> nn.Module:
    """Return the decoder stack without the language-model head (``LlamaModel`` inside ``LlamaForCausalLM``)."""
    model = unwrap_peft(model)
    prefix = getattr(model, "base_model_prefix", "")
    backbone = getattr(model, prefix, None) if prefix else None
    return backbone if isinstance(backbone, nn.Module) else model


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """Find the list of decoder blocks: ``.layers`` of the backbone, else the one ModuleList of the right length."""
    expected = num_layers(unwrap_peft(model))
    backbone = decoder_backbone(model)
    layers = getattr(backbone, "layers", None)
    if isinstance(layers, nn.ModuleList) and len(layers) == expected:
        return layers
    candidates = [m for m in backbone.modules() if isinstance(m, nn.ModuleList) and len(m) == expected]
    if len(candidates) != 1:
        raise ModelError(
            f"cannot find the {expected} decoder blocks of {type(backbone).__name__}: found "
            f"{len(candidates)} module lists of that length; this architecture is not supported"
        )
    return candidates[0]


def weights_fingerprint(model: nn.Module, values_per_end: int = 64) -> str:
    """Hash the first and last values of every parameter, so a changed adapter or checkpoint is noticed.

    It reads 128 values per tensor, so it is cheap and tells apart two trainings or two random
    initialisations. It can miss an edit confined to the middle of a tensor.
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            flat = parameter.detach().reshape(-1)
            ends = torch.cat([flat[:values_per_end], flat[-values_per_end:]]).to("cpu", torch.float32)
            digest.update(name.encode())
            digest.update(str(tuple(parameter.shape)).encode())
            digest.update(ends.numpy().tobytes())
    return digest.hexdigest()[:16]


# --- hooks -------------------------------------------------------------------------------------


@dataclass
class ResidualRecorder:
    """States captured by ``record_residual_stream``: ``states[i]`` is hidden-state index ``i``.

    ``reduce`` maps a ``[batch, seq, hidden]`` state to what is kept (by default the whole
    state). It runs inside the hook, so whole sequences need not stay in memory.
    """

    num_states: int
    reduce: Reducer | None = None
    states: list[torch.Tensor | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.states = [None] * self.num_states

    def store(self, index: int, hidden: torch.Tensor) -> None:
        hidden = hidden.detach()
        self.states[index] = self.reduce(hidden) if self.reduce is not None else hidden

    def stacked(self) -> torch.Tensor:
        """Stack the captured states on a new axis 1: ``[batch, num_states, ...]``."""
        missing = [i for i, state in enumerate(self.states) if state is None]
        if missing:
            raise RuntimeError(f"hidden-state indices {missing} were not recorded; did the forward pass stop early?")
        return torch.stack(self.states, dim=1)  # type: ignore[arg-type]


def _first_tensor(value: Any) -> torch.Tensor:
    """Return the hidden states from a block's output (a tensor, or a tuple starting with one)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    raise ModelError(f"decoder block returned {type(value).__name__}, expected a tensor or a tuple starting with one")


@contextmanager
def record_residual_stream(model: nn.Module, reduce: Reducer | None = None) -> Iterator[ResidualRecorder]:
    """Register hooks that record the residual stream of every layer while the context is open.

    The input of block 0 (a pre-hook) gives index 0 and the output of block ``l`` gives index
    ``l + 1``. The hooks are removed in ``finally``, so an exception inside the ``with`` body
    leaves the model as it was.
    """
    blocks = decoder_blocks(model)
    recorder = ResidualRecorder(num_states=len(blocks) + 1, reduce=reduce)

    def record_input(_module: nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = args[0] if args else kwargs.get("hidden_states")
        recorder.store(0, _first_tensor(hidden))

    def make_output_hook(index: int) -> Callable[..., None]:
        def record_output(_module: nn.Module, _args: tuple, output: Any) -> None:
            recorder.store(index, _first_tensor(output))

        return record_output

    handles = []
    try:
        handles.append(blocks[0].register_forward_pre_hook(record_input, with_kwargs=True))
        for block_index, block in enumerate(blocks):
            handles.append(block.register_forward_hook(make_output_hook(block_index + 1)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()


# --- extraction --------------------------------------------------------------------------------


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row_index, row in enumerate(rows):
        input_ids[row_index, width - len(row):] = torch.tensor(row, dtype=torch.long)
        attention_mask[row_index, width - len(row):] = 1
    return input_ids, attention_mask


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def extract_hidden_states(
    model: PreTrainedModel,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]] | None = None,
    batch_size: int = 16,
    pad_id: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the model over tokenised prompts and return residual-stream states at every layer.

    Returns ``(last_token, response_mean)``, float32 on the CPU, each ``[n, num_layers + 1,
    hidden]``. ``last_token`` is the state at the last prompt token (the position that
    generates the first response token). ``response_mean`` is the mean over the response
    tokens appended after each prompt, or None when no responses are given. Sequences are
    left-padded, sorted by length to waste little padding, and returned in input order.
    """
    if not prompt_ids:
        raise DataError("no prompts to extract representations from")
    if any(len(ids) == 0 for ids in prompt_ids):
        raise DataError("a tokenised prompt is empty; every prompt needs at least one token")
    if response_ids is not None:
        if len(response_ids) != len(prompt_ids):
            raise DataError(f"{len(response_ids)} responses for {len(prompt_ids)} prompts; give one response per prompt")
        empty = [i for i, ids in enumerate(response_ids) if len(ids) == 0]
        if empty:
            raise DataError(f"responses at positions {empty[:5]} are empty; a response mean needs at least one token")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")

    backbone = decoder_backbone(model)
    device = _model_device(model)
    response_lengths = [len(ids) for ids in response_ids] if response_ids is not None else [0] * len(prompt_ids)
    sequences = [list(p) + list(response_ids[i]) if response_ids is not None else list(p) for i, p in enumerate(prompt_ids)]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))

    last_token: torch.Tensor | None = None
    response_mean: torch.Tensor | None = None
    bar = tqdm(total=len(sequences), desc="representations", unit="prompt", disable=None if progress else True)

    with record_residual_stream(model) as recorder:
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            input_ids, attention_mask = _left_pad([sequences[i] for i in indices], pad_id)
            width = input_ids.shape[1]
            lengths = torch.tensor([response_lengths[i] for i in indices])
            # With left padding the response fills the last `length` positions of its row and
            # the last prompt token sits just before it.
            last_prompt_position = (width - 1 - lengths).to(device)
            positions = torch.arange(width)
            response_mask = (positions[None, :] >= (width - lengths)[:, None]).to(device, torch.float32)
            response_count = lengths.clamp(min=1)[:, None].to(device, torch.float32)
            rows = torch.arange(len(indices), device=device)

            def reduce(hidden: torch.Tensor) -> torch.Tensor:
                # Select on the model's device, then move only [batch, 1 or 2, hidden] to the CPU.
                hidden = hidden.to(torch.float32)
                last = hidden[rows, last_prompt_position]
                if response_ids is None:
                    return last[:, None, :].cpu()
                mean = (hidden * response_mask[:, :, None]).sum(dim=1) / response_count
                return torch.stack([last, mean], dim=1).cpu()

            recorder.reduce = reduce
            recorder.clear()
            # Explicit position ids count only real tokens, so left padding does not shift them
            # (needed for models with absolute position embeddings).
            position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)
            backbone(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                position_ids=position_ids.to(device),
                use_cache=False,
            )
            batch = recorder.stacked()  # [batch, num_layers + 1, 1 or 2, hidden]

            if last_token is None:
                shape = (len(sequences), batch.shape[1], batch.shape[-1])
                last_token = torch.empty(shape, dtype=torch.float32)
                response_mean = torch.empty(shape, dtype=torch.float32) if response_ids is not None else None
            index_tensor = torch.tensor(indices)
            last_token[index_tensor] = batch[:, :, 0]
            if response_mean is not None:
                response_mean[index_tensor] = batch[:, :, 1]
            bar.update(len(indices))

    bar.close()
    assert last_token is not None
    return last_token, response_mean


# --- stored representations --------------------------------------------------------------------


@dataclass
class Representations:
    """Representations of a list of prompts with the index that identifies them.

    ``last_token`` and ``response_mean`` are ``[n_prompts, num_layers + 1, hidden]`` float32
    (see the module docstring for the layer axis). ``index`` is the JSON index stored beside
    the safetensors file.
    """

    last_token: torch.Tensor
    index: dict[str, Any]
    response_mean: torch.Tensor | None = None

    @property
    def num_layers(self) -> int:
        return self.last_token.shape[1] - 1

    @property
    def prompt_ids(self) -> list[str]:
        return list(self.index["prompt_ids"])

    @property
    def groups(self) -> list[str | None]:
        return list(self.index["groups"])

    def at_layer(self, layer: int, pooling: str = "last_token") -> torch.Tensor:
        """Return ``[n_prompts, hidden]`` states at the output of decoder block ``layer``.

        ``layer = -1`` gives the token embeddings (the input of block 0).
        """
        if not -1 <= layer < self.num_layers:
            raise ConfigError(
                f"layer {layer} is out of range: the model has {self.num_layers} decoder blocks, "
                f"so layers run from 0 to {self.num_layers - 1} (-1 is the embeddings)"
            )
        if pooling == "last_token":
            source = self.last_token
        elif pooling == "response_mean":
            if self.response_mean is None:
                raise ConfigError("these representations have no response mean; extract them with responses")
            source = self.response_mean
        else:
            raise ConfigError(f"unknown pooling {pooling!r}; use last_token or response_mean")
        return source[:, layer + 1]

    def save(self, path: Path) -> None:
        """Write ``path`` (safetensors) and ``path`` with suffix ``.json`` (the index)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"last_token": self.last_token.contiguous()}
        if self.response_mean is not None:
            tensors["response_mean"] = self.response_mean.contiguous()
        save_file(tensors, str(path), metadata={"index_version": str(INDEX_VERSION)})
        index_path(path).write_text(json.dumps(self.index, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Representations:
        index_file = index_path(path)
        if not path.exists() or not index_file.exists():
            raise DataError(f"stored representations {path} or its index {index_file} not found")
        try:
            index = json.loads(index_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataError(f"index {index_file} is not valid JSON ({error}); delete it to extract again") from None
        tensors = load_file(str(path))
        if "last_token" not in tensors:
            raise DataError(f"{path} has no 'last_token' tensor; delete it to extract again")
        representations = cls(tensors["last_token"], index, tensors.get("response_mean"))
        if representations.last_token.shape[0] != len(index.get("prompt_ids", [])):
            raise DataError(
                f"{path} contains {representations.last_token.shape[0]} prompts but its index lists "
                f"{len(index.get('prompt_ids', []))}; delete both files to extract again"
            )
        return representations


def index_path(path: Path) -> Path:
    return path.with_suffix(".json")


def hash_token_ids(ids: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def build_index(
    model: PreTrainedModel,
    prompt_ids: Sequence[str],
    groups: Sequence[str | None],
    sources: Sequence[str],
    token_ids: Sequence[Sequence[int]],
    response_token_ids: Sequence[Sequence[int]] | None,
) -> dict[str, Any]:
    """Build the index of a representation file, with the fields ``load_or_extract`` compares for reuse."""
    ids = model_id(model)
    total_layers = num_layers(unwrap_peft(model))
    return {
        "index_version": INDEX_VERSION,
        "model": ids["model"],
        "adapter": ids["adapter"],
        "weights_fingerprint": weights_fingerprint(model),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "num_layers": total_layers,
        "layers": list(range(-1, total_layers)),
        "layer_convention": LAYER_CONVENTION,
        "prompt_ids": list(prompt_ids),
        "groups": list(groups),
        "sources": list(sources),
        "prompt_hashes": [hash_token_ids(ids) for ids in token_ids],
        "response_hashes": [hash_token_ids(ids) for ids in response_token_ids] if response_token_ids else None,
    }


# Fields that must agree for a stored file to be reused; groups and sources are descriptive.
_MATCH_FIELDS = (
    "index_version", "model", "adapter", "weights_fingerprint", "dtype", "num_layers",
    "prompt_ids", "prompt_hashes", "response_hashes",
)


def _index_mismatch(stored: dict[str, Any], expected: dict[str, Any]) -> str | None:
    for key in _MATCH_FIELDS:
        if stored.get(key) != expected.get(key):
            return key
    return None


def tokenise_prompts(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    prompt_ids: Sequence[str],
    max_prompt_tokens: int = 1024,
    on_long_prompt: str = "truncate",
    system_prompt: str | None = None,
) -> list[list[int]]:
    """Render each text as a one-turn chat with the generation prompt and tokenise it."""
    return [
        fit_prompt(tokenizer, text, max_prompt_tokens, on_long_prompt, system_prompt, prompt_id=prompt_id)
        for text, prompt_id in zip(texts, prompt_ids)
    ]


def load_or_extract(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: Sequence[str],
    token_ids: Sequence[Sequence[int]],
    path: Path,
    groups: Sequence[str | None] | None = None,
    sources: Sequence[str] | None = None,
    responses: Sequence[str] | None = None,
    max_response_tokens: int = 512,
    batch_size: int = 16,
    progress: bool = True,
    reuse: bool = True,
) -> Representations:
    """Return representations of tokenised prompts, reading ``path`` when its index matches.

    The stored file is reused when model, adapter, weight fingerprint, dtype, prompt ids and
    the hashes of the prompt (and response) tokens all agree. Otherwise the states are
    extracted again and ``path`` is overwritten. ``reuse=False`` always extracts again.
    """
    if len(set(prompt_ids)) != len(prompt_ids):
        duplicates = sorted({i for i in prompt_ids if list(prompt_ids).count(i) > 1})
        raise DataError(f"prompt ids must be unique; repeated: {duplicates[:5]}")
    if len(token_ids) != len(prompt_ids):
        raise DataError(f"{len(token_ids)} tokenised prompts for {len(prompt_ids)} prompt ids")

    response_token_ids = None
    if responses is not None:
        response_token_ids = [
            tokenizer(text, add_special_tokens=False)["input_ids"][:max_response_tokens] for text in responses
        ]
    groups = list(groups) if groups is not None else [None] * len(prompt_ids)
    sources = list(sources) if sources is not None else [""] * len(prompt_ids)
    expected_index = build_index(model, prompt_ids, groups, sources, token_ids, response_token_ids)

    if reuse and path.exists() and index_path(path).exists():
        try:
            stored = Representations.load(path)
        except DataError as error:
            logger.warning("ignoring stored representations: %s", error)
        else:
            mismatch = _index_mismatch(stored.index, expected_index)
            if mismatch is None:
                logger.info("reusing stored representations %s", path)
                return stored
            logger.info("stored representations %s differ in %r; extracting again", path, mismatch)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    last_token, response_mean = extract_hidden_states(
        model, token_ids, response_token_ids, batch_size=batch_size, pad_id=int(pad_id or 0), progress=progress
    )
    representations = Representations(last_token, expected_index, response_mean)
    representations.save(path)
    return representations
