"""Time one training step: cached frozen states + truncated passes vs the two-pass full-depth loop.

Both loops train the same LoRA method on the same batches of the same data in one process.
The reference loop recomputes the frozen states each step with a second, adapter-disabled pass
and runs every pass through all layers with the output head on every position; the optimised
loop reads the frozen states from the cache built once before training, stops the
representation passes after the deepest target layer and runs the head only where a token is
trained. The one-off cache build is reported separately and as a per-step share.

It also counts the floating-point operations of the optimised loop's steps (forward and
backward, with torch's FlopCounterMode, in a second untimed pass over the same batches) and
divides them by the timed seconds, against the matmul throughput measured in the same process
at the loop's precision.

Usage:
    python benchmarks/bench_training_step.py [--steps 6] [--method mosr] [--config smollm2-135m]
        [--completions DIR]  # folder with harmful_completions.jsonl from an earlier run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench_matmul import matmul_gflops
from mosr.config import load_config
from mosr.models import load_model
from mosr.training import data as training_data
from mosr.training.batching import batch_schedule, shard
from mosr.training.losses import coefficients
from mosr.training.methods import resolve_components
from mosr.training.step import StepSettings, TrainStep
from mosr.training.trainer import _batch, _cache_streams, _geometry, attach_lora, check_layers


def _completions(sets, folder: Path | None, model_name: str) -> dict[str, dict[str, str]]:
    cached = {}
    path = folder / "harmful_completions.jsonl" if folder else None
    if path and path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("model") == model_name:
                cached[row["id"]] = row
    return {
        r.id: cached.get(r.id) or {"completion": training_data._fallback_completion(r), "origin": "target"}
        for r in sets.erasure
    }


def _count_flops(step_module, streams, e_order, r_order, steps, train, pad_id) -> float:
    """Mean FLOPs of the timed steps (1..steps-1), counted in an untimed pass over the same batches."""
    total = 0
    for step in range(1, steps):
        c_e, c_r = coefficients(step, steps, train.alpha, train.schedule, train.retain_ratio)
        erasure = _batch(streams.erasure, streams.erasure_states, shard(e_order[step], 0, 1), pad_id, torch.device("cpu"))
        retain = _batch(streams.retain, streams.retain_states, shard(r_order[step], 0, 1), pad_id, torch.device("cpu"))
        counter = FlopCounterMode(display=False)
        with counter:
            loss, _ = step_module(erasure, retain, c_e, c_r)
            loss.backward()
        step_module.model.zero_grad(set_to_none=True)
        total += counter.get_total_flops()
    return total / (steps - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="Timed steps per loop (after one warm-up step).")
    parser.add_argument("--method", default="mosr")
    parser.add_argument("--config", default="smollm2-135m")
    parser.add_argument("--completions", type=Path, default=None, help="Folder with harmful_completions.jsonl.")
    parser.add_argument("--set", action="append", default=[], help="Config override KEY=VALUE.")
    args = parser.parse_args()

    import yaml

    overrides = {"train.method": args.method, "train.max_steps": args.steps + 1}
    for text in args.set:
        key, value = text.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    config = load_config(args.config, overrides)
    train = config.train
    model, tokenizer = load_model(config.model.name, dtype="float32", device="cpu")
    components = resolve_components(train)
    lora_layers, retain_layers = check_layers(config, model)
    sets = training_data.select_sets(train, training_data.default_loader(config.data.data_dir))
    completions = _completions(sets, args.completions, config.model.name)
    examples = training_data.build_examples(sets, completions, tokenizer, train, components, config.model.system_prompt)
    model.config.use_cache = False
    peft_model = attach_lora(model, config, lora_layers)
    steps = train.max_steps
    e_order = batch_schedule([len(e) for e in examples.erasure], train.batch_size, steps, train.seed, train.length_group_size)
    r_order = batch_schedule([len(e) for e in examples.retain], train.batch_size, steps, train.seed + 1, train.length_group_size)

    peft_model.eval()
    tic = time.perf_counter()
    streams = _cache_streams(peft_model, tokenizer, config, examples, e_order, r_order, retain_layers, components, 0, 1)
    cache_seconds = time.perf_counter() - tic
    geometry = _geometry(peft_model, tokenizer, config, examples, components)
    peft_model.train()

    pad_id = tokenizer.pad_token_id or 0
    results = {}
    for name, reference in (("cached_truncated", False), ("reference_two_pass", True)):
        settings = StepSettings(
            target_layers=sorted(train.target_layers), retain_layers=retain_layers, erasure=components.erasure,
            refusal=components.refusal, compliance=components.compliance, lambda_refusal=train.lambda_refusal,
            lambda_compliance=train.lambda_compliance, weight_refusal=components.oaw and train.oaw.apply_to_refusal,
            precision=train.precision, reference_loop=reference,
        )
        step_module = TrainStep(peft_model, settings, geometry)
        parameters = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=0.0)  # lr 0 keeps the weights equal for both loops
        times = []
        for step in range(steps):
            c_e, c_r = coefficients(step, steps, train.alpha, train.schedule, train.retain_ratio)
            states_e = None if reference else streams.erasure_states
            states_r = None if reference else streams.retain_states
            erasure = _batch(streams.erasure, states_e, shard(e_order[step], 0, 1), pad_id, torch.device("cpu"))
            retain = _batch(streams.retain, states_r, shard(r_order[step], 0, 1), pad_id, torch.device("cpu"))
            tic = time.perf_counter()
            loss, terms = step_module(erasure, retain, c_e, c_r)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - tic)
            if step == 0:
                first = {k: round(float(v), 5) for k, v in terms.items()}
        timed = times[1:]
        results[name] = {"seconds_per_step": sum(timed) / len(timed), "first_step_terms": first}
        if not reference:
            results[name]["flops_per_step"] = _count_flops(step_module, streams, e_order, r_order, steps, train, pad_id)

    cached = results["cached_truncated"]["seconds_per_step"]
    reference = results["reference_two_pass"]["seconds_per_step"]
    amortised = cached + cache_seconds / steps
    print(f"method {args.method}, {steps - 1} timed steps, batch {train.batch_size} + {train.batch_size}, "
          f"precision {train.precision}, threads {torch.get_num_threads()}, cpu count {os.cpu_count()}")
    print(f"cached + truncated loop : {cached:.3f} s/step")
    print(f"reference two-pass loop : {reference:.3f} s/step")
    print(f"speed-up                : {reference / cached:.2f}x")
    print(f"cache build             : {cache_seconds:.1f} s once ({cache_seconds / steps:.3f} s/step over these {steps} steps)")
    print(f"speed-up incl. cache    : {reference / amortised:.2f}x")
    dtype = torch.bfloat16 if train.precision == "bfloat16" else torch.float32
    peak = matmul_gflops(2048, dtype, 3.0)
    achieved = results["cached_truncated"]["flops_per_step"] / cached / 1e9
    print(f"training FLOP/s         : {achieved:.1f} GFLOP/s achieved, {peak:.1f} GFLOP/s {dtype} matmul peak "
          f"({achieved / peak:.0%}); {results['cached_truncated']['flops_per_step'] / 1e9:.0f} GFLOP per step")
    print("first-step terms (must agree):")
    print(json.dumps({name: value["first_step_terms"] for name, value in results.items()}, indent=1))


if __name__ == "__main__":
    main()
