"""Pieces every CLI command group shares: errors, the container, options and output.

The command groups (``connection``, ``token``, ``jobs``...) build the container themselves, or
take the one a test passes as the Typer context object, and report ``forcebridge.errors`` as
one red line, a hint and the error's exit code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.table import Table
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError, NotFound
from forcebridge.models import Connection

P = ParamSpec("P")
R = TypeVar("R")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default ./.forcebridge or FORCEBRIDGE_DATA_DIR)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Turn ForceBridge errors into a message and the error's exit code (also under CliRunner)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # Imported late: forcebridge.cli imports the command groups, which import this module.
        from forcebridge.cli import error_console

        try:
            return command(*args, **kwargs)
        except ForceBridgeError as error:
            error_console.print(f"[red]Error:[/red] {error.message}", markup=True, highlight=False)
            if isinstance(error.details, list):
                for item in error.details[:10]:
                    if isinstance(item, dict) and item.get("field"):
                        error_console.print(
                            f"  {item['field']}: {item.get('message')}", markup=False
                        )
            if error.hint:
                error_console.print(f"[yellow]Hint:[/yellow] {error.hint}", highlight=False)
            raise typer.Exit(error.exit_code) from None

    return run


@contextmanager
def command_container(ctx: typer.Context, data_dir: Path | None) -> Iterator[Container]:
    """The container given as the context object (tests), or one built from settings."""
    given = ctx.find_root().obj
    if isinstance(given, Container):
        yield given
        return
    from forcebridge.cli import open_container
    from forcebridge.logging import configure_logging

    container = open_container(data_dir)
    # Log lines go to stderr, so stdout carries only the command's output (--json for scripts).
    configure_logging(container.settings)
    try:
        yield container
    finally:
        container.close()


def find_connection(session: Session, id_or_name: str) -> Connection:
    """The connection with this id or name; ``NotFound`` (with a hint) when there is none."""
    connection = session.scalar(
        select(Connection).where(or_(Connection.id == id_or_name, Connection.name == id_or_name))
    )
    if connection is None:
        raise NotFound(
            f"No connection has the id or name {id_or_name!r}.",
            hint="`forcebridge connection list` shows them.",
        )
    return connection


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A rich table whose cells fold rather than truncate (ids and URLs must stay whole)."""
    rendered = Table(title=title)
    for column in columns:
        rendered.add_column(column, overflow="fold")
    for row in rows:
        rendered.add_row(*("" if value is None else str(value) for value in row))
    return rendered


def print_result(data: Any, as_json: bool, human: Callable[[], Table | str]) -> None:
    """``data`` as JSON with ``--json``, otherwise what ``human`` renders (built only then)."""
    from forcebridge.cli import console, print_json

    if as_json:
        print_json(data)
    else:
        console.print(human())
