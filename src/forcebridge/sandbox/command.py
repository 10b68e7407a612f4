"""The ``forcebridge sandbox`` command: serve both emulators until Ctrl-C or SIGTERM.

``register(app)`` adds the command to ForceBridge's Typer CLI; ``python -m
forcebridge.sandbox.command`` runs it alone (what tests and scripts use, and it keeps the
sandbox free of imports from the rest of ForceBridge).

With ``--json`` the first line on stdout is one JSON object describing the running sandbox
(URLs, credentials, CA file, data directory), so a script can start it in the background and
read that line; everything else goes to stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from forcebridge.sandbox.server import RunningSandbox, SandboxStartupError, start_sandbox

DEFAULT_JIRA_PORT = 8701
DEFAULT_SALESFORCE_PORT = 8702
DEFAULT_DATA_DIR = Path(".sandbox")


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    jira_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Jira emulator port (0 = any free port).")
    ] = DEFAULT_JIRA_PORT,
    salesforce_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Salesforce emulator port (0 = any free port).")
    ] = DEFAULT_SALESFORCE_PORT,
    data_dir: Annotated[
        Path,
        typer.Option(help="Where state, the local CA and keys are kept across restarts."),
    ] = DEFAULT_DATA_DIR,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="Serve plain HTTP instead of HTTPS.")
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object (URLs, credentials) as the first line."),
    ] = False,
) -> None:
    """Run local emulators of Jira Cloud and Salesforce until Ctrl-C."""
    status = Console(stderr=True)
    # Handlers go in before anything is printed: a script that reads the first line and then
    # sends SIGINT/SIGTERM at once must get a clean stop, not a KeyboardInterrupt.
    with _stop_signals() as stop_requested:
        try:
            running = start_sandbox(
                host=host,
                jira_port=jira_port,
                salesforce_port=salesforce_port,
                data_dir=data_dir,
                tls=not no_tls,
            )
        except (SandboxStartupError, OSError) as error:
            status.print(f"[red]error:[/red] the sandbox could not start: {error}")
            raise typer.Exit(code=1) from None
        try:
            description = running.describe()
            if json_output:
                sys.stdout.write(json.dumps(description) + "\n")
                sys.stdout.flush()
            else:
                _print_description(Console(), description)
            status.print("Sandbox running; press Ctrl-C to stop.")
            # A timeout keeps the main thread waking up, so signal handlers run promptly.
            while not stop_requested.wait(0.2):
                pass
            status.print("Stopping the sandbox ...")
        finally:
            running.stop()


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs; previous handlers restored after."""
    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {
        signal_number: signal.signal(signal_number, request_stop)
        for signal_number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop_requested
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)


def _print_description(console: Console, description: dict[str, Any]) -> None:
    # Plain "key: value" lines with soft wrapping, not a table: tokens must stay on one line
    # so they can be copied whole from any terminal width.
    for service, title in (("jira", "Jira Cloud emulator"), ("salesforce", "Salesforce emulator")):
        console.print(f"[bold]{title}[/bold]")
        for key, value in description[service].items():
            console.print(
                f"  {key}: {'' if value is None else value}", soft_wrap=True, markup=False
            )
    ca_file = description["ca_file"]
    if ca_file:
        console.print(f"Trust this CA to call the emulators over HTTPS: {ca_file}", soft_wrap=True)
        console.print(
            f"  e.g. curl --cacert {ca_file} {description['jira']['url']}/rest/api/3/serverInfo",
            soft_wrap=True,
            markup=False,
        )
    console.print(f"State and keys are kept in: {description['data_dir']}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Adds the ``sandbox`` command to ``app``."""
    app.command(name="sandbox")(sandbox)


def _standalone_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, help="ForceBridge sandbox (Jira + Salesforce).")
    register(app)
    return app


if __name__ == "__main__":
    _standalone_app()()


__all__ = ["RunningSandbox", "register", "sandbox"]
