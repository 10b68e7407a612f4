"""CLI: ``forcebridge worker``, ``forcebridge jobs list|show|replay`` and
``forcebridge connection webhook``.

Each command builds the container (or takes the one a test passes as the Typer context object),
calls one service function and prints a table, or JSON with ``--json``.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from forcebridge.cli_support import (
    DataDir,
    Json,
    command_container,
    find_connection,
    print_result,
    reported,
    table,
)
from forcebridge.jobs import service as jobs
from forcebridge.jobs.models import JOB_STATES
from forcebridge.jobs.queue import job_queue
from forcebridge.jobs.settings import JobSettings

HANDLERS_ENV = "FORCEBRIDGE_JOB_HANDLERS"

jobs_app = typer.Typer(
    help="Background jobs: list, inspect, replay dead letters.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``worker``, ``jobs`` and ``connection webhook`` to the root ``forcebridge`` app."""
    from forcebridge.connections.cli import connection_app

    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
    if not any(command.name == "webhook" for command in connection_app.registered_commands):
        connection_app.command("webhook")(connection_webhook)


# -- worker ---------------------------------------------------------------------------------------


@reported
def worker(
    data_dir: DataDir = None,
    threads: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker threads (default 2).")
    ] = None,
    handler_specs: Annotated[
        list[str] | None,
        typer.Option(
            "--handlers",
            help="module:function registering extra job handlers (repeatable; also "
            f"{HANDLERS_ENV}, comma-separated).",
        ),
    ] = None,
) -> None:
    """Run background jobs until SIGTERM (finishes running jobs) or Ctrl-C."""
    from forcebridge.cli import open_container
    from forcebridge.jobs.worker import run_worker
    from forcebridge.logging import configure_logging

    specs = list(handler_specs or [])
    specs += [spec.strip() for spec in os.environ.get(HANDLERS_ENV, "").split(",") if spec.strip()]
    container = open_container(data_dir)
    configure_logging(container.settings)
    try:
        run_worker(container, threads=threads, handler_specs=tuple(specs))
    finally:
        container.close()


# -- jobs -----------------------------------------------------------------------------------------


@jobs_app.command("list")
@reported
def jobs_list(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None,
        typer.Option(help=f"Only this state ({', '.join(JOB_STATES)}); repeatable."),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. sync.push.")] = None,
    connection: Annotated[str | None, typer.Option(help="Only this connection id or name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List jobs, newest first, with a summary of every state."""
    with command_container(ctx, data_dir) as container, container.session() as session:
        connection_id = find_connection(session, connection).id if connection else None
        found = jobs.list_jobs(
            session, states=state or (), kind=kind, connection_id=connection_id, limit=limit
        )
        views = [jobs.job_view(job) for job in found]
        counts = jobs.count_by_state(session)
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    print_result(
        {"jobs": views, "counts": counts},
        as_json,
        lambda: table(
            f"Jobs ({summary})",
            ["id", "kind", "state", "attempts", "run after", "last error"],
            [
                [
                    view["id"],
                    view["kind"],
                    view["state"],
                    f"{view['attempts']}/{view['maxAttempts']}",
                    view["runAfter"],
                    (view["lastError"] or "")[:80],
                ]
                for view in views
            ],
        ),
    )


@jobs_app.command("show")
@reported
def jobs_show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Show one job with its payload and last error."""
    from forcebridge.cli import console, print_json

    with command_container(ctx, data_dir) as container, container.session() as session:
        view = jobs.job_view(jobs.get_job(session, job_id))
    if as_json:
        print_json(view)
        return
    table = Table(title=f"Job {job_id}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in view.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@jobs_app.command("replay")
@reported
def jobs_replay(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Id of a dead or needs_admin job.")],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Queue a dead or needs-admin job again (it runs once more, with a fresh attempt budget)."""
    with command_container(ctx, data_dir) as container:
        job_queue(container)
        with container.session() as session:
            view = jobs.job_view(jobs.replay(session, job_id, now=container.clock()))
    print_result(view, as_json, lambda: f"[green]Job {job_id} queued again.[/green]")


# -- connection webhook ---------------------------------------------------------------------------


@reported
def connection_webhook(
    ctx: typer.Context,
    connection: Annotated[str, typer.Argument(help="Connection id or name.")],
    show_secret: Annotated[
        bool, typer.Option("--show-secret", help="Print the webhook secret (for manual setup).")
    ] = False,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Use a new secret; the old one stays valid a while.")
    ] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Register (or update) the connection's webhook on its Jira site, or print how to."""
    from forcebridge.cli import console, print_json
    from forcebridge.webhooks.registration import register_jira_webhook
    from forcebridge.webhooks.secrets import (
        current_secret,
        ensure_webhook_secret,
        rotate_webhook_secret,
    )

    with command_container(ctx, data_dir) as container:
        with container.session() as session:
            connection_id = find_connection(session, connection).id
            if show_secret:
                secret = current_secret(
                    container, ensure_webhook_secret(container, session, connection_id)
                )
            elif rotate:
                rotate_webhook_secret(
                    container,
                    session,
                    connection_id,
                    previous_valid_hours=JobSettings().webhook_previous_secret_hours,
                )
        if show_secret:
            if as_json:
                print_json({"secret": secret})
            else:
                typer.echo(secret)
            return
        registration = register_jira_webhook(container, connection_id)
    if as_json:
        print_json(registration.as_dict())
        return
    if registration.status == "manual":
        console.print(f"[yellow]Could not register the webhook:[/yellow] {registration.reason}")
        for number, step in enumerate(registration.instructions, start=1):
            console.print(f"  {number}. {step}", highlight=False, markup=False)
        return
    console.print(
        f"[green]Webhook {registration.status} in Jira[/green] "
        f"(id {registration.jira_webhook_id}): {registration.url}\nJQL: {registration.jql}",
        highlight=False,
    )
