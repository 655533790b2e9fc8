"""The training loop: build data, cache frozen states, weight, train LoRA, checkpoint, save the adapter.

``train`` runs in one process or under ``accelerate launch`` (CPU with gloo, or GPUs with DDP
or DeepSpeed). Every process builds the same data deterministically and takes every
world_size-th example of each global batch. Gradients are averaged across processes, so the
global batch and the loss curve do not depend on the process count.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mosr.config import MosrConfig, dump_config
from mosr.errors import ConfigError
from mosr.models import load_model, num_layers
from mosr.training import checkpoint as ckpt
from mosr.training import data as training_data
from mosr.training.batching import batch_schedule, pad_examples, pad_states, shard
from mosr.training.cache import frozen_states, geometry_from_states, prompt_embeddings
from mosr.training.losses import coefficients
from mosr.training.methods import ResolvedComponents, resolve_components
from mosr.training.oaw import normalise_per_layer, overlap_scores, overlap_weights, save_weights
from mosr.training.step import TERMS, StepSettings, TrainStep

logger = logging.getLogger(__name__)


def check_layers(config: MosrConfig, model: PreTrainedModel) -> tuple[list[int], list[int]]:
    """Validate layer settings against the model; return (LoRA layers, retain layers)."""
    train = config.train
    depth = num_layers(model)
    bad = [layer for layer in train.target_layers if layer >= depth]
    if bad:
        raise ConfigError(
            f"target_layers {train.target_layers} are out of range for {getattr(model, 'mosr_name', 'the model')} "
            f"with {depth} decoder layers (valid: 0..{depth - 1}); set train.target_layers"
        )
    lora_layers = train.lora.layers if train.lora.layers is not None else list(range(max(train.target_layers) + 1))
    out_of_range = [layer for layer in lora_layers if layer >= depth or layer < 0]
    if out_of_range:
        raise ConfigError(f"lora.layers {out_of_range} are out of range for a model with {depth} decoder layers")
    if min(lora_layers) > min(train.target_layers):
        raise ConfigError(
            f"lora.layers {lora_layers} do not cover target layer {min(train.target_layers)}; "
            "add LoRA to a block at or below it"
        )
    retain = list(range(max(train.target_layers) + 1)) if train.retain_layers == "all" else sorted(train.target_layers)
    return lora_layers, retain


def attach_lora(model: PreTrainedModel, config: MosrConfig, lora_layers: list[int]):
    """Wrap the model with a fresh LoRA adapter (B optionally randomly initialised, seeded)."""
    from peft import LoraConfig, get_peft_model

    settings = config.train.lora
    torch.manual_seed(config.train.seed)
    lora_config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        layers_to_transform=lora_layers,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora_config)
    if settings.init_b_std > 0:
        generator = torch.Generator().manual_seed(config.train.seed + 1)
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * settings.init_b_std)
    peft_model.peft_config["default"].base_model_name_or_path = config.model.name
    return peft_model


@dataclass
class Streams:
    """Examples of both streams with their cached frozen states (None where not needed)."""

    erasure: list[training_data.Example]
    retain: list[training_data.Example]
    erasure_states: dict[int, torch.Tensor]
    retain_states: dict[int, torch.Tensor]


def _accelerator():
    # NOTE: the DeepSpeed configs under configs/accelerate were never run here (CPU only), and
    # checkpoints keep rank 0's RNG state, so a multi-process resume is exact only without dropout.
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    return Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mosr.cli.common import console

    return Progress(
        TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"), console=console, disable=not enabled, transient=False,
    )


def _set_oaw_weights(
    model, tokenizer, config: MosrConfig, sets: training_data.TrainingSets, examples: training_data.ExampleSets,
    out_dir: Path, main: bool,
) -> None:
    """Compute overlap scores and weights of the erasure prompts and attach them to the examples."""
    train = config.train
    system_prompt = config.model.system_prompt

    def encode(records):
        return [training_data._prompt(tokenizer, r, train, system_prompt) for r in records]

    pad_id = tokenizer.pad_token_id or 0
    layers = sorted(train.target_layers)
    erasure = normalise_per_layer(prompt_embeddings(model, encode(sets.erasure), layers, pad_id, train.precision))
    reference = normalise_per_layer(prompt_embeddings(model, encode(sets.reference), layers, pad_id, train.precision))
    benign = None
    if train.oaw.score == "knn_ratio":
        benign = normalise_per_layer(prompt_embeddings(model, encode(sets.benign), layers, pad_id, train.precision))
    scores = overlap_scores(erasure, reference, len(layers), train.oaw.score, train.oaw.k, benign)
    weights = overlap_weights(scores, train.oaw.w_min, train.oaw.gamma)
    by_id = {record.id: float(w) for record, w in zip(sets.erasure, weights)}
    for example in examples.erasure:
        example.weight = by_id[example.id]
    if train.oaw.apply_to_refusal:
        for example in examples.retain:
            if example.source_id in by_id:
                example.weight = by_id[example.source_id]
    if main:
        save_weights(out_dir, [r.id for r in sets.erasure], [r.text for r in sets.erasure], scores, weights)


def _cache_streams(model, tokenizer, config: MosrConfig, examples, e_order, r_order, retain_layers, components, rank, world) -> Streams:
    """Compute frozen states of the examples this process visits."""
    train = config.train
    pad_id = tokenizer.pad_token_id or 0
    erasure_states: dict[int, torch.Tensor] = {}
    retain_states: dict[int, torch.Tensor] = {}
    if components.erasure and train.frozen_states == "cache":
        e_needed = sorted({i for batch in e_order for i in shard(batch, rank, world)})
        r_needed = sorted({i for batch in r_order for i in shard(batch, rank, world)})
        states = frozen_states(model, [examples.erasure[i] for i in e_needed], sorted(train.target_layers), pad_id, train.precision, train.cache_dtype)
        erasure_states = dict(zip(e_needed, states))
        states = frozen_states(model, [examples.retain[i] for i in r_needed], retain_layers, pad_id, train.precision, train.cache_dtype)
        retain_states = dict(zip(r_needed, states))
    return Streams(examples.erasure, examples.retain, erasure_states, retain_states)


GEOMETRY_SAMPLE = 64


def _geometry(model, tokenizer, config: MosrConfig, examples, components: ResolvedComponents):
    """Build the erasure geometry from the first retain examples (the same on every process)."""
    train = config.train
    name = train.geometry if components.erasure else "plain"
    sample = []
    if name != "plain":
        picked = training_data.stable_order_examples(examples.retain, train.seed)[:GEOMETRY_SAMPLE]
        sample = frozen_states(model, picked, sorted(train.target_layers), tokenizer.pad_token_id or 0, train.precision, train.cache_dtype)
    return geometry_from_states(
        name, sample, list(range(len(train.target_layers))), train.masked_dims, train.random_target_scale, train.seed
    )


def _batch(examples, states, indices, pad_id, device) -> dict[str, torch.Tensor] | None:
    if not indices:
        return None
    picked = [examples[i] for i in indices]
    batch = pad_examples(picked, pad_id)
    if states:
        batch["frozen"] = pad_states([states[i] for i in indices], batch["input_ids"].shape[1])
    return {key: value.to(device) for key, value in batch.items()}


def _prepare_run_folder(out_dir: Path, config: MosrConfig, resume: bool, fingerprint: str) -> int:
    """Return the completed step count to resume from (0 for a fresh run), checking the folder."""
    latest = ckpt.latest_checkpoint(out_dir)
    if latest is None:
        if resume and (out_dir / "run.json").exists():
            stored = json.loads((out_dir / "run.json").read_text())
            if stored.get("fingerprint") != fingerprint:
                raise ConfigError(
                    f"{out_dir} contains a run with a different configuration (fingerprint {stored.get('fingerprint')}, "
                    f"this run {fingerprint}); resume with the same config or choose a new --out folder"
                )
        return 0
    if not resume:
        raise ConfigError(f"{out_dir} already contains a training run with checkpoints; pass --resume to continue it or choose a new --out folder")
    return ckpt.read_state(latest, fingerprint)


def _save_merged(config: MosrConfig, adapter_dir: Path, merged_dir: Path) -> None:
    """Save a fresh copy of the base model with the adapter merged in (the caller's model is untouched)."""
    base, tokenizer = load_model(config.model.name, adapter=str(adapter_dir), dtype="float32", device="cpu")
    merged = base.merge_and_unload()
    merged.save_pretrained(str(merged_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(merged_dir))


def train(
    config: MosrConfig,
    out_dir: Path,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    resume: bool = False,
    loader: training_data.Loader | None = None,
    eval_loader: training_data.Loader | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> Path:
    """Train the configured method and return the folder of the saved PEFT adapter.

    Args:
        config: resolved configuration; ``config.train.method`` picks the components.
        out_dir: run folder (created); it receives config, splits, weights, log, checkpoints and adapter.
        model, tokenizer: an already loaded base model (no adapter), or None to load
            ``config.model.name``. LoRA is injected in place for the run and removed at the
            end, so the same model can train several methods in turn.
        resume: continue from the last checkpoint in ``out_dir`` (same config required).
        loader, eval_loader: prompt loaders by dataset name (default: ``mosr.data``).
        stop_after: stop after this many completed steps, leaving a checkpoint and no adapter
            (used to test resuming; the schedule still uses ``train.max_steps``).
        progress: show the progress bar.

    Raises:
        ConfigError: bad layers, a run folder with another configuration, or a folder that
            already has checkpoints when ``resume`` is False.
        DataError: empty erasure, retain or reference set; LeakError on a train/eval overlap.
    """
    accelerator = _accelerator()
    rank, world, main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    train_config = config.train
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = ckpt.config_fingerprint(config)
    start_step = _prepare_run_folder(out_dir, config, resume, fingerprint)
    components = resolve_components(train_config)
    if train_config.batch_size % world:
        raise ConfigError(f"train.batch_size {train_config.batch_size} is not divisible by the {world} processes")

    if model is None or tokenizer is None:
        model, tokenizer = load_model(config.model.name, dtype="float32", device=str(accelerator.device), trust_remote_code=config.model.trust_remote_code)
    if hasattr(model, "peft_config"):
        raise ConfigError(
            "the model passed to train already carries a PEFT adapter; pass the base model "
            "(training starts a new adapter, and model.adapter is not used)"
        )
    model.to(accelerator.device)
    lora_layers, retain_layers = check_layers(config, model)

    if main:
        dump_config(config, out_dir / "config.yaml")
        (out_dir / "run.json").write_text(json.dumps({"fingerprint": fingerprint, "method": train_config.method, "world_size": world}, indent=1))

    # Data: the same deterministic sets on every process.
    loader = loader or training_data.default_loader(config.data.data_dir, config.data.encoding)
    eval_loader = eval_loader or loader
    sets = training_data.select_sets(train_config, loader, eval_loader)
    training_data.check_leaks(sets, train_config.data.eval_sets, eval_loader)
    if main:
        training_data.write_splits(out_dir, sets)
    cache_root = Path(train_config.data.completion_cache_dir) if train_config.data.completion_cache_dir else out_dir
    cache_path = cache_root / "harmful_completions.jsonl"
    needs_completions = components.erasure or components.caa
    completions: dict[str, dict[str, str]] = {}
    if needs_completions:
        if main:
            completions = training_data.harmful_completions(
                model, tokenizer, sets.erasure, cache_path, train_config.data.completion_max_new_tokens,
                train_config.max_prompt_tokens, config.model.system_prompt, precision=train_config.precision,
            )
        accelerator.wait_for_everyone()
        if not main:
            completions = training_data.harmful_completions(
                model, tokenizer, sets.erasure, cache_path, train_config.data.completion_max_new_tokens,
                train_config.max_prompt_tokens, config.model.system_prompt, precision=train_config.precision,
            )
    examples = training_data.build_examples(sets, completions, tokenizer, train_config, components, config.model.system_prompt)
    if main:
        training_data.write_examples_preview(out_dir, examples, tokenizer)
        logger.info("training examples: %s", examples.summary())
    if not examples.retain and not examples.erasure:
        raise ConfigError(f"method {train_config.method} has no training examples with this config")

    use_cache = model.config.use_cache
    model.config.use_cache = False
    peft_model = attach_lora(model, config, lora_layers)
    try:
        peft_model.train()

        if components.oaw:
            _set_oaw_weights(peft_model, tokenizer, config, sets, examples, out_dir, main)

        steps = train_config.max_steps
        e_order = batch_schedule([len(e) for e in examples.erasure], train_config.batch_size, steps, train_config.seed, train_config.length_group_size) if examples.erasure else [[] for _ in range(steps)]
        r_order = batch_schedule([len(e) for e in examples.retain], train_config.batch_size, steps, train_config.seed + 1, train_config.length_group_size) if examples.retain else [[] for _ in range(steps)]
        cache_start = time.perf_counter()
        peft_model.eval()
        # The whole schedule is cached even on resume, so a resumed run uses the same numbers.
        streams = _cache_streams(peft_model, tokenizer, config, examples, e_order, r_order, retain_layers, components, rank, world)
        geometry = _geometry(peft_model, tokenizer, config, examples, components)
        peft_model.train()
        cache_seconds = time.perf_counter() - cache_start
        geometry = geometry.to(accelerator.device)
        settings = StepSettings(
            target_layers=sorted(train_config.target_layers),
            retain_layers=retain_layers,
            erasure=components.erasure,
            refusal=components.refusal,
            compliance=components.compliance,
            lambda_refusal=train_config.lambda_refusal,
            lambda_compliance=train_config.lambda_compliance,
            weight_refusal=components.oaw and train_config.oaw.apply_to_refusal,
            retain_refusal_examples=train_config.retain_refusal_examples,
            precision=train_config.precision,
            recompute_frozen=train_config.frozen_states == "recompute",
        )
        step_module = TrainStep(peft_model, settings, geometry)
        parameters = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=train_config.learning_rate, weight_decay=train_config.weight_decay)
        if start_step:
            ckpt.load_checkpoint(out_dir / ckpt.CHECKPOINT_DIR / ckpt.LATEST, peft_model, optimizer, rank)
            logger.info("resumed from step %d of %d", start_step, steps)
        prepared, optimizer = accelerator.prepare(step_module, optimizer)

        pad_id = tokenizer.pad_token_id or 0
        log_path = out_dir / "train_log.jsonl"
        if main and start_step == 0 and log_path.exists():
            log_path.unlink()
        warn_step = max(1, math.ceil(train_config.warn_after_fraction * steps))
        warned = False
        recent_cosines: list[float] = []
        last_terms: dict[str, float] = {}
        end_step = min(steps, stop_after) if stop_after is not None else steps
        loop_start = time.perf_counter()
        total_tokens = 0

        with _progress(progress and main) as bar:
            task = bar.add_task("train", total=steps, completed=start_step, status="")
            for step in range(start_step, end_step):
                tic = time.perf_counter()
                c_erasure, c_retain = coefficients(step, steps, train_config.alpha, train_config.schedule, train_config.retain_ratio)
                erasure_batch = _batch(streams.erasure, streams.erasure_states, shard(e_order[step], rank, world), pad_id, accelerator.device)
                retain_batch = _batch(streams.retain, streams.retain_states, shard(r_order[step], rank, world), pad_id, accelerator.device)
                loss, terms = prepared(erasure_batch, retain_batch, c_erasure, c_retain)
                accelerator.backward(loss)
                grad_norm = None
                if train_config.max_grad_norm is not None:
                    grad_norm = float(accelerator.clip_grad_norm_(parameters, train_config.max_grad_norm))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

                tokens = sum(int(b["attention_mask"].sum()) for b in (erasure_batch, retain_batch) if b is not None)
                stacked = torch.stack([terms[name] for name in TERMS] + [torch.tensor(float(tokens))]).to(accelerator.device)
                stacked = accelerator.reduce(stacked, reduction="sum")
                values = {name: float(stacked[i]) / world for i, name in enumerate(TERMS)}
                global_tokens = int(stacked[-1])
                total_tokens += global_tokens
                seconds = time.perf_counter() - tic
                row: dict[str, Any] = {"step": step + 1, **values, "c_erasure": c_erasure, "c_retain": c_retain,
                                       "lr": optimizer.param_groups[0]["lr"], "tokens": global_tokens,
                                       "tokens_per_s": global_tokens / max(seconds, 1e-9), "seconds": seconds}
                if grad_norm is not None:
                    row["grad_norm"] = grad_norm
                last_terms = values
                if main:
                    with log_path.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(row) + "\n")
                if components.erasure:
                    recent_cosines = (recent_cosines + [values["erasure_cosine"]])[-5:]
                    if not warned and step + 1 >= warn_step and min(recent_cosines) > train_config.warn_cosine:
                        warned = True
                        logger.warning(
                            "REROUTING IS NOT HAPPENING: the erasure cosine is still %.4f after %d of %d steps "
                            "(threshold %.2f). Try geometry random_target or standardised, lora.init_b_std > 0, "
                            "a higher learning rate, or a lower retain weight.",
                            values["erasure_cosine"], step + 1, steps, train_config.warn_cosine,
                        )
                status = " ".join(f"{name.replace('loss_', '')}={values[name]:.3f}" for name in ("loss", "loss_erasure", "loss_retain", "loss_refusal", "loss_compliance") if values[name])
                if components.erasure:
                    status += f" cos={values['erasure_cosine']:.4f}"
                bar.update(task, advance=1, status=f"{status} {row['tokens_per_s']:.0f} tok/s")

                done = step + 1
                if done % train_config.checkpoint_every == 0 or done == end_step:
                    accelerator.wait_for_everyone()
                    if main:
                        ckpt.save_checkpoint(out_dir, peft_model, optimizer, done, fingerprint)
                    accelerator.wait_for_everyone()

        loop_seconds = time.perf_counter() - loop_start
        if end_step < steps:
            logger.info("stopped after %d of %d steps; resume with --resume", end_step, steps)
            return out_dir / "adapter"

        adapter_dir = out_dir / "adapter"
        if main:
            # save_embedding_layers=False: the embeddings are not trained, and "auto" looks the base
            # model up on the Hugging Face Hub when its name is an alias.
            peft_model.save_pretrained(str(adapter_dir), safe_serialization=True, save_embedding_layers=False)
            summary = {
                "method": train_config.method,
                "steps": steps,
                "resumed_from": start_step,
                "world_size": world,
                "cache_seconds": cache_seconds,
                "loop_seconds": loop_seconds,
                "seconds_per_step": loop_seconds / max(end_step - start_step, 1),
                "tokens": total_tokens,
                "final": last_terms,
                "rerouting_warning": warned,
                "examples": examples.summary(),
            }
            (out_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
            logger.info(
                "trained %s: %d steps in %.0f s (%.2f s/step, cache %.0f s); final %s",
                train_config.method, steps, loop_seconds, summary["seconds_per_step"], cache_seconds,
                ", ".join(f"{k}={v:.4f}" for k, v in last_terms.items() if v),
            )
            if train_config.merge:
                _save_merged(config, adapter_dir, out_dir / "merged")
        accelerator.wait_for_everyone()
        return adapter_dir
    finally:
        # LoRA was injected into the caller's model in place: take it out again, so the same
        # base model can train the next method (the trained adapter is on disk).
        peft_model.unload()
        model.config.use_cache = use_cache
        model.eval()
