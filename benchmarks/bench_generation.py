"""Compare batched greedy generation with a one-prompt-at-a-time loop on the same prompts.

Both paths use ``generate_detailed`` (left padding, stop at end of turn) on the real SmolLM2
model and a seeded sample of XSTest safe prompts. Only the batch size differs. The script prints
tokens per second of each path and their ratio as JSON. Usage:

    python benchmarks/bench_generation.py [--prompts 32] [--max-new-tokens 64] [--batch-size 32] [--threads 1]

Measured in one run; the ratio depends on the CPU, its load and the thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from mosr.data import load_prompts
from mosr.evaluation.generation import generate_detailed
from mosr.models import fit_prompt, load_model


def timed_generation(model, tokenizer, prompt_ids, max_new_tokens: int, batch_size: int) -> tuple[float, int]:
    """Seconds and generated tokens for one pass over the prompts."""
    started = time.perf_counter()
    results = generate_detailed(model, tokenizer, prompt_ids, max_new_tokens, batch_size)
    return time.perf_counter() - started, sum(r.num_tokens for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="XSTest prompts to generate for.")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32, help="Batch size of the batched path.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model("smollm2-135m", dtype="float32", device="cpu")
    records = load_prompts("xstest_safe", limit=args.prompts, seed=0)
    prompt_ids = [fit_prompt(tokenizer, r.text, 1024, prompt_id=r.id) for r in records]
    timed_generation(model, tokenizer, prompt_ids[:2], 4, 2)  # warm-up

    batched_seconds, batched_tokens = timed_generation(model, tokenizer, prompt_ids, args.max_new_tokens, args.batch_size)
    loop_seconds, loop_tokens = timed_generation(model, tokenizer, prompt_ids, args.max_new_tokens, 1)
    report = {
        "prompts": len(prompt_ids),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
        "batched": {"seconds": batched_seconds, "tokens": batched_tokens, "tokens_per_second": batched_tokens / batched_seconds},
        "one_prompt_loop": {"seconds": loop_seconds, "tokens": loop_tokens, "tokens_per_second": loop_tokens / loop_seconds},
        "speedup_tokens_per_second": (batched_tokens / batched_seconds) / (loop_tokens / loop_seconds),
        "speedup_wall_time": loop_seconds / batched_seconds,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
