"""Find training records whose prompt also occurs in an evaluation set."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence

from mosr.data.records import (
    AttackArtifact,
    JailbreakTemplate,
    LabelledCompletion,
    MultipleChoiceRecord,
    PromptRecord,
    Record,
)
from mosr.errors import LeakError

_WHITESPACE = re.compile(r"\s+")
# Leaks listed per evaluation set in a LeakError message. The rest are only counted.
MAX_LISTED_LEAKS = 10


def normalise_text(text: str) -> str:
    """Fold Unicode compatibility forms (NFKC) and case, and collapse runs of whitespace to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def record_text(record: Record) -> str:
    """Return the text a model is asked about: the prompt, question, template or attack goal."""
    if isinstance(record, PromptRecord):
        return record.text
    if isinstance(record, MultipleChoiceRecord):
        return record.question
    if isinstance(record, LabelledCompletion):
        return record.prompt
    if isinstance(record, JailbreakTemplate):
        return record.template
    if isinstance(record, AttackArtifact):
        # The goal, because a jailbreak evaluation leaks when its plain request is trained on.
        return record.goal
    raise TypeError(f"no text field known for record type {type(record).__name__}")


def find_leaks(train: Sequence[Record], evaluation: Sequence[Record]) -> list[tuple[Record, Record, str]]:
    """Pairs (training record, evaluation record, 'exact' or 'normalised') whose texts match.

    'exact' means identical text; 'normalised' means equal after ``normalise_text``.
    Pairs come in training order, then evaluation order.
    """
    by_text: dict[str, list[Record]] = defaultdict(list)
    for record in evaluation:
        by_text[normalise_text(record_text(record))].append(record)

    leaks: list[tuple[Record, Record, str]] = []
    for train_record in train:
        text = record_text(train_record)
        for evaluation_record in by_text.get(normalise_text(text), []):
            match = "exact" if record_text(evaluation_record) == text else "normalised"
            leaks.append((train_record, evaluation_record, match))
    return leaks


def assert_no_leak(train: Sequence[Record], evaluation_sets: Mapping[str, Sequence[Record]]) -> None:
    """Raise LeakError naming every training record whose text occurs in one of the evaluation sets."""
    sections = []
    total = 0
    for name, evaluation in evaluation_sets.items():
        leaks = find_leaks(train, evaluation)
        if not leaks:
            continue
        total += len(leaks)
        lines = [f"  {train_record.id} = {evaluation_record.id} ({match})" for train_record, evaluation_record, match in leaks]
        if len(lines) > MAX_LISTED_LEAKS:
            lines = [*lines[:MAX_LISTED_LEAKS], f"  ... and {len(leaks) - MAX_LISTED_LEAKS} more"]
        sections.append(f"evaluation set {name!r}, {len(leaks)} match{'es' if len(leaks) != 1 else ''}:\n" + "\n".join(lines))
    if sections:
        raise LeakError(
            f"{total} training record{'s' if total != 1 else ''} also occur in evaluation data:\n"
            + "\n".join(sections)
            + "\nRemove these records from the training data, or evaluate on a set that does not overlap"
        )
