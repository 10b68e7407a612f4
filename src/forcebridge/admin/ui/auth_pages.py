"""Sign-in, first-run setup and sign-out pages of the admin UI.

First-run setup is open only while no admin account exists; it creates the first one (the CLI's
``forcebridge admin create`` does the same). Sign-in checks the password through
:class:`forcebridge.admin.auth.AdminAuthenticator` and is throttled per username and client IP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select

from forcebridge.admin.auth import AdminAuthenticator, create_admin_user
from forcebridge.admin.ui.rendering import (
    STATIC_DIR,
    AnySession,
    CsrfSession,
    UiRoute,
    login_throttle,
    redirect,
    render,
    safe_next,
    session_manager,
)
from forcebridge.api.deps import ContainerDep
from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError
from forcebridge.models import AdminUser

MIN_PASSWORD_LENGTH = 12

router = APIRouter(prefix="/admin", route_class=UiRoute, include_in_schema=False)


def _has_admins(container: Container) -> bool:
    with container.session() as db:
        return bool(db.scalar(select(func.count()).select_from(AdminUser)))


def _authenticator(request: Request) -> AdminAuthenticator:
    state = request.app.state
    authenticator: AdminAuthenticator | None = getattr(state, "admin_ui_authenticator", None)
    if authenticator is None:
        authenticator = AdminAuthenticator(state.container)
        state.admin_ui_authenticator = authenticator
    return authenticator


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# The UI's own files, by name only (no path from the request reaches the filesystem).
STATIC_FILES = {"app.css": "text/css", "app.js": "text/javascript"}


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("")
def admin_root(request: Request, session: AnySession) -> Response:
    return redirect(request, session, "/admin/")


@router.get("/login")
def login_page(
    request: Request, session: AnySession, container: ContainerDep, next: str = ""
) -> Response:
    if not _has_admins(container):
        return redirect(request, session, "/admin/setup")
    if session.signed_in:
        return redirect(request, session, safe_next(next))
    return render(request, session, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login")
def login(
    request: Request,
    session: CsrfSession,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    throttle = login_throttle(request)
    client_ip = _client_ip(request)
    context = {"next": safe_next(next), "username": username[:150]}
    wait = throttle.retry_after(username, client_ip)
    if wait:
        session.flash(
            "error",
            f"Too many failed sign-ins for this account from your address. "
            f"Try again in {max(1, wait // 60)} minute(s).",
        )
        response = render(request, session, "login.html", context, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    admin_id = _authenticator(request).authenticate(username.strip(), password)
    if admin_id is None:
        throttle.record_failure(username, client_ip)
        session.flash("error", "Wrong username or password.")
        return render(request, session, "login.html", context, status_code=401)
    throttle.record_success(username, client_ip)
    signed_in = session_manager(request).sign_in(session, admin_id, username.strip())
    request.state.ui_session = signed_in
    return redirect(request, signed_in, safe_next(next))


@router.get("/setup")
def setup_page(request: Request, session: AnySession, container: ContainerDep) -> Response:
    if _has_admins(container):
        return redirect(request, session, "/admin/login")
    return render(
        request, session, "setup.html", {"username": "", "min_length": MIN_PASSWORD_LENGTH}
    )


@router.post("/setup")
def setup(
    request: Request,
    session: CsrfSession,
    container: ContainerDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
) -> Response:
    if _has_admins(container):
        session.flash("error", "An admin account already exists: sign in with it.")
        return redirect(request, session, "/admin/login")
    context = {"username": username[:150], "min_length": MIN_PASSWORD_LENGTH}
    problem = None
    if len(password) < MIN_PASSWORD_LENGTH:
        problem = f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters."
    elif password != password_again:
        problem = "The two passwords differ."
    if problem is None:
        try:
            user = create_admin_user(container, username, password)
        except ForceBridgeError as error:
            problem = error.message
        else:
            signed_in = session_manager(request).sign_in(session, user.id, user.username)
            request.state.ui_session = signed_in
            signed_in.flash("success", f"Admin account {user.username} created. Welcome!")
            return redirect(request, signed_in, "/admin/")
    session.flash("error", problem)
    return render(request, session, "setup.html", context, status_code=422)


@router.post("/logout")
def logout(request: Request, session: CsrfSession) -> Response:
    session_manager(request).end(session)
    return redirect(request, session, "/admin/login")


# Registered last (see ``forcebridge.admin.ui``): an unknown admin address gets a page, not JSON.
fallback_router = APIRouter(prefix="/admin", route_class=UiRoute, include_in_schema=False)


@fallback_router.get("/{unknown_path:path}")
def unknown_page(request: Request, session: AnySession) -> Response:
    return render(
        request,
        session,
        "error.html",
        {"status_code": 404, "message": "There is no such page.", "hint": None},
        status_code=404,
    )
