"""Overlap-Aware Loss Weighting: scores, rank normalisation, weights and saved files."""

from __future__ import annotations

import json

import pytest
import torch

from mosr.training import oaw


def test_weights_mean_one():
    scores = torch.tensor([0.3, 0.9, 0.1, 0.5, 0.7])
    weights = oaw.overlap_weights(scores, w_min=0.1, gamma=1.0)
    assert weights.mean().item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("w_min", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0])
def test_weights_floor_respected(w_min, gamma):
    weights = oaw.overlap_weights(torch.linspace(0, 1, 11), w_min=w_min, gamma=gamma)
    # Raw weights lie in [w_min, 1]; rescaling keeps the ratio of smallest to largest.
    assert (weights.min() / weights.max()).item() == pytest.approx(w_min, abs=1e-6)
    assert weights.min().item() >= 0


def test_weights_non_increasing_in_overlap():
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(50, generator=generator)
    weights = oaw.overlap_weights(scores, w_min=0.1, gamma=2.0)
    order = torch.argsort(scores)
    assert torch.all(weights[order][1:] <= weights[order][:-1] + 1e-7)


def test_equal_scores_get_equal_weights():
    weights = oaw.overlap_weights(torch.tensor([0.5, 0.5, 0.2, 0.9]))
    assert weights[0].item() == pytest.approx(weights[1].item())


def test_rank_normalise_range():
    z = oaw.rank_normalise(torch.tensor([10.0, -3.0, 4.0]))
    assert z.tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert oaw.rank_normalise(torch.tensor([7.0])).tolist() == [0.5]


def _embed(vectors: list[list[float]]) -> torch.Tensor:
    return oaw.normalise_per_layer(torch.tensor(vectors).unsqueeze(1))


def test_topk_score_higher_near_reference():
    reference = _embed([[1.0, 0.0], [0.9, 0.1]])
    erasure = _embed([[1.0, 0.05], [0.0, 1.0]])
    scores = oaw.overlap_scores(erasure, reference, layers=1, score="topk", k=2)
    assert scores[0] > scores[1]
    assert scores[0].item() <= 1.0 + 1e-6


def test_centroid_and_knn_ratio_agree_on_order():
    reference = _embed([[1.0, 0.0], [0.9, 0.1]])
    benign = _embed([[0.0, 1.0], [0.1, 0.9]])
    erasure = _embed([[1.0, 0.05], [0.05, 1.0]])
    centroid = oaw.overlap_scores(erasure, reference, 1, "centroid")
    ratio = oaw.overlap_scores(erasure, reference, 1, "knn_ratio", k=1, benign=benign)
    assert centroid[0] > centroid[1]
    assert ratio[0] > ratio[1]


def test_knn_ratio_needs_benign():
    embedded = _embed([[1.0, 0.0]])
    with pytest.raises(ValueError, match="benign"):
        oaw.overlap_scores(embedded, embedded, 1, "knn_ratio")


def test_normalise_per_layer_unit_norm_each_layer():
    states = torch.tensor([[[3.0, 4.0], [0.0, 2.0]]])
    flat = oaw.normalise_per_layer(states)
    assert flat[0].tolist() == pytest.approx([0.6, 0.8, 0.0, 1.0])


def test_save_weights_writes_files(tmp_path):
    ids = [f"p{i}" for i in range(12)]
    scores = torch.linspace(0, 1, 12)
    weights = oaw.overlap_weights(scores)
    oaw.save_weights(tmp_path, ids, [f"prompt {i}" for i in range(12)], scores, weights)
    rows = json.loads((tmp_path / "oaw_weights.json").read_text())
    assert [row["id"] for row in rows] == ids
    assert (tmp_path / "oaw_weights.csv").read_text().startswith("id,overlap,weight,text")
    assert (tmp_path / "oaw_weights.png").stat().st_size > 0
    extremes = (tmp_path / "oaw_extremes.md").read_text()
    assert "p0" in extremes
    assert "p11" in extremes
