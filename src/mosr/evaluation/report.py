"""Result files of an evaluation: results.json, judgements.csv (one row per test case) and results.md."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JUDGEMENT_COLUMNS = (
    "task", "kind", "dataset", "attack", "case_id", "prompt_id", "label", "rule", "matched", "judge",
    "judge_version", "num_tokens", "stopped", "base_perplexity", "prompt", "prefill", "response",
)


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_results_json(results: dict[str, Any], path: Path) -> None:
    _atomic_write(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def write_judgements_csv(rows: Sequence[dict[str, Any]], path: Path, extra_judges: Sequence[str] = ()) -> None:
    columns = list(JUDGEMENT_COLUMNS) + [f"{name}_label" for name in extra_judges]
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    os.replace(temporary, path)


def format_rate(entry: dict[str, Any] | None) -> str:
    """``0.120 [0.056, 0.238] (n=50)``, or a dash when there is no value."""
    if not entry or entry.get("rate") is None:
        return "-"
    low, high = entry["ci95"]
    return f"{entry['rate']:.3f} [{low:.3f}, {high:.3f}] (n={entry['n']})"


def _format_mean(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return "-"
    low, high = entry["ci95"]
    return f"{entry['mean']:.4f} [{low:.4f}, {high:.4f}] (n={entry['n']})"


def render_markdown(results: dict[str, Any]) -> str:
    generation = results["generation"]
    lines = [
        f"# Evaluation: {results.get('model')}" + (f" + {results['adapter']}" if results.get("adapter") else ""),
        "",
        f"Suite `{results['suite']}`, greedy decoding, max {generation['max_new_tokens']} new tokens "
        f"(specification default {generation['spec_default_max_new_tokens']}), backend {generation['backend']}, "
        f"judge `{results['judge']['name']}` v{results['judge']['version']}, seed {results['seed']}. "
        "Rates with 95% Wilson intervals; exact prompt ids are in results.json.",
        "",
        "## Over-refusal (benign and pseudo-malicious prompts; lower is better)",
        "",
        "Over-refusal = refusal + partial + degenerate.",
        "",
        "| set | attack | over-refusal | refusal only | degenerate |",
        "| --- | --- | --- | --- | --- |",
    ]
    for task, entry in results["over_refusal"].items():
        for attack, summary in entry["attacks"].items():
            lines.append(f"| {task} | {attack} | {format_rate(summary['over_refusal'])} | "
                         f"{format_rate(summary['refusal_only'])} | {format_rate(summary['degenerate'])} |")
    lines += [
        "",
        "## Attack success rate (malicious prompts; lower is better)",
        "",
        "ASR = compliance (coherent, not refusing); partial and degenerate responses are not successes.",
        "",
        "| set | attack | ASR | ASR any case per prompt | partial | degenerate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task, entry in results["safety"].items():
        for attack, summary in entry["attacks"].items():
            lines.append(f"| {task} | {attack} | {format_rate(summary['asr'])} | {format_rate(summary.get('asr_any'))} | "
                         f"{format_rate(summary['partial'])} | {format_rate(summary['degenerate'])} |")

    capability = results["capability"]
    if capability["multiple_choice"]:
        lines += ["", "## Capability: multiple choice by log-likelihood", "",
                  "| set | acc | acc_norm (per character) | chance |", "| --- | --- | --- | --- |"]
        for task, entry in capability["multiple_choice"].items():
            chance = f"{entry['chance']:.3f}" if entry.get("chance") is not None else "-"
            lines.append(f"| {task} | {format_rate(entry['acc'])} | {format_rate(entry['acc_norm'])} | {chance} |")
    if capability.get("alpaca_refusal"):
        lines += ["", f"Refusal rate on held-out benign Alpaca prompts: {format_rate(capability['alpaca_refusal'])}."]
    if capability["reference_nll"]:
        lines += ["", "## Capability: reference-answer NLL (nats per token; 95% normal intervals)", "",
                  "| set | NLL | base NLL | difference vs base | base from |", "| --- | --- | --- | --- | --- |"]
        for task, entry in capability["reference_nll"].items():
            lines.append(f"| {task} | {_format_mean(entry['nll'])} | {_format_mean(entry['base_nll'])} | "
                         f"{_format_mean(entry['delta_vs_base'])} | {entry['base_source']} |")
    lines += ["", f"Wall time: {results.get('wall_seconds', 0):.0f} s.", ""]
    return "\n".join(lines)


def write_markdown(results: dict[str, Any], path: Path) -> None:
    _atomic_write(path, render_markdown(results))
