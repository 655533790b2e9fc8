"""Validated run configuration: pydantic models loaded from YAML presets, overridden by CLI flags.

One section per concern (model, data, analysis, train, evaluate). A preset under ``configs/``
contains one YAML mapping per section. ``load_config`` merges a preset with overrides given as
dotted keys (``train.max_steps=40``), and it rejects unknown keys and out-of-range values with
the field name and the allowed range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mosr.errors import ConfigError
from mosr.evaluation.config import EvalConfig
from mosr.training.config import TrainConfig

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = Field("smollm2-135m", description="Alias, Hugging Face model id or local folder.")
    adapter: str | None = Field(None, description="Folder of a saved PEFT adapter to load on top.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weight dtype; auto picks the alias default, else float32 on CPU."
    )
    device: str = Field("auto", description="torch device, or auto (cuda if available, else cpu).")
    trust_remote_code: bool = Field(False, description="Allow model code from the model repository.")
    max_prompt_tokens: int = Field(1024, ge=8, le=131072, description="Longest rendered prompt, in tokens.")
    on_long_prompt: Literal["truncate", "error"] = Field(
        "truncate", description="truncate keeps the end of the user text and warns; error rejects."
    )
    system_prompt: str | None = Field(
        None, description="System message; None keeps the chat template's own default."
    )


class DataConfig(Section):
    data_dir: str | None = Field(None, description="Benchmark folder; default: $MOSR_DATA_DIR.")
    encoding: str | None = Field(None, description="Text encoding of local files; default utf-8.")
    seed: int = Field(0, ge=0, description="Seed of the deterministic splits.")


class AnalysisConfig(Section):
    """Representation analysis: prompt groups, layers, probe, overlap histograms and the behaviour link."""

    benign: list[str] = Field(default_factory=lambda: ["alpaca_eval"], description="Datasets of benign prompts.")
    malicious: list[str] = Field(
        default_factory=lambda: ["advbench", "harmbench_val"], description="Datasets of malicious prompts."
    )
    pseudo: list[str] = Field(
        default_factory=lambda: ["xstest_safe", "oktest", "phtest_harmless"],
        description="Datasets of pseudo-malicious (over-refusal) prompts.",
    )
    limit: int = Field(
        200, ge=2, description="Prompts per group, split evenly across the group's datasets (sampled by data.seed)."
    )
    layers: list[int] | None = Field(
        None, description="Layers to analyse (layer l = output of decoder block l); None means all."
    )
    target_layers: list[int] | None = Field(
        None, description="Layers plotted besides the best one; None means floor(L/3) and 2 floor(L/3)."
    )
    batch_size: int = Field(16, ge=1, le=4096, description="Prompts per forward pass and per generation batch.")
    test_fraction: float = Field(0.3, gt=0.0, lt=1.0, description="Held-out share of the probe's stratified split.")
    probe_c: float = Field(1.0, gt=0.0, description="Inverse L2 strength C of the logistic-regression probe.")
    bins: int = Field(40, ge=5, le=1000, description="Histogram bins of the overlap coefficient and the plots.")
    behaviour_limit: int = Field(
        100, ge=0, description="Pseudo-malicious prompts answered and judged for the refusal AUROC; 0 skips it."
    )
    behaviour_max_new_tokens: int = Field(48, ge=1, le=4096, description="Generated tokens per judged response.")
    judge: str = Field("refusal_phrases", description="Refusal judge name from the judge registry.")
    refusal_labels: list[Literal["refusal", "partial", "degenerate", "compliance"]] = Field(
        default_factory=lambda: ["refusal", "partial"],
        description="Judge labels counted as a refusal for the refusal rate and AUROC.",
    )
    reuse_representations: bool = Field(
        True, description="Reuse stored representations whose index matches the model, adapter and prompts."
    )


class MosrConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvalConfig = Field(default_factory=EvalConfig)


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        lines.append(f"  {field}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _set_dotted(tree: dict[str, Any], dotted_key: str, value: Any) -> None:
    parts = dotted_key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted_key!r}: {part!r} is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` and parse the value as YAML (so numbers and lists keep their type)."""
    if "=" not in text:
        raise ConfigError(f"invalid override {text!r}: expected KEY=VALUE, e.g. train.max_steps=40")
    key, raw_value = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw_value)


def resolve_preset(path_or_name: str | Path | None) -> Path | None:
    """Find a preset by path, or by name in the repository's ``configs/`` folder."""
    if path_or_name is None:
        return None
    path = Path(path_or_name)
    if path.exists():
        return path
    named = CONFIG_DIR / f"{path_or_name}.yaml"
    if named.exists():
        return named
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) if CONFIG_DIR.exists() else []
    raise ConfigError(f"config {str(path_or_name)!r} not found; give a YAML path or one of {known}")


def load_config(
    preset: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> MosrConfig:
    """Load a preset (or the defaults) and apply dotted-key overrides, validating the result."""
    tree: dict[str, Any] = {}
    source = "defaults"
    preset_path = resolve_preset(preset)
    if preset_path is not None:
        source = str(preset_path)
        try:
            tree = yaml.safe_load(preset_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"malformed YAML in {preset_path}: {error}") from error
        if not isinstance(tree, dict):
            raise ConfigError(f"{preset_path} must hold a mapping of sections, got {type(tree).__name__}")

    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, key, value)
            source = f"{source} with overrides"

    try:
        return MosrConfig.model_validate(tree)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


def dump_config(config: MosrConfig, path: Path) -> None:
    """Write the resolved config as YAML, so a run folder explains itself."""
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
