"""Measure this machine's matmul throughput (GFLOP/s) in float32 and bfloat16.

The training benchmark compares its achieved FLOP/s with these numbers. Usage:

    python benchmarks/bench_matmul.py [--size 2048] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def matmul_gflops(size: int, dtype: torch.dtype, seconds: float) -> float:
    """Repeat a square matmul for about ``seconds`` and return billions of FLOPs per second."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)  # warm-up: kernel selection and page faults
    repeats = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.matmul(a, b)
        repeats += 1
    elapsed = time.perf_counter() - started
    return 2 * size**3 * repeats / elapsed / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    results = {
        "threads": torch.get_num_threads(),
        "size": args.size,
        "float32_gflops": round(matmul_gflops(args.size, torch.float32, args.seconds), 1),
        "bfloat16_gflops": round(matmul_gflops(args.size, torch.bfloat16, args.seconds), 1),
    }
    results["bf16_over_fp32"] = round(results["bfloat16_gflops"] / results["float32_gflops"], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
