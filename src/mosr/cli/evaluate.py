"""CLI entry points: mosr evaluate (suite on a model) and mosr judges (list and validate judges)."""

from __future__ import annotations

from pathlib import Path

import typer

from mosr.cli.common import (
    ADAPTER_OPTION,
    CONFIG_OPTION,
    DATA_DIR_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    MODEL_OPTION,
    SET_OPTION,
    build_config,
    console,
    ensure_writable_dir,
    handle_errors,
    require_data_dir,
    setup_logging,
)


def evaluate_command(
    model: str = MODEL_OPTION,
    adapter: str = ADAPTER_OPTION,
    suite: str = typer.Option(None, "--suite", "-s", help="quick, default or full."),
    suite_file: str = typer.Option(None, "--suite-file", help="YAML suite definition; replaces --suite."),
    out: Path = typer.Option(Path("runs/eval"), "--out", "-o", help="Output folder; it also contains the generation cache that a rerun resumes from."),
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="At most this many prompts per dataset."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", min=1, help="Generated tokens per response (default: the suite's)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Prompts per generation or scoring batch."),
    judge: str = typer.Option(None, "--judge", help="Judge that sets the labels (see mosr judges list)."),
    extra_judge: list[str] = typer.Option(None, "--extra-judge", help="Another judge reported beside the main one; repeatable."),
    attack: list[str] = typer.Option(None, "--attack", help="Run only this attack on the safety sets; repeatable."),
    backend: str = typer.Option(None, "--backend", help="hf (default) or vllm (needs mosr[vllm] and a GPU)."),
    perplexity_check: bool = typer.Option(None, "--perplexity-check/--no-perplexity-check", help="Report each response's base-model perplexity."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore and do not write the generation cache."),
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    data_dir: str = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    set_options: list[str] = SET_OPTION,
) -> None:
    """Evaluate over-refusal, attack success and capability; writes results.json, judgements.csv and results.md."""
    from mosr.evaluation.runner import PromptSettings, evaluate_model
    from mosr.models import load_model_from_config

    setup_logging()
    cfg = build_config(
        config, set_options,
        model__name=model, model__adapter=adapter, model__dtype=dtype, model__device=device,
        data__data_dir=data_dir,
        evaluate__suite=suite, evaluate__suite_file=suite_file, evaluate__limit=limit,
        evaluate__max_new_tokens=max_new_tokens, evaluate__batch_size=batch_size, evaluate__judge=judge,
        evaluate__extra_judges=extra_judge or None, evaluate__attacks=attack or None, evaluate__backend=backend,
        evaluate__perplexity_check=perplexity_check, evaluate__cache=False if no_cache else None,
    )
    require_data_dir(cfg)
    ensure_writable_dir(out)
    model_settings = cfg.model
    if dtype is None and cfg.evaluate.dtype:
        model_settings = cfg.model.model_copy(update={"dtype": cfg.evaluate.dtype})
    loaded_model, tokenizer = load_model_from_config(model_settings)
    prompts = PromptSettings(
        max_prompt_tokens=cfg.model.max_prompt_tokens, on_long_prompt=cfg.model.on_long_prompt,
        system_prompt=cfg.model.system_prompt,
    )
    results = evaluate_model(
        loaded_model, tokenizer, cfg.evaluate, out,
        data_dir=cfg.data.data_dir, encoding=cfg.data.encoding, prompts=prompts,
    )
    console.print((out / "results.md").read_text(encoding="utf-8"))
    console.print(f"wrote {out / 'results.json'}, {out / 'judgements.csv'} and {out / 'results.md'} "
                  f"in {results['wall_seconds']:.0f} s")


judges_app = typer.Typer(help="List the response judges and validate them against human labels.", no_args_is_help=True)


@judges_app.command("list")
@handle_errors
def judges_list_command() -> None:
    """List the registered judges."""
    from rich.markup import escape

    from mosr.evaluation.judges import describe_judges

    for name, description in describe_judges().items():
        console.print(f"[bold]{name}[/]: {escape(description)}")


@judges_app.command("validate")
@handle_errors
def judges_validate_command(
    out: Path = typer.Option(Path("runs/judges"), "--out", "-o", help="Output folder for judges.json and judges.md."),
    judge: list[str] = typer.Option(
        None, "--judge", help="Judge to validate; repeatable (default: refusal_phrases, xstest_strmatch, gcg_substring, embedding)."
    ),
    limit: int = typer.Option(None, "--limit", "-n", min=10, help="At most this many completions per labelled set (seeded sample)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the tuning/held-out split and of --limit sampling."),
    encoding: str = typer.Option(None, "--encoding", help="Text encoding of local data files (default utf-8)."),
    data_dir: str = DATA_DIR_OPTION,
) -> None:
    """Score each judge against labelled completions (XSTest human labels, HarmBench, PHTest)."""
    from mosr.evaluation.validation import render_validation_markdown, validate_judges, write_validation

    setup_logging()
    ensure_writable_dir(out)
    report = validate_judges(judge or None, data_dir=data_dir, encoding=encoding, seed=seed, limit=limit)
    write_validation(report, out)
    console.print(render_validation_markdown(report).split("\n## ")[0])
    console.print(f"wrote {out / 'judges.json'}, {out / 'judges.md'} and confusion CSVs")


def register(app: typer.Typer) -> None:
    """Add ``mosr evaluate`` and the ``mosr judges`` group to the main app."""
    app.command("evaluate")(handle_errors(evaluate_command))
    app.add_typer(judges_app, name="judges")
