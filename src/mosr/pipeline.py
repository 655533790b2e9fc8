"""The main job, ``mosr run``: analyse the base model, train every method, evaluate all, report.

Reading ``run_pipeline`` top to bottom tells the study. It analyses the base model's
representations and validates the judges against human labels. It then trains each defence
with the same seed and budget, evaluates every model on the same prompts, analyses the trained
adapters and writes the report. Each stage lives in its own folder under the run folder and is skipped when it
finished earlier with the same settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mosr.config import CONFIG_DIR, MosrConfig, dump_config, load_config
from mosr.errors import ConfigError
from mosr.stages import StageRecord, StageRunner

logger = logging.getLogger(__name__)

RUN_METHODS = ("rr", "mosr", "mosr_no_oaw", "mosr_no_caa", "refusal_sft", "deep_align")
ANALYSED_METHODS = ("rr", "mosr")

# Every method is evaluated on the prompts of this suite, sized for seven models on a CPU.
STUDY_SUITE = str(CONFIG_DIR / "suites" / "study.yaml")

# Overrides each budget applies on top of the preset. `default` keeps the preset's training and
# evaluates on the study suite. `quick` is a smoke run of every stage (minutes on 2 idle CPU
# cores). `full` evaluates every prompt of every set.
BUDGETS: dict[str, dict[str, Any]] = {
    "quick": {
        "analysis.limit": 24,
        "analysis.behaviour_limit": 12,
        "train.max_steps": 4,
        "train.data.n_erasure": 12,
        "train.data.n_benign": 12,
        "train.data.n_pseudo": 8,
        "train.data.n_refusal": 8,
        "train.data.completion_max_new_tokens": 24,
        "train.checkpoint_every": 2,
        "evaluate.suite_file": STUDY_SUITE,
        "evaluate.limit": 6,
        "evaluate.max_new_tokens": 24,
    },
    "default": {"evaluate.suite_file": STUDY_SUITE},
    "full": {"analysis.limit": 500, "analysis.behaviour_limit": 300, "evaluate.suite": "full", "evaluate.suite_file": None},
}


def budget_config(base: MosrConfig, budget: str, overrides: dict[str, Any] | None = None) -> MosrConfig:
    """Apply a budget's overrides to a resolved config, then the user's own overrides, which win."""
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; use one of {sorted(BUDGETS)}")
    tree = base.model_dump(mode="json")
    for dotted_key, value in {**BUDGETS[budget], **(overrides or {})}.items():
        node = tree
        *parents, leaf = dotted_key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return MosrConfig.model_validate(tree)


def method_config(config: MosrConfig, method: str, completion_cache: Path) -> MosrConfig:
    """Select ``method`` in a copy of the run's config, pointing it at the completion cache all methods share."""
    tree = config.model_dump(mode="json")
    tree["train"]["method"] = method
    tree["train"]["data"]["completion_cache_dir"] = str(completion_cache)
    return MosrConfig.model_validate(tree)


def _stage_settings(config: MosrConfig, *sections: str, **extra: Any) -> dict[str, Any]:
    dumped = config.model_dump(mode="json")
    settings = {section: dumped[section] for section in ("model", "data", *sections)}
    settings.update(extra)
    return settings


def _load(config: MosrConfig, adapter: str | None = None, dtype: str | None = None):
    from mosr.models import load_model_from_config

    settings = config.model.model_copy(update={"dtype": dtype}) if dtype else config.model
    return load_model_from_config(settings, adapter)


