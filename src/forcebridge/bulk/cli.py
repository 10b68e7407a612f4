"""CLI: ``forcebridge bulk push --jql ...``, ``bulk pull --soql ...`` and
``bulk associate --file links.csv`` (each with ``--connection <id or name>``).

Each queues the bulk job like its ``POST /external/api/jobs/...`` twin and then follows it with a
progress bar until it is done (a worker must be running: ``forcebridge worker`` or ``serve
--with-worker``). ``--no-wait`` only queues it and prints where it stands.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from forcebridge.bulk.models import BulkJob
from forcebridge.bulk.service import (
    bulk_view,
    get_bulk_job,
    start_bulk_associate,
    start_bulk_pull,
    start_bulk_push,
)
from forcebridge.cli_support import DataDir, Json, command_container, find_connection, reported
from forcebridge.container import Container
from forcebridge.errors import InvalidInput

bulk_app = typer.Typer(help="Bulk jobs: push many associations at once.", no_args_is_help=True)
POLL_SECONDS = 0.5


def register(app: typer.Typer) -> None:
    app.add_typer(bulk_app, name="bulk")


ConnectionOption = Annotated[str, typer.Option(help="Connection id or name.")]
WaitOption = Annotated[bool, typer.Option(help="Follow progress until done.")]
TimeoutOption = Annotated[float, typer.Option(help="Give up waiting after these seconds.")]


@bulk_app.command("push")
@reported
def push(
    ctx: typer.Context,
    jql: Annotated[str, typer.Option(help="The issues whose associations to push.")],
    connection: ConnectionOption,
    data_dir: DataDir = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 3600,
    as_json: Json = False,
) -> None:
    """Push every association of the issues JQL finds; shows a progress bar until done."""
    _run(
        ctx,
        data_dir,
        connection,
        lambda c, cid: start_bulk_push(c, cid, jql),
        wait,
        timeout,
        as_json,
    )


@bulk_app.command("pull")
@reported
def pull(
    ctx: typer.Context,
    soql: Annotated[str, typer.Option(help="A SELECT returning Id: the records to pull.")],
    connection: ConnectionOption,
    data_dir: DataDir = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 3600,
    as_json: Json = False,
) -> None:
    """Pull every association of the records SOQL finds; shows a progress bar until done."""
    _run(
        ctx,
        data_dir,
        connection,
        lambda c, cid: start_bulk_pull(c, cid, soql),
        wait,
        timeout,
        as_json,
    )


@bulk_app.command("associate")
@reported
def associate(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Option(help="CSV with jiraIssueId,son,soid[,viewOnly,autoPush,autoPull].")
    ],
    connection: ConnectionOption,
    data_dir: DataDir = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 3600,
    as_json: Json = False,
) -> None:
    """Associate every row of a CSV file; shows a progress bar until done."""
    rows = read_csv_rows(file)
    _run(
        ctx,
        data_dir,
        connection,
        lambda c, cid: start_bulk_associate(c, cid, rows),
        wait,
        timeout,
        as_json,
    )


def read_csv_rows(file: Path) -> list[dict[str, Any]]:
    """The rows of an association CSV (flags as true/false, empty cells left out)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"Cannot read {file}: {error}") from None
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {}
        for name, value in record.items():
            value = (value or "").strip()
            if not name or not value:
                continue
            if name in ("viewOnly", "autoPush", "autoPull"):
                row[name] = value.lower() in ("true", "1", "yes")
            else:
                row[name] = value
        rows.append(row)
    return rows


def _run(
    ctx: typer.Context,
    data_dir: Path | None,
    connection: str,
    start: Callable[[Container, str], BulkJob],
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from forcebridge.cli import console, print_json

    with command_container(ctx, data_dir) as container:
        with container.session() as session:
            connection_id = find_connection(session, connection).id
        bulk = start(container, connection_id)

        def current() -> dict[str, Any]:
            with container.session() as session:
                found = get_bulk_job(session, connection_id, bulk.id)
                return bulk_view(session, found, container.clock())

        view = current()
        deadline = time.monotonic() + timeout
        with Progress(
            TextColumn(f"[bold]bulk {view['kind']}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            console=console,
            disable=as_json or not wait,
        ) as progress:
            task = progress.add_task(view["kind"], total=view["total"], failed=0)
            while wait and view["state"] != "done" and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                view = current()
                progress.update(
                    task, completed=view["total"] - view["remaining"], failed=view["failed"]
                )
        if as_json:
            print_json(view)
            return
        console.print(
            f"Bulk job {view['id']}: {view['state']}, {view['done']} done, "
            f"{view['failed']} failed, {view['remaining']} remaining."
        )
        for failure in view["errors"][:20]:
            console.print(f"  {failure}")
