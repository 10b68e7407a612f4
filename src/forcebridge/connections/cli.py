"""CLI command groups: ``connection``, ``token``, ``keys`` and ``admin``.

Each command builds the container (or takes the one a test passes as the Typer context object),
calls one service function and prints a rich table, or JSON with ``--json``. Errors from
``forcebridge.errors`` become one red line, a hint, and the error's exit code.

Secrets are best given in a JSON file (``connection add --file``) or prompted for: values on a
command line end up in shell history and ``ps`` output.

``connection add`` keeps the Jira webhook in line like every edge does (``refresh_jira_webhook``)
and ``connection remove`` deletes it from Jira first; what happened is one more printed line (or
the numbered steps to do by hand), or the ``webhook`` member with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from forcebridge.cli_support import (
    DataDir,
    Json,
    command_container,
    find_connection,
    print_result,
    reported,
    table,
)
from forcebridge.container import Container
from forcebridge.errors import ConfigurationError, InvalidInput, ValidationFailed
from forcebridge.models import Connection

if TYPE_CHECKING:
    from forcebridge.webhooks.registration import WebhookRegistration

connection_app = typer.Typer(
    help="Connections between a Jira site and a Salesforce org.", no_args_is_help=True
)
token_app = typer.Typer(help="API access tokens of the external API.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys of stored secrets.", no_args_is_help=True)
admin_app = typer.Typer(help="Administrators of the admin API and UI.", no_args_is_help=True)

ConnectionArgument = Annotated[str, typer.Argument(help="Connection id or name.")]


def register(app: typer.Typer) -> None:
    """Add this package's command groups to the root ``forcebridge`` app."""
    app.add_typer(connection_app, name="connection")
    app.add_typer(token_app, name="token")
    app.add_typer(keys_app, name="keys")
    app.add_typer(admin_app, name="admin")


def _find_connection(container: Container, id_or_name: str) -> Connection:
    with container.session() as session:
        return find_connection(session, id_or_name)


# -- connection ----------------------------------------------------------------------------------


@connection_app.command("add")
@reported
def connection_add(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="JSON file with name, jira, salesforce and settings (see docs)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Connection name.")] = None,
    jira_url: Annotated[str | None, typer.Option(help="Jira site URL.")] = None,
    jira_email: Annotated[
        str | None, typer.Option(help="Jira user e-mail (API-token auth).")
    ] = None,
    jira_api_token: Annotated[
        str | None,
        typer.Option(
            help="Jira API token (prompted when omitted).", envvar="FORCEBRIDGE_JIRA_API_TOKEN"
        ),
    ] = None,
    salesforce_url: Annotated[
        str | None, typer.Option(help="Salesforce login or My Domain URL.")
    ] = None,
    salesforce_client_id: Annotated[
        str | None, typer.Option(help="Connected app consumer key.")
    ] = None,
    salesforce_client_secret: Annotated[
        str | None,
        typer.Option(
            help="Connected app consumer secret (client-credentials flow).",
            envvar="FORCEBRIDGE_SALESFORCE_CLIENT_SECRET",
        ),
    ] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create a connection from a JSON file, or from flags (Jira API token, client credentials)."""
    from forcebridge.connections.schemas import ConnectionCreate
    from forcebridge.connections.service import connection_view, create_connection
    from forcebridge.webhooks.registration import refresh_jira_webhook

    if file is not None:
        document = _read_json(file)
    else:
        if not all((name, jira_url, jira_email, salesforce_url, salesforce_client_id)):
            raise InvalidInput(
                "Give --file, or --name, --jira-url, --jira-email, --salesforce-url and "
                "--salesforce-client-id.",
                hint="A JSON file is the way to use OAuth, JWT bearer or refresh-token auth.",
            )
        document = {
            "name": name,
            "jira": {
                "url": jira_url,
                "auth": {
                    "type": "basic",
                    "email": jira_email,
                    "api_token": jira_api_token or typer.prompt("Jira API token", hide_input=True),
                },
            },
            "salesforce": {
                "url": salesforce_url,
                "auth": {
                    "type": "client_credentials",
                    "client_id": salesforce_client_id,
                    "client_secret": salesforce_client_secret
                    or typer.prompt("Salesforce consumer secret", hide_input=True),
                },
            },
        }
    request = _validated(ConnectionCreate, document)
    with command_container(ctx, data_dir) as container:
        connection = create_connection(container, request)
        with container.session() as session:
            view = connection_view(container, session, session.merge(connection)).model_dump(
                mode="json"
            )
        webhook = refresh_jira_webhook(container, connection.id)
    print_result(
        {**view, "webhook": webhook.as_dict() if webhook else None},
        as_json,
        lambda: (
            f"[green]Connection {view['name']} created[/green] (id {view['id']})."
            + webhook_text(webhook)
        ),
    )


@connection_app.command("list")
@reported
def connection_list(ctx: typer.Context, data_dir: DataDir = None, as_json: Json = False) -> None:
    """List connections."""
    from forcebridge.connections.service import connection_view, list_connections

    with command_container(ctx, data_dir) as container, container.session() as session:
        views = [
            connection_view(container, session, connection).model_dump(mode="json")
            for connection in list_connections(session)
        ]
    print_result(
        views,
        as_json,
        lambda: table(
            "Connections",
            ["id", "name", "jira", "salesforce", "bindings", "last test"],
            [
                [
                    view["id"],
                    view["name"],
                    view["jira"]["url"],
                    view["salesforce"]["url"],
                    view["bindings"],
                    _last_test(view),
                ]
                for view in views
            ],
        ),
    )


@connection_app.command("show")
@reported
def connection_show(
    ctx: typer.Context,
    connection: ConnectionArgument,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Show one connection (never its secrets)."""
    from forcebridge.connections.service import connection_view

    with command_container(ctx, data_dir) as container:
        found = _find_connection(container, connection)
        with container.session() as session:
            view = connection_view(container, session, session.merge(found)).model_dump(mode="json")
    print_result(view, as_json, lambda: json.dumps(view, indent=2))


