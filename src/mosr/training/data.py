"""Training data: erasure set E, retain set R (with refusal and CAA examples), reference set P.

Every prompt comes from a training split. Candidates whose normalised text matches any
evaluation prompt are dropped before selection, and the final sets go through the leak check
of ``mosr.data`` before training starts. Selection is deterministic: records are ordered by a
hash of the seed and their stable id, so adding a record elsewhere does not reshuffle the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mosr.data.records import PromptRecord
from mosr.errors import DataError
from mosr.models import fit_prompt
from mosr.training.config import TrainConfig
from mosr.training.methods import ResolvedComponents
from mosr.training.refusals import sample_continuation, sample_refusal

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
Loader = Callable[[str], list[PromptRecord]]


def default_loader(data_dir: str | None = None, encoding: str | None = None) -> Loader:
    """Return a loader of prompt records by registry name, reading the benchmark folder."""
    from mosr.data import load_prompts

    def load(name: str) -> list[PromptRecord]:
        return load_prompts(name, data_dir=data_dir, encoding=encoding)

    return load


def normalise_text(text: str) -> str:
    """Lowercase and keep only letters and digits, so punctuation or spacing changes still match."""
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def stable_order(records: Sequence[PromptRecord], seed: int, salt: str = "") -> list[PromptRecord]:
    """Order records by a hash of (seed, salt, id): deterministic and independent of input order."""

    def key(record: PromptRecord) -> str:
        return hashlib.sha1(f"{seed}:{salt}:{record.id}".encode()).hexdigest()

    return sorted(records, key=key)


def stable_order_examples(examples: Sequence["Example"], seed: int) -> list["Example"]:
    """Order tokenised examples by a hash of (seed, id), like ``stable_order``."""
    return sorted(examples, key=lambda e: hashlib.sha1(f"{seed}:example:{e.id}".encode()).hexdigest())


def split_by_id(records: Sequence[PromptRecord], train_fraction: float, seed: int, salt: str) -> tuple[list[PromptRecord], list[PromptRecord]]:
    """Split records into (train, held out) by stable id."""
    ordered = stable_order(records, seed, salt)
    cut = round(len(ordered) * train_fraction)
    return ordered[:cut], ordered[cut:]


@dataclass
class TrainingSets:
    """Prompts of every training set, plus held-out validation prompts for behaviour checks."""

    erasure: list[PromptRecord]
    benign: list[PromptRecord]
    pseudo: list[PromptRecord]
    reference: list[PromptRecord]
    validation: dict[str, list[PromptRecord]]
    dropped_as_eval: int = 0

    def training_records(self) -> list[PromptRecord]:
        return [*self.erasure, *self.benign, *self.pseudo, *self.reference]


def _dedupe(records: Sequence[PromptRecord]) -> list[PromptRecord]:
    seen: set[str] = set()
    kept = []
    for record in records:
        key = normalise_text(record.text)
        if key and key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def _load_many(loader: Loader, names: Sequence[str]) -> list[PromptRecord]:
    records: list[PromptRecord] = []
    for name in names:
        records.extend(loader(name))
    return records


def select_sets(config: TrainConfig, loader: Loader, eval_loader: Loader | None = None) -> TrainingSets:
    """Load the sources, drop evaluation prompts, and pick E, R, P and the validation prompts.

    Raises:
        DataError: a source is empty after filtering, or the erasure or retain set is empty.
    """
    settings = config.data
    seed = config.seed
    eval_loader = eval_loader or loader
    eval_texts: set[str] = set()
    for name in settings.eval_sets:
        eval_texts.update(normalise_text(record.text) for record in eval_loader(name))

    dropped = 0

    def clean(records: list[PromptRecord]) -> list[PromptRecord]:
        nonlocal dropped
        kept = [r for r in _dedupe(records) if normalise_text(r.text) not in eval_texts]
        dropped += len(records) - len(kept)
        return kept

    malicious = stable_order(clean(_load_many(loader, settings.malicious)), seed, "malicious")
    validation_harmful = malicious[: settings.n_validation]
    erasure = malicious[settings.n_validation: settings.n_validation + settings.n_erasure]

    benign_all = [r for r in clean(_load_many(loader, settings.benign)) if r.reference and r.reference.strip()]
    benign_all = stable_order(benign_all, seed, "benign")
    validation_benign = benign_all[: settings.n_validation]
    benign = benign_all[settings.n_validation: settings.n_validation + settings.n_benign]

    pseudo_train: dict[str, list[PromptRecord]] = {}
    pseudo_heldout: list[PromptRecord] = []
    for name in sorted(set(settings.pseudo_retain) | set(settings.pseudo_reference)):
        train_part, heldout_part = split_by_id(clean(loader(name)), settings.pseudo_train_fraction, seed, name)
        pseudo_train[name] = train_part
        pseudo_heldout.extend(heldout_part)

    pseudo_candidates = [r for name in settings.pseudo_retain for r in pseudo_train[name] if r.reference and r.reference.strip()]
    pseudo = stable_order(pseudo_candidates, seed, "pseudo")[: settings.n_pseudo]
    reference_candidates = [r for name in settings.pseudo_reference for r in pseudo_train[name]]
    reference = stable_order(reference_candidates, seed, "reference")[: settings.n_reference]
    validation_pseudo = stable_order(pseudo_heldout, seed, "pseudo-validation")[: settings.n_validation]

    if not erasure:
        raise DataError(
            f"the erasure set is empty: sources {settings.malicious} gave no malicious training prompts "
            f"after dropping {dropped} evaluation prompts; add a source to train.data.malicious"
        )
    if not benign and not pseudo:
        raise DataError(
            f"the retain set is empty: sources {settings.benign + settings.pseudo_retain} gave no prompts with "
            "reference responses; add a source to train.data.benign or train.data.pseudo_retain"
        )
    if not reference:
        raise DataError(
            f"the OAW reference set is empty: sources {settings.pseudo_reference} gave no training prompts; "
            "add a source to train.data.pseudo_reference"
        )
    if dropped:
        logger.info("dropped %d training candidates that match evaluation prompts or repeat other candidates", dropped)
    return TrainingSets(
        erasure=erasure,
        benign=benign,
        pseudo=pseudo,
        reference=reference,
        validation={"harmful": validation_harmful, "pseudo_malicious": validation_pseudo, "benign": validation_benign},
        dropped_as_eval=dropped,
    )


def check_leaks(sets: TrainingSets, eval_names: Sequence[str], eval_loader: Loader) -> None:
    """Run the data module's leak check of every training prompt against every evaluation set."""
    from mosr.data import assert_no_leak

    evaluation = {name: eval_loader(name) for name in eval_names}
    assert_no_leak([*sets.training_records(), *[r for part in sets.validation.values() for r in part]], evaluation)


