"""Overlap-Aware Loss Weighting: erase least the malicious samples that look most pseudo-malicious.

Each erasure prompt and each reference (pseudo-malicious) prompt is embedded by the frozen model
as its last-token representation at the target layers, L2-normalised per layer and concatenated.
The overlap score of an erasure sample is its similarity to the reference set; rank-normalised to
z in [0, 1], it gives the weight w = w_min + (1 - w_min)(1 - z)^gamma, rescaled to mean 1.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


def normalise_per_layer(states: torch.Tensor) -> torch.Tensor:
    """L2-normalise ``[n, layers, hidden]`` per layer and concatenate to ``[n, layers * hidden]``."""
    return F.normalize(states.float(), dim=-1).flatten(start_dim=1)


def _cosines(queries: torch.Tensor, keys: torch.Tensor, layers: int) -> torch.Tensor:
    # Concatenated unit vectors have norm sqrt(layers): dividing by layers gives the mean cosine.
    return queries @ keys.T / layers


def overlap_scores(
    erasure: torch.Tensor,
    reference: torch.Tensor,
    layers: int,
    score: str = "topk",
    k: int = 5,
    benign: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return one overlap score per erasure sample (higher = closer to the reference set P).

    Args:
        erasure: ``[n, layers * hidden]`` per-layer-normalised embeddings of the erasure prompts.
        reference: ``[m, layers * hidden]`` embeddings of the reference set P.
        layers: number of concatenated layers (to turn dot products into mean cosines).
        score: ``topk`` (mean of the k largest cosines to P), ``centroid`` (mean cosine to the
            centroid of P, layer by layer) or ``knn_ratio`` (log of the k-th nearest benign
            distance over the k-th nearest P distance, a monotone proxy of the kNN density ratio).
        k: neighbours; capped at the size of the set it searches.
        benign: embeddings of benign prompts, required by ``knn_ratio``.
    """
    if erasure.shape[0] == 0 or reference.shape[0] == 0:
        raise ValueError("overlap scores need at least one erasure and one reference embedding")
    if score == "topk":
        cosines = _cosines(erasure, reference, layers)
        return cosines.topk(min(k, reference.shape[0]), dim=1).values.mean(dim=1)
    if score == "centroid":
        centroid = reference.view(reference.shape[0], layers, -1).mean(dim=0)
        centroid = F.normalize(centroid, dim=-1).flatten()
        return erasure @ centroid / layers
    if score == "knn_ratio":
        if benign is None or benign.shape[0] == 0:
            raise ValueError("the knn_ratio overlap score needs benign embeddings")
        distance_p = 1.0 - _cosines(erasure, reference, layers)
        distance_b = 1.0 - _cosines(erasure, benign, layers)
        kth_p = distance_p.topk(min(k, distance_p.shape[1]), dim=1, largest=False).values[:, -1]
        kth_b = distance_b.topk(min(k, distance_b.shape[1]), dim=1, largest=False).values[:, -1]
        return torch.log(kth_b.clamp_min(1e-8)) - torch.log(kth_p.clamp_min(1e-8))
    raise ValueError(f"unknown overlap score {score!r}; use topk, centroid or knn_ratio")


def rank_normalise(scores: torch.Tensor) -> torch.Tensor:
    """Map scores to z in [0, 1] by rank (ties share their mean rank; a single score maps to 0.5)."""
    n = scores.shape[0]
    if n == 1:
        return torch.full_like(scores, 0.5, dtype=torch.float32)
    order = torch.argsort(scores.double(), stable=True)
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = torch.arange(n, dtype=torch.float64)
    # Average the ranks of tied scores so equal overlap always gives equal weight.
    unique, inverse = torch.unique(scores.double(), return_inverse=True)
    sums = torch.zeros(unique.shape[0], dtype=torch.float64).index_add_(0, inverse, ranks)
    counts = torch.zeros(unique.shape[0], dtype=torch.float64).index_add_(0, inverse, torch.ones(n, dtype=torch.float64))
    return (sums / counts)[inverse].float() / (n - 1)


def overlap_weights(scores: torch.Tensor, w_min: float = 0.1, gamma: float = 1.0) -> torch.Tensor:
    """Return w_i = w_min + (1 - w_min)(1 - z_i)^gamma, rescaled to mean 1 over the set."""
    z = rank_normalise(scores)
    raw = w_min + (1.0 - w_min) * (1.0 - z) ** gamma
    return raw / raw.mean()


def save_weights(
    out_dir: Path,
    ids: list[str],
    texts: list[str],
    scores: torch.Tensor,
    weights: torch.Tensor,
    listed: int = 10,
) -> None:
    """Write ``oaw_weights.csv``/``.json``, a histogram PNG and the most and least weighted prompts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": sample_id, "overlap": float(score), "weight": float(weight), "text": text}
        for sample_id, text, score, weight in zip(ids, texts, scores.tolist(), weights.tolist())
    ]
    with (out_dir / "oaw_weights.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "overlap", "weight", "text"])
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "oaw_weights.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")

    ranked = sorted(rows, key=lambda row: row["weight"], reverse=True)
    lines = ["# OAW weights", "", f"{len(rows)} erasure prompts; weights have mean 1.", ""]
    for title, part in (("Most weighted (erased most)", ranked[:listed]), ("Least weighted (closest to pseudo-malicious)", ranked[::-1][:listed])):
        lines += [f"## {title}", "", "| weight | overlap | id | prompt |", "| --- | --- | --- | --- |"]
        for row in part:
            text = row["text"].replace("|", "\\|").replace("\n", " ")[:160]
            lines.append(f"| {row['weight']:.3f} | {row['overlap']:.4f} | {row['id']} | {text} |")
        lines.append("")
    (out_dir / "oaw_extremes.md").write_text("\n".join(lines), encoding="utf-8")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed; skipping the OAW histogram")
        return
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].hist(scores.numpy(), bins=30, color="tab:blue")
    axes[0].set_xlabel("overlap score")
    axes[0].set_ylabel("erasure prompts")
    axes[1].hist(weights.numpy(), bins=30, color="tab:orange")
    axes[1].set_xlabel("OAW weight (mean 1)")
    figure.tight_layout()
    figure.savefig(out_dir / "oaw_weights.png", dpi=110)
    plt.close(figure)
