"""The ``forcebridge`` command line.

Every command builds the same container as the server (``build_container``) and calls one service
function; errors from ``forcebridge.errors`` become a one-line message and their exit code.
Feature packages add their command groups through ``register(app)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from forcebridge.container import Container, build_container
from forcebridge.errors import ForceBridgeError
from forcebridge.settings import Settings

app = typer.Typer(
    name="forcebridge",
    help="ForceBridge: a self-hosted connector between Jira Cloud and Salesforce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
error_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default ./.forcebridge or FORCEBRIDGE_DATA_DIR)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def open_container(data_dir: Path | None = None, *, migrate: bool = True) -> Container:
    return build_container(load_settings(data_dir), apply_migrations=migrate)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


@app.command()
def migrate(data_dir: DataDirOption = None) -> None:
    """Create or upgrade the database schema."""
    container = open_container(data_dir, migrate=True)
    container.close()
    console.print("[green]Database is up to date.[/green]")


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the HTTP server (external API, admin API, UI); migrations are applied first."""
    import uvicorn

    from forcebridge.app import create_app
    from forcebridge.logging import configure_logging

    settings = load_settings(data_dir, host=host, port=port)
    configure_logging(settings)
    container = build_container(settings, apply_migrations=True)
    application = create_app(container=container)
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=None, access_log=False)


def _register_feature_commands() -> None:
    from forcebridge.connections import cli as connection_commands
    from forcebridge.sandbox import command as sandbox_command

    connection_commands.register(app)
    sandbox_command.register(app)


def main() -> None:
    _register_feature_commands()
    try:
        app()
    except ForceBridgeError as error:
        error_console.print(f"[red]Error:[/red] {error.message}")
        if error.hint:
            error_console.print(f"[yellow]Hint:[/yellow] {error.hint}")
        raise SystemExit(error.exit_code) from None
