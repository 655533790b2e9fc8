"""PNG plots of an analysis result: boundary position per layer, projection histograms, PCA, before/after.

Every function reads the JSON-ready analysis dict (``analysis.json``), so plots can be redrawn
from a saved file without the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

GROUP_STYLE = {
    "benign": ("benign", "tab:green"),
    "pseudo_malicious": ("pseudo-malicious", "tab:orange"),
    "malicious": ("malicious", "tab:red"),
}
DPI = 110


def _title(analysis: dict[str, Any]) -> str:
    adapter = analysis.get("adapter")
    return f"{analysis.get('model')}" + (f" + {Path(adapter).name}" if adapter else "")


def _layer_series(analysis: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    layers, values = [], []
    for result in analysis["layers"]:
        value = result
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        layers.append(result["layer"])
        values.append(np.nan if value is None else float(value))
    return layers, values


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def plot_boundary_positions(analysis: dict[str, Any], path: Path) -> Path:
    """Plot b_l per layer (top) and probe accuracy and overlaps per layer (bottom)."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    layers, positions = _layer_series(analysis, "boundary_position")
    top.plot(layers, positions, marker="o", color="tab:orange", label="pseudo-malicious b_l")
    for level, text in ((0.0, "benign mean"), (0.5, "halfway"), (1.0, "malicious mean")):
        top.axhline(level, color="grey", linestyle=":" if level == 0.5 else "--", linewidth=0.8)
        top.annotate(text, (layers[0], level), fontsize=7, color="grey", va="bottom")
    top.set_ylabel("boundary position b_l")
    top.set_title(f"{_title(analysis)}: where pseudo-malicious prompts sit on the safety direction")

    for key, label, style in (
        ("probe.held_out_accuracy", "probe held-out accuracy", "-"),
        ("probe.pseudo_malicious_probability", "probe P(malicious) on pseudo", "-."),
        ("overlap.pseudo_vs_malicious", "overlap pseudo vs malicious", "--"),
        ("overlap.pseudo_vs_benign", "overlap pseudo vs benign", ":"),
    ):
        _, values = _layer_series(analysis, key)
        bottom.plot(layers, values, linestyle=style, marker=".", label=label)
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_xlabel("layer (output of decoder block)")
    bottom.set_ylabel("accuracy / probability / overlap")
    bottom.legend(fontsize=7, loc="best")

    best = analysis.get("best_layer", {}).get("layer")
    for axis in (top, bottom):
        if best is not None:
            axis.axvline(best, color="black", linewidth=0.8, alpha=0.5)
        for target in analysis.get("target_layers", []):
            axis.axvline(target, color="tab:blue", linewidth=0.8, alpha=0.3)
    top.legend(
        [top.lines[0]], ["pseudo-malicious b_l (black line: best layer, blue: target layers)"], fontsize=7, loc="best"
    )
    return _save(figure, path)


def _histogram_axis(axis: plt.Axes, projections: dict[str, list[float]], bins: int, title: str) -> None:
    values = np.concatenate([np.asarray(v, dtype=float) for v in projections.values()])
    edges = np.linspace(values.min(), values.max(), bins + 1)
    for group in ("benign", "pseudo_malicious", "malicious"):
        if group not in projections:
            continue
        label, colour = GROUP_STYLE[group]
        axis.hist(projections[group], bins=edges, density=True, alpha=0.45, color=colour, label=label)
    axis.set_title(title, fontsize=9)
    axis.set_xlabel("projection on safety direction")
    axis.set_ylabel("density")


def _plot_layers(analysis: dict[str, Any]) -> list[int]:
    return [int(layer) for layer in analysis["plot_data"]["layers"]]


def _layer_caption(analysis: dict[str, Any], layer: int) -> str:
    tags = []
    if layer == analysis.get("best_layer", {}).get("layer"):
        tags.append("best")
    if layer in analysis.get("target_layers", []):
        tags.append("target")
    result = next((r for r in analysis["layers"] if r["layer"] == layer), {})
    position = result.get("boundary_position")
    suffix = f", b={position:.2f}" if position is not None else ""
    return f"layer {layer}" + (f" ({', '.join(tags)})" if tags else "") + suffix


