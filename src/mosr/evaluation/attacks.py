"""Attacks: how a prompt record becomes the test cases sent to the model under evaluation.

Each attack turns prompt records into ``AttackCase`` objects (user text plus an optional
assistant prefill). The white-box ``embedding`` attack also optimises soft prompts against the
model; see ``mosr.evaluation.soft_prompt``. Attacks are built from a name and a dict of
options with ``get_attack(name, **options)``; unknown names and options are errors.

- ``direct``: the prompt as it is.
- ``prefill``: the assistant turn starts with the record's target string ("Sure, here is ..."),
  or with ``fallback_prefill`` where the dataset has none. The prefill is part of the judged response.
- ``template``: the prompt inserted into ``per_prompt`` human jailbreak templates, chosen per
  prompt by a seeded hash of its id; templates whose placeholder does not occur exactly once
  are left out (and counted), so the request appears exactly once in every case.
- ``artifact``: the published jailbreak prompt for the same behaviour (matched by normalised
  goal text or behaviour id) replayed as it is; prompts without an artifact are skipped.
- ``suffix``: a published GCG suffix appended to the prompt: the suffix optimised for the same
  behaviour where one exists, otherwise one drawn from the pool by a seeded hash of the id.
- ``embedding``: white-box soft-prompt optimisation towards the target string.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mosr.data.records import AttackArtifact, JailbreakTemplate, PromptRecord
from mosr.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

Loader = Callable[[str], Sequence[Any]]


class AttackCase(BaseModel):
    """One rendered test case: the user message, and the text the assistant turn starts with."""

    model_config = ConfigDict(frozen=True)

    case_id: str = Field(description="Unique within a dataset and attack: the prompt id, plus a variant tag.")
    prompt_id: str
    dataset: str
    attack: str
    user_text: str
    prefill: str | None = None
    target: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


def stable_fraction(*parts: object) -> float:
    """Deterministic number in [0, 1) from the parts (a seeded hash; independent of Python's hash seed)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / float(16**15)


def seeded_choice(items: Sequence[Any], k: int, *key: object) -> list[Any]:
    """Pick ``k`` distinct items ordered by a seeded hash of (key, item id); stable across runs.

    Items are identified by their ``id`` attribute where they have one, so the choice does not
    depend on the order in which they were loaded.
    """
    ranked = sorted(range(len(items)), key=lambda i: stable_fraction(*key, getattr(items[i], "id", i)))
    return [items[i] for i in ranked[: min(k, len(items))]]


def normalise_goal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


class Attack(BaseModel):
    """Base of all attacks: options are pydantic fields, so a config can set them by name."""

    model_config = ConfigDict(extra="forbid")

    name: ClassVar[str] = ""
    white_box: ClassVar[bool] = False

    def options(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        raise NotImplementedError

    def _case(self, record: PromptRecord, dataset: str, user_text: str, suffix_tag: str = "", **extra: Any) -> AttackCase:
        return AttackCase(
            case_id=record.id + suffix_tag,
            prompt_id=record.id,
            dataset=dataset,
            attack=self.name,
            user_text=user_text,
            target=record.target,
            **extra,
        )


class DirectAttack(Attack):
    name: ClassVar[str] = "direct"

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        return [self._case(r, dataset, r.text) for r in records]


class PrefillAttack(Attack):
    name: ClassVar[str] = "prefill"

    fallback_prefill: str = Field("Sure, here is", description="Prefill for records without a target string.")

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        cases = []
        for record in records:
            prefill = (record.target or "").strip() or self.fallback_prefill
            source = "target" if (record.target or "").strip() else "fallback"
            cases.append(self._case(record, dataset, record.text, prefill=prefill, meta={"prefill_source": source}))
        return cases


class TemplateAttack(Attack):
    name: ClassVar[str] = "template"

    templates: str = Field("harmbench_human_jailbreaks", description="Dataset of JailbreakTemplate records.")
    per_prompt: int = Field(2, ge=1, le=1000, description="Templates sampled per prompt.")
    seed: int = Field(0, ge=0)
    max_template_chars: int = Field(
        4000, ge=100, description="Leave out longer templates (they would exceed small models' prompt budget)."
    )

    def usable_templates(self, load: Loader) -> list[JailbreakTemplate]:
        templates = [t for t in load(self.templates) if isinstance(t, JailbreakTemplate)]
        if not templates:
            raise DataError(f"dataset {self.templates!r} contains no jailbreak templates; give a template set such as harmbench_human_jailbreaks")
        usable = [t for t in templates if t.template.count(t.placeholder) == 1 and len(t.template) <= self.max_template_chars]
        left_out = len(templates) - len(usable)
        if left_out:
            logger.info(
                "template attack: left out %d of %d templates (placeholder not exactly once, or longer than %d characters)",
                left_out, len(templates), self.max_template_chars,
            )
        if not usable:
            raise DataError(f"no template in {self.templates!r} has its placeholder exactly once")
        return usable

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        usable = self.usable_templates(load)
        cases = []
        for record in records:
            for template in seeded_choice(usable, self.per_prompt, "template", self.seed, record.id):
                user_text = fill_template(template, record.text)
                cases.append(self._case(
                    record, dataset, user_text, suffix_tag=f"|template={template.id}",
                    meta={"template_id": template.id},
                ))
        return cases


def fill_template(template: JailbreakTemplate, request: str) -> str:
    """Insert the request at the template's single placeholder."""
    count = template.template.count(template.placeholder)
    if count != 1:
        raise DataError(f"template {template.id} has its placeholder {template.placeholder!r} {count} times, not once")
    before, after = template.template.split(template.placeholder)
    return before + request + after


def _artifacts(load: Loader, name: str) -> list[AttackArtifact]:
    artifacts = [a for a in load(name) if isinstance(a, AttackArtifact)]
    if not artifacts:
        raise DataError(f"dataset {name!r} contains no attack artifacts; give an artifact set such as jbb_pair")
    return artifacts


def _index_artifacts(artifacts: Sequence[AttackArtifact]) -> dict[str, list[AttackArtifact]]:
    index: dict[str, list[AttackArtifact]] = {}
    for artifact in artifacts:
        index.setdefault(normalise_goal(artifact.goal), []).append(artifact)
        index.setdefault(f"behavior:{artifact.behavior_id}", []).append(artifact)
    return index


def _match_artifact(
    record: PromptRecord, index: dict[str, list[AttackArtifact]], target_models: Sequence[str]
) -> AttackArtifact | None:
    """Find the artifact for the record's behaviour, preferring earlier ``target_models``; None if there is none."""
    candidates = index.get(normalise_goal(record.text), [])
    behaviour = record.meta.get("behavior_id") if record.meta else None
    if not candidates and behaviour:
        candidates = index.get(f"behavior:{behaviour}", [])
    if not candidates:
        return None
    rank = {model: position for position, model in enumerate(target_models)}
    return sorted(candidates, key=lambda a: (rank.get(a.target_model, len(rank)), a.id))[0]


class ArtifactAttack(Attack):
    name: ClassVar[str] = "artifact"

    artifacts: list[str] = Field(
        default_factory=lambda: ["jbb_pair"], description="Artifact datasets (jbb_pair, jbb_gcg, jbb_random_search, jbb_jbc)."
    )
    target_models: list[str] = Field(
        default_factory=lambda: ["vicuna-13b-v1.5", "llama-2-7b-chat-hf", "gpt-3.5-turbo-1106", "gpt-4-0125-preview"],
        description="Preferred artifact source models, in order, when a behaviour has several.",
    )

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        cases = []
        for artifact_set in self.artifacts:
            index = _index_artifacts([a for a in _artifacts(load, artifact_set) if a.prompt and a.prompt.strip()])
            missing = 0
            for record in records:
                artifact = _match_artifact(record, index, self.target_models)
                if artifact is None:
                    missing += 1
                    continue
                cases.append(self._case(
                    record, dataset, artifact.prompt, suffix_tag=f"|{artifact_set}",
                    meta={"artifact_set": artifact_set, "artifact_id": artifact.id, "source_model": artifact.target_model},
                ))
            if missing:
                logger.info("artifact attack: %d of %d prompts of %s have no %s artifact", missing, len(records), dataset, artifact_set)
        return cases


class SuffixAttack(Attack):
    name: ClassVar[str] = "suffix"

    artifacts: str = Field("jbb_gcg", description="Artifact dataset whose suffixes are appended.")
    seed: int = Field(0, ge=0)
    separator: str = " "

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        artifacts = [a for a in _artifacts(load, self.artifacts) if a.suffix and a.suffix.strip()]
        if not artifacts:
            raise DataError(f"no artifact in {self.artifacts!r} has a suffix; use an optimiser artifact set such as jbb_gcg")
        artifacts.sort(key=lambda a: a.id)
        index = _index_artifacts(artifacts)
        cases = []
        for record in records:
            matched = _match_artifact(record, index, [])
            artifact = matched or seeded_choice(artifacts, 1, "suffix", self.seed, record.id)[0]
            cases.append(self._case(
                record, dataset, append_suffix(record.text, artifact.suffix or "", self.separator),
                suffix_tag="|suffix",
                meta={"suffix_artifact_id": artifact.id, "suffix_matched_behaviour": matched is not None},
            ))
        return cases


def append_suffix(text: str, suffix: str, separator: str = " ") -> str:
    return text.rstrip() + separator + suffix.strip()


class EmbeddingAttack(Attack):
    """White-box soft-prompt attack; cases carry the user text, the optimisation runs on the model."""

    name: ClassVar[str] = "embedding"
    white_box: ClassVar[bool] = True

    num_soft_tokens: int = Field(8, ge=1, le=256, description="Soft-prompt vectors inserted after the request.")
    steps: int = Field(40, ge=1, le=100000, description="Gradient steps per prompt (the attack budget).")
    learning_rate: float = Field(0.01, gt=0, description="Adam learning rate in embedding units.")
    limit: int = Field(8, ge=1, description="Prompts attacked per dataset (a seeded subset: the attack is slow).")
    seed: int = Field(0, ge=0)
    fallback_target: str = Field("Sure, here is", description="Target for records without a target string.")
    early_stop_loss: float = Field(0.05, ge=0, description="Stop optimising once the target loss falls below this (nats/token).")

    def build_cases(self, records: Sequence[PromptRecord], dataset: str, load: Loader) -> list[AttackCase]:
        chosen = seeded_choice(list(records), self.limit, "embedding", self.seed)
        chosen.sort(key=lambda r: r.id)
        cases = []
        for record in chosen:
            target = (record.target or "").strip() or self.fallback_target
            cases.append(AttackCase(
                case_id=record.id + "|embedding", prompt_id=record.id, dataset=dataset, attack=self.name,
                user_text=record.text, target=target,
            ))
        return cases


ATTACKS: dict[str, type[Attack]] = {
    cls.name: cls for cls in (DirectAttack, PrefillAttack, TemplateAttack, ArtifactAttack, SuffixAttack, EmbeddingAttack)
}


def get_attack(name: str, **options: Any) -> Attack:
    """Build the attack registered as ``name`` with its options.

    Raises:
        ConfigError: unknown attack name or invalid option.
    """
    if name not in ATTACKS:
        raise ConfigError(f"unknown attack {name!r}; choose one of {', '.join(ATTACKS)}")
    try:
        return ATTACKS[name](**options)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid options for attack {name!r}: {problems}") from None
