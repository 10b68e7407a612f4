"""Typed client for the part of Jira Cloud's REST API (v3, or v2 on request) ForceBridge uses.

It takes a ready ``httpx2.Client`` whose ``base_url`` is the site (``https://acme.atlassian.net``)
or, for OAuth 3LO, ``https://api.atlassian.com/ex/jira/<cloudId>``; authentication comes with that
client (:mod:`forcebridge.jira.auth`). Every failure is raised as a :mod:`forcebridge.errors` class
(see :mod:`forcebridge.jira.errors`); issue and project lookups raise ``NotFound`` for a 404.
Rate-limit headers of every response are kept in :attr:`JiraClient.rate_limit`. An optional
``request_gate`` (:class:`RequestGate`; ForceBridge's is
:class:`forcebridge.quota.jira_throttle.JiraThrottleGate`) sees every request before it is sent
(and may refuse it, unsent, while Jira throttles it) and every response after.

Vendor quirks handled here (api-contracts §A):
- search uses ``POST /search/jql`` (the offset-paged ``/search`` was removed in 2025): pages are
  chained by ``nextPageToken``, absent on the last page; there is no ``total``.
- ``fields`` is cached with a TTL (it is the same for every issue and costs a call each time);
  transitions are **not** cached: they depend on the issue's current status, which people change.
- multipart uploads need ``X-Atlassian-Token: no-check`` and parts named ``file``; the answer is 200
  with a list.
- issue ids are numeric strings; keys are ``PROJ-123``. Both are checked before they reach a URL.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any, Protocol, cast

import httpx2

from forcebridge.errors import ExternalServiceError, InvalidInput, NeedsAdminAction, NotFound
from forcebridge.jira.adf import text_to_adf
from forcebridge.jira.errors import (
    SERVICE,
    JiraRateLimit,
    error_from_response,
    error_from_transport,
)

# Project keys: a letter, then letters, digits or underscores; issue keys add "-<number>".
# Jira matches keys case-insensitively, so lower case is accepted too.
_ISSUE_ID_OR_KEY = re.compile(r"^(?:\d{1,18}|[A-Za-z][A-Za-z0-9_]{0,254}-\d{1,18})$")
_PROJECT_ID_OR_KEY = re.compile(r"^(?:\d{1,18}|[A-Za-z][A-Za-z0-9_]{0,254})$")
_NUMERIC_ID = re.compile(r"^\d{1,18}$")
_ATTACHMENT_CONTENT_PATH = re.compile(r"/attachment/content/(\d{1,18})/?$")

MAX_SEARCH_PAGE_SIZE = 5000
MAX_BULK_CREATE = 50  # POST /issue/bulk takes "up to 50" issues
COMMENT_PAGE_SIZE = 100


class RequestGate(Protocol):
    """Sees each request (``path`` from ``/rest/...``, without the base URL's own path)."""

    def before_request(self, method: str, path: str) -> None:
        """Raise (a ForceBridge error) to refuse the request; it is then never sent."""

    def after_response(self, method: str, path: str, response: httpx2.Response) -> None:
        """Called with every response, before an error response is raised."""


class JiraClient:
    """Jira Cloud REST calls with ForceBridge's error classes and metadata caching."""

    def __init__(
        self,
        http: httpx2.Client,
        *,
        api_version: str = "3",
        cache_ttl_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
        request_gate: RequestGate | None = None,
    ) -> None:
        if api_version not in ("2", "3"):
            raise InvalidInput(f"Unsupported Jira REST API version {api_version!r} (use 2 or 3)")
        self._http = http
        self.api_version = api_version
        self._prefix = f"/rest/api/{api_version}"
        self._cache_ttl = cache_ttl_seconds
        self._clock = clock
        self._fields_cache: tuple[float, list[dict[str, Any]]] | None = None
        self.rate_limit: JiraRateLimit | None = None
        self._gate = request_gate

    # -- server and user -------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        """``GET /serverInfo``: ``baseUrl``, ``deploymentType`` ("Cloud"), ``versionNumbers``..."""
        return self._json("GET", "/serverInfo")

    def myself(self) -> dict[str, Any]:
        """``GET /myself``: the user behind the credentials (``accountId``, ``displayName``)."""
        return self._json("GET", "/myself")

    # -- projects and issues ------------------------------------------------------------------

    def get_project(self, id_or_key: str) -> dict[str, Any]:
        """The project (with ``issueTypes``); ``NotFound`` when absent or not visible."""
        _check(_PROJECT_ID_OR_KEY, id_or_key, "Jira project id or key")
        return self._json(
            "GET", f"/project/{_segment(id_or_key)}", not_found=f"Jira project {id_or_key}"
        )

    def get_issue(
        self,
        id_or_key: str,
        *,
        fields: Sequence[str] | None = None,
        expand: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The issue; ``fields=None`` asks for all of them. ``NotFound`` when absent or hidden.

        The answer carries the issue's *current* key even when ``id_or_key`` is an old key of a
        moved issue.
        """
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        params: dict[str, str] = {}
        if fields is not None:
            params["fields"] = ",".join(fields) if fields else "id"
        if expand:
            params["expand"] = ",".join(expand)
        return self._json(
            "GET",
            f"/issue/{_segment(id_or_key)}",
            params=params,
            not_found=f"Jira issue {id_or_key}",
        )

    def create_issue(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /issue``: returns ``{"id", "key", "self"}``.

        Not idempotent (Jira has no idempotency key): callers record a marker first and search for
        it before any retry (DESIGN §5).
        """
        return self._json("POST", "/issue", json={"fields": dict(fields)})

    def create_issues(self, issues: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``POST /issue/bulk`` with each issue's ``fields`` (at most :data:`MAX_BULK_CREATE`).

        Returns one entry per issue, in order: ``{"id", "key", "self"}`` when created, or
        ``{"error": <ForceBridge error>}`` when Jira refused that one (its ``elementErrors``).
        Jira answers 201 when any issue was created, listing the created ones in request order
        and the refused ones by ``failedElementNumber``; it answers 400 when it refused them all,
        which is raised (a 400 that names no field is not worth retrying). Not idempotent, like
        :meth:`create_issue`.
        """
        if not 1 <= len(issues) <= MAX_BULK_CREATE:
            raise InvalidInput(f"Jira creates 1 to {MAX_BULK_CREATE} issues per bulk request")
        body = self._json(
            "POST",
            "/issue/bulk",
            json={"issueUpdates": [{"fields": dict(fields)} for fields in issues]},
        )
        refused: dict[int, dict[str, Any]] = {}
        for entry in body.get("errors") or []:
            if isinstance(entry, dict) and isinstance(entry.get("failedElementNumber"), int):
                refused[entry["failedElementNumber"]] = entry
        created = iter(body.get("issues") or [])
        results: list[dict[str, Any]] = []
        for position in range(len(issues)):
            if position in refused:
                results.append({"error": _bulk_item_error(refused[position])})
                continue
            issue = next(created, None)
            if not isinstance(issue, dict) or "id" not in issue or "key" not in issue:
                raise ExternalServiceError(
                    "Jira answered a bulk create with fewer created issues than it accepted",
                    service=SERVICE,
                    status=201,
                )
            results.append(issue)
        return results

    def edit_issue(
        self, id_or_key: str, fields: Mapping[str, Any], *, notify: bool = False
    ) -> None:
        """``PUT /issue/{id}`` with ``notifyUsers``.

        Jira honours ``notifyUsers=false`` only for admins; for others it is ignored.
        """
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        self._send(
            "PUT",
            f"/issue/{_segment(id_or_key)}",
            params={"notifyUsers": _flag(notify)},
            json={"fields": dict(fields)},
            not_found=f"Jira issue {id_or_key}",
        )

    def search(
        self, jql: str, *, fields: Sequence[str], page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every issue matching ``jql`` (build it with :mod:`forcebridge.jira.jql`), page by page.

        ``fields`` is explicit because ``/search/jql`` returns only ``id`` by default.
        """
        if not 1 <= page_size <= MAX_SEARCH_PAGE_SIZE:
            raise InvalidInput(f"page_size must be between 1 and {MAX_SEARCH_PAGE_SIZE}")
        body: dict[str, Any] = {
            "jql": jql,
            "fields": list(fields) or ["id"],
            "maxResults": page_size,
        }
        seen_tokens: set[str] = set()
        while True:
            page = self._json("POST", "/search/jql", json=body)
            issues = page.get("issues")
            if not isinstance(issues, list):
                raise ExternalServiceError(
                    "Jira answered a search without an issue list", service=SERVICE, status=200
                )
            yield from issues
            token = page.get("nextPageToken")
            if not token or page.get("isLast") is True:
                return
            if token in seen_tokens:
                # A token handed out twice would loop forever; stop loudly instead.
                raise ExternalServiceError(
                    "Jira returned the same nextPageToken twice while searching",
                    service=SERVICE,
                    status=200,
                )
            seen_tokens.add(token)
            body = {**body, "nextPageToken": token}

    def fields(self) -> list[dict[str, Any]]:
        """``GET /field`` (system and custom fields), cached for ``cache_ttl_seconds``."""
        now = self._clock()
        if self._fields_cache is not None and now - self._fields_cache[0] < self._cache_ttl:
            return self._fields_cache[1]
        fields = self._json_any("GET", "/field")
        if not isinstance(fields, list):
            raise ExternalServiceError(
                "Jira answered GET /field with something other than a list", service=SERVICE
            )
        self._fields_cache = (now, fields)
        return fields

    # -- transitions ----------------------------------------------------------------------

    def transitions(self, id_or_key: str) -> list[dict[str, Any]]:
        """Transitions available from the issue's current status."""
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        page = self._json(
            "GET", f"/issue/{_segment(id_or_key)}/transitions", not_found=f"Jira issue {id_or_key}"
        )
        return list(page.get("transitions") or [])

    def transition(self, id_or_key: str, transition_id: str) -> None:
        """``POST /issue/{id}/transitions`` (204)."""
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        _check(_NUMERIC_ID, transition_id, "Jira transition id")
        self._send(
            "POST",
            f"/issue/{_segment(id_or_key)}/transitions",
            json={"transition": {"id": transition_id}},
            not_found=f"Jira issue {id_or_key}",
        )

    # -- comments -------------------------------------------------------------------------

    def comments(
        self, id_or_key: str, *, order_by: str = "created", page_size: int = COMMENT_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every comment of the issue, oldest first by default (offset pages of ``comments``)."""
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        if order_by not in ("created", "-created", "+created"):
            raise InvalidInput("order_by must be created, -created or +created")
        start_at = 0
        while True:
            page = self._json(
                "GET",
                f"/issue/{_segment(id_or_key)}/comment",
                params={"startAt": start_at, "maxResults": page_size, "orderBy": order_by},
                not_found=f"Jira issue {id_or_key}",
            )
            comments = page.get("comments") or []
            yield from comments
            start_at += len(comments)
            total = page.get("total")
            # The server may cap maxResults below what was asked, so only an empty page or the
            # announced total ends the walk.
            if not comments or (isinstance(total, int) and start_at >= total):
                return

    def add_comment(
        self,
        id_or_key: str,
        body: str | Mapping[str, Any],
        visibility: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add a comment; a plain-text ``body`` is turned into ADF for v3 (v3 rejects strings).

        ``visibility`` restricts it, e.g. ``{"type": "role", "value": "Administrators"}``.
        """
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        payload: dict[str, Any] = {"body": self._rich_text(body)}
        if visibility is not None:
            payload["visibility"] = dict(visibility)
        return self._json(
            "POST",
            f"/issue/{_segment(id_or_key)}/comment",
            json=payload,
            not_found=f"Jira issue {id_or_key}",
        )

    def edit_comment(
        self,
        id_or_key: str,
        comment_id: str,
        body: str | Mapping[str, Any],
        visibility: Mapping[str, str] | None = None,
        *,
        notify: bool = False,
    ) -> dict[str, Any]:
        """``PUT /issue/{id}/comment/{commentId}``; returns the updated comment."""
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        _check(_NUMERIC_ID, comment_id, "Jira comment id")
        payload: dict[str, Any] = {"body": self._rich_text(body)}
        if visibility is not None:
            payload["visibility"] = dict(visibility)
        return self._json(
            "PUT",
            f"/issue/{_segment(id_or_key)}/comment/{comment_id}",
            params={"notifyUsers": _flag(notify)},
            json=payload,
            not_found=f"Comment {comment_id} of Jira issue {id_or_key}",
        )

    # -- attachments ----------------------------------------------------------------------

    def add_attachment(
        self, id_or_key: str, filename: str, stream: IO[bytes], content_type: str
    ) -> list[dict[str, Any]]:
        """Upload one file (streamed from ``stream``); returns Jira's list of Attachment objects."""
        _check(_ISSUE_ID_OR_KEY, id_or_key, "Jira issue id or key")
        if not filename or "\r" in filename or "\n" in filename:
            raise InvalidInput("An attachment needs a file name on one line")
        response = self._send(
            "POST",
            f"/issue/{_segment(id_or_key)}/attachments",
            # Jira blocks multipart requests without this header (XSRF protection).
            headers={"X-Atlassian-Token": "no-check"},
            files={"file": (filename, stream, content_type)},
            not_found=f"Jira issue {id_or_key}",
        )
        return cast(list[dict[str, Any]], _body(response))

    def download_attachment(self, content_url_or_id: str) -> Iterator[bytes]:
        """The attachment's bytes, streamed in chunks.

        Takes the numeric id or the ``content`` URL of an Attachment. Only the id is taken from a
        URL and the download always goes to this client's own site, so a URL from a payload can
        never send our credentials elsewhere. Jira answers with a redirect to its media service.
        """
        attachment_id = _attachment_id(content_url_or_id)
        path = self._prefix + f"/attachment/content/{attachment_id}"
        return self._stream(path, not_found=f"Jira attachment {attachment_id}")

    # -- plumbing -------------------------------------------------------------------------

    def _rich_text(self, body: str | Mapping[str, Any]) -> Any:
        if isinstance(body, str):
            return text_to_adf(body) if self.api_version == "3" else body
        return dict(body)

    def _stream(self, path: str, *, not_found: str) -> Iterator[bytes]:
        if self._gate is not None:
            self._gate.before_request("GET", path)
        try:
            with self._http.stream("GET", path, follow_redirects=True) as response:
                self._observe(response)
                if self._gate is not None:
                    self._gate.after_response("GET", path, response)
                if response.is_error:
                    response.read()
                    raise self._error(response, not_found)
                yield from response.iter_bytes()
        except httpx2.TransportError as exc:
            raise error_from_transport(exc) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = self._json_any(method, path, **kwargs)
        if not isinstance(body, dict):
            raise ExternalServiceError(
                f"Jira answered {method} {path} with {type(body).__name__}, expected an object",
                service=SERVICE,
            )
        return body

    def _json_any(self, method: str, path: str, **kwargs: Any) -> Any:
        return _body(self._send(method, path, **kwargs))

    def _send(
        self, method: str, path: str, *, not_found: str | None = None, **kwargs: Any
    ) -> httpx2.Response:
        full_path = self._prefix + path
        if self._gate is not None:
            self._gate.before_request(method, full_path)
        try:
            response = self._http.request(method, full_path, **kwargs)
        except httpx2.TransportError as exc:
            raise error_from_transport(exc) from None
        self._observe(response)
        if self._gate is not None:
            self._gate.after_response(method, full_path, response)
        if response.is_error:
            raise self._error(response, not_found)
        return response

    def _observe(self, response: httpx2.Response) -> None:
        self.rate_limit = JiraRateLimit.from_headers(response.headers)

    @staticmethod
    def _error(response: httpx2.Response, not_found: str | None) -> Exception:
        if response.status_code == 404 and not_found is not None:
            return NotFound(
                f"{not_found} does not exist or the Jira user cannot see it",
                hint="Check the id or key, and that the connection's Jira user can browse it.",
            )
        return error_from_response(response)


def _body(response: httpx2.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ExternalServiceError(
            f"Jira answered {response.request.method} {response.request.url.path} "
            "with a body that is not JSON",
            service=SERVICE,
            status=response.status_code,
        ) from None


def _bulk_item_error(entry: Mapping[str, Any]) -> ExternalServiceError:
    """The error of one refused entry of a bulk create (a ``BulkOperationErrorResult``)."""
    raw_element = entry.get("elementErrors")
    element: dict[str, Any] = raw_element if isinstance(raw_element, dict) else {}
    messages = [str(message) for message in element.get("errorMessages") or []]
    raw_field_errors = element.get("errors")
    field_errors = {
        str(name): str(text)
        for name, text in (raw_field_errors.items() if isinstance(raw_field_errors, dict) else ())
    }
    texts = messages + [f"{name}: {text}" for name, text in field_errors.items()]
    status = entry.get("status") if isinstance(entry.get("status"), int) else 400
    message = "Jira did not create the issue: " + ("; ".join(texts) or f"HTTP {status}")
    details: dict[str, Any] = {"errorMessages": messages, "errors": field_errors}
    if status == 400 and field_errors:
        return NeedsAdminAction(
            message,
            service=SERVICE,
            status=status,
            hint="Check the field mapping: the named Jira fields must be on the project's create"
            " screen for the issue type and accept the mapped values.",
            details=details,
        )
    return ExternalServiceError(message, service=SERVICE, status=status, details=details)


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidInput(f"{value!r} is not a valid {what}")


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _attachment_id(content_url_or_id: str) -> str:
    if _NUMERIC_ID.match(content_url_or_id):
        return content_url_or_id
    path = urllib.parse.urlsplit(content_url_or_id).path
    match = _ATTACHMENT_CONTENT_PATH.search(path)
    if not match:
        raise InvalidInput(f"{content_url_or_id!r} is neither an attachment id nor a content URL")
    return match.group(1)
