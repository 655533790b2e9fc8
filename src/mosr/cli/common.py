"""Shared CLI plumbing: logging, clean error output, config loading from a preset plus flags."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from mosr.config import MosrConfig, load_config, parse_override
from mosr.errors import MosrError

# soft_wrap keeps messages on one line in logs and tests; rich otherwise wraps at 80 columns off a terminal.
console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

CONFIG_OPTION = typer.Option(None, "--config", "-c", help="YAML preset: a path or a name under configs/.")
SET_OPTION = typer.Option(None, "--set", help="Override any config field: KEY=VALUE, e.g. train.max_steps=40. Repeatable.")
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="Benchmark folder (default: $MOSR_DATA_DIR).")
MODEL_OPTION = typer.Option(None, "--model", "-m", help="Alias, Hugging Face id or local folder.")
ADAPTER_OPTION = typer.Option(None, "--adapter", help="PEFT adapter folder to load on top of the model.")
DTYPE_OPTION = typer.Option(None, "--dtype", help="auto, float32, bfloat16 or float16.")
DEVICE_OPTION = typer.Option(None, "--device", help="torch device, or auto.")


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("transformers", "datasets", "accelerate", "peft", "urllib3", "filelock", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def handle_errors(function: F) -> F:
    """Print a MosrError as one clean message and exit with code 2; KeyboardInterrupt exits 130."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except MosrError as error:
            console.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted; finished work is saved and the next run resumes from it[/]")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def build_config(
    preset: str | None,
    set_options: list[str] | None = None,
    **flags: Any,
) -> MosrConfig:
    """Load a preset, then apply ``--set`` overrides, then explicit flags (given as dotted keys)."""
    overrides: dict[str, Any] = {}
    for text in set_options or []:
        key, value = parse_override(text)
        overrides[key] = value
    for dotted_key, value in flags.items():
        if value is not None:
            overrides[dotted_key.replace("__", ".")] = value
    return load_config(preset, overrides)


def require_data_dir(cfg: MosrConfig) -> Path:
    """Return the benchmark folder of ``cfg``, or raise DataError if it is unset or missing.

    Commands call this before loading a model, so a wrong folder fails within seconds.
    """
    from mosr.data import resolve_data_dir

    return resolve_data_dir(cfg.data.data_dir)


def ensure_writable_dir(path: Path) -> Path:
    """Create an output folder, or raise a clear error if it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".mosr-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise MosrError(f"output folder {path} is not writable ({error.strerror or error}); choose another with --out") from None
    return path


def ensure_writable_file(path: Path) -> Path:
    ensure_writable_dir(path.parent if str(path.parent) else Path("."))
    return path


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    sys.exit(2)
