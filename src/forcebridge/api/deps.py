"""FastAPI dependencies of the external API: the container, and the caller's API token.

The token is read only from the ``Authorization`` header (never a query string or cookie, so it
stays out of access logs and browser history). Every failure, from a missing header to a revoked
token, becomes the same ``Unauthenticated`` error and so the same 401 body.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from forcebridge.container import Container
from forcebridge.errors import ValidationFailed
from forcebridge.tokens.service import AuthenticatedToken, authenticate

# Declared as an apiKey header so OpenAPI (and /docs' "Authorize" button) shows how to send it.
# auto_error=False: a missing header must give our 401 envelope, not FastAPI's default body.
api_token_header = APIKeyHeader(
    name="Authorization",
    scheme_name="ApiAccessToken",
    description=(
        "The connection's API access token, sent as `JWT <token>` (SFJC's scheme); "
        "`Bearer <token>` is accepted too."
    ),
    auto_error=False,
)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def require_token(
    request: Request,
    authorization: Annotated[str | None, Depends(api_token_header)],
) -> AuthenticatedToken:
    """The verified token of the caller; raises ``Unauthenticated`` (401) otherwise."""
    return authenticate(get_container(request), authorization)


def reject_unknown_query_parameters(
    request: Request, _token: Annotated[AuthenticatedToken, Depends(require_token)]
) -> None:
    """422 for query parameters the route does not declare.

    A misspelt flag (``allowupsert=true``, ``replace=ture`` is caught by its type) would otherwise
    be ignored silently and the request would run with the default. Runs after the token check,
    so an unauthenticated caller still gets the one 401 and learns nothing about the route.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared = _declared_query_names(dependant)
    unknown = sorted(name for name in request.query_params if name not in declared)
    if unknown:
        listed = ", ".join(repr(name) for name in unknown[:5])
        raise ValidationFailed(
            f"Unknown query parameter(s): {listed}. Accepted: {', '.join(sorted(declared))}.",
            details=[
                {"field": name[:100], "message": "unknown query parameter"} for name in unknown[:5]
            ],
        )


def _declared_query_names(dependant: Any) -> set[str]:
    names = {field.alias for field in getattr(dependant, "query_params", [])}
    for sub_dependant in getattr(dependant, "dependencies", []):
        names |= _declared_query_names(sub_dependant)
    return names


ContainerDep = Annotated[Container, Depends(get_container)]
TokenDep = Annotated[AuthenticatedToken, Depends(require_token)]
