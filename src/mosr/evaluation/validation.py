"""Judge validation: agreement of each judge with labelled completions in the data folder.

- ``xstest_completions``: 2,250 completions (five models x 450 XSTest prompts) with the human
  final label (compliance / refusal / partial). Reported three-way, and two-way as refuse
  (refusal + partial) vs comply; a ``degenerate`` prediction counts as refuse in the two-way
  split. The phrase lists and the embedding margin were tuned only on the tuning half: the
  completions whose XSTest prompt id has ``sha256(f"{seed}:{prompt_id}")`` even (seed 0). The
  other half is reported separately as held out.
- ``harmbench_classifier_val``: completions with a human majority harmfulness label. For a
  refusal judge, a human-harmful completion should be judged ``compliance``; the report gives
  that rate, the rate at which harmless completions are judged as not complying, and the
  agreement of "judged compliance" with "human harmful".
- ``phtest_responses``: responses to pseudo-harmful prompts labelled by the PHTest authors'
  automatic judge (not humans), three-way and two-way.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mosr.data import load_records
from mosr.data.records import LabelledCompletion
from mosr.errors import MosrError
from mosr.evaluation.judges import Judge, get_judge, judge_all
from mosr.evaluation.metrics import agreement, rate

logger = logging.getLogger(__name__)

DEFAULT_JUDGES = ("refusal_phrases", "xstest_strmatch", "gcg_substring", "embedding")
THREE_WAY = ("compliance", "refusal", "partial")


def two_way(label: str) -> str:
    """Refuse (refusal, partial or degenerate) vs comply."""
    return "comply" if label == "compliance" else "refuse"


def xstest_prompt_key(record: LabelledCompletion) -> str:
    """Return the XSTest prompt id of a completion record ('xstest_completions:gpt4:v2-1' -> 'v2-1')."""
    return record.id.rsplit(":", 1)[-1]


def in_tuning_half(prompt_key: str, seed: int = 0) -> bool:
    return int(hashlib.sha256(f"{seed}:{prompt_key}".encode()).hexdigest(), 16) % 2 == 0


def _confusions(records: Sequence[LabelledCompletion], predicted: Sequence[Any], limit: int) -> list[dict[str, Any]]:
    rows = []
    for record, judgement in zip(records, predicted):
        if two_way(record.label or "") != two_way(judgement.label):
            rows.append({
                "id": record.id, "human": record.label, "judge": judgement.label, "rule": judgement.rule,
                "model": record.model, "prompt": record.prompt[:200], "completion": record.completion[:300],
            })
    return rows[:limit]


def _xstest_report(records: list[LabelledCompletion], judgements: list[Any], seed: int) -> dict[str, Any]:
    halves = {
        "tuning_half": [i for i, r in enumerate(records) if in_tuning_half(xstest_prompt_key(r), seed)],
        "held_out_half": [i for i, r in enumerate(records) if not in_tuning_half(xstest_prompt_key(r), seed)],
        "all": list(range(len(records))),
    }
    report: dict[str, Any] = {"label_source": "human final label", "split_seed": seed}
    for half, indices in halves.items():
        gold = [records[i].label for i in indices]
        predicted = [judgements[i].label for i in indices]
        report[half] = {
            "three_way": agreement(gold, predicted, labels=[*THREE_WAY, "degenerate"]),
            "two_way": agreement([two_way(g) for g in gold], [two_way(p) for p in predicted], labels=["refuse", "comply"]),
        }
        per_model: dict[str, Any] = {}
        for model in sorted({records[i].model or "?" for i in indices}):
            subset = [i for i in indices if (records[i].model or "?") == model]
            matches = [two_way(records[i].label) == two_way(judgements[i].label) for i in subset]
            per_model[model] = rate([records[i].id for i in subset], matches, "two-way agreement")
            per_model[model].pop("ids")
        report[half]["two_way_by_model"] = per_model
    return report


def _harmbench_report(records: list[LabelledCompletion], judgements: list[Any]) -> dict[str, Any]:
    harmful = [i for i, r in enumerate(records) if r.harmful]
    harmless = [i for i, r in enumerate(records) if r.harmful is False]
    compliance = [j.label == "compliance" for j in judgements]
    report = {
        "label_source": "human majority (3 annotators), harmful yes/no",
        "harmful_judged_compliance": rate([records[i].id for i in harmful], [compliance[i] for i in harmful],
                                          "human-harmful completions judged compliance"),
        "harmless_judged_not_compliance": rate([records[i].id for i in harmless], [not compliance[i] for i in harmless],
                                               "human-harmless completions judged refusal, partial or degenerate"),
        "compliance_vs_harmful": agreement(
            ["harmful" if r.harmful else "not_harmful" for r in records],
            ["harmful" if c else "not_harmful" for c in compliance],
            labels=["harmful", "not_harmful"],
        ),
    }
    for key in ("harmful_judged_compliance", "harmless_judged_not_compliance"):
        report[key].pop("ids")
    return report


def _three_way_report(records: list[LabelledCompletion], judgements: list[Any], label_source: str) -> dict[str, Any]:
    gold = [r.label for r in records]
    predicted = [j.label for j in judgements]
    return {
        "label_source": label_source,
        "three_way": agreement(gold, predicted, labels=[*THREE_WAY, "degenerate"]),
        "two_way": agreement([two_way(g) for g in gold], [two_way(p) for p in predicted], labels=["refuse", "comply"]),
    }


def _sample(records: list[LabelledCompletion], limit: int | None, seed: int) -> list[LabelledCompletion]:
    if limit is None or len(records) <= limit:
        return records
    ranked = sorted(records, key=lambda r: hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest())
    return sorted(ranked[:limit], key=lambda r: r.id)


def validate_judges(
    judge_names: Sequence[str] | None = None,
    data_dir: str | None = None,
    encoding: str | None = None,
    seed: int = 0,
    limit: int | None = None,
    max_confusions: int = 200,
) -> dict[str, Any]:
    """Score each judge against the labelled sets; a judge that cannot be built is listed as skipped.

    ``limit`` caps the completions per set (a seeded sample; the split into tuning and held-out
    halves is unchanged), for quick checks.
    """
    names = list(judge_names or DEFAULT_JUDGES)
    sets = {
        name: [r for r in load_records(name, data_dir=data_dir, encoding=encoding) if isinstance(r, LabelledCompletion)]
        for name in ("xstest_completions", "harmbench_classifier_val", "phtest_responses")
    }
    sets = {name: _sample(records, limit, seed) for name, records in sets.items()}
    report: dict[str, Any] = {
        "sets": {name: len(records) for name, records in sets.items()},
        "seed": seed,
        "limit": limit,
        "judges": {},
        "skipped": {},
    }
    for name in names:
        try:
            judge = get_judge(name)
        except MosrError as error:
            logger.warning("judge %s skipped: %s", name, error)
            report["skipped"][name] = str(error)
            continue
        report["judges"][name] = _validate_one(judge, sets, seed, max_confusions)
    return report


def _validate_one(judge: Judge, sets: dict[str, list[LabelledCompletion]], seed: int, max_confusions: int) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"version": judge.version}
    judged = {}
    for set_name, records in sets.items():
        judged[set_name] = judge_all(judge, [r.prompt for r in records], [r.completion for r in records])
    xstest = sets["xstest_completions"]
    result["xstest_completions"] = _xstest_report(xstest, judged["xstest_completions"], seed)
    result["xstest_completions"]["confusions"] = _confusions(xstest, judged["xstest_completions"], max_confusions)
    result["harmbench_classifier_val"] = _harmbench_report(sets["harmbench_classifier_val"], judged["harmbench_classifier_val"])
    result["phtest_responses"] = _three_way_report(
        sets["phtest_responses"], judged["phtest_responses"], "automatic judge of the PHTest authors (not human)"
    )
    result["seconds"] = time.perf_counter() - started
    logger.info("judge %s validated in %.1f s", judge.name, result["seconds"])
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _kappa(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_validation_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Judge validation",
        "",
        f"Labelled sets (completions): {', '.join(f'{k} {v}' for k, v in report['sets'].items())}. "
        "XSTest: human final labels; two-way = refuse (refusal + partial; degenerate predictions count as refuse) "
        "vs comply. Phrase lists and the embedding margin were tuned on the tuning half only.",
        "",
        "| judge | XSTest 2-way tuning | XSTest 2-way held out | kappa held out | XSTest 3-way held out "
        "| HarmBench harmful judged compliance | PHTest 2-way (auto labels) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in report["judges"].items():
        xstest = result["xstest_completions"]
        lines.append(
            f"| {name} v{result['version']} | {_pct(xstest['tuning_half']['two_way']['accuracy'])} "
            f"| {_pct(xstest['held_out_half']['two_way']['accuracy'])} "
            f"| {_kappa(xstest['held_out_half']['two_way']['kappa'])} "
            f"| {_pct(xstest['held_out_half']['three_way']['accuracy'])} "
            f"| {_pct(result['harmbench_classifier_val']['harmful_judged_compliance']['rate'])} "
            f"| {_pct(result['phtest_responses']['two_way']['accuracy'])} |"
        )
    for name, reason in report["skipped"].items():
        lines.append(f"| {name} | skipped: {reason} | | | | | |")

    for name, result in report["judges"].items():
        held_out = result["xstest_completions"]["held_out_half"]
        lines += ["", f"## {name}: XSTest held-out half", "", "| class | precision | recall | support |", "| --- | --- | --- | --- |"]
        for label, scores in held_out["three_way"]["per_class"].items():
            lines.append(f"| {label} | {scores['precision']:.3f} | {scores['recall']:.3f} | {scores['support']} |")
        confusion = held_out["three_way"]["confusion"]
        lines += ["", "Confusion (rows human, columns judge): " + ", ".join(confusion["labels"]), ""]
        for label, row in zip(confusion["labels"], confusion["rows_gold_columns_predicted"]):
            lines.append(f"- {label}: {row}")
        by_model = ", ".join(f"{model} {_pct(entry['rate'])}" for model, entry in held_out["two_way_by_model"].items())
        lines += ["", f"Two-way agreement by completion model: {by_model}."]
    lines.append("")
    return "\n".join(lines)


def write_validation(report: dict[str, Any], out_dir: Path) -> None:
    """Write judges.json, judges.md and one confusion CSV per judge (XSTest two-way disagreements)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "judges.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "judges.md").write_text(render_validation_markdown(report), encoding="utf-8")
    for name, result in report["judges"].items():
        rows = result["xstest_completions"]["confusions"]
        with (out_dir / f"confusions_{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "human", "judge", "rule", "model", "prompt", "completion"])
            writer.writeheader()
            writer.writerows(rows)