def run_pipeline(
    config: MosrConfig,
    out_dir: Path,
    budget: str = "default",
    methods: tuple[str, ...] = RUN_METHODS,
    on_stage: Callable[[StageRecord], None] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Run the whole study into ``out_dir`` and return the path of the report.

    ``overrides`` (dotted keys, as given with ``--set``) are applied after the budget's own.
    """
    from mosr.analysis import load_analysis, plot_before_after, run_analysis
    from mosr.reporting import write_report

    config = budget_config(config, budget, overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, out_dir / "config.yaml")
    runner = StageRunner(on_change=on_stage)

    # 1. Where do the over-refusal prompts sit in the base model's representations?
    base_analysis_dir = out_dir / "analysis" / "base"
    runner.run(
        "analysis: base", base_analysis_dir, _stage_settings(config, "analysis"),
        lambda: run_analysis(config, *_load(config), out_dir=base_analysis_dir),
    )

    # 2. How far can the judges be trusted? Scored against human labels.
    judges_dir = out_dir / "judges"
    runner.run("judges: validate", judges_dir, _stage_settings(config, "evaluate"),
               lambda: validate_judges_stage(config, judges_dir))

    # 3. Train every defence with the same data, seed and budget.
    adapters: dict[str, Path] = {}
    for method in methods:
        method_cfg = method_config(config, method, out_dir / "data")
        train_dir = out_dir / "train" / method
        runner.run(f"train: {method}", train_dir, _stage_settings(method_cfg, "train"),
                   lambda cfg=method_cfg, folder=train_dir: train_stage(cfg, folder))
        adapters[method] = train_dir / "adapter"

    # 4. Evaluate the base model and every adapter on the same prompts.
    base_eval_dir = out_dir / "evaluate" / "base"
    runner.run("evaluate: base", base_eval_dir, _stage_settings(config, "evaluate"),
               lambda: evaluate_stage(config, None, base_eval_dir, None))
    for method, adapter in adapters.items():
        eval_dir = out_dir / "evaluate" / method
        settings = _stage_settings(config, "evaluate", method=method, adapter=_adapter_stamp(adapter))
        runner.run(f"evaluate: {method}", eval_dir, settings,
                   lambda folder=eval_dir, path=adapter: evaluate_stage(config, path, folder, base_eval_dir))

    # 5. Where do the prompts sit after training?
    for method in ANALYSED_METHODS:
        if method not in adapters:
            continue
        folder = out_dir / "analysis" / method
        settings = _stage_settings(config, "analysis", method=method, adapter=_adapter_stamp(adapters[method]))

        def analyse_adapter(folder: Path = folder, method: str = method) -> None:
            after = run_analysis(config, *_load(config, str(adapters[method])), out_dir=folder)
            before = load_analysis(base_analysis_dir)
            plot_before_after(before, after, folder, label_after=method)

        runner.run(f"analysis: {method}", folder, settings, analyse_adapter)

    # 6. The report is cheap, so it is always rewritten.
    return write_report(out_dir)


# Judges that score the 19k labelled completions in seconds; the embedding judge takes many
# minutes on a CPU, so `mosr judges validate` runs it on request instead.
PIPELINE_JUDGES = ("refusal_phrases", "xstest_strmatch", "gcg_substring")


def validate_judges_stage(config: MosrConfig, out_dir: Path) -> None:
    from mosr.evaluation.validation import validate_judges, write_validation

    judges = list(dict.fromkeys([config.evaluate.judge, *PIPELINE_JUDGES]))
    report = validate_judges(judges, data_dir=config.data.data_dir, encoding=config.data.encoding, seed=config.data.seed)
    write_validation(report, out_dir)


def train_stage(config: MosrConfig, out_dir: Path) -> Path:
    """Train into ``out_dir``, resuming an interrupted run of the same config, restarting a stale one."""
    import json
    import shutil

    from mosr.training.checkpoint import config_fingerprint
    from mosr.training.trainer import train

    run_file = out_dir / "run.json"
    resume = False
    if run_file.exists():
        stored = json.loads(run_file.read_text(encoding="utf-8")).get("fingerprint")
        if stored == config_fingerprint(config):
            resume = True
        else:
            logger.warning("%s contains training with other settings; deleting it and training again", out_dir)
            shutil.rmtree(out_dir)
    return train(config, out_dir, resume=resume)


def _base_nll(base_eval_dir: Path | None) -> dict[str, float] | None:
    """Per-prompt reference NLL of the base model, so adapters are compared on the same ids."""
    import json

    path = base_eval_dir / "results.json" if base_eval_dir else None
    if path is None or not path.exists():
        return None
    results = json.loads(path.read_text(encoding="utf-8"))
    merged: dict[str, float] = {}
    for task in results.get("capability", {}).get("reference_nll", {}).values():
        merged.update(task.get("per_id") or {})
    return merged or None


def evaluate_stage(config: MosrConfig, adapter: Path | None, out_dir: Path, base_eval_dir: Path | None) -> None:
    from mosr.evaluation.runner import PromptSettings, evaluate_model

    model, tokenizer = _load(config, str(adapter) if adapter else None, config.evaluate.dtype)
    prompts = PromptSettings(
        max_prompt_tokens=config.model.max_prompt_tokens,
        on_long_prompt=config.model.on_long_prompt,
        system_prompt=config.model.system_prompt,
    )
    evaluate_model(model, tokenizer, config.evaluate, out_dir, _base_nll(base_eval_dir),
                   data_dir=config.data.data_dir, encoding=config.data.encoding, prompts=prompts)


def _adapter_stamp(adapter: Path) -> str:
    """Identify an adapter by its weights file's size and modification time (retraining changes both)."""
    weights = adapter / "adapter_model.safetensors"
    if not weights.exists():
        return str(adapter)
    stat = weights.stat()
    return f"{adapter}:{stat.st_size}:{int(stat.st_mtime)}"


def load_run_config(preset: str | None, overrides: dict[str, Any]) -> MosrConfig:
    return load_config(preset or "smollm2-135m", overrides)
