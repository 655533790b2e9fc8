"""CLI entry point: mosr generate (batched greedy responses for a benchmark, written as JSONL)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    ensure_writable_file,
    handle_errors,
    setup_logging,
)
from mosr.errors import DataError


def _read_done_ids(path: Path) -> set[str]:
    """Ids already written to ``path`` by an earlier, interrupted call."""
    if not path.exists():
        return set()
    done = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            done.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError):
            continue  # a torn last line from a crash is regenerated
    return done


def generate_command(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Registry name of a prompt dataset (see mosr data list)."),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file; one line per prompt, appended as batches finish."),
    model: str = MODEL_OPTION,
    adapter: str = ADAPTER_OPTION,
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="Prompts to generate (seeded sample by id)."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, help="Generated tokens per prompt."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Prompts per forward pass."),
    dtype: str = DTYPE_OPTION,
    on_long_prompt: str = typer.Option(None, "--on-long-prompt", help="truncate (warn) or error."),
    trust_remote_code: bool = typer.Option(None, "--trust-remote-code", help="Allow code from the model repository."),
    encoding: str = typer.Option(None, "--encoding", help="Text encoding of local data files (default utf-8)."),
    data_dir: str = DATA_DIR_OPTION,
    config: str = CONFIG_OPTION,
    set_options: list[str] = SET_OPTION,
) -> None:
    """Generate greedy responses for a benchmark's prompts; rerunning resumes an interrupted file."""
    from mosr.data import load_prompts
    from mosr.evaluation.generation import generate_batched
    from mosr.models import fit_prompt, load_model_from_config, model_id

    setup_logging()
    cfg = build_config(
        config, set_options,
        model__name=model, model__adapter=adapter, model__dtype=dtype,
        model__on_long_prompt=on_long_prompt, model__trust_remote_code=trust_remote_code,
        data__data_dir=data_dir, data__encoding=encoding,
    )
    ensure_writable_file(out)
    records = load_prompts(dataset, data_dir=cfg.data.data_dir, encoding=cfg.data.encoding, limit=limit, seed=cfg.data.seed)
    done = _read_done_ids(out)
    todo = [r for r in records if r.id not in done]
    if not todo:
        console.print(f"all {len(records)} prompts already in {out}")
        return

    loaded_model, tokenizer = load_model_from_config(cfg.model)
    prompt_ids = []
    for record in todo:
        try:
            prompt_ids.append(fit_prompt(
                tokenizer, record.text, cfg.model.max_prompt_tokens, cfg.model.on_long_prompt,
                cfg.model.system_prompt, prompt_id=record.id,
            ))
        except ValueError as error:
            raise DataError(f"{dataset} record {record.id}: {error}") from None

    identity = model_id(loaded_model)
    started = time.perf_counter()
    with out.open("a", encoding="utf-8") as handle, Progress(
        TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
    ) as progress:
        task = progress.add_task("generate", total=len(todo))

        def write_batch(indices: list[int], texts: list[str]) -> None:
            for index, text in zip(indices, texts):
                record = todo[index]
                row = {
                    "id": record.id, "dataset": dataset, "group": record.group, "prompt": record.text,
                    "response": text, **identity, "max_new_tokens": max_new_tokens, "decoding": "greedy",
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            progress.advance(task, len(indices))

        generate_batched(loaded_model, tokenizer, prompt_ids, max_new_tokens, batch_size, on_batch_done=write_batch)

    console.print(f"wrote {len(todo)} responses to {out} in {time.perf_counter() - started:.1f} s")


def register(app: typer.Typer) -> None:
    """Add ``mosr generate`` to the main app."""
    app.command("generate")(handle_errors(generate_command))
