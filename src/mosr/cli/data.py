"""CLI entry point: mosr data list | show | validate."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mosr.cli.common import DATA_DIR_OPTION, console, handle_errors
from mosr.errors import DataError

# Results go to stdout so they can be piped. Messages and errors go to the shared stderr console.
output = Console()

data_app = typer.Typer(help="List, show and validate the benchmark datasets.", no_args_is_help=True)

ENCODING_OPTION = typer.Option(None, "--encoding", help="Text encoding of the data files (default utf-8), e.g. latin-1.")
# Maximum number of characters shown in one table cell.
MAX_CELL_CHARACTERS = 160

# The record fields `mosr data show` prints for each kind, after the id.
SHOW_FIELDS: dict[str, tuple[str, ...]] = {
    "prompts": ("group", "category", "text", "target", "reference"),
    "multiple_choice": ("category", "question", "choices", "answer"),
    "labelled_completions": ("model", "label", "harmful", "prompt", "completion"),
    "templates": ("template",),
    "artifacts": ("attack", "target_model", "goal", "suffix", "prompt"),
}


class DataSource(str, enum.Enum):
    local = "local"
    hub = "hub"


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main app."""
    app.add_typer(data_app, name="data")


@data_app.command("list")
@handle_errors
def list_command(data_dir: str = DATA_DIR_OPTION, encoding: str = ENCODING_OPTION) -> None:
    """List every registered dataset with its kind, group, row count and licence."""
    from mosr.data import count_rows, list_datasets, resolve_data_dir

    folder: Path | None
    try:
        folder = resolve_data_dir(data_dir)
    except DataError as error:
        folder = None
        console.print(f"[yellow]rows not counted:[/] {error}")

    table = Table(title=f"datasets in {folder}" if folder else "datasets")
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("group", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("licence", overflow="fold")
    failures = []
    for spec in list_datasets():
        rows = "?"
        if folder is not None:
            try:
                rows = str(count_rows(spec.name, folder, encoding))
            except DataError as error:
                rows = "[red]error[/]"
                failures.append(f"{spec.name}: {error}")
        table.add_row(spec.name, spec.kind, spec.describe_group(), rows, spec.licence)
    output.print(table)
    for failure in failures:
        console.print(f"[red]error:[/] {failure}")
    if failures:
        raise typer.Exit(code=1)


@data_app.command("show")
@handle_errors
def show_command(
    name: str = typer.Argument(..., help="Registry name of the dataset (see mosr data list)."),
    limit: int = typer.Option(5, "--limit", "-n", min=1, help="Number of records to print, from the start of the dataset."),
    encoding: str = ENCODING_OPTION,
    data_dir: str = DATA_DIR_OPTION,
    source: DataSource = typer.Option(
        DataSource.local, "--source", help="Where records come from: local (the data folder) or hub (download from the Hugging Face Hub)."
    ),
) -> None:
    """Print a dataset's description and its first records."""
    from mosr.data import get_spec, load_hub, load_records

    spec = get_spec(name)
    records = load_hub(name) if source is DataSource.hub else load_records(name, data_dir=data_dir, encoding=encoding)
    output.print(f"[bold]{spec.name}[/] ({spec.kind}, {len(records)} records, licence: {spec.licence})")
    output.print(spec.description)

    fields = SHOW_FIELDS[spec.kind]
    table = Table(show_lines=True)
    table.add_column("id", overflow="fold")
    for field in fields:
        table.add_column(field, overflow="fold")
    for record in records[:limit]:
        table.add_row(Text(record.id), *(_cell(getattr(record, field)) for field in fields))
    output.print(table)


@data_app.command("validate")
@handle_errors
def validate_command(
    path: Path = typer.Argument(None, help="A CSV, JSON or JSON Lines file; omit it to check every registered dataset."),
    encoding: str = ENCODING_OPTION,
    data_dir: str = DATA_DIR_OPTION,
) -> None:
    """Check that data loads: columns present, no blank prompts, no duplicate ids, documented row counts.

    Exits with code 1 when any problem is found.
    """
    from mosr.data import list_datasets, resolve_data_dir, validate_dataset, validate_path

    if path is not None:
        reports = [validate_path(path, encoding=encoding)]
    else:
        folder = resolve_data_dir(data_dir)
        reports = [validate_dataset(spec.name, folder, encoding) for spec in list_datasets()]

    table = Table()
    for column in ("checked", "dataset", "records", "expected", "status"):
        table.add_column(column, justify="right" if column in ("records", "expected") else "left", overflow="fold")
    for report in reports:
        status = "[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}[/]"
        expected = "-" if report.expected_rows is None else str(report.expected_rows)
        table.add_row(Text(report.target), report.dataset or "-", str(report.rows), expected, status)
    output.print(table)

    failed = [report for report in reports if not report.ok]
    for report in failed:
        console.print(f"[red]{report.target}:[/]")
        for problem in report.problems:
            console.print(f"  - {problem}", markup=False)
    if failed:
        raise typer.Exit(code=1)


def _cell(value: Any) -> Text:
    """Wrap a value as a plain-text table cell, so brackets in benchmark prompts are not read as rich markup."""
    if value is None:
        return Text("")
    text = "\n".join(f"{index}. {item}" for index, item in enumerate(value)) if isinstance(value, list) else str(value)
    if len(text) > MAX_CELL_CHARACTERS:
        text = text[: MAX_CELL_CHARACTERS - 3] + "..."
    return Text(text)