def plot_projection_histograms(analysis: dict[str, Any], path: Path, bins: int = 40) -> Path:
    """Plot the projection histograms of the three groups at the best and target layers."""
    layers = _plot_layers(analysis)
    figure, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.6), squeeze=False)
    for axis, layer in zip(axes[0], layers):
        _histogram_axis(axis, analysis["plot_data"]["projections"][str(layer)], bins, _layer_caption(analysis, layer))
    axes[0][0].legend(fontsize=7)
    figure.suptitle(_title(analysis), fontsize=10)
    return _save(figure, path)


def plot_pca(analysis: dict[str, Any], path: Path) -> Path:
    """Plot a 2-D PCA scatter of the three groups at the best and target layers."""
    layers = _plot_layers(analysis)
    figure, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.9), squeeze=False)
    for axis, layer in zip(axes[0], layers):
        pca = analysis["plot_data"]["pca"][str(layer)]
        for group in ("benign", "pseudo_malicious", "malicious"):
            points = np.asarray(pca["coordinates"].get(group, []), dtype=float).reshape(-1, 2)
            label, colour = GROUP_STYLE[group]
            axis.scatter(points[:, 0], points[:, 1], s=9, alpha=0.6, color=colour, label=label)
        variance = pca["explained_variance"]
        axis.set_xlabel(f"PC1 ({variance[0]:.0%} of variance)")
        axis.set_ylabel(f"PC2 ({variance[1]:.0%})")
        axis.set_title(_layer_caption(analysis, layer), fontsize=9)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(_title(analysis), fontsize=10)
    return _save(figure, path)


def plot_analysis(analysis: dict[str, Any], out_dir: Path, bins: int = 40) -> list[Path]:
    """Write the three plots of one analysis into ``out_dir`` and return their paths."""
    return [
        plot_boundary_positions(analysis, out_dir / "boundary_position.png"),
        plot_projection_histograms(analysis, out_dir / "projection_histograms.png", bins),
        plot_pca(analysis, out_dir / "pca.png"),
    ]


def plot_before_after(
    before_analysis: dict[str, Any],
    after_analysis: dict[str, Any],
    out_dir: Path,
    bins: int = 40,
    label_before: str = "before",
    label_after: str = "after",
) -> list[Path]:
    """Plot a base model's analysis beside the same analysis with a trained adapter.

    Writes ``before_after_boundary.png`` (b_l and pseudo-vs-malicious overlap per layer, both
    runs) and ``before_after_histograms.png`` (projection histograms, before above after, at
    the layers both runs plotted). Each run projects on its own safety direction. The labels
    name the two runs in legends and titles (the pipeline passes the method name as ``label_after``).
    """
    out_dir = Path(out_dir)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    for analysis, name, colour in ((before_analysis, label_before, "tab:grey"), (after_analysis, label_after, "tab:purple")):
        layers, positions = _layer_series(analysis, "boundary_position")
        top.plot(layers, positions, marker="o", color=colour, label=f"{name}: {_title(analysis)}")
        layers, overlaps = _layer_series(analysis, "overlap.pseudo_vs_malicious")
        bottom.plot(layers, overlaps, marker="o", color=colour, label=name)
    for level in (0.0, 0.5, 1.0):
        top.axhline(level, color="grey", linestyle=":" if level == 0.5 else "--", linewidth=0.8)
    top.set_ylabel("boundary position b_l")
    top.legend(fontsize=7)
    top.set_title(f"pseudo-malicious boundary position: {label_before} vs {label_after}")
    bottom.set_ylabel("overlap pseudo vs malicious")
    bottom.set_xlabel("layer (output of decoder block)")
    bottom.set_ylim(-0.02, 1.02)
    bottom.legend(fontsize=7)
    paths = [_save(figure, out_dir / "before_after_boundary.png")]

    shared = [layer for layer in _plot_layers(before_analysis) if layer in _plot_layers(after_analysis)]
    if shared:
        figure, axes = plt.subplots(2, len(shared), figsize=(4.2 * len(shared), 7), squeeze=False)
        for row, (analysis, name) in enumerate(((before_analysis, label_before), (after_analysis, label_after))):
            for column, layer in enumerate(shared):
                projections = analysis["plot_data"]["projections"][str(layer)]
                _histogram_axis(axes[row][column], projections, bins, f"{name}: {_layer_caption(analysis, layer)}")
        axes[0][0].legend(fontsize=7)
        paths.append(_save(figure, out_dir / "before_after_histograms.png"))
    return paths
