"""Per-layer boundary analysis of benign, malicious and pseudo-malicious prompt representations."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mosr.analysis import metrics
from mosr.errors import ConfigError, DataError

GROUPS = ("benign", "malicious", "pseudo_malicious")
BEST_LAYER_CRITERION = (
    "maximum held-out probe accuracy (benign vs malicious); ties broken by the larger absolute "
    "Cohen's d of the benign and malicious projections, then by the lower layer"
)


def default_target_layers(total_layers: int) -> list[int]:
    """Return layers at about 1/3 and 2/3 of depth: floor(L/3) and 2 floor(L/3).

    This gives 10 and 20 for both 30-layer SmolLM2 and 32-layer Llama-3-8B, the layers the
    Circuit Breakers reference settings use for Llama-3-8B.
    """
    third = max(total_layers // 3, 0)
    return sorted({third, min(2 * third, total_layers - 1)})


def validate_layers(layers: Sequence[int] | None, total_layers: int, option_name: str = "layers") -> list[int]:
    """Return the sorted unique layers, all layers when None; raise ConfigError on an index out of range."""
    if layers is None:
        return list(range(total_layers))
    bad = [layer for layer in layers if not 0 <= layer < total_layers]
    if bad:
        raise ConfigError(
            f"{option_name} {bad} out of range: the model has {total_layers} decoder blocks, so layers run "
            f"from 0 to {total_layers - 1} (layer l is the output of block l)"
        )
    if not layers:
        raise ConfigError(f"{option_name} is an empty list; give at least one layer or leave it unset for all")
    return sorted(set(layers))


def validate_groups(states_by_group: Mapping[str, np.ndarray]) -> None:
    """Raise DataError unless benign, malicious and pseudo-malicious each have at least 2 prompts."""
    for group in GROUPS:
        if group not in states_by_group:
            raise DataError(f"group {group!r} is missing; the analysis needs {', '.join(GROUPS)}")
        count = len(states_by_group[group])
        if count < 2:
            raise DataError(
                f"group {group!r} has {count} prompt(s); each group needs at least 2 (raise --limit "
                "or add a dataset to the group)"
            )


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def analyse_layer(
    benign: np.ndarray,
    malicious: np.ndarray,
    pseudo: np.ndarray,
    bins: int = 40,
    test_fraction: float = 0.3,
    regularisation: float = 1.0,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Compute the boundary metrics of one layer from ``[n, hidden]`` states of the three groups.

    Returns the metrics (JSON-ready) and the projections of each group on the layer's unit
    safety direction.
    """
    direction, direction_norm = metrics.safety_direction(benign, malicious)
    projections = {
        "benign": metrics.project(benign, direction),
        "malicious": metrics.project(malicious, direction),
        "pseudo_malicious": metrics.project(pseudo, direction),
    }
    stats = {group: metrics.group_stats(values) for group, values in projections.items()}
    position = metrics.boundary_position(stats["benign"].mean, stats["malicious"].mean, stats["pseudo_malicious"].mean)
    probe = metrics.linear_probe(benign, malicious, pseudo, test_fraction, regularisation, seed)
    result = {
        "boundary_position": _finite_or_none(position),
        "direction_norm": direction_norm,
        "groups": {group: value.as_dict() for group, value in stats.items()},
        "overlap": {
            "pseudo_vs_malicious": metrics.overlap_coefficient(
                projections["pseudo_malicious"], projections["malicious"], bins
            ),
            "pseudo_vs_benign": metrics.overlap_coefficient(projections["pseudo_malicious"], projections["benign"], bins),
            "benign_vs_malicious": metrics.overlap_coefficient(projections["benign"], projections["malicious"], bins),
        },
        "cohens_d_benign_malicious": _finite_or_none(metrics.cohens_d(projections["benign"], projections["malicious"])),
        "probe": probe.as_dict(),
    }
    return result, projections


def select_best_layer(layer_results: Sequence[dict[str, Any]]) -> int:
    """Return the layer that separates benign from malicious best (see ``BEST_LAYER_CRITERION``)."""
    if not layer_results:
        raise DataError("no analysed layers to choose the best one from")

    def sort_key(result: dict[str, Any]) -> tuple[float, float, int]:
        effect = result.get("cohens_d_benign_malicious")
        return (result["probe"]["held_out_accuracy"], abs(effect) if effect is not None else -1.0, -result["layer"])

    return int(max(layer_results, key=sort_key)["layer"])


def analyse_layers(
    states_by_group: Mapping[str, np.ndarray],
    layers: Sequence[int],
    bins: int = 40,
    test_fraction: float = 0.3,
    regularisation: float = 1.0,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[int, dict[str, np.ndarray]]]:
    """Analyse each layer of ``[n, num_layers + 1, hidden]`` states (entry l + 1 = output of block l).

    Returns one metrics dict per layer (with its ``layer``) and the projections per layer.
    """
    validate_groups(states_by_group)
    total_layers = states_by_group["benign"].shape[1] - 1
    layers = validate_layers(layers, total_layers)
    results: list[dict[str, Any]] = []
    projections_by_layer: dict[int, dict[str, np.ndarray]] = {}
    for layer in layers:
        result, projections = analyse_layer(
            states_by_group["benign"][:, layer + 1],
            states_by_group["malicious"][:, layer + 1],
            states_by_group["pseudo_malicious"][:, layer + 1],
            bins=bins,
            test_fraction=test_fraction,
            regularisation=regularisation,
            seed=seed,
        )
        results.append({"layer": layer, **result})
        projections_by_layer[layer] = projections
    return results, projections_by_layer


def pca_coordinates(states_by_group: Mapping[str, np.ndarray], components: int = 2) -> tuple[dict[str, np.ndarray], list[float]]:
    """Fit a PCA on the ``[n, hidden]`` states of all groups together and return each group's coordinates.

    Also returns the explained-variance ratio of each component.
    """
    from sklearn.decomposition import PCA

    names = list(states_by_group)
    stacked = np.concatenate([np.asarray(states_by_group[name], dtype=np.float64) for name in names])
    pca = PCA(n_components=components, random_state=0)
    coordinates = pca.fit_transform(stacked)
    result: dict[str, np.ndarray] = {}
    start = 0
    for name in names:
        count = len(states_by_group[name])
        result[name] = coordinates[start:start + count]
        start += count
    return result, [float(value) for value in pca.explained_variance_ratio_]
