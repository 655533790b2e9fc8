"""CLI entry point: mosr train (LoRA training of one defence method into a run folder)."""

from __future__ import annotations

from pathlib import Path

import typer

from mosr.cli.common import (
    CONFIG_OPTION,
    DATA_DIR_OPTION,
    SET_OPTION,
    build_config,
    console,
    ensure_writable_dir,
    handle_errors,
    require_data_dir,
    setup_logging,
)
from mosr.config import CONFIG_DIR
from mosr.training.config import METHODS


def train_command(
    method: str = typer.Option(None, "--method", help=f"Method preset: {', '.join(METHODS)}."),
    model: str = typer.Option(None, "--model", "-m", help="Alias, Hugging Face id or local folder of the base model."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: config, splits, weights, log, checkpoints, adapter."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Optimiser steps N (the coefficient schedule is derived from it)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out (same config required)."),
    seed: int = typer.Option(None, "--seed", min=0, help="Seed of data order, LoRA init and dropout."),
    data_dir: str = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    set_options: list[str] = SET_OPTION,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    """Train a LoRA defence (MOSR, an ablation or a baseline) and save a PEFT adapter.

    Without --config, the preset named after --model under configs/ is used when it exists.
    """
    from mosr.training.trainer import train

    setup_logging(verbose)
    if config is None and model is not None and (CONFIG_DIR / f"{model}.yaml").exists():
        config = model
    cfg = build_config(
        config, set_options,
        model__name=model, train__method=method, train__max_steps=max_steps, train__seed=seed,
        data__data_dir=data_dir,
    )
    require_data_dir(cfg)
    ensure_writable_dir(out)
    console.print(f"training [bold]{cfg.train.method}[/] on {cfg.model.name} for {cfg.train.max_steps} steps into {out}")
    adapter = train(cfg, out, resume=resume)
    console.print(f"adapter saved to {adapter}")


def register(app: typer.Typer) -> None:
    """Add ``mosr train`` to the main app."""
    app.command("train")(handle_errors(train_command))