@connection_app.command("test")
@reported
def connection_test(
    ctx: typer.Context,
    connection: ConnectionArgument,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Call both sides and say which one fails, why, and how to fix it (exit 8 on failure)."""
    from forcebridge.connections.health import run_connection_test

    with command_container(ctx, data_dir) as container:
        found = _find_connection(container, connection)
        result = run_connection_test(container, found.id)
    data = result.model_dump(mode="json")
    print_result(
        data,
        as_json,
        lambda: table(
            f"Connection test: {'ok' if result.ok else 'FAILED'}",
            ["side", "ok", "problem", "message", "hint"],
            [
                [side, outcome.ok, outcome.problem, outcome.message, outcome.hint]
                for side, outcome in (("jira", result.jira), ("salesforce", result.salesforce))
            ],
        ),
    )
    if not result.ok:
        raise typer.Exit(8)


@connection_app.command("remove")
@reported
def connection_remove(
    ctx: typer.Context,
    connection: ConnectionArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Delete a connection with its bindings, mappings, tokens and associations."""
    from forcebridge.connections.service import delete_connection
    from forcebridge.webhooks.registration import remove_jira_webhook

    with command_container(ctx, data_dir) as container:
        found = _find_connection(container, connection)
        if not yes and not typer.confirm(
            f"Delete connection {found.name} and everything linked to it?"
        ):
            raise typer.Exit(1)
        # Before the connection goes: its credentials and the webhook's id go with it.
        webhook = remove_jira_webhook(container, found.id)
        delete_connection(container, found.id)
    print_result(
        {"id": found.id, "deleted": True, "webhook": webhook.as_dict() if webhook else None},
        as_json,
        lambda: f"Connection {found.name} deleted." + webhook_text(webhook),
    )


# -- token ---------------------------------------------------------------------------------------


@token_app.command("create")
@reported
def token_create(
    ctx: typer.Context,
    connection: ConnectionArgument,
    lifespan: Annotated[str, typer.Option(help="15m to 365d, e.g. 1h, 7d, 30d.")] = "30d",
    name: Annotated[str | None, typer.Option(help="A name to recognise the token by.")] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create an API access token; it is printed once."""
    from forcebridge.admin.api import CreatedToken, example_call, token_view
    from forcebridge.tokens.service import create_token, parse_lifespan

    with command_container(ctx, data_dir) as container:
        found = _find_connection(container, connection)
        row, token = create_token(container, found.id, parse_lifespan(lifespan), name)
        view = token_view(row, container.clock())
        created = CreatedToken(
            **view.model_dump(),
            token=token,
            example=example_call(container.settings.public_base_url, token),
        ).model_dump(mode="json")
    print_result(
        created,
        as_json,
        lambda: (
            f"Token (shown once, copy it now):\n{token}\n\nExpires {created['expires_at']}.\n"
            f"Try it:\n{created['example']}"
        ),
    )


@token_app.command("list")
@reported
def token_list(
    ctx: typer.Context,
    connection: ConnectionArgument,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List a connection's tokens (name, dates, status, last four characters)."""
    from forcebridge.admin.api import token_view
    from forcebridge.tokens.service import list_tokens

    with command_container(ctx, data_dir) as container:
        found = _find_connection(container, connection)
        now = container.clock()
        with container.session() as session:
            views = [
                token_view(row, now).model_dump(mode="json")
                for row in list_tokens(session, found.id)
            ]
    print_result(
        views,
        as_json,
        lambda: table(
            f"Tokens of {found.name}",
            ["id", "name", "…last four", "status", "created", "expires", "last used"],
            [
                [
                    v["id"],
                    v["name"],
                    v["last_four"],
                    v["status"],
                    v["created_at"],
                    v["expires_at"],
                    v["last_used_at"],
                ]
                for v in views
            ],
        ),
    )


@token_app.command("revoke")
@reported
def token_revoke(
    ctx: typer.Context,
    connection: ConnectionArgument,
    token_id: Annotated[str | None, typer.Argument(help="The token's id (see token list).")] = None,
    revoke_all: Annotated[
        bool, typer.Option("--all", help="Revoke every token of the connection.")
    ] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Revoke one token, or all of a connection's tokens with --all."""
    from forcebridge.tokens.service import revoke_all_tokens, revoke_token

    if (token_id is None) == (not revoke_all):
        raise InvalidInput("Give a token id or --all (not both).")
    with command_container(ctx, data_dir) as container:
        found = _find_connection(container, connection)
        with container.session() as session:
            if revoke_all:
                count = revoke_all_tokens(session, found.id, now=container.clock())
            else:
                revoke_token(session, found.id, token_id or "", now=container.clock())
                count = 1
    print_result({"revoked": count}, as_json, lambda: f"{count} token(s) revoked.")


# -- keys ----------------------------------------------------------------------------------------


@keys_app.command("generate")
@reported
def keys_generate(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Write the key to this file (mode 0600) instead of printing it."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Create a new Fernet key for FORCEBRIDGE_SECRET_KEY or a key file."""
    from forcebridge.security.secrets import generate_key, write_key_file

    if file is None:
        key = generate_key()
        print_result({"key": key}, as_json, lambda: key)
        return
    if file.exists():
        raise ValidationFailed(
            f"{file} already exists; refusing to overwrite a key file.",
            hint="Use `forcebridge keys rotate` to add a key to an existing file.",
        )
    write_key_file(file, [generate_key()])
    print_result({"file": str(file)}, as_json, lambda: f"Key written to {file} (mode 0600).")


@keys_app.command("rotate")
@reported
def keys_rotate(ctx: typer.Context, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Add a new key to the key file and re-encrypt every stored secret under it.

    With keys in FORCEBRIDGE_SECRET_KEY instead of a file, put the new key first in the variable
    (old ones after it) and run this to re-encrypt under it.
    """
    from forcebridge.connections.key_rotation import reencrypt_all
    from forcebridge.security.secrets import SecretBox, add_key_to_file

    with command_container(ctx, data_dir) as container:
        settings = container.settings
        key_file = settings.secret_key_file if settings.secret_key is None else None
        if key_file is not None:
            add_key_to_file(key_file)
            box = SecretBox.from_settings(settings)
        elif settings.secret_key is not None:
            box = container.secrets
        else:  # pragma: no cover - build_container already refused to start
            raise ConfigurationError("No secret key is configured.")
        report = reencrypt_all(container, box)
    if key_file is not None:
        advice = (
            f"Every secret is now encrypted under key {report.primary_key_fingerprint}. The older "
            f"key(s) in {key_file} can be dropped: `forcebridge keys retire` keeps only the newest."
        )
    else:
        advice = (
            f"Every secret is now encrypted under key {report.primary_key_fingerprint} "
            "(the first in "
            "FORCEBRIDGE_SECRET_KEY); the keys after it can be removed from the variable."
        )
    data = {
        "reencrypted": report.values,
        "columns": report.columns,
        "primary_key_fingerprint": report.primary_key_fingerprint,
        "key_file": str(key_file) if key_file else None,
        "message": advice,
    }
    print_result(
        data, as_json, lambda: f"[green]{report.values} secret(s) re-encrypted.[/green] {advice}"
    )


@keys_app.command("retire")
@reported
def keys_retire(ctx: typer.Context, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Keep only the newest key in the key file (run after `keys rotate`)."""
    from forcebridge.connections.key_rotation import reencrypt_all
    from forcebridge.security.secrets import SecretBox, retire_old_keys

    with command_container(ctx, data_dir) as container:
        key_file = container.settings.secret_key_file
        if container.settings.secret_key is not None or key_file is None:
            raise ConfigurationError(
                "Keys come from FORCEBRIDGE_SECRET_KEY: edit the variable instead."
            )
        # Re-encrypt first (a no-op after `rotate`), so no value depends on a key about to go;
        # the ring is read again from the file, which `rotate` may have changed.
        reencrypt_all(container, SecretBox.from_settings(container.settings))
        removed = retire_old_keys(key_file)
    print_result(
        {"removed": removed}, as_json, lambda: f"{removed} old key(s) removed from {key_file}."
    )


# -- admin ---------------------------------------------------------------------------------------


@admin_app.command("create")
@reported
def admin_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(prompt=True, help="Username.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="FORCEBRIDGE_ADMIN_PASSWORD",
            help="Password (prompted when omitted).",
        ),
    ],
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Create an administrator of the admin API and UI."""
    from forcebridge.admin.auth import create_admin_user

    with command_container(ctx, data_dir) as container:
        user = create_admin_user(container, username, password)
    print_result(
        {"id": user.id, "username": user.username},
        as_json,
        lambda: f"Admin {user.username} created.",
    )


# -- helpers -------------------------------------------------------------------------------------


def webhook_text(outcome: WebhookRegistration | None) -> str:
    """The webhook outcome as terminal lines (rich markup, values escaped); "" for none."""
    from rich.markup import escape

    if outcome is None:
        return ""
    colour = {"manual": "yellow", "failed": "red"}.get(outcome.status, "green")
    lines = [f"\n[{colour}]{escape(outcome.summary())}[/{colour}]"]
    lines += [
        f"  {number}. {escape(step)}" for number, step in enumerate(outcome.instructions, start=1)
    ]
    return "\n".join(lines)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist.") from None
    except (OSError, UnicodeError, ValueError) as error:
        raise InvalidInput(
            f"{path} is not a readable JSON file ({type(error).__name__})."
        ) from None


M = TypeVar("M")


def _validated(model: type[M], document: Any) -> M:
    """Parse ``document`` into ``model``; pydantic's errors become a 422-style ValidationFailed."""
    try:
        return model.model_validate(document)  # type: ignore[attr-defined]
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in item["loc"]) or None, "message": item["msg"]}
            for item in error.errors(include_input=False)
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        raise ValidationFailed(f"Invalid connection: {summary}", details=problems) from None


def _last_test(view: dict[str, Any]) -> str:
    result = view.get("last_test_result")
    if not result:
        return "never"
    return "ok" if result.get("ok") else "failed"
