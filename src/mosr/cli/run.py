"""CLI entry points: mosr run (the whole study), mosr report, mosr sweep."""

from __future__ import annotations

import time
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
from mosr.errors import ConfigError


def run_command(
    config: str = typer.Option("smollm2-135m", "--config", "-c", help="YAML preset: a path or a name under configs/."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<model>-<budget>)."),
    budget: str = typer.Option("default", "--budget", "-b", help="quick (smoke run), default, or full."),
    model: str = typer.Option(None, "--model", "-m", help="Override the preset's model (alias, Hub id or folder)."),
    methods: str = typer.Option(None, "--methods", help="Comma-separated subset of the trained methods."),
    data_dir: str = DATA_DIR_OPTION,
    set_options: list[str] = SET_OPTION,
) -> None:
    """Run the study end to end: analysis, training of every method, evaluation, report. Resumes."""
    from mosr.config import parse_override
    from mosr.pipeline import RUN_METHODS, run_pipeline

    setup_logging()
    cfg = build_config(config, set_options, model__name=model, data__data_dir=data_dir)
    chosen = tuple(m.strip() for m in methods.split(",")) if methods else RUN_METHODS
    unknown = [m for m in chosen if m not in RUN_METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; choose from {', '.join(RUN_METHODS)}")
    require_data_dir(cfg)
    run_dir = out or Path("runs") / f"{Path(cfg.model.name).name}-{budget}"
    ensure_writable_dir(run_dir)

    started = time.perf_counter()

    def show(record) -> None:
        colour = {"done": "green", "skipped": "cyan", "failed": "red"}.get(record.status, "white")
        timing = f" in {record.seconds:.0f} s" if record.seconds else ""
        console.print(f"[{colour}]{record.status:>7}[/] {record.name}{timing}")

    user_overrides = dict(parse_override(text) for text in set_options or [])
    report = run_pipeline(cfg, run_dir, budget=budget, methods=chosen, on_stage=show, overrides=user_overrides)
    console.print(f"report: {report}  (total {time.perf_counter() - started:.0f} s)")


def report_command(run_dir: Path = typer.Argument(..., help="Folder written by mosr run.")) -> None:
    """Rewrite report.md, results.json, results.csv and the plots of a run folder."""
    from mosr.reporting import write_report

    setup_logging()
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} not found; give the --out folder of mosr run")
    console.print(f"report: {write_report(run_dir)}")


def sweep_command(
    grid: Path = typer.Argument(..., help="YAML grid: base config, fixed overrides and lists of values to sweep."),
    out: Path = typer.Option(..., "--out", "-o", help="Sweep folder; one sub-folder per grid point."),
    data_dir: str = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
) -> None:
    """Train and quick-evaluate every point of a grid of training settings; resumable."""
    from mosr.sweep import run_sweep

    setup_logging()
    ensure_writable_dir(out)
    table = run_sweep(grid, out, preset=config, data_dir=data_dir)
    console.print(f"sweep table: {table}")


def register(app: typer.Typer) -> None:
    """Add ``mosr run``, ``mosr report`` and ``mosr sweep`` to the main app."""
    app.command("run")(handle_errors(run_command))
    app.command("report")(handle_errors(report_command))
    app.command("sweep")(handle_errors(sweep_command))