def write_splits(out_dir: Path, sets: TrainingSets) -> Path:
    """Write the ids and texts of every set to ``splits.json`` in the run folder."""
    def rows(records: Sequence[PromptRecord]) -> list[dict[str, str]]:
        return [{"id": r.id, "source": r.source, "text": r.text} for r in records]

    payload = {
        "erasure": rows(sets.erasure),
        "retain_benign": rows(sets.benign),
        "retain_pseudo_malicious": rows(sets.pseudo),
        "oaw_reference": rows(sets.reference),
        "validation": {name: rows(part) for name, part in sets.validation.items()},
        "dropped_as_evaluation_or_duplicate": sets.dropped_as_eval,
    }
    path = out_dir / "splits.json"
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path


# --- harmful completions -----------------------------------------------------------------------


def _is_refusal(prompt: str, response: str) -> bool:
    from mosr.evaluation.judges import get_judge

    return get_judge("refusal_phrases").judge(prompt, response).label != "compliance"


def _fallback_completion(record: PromptRecord) -> str:
    if record.target and record.target.strip():
        return record.target.strip()
    request = record.text.strip().rstrip(".?!")
    return f"Sure, here is how to {request[:1].lower()}{request[1:]}:"


def harmful_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: Sequence[PromptRecord],
    cache_path: Path,
    max_new_tokens: int,
    max_prompt_tokens: int,
    system_prompt: str | None = None,
    batch_size: int = 16,
    precision: str = "float32",
) -> dict[str, dict[str, str]]:
    """Generate the base model's completions of malicious prompts, cached as JSONL by prompt id.

    Where the model refuses (judged by the ``refusal_phrases`` judge) or returns nothing
    usable, the record's target string (or a generic affirmative opening) is used instead.
    ``precision`` bfloat16 runs generation under bfloat16 autocast (about 3x faster on CPU).
    Returns ``{id: {"completion": text, "origin": "generated" | "target"}}``.
    """
    from mosr.evaluation.generation import generate_batched

    model_name = getattr(model, "mosr_name", None) or type(model).__name__
    cached: dict[str, dict[str, str]] = {}
    if cache_path.exists():
        for line in cache_path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("model") == model_name and row.get("max_new_tokens") == max_new_tokens:
                cached[row["id"]] = {"completion": row["completion"], "origin": row["origin"]}

    missing = [r for r in records if r.id not in cached]
    if missing:
        logger.info("generating %d harmful completions with the base model (cached in %s)", len(missing), cache_path)
        prompt_ids = [
            fit_prompt(tokenizer, r.text, max_prompt_tokens, system_prompt=system_prompt, prompt_id=r.id) for r in missing
        ]
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with cache_path.open("a", encoding="utf-8") as handle:

            def store(indices: list[int], texts: list[str]) -> None:
                for index, text in zip(indices, texts):
                    record = missing[index]
                    refused = len(text.split()) < 3 or _is_refusal(record.text, text)
                    entry = {
                        "completion": _fallback_completion(record) if refused else text,
                        "origin": "target" if refused else "generated",
                    }
                    cached[record.id] = entry
                    row = {"id": record.id, "model": model_name, "max_new_tokens": max_new_tokens, **entry}
                    handle.write(json.dumps(row) + "\n")
                handle.flush()

            from mosr.training.forward import autocast

            device = next(model.parameters()).device
            with autocast(device, precision):
                generate_batched(model, tokenizer, prompt_ids, max_new_tokens=max_new_tokens, batch_size=batch_size, on_batch_done=store)
    return {r.id: cached[r.id] for r in records}


