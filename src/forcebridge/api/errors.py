"""Maps the error hierarchy (``forcebridge.errors``) to HTTP responses in the error envelope.

The only place where exceptions become status codes. Unexpected exceptions are bugs: logged with
their traceback and answered with a 500 envelope carrying the request id, never the traceback.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from forcebridge.errors import ExternalServiceError, ForceBridgeError, RateLimited

log = structlog.get_logger("forcebridge.api")

_STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Authentication required: send 'Authorization: JWT <API access token>'.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Payload too large.",
    415: "Unsupported media type: send JSON.",
}


def error_body(
    request: Request,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    hint: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "message": message, "errors": errors or []}
    if hint:
        body["hint"] = hint
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ForceBridgeError)
    async def handle_forcebridge_error(request: Request, error: ForceBridgeError) -> JSONResponse:
        headers: dict[str, str] = {}
        retry_after = getattr(error, "retry_after", None)
        if isinstance(error, RateLimited | ExternalServiceError) and retry_after:
            headers["Retry-After"] = str(max(1, round(retry_after)))
        if error.status_code == 401:
            headers["WWW-Authenticate"] = 'JWT realm="forcebridge"'
        if error.status_code >= 500 and not isinstance(error, ExternalServiceError):
            log.error("api.error", error=error.message, exc_info=error)
        errors = error.details if isinstance(error.details, list) else []
        return JSONResponse(
            error_body(request, error.message, errors, error.hint),
            status_code=error.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def handle_validation_error(
        request: Request, error: RequestValidationError
    ) -> JSONResponse:
        errors = []
        for item in error.errors():
            location = [
                str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")
            ]
            errors.append(
                {"field": ".".join(location) or None, "message": item.get("msg", "invalid")}
            )
        summary = "; ".join(
            f"{entry['field']}: {entry['message']}" if entry["field"] else entry["message"]
            for entry in errors[:5]
        )
        return JSONResponse(
            error_body(request, f"Invalid request: {summary}", errors), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def handle_http_exception(
        request: Request, error: StarletteHTTPException
    ) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) and error.detail else None
        if message is None or message == "Not Found":
            message = _STATUS_MESSAGES.get(error.status_code, "Request failed.")
        return JSONResponse(
            error_body(request, message),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def handle_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("api.unexpected_error", exc_info=error, path=request.url.path)
        return JSONResponse(
            error_body(request, "Internal error. The request id identifies it in the server log."),
            status_code=500,
        )
