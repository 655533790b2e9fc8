"""Statistics of the safety boundary on one layer: direction, projections, overlap, probe, AUROC.

Every function takes plain ``numpy`` arrays (``[n, hidden]`` states or ``[n]`` projections),
so the maths can be tested on synthetic clusters without a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mosr.errors import DataError

# Below this norm the two group means coincide and the direction is undefined.
MIN_DIRECTION_NORM = 1e-12


def _as_matrix(states: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(states, dtype=np.float64)
    if matrix.ndim != 2:
        raise DataError(f"{name} must be a [n_prompts, hidden] matrix, got shape {matrix.shape}")
    if matrix.shape[0] < 2:
        raise DataError(f"{name} has {matrix.shape[0]} prompt(s); each group needs at least 2")
    if not np.all(np.isfinite(matrix)):
        raise DataError(f"{name} contains NaN or infinite values; check the model's dtype and inputs")
    return matrix


def safety_direction(benign: np.ndarray, malicious: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the unit difference-in-means direction mean(malicious) - mean(benign) and its norm.

    Raises DataError when a group has fewer than 2 prompts or the two means coincide.
    """
    benign = _as_matrix(benign, "benign states")
    malicious = _as_matrix(malicious, "malicious states")
    if benign.shape[1] != malicious.shape[1]:
        raise DataError(f"benign states have {benign.shape[1]} dimensions, malicious states {malicious.shape[1]}")
    difference = malicious.mean(axis=0) - benign.mean(axis=0)
    norm = float(np.linalg.norm(difference))
    if norm < MIN_DIRECTION_NORM:
        raise DataError(
            "the benign and malicious means coincide, so the safety direction is undefined "
            "(this happens at the embedding layer, where every prompt ends in the same token)"
        )
    return difference / norm, norm


def project(states: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Return the scalar projection of each state on a unit direction (no centring)."""
    return np.asarray(states, dtype=np.float64) @ np.asarray(direction, dtype=np.float64)


@dataclass(frozen=True)
class GroupStats:
    n: int
    mean: float
    std: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "mean": self.mean, "std": self.std}


def group_stats(projections: np.ndarray) -> GroupStats:
    """Return count, mean and sample standard deviation (ddof 1) of projections."""
    values = np.asarray(projections, dtype=np.float64)
    if values.size < 2:
        raise DataError(f"a group has {values.size} projection(s); statistics need at least 2")
    return GroupStats(n=int(values.size), mean=float(values.mean()), std=float(values.std(ddof=1)))


def boundary_position(mean_benign: float, mean_malicious: float, mean_pseudo: float) -> float:
    """Return b = (mean_pseudo - mean_benign) / (mean_malicious - mean_benign).

    0 puts the pseudo-malicious mean on the benign mean, 1 on the malicious mean. Returns NaN
    when the benign and malicious means are equal.
    """
    span = mean_malicious - mean_benign
    if span == 0:
        return math.nan
    return (mean_pseudo - mean_benign) / span


def overlap_coefficient(first: np.ndarray, second: np.ndarray, bins: int = 40) -> float:
    """Return the histogram intersection of two samples on shared bins, in [0, 1].

    Both samples are binned on ``bins`` equal-width bins spanning their joint range, and each
    histogram is normalised to total mass 1. The result is the sum of the bin-wise minima, so it
    is 1 for identical histograms and 0 for samples with no bin in common.
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.size == 0 or second.size == 0:
        raise DataError("overlap needs two non-empty samples")
    if bins < 1:
        raise DataError(f"bins must be at least 1, got {bins}")
    low = min(first.min(), second.min())
    high = max(first.max(), second.max())
    if low == high:
        return 1.0
    edges = np.linspace(low, high, bins + 1)
    first_mass = np.histogram(first, bins=edges)[0] / first.size
    second_mass = np.histogram(second, bins=edges)[0] / second.size
    return float(np.minimum(first_mass, second_mass).sum())


def cohens_d(first: np.ndarray, second: np.ndarray) -> float:
    """Return (mean(second) - mean(first)) / pooled standard deviation, or NaN when both samples are constant."""
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    n1, n2 = first.size, second.size
    if n1 < 2 or n2 < 2:
        raise DataError("Cohen's d needs at least 2 values in each sample")
    pooled_variance = ((n1 - 1) * first.var(ddof=1) + (n2 - 1) * second.var(ddof=1)) / (n1 + n2 - 2)
    if pooled_variance == 0:
        return math.nan
    return float((second.mean() - first.mean()) / math.sqrt(pooled_variance))


@dataclass(frozen=True)
class ProbeResult:
    held_out_accuracy: float
    n_train: int
    n_test: int
    pseudo_malicious_probability: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "held_out_accuracy": self.held_out_accuracy,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "pseudo_malicious_probability": self.pseudo_malicious_probability,
        }


def linear_probe(
    benign: np.ndarray,
    malicious: np.ndarray,
    pseudo: np.ndarray | None = None,
    test_fraction: float = 0.3,
    regularisation: float = 1.0,
    seed: int = 0,
) -> ProbeResult:
    """Train a logistic-regression probe (benign 0, malicious 1) and score it on a held-out split.

    The split is stratified by class and seeded. Features are standardised on the training
    split. The mean malicious probability on ``pseudo`` uses the same trained probe.
    ``regularisation`` is scikit-learn's ``C`` (inverse L2 strength).
    """
    benign = _as_matrix(benign, "benign states")
    malicious = _as_matrix(malicious, "malicious states")
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    features = np.concatenate([benign, malicious])
    labels = np.concatenate([np.zeros(len(benign), dtype=int), np.ones(len(malicious), dtype=int)])
    try:
        train_x, test_x, train_y, test_y = train_test_split(
            features, labels, test_size=test_fraction, stratify=labels, random_state=seed
        )
    except ValueError as error:
        raise DataError(
            f"cannot split {len(benign)} benign and {len(malicious)} malicious prompts into a stratified "
            f"probe train/test split with test_fraction={test_fraction} ({error}); use more prompts"
        ) from None

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=2000))
    probe.fit(train_x, train_y)
    accuracy = float((probe.predict(test_x) == test_y).mean())
    pseudo_probability = None
    if pseudo is not None:
        pseudo = _as_matrix(pseudo, "pseudo-malicious states")
        pseudo_probability = float(probe.predict_proba(pseudo)[:, 1].mean())
    return ProbeResult(accuracy, int(len(train_y)), int(len(test_y)), pseudo_probability)


def auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Return the AUROC of ``scores`` for binary ``labels`` (1 = positive), or None if one class is missing."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise DataError(f"{labels.size} labels for {scores.size} scores")
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))
