"""Evaluation configuration: suite, generation settings, judges and attack options."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    suite: Literal["quick", "default", "full"] = Field("default", description="Named suite (see mosr.evaluation.suites).")
    suite_file: str | None = Field(None, description="YAML suite file; replaces the named suite when set.")
    max_new_tokens: int | None = Field(
        None, ge=1, le=8192,
        description="Generated tokens per response; None uses the suite's value (quick 64, default 96, full 256).",
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Prompts per generation or scoring batch.")
    max_batch_tokens: int | None = Field(
        4096, ge=1,
        description="Padded prompt tokens per generation batch (rows x longest prompt). None limits batches by batch_size only.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = Field(
        None, description="Weights' dtype while evaluating; None uses model.dtype. bfloat16 matmuls measured 2.2x faster than float32 on a 2-core CPU (benchmarks/bench_matmul.py)."
    )
    merge_adapter: bool = Field(
        True,
        description="Fold a LoRA adapter into the weights while generating and scoring, which is faster on CPU. "
                    "The original weights are restored afterwards.",
    )
    judge: str = Field("refusal_phrases", description="Judge name from the judge registry; it sets the labels.")
    extra_judges: list[str] = Field(
        default_factory=list, description="More judges run on every response and reported beside the main one."
    )
    limit: int | None = Field(None, ge=1, description="Override: at most this many prompts per dataset.")
    seed: int = Field(0, ge=0, description="Seed of prompt subsets, template and suffix choices.")
    backend: Literal["hf", "vllm"] = Field("hf", description="Generation backend; vllm needs mosr[vllm] and a GPU.")
    attacks: list[str] | None = Field(None, description="Override: run only these attacks on the safety sets.")
    attack_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-attack options, e.g. {template: {per_prompt: 3}}; merged over the suite's."
    )
    perplexity_check: bool = Field(
        False, description="Also compute each response's perplexity under the base model (adapter disabled)."
    )
    perplexity_threshold: float | None = Field(
        None, gt=1, description="Label responses above this base-model perplexity degenerate; None only reports it."
    )
    capability: bool = Field(True, description="Run the capability tasks of the suite (multiple choice, NLL).")
    cache: bool = Field(True, description="Reuse and append the generation cache in the output folder.")