# --- tokenised examples ------------------------------------------------------------------------


@dataclass
class Example:
    """One tokenised training example.

    ``labels`` has -100 wherever no cross-entropy is trained (prompt, harmful prefix, and every
    token of erasure examples). ``erasure_mask`` marks the tokens of the rerouting loss.
    ``weight`` is the OAW weight (1 unless set); ``source_id`` names the malicious prompt that a
    refusal example is built on.
    """

    id: str
    kind: str
    input_ids: list[int]
    prompt_len: int
    labels: list[int]
    erasure_mask: list[int] = field(default_factory=list)
    prefix_len: int = 0
    weight: float = 1.0
    source_id: str | None = None

    def __len__(self) -> int:
        return len(self.input_ids)


def _end_of_turn(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []


def _encode_response(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _prompt(tokenizer: PreTrainedTokenizerBase, record: PromptRecord, config: TrainConfig, system_prompt: str | None) -> list[int]:
    return fit_prompt(tokenizer, record.text, config.max_prompt_tokens, system_prompt=system_prompt, prompt_id=record.id)


def supervised_example(
    example_id: str,
    kind: str,
    prompt_ids: list[int],
    response_ids: list[int],
    end_ids: list[int],
    max_response_tokens: int,
    prefix_ids: Sequence[int] = (),
    source_id: str | None = None,
) -> Example:
    """Build prompt + (prefix) + response + end of turn, with labels on the response and end only."""
    room = max_response_tokens - len(prefix_ids) - len(end_ids)
    response_ids = response_ids[:max(room, 1)]
    trained = [*response_ids, *end_ids]
    input_ids = [*prompt_ids, *prefix_ids, *trained]
    labels = [IGNORE_INDEX] * (len(prompt_ids) + len(prefix_ids)) + trained
    return Example(
        id=example_id,
        kind=kind,
        input_ids=input_ids,
        prompt_len=len(prompt_ids),
        labels=labels,
        prefix_len=len(prefix_ids),
        source_id=source_id,
    )


def caa_prefix_length(rng: random.Random, completion_len: int, k_max: int) -> int:
    """Draw k uniformly from 1..min(k_max, completion_len - 1); the prefix is never the whole completion."""
    upper = min(k_max, completion_len - 1)
    if upper < 1:
        return 0
    return rng.randint(1, upper)


@dataclass
class ExampleSets:
    """Tokenised streams: erasure examples and retain examples (benign, pseudo, refusal, CAA)."""

    erasure: list[Example]
    retain: list[Example]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {"erasure": len(self.erasure)}
        for example in self.retain:
            counts[example.kind] = counts.get(example.kind, 0) + 1
        return counts


def build_examples(
    sets: TrainingSets,
    completions: dict[str, dict[str, str]],
    tokenizer: PreTrainedTokenizerBase,
    config: TrainConfig,
    components: ResolvedComponents,
    system_prompt: str | None = None,
) -> ExampleSets:
    """Tokenise E and R for one method: the same prompts for every method, components switched on or off.

    Refusal examples reuse the first ``n_refusal`` erasure prompts, so OAW weights can apply to
    them. With CAA on, a ``prefix_fraction`` share of them gets a harmful prefix of k tokens
    from the base model's completion before the refusal continuation.
    """
    rng = random.Random(config.seed)
    end_ids = _end_of_turn(tokenizer)
    max_response = config.max_response_tokens

    erasure: list[Example] = []
    if components.erasure:
        for record in sets.erasure:
            prompt_ids = _prompt(tokenizer, record, config, system_prompt)
            response_ids = _encode_response(tokenizer, completions[record.id]["completion"])[:max_response]
            input_ids = [*prompt_ids, *response_ids]
            if config.erasure_tokens == "response" and response_ids:
                mask = [0] * len(prompt_ids) + [1] * len(response_ids)
            else:
                mask = [1] * len(input_ids)
            erasure.append(
                Example(
                    id=record.id, kind="erasure", input_ids=input_ids, prompt_len=len(prompt_ids),
                    labels=[IGNORE_INDEX] * len(input_ids), erasure_mask=mask, source_id=record.id,
                )
            )

    retain: list[Example] = []
    for kind, records in (("benign", sets.benign), ("pseudo", sets.pseudo)):
        for record in records:
            prompt_ids = _prompt(tokenizer, record, config, system_prompt)
            response_ids = _encode_response(tokenizer, record.reference or "")
            retain.append(supervised_example(record.id, kind, prompt_ids, response_ids, end_ids, max_response))

    if components.refusal:
        refusal_records = sets.erasure[: config.data.n_refusal]
        prefixed = set()
        if components.caa:
            ordered = stable_order(refusal_records, config.seed, "caa")
            prefixed = {r.id for r in ordered[: round(len(ordered) * config.caa.prefix_fraction)]}
        for record in refusal_records:
            prompt_ids = _prompt(tokenizer, record, config, system_prompt)
            prefix_ids: list[int] = []
            if record.id in prefixed:
                refusal_ids = _encode_response(tokenizer, sample_continuation(rng))
                completion_ids = _encode_response(tokenizer, completions[record.id]["completion"])
                room = max_response - len(refusal_ids) - len(end_ids)
                k = caa_prefix_length(rng, len(completion_ids), min(config.caa.k_max, room))
                prefix_ids = completion_ids[:k]
            else:
                refusal_ids = _encode_response(tokenizer, sample_refusal(rng))
            kind = "caa" if prefix_ids else "refusal"
            retain.append(
                supervised_example(
                    f"{record.id}#{kind}", kind, prompt_ids, refusal_ids, end_ids, max_response,
                    prefix_ids=prefix_ids, source_id=record.id,
                )
            )

    return ExampleSets(erasure=erasure, retain=retain)


def write_examples_preview(out_dir: Path, examples: ExampleSets, tokenizer: PreTrainedTokenizerBase, per_kind: int = 3) -> None:
    """Write a few decoded examples of each kind, with the trained part marked, for inspection."""
    lines = []
    shown: dict[str, int] = {}
    for example in [*examples.erasure, *examples.retain]:
        if shown.get(example.kind, 0) >= per_kind:
            continue
        shown[example.kind] = shown.get(example.kind, 0) + 1
        trained = [t for t, label in zip(example.input_ids, example.labels) if label != IGNORE_INDEX]
        row = asdict(example)
        lines.append(json.dumps({
            "id": example.id,
            "kind": example.kind,
            "tokens": len(example),
            "prompt_tokens": example.prompt_len,
            "prefix_tokens": example.prefix_len,
            "text": tokenizer.decode(row["input_ids"]),
            "trained_text": tokenizer.decode(trained),
        }))
    (out_dir / "examples_preview.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
