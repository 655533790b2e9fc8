"""Typed records every loader returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Group = Literal["benign", "pseudo_malicious", "malicious"]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Stable id, unique within the dataset: '<dataset>:<source id or row>'.")
    source: str = Field(description="Registry name of the dataset the record came from.")


class PromptRecord(Record):
    """A prompt with its safety group, as used by analysis, training and evaluation."""

    text: str
    group: Group | None = None
    category: str | None = None
    target: str | None = Field(None, description="Affirmative target string ('Sure, here is ...').")
    reference: str | None = Field(None, description="Reference response, where the dataset has one.")
    meta: dict[str, Any] = Field(default_factory=dict)


class MultipleChoiceRecord(Record):
    """A multiple-choice question scored by log-likelihood of each choice."""

    question: str
    choices: list[str]
    answer: int = Field(ge=0)
    context: str | None = None
    category: str | None = Field(None, description="Subject or category, e.g. the MMLU subject.")


class LabelledCompletion(Record):
    """A model completion with a human (or reference-judge) label, for judge validation."""

    prompt: str
    completion: str
    label: Literal["compliance", "refusal", "partial"] | None = Field(
        None, description="Refusal label, where the set labels refusal."
    )
    harmful: bool | None = Field(None, description="Harmfulness label, where the set labels harm.")
    label_source: str = Field(description="Who labelled: 'human majority', 'gpt-4', ...")
    group: Group | None = None
    model: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class JailbreakTemplate(Record):
    """A human-written jailbreak with one placeholder for the request."""

    template: str
    placeholder: str = "{instruction}"


class AttackArtifact(Record):
    """A published jailbreak prompt for one behaviour, replayed against the model under test."""

    behavior_id: str
    goal: str
    prompt: str
    attack: str
    target_model: str
    category: str | None = None
    suffix: str | None = Field(None, description="Adversarial suffix alone, where the attack appends one.")
    meta: dict[str, Any] = Field(default_factory=dict)
