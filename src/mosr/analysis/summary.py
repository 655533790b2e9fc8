"""Markdown summary of an analysis result (``summary.md``)."""

from __future__ import annotations

from typing import Any


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_summary(analysis: dict[str, Any]) -> str:
    """Render the per-layer table, the best layer and the behaviour link as Markdown."""
    lines = [f"# Representation analysis: {analysis['model']}", ""]
    if analysis.get("adapter"):
        lines += [f"Adapter: `{analysis['adapter']}`", ""]
    lines += [
        f"Layer l is the output of decoder block l ({analysis['num_layers']} blocks); the representation is "
        "the residual stream at the last token of the chat-formatted prompt. The safety direction of a "
        "layer is mean(malicious) - mean(benign), unit-normalised. b_l = (mean_pseudo - mean_benign) / "
        "(mean_malicious - mean_benign): 0 is the benign mean, 1 the malicious mean.",
        "",
        "| group | prompts | datasets |",
        "| --- | --- | --- |",
    ]
    for group, ids in analysis["prompt_ids"].items():
        lines.append(f"| {group} | {len(ids)} | {', '.join(analysis['datasets'][group])} |")

    best = analysis["best_layer"]
    lines += [
        "",
        f"**Best-separating layer: {best['layer']}** ({best['criterion']}): probe held-out accuracy "
        f"{_number(best['probe_accuracy'])}, b = {_number(best['boundary_position'])}.",
        f"Target layers: {', '.join(map(str, analysis['target_layers']))}.",
        "",
    ]

    behaviour = analysis.get("behaviour")
    auroc_by_layer: dict[str, float | None] = {}
    if behaviour:
        auroc_by_layer = behaviour["auroc_by_layer"]
        counts = ", ".join(f"{label} {count}" for label, count in behaviour["label_counts"].items())
        lines += [
            "## Behaviour",
            "",
            f"{behaviour['n']} pseudo-malicious prompts answered greedily (max {behaviour['max_new_tokens']} new "
            f"tokens) and judged by `{behaviour['judge']}`: {counts}. Refusal rate "
            f"({' or '.join(behaviour['refusal_labels'])}): {_number(behaviour['refusal_rate'])}.",
            f"AUROC of the best layer's projection for predicting refusal "
            f"({behaviour['n_refused']} refused vs {behaviour['n'] - behaviour['n_refused']} not): "
            f"{_number(auroc_by_layer.get(str(best['layer'])))}.",
        ]
        if behaviour.get("note"):
            lines.append(f"Note: {behaviour['note']}.")
        lines.append("")
    elif analysis.get("behaviour_note"):
        lines += ["## Behaviour", "", analysis["behaviour_note"], ""]

    lines += [
        "## Per layer",
        "",
        "| layer | b_l | mean benign | mean pseudo | mean malicious | overlap pseudo-mal | overlap pseudo-ben "
        "| probe acc | pseudo P(mal) | refusal AUROC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in analysis["layers"]:
        groups = result["groups"]
        marker = " *" if result["layer"] == best["layer"] else ""
        lines.append(
            f"| {result['layer']}{marker} | {_number(result['boundary_position'])} "
            f"| {_number(groups['benign']['mean'], 2)} | {_number(groups['pseudo_malicious']['mean'], 2)} "
            f"| {_number(groups['malicious']['mean'], 2)} | {_number(result['overlap']['pseudo_vs_malicious'])} "
            f"| {_number(result['overlap']['pseudo_vs_benign'])} | {_number(result['probe']['held_out_accuracy'])} "
            f"| {_number(result['probe']['pseudo_malicious_probability'])} "
            f"| {_number(auroc_by_layer.get(str(result['layer'])))} |"
        )
    lines += ["", "Plots: " + ", ".join(f"`{name}`" for name in analysis.get("plots", [])), ""]
    return "\n".join(lines)
