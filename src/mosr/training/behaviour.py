"""Quick behaviour check on the held-out validation prompts of a run (never evaluation prompts).

Generates greedy responses for the harmful, pseudo-malicious and benign validation prompts that
``splits.json`` lists and labels them with the ``refusal_phrases`` judge. Direct ASR here is
the share of harmful prompts answered with ``compliance``; over-refusal is the share of
pseudo-malicious (or benign) prompts labelled ``refusal``, ``partial`` or ``degenerate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mosr.models import fit_prompt


def behaviour_check(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    splits_path: Path,
    max_new_tokens: int = 48,
    limit: int | None = None,
    system_prompt: str | None = None,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Return per-group label counts, rates and the responses for the validation prompts."""
    from mosr.evaluation.generation import generate_batched
    from mosr.evaluation.judges import get_judge

    judge = get_judge("refusal_phrases")
    validation = json.loads(Path(splits_path).read_text(encoding="utf-8"))["validation"]
    report: dict[str, Any] = {"max_new_tokens": max_new_tokens, "groups": {}}
    for group, rows in validation.items():
        rows = rows[:limit] if limit else rows
        if not rows:
            continue
        prompt_ids = [fit_prompt(tokenizer, row["text"], 512, system_prompt=system_prompt) for row in rows]
        responses = generate_batched(model, tokenizer, prompt_ids, max_new_tokens=max_new_tokens, batch_size=batch_size)
        labels = [judge.judge(row["text"], response).label for row, response in zip(rows, responses)]
        counts = {label: labels.count(label) for label in ("compliance", "refusal", "partial", "degenerate")}
        report["groups"][group] = {
            "n": len(rows),
            "counts": counts,
            "compliance_rate": counts["compliance"] / len(rows),
            "samples": [
                {"id": row["id"], "prompt": row["text"], "response": response, "label": label}
                for row, response, label in zip(rows, responses, labels)
            ],
        }
    return report
