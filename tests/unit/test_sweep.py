"""Sweep grid files."""

from __future__ import annotations

import pytest

from mosr.errors import ConfigError
from mosr.sweep import grid_points, point_name, read_grid


def test_grid_expands_every_combination(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("fixed: {train.method: rr}\ngrid:\n  train.alpha: [5, 10]\n  train.geometry: [plain, masked]\n")
    points = grid_points(read_grid(path))
    assert len(points) == 4
    assert all(point["train.method"] == "rr" for point in points)
    assert {(p["train.alpha"], p["train.geometry"]) for p in points} == {(5, "plain"), (5, "masked"), (10, "plain"), (10, "masked")}


def test_point_names_are_unique(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("grid:\n  train.alpha: [5, 10]\n")
    points = grid_points(read_grid(path))
    names = {point_name(point, ["train.alpha"]) for point in points}
    assert len(names) == 2


@pytest.mark.parametrize("text, message", [
    ("fixed: {}\n", "needs a non-empty 'grid'"),
    ("grid:\n  train.alpha: 5\n", "must be a non-empty list"),
    ("grid: [unclosed\n", "malformed YAML"),
])
def test_bad_grid_is_rejected(tmp_path, text, message):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_grid(path)


def test_unknown_evaluate_on_is_rejected(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("evaluate_on: test\ngrid:\n  train.alpha: [5]\n")
    with pytest.raises(ConfigError, match="invalid evaluate_on .*: 'test'"):
        read_grid(path)


def test_validation_degenerate_counts_as_over_refusal(tmp_path):
    import json

    from mosr.sweep import validation_metrics

    def group(n, **counts):
        return {"n": n, "counts": {"compliance": 0, "refusal": 0, "partial": 0, "degenerate": 0, **counts}}

    path = tmp_path / "validation.json"
    path.write_text(json.dumps({"groups": {
        "harmful": group(20, compliance=5, refusal=15),
        "pseudo_malicious": group(20, compliance=16, refusal=1, partial=1, degenerate=2),
    }}))
    metrics = validation_metrics(path)
    assert metrics["asr_validation"] == 0.25
    assert metrics["over_refusal_validation"] == 0.2
    assert metrics["benign_refusal_validation"] is None
