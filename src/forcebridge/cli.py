"""The ``forcebridge`` command line.

Every command builds the same container as the server (``build_container``) and calls one service
function; errors from ``forcebridge.errors`` become a one-line message and their exit code.
Feature packages add their command groups through ``register(app)``.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
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
    typer.Option(
        "--data-dir", help="Data directory (default ./.forcebridge or FORCEBRIDGE_DATA_DIR)."
    ),
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
    with_worker: Annotated[
        bool, typer.Option("--with-worker", help="Also run a job worker (child process).")
    ] = False,
) -> None:
    """Run the HTTP server (external API, admin API, UI); migrations are applied first."""
    import uvicorn

    from forcebridge.app import create_app
    from forcebridge.jobs.worker import worker_alongside
    from forcebridge.logging import configure_logging

    settings = load_settings(data_dir, host=host, port=port)
    configure_logging(settings)
    container = build_container(settings, apply_migrations=True)
    application = create_app(container=container)
    with ExitStack() as stack:
        if with_worker:
            stack.enter_context(worker_alongside(data_dir))
        uvicorn.run(
            application, host=settings.host, port=settings.port, log_config=None, access_log=False
        )


@app.command()
def demo(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Address for ForceBridge.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for ForceBridge (0 picks a free one).")] = 8000,
    json_output: JsonOption = False,
    with_worker: Annotated[
        bool, typer.Option("--with-worker/--no-worker", help="Run a job worker alongside.")
    ] = True,
) -> None:
    """Start the sandbox and ForceBridge with a ready demo connection, token and data."""
    import os

    import uvicorn

    from forcebridge.app import create_app
    from forcebridge.demo import print_summary, start_demo, worker_environment
    from forcebridge.jobs.worker import worker_alongside

    port = port or _free_port(host)
    environment = start_demo(data_dir or Path(".forcebridge"), host=host, port=port)
    try:
        if json_output:
            print_json(environment.summary)
        else:
            print_summary(environment.summary)
        application = create_app(container=environment.container)
        with ExitStack() as stack:
            if with_worker:
                os.environ.update(worker_environment(environment.settings))
                stack.enter_context(worker_alongside(environment.settings.data_dir))
            uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)
    finally:
        environment.stop()


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _register_feature_commands() -> None:
    from forcebridge.bulk import cli as bulk_commands
    from forcebridge.connections import cli as connection_commands
    from forcebridge.jobs import cli as job_commands
    from forcebridge.sandbox import command as sandbox_command

    for feature in (connection_commands, job_commands, bulk_commands, sandbox_command):
        feature.register(app)


def main() -> None:
    from pydantic import ValidationError

    from forcebridge.logging import configure_logging

    _register_feature_commands()
    try:
        # Logs go to stderr from the first line on, so stdout carries only data (--json).
        configure_logging(Settings())
        app()
    except ValidationError as error:
        error_console.print(f"[red]Error:[/red] invalid FORCEBRIDGE_* setting: {error}")
        raise SystemExit(7) from None
    except ForceBridgeError as error:
        error_console.print(f"[red]Error:[/red] {error.message}")
        if error.hint:
            error_console.print(f"[yellow]Hint:[/yellow] {error.hint}")
        raise SystemExit(error.exit_code) from None
