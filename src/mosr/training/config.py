"""Training configuration: LoRA, losses, Overlap-Aware Loss Weighting and Context-Aware Augmentation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

METHODS = ("refusal_sft", "deep_align", "rr", "mosr_no_oaw", "mosr_no_caa", "mosr")


class TrainSection(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSettings(TrainSection):
    r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    alpha: int = Field(16, ge=1, le=4096, description="LoRA scaling numerator (lora_alpha).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    layers: list[int] | None = Field(None, description="Layers with LoRA; None means 0..max(target_layers).")
    init_b_std: float = Field(0.0, ge=0.0, le=1.0, description="Std of a random LoRA B init; 0 keeps B = 0.")


class OawSettings(TrainSection):
    k: int = Field(5, ge=1, le=1000, description="Top-k cosine similarities averaged into the overlap score.")
    score: Literal["topk", "centroid", "knn_ratio"] = "topk"
    w_min: float = Field(0.1, ge=0.0, le=1.0, description="Weight floor.")
    gamma: float = Field(1.0, gt=0.0, le=10.0, description="Exponent of (1 - z).")
    apply_to_refusal: bool = Field(False, description="Also weight the refusal cross-entropy of erasure prompts.")


class CaaSettings(TrainSection):
    k_max: int = Field(100, ge=1, le=4096, description="Longest harmful prefix, in tokens.")
    prefix_fraction: float = Field(0.5, ge=0.0, le=1.0, description="Share of refusal examples given a prefix.")


class TrainConfig(TrainSection):
    method: Literal["refusal_sft", "deep_align", "rr", "mosr_no_oaw", "mosr_no_caa", "mosr"] = "mosr"
    seed: int = Field(0, ge=0)
    max_steps: int = Field(60, ge=1, le=1_000_000)
    batch_size: int = Field(4, ge=1, le=4096, description="Examples per step of each stream.")
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0)
    target_layers: list[int] = Field(default_factory=lambda: [10, 20])
    retain_layers: Literal["all", "target"] = Field("all", description="Layers of the retain L2 loss.")
    alpha: float = Field(10.0, ge=0.0, le=10_000.0, description="Coefficient scale alpha of c_E and c_R.")
    schedule: Literal["reference", "constant"] = "reference"
    retain_ratio: float = Field(1.0, gt=0.0, le=1000.0, description="c_R / c_E under the constant schedule.")
    lambda_refusal: float = Field(0.1, ge=0.0, le=100.0, description="Weight lambda_F of the refusal CE.")
    lambda_compliance: float = Field(0.1, ge=0.0, le=100.0, description="Weight lambda_C of the compliance CE.")
    geometry: Literal["plain", "standardised", "masked", "random_target"] = "plain"
    masked_dims: int = Field(3, ge=0, le=100_000, description="Largest-magnitude dims masked (geometry masked).")
    random_target_scale: float = Field(1.0, gt=0.0, le=1000.0)
    erasure_tokens: Literal["all", "response"] = "all"
    max_prompt_tokens: int = Field(256, ge=8, le=8192)
    max_response_tokens: int = Field(128, ge=8, le=8192)
    n_erasure: int = Field(200, ge=1, le=1_000_000)
    n_retain: int = Field(300, ge=1, le=1_000_000)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    oaw: OawSettings = Field(default_factory=OawSettings)
    caa: CaaSettings = Field(default_factory=CaaSettings)
    checkpoint_every: int = Field(20, ge=1)
    merge: bool = False
