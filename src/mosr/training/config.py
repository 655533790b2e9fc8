"""Training configuration: LoRA, losses, Overlap-Aware Loss Weighting and Context-Aware Augmentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

METHODS = ("refusal_sft", "deep_align", "rr", "mosr_no_oaw", "mosr_no_caa", "mosr")


class TrainSection(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSettings(TrainSection):
    r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    alpha: int = Field(16, ge=1, le=4096, description="LoRA scaling numerator (lora_alpha).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Names of the linear modules that get LoRA.",
    )
    layers: list[int] | None = Field(
        None, description="Decoder layers with LoRA; None means 0..max(target_layers)."
    )
    init_b_std: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Std of a random normal init of LoRA B; 0 keeps the standard B = 0.",
    )


class OawSettings(TrainSection):
    k: int = Field(5, ge=1, le=1000, description="Top-k cosine similarities averaged into the overlap score.")
    score: Literal["topk", "centroid", "knn_ratio"] = Field(
        "topk",
        description="topk: mean of the k largest cosines to P; centroid: cosine to the mean of P; "
        "knn_ratio: log ratio of the k-th neighbour distances to benign and to P prompts.",
    )
    w_min: float = Field(0.1, ge=0.0, le=1.0, description="Weight floor before rescaling to mean 1.")
    gamma: float = Field(1.0, gt=0.0, le=10.0, description="Exponent of (1 - z).")
    apply_to_refusal: bool = Field(
        False, description="Also weight the refusal cross-entropy of examples built on erasure prompts."
    )


class CaaSettings(TrainSection):
    k_max: int = Field(100, ge=1, le=4096, description="Maximum harmful-prefix length, in tokens.")
    prefix_fraction: float = Field(0.5, ge=0.0, le=1.0, description="Share of refusal examples given a prefix.")


class TrainDataSettings(TrainSection):
    """Dataset names (from the mosr.data registry) and sizes of the training sets."""

    malicious: list[str] = Field(
        default_factory=lambda: ["rd_harmful_train", "malicious_instruct", "strongreject"],
        description="Sources of erasure and refusal prompts (training splits only).",
    )
    benign: list[str] = Field(
        default_factory=lambda: ["alpaca_pairs"], description="Benign prompts with reference responses."
    )
    pseudo_retain: list[str] = Field(
        default_factory=lambda: ["orbench_retain"],
        description="Pseudo-malicious prompts with compliant reference responses (retain set).",
    )
    pseudo_reference: list[str] = Field(
        default_factory=lambda: ["orbench_retain", "oktest_heldout"],
        description="Pseudo-malicious prompts of the OAW reference set P.",
    )
    pseudo_train_fraction: float = Field(
        0.5, gt=0.0, le=1.0,
        description="Share of each pseudo-malicious source used for training; the rest is held out "
        "as a training-side validation split.",
    )
    eval_sets: list[str] = Field(
        default_factory=lambda: [
            "harmbench_test", "jbb_harmful", "jbb_benign", "xstest_unsafe", "xstest_safe", "advbench",
            "oktest", "phtest_harmless", "xb_orbench", "alpaca_eval",
        ],
        description="Evaluation sets: training prompts matching them are dropped, then a leak check runs.",
    )
    n_erasure: int = Field(200, ge=1, le=1_000_000, description="Erasure examples (malicious prompts).")
    n_benign: int = Field(200, ge=0, le=1_000_000, description="Benign retain examples.")
    n_pseudo: int = Field(100, ge=0, le=1_000_000, description="Pseudo-malicious retain examples.")
    n_refusal: int = Field(100, ge=0, le=1_000_000, description="Refusal examples (erasure prompt + refusal).")
    n_reference: int = Field(300, ge=1, le=1_000_000, description="Size of the OAW reference set P.")
    n_validation: int = Field(20, ge=0, le=10_000, description="Held-out prompts per group for behaviour checks.")
    completion_max_new_tokens: int = Field(
        64, ge=4, le=4096, description="Tokens generated per harmful completion by the base model."
    )
    completion_cache_dir: str | None = Field(
        None, description="Folder of the generated-completion cache; None means the run folder."
    )


class TrainConfig(TrainSection):
    method: Literal["refusal_sft", "deep_align", "rr", "mosr_no_oaw", "mosr_no_caa", "mosr"] = "mosr"
    seed: int = Field(0, ge=0, description="Seed of data order, LoRA init and dropout.")
    max_steps: int = Field(60, ge=1, le=1_000_000, description="Optimiser steps N (the schedule is derived from it).")
    batch_size: int = Field(4, ge=1, le=4096, description="Global examples per step of each stream (erasure, retain).")
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0, description="Constant AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    max_grad_norm: float | None = Field(None, gt=0.0, description="Gradient clipping; None disables it.")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="Autocast dtype of forward passes; losses and LoRA weights stay float32."
    )
    target_layers: list[int] = Field(
        default_factory=lambda: [10, 20],
        description="Layers of the erasure loss: layer l is the output of decoder block l (0-based).",
    )
    retain_layers: Literal["all", "target"] = Field(
        "all",
        description="Retain L2 over the outputs of every decoder block 0..max(target_layers), or the target layers only.",
    )
    alpha: float = Field(10.0, ge=0.0, le=10_000.0, description="Coefficient scale alpha of c_E and c_R.")
    schedule: Literal["reference", "constant"] = Field(
        "reference",
        description="reference: c_E = alpha(1 - t/2N), c_R = alpha t/2N; constant: c_E = alpha, c_R = retain_ratio * alpha.",
    )
    retain_ratio: float = Field(1.0, ge=0.0, le=1000.0, description="c_R / c_E under the constant schedule.")
    lambda_refusal: float = Field(0.1, ge=0.0, le=100.0, description="Weight lambda_F of the refusal CE.")
    lambda_compliance: float = Field(0.1, ge=0.0, le=100.0, description="Weight lambda_C of the compliance CE.")
    refusal_when_optional: bool = Field(
        False, description="Train the refusal CE in methods where it is optional (rr, mosr_no_caa)."
    )
    retain_refusal_examples: bool = Field(
        True,
        description="Include refusal and CAA examples in the retain L2. When the LoRA stops at the last target "
        "layer, pinning those states to the frozen model's also pins its output there, so the refusal CE cannot "
        "be learned and the CAA prefix is kept against the erasure; false leaves them to the cross-entropy.",
    )
    geometry: Literal["plain", "standardised", "masked", "random_target"] = Field(
        "plain", description="Erasure geometry of the rerouting loss."
    )
    masked_dims: int = Field(3, ge=0, le=100_000, description="Largest-magnitude dims masked (geometries masked and random_target).")
    random_target_scale: float = Field(
        1.0, gt=0.0, le=1000.0,
        description="Norm of the random target, in units of the mean frozen hidden-state norm (geometry random_target).",
    )
    erasure_tokens: Literal["all", "response"] = Field(
        "all", description="Tokens of the erasure loss: request and response, or the response only."
    )
    max_prompt_tokens: int = Field(256, ge=8, le=8192, description="Maximum rendered prompt length in tokens; longer prompts are cut.")
    max_response_tokens: int = Field(128, ge=8, le=8192, description="Maximum response length in tokens; longer responses are cut.")
    frozen_states: Literal["cache", "recompute"] = Field(
        "cache",
        description="cache: compute the frozen model's states once before training (memory grows with the "
        "data); recompute: a no-gradient, adapter-disabled pass per step (for models too large to cache).",
    )
    cache_dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Storage dtype of the cached frozen states. bfloat16 rounds massive activations "
        "(about 120 in SmolLM2) by up to 0.5, which puts a noise floor under the retain loss.",
    )
    length_group_size: int = Field(
        8, ge=1, le=1024, description="Batches per length-sorted group (1 turns length grouping off)."
    )
    warn_cosine: float = Field(0.99, gt=0.0, le=1.0, description="Warn when erasure cosine stays above this.")
    warn_after_fraction: float = Field(0.2, gt=0.0, le=1.0, description="Share of steps before that warning.")
    data: TrainDataSettings = Field(default_factory=TrainDataSettings)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    oaw: OawSettings = Field(default_factory=OawSettings)
    caa: CaaSettings = Field(default_factory=CaaSettings)
    checkpoint_every: int = Field(20, ge=1, description="Steps between checkpoints.")
    merge: bool = Field(False, description="Also save the base model with the adapter merged in.")

    @model_validator(mode="after")
    def _check_layers(self) -> TrainConfig:
        if not self.target_layers:
            raise ValueError("target_layers is empty; give at least one decoder layer, e.g. [10, 20]")
        if min(self.target_layers) < 0:
            raise ValueError(f"target_layers {self.target_layers} has a negative layer; layers count from 0")
        if self.lora.layers is not None:
            if not self.lora.layers:
                raise ValueError("lora.layers is empty; give decoder layers or null for 0..max(target_layers)")
            # Layer l is the output of block l, so a target layer changes only through LoRA at or below it.
            if min(self.lora.layers) > min(self.target_layers):
                raise ValueError(
                    f"lora.layers {self.lora.layers} do not cover target layer {min(self.target_layers)}: "
                    f"it depends only on decoder blocks 0..{min(self.target_layers)}; add LoRA to one of them"
                )
        return self
