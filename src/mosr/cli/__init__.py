"""The ``mosr`` command: data, generate, analyze, train, evaluate, judges, run, report, sweep."""

from __future__ import annotations

import typer

from mosr.cli import analyze, data, evaluate, generate, run, train

app = typer.Typer(
    name="mosr",
    help="Find out why a safety-tuned chat model over-refuses, and train a defence that keeps it safe without it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

data.register(app)
generate.register(app)
analyze.register(app)
train.register(app)
evaluate.register(app)
run.register(app)


def main() -> None:
    app()
