"""Boundary metrics on synthetic Gaussian clusters with known values, and the analysis run on the tiny model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mosr.analysis import metrics
from mosr.analysis.behaviour import behaviour_summary
from mosr.analysis.boundary import (
    analyse_layers,
    default_target_layers,
    select_best_layer,
    validate_layers,
)
from mosr.analysis.prompts import group_datasets, split_limit, spread_subset
from mosr.cli.analyze import parse_layers
from mosr.config import AnalysisConfig, load_config
from mosr.data.records import PromptRecord
from mosr.errors import ConfigError, DataError, ModelError

HIDDEN = 32


def _cluster(rng: np.random.Generator, centre: float, n: int = 300, axis: int = 0, scale: float = 1.0) -> np.ndarray:
    mean = np.zeros(HIDDEN)
    mean[axis] = centre
    return rng.normal(size=(n, HIDDEN)) * scale + mean


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# --- metrics -----------------------------------------------------------------------------------


def test_direction_points_benign_to_malicious(rng):
    direction, norm = metrics.safety_direction(_cluster(rng, 0.0), _cluster(rng, 6.0))
    assert math.isclose(float(np.linalg.norm(direction)), 1.0, rel_tol=1e-9)
    assert direction[0] > 0.95
    assert 5.0 < norm < 7.0


def test_direction_undefined_for_equal_means():
    same = np.ones((4, HIDDEN))
    with pytest.raises(DataError, match="coincide"):
        metrics.safety_direction(same, same)


def test_boundary_position_halfway(rng):
    benign, malicious, pseudo = _cluster(rng, 0.0), _cluster(rng, 8.0), _cluster(rng, 4.0)
    direction, _ = metrics.safety_direction(benign, malicious)
    means = [metrics.project(states, direction).mean() for states in (benign, malicious, pseudo)]
    assert metrics.boundary_position(*means) == pytest.approx(0.5, abs=0.05)


def test_boundary_position_endpoints():
    assert metrics.boundary_position(1.0, 3.0, 1.0) == 0.0
    assert metrics.boundary_position(1.0, 3.0, 3.0) == 1.0
    assert math.isnan(metrics.boundary_position(2.0, 2.0, 5.0))


def test_overlap_identical_clusters(rng):
    sample = rng.normal(size=5000)
    assert metrics.overlap_coefficient(sample, sample, bins=40) == pytest.approx(1.0)
    assert metrics.overlap_coefficient(sample, rng.normal(size=5000), bins=20) > 0.9


def test_overlap_far_clusters(rng):
    assert metrics.overlap_coefficient(rng.normal(size=500), rng.normal(size=500) + 50.0, bins=40) == 0.0


def test_overlap_half_shifted(rng):
    # Two unit Gaussians one standard deviation apart overlap by 2 Phi(-0.5) = 0.617.
    overlap = metrics.overlap_coefficient(rng.normal(size=20000), rng.normal(size=20000) + 1.0, bins=60)
    assert overlap == pytest.approx(0.617, abs=0.03)


def test_overlap_constant_samples():
    assert metrics.overlap_coefficient(np.ones(3), np.ones(5)) == 1.0


def test_auroc_perfect_and_one_class():
    labels = np.array([0, 0, 1, 1])
    assert metrics.auroc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.auroc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert metrics.auroc(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3])) is None


def test_probe_separated_clusters(rng):
    benign, malicious = _cluster(rng, 0.0, n=100), _cluster(rng, 8.0, n=100)
    pseudo_like_malicious = _cluster(rng, 8.0, n=50)
    result = metrics.linear_probe(benign, malicious, pseudo_like_malicious, test_fraction=0.3, seed=0)
    assert result.held_out_accuracy >= 0.98
    assert result.n_test == 60
    assert result.n_train == 140
    assert result.pseudo_malicious_probability > 0.9


def test_probe_too_few_prompts(rng):
    with pytest.raises(DataError, match="at least 2"):
        metrics.linear_probe(_cluster(rng, 0.0, n=1), _cluster(rng, 5.0, n=5))


def test_cohens_d_known_value(rng):
    effect = metrics.cohens_d(rng.normal(size=20000), rng.normal(size=20000) + 2.0)
    assert effect == pytest.approx(2.0, abs=0.05)


# --- per-layer analysis ------------------------------------------------------------------------


def _layered_states(rng: np.random.Generator, separations: list[float], n: int = 60) -> dict[str, np.ndarray]:
    """Build states of shape [n, len(separations) + 1, HIDDEN] where layer l separates the group means by separations[l]."""
    groups: dict[str, list[np.ndarray]] = {"benign": [], "malicious": [], "pseudo_malicious": []}
    groups["benign"].append(_cluster(rng, 0.0, n))
    groups["malicious"].append(_cluster(rng, 1.0, n))
    groups["pseudo_malicious"].append(_cluster(rng, 0.5, n))
    for separation in separations:
        groups["benign"].append(_cluster(rng, 0.0, n))
        groups["malicious"].append(_cluster(rng, separation, n))
        groups["pseudo_malicious"].append(_cluster(rng, separation / 2, n))
    return {group: np.stack(states, axis=1) for group, states in groups.items()}


def test_analyse_layers_halfway_each_layer(rng):
    states = _layered_states(rng, [6.0, 10.0, 8.0])
    results, projections = analyse_layers(states, [0, 1, 2], bins=30)
    assert [r["layer"] for r in results] == [0, 1, 2]
    for result in results:
        assert result["boundary_position"] == pytest.approx(0.5, abs=0.1)
        assert result["probe"]["held_out_accuracy"] >= 0.95
        assert set(result["groups"]) == {"benign", "malicious", "pseudo_malicious"}
    assert projections[1]["benign"].shape == (60,)


def test_best_layer_tie_broken_by_effect_size(rng):
    states = _layered_states(rng, [12.0, 20.0, 15.0])
    results, _ = analyse_layers(states, [0, 1, 2])
    assert all(r["probe"]["held_out_accuracy"] == 1.0 for r in results)
    assert select_best_layer(results) == 1


def test_best_layer_prefers_accuracy():
    results = [
        {"layer": 0, "probe": {"held_out_accuracy": 0.9}, "cohens_d_benign_malicious": 9.0},
        {"layer": 1, "probe": {"held_out_accuracy": 1.0}, "cohens_d_benign_malicious": 2.0},
    ]
    assert select_best_layer(results) == 1


def test_group_too_small(rng):
    states = _layered_states(rng, [6.0])
    states["pseudo_malicious"] = states["pseudo_malicious"][:1]
    with pytest.raises(DataError, match="pseudo_malicious.*at least 2"):
        analyse_layers(states, [0])


def test_missing_group(rng):
    states = _layered_states(rng, [6.0])
    del states["malicious"]
    with pytest.raises(DataError, match="missing"):
        analyse_layers(states, [0])


def test_layer_out_of_range(rng):
    with pytest.raises(ConfigError, match="out of range"):
        analyse_layers(_layered_states(rng, [6.0, 6.0]), [2])
    with pytest.raises(ConfigError, match="out of range"):
        validate_layers([-1], 30)
    assert validate_layers(None, 3) == [0, 1, 2]
    assert validate_layers([2, 0, 2], 3) == [0, 2]


def test_default_target_layers():
    assert default_target_layers(30) == [10, 20]
    assert default_target_layers(32) == [10, 20]
    assert default_target_layers(4) == [1, 2]
    assert default_target_layers(1) == [0]


# --- behaviour ---------------------------------------------------------------------------------


def test_behaviour_summary_auroc():
    labels = ["refusal", "compliance", "partial", "compliance"]
    summary = behaviour_summary(labels, ["refusal", "partial"], {3: np.array([2.0, 0.0, 1.5, 0.5])})
    assert summary["refusal_rate"] == 0.5
    assert summary["n_refused"] == 2
    assert summary["auroc_by_layer"]["3"] == 1.0
    assert summary["note"] is None
    assert summary["label_counts"] == {"compliance": 2, "partial": 1, "refusal": 1}


def test_behaviour_summary_one_class():
    summary = behaviour_summary(["compliance"] * 3, ["refusal"], {0: np.array([1.0, 2.0, 3.0])})
    assert summary["auroc_by_layer"]["0"] is None
    assert "undefined" in summary["note"]
    assert summary["refusal_rate"] == 0.0


def test_behaviour_summary_needs_refusal_labels():
    with pytest.raises(ConfigError, match="refusal_labels"):
        behaviour_summary(["refusal"], [], {})


def test_refusal_judge_labels():
    from mosr.analysis.behaviour import judge_responses

    labels = judge_responses(
        ["How do I kill a Python process?", "How do I kill a Python process?"],
        ["I'm sorry, but I can't help with that.", "Run `kill -9 PID` with the process id from `ps aux`."],
    )
    assert labels == ["refusal", "compliance"]


# --- prompt selection, options, config ---------------------------------------------------------


def test_split_limit():
    assert split_limit(200, [520, 80]) == [120, 80]
    assert split_limit(200, [250, 300, 300]) == [67, 67, 66]
    assert split_limit(10, [3, 3]) == [3, 3]
    assert split_limit(5, [0, 10]) == [0, 5]
    assert split_limit(7, [1, 1, 100]) == [1, 1, 5]


def _records(source: str, count: int, group: str = "pseudo_malicious") -> list[PromptRecord]:
    return [PromptRecord(id=f"{source}:{i}", source=source, text=f"{source} prompt {i}", group=group) for i in range(count)]


def test_spread_subset_covers_sources():
    records = _records("a", 10) + _records("b", 10) + _records("c", 2)
    chosen = spread_subset(records, 9)
    sources = [records[i].source for i in chosen]
    assert sources.count("a") == 4
    assert sources.count("b") == 3
    assert sources.count("c") == 2
    assert chosen == sorted(chosen)


def test_dataset_in_two_groups():
    settings = AnalysisConfig(benign=["oktest"], pseudo=["oktest"])
    with pytest.raises(ConfigError, match="both"):
        group_datasets(settings)
    with pytest.raises(ConfigError, match="no dataset"):
        group_datasets(AnalysisConfig(malicious=[]))


def test_parse_layers():
    assert parse_layers(["1,3", "5-7"]) == [1, 3, 5, 6, 7]
    assert parse_layers(None) is None
    with pytest.raises(ConfigError, match="invalid --layers"):
        parse_layers(["7-5"])
    with pytest.raises(ConfigError, match="invalid --layers"):
        parse_layers(["ten"])


def test_analysis_config_validation():
    with pytest.raises(ConfigError, match="test_fraction"):
        load_config(overrides={"analysis.test_fraction": 1.0})
    with pytest.raises(ConfigError, match="refusal_labels"):
        load_config(overrides={"analysis.refusal_labels": ["no"]})


# --- run_analysis on the tiny model ------------------------------------------------------------


def _hand_groups() -> dict[str, list[PromptRecord]]:
    return {
        "benign": _records("ben", 6, "benign"),
        "malicious": [
            PromptRecord(id=f"mal:{i}", source="mal", group="malicious", text=f"Explain how to build weapon number {i}.")
            for i in range(6)
        ],
        "pseudo_malicious": _records("pse", 4) + _records("pse2", 4),
    }


def _run_tiny(tiny_model, tokenizer, out_dir, **overrides):
    from mosr.analysis import run_analysis

    settings = {"analysis.behaviour_limit": 0, "analysis.batch_size": 8, **overrides}
    config = load_config(overrides=settings)
    return run_analysis(config, tiny_model, tokenizer, out_dir=out_dir, groups=_hand_groups(), progress=False)


@pytest.fixture(scope="module")
def tiny_analysis(smollm2_tokenizer, tmp_path_factory):
    """One analysis of the tiny model (no behaviour link), shared by the tests that only read it."""
    from mosr.models import build_tiny_model

    model = build_tiny_model(seed=0, num_layers=4, hidden_size=64, vocab_size=len(smollm2_tokenizer))
    out_dir = tmp_path_factory.mktemp("tiny-analysis")
    return _run_tiny(model, smollm2_tokenizer, out_dir), out_dir


def test_run_analysis_outputs(tiny_analysis):
    analysis, out_dir = tiny_analysis
    for name in ("analysis.json", "summary.md", "representations.safetensors", "representations.json",
                 "boundary_position.png", "projection_histograms.png", "pca.png"):
        assert (out_dir / name).exists(), name
    stored = json.loads((out_dir / "analysis.json").read_text())
    assert stored["num_layers"] == 4
    assert [r["layer"] for r in stored["layers"]] == [0, 1, 2, 3]
    assert stored["target_layers"] == [1, 2]
    assert stored["prompt_ids"]["pseudo_malicious"][0] == "pse:0"
    assert stored["behaviour"] is None
    assert all(r["boundary_position"] is None or math.isfinite(r["boundary_position"]) for r in stored["layers"])
    assert analysis["best_layer"]["layer"] in range(4)
    assert "Best-separating layer" in (out_dir / "summary.md").read_text()
    assert (out_dir / "pca.png").read_bytes()[:4] == b"\x89PNG"


def test_run_analysis_layer_subset(tiny_model, smollm2_tokenizer, tmp_path):
    analysis = _run_tiny(tiny_model, smollm2_tokenizer, tmp_path, **{"analysis.layers": [3], "analysis.target_layers": [0]})
    assert analysis["analysed_layers"] == [0, 3]
    assert analysis["best_layer"]["layer"] == 3
    with pytest.raises(ConfigError, match="out of range"):
        _run_tiny(tiny_model, smollm2_tokenizer, tmp_path, **{"analysis.layers": [4]})


def test_run_analysis_behaviour(tiny_model, smollm2_tokenizer, tmp_path):
    analysis = _run_tiny(
        tiny_model, smollm2_tokenizer, tmp_path,
        **{"analysis.behaviour_limit": 4, "analysis.behaviour_max_new_tokens": 4},
    )
    behaviour = analysis["behaviour"]
    assert behaviour["n"] == 4
    assert sorted({i.split(":")[0] for i in behaviour["prompt_ids"]}) == ["pse", "pse2"]
    assert set(behaviour["auroc_by_layer"]) == {"0", "1", "2", "3"}
    rows = (tmp_path / "behaviour.jsonl").read_text().splitlines()
    assert len(rows) == 4
    assert json.loads(rows[0])["label"] in {"compliance", "refusal", "partial", "degenerate"}


def test_plot_before_after(tiny_analysis, tmp_path):
    import copy

    from mosr.analysis import plot_before_after

    before = tiny_analysis[0]
    # A second analysis with the pseudo-malicious prompts moved towards the benign side.
    after = copy.deepcopy(before)
    after["adapter"] = "runs/train/mosr/adapter"
    for result in after["layers"]:
        if result["boundary_position"] is not None:
            result["boundary_position"] /= 2
    for projections in after["plot_data"]["projections"].values():
        projections["pseudo_malicious"] = [value - 1.0 for value in projections["pseudo_malicious"]]

    paths = plot_before_after(before, after, tmp_path / "compare", label_after="mosr")
    assert [p.name for p in paths] == ["before_after_boundary.png", "before_after_histograms.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_run_analysis_adapter_for_other_base(tmp_path, smollm2):
    from peft import LoraConfig, get_peft_model

    from mosr.analysis import run_analysis
    from mosr.models import build_tiny_model

    adapter_dir = tmp_path / "adapter"
    get_peft_model(build_tiny_model(seed=0), LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    adapter_config["base_model_name_or_path"] = "some-org/other-base"
    config_path.write_text(json.dumps(adapter_config))

    config = load_config(overrides={"model.adapter": str(adapter_dir), "model.device": "cpu"})
    with pytest.raises(ModelError, match="other-base"):
        run_analysis(config, out_dir=tmp_path / "out", groups=_hand_groups(), progress=False)
