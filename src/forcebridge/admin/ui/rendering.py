"""How every admin page is answered: templates, the session and CSRF dependencies, error pages.

Pages are Jinja2 templates (autoescaped) rendered with the session's flash messages and CSRF token.
:class:`UiRoute` is the route class of the UI router: it turns what a service raises into a page,
never a JSON body or a stack trace:

- not signed in → a redirect to the sign-in page (``next`` keeps where the admin was going);
- a ``ForceBridgeError`` from a form post → the message and hint flashed on the page the form was
  on (post/redirect/get); from a page → an error page with the error's status;
- anything else → logged with its traceback, and a plain error page.

Every response gets a strict Content-Security-Policy: all scripts, styles and images are ours.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

import structlog
from fastapi import Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from forcebridge.admin.ui.sessions import CSRF_FIELD, LoginThrottle, SessionManager, UiSession
from forcebridge.api.deps import get_container
from forcebridge.errors import ForceBridgeError, ValidationFailed
from forcebridge.models import AdminUser

log = structlog.get_logger("forcebridge.admin.ui")
ModelT = TypeVar("ModelT", bound=BaseModel)

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _format_time(moment: datetime | str | None) -> str:
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment)
        except ValueError:
            return moment
        return parsed.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.filters["when"] = _format_time


class LoginRequired(Exception):
    """Raised by :func:`admin_session` when nobody is signed in."""


class CsrfRejected(Exception):
    """A form post without the session's CSRF token (or from another origin)."""


def session_manager(request: Request) -> SessionManager:
    state = request.app.state
    manager: SessionManager | None = getattr(state, "admin_ui_sessions", None)
    if manager is None:
        manager = SessionManager(state.container)
        state.admin_ui_sessions = manager
    return manager


def login_throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    throttle: LoginThrottle | None = getattr(state, "admin_ui_login_throttle", None)
    if throttle is None:
        throttle = LoginThrottle()
        state.admin_ui_login_throttle = throttle
    return throttle


def ui_session(request: Request) -> UiSession:
    """The visitor's session (a fresh anonymous one when there is none or it is invalid)."""
    session: UiSession | None = getattr(request.state, "ui_session", None)
    if session is None:
        session = session_manager(request).load(request)
        request.state.ui_session = session
    return session


def admin_session(
    request: Request, session: Annotated[UiSession, Depends(ui_session)]
) -> UiSession:
    """The signed-in admin's session; an admin deleted since signing in is signed out."""
    if not session.signed_in:
        raise LoginRequired
    with get_container(request).session() as db:
        exists = db.scalar(select(AdminUser.id).where(AdminUser.id == session.admin_id))
    if exists is None:
        session_manager(request).end(session)
        raise LoginRequired
    return session


def csrf_protected(
    request: Request,
    session: Annotated[UiSession, Depends(ui_session)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> UiSession:
    """Every POST carries the session's CSRF token, and a browser's Origin (when sent) is ours."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{request.url.scheme}://{request.url.netloc}"
        if origin.rstrip("/") != expected:
            raise CsrfRejected
    if not session.csrf_matches(csrf_token):
        raise CsrfRejected
    return session


def signed_in_post(
    request: Request,
    session: Annotated[UiSession, Depends(csrf_protected)],
) -> UiSession:
    """A form post of a signed-in admin: CSRF first, so a forged post learns nothing."""
    return admin_session(request, session)


AnySession = Annotated[UiSession, Depends(ui_session)]
AdminSession = Annotated[UiSession, Depends(admin_session)]
AdminPost = Annotated[UiSession, Depends(signed_in_post)]
CsrfSession = Annotated[UiSession, Depends(csrf_protected)]


def render(
    request: Request,
    session: UiSession,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    values = {
        "request": request,
        "session": session,
        "csrf_field": CSRF_FIELD,
        "csrf_token": session.csrf_token,
        "flashes": session.take_flashes(),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    _finish(request, response, session)
    return response


def redirect(request: Request, session: UiSession, url: str) -> RedirectResponse:
    """303 See Other after a post, so reloading the page does not post again."""
    response = RedirectResponse(url, status_code=303)
    _finish(request, response, session)
    return response


def safe_next(target: str | None, default: str = "/admin/") -> str:
    """Only paths of this UI: a ``next`` or Referer must not send the admin to another site."""
    if not target:
        return default
    parts = urlsplit(target)
    path = parts.path
    if parts.scheme or parts.netloc or not path.startswith("/admin") or "\\" in target:
        return default
    return path + (f"?{parts.query}" if parts.query else "")


def _referring_page(request: Request) -> str:
    """The page a form was posted from (same site only), to show the error on it."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc:
        return "/admin/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def _finish(request: Request, response: Response, session: UiSession) -> None:
    session_manager(request).write(request, response, session)
    response.headers.update(SECURITY_HEADERS)


def _error_page(
    request: Request, status_code: int, message: str, hint: str | None = None
) -> HTMLResponse:
    session = ui_session(request)
    return render(
        request,
        session,
        "error.html",
        {"status_code": status_code, "message": message, "hint": hint},
        status_code=status_code,
    )


class UiRoute(APIRoute):
    """Turns every failure of a UI route into a page (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_as_page(request: Request) -> Response:
            try:
                return await handle(request)
            except LoginRequired:
                target = request.url.path
                if request.method == "GET" and request.url.query:
                    target += "?" + request.url.query
                session = ui_session(request)
                login = "/admin/login"
                if request.method == "GET" and target not in ("/admin", "/admin/"):
                    login += "?next=" + quote(target, safe="")
                return redirect(request, session, login)
            except CsrfRejected:
                return _error_page(
                    request,
                    403,
                    "This form has expired or did not come from this site, so it was not sent.",
                    "Reload the page and submit the form again.",
                )
            except RequestValidationError:
                return _error_page(
                    request, 400, "The request was malformed.", "Go back and use the page's forms."
                )
            except ForceBridgeError as error:
                if request.method == "POST":
                    session = ui_session(request)
                    session.flash("error", error.message, error.hint)
                    back = _referring_page(request)
                    return redirect(request, session, back)
                status = error.status_code if 400 <= error.status_code < 600 else 500
                return _error_page(request, status, error.message, error.hint)
            except Exception:
                log.exception("admin_ui_unexpected_error", path=request.url.path)
                return _error_page(
                    request,
                    500,
                    "Something went wrong on our side; the details are in the server log.",
                )

        return handle_as_page


def validation_sentences(error: ValidationError) -> list[str]:
    """Pydantic's errors as short sentences naming the field (never echoing the input)."""
    lines = []
    for item in error.errors():
        where = " → ".join(str(part) for part in item["loc"])
        lines.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return lines[:20]


def parse_form(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate form data with the admin API's own input model; a ``ValidationFailed`` if bad."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(
            "Some values were not accepted: " + "; ".join(validation_sentences(error)),
        ) from None
