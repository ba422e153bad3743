"""CLI commands that talk to Kafka and the store (registered by service.cli.main)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, audit: typer.Typer) -> None:
    return None
