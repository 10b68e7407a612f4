"""Connection pages: list with health, the add/edit wizard, test, settings, delete, API tokens.

The wizard's form is turned into the admin API's own input models (``ConnectionCreate``,
``ConnectionUpdate``), so the browser and the JSON API accept exactly the same connections. Secret
fields are never echoed back into a form: left empty on edit, the stored secret is kept.

After a change that may touch the Jira webhook (here, and binding changes in ``mapping_pages``)
the outcome of ``refresh_jira_webhook`` is flashed; when it needs the admin (``manual`` steps, or
``failed``) the next page also gets ``?webhook=notice`` and shows the stored outcome in full, with
a Register now button (``POST /admin/connections/{id}/webhook``, the same service as the admin
API's ``POST /api/v1/connections/{id}/webhook``). The connection page always shows it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from forcebridge.admin.api import example_call, token_view
from forcebridge.admin.ui.rendering import (
    AdminPost,
    AdminSession,
    UiRoute,
    redirect,
    render,
    validation_sentences,
)
from forcebridge.api.deps import ContainerDep
from forcebridge.connections import service as connections
from forcebridge.connections.health import run_connection_test
from forcebridge.connections.schemas import ConnectionCreate, ConnectionUpdate
from forcebridge.container import Container
from forcebridge.errors import ValidationFailed
from forcebridge.tokens import service as tokens
from forcebridge.webhooks.registration import (
    WebhookRegistration,
    last_webhook_outcome,
    refresh_jira_webhook,
    register_jira_webhook,
    remove_jira_webhook,
)

router = APIRouter(prefix="/admin/connections", route_class=UiRoute, include_in_schema=False)

LIFESPAN_CHOICES = (
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("365d", "365 days"),
    ("custom", "Custom…"),
)
BOOLEAN_SETTINGS = (
    ("allow_modification", "Allow modification (push, pull and create)"),
    ("allow_auto_push", "Allow automatic push (Jira webhooks)"),
    ("allow_auto_pull", "Allow automatic pull (Salesforce polling)"),
    ("default_view_only", "New associations are view-only"),
    ("default_auto_push", "New associations push automatically"),
    ("default_auto_pull", "New associations pull automatically"),
    ("sync_attachments", "Sync attachments"),
)
AFTER_ASSOCIATE = ("nothing", "push", "pull", "push_then_pull", "pull_then_push")
COMMENT_PRIVACY = ("all", "public", "private")
ON_SALESFORCE_DELETE = (
    ("flag", "flag the association and stop syncing it"),
    ("unlink", "remove the association"),
)
WIZARD_FIELDS = (
    "name",
    "jira_url",
    "jira_auth_type",
    "jira_email",
    "jira_api_token",
    "jira_client_id",
    "jira_client_secret",
    "jira_refresh_token",
    "jira_cloud_id",
    "salesforce_url",
    "salesforce_auth_type",
    "salesforce_client_id",
    "salesforce_client_secret",
    "salesforce_refresh_token",
    "salesforce_username",
    "salesforce_private_key",
    "after_associate",
    "comment_privacy",
    "on_salesforce_delete",
)
SECRET_FIELDS = frozenset(
    {
        "jira_api_token",
        "jira_client_secret",
        "jira_refresh_token",
        "salesforce_client_secret",
        "salesforce_refresh_token",
        "salesforce_private_key",
    }
)


WEBHOOK_NOTICE = "webhook=notice"


def flash_webhook_outcome(
    session: Any, connection_id: str, outcome: WebhookRegistration | None
) -> str:
    """Flash the outcome's sentence; returns the query string that asks the next page to show
    the full notice (steps, retry button), or "" when the admin has nothing to do."""
    if outcome is None:
        return ""
    if outcome.status == "manual":
        session.flash("info", outcome.summary(), "follow the steps under Jira webhook below.")
    elif outcome.status == "failed":
        session.flash(
            "error",
            outcome.summary(),
            "use Register now below, or run "
            f"`forcebridge connection webhook {connection_id}` on the server.",
        )
    else:
        session.flash("success", outcome.summary())
        return ""
    return f"?{WEBHOOK_NOTICE}"


def webhook_notice(request: Request, container: Container, connection_id: str) -> Any:
    """The stored webhook outcome when the page was asked to show it (``?webhook=notice``)."""
    if request.query_params.get("webhook") != "notice":
        return None
    return last_webhook_outcome(container, connection_id)


def _connection_views(container: Container) -> list[dict[str, Any]]:
    with container.session() as db:
        return [
            connections.connection_view(container, db, row).model_dump(mode="json")
            for row in connections.list_connections(db)
        ]


def _connection_view(container: Container, connection_id: str) -> dict[str, Any]:
    with container.session() as db:
        row = connections.get_connection(db, connection_id)
        return connections.connection_view(container, db, row).model_dump(mode="json")


@router.get("")
def list_page(request: Request, session: AdminSession, container: ContainerDep) -> Response:
    return render(
        request,
        session,
        "connections.html",
        {"nav": "connections", "connections": _connection_views(container)},
    )


# -- the wizard ----------------------------------------------------------------------------------


async def _wizard_values(request: Request) -> dict[str, Any]:
    form = await request.form()
    values: dict[str, Any] = {name: str(form.get(name, "") or "") for name in WIZARD_FIELDS}
    for name, _label in BOOLEAN_SETTINGS:
        values[name] = form.get(name) == "on"
    return values


def _jira_auth(values: dict[str, Any]) -> dict[str, Any]:
    if values["jira_auth_type"] == "oauth":
        return {
            "type": "oauth",
            "client_id": values["jira_client_id"],
            "client_secret": values["jira_client_secret"],
            "refresh_token": values["jira_refresh_token"],
            "cloud_id": values["jira_cloud_id"],
        }
    return {"type": "basic", "email": values["jira_email"], "api_token": values["jira_api_token"]}


def _salesforce_auth(values: dict[str, Any]) -> dict[str, Any]:
    kind = values["salesforce_auth_type"]
    auth: dict[str, Any] = {"type": kind, "client_id": values["salesforce_client_id"]}
    if kind == "jwt":
        auth.update(
            username=values["salesforce_username"], private_key=values["salesforce_private_key"]
        )
    elif kind == "refresh_token":
        auth.update(
            client_secret=values["salesforce_client_secret"],
            refresh_token=values["salesforce_refresh_token"],
        )
    else:
        auth.update(client_secret=values["salesforce_client_secret"])
    return auth


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    chosen: dict[str, Any] = {name: values[name] for name, _label in BOOLEAN_SETTINGS}
    chosen["after_associate"] = values["after_associate"] or "nothing"
    chosen["comment_privacy"] = values["comment_privacy"] or "all"
    chosen["on_salesforce_delete"] = values["on_salesforce_delete"] or "flag"
    return chosen


def _secrets_given(values: dict[str, Any], prefix: str) -> bool:
    return any(values[name] for name in SECRET_FIELDS if name.startswith(prefix))


def _problems(error: ValidationError) -> list[str]:
    return validation_sentences(error)


def _form_values_without_secrets(values: dict[str, Any]) -> dict[str, Any]:
    return {name: ("" if name in SECRET_FIELDS else value) for name, value in values.items()}


def _wizard(
    request: Request,
    session: Any,
    values: dict[str, Any],
    *,
    connection_id: str | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        session,
        "connection_form.html",
        {
            "nav": "connections",
            "values": _form_values_without_secrets(values),
            "connection_id": connection_id,
            "problems": problems or [],
            "boolean_settings": BOOLEAN_SETTINGS,
            "after_associate": AFTER_ASSOCIATE,
            "comment_privacy": COMMENT_PRIVACY,
            "on_salesforce_delete": ON_SALESFORCE_DELETE,
        },
        status_code=status_code,
    )


def _empty_values() -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(WIZARD_FIELDS, "")
    values.update(jira_auth_type="basic", salesforce_auth_type="client_credentials")
    values.update(after_associate="nothing", comment_privacy="all", on_salesforce_delete="flag")
    defaults = {"allow_modification", "allow_auto_push", "allow_auto_pull", "sync_attachments"}
    for name, _label in BOOLEAN_SETTINGS:
        values[name] = name in defaults
    return values


@router.get("/new")
def new_page(request: Request, session: AdminSession) -> Response:
    return _wizard(request, session, _empty_values())


@router.post("/new")
async def create(request: Request, session: AdminPost, container: ContainerDep) -> Response:
    values = await _wizard_values(request)
    payload = {
        "name": values["name"],
        "jira": {"url": values["jira_url"], "auth": _jira_auth(values)},
        "salesforce": {"url": values["salesforce_url"], "auth": _salesforce_auth(values)},
        "settings": _settings(values),
    }
    try:
        parsed = ConnectionCreate.model_validate(payload)
    except ValidationError as error:
        return _wizard(request, session, values, problems=_problems(error), status_code=422)
    try:
        connection = await run_in_threadpool(connections.create_connection, container, parsed)
    except ValidationFailed as error:
        problems = [error.message] + ([error.hint] if error.hint else [])
        return _wizard(request, session, values, problems=problems, status_code=422)
    session.flash("success", f"Connection {connection.name} created. Test it next.")
    webhook = await run_in_threadpool(refresh_jira_webhook, container, connection.id)
    flash_webhook_outcome(session, connection.id, webhook)
    return redirect(request, session, f"/admin/connections/{connection.id}")


def _values_of(view: dict[str, Any]) -> dict[str, Any]:
    jira_auth, salesforce_auth = view["jira"]["auth"], view["salesforce"]["auth"]
    values = _empty_values()
    values.update(
        name=view["name"],
        jira_url=view["jira"]["url"],
        jira_auth_type=jira_auth["type"],
        jira_email=jira_auth.get("email") or "",
        jira_client_id=jira_auth.get("client_id") or "",
        jira_cloud_id=view["jira"].get("cloud_id") or "",
        salesforce_url=view["salesforce"]["url"],
        salesforce_auth_type=salesforce_auth["type"],
        salesforce_client_id=salesforce_auth.get("client_id") or "",
        salesforce_username=salesforce_auth.get("username") or "",
    )
    values.update(view["settings"])
    return values


@router.get("/{connection_id}/edit")
def edit_page(
    request: Request, connection_id: str, session: AdminSession, container: ContainerDep
) -> Response:
    view = _connection_view(container, connection_id)
    return _wizard(request, session, _values_of(view), connection_id=connection_id)


@router.post("/{connection_id}/edit")
async def update(
    request: Request, connection_id: str, session: AdminPost, container: ContainerDep
) -> Response:
    values = await _wizard_values(request)
    current = await run_in_threadpool(_connection_view, container, connection_id)
    jira: dict[str, Any] = {"url": values["jira_url"]}
    # A new auth replaces all of that side's secrets, so send one only when the admin typed a
    # secret or switched the auth type; otherwise the stored credentials stay as they are.
    if (
        _secrets_given(values, "jira_")
        or values["jira_auth_type"] != current["jira"]["auth"]["type"]
    ):
        jira["auth"] = _jira_auth(values)
    salesforce: dict[str, Any] = {"url": values["salesforce_url"]}
    if (
        _secrets_given(values, "salesforce_")
        or values["salesforce_auth_type"] != current["salesforce"]["auth"]["type"]
    ):
        salesforce["auth"] = _salesforce_auth(values)
    payload = {
        "name": values["name"],
        "jira": jira,
        "salesforce": salesforce,
        "settings": _settings(values),
    }
    try:
        parsed = ConnectionUpdate.model_validate(payload)
    except ValidationError as error:
        return _wizard(
            request,
            session,
            values,
            connection_id=connection_id,
            problems=_problems(error),
            status_code=422,
        )
    try:
        await run_in_threadpool(connections.update_connection, container, connection_id, parsed)
    except ValidationFailed as error:
        problems = [error.message] + ([error.hint] if error.hint else [])
        return _wizard(
            request,
            session,
            values,
            connection_id=connection_id,
            problems=problems,
            status_code=422,
        )
    session.flash("success", "Connection saved.")
    webhook = await run_in_threadpool(refresh_jira_webhook, container, connection_id)
    flash_webhook_outcome(session, connection_id, webhook)
    return redirect(request, session, f"/admin/connections/{connection_id}")


# -- one connection --------------------------------------------------------------------------------


@router.get("/{connection_id}")
def detail_page(
    request: Request, connection_id: str, session: AdminSession, container: ContainerDep
) -> Response:
    view = _connection_view(container, connection_id)
    return render(
        request,
        session,
        "connection.html",
        {
            "nav": "connections",
            "connection": view,
            "boolean_settings": BOOLEAN_SETTINGS,
            "webhook": last_webhook_outcome(container, connection_id),
        },
    )


@router.post("/{connection_id}/webhook")
def register_webhook(
    request: Request, connection_id: str, session: AdminPost, container: ContainerDep
) -> Response:
    """Register now: a Jira failure is flashed (as every service error) and stored for the page."""
    outcome = register_jira_webhook(container, connection_id)
    flash_webhook_outcome(session, connection_id, outcome)
    return redirect(request, session, f"/admin/connections/{connection_id}")


@router.post("/{connection_id}/test")
def test(
    request: Request, connection_id: str, session: AdminPost, container: ContainerDep
) -> Response:
    result = run_connection_test(container, connection_id)
    if result.ok:
        session.flash("success", "Connection test passed: both sides answered.")
    else:
        failed = [
            side
            for side, outcome in (("Jira", result.jira), ("Salesforce", result.salesforce))
            if not outcome.ok
        ]
        session.flash("error", f"Connection test failed on {' and '.join(failed)}: see below.")
    return redirect(request, session, f"/admin/connections/{connection_id}")


@router.get("/{connection_id}/delete")
def delete_page(
    request: Request, connection_id: str, session: AdminSession, container: ContainerDep
) -> Response:
    view = _connection_view(container, connection_id)
    return render(
        request, session, "connection_delete.html", {"nav": "connections", "connection": view}
    )


@router.post("/{connection_id}/delete")
def delete(
    request: Request,
    connection_id: str,
    session: AdminPost,
    container: ContainerDep,
    confirm_name: Annotated[str, Form()] = "",
) -> Response:
    view = _connection_view(container, connection_id)
    if confirm_name.strip() != view["name"]:
        session.flash("error", "Type the connection's name exactly to confirm the deletion.")
        return redirect(request, session, f"/admin/connections/{connection_id}/delete")
    # Before the connection goes: its credentials and the webhook's id go with it.
    webhook = remove_jira_webhook(container, connection_id)
    connections.delete_connection(container, connection_id)
    session.flash("success", f"Connection {view['name']} deleted with everything it held.")
    if webhook is not None and webhook.status != "removed":
        # No page is left to show the steps on: they go in the notice itself.
        session.flash("error", webhook.summary(), " ".join(webhook.instructions))
    elif webhook is not None:
        session.flash("success", webhook.summary())
    return redirect(request, session, "/admin/connections")


# -- API access tokens -------------------------------------------------------------------------


def _tokens_page(
    request: Request,
    session: Any,
    container: Container,
    connection_id: str,
    created: dict[str, Any] | None = None,
) -> Response:
    view = _connection_view(container, connection_id)
    now = container.clock()
    with container.session() as db:
        rows = [
            token_view(row, now).model_dump(mode="json")
            for row in tokens.list_tokens(db, connection_id)
        ]
    return render(
        request,
        session,
        "tokens.html",
        {
            "nav": "connections",
            "connection": view,
            "tokens": rows,
            "created": created,
            "lifespans": LIFESPAN_CHOICES,
        },
        status_code=201 if created else 200,
    )


@router.get("/{connection_id}/tokens")
def tokens_page(
    request: Request, connection_id: str, session: AdminSession, container: ContainerDep
) -> Response:
    return _tokens_page(request, session, container, connection_id)


def _lifespan(choice: str, custom_amount: str, custom_unit: str) -> timedelta:
    if choice == "custom":
        if not custom_amount.strip().isdigit() or custom_unit not in ("m", "h", "d"):
            raise ValidationFailed(
                "Give the custom lifespan as a whole number of minutes, hours or days.",
                hint="Between 15 minutes and 365 days.",
            )
        return tokens.parse_lifespan(f"{int(custom_amount)}{custom_unit}")
    if choice not in {value for value, _label in LIFESPAN_CHOICES}:
        raise ValidationFailed("Pick one of the offered lifespans.")
    return tokens.parse_lifespan(choice)


@router.post("/{connection_id}/tokens")
def create_token(
    request: Request,
    connection_id: str,
    session: AdminPost,
    container: ContainerDep,
    lifespan: Annotated[str, Form()] = "30d",
    custom_amount: Annotated[str, Form()] = "",
    custom_unit: Annotated[str, Form()] = "d",
    name: Annotated[str, Form()] = "",
) -> Response:
    duration = _lifespan(lifespan, custom_amount, custom_unit)
    row, token = tokens.create_token(container, connection_id, duration, name.strip()[:200] or None)
    created = token_view(row, container.clock()).model_dump(mode="json")
    created.update(token=token, example=example_call(container.settings.public_base_url, token))
    # Rendered directly, not redirected: the token must never travel through the cookie.
    return _tokens_page(request, session, container, connection_id, created)


@router.post("/{connection_id}/tokens/{token_id}/revoke")
def revoke_token(
    request: Request,
    connection_id: str,
    token_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        row = tokens.revoke_token(db, connection_id, token_id, now=container.clock())
        last_four = row.last_four
    session.flash("success", f"Token …{last_four} revoked; it is refused from now on.")
    return redirect(request, session, f"/admin/connections/{connection_id}/tokens")


@router.post("/{connection_id}/tokens/revoke-all")
def revoke_all_tokens(
    request: Request, connection_id: str, session: AdminPost, container: ContainerDep
) -> Response:
    with container.session() as db:
        count = tokens.revoke_all_tokens(db, connection_id, now=container.clock())
    session.flash("success", f"{count} token(s) revoked.")
    return redirect(request, session, f"/admin/connections/{connection_id}/tokens")
