"""Link the representation geometry to behaviour: does the projection predict a refusal?

Greedy responses to pseudo-malicious prompts are judged by a refusal judge, and the AUROC of
each layer's projection on the safety direction is computed for predicting "refused". A value
above 0.5 means that prompts projecting further towards the malicious mean are refused more.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mosr.analysis import metrics
from mosr.errors import ConfigError

logger = logging.getLogger(__name__)

ONE_CLASS_NOTE = "AUROC undefined: every judged prompt has the same outcome ({outcome})"


def judge_responses(
    prompts: Sequence[str],
    responses: Sequence[str],
    judge_name: str = "refusal_phrases",
) -> list[str]:
    """Return the judge's label (compliance, refusal, partial or degenerate) for each response."""
    from mosr.evaluation.judges import get_judge

    judge = get_judge(judge_name)
    return [judge.judge(prompt, response).label for prompt, response in zip(prompts, responses)]


def refusal_outcomes(labels: Sequence[str], refusal_labels: Sequence[str]) -> np.ndarray:
    """Return 1 where a label counts as a refusal, else 0."""
    return np.array([1 if label in refusal_labels else 0 for label in labels], dtype=int)


def behaviour_summary(
    labels: Sequence[str],
    refusal_labels: Sequence[str],
    projections_by_layer: dict[int, np.ndarray],
) -> dict[str, Any]:
    """Summarise judged outcomes and the per-layer AUROC of the projection for predicting refusal.

    ``projections_by_layer[l]`` contains the projections of the judged prompts, in the order of
    ``labels``.
    """
    if not refusal_labels:
        raise ConfigError("refusal_labels is empty; list the judge labels that count as a refusal")
    outcomes = refusal_outcomes(labels, refusal_labels)
    counts = Counter(labels)
    summary: dict[str, Any] = {
        "n": len(labels),
        "label_counts": dict(sorted(counts.items())),
        "refusal_labels": list(refusal_labels),
        "n_refused": int(outcomes.sum()),
        "refusal_rate": float(outcomes.mean()) if len(outcomes) else None,
        "auroc_by_layer": {},
        "note": None,
    }
    if len(np.unique(outcomes)) < 2:
        outcome = "all refused" if len(outcomes) and outcomes[0] == 1 else "none refused"
        summary["note"] = ONE_CLASS_NOTE.format(outcome=outcome)
    for layer, projections in projections_by_layer.items():
        summary["auroc_by_layer"][str(layer)] = metrics.auroc(outcomes, projections)
    return summary


def write_responses(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write one JSON object per judged response (id, prompt, response, label)."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
