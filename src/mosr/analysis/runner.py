"""``run_analysis``: load prompts, extract representations, compute per-layer metrics, link to behaviour, plot.

Output folder layout: ``analysis.json`` (everything below, JSON-ready), ``summary.md``,
``representations.safetensors`` with its index ``representations.json``, ``behaviour.jsonl``
(judged pseudo-malicious responses) and the PNG plots.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mosr.analysis.behaviour import behaviour_summary, judge_responses, write_responses
from mosr.analysis.boundary import (
    BEST_LAYER_CRITERION,
    analyse_layers,
    default_target_layers,
    pca_coordinates,
    select_best_layer,
    validate_groups,
    validate_layers,
)
from mosr.analysis.plots import plot_analysis
from mosr.analysis.prompts import group_datasets, load_groups, spread_subset
from mosr.analysis.summary import render_summary
from mosr.config import AnalysisConfig, MosrConfig
from mosr.data.records import PromptRecord
from mosr.models import load_model_from_config, model_id, num_layers
from mosr.representations import (
    LAYER_CONVENTION,
    Representations,
    hash_token_ids,
    load_or_extract,
    tokenise_prompts,
    unwrap_peft,
)

logger = logging.getLogger(__name__)

ANALYSIS_FILE = "analysis.json"
REPRESENTATIONS_FILE = "representations.safetensors"
BEHAVIOUR_FILE = "behaviour.jsonl"
# Digits kept for projections and PCA coordinates in analysis.json: enough for plots, and it
# keeps the file small (a few hundred KB for 600 prompts).
PLOT_DIGITS = 5


def _rounded(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), PLOT_DIGITS).tolist()


def _json_safe(value: Any) -> Any:
    """Replace NaN and infinity (invalid in JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def load_analysis(out_dir: Path) -> dict[str, Any]:
    """Read ``analysis.json`` written by ``run_analysis`` (for plots or a before/after comparison)."""
    return json.loads((Path(out_dir) / ANALYSIS_FILE).read_text(encoding="utf-8"))


def _read_cached_responses(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[row.get("id")] = row
    return rows


def link_behaviour(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: list[PromptRecord],
    token_ids: list[list[int]],
    projections_by_layer: dict[int, np.ndarray],
    settings: AnalysisConfig,
    weights_fingerprint: str,
    out_dir: Path,
) -> dict[str, Any]:
    """Answer pseudo-malicious prompts greedily, judge them, and compute the refusal AUROC per layer.

    ``records``, ``token_ids`` and each projection array cover the same prompts in the same
    order. Responses already in ``behaviour.jsonl`` for the same weights, prompt tokens and
    token budget are reused.
    """
    from mosr.evaluation.generation import generate_batched

    path = out_dir / BEHAVIOUR_FILE
    cached = _read_cached_responses(path)
    hashes = [hash_token_ids(ids) for ids in token_ids]

    def is_cached(index: int) -> bool:
        row = cached.get(records[index].id)
        return bool(
            row
            and row.get("prompt_hash") == hashes[index]
            and row.get("weights_fingerprint") == weights_fingerprint
            and row.get("max_new_tokens") == settings.behaviour_max_new_tokens
        )

    missing = [i for i in range(len(records)) if not is_cached(i)]
    responses = {i: cached[records[i].id]["response"] for i in range(len(records)) if i not in missing}
    if missing:
        logger.info("generating %d pseudo-malicious responses (%d reused)", len(missing), len(responses))
        generated = generate_batched(
            model, tokenizer, [token_ids[i] for i in missing], settings.behaviour_max_new_tokens, settings.batch_size
        )
        responses.update(zip(missing, generated))

    ordered = [responses[i] for i in range(len(records))]
    labels = judge_responses([r.text for r in records], ordered, settings.judge)
    write_responses(path, [
        {
            "id": record.id,
            "source": record.source,
            "prompt": record.text,
            "response": response,
            "label": label,
            "prompt_hash": prompt_hash,
            "weights_fingerprint": weights_fingerprint,
            "max_new_tokens": settings.behaviour_max_new_tokens,
        }
        for record, response, label, prompt_hash in zip(records, ordered, labels, hashes)
    ])

    summary = behaviour_summary(labels, settings.refusal_labels, projections_by_layer)
    summary["judge"] = settings.judge
    summary["max_new_tokens"] = settings.behaviour_max_new_tokens
    summary["prompt_ids"] = [record.id for record in records]
    return summary


def run_analysis(
    config: MosrConfig,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    out_dir: Path | str = Path("runs/analysis"),
    groups: dict[str, list[PromptRecord]] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the representation analysis of one model (optionally with an adapter) into ``out_dir``.

    Args:
        config: resolved config; its ``analysis`` section sets groups, layers and limits, its
            ``model`` section is used to load the model when none is given.
        model, tokenizer: an already loaded model (a PeftModel is fine), to avoid reloading.
        out_dir: output folder (created).
        groups: prompts per group (``benign``, ``malicious``, ``pseudo_malicious``) instead of
            loading the configured datasets.

    Returns the analysis dict that is also written to ``analysis.json``.

    Raises:
        ConfigError: a layer out of range or an invalid setting.
        DataError: a group with fewer than 2 prompts or a dataset that cannot be read.
        ModelError: a model or adapter that cannot be loaded (an adapter for another base model).
    """
    started = time.perf_counter()
    settings = config.analysis
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    if model is None or tokenizer is None:
        model, tokenizer = load_model_from_config(config.model)
    total_layers = num_layers(unwrap_peft(model))
    layers = validate_layers(settings.layers, total_layers)
    target_layers = validate_layers(
        settings.target_layers if settings.target_layers is not None else default_target_layers(total_layers),
        total_layers,
        "target_layers",
    )

    if groups is None:
        groups = load_groups(settings, config.data)
        datasets = group_datasets(settings)
    else:
        datasets = {group: sorted({r.source for r in records}) for group, records in groups.items()}
    validate_groups({group: records for group, records in groups.items()})

    # One representation file for all prompts, in group order benign, malicious, pseudo-malicious.
    group_order = ("benign", "malicious", "pseudo_malicious")
    records = [record for group in group_order for record in groups[group]]
    group_of = [group for group in group_order for _ in groups[group]]
    token_ids = tokenise_prompts(
        tokenizer, [r.text for r in records], [r.id for r in records], config.model.max_prompt_tokens,
        config.model.on_long_prompt, config.model.system_prompt,
    )
    extraction_started = time.perf_counter()
    representations: Representations = load_or_extract(
        model, tokenizer, [r.id for r in records], token_ids, out_dir / REPRESENTATIONS_FILE,
        groups=group_of, sources=[r.source for r in records], batch_size=settings.batch_size,
        progress=progress, reuse=settings.reuse_representations,
    )
    extraction_seconds = time.perf_counter() - extraction_started

    states = representations.last_token.numpy()
    group_array = np.array(group_of)
    states_by_group = {group: states[group_array == group] for group in group_order}
    analysed_layers = sorted(set(layers) | set(target_layers))
    layer_results, projections = analyse_layers(
        states_by_group, analysed_layers, bins=settings.bins, test_fraction=settings.test_fraction,
        regularisation=settings.probe_c, seed=config.data.seed,
    )
    best_layer = select_best_layer([r for r in layer_results if r["layer"] in layers])
    best_result = next(r for r in layer_results if r["layer"] == best_layer)

    behaviour = None
    behaviour_note = None
    behaviour_seconds = 0.0
    if settings.behaviour_limit > 0:
        behaviour_started = time.perf_counter()
        pseudo_records = groups["pseudo_malicious"]
        chosen = spread_subset(pseudo_records, settings.behaviour_limit)
        pseudo_offset = len(groups["benign"]) + len(groups["malicious"])
        behaviour = link_behaviour(
            model, tokenizer, [pseudo_records[i] for i in chosen],
            [token_ids[pseudo_offset + i] for i in chosen],
            {layer: values["pseudo_malicious"][chosen] for layer, values in projections.items()},
            settings, representations.index["weights_fingerprint"], out_dir,
        )
        behaviour_seconds = time.perf_counter() - behaviour_started
    else:
        behaviour_note = "Skipped: analysis.behaviour_limit is 0."

    plot_layers = sorted({best_layer, *target_layers})
    plot_data: dict[str, Any] = {"layers": plot_layers, "projections": {}, "pca": {}}
    for layer in plot_layers:
        plot_data["projections"][str(layer)] = {g: _rounded(v) for g, v in projections[layer].items()}
        coordinates, explained = pca_coordinates({g: s[:, layer + 1] for g, s in states_by_group.items()})
        plot_data["pca"][str(layer)] = {
            "coordinates": {g: _rounded(c) for g, c in coordinates.items()},
            "explained_variance": explained,
        }

    ids = model_id(model)
    analysis: dict[str, Any] = {
        "model": ids["model"],
        "adapter": ids["adapter"],
        "weights_fingerprint": representations.index["weights_fingerprint"],
        "dtype": representations.index["dtype"],
        "num_layers": total_layers,
        "layer_convention": LAYER_CONVENTION,
        "representation": "residual stream at the last token of the chat-formatted prompt",
        "datasets": datasets,
        "prompt_ids": {group: [r.id for r in groups[group]] for group in group_order},
        "analysed_layers": analysed_layers,
        "target_layers": target_layers,
        "best_layer": {
            "layer": best_layer,
            "criterion": BEST_LAYER_CRITERION,
            "probe_accuracy": best_result["probe"]["held_out_accuracy"],
            "boundary_position": best_result["boundary_position"],
            "refusal_auroc": behaviour["auroc_by_layer"].get(str(best_layer)) if behaviour else None,
        },
        "layers": [
            {**result, "refusal_auroc": behaviour["auroc_by_layer"].get(str(result["layer"])) if behaviour else None}
            for result in layer_results
        ],
        "behaviour": behaviour,
        "behaviour_note": behaviour_note,
        "settings": settings.model_dump(mode="json"),
        "seed": config.data.seed,
        "timing_seconds": {},
        "plots": [],
        "plot_data": plot_data,
    }
    plots = plot_analysis(analysis, out_dir, bins=settings.bins)
    analysis["plots"] = [path.name for path in plots]
    analysis["timing_seconds"] = {
        "representations": round(extraction_seconds, 2),
        "behaviour": round(behaviour_seconds, 2),
        "total": round(time.perf_counter() - started, 2),
    }
    analysis = _json_safe(analysis)
    (out_dir / ANALYSIS_FILE).write_text(json.dumps(analysis, indent=1), encoding="utf-8")
    (out_dir / "summary.md").write_text(render_summary(analysis), encoding="utf-8")
    logger.info("analysis written to %s (best layer %d)", out_dir, best_layer)
    return analysis
