"""Rates with 95% Wilson score intervals, and agreement statistics for judge validation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

Z_95 = 1.959963984540054  # standard normal quantile for a two-sided 95% interval


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); (0, 1) when ``total`` is 0."""
    if total < 0 or successes < 0 or successes > total:
        raise ValueError(f"invalid counts: {successes} successes out of {total}")
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def rate(ids: Sequence[str], flags: Sequence[bool], definition: str) -> dict[str, Any]:
    """Compute a proportion with its Wilson interval, keeping its definition and the ids it covers."""
    if len(ids) != len(flags):
        raise ValueError(f"{len(ids)} ids but {len(flags)} flags")
    successes = sum(bool(f) for f in flags)
    total = len(flags)
    low, high = wilson_interval(successes, total)
    return {
        "rate": successes / total if total else None,
        "ci95": [low, high],
        "count": successes,
        "n": total,
        "definition": definition,
        "ids": list(ids),
    }


def mean_with_interval(values: Iterable[float]) -> dict[str, Any]:
    """Mean and a normal-approximation 95% interval (for per-item scores such as NLL)."""
    data = [float(v) for v in values]
    n = len(data)
    if n == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    mean = sum(data) / n
    if n == 1:
        return {"mean": mean, "ci95": [mean, mean], "n": 1}
    variance = sum((v - mean) ** 2 for v in data) / (n - 1)
    half = Z_95 * math.sqrt(variance / n)
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


def agreement(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Accuracy, Cohen's kappa, per-class precision/recall/F1 and the confusion matrix (sklearn)."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        return {"n": 0, "accuracy": None, "kappa": None, "per_class": {}, "confusion": {}}
    label_list = list(labels) if labels is not None else sorted(set(gold) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=label_list, zero_division=0
    )
    matrix = confusion_matrix(gold, predicted, labels=label_list)
    # Kappa is undefined when both raters use one label only; report None rather than NaN.
    kappa = cohen_kappa_score(gold, predicted, labels=label_list) if len(set(gold) | set(predicted)) > 1 else None
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    low, high = wilson_interval(sum(g == p for g, p in zip(gold, predicted)), len(gold))
    return {
        "n": len(gold),
        "accuracy": accuracy,
        "accuracy_ci95": [low, high],
        "kappa": None if kappa is None or math.isnan(kappa) else float(kappa),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(label_list, precision, recall, f1, support)
        },
        "confusion": {
            "labels": label_list,
            "rows_gold_columns_predicted": matrix.tolist(),
        },
    }
