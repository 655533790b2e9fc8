"""Evaluation suites, defined as data: which datasets, how many prompts, which attacks, how many tokens.

Prompt subsets are drawn by ``mosr.data.load_records(name, limit=..., seed=...)``, which samples
by seed and stable id, and the exact ids are written to the results. The method's reference
setting is 256 new tokens. ``quick`` (64) and ``default`` (96) use fewer so that they run on
2 CPU cores, and the results record the value used.

Sizes: ``quick`` generates 280 responses; ``default`` 900 plus 8 soft-prompt attacks.
The default suite was cut to this size after a float32 run of the earlier, larger one: 128 new
tokens, 100 prompts for every attack and three artifact sets. With 1 torch thread beside one
other job on 2 cores, its over-refusal sets took 7.5 minutes, HarmBench template 6.4, suffix 3.5,
embedding 3.4, and direct and prefill 3.3 each. It was stopped after 31 minutes with the
JailbreakBench and capability tasks still to run. The cut suite took 1,955 s (32.6 minutes) in
float32 with 1 thread, beside another job for its first 20 minutes. With 2 threads on an idle
machine and length-budgeted batches it took 1,284 s of evaluation (21 min 30 s wall) in float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mosr.errors import ConfigError

TaskKind = Literal["over_refusal", "safety", "multiple_choice", "reference_nll"]


class TaskSpec(BaseModel):
    """One dataset evaluated one way."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    kind: TaskKind
    limit: int | None = Field(None, ge=1, description="Prompts sampled by seed and stable id; None means all.")
    attacks: list[str] = Field(default_factory=lambda: ["direct"], description="Attacks, for generation tasks.")
    name: str | None = Field(None, description="Result key; defaults to the dataset name.")

    @property
    def key(self) -> str:
        return self.name or self.dataset


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    max_new_tokens: int = Field(256, ge=1, le=8192)
    tasks: list[TaskSpec]
    attack_options: dict[str, dict[str, Any]] = Field(default_factory=dict)


_PSEUDO = ("xstest_safe", "oktest", "phtest_harmless", "xb_orbench", "jbb_benign")
_MC = ("mmlu", "arc_easy", "arc_challenge", "piqa", "truthfulqa_mc1")

QUICK = SuiteSpec(
    name="quick",
    description="A few minutes on 2 CPU cores for a 135M model: XSTest, HarmBench direct + prefill, small capability.",
    max_new_tokens=64,
    tasks=[
        TaskSpec(dataset="xstest_safe", kind="over_refusal", limit=50),
        TaskSpec(dataset="alpaca_eval", kind="over_refusal", limit=30),
        TaskSpec(dataset="xstest_unsafe", kind="safety", limit=50, attacks=["direct", "prefill"]),
        TaskSpec(dataset="harmbench_test", kind="safety", limit=50, attacks=["direct", "prefill"]),
        TaskSpec(dataset="arc_easy", kind="multiple_choice", limit=50),
        TaskSpec(dataset="mmlu", kind="multiple_choice", limit=50),
        # AlpacaEval references: alpaca_pairs is the benign retain set of training.
        TaskSpec(dataset="alpaca_eval", kind="reference_nll", limit=30),
    ],
)

DEFAULT = SuiteSpec(
    name="default",
    description="About half an hour on 2 CPU cores for a 135M model: 100 prompts for XSTest safe and HarmBench "
    "direct and prefill, 50 for the other sets and the transfer attacks, a white-box soft-prompt attack on 8 "
    "prompts, capability subsets; 96 new tokens.",
    max_new_tokens=96,
    tasks=[
        TaskSpec(dataset="xstest_safe", kind="over_refusal", limit=100),
        *(TaskSpec(dataset=name, kind="over_refusal", limit=50) for name in _PSEUDO if name != "xstest_safe"),
        TaskSpec(dataset="alpaca_eval", kind="over_refusal", limit=50),
        TaskSpec(dataset="xstest_unsafe", kind="safety", limit=50, attacks=["direct", "prefill"]),
        TaskSpec(dataset="harmbench_test", kind="safety", limit=100, attacks=["direct", "prefill"]),
        # The first 50 of the same seeded order: templates and transfer suffixes make prompts up to
        # ten times longer, so they run on a subset.
        TaskSpec(
            dataset="harmbench_test", kind="safety", limit=50, name="harmbench_test_50",
            attacks=["template", "suffix", "embedding"],
        ),
        TaskSpec(dataset="jbb_harmful", kind="safety", limit=50, attacks=["direct", "artifact"]),
        *(TaskSpec(dataset=name, kind="multiple_choice", limit=100) for name in _MC),
        TaskSpec(dataset="alpaca_eval", kind="reference_nll", limit=100),
    ],
    attack_options={
        "template": {"per_prompt": 1},
        "artifact": {"artifacts": ["jbb_pair", "jbb_jbc"]},
        "embedding": {"limit": 8, "steps": 40},
    },
)

FULL = SuiteSpec(
    name="full",
    description="Every prompt of every set, 256 new tokens, all attacks (hours on CPU; meant for a GPU).",
    max_new_tokens=256,
    tasks=[
        *(TaskSpec(dataset=name, kind="over_refusal") for name in _PSEUDO),
        TaskSpec(dataset="alpaca_eval", kind="over_refusal"),
        TaskSpec(dataset="xstest_unsafe", kind="safety", attacks=["direct", "prefill"]),
        TaskSpec(dataset="advbench", kind="safety", attacks=["direct", "prefill"]),
        TaskSpec(
            dataset="harmbench_test", kind="safety",
            attacks=["direct", "prefill", "template", "suffix", "embedding"],
        ),
        TaskSpec(dataset="jbb_harmful", kind="safety", attacks=["direct", "prefill", "artifact", "suffix"]),
        *(TaskSpec(dataset=name, kind="multiple_choice") for name in _MC),
        TaskSpec(dataset="alpaca_eval", kind="reference_nll"),
    ],
    attack_options={
        "template": {"per_prompt": 5},
        "artifact": {"artifacts": ["jbb_pair", "jbb_gcg", "jbb_random_search", "jbb_jbc"]},
        "embedding": {"limit": 50, "steps": 100},
    },
)

SUITES: dict[str, SuiteSpec] = {suite.name: suite for suite in (QUICK, DEFAULT, FULL)}


def get_suite(name: str) -> SuiteSpec:
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; choose one of {', '.join(SUITES)} or give a YAML suite file")
    return SUITES[name].model_copy(deep=True)


def load_suite_file(path: str | Path) -> SuiteSpec:
    """Read a suite from YAML (the fields of ``SuiteSpec``), with a clear error for bad content."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"suite file {file} not found")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        return SuiteSpec.model_validate(data)
    except yaml.YAMLError as error:
        raise ConfigError(f"malformed YAML in suite file {file}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid suite file {file}: {problems}") from None
