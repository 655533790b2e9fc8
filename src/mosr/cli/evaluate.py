"""CLI entry point: mosr evaluate (filled in by its module)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the commands of this module to the main app."""
