"""Evaluation: generation, attacks, judges and metrics for over-refusal, safety and capability.

``evaluate_model`` and ``validate_judges`` are imported on first use, so that importing the
configuration module does not load models, data loaders or scikit-learn.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "evaluate_model": "mosr.evaluation.runner",
    "reference_nll_values": "mosr.evaluation.runner",
    "PromptSettings": "mosr.evaluation.runner",
    "validate_judges": "mosr.evaluation.validation",
    "get_judge": "mosr.evaluation.judges",
    "get_attack": "mosr.evaluation.attacks",
    "get_suite": "mosr.evaluation.suites",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mosr.evaluation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
