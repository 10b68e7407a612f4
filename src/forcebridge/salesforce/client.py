"""Typed client for the part of Salesforce's REST API ForceBridge uses, counting every call.

It takes a ready ``httpx2.Client`` whose ``base_url`` is the org's instance URL (and whose auth is a
:class:`~forcebridge.salesforce.auth.SalesforceAuth`). Failures are raised as
:mod:`forcebridge.errors` classes (see :mod:`forcebridge.salesforce.errors`); a record lookup that
answers 404 raises ``NotFound``.

The org's daily API quota is shared by every integration, so calls are batched (DESIGN §6):
sObject Collections take 200 records a call for writes, and reads by id use the collections
retrieve (up to 2000 ids a call). ``describe`` is cached with a TTL. Every response's
``Sforce-Limit-Info: api-usage=N/M`` is kept in :attr:`SalesforceClient.api_usage`, so background
work can pause before the quota runs out.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import httpx2

from forcebridge.errors import ExternalServiceError, InvalidInput, NotFound
from forcebridge.salesforce.errors import (
    SERVICE,
    error_from_response,
    error_from_transport,
    parse_api_usage,
)
from forcebridge.salesforce.ids import normalize_id
from forcebridge.salesforce.soql import identifier

COLLECTION_WRITE_LIMIT = 200  # records per sObject Collections create/update/delete
COLLECTION_RETRIEVE_LIMIT = 2000  # ids per sObject Collections retrieve (POST form)
# A composite request holds up to 25 subrequests, at most 5 of them queries (api-contracts §B.7).
COMPOSITE_QUERY_LIMIT = 5

_API_VERSION = re.compile(r"^v\d{2,3}\.\d$")
_SOBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_REFERENCE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


class SalesforceClient:
    """Salesforce REST calls with ForceBridge's error classes, batching and metadata caching."""

    def __init__(
        self,
        http: httpx2.Client,
        *,
        api_version: str = "v62.0",
        cache_ttl_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not _API_VERSION.match(api_version):
            raise InvalidInput(f"{api_version!r} is not a Salesforce API version such as v62.0")
        self._http = http
        self.api_version = api_version
        self._prefix = f"/services/data/{api_version}"
        self._cache_ttl = cache_ttl_seconds
        self._clock = clock
        self._describe_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.api_usage: tuple[int, int] | None = None

    # -- org ------------------------------------------------------------------------------

    def versions(self) -> list[dict[str, Any]]:
        """``GET /services/data/``: the API versions the org serves (no quota cost)."""
        body = self._body(self._send("GET", "/services/data/"))
        if not isinstance(body, list):
            raise _unexpected("GET /services/data/", "a list")
        return body

    def limits(self) -> dict[str, Any]:
        """``GET /limits/``: ``DailyApiRequests {Max, Remaining}`` and the org's other limits."""
        return self._object("GET", f"{self._prefix}/limits/")

    def describe(self, sobject: str) -> dict[str, Any]:
        """The object's DescribeSObjectResult (fields, ``keyPrefix``...), cached for the TTL."""
        name = _sobject(sobject)
        now = self._clock()
        cached = self._describe_cache.get(name)
        if cached is not None and now - cached[0] < self._cache_ttl:
            return cached[1]
        result = self._object("GET", f"{self._prefix}/sobjects/{name}/describe")
        self._describe_cache[name] = (now, result)
        return result

    # -- records --------------------------------------------------------------------------

    def get_record(
        self, sobject: str, record_id: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """One record (all fields, or ``fields``); ``NotFound`` when absent or not visible."""
        name = _sobject(sobject)
        canonical = normalize_id(record_id, sobject=name)
        params = {"fields": ",".join(identifier(field) for field in fields)} if fields else None
        return self._object(
            "GET",
            f"{self._prefix}/sobjects/{name}/{canonical}",
            params=params,
            not_found=f"Salesforce {name} {canonical}",
        )

    def create_record(self, sobject: str, values: Mapping[str, Any]) -> str:
        """``POST /sobjects/{name}/``: the new record's 18-character id."""
        name = _sobject(sobject)
        result = self._object("POST", f"{self._prefix}/sobjects/{name}/", json=dict(values))
        record_id = result.get("id")
        if not isinstance(record_id, str):
            raise _unexpected(f"POST sobjects/{name}", "an id")
        return record_id

    def update_record(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        """``PATCH /sobjects/{name}/{id}`` with only the changed fields (204)."""
        name = _sobject(sobject)
        canonical = normalize_id(record_id, sobject=name)
        self._send(
            "PATCH",
            f"{self._prefix}/sobjects/{name}/{canonical}",
            json=dict(values),
            not_found=f"Salesforce {name} {canonical}",
        )

    def update_records(
        self, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Update many records, 200 per call (``PATCH /composite/sobjects``, ``allOrNone: false``).

        Each record holds ``Id`` (or ``id``) and the fields to change. Returns one SaveResult per
        record, in order: ``{"id", "success", "errors": [{"statusCode", "message", "fields"}]}``;
        a record that failed does not stop the others.
        """
        name = _sobject(sobject)
        prepared = [self._collection_record(name, record) for record in records]
        results: list[dict[str, Any]] = []
        for start in range(0, len(prepared), COLLECTION_WRITE_LIMIT):
            chunk = prepared[start : start + COLLECTION_WRITE_LIMIT]
            body = self._body(
                self._send(
                    "PATCH",
                    f"{self._prefix}/composite/sobjects",
                    json={"allOrNone": False, "records": chunk},
                )
            )
            if not isinstance(body, list) or len(body) != len(chunk):
                raise _unexpected("PATCH composite/sobjects", "one result per record")
            results.extend(body)
        return results

    def get_records(
        self, sobject: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The records with these ids (2000 per call), with ``Id`` and ``fields``.

        Uses the sObject Collections retrieve, which answers ``null`` for ids that are absent or
        not visible to the integration user: those are left out.
        """
        name = _sobject(sobject)
        if not fields:
            raise InvalidInput("get_records needs the fields to read")
        # Always ask for Id: the retrieve answers only the named fields, and callers match on it.
        field_names = list(dict.fromkeys(["Id", *(identifier(field) for field in fields)]))
        canonical_ids = list(dict.fromkeys(normalize_id(value, sobject=name) for value in ids))
        records: list[dict[str, Any]] = []
        for start in range(0, len(canonical_ids), COLLECTION_RETRIEVE_LIMIT):
            chunk = canonical_ids[start : start + COLLECTION_RETRIEVE_LIMIT]
            body = self._body(
                self._send(
                    "POST",
                    f"{self._prefix}/composite/sobjects/{name}",
                    json={"ids": chunk, "fields": field_names},
                )
            )
            if not isinstance(body, list):
                raise _unexpected(f"POST composite/sobjects/{name}", "a list")
            records.extend(record for record in body if isinstance(record, dict))
        return records

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """Every record of a SOQL query (build it with :mod:`forcebridge.salesforce.soql`).

        Follows ``nextRecordsUrl`` batch by batch (up to 2000 records each).
        """
        page = self._object("GET", f"{self._prefix}/query", params={"q": soql})
        yield from self._rest_of_query(page, "query")

    def query_all(self, soql: str) -> Iterator[dict[str, Any]]:
        """Like :meth:`query`, through ``/queryAll``: deleted rows come back too, with
        ``IsDeleted = true`` (records in the Recycle Bin; hard-deleted ones are gone)."""
        page = self._object("GET", f"{self._prefix}/queryAll", params={"q": soql})
        yield from self._rest_of_query(page, "queryAll")

    def composite_queries(
        self,
        queries: Mapping[str, str],
        *,
        include_deleted: Collection[str] = (),
        batch_size: int | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Up to :data:`COMPOSITE_QUERY_LIMIT` SOQL queries in ONE call (``POST /composite``).

        ``queries`` maps a reference name (letters, digits, ``_``) to its SOQL; the queries named
        in ``include_deleted`` run as ``queryAll``. Returns every query's records by name.
        Salesforce counts a composite request as one API call (api-contracts §B.7); a result with
        a ``nextRecordsUrl`` (over ``batch_size`` rows, 2000 by default) is followed with one
        more call per batch. The subrequests run with ``allOrNone: false`` (they are reads); the
        first one that failed is raised as the error its stand-alone call would have raised.
        """
        if not queries or len(queries) > COMPOSITE_QUERY_LIMIT:
            raise InvalidInput(
                f"A composite request takes 1 to {COMPOSITE_QUERY_LIMIT} queries, "
                f"not {len(queries)}"
            )
        headers = {"Sforce-Query-Options": f"batchSize={int(batch_size)}"} if batch_size else None
        subrequests: list[dict[str, Any]] = []
        for reference, soql in queries.items():
            if not _REFERENCE_ID.match(reference):
                raise InvalidInput(f"{reference!r} is not a composite reference id")
            resource = "queryAll" if reference in include_deleted else "query"
            subrequest: dict[str, Any] = {
                "method": "GET",
                "url": f"{self._prefix}/{resource}?{urllib.parse.urlencode({'q': soql})}",
                "referenceId": reference,
            }
            if headers:
                subrequest["httpHeaders"] = headers
            subrequests.append(subrequest)
        body = self._object(
            "POST",
            f"{self._prefix}/composite",
            json={"allOrNone": False, "compositeRequest": subrequests},
        )
        responses = body.get("compositeResponse")
        if not isinstance(responses, list):
            raise _unexpected("POST composite", "a compositeResponse list")
        by_reference = {
            str(item.get("referenceId")): item for item in responses if isinstance(item, dict)
        }
        results: dict[str, list[dict[str, Any]]] = {}
        for subrequest in subrequests:
            reference = subrequest["referenceId"]
            item = by_reference.get(reference)
            if item is None:
                raise _unexpected("POST composite", f"a response for {reference}")
            status = item.get("httpStatusCode")
            page = item.get("body")
            if not isinstance(status, int) or status >= 400:
                raise error_from_response(self._subresponse(subrequest, status, page))
            if not isinstance(page, dict):
                raise _unexpected(f"composite {reference}", "a query result")
            resource = "queryAll" if reference in include_deleted else "query"
            results[reference] = list(self._rest_of_query(page, resource))
        return results

    # -- plumbing -------------------------------------------------------------------------

    def _rest_of_query(self, page: dict[str, Any], resource: str) -> Iterator[dict[str, Any]]:
        """The records of a query result page and of every page after it."""
        while True:
            yield from page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            # Follow only paths of this org's REST API: the URL comes from a response body.
            if not isinstance(next_url, str) or not next_url.startswith(
                f"{self._prefix}/{resource}/"
            ):
                raise _unexpected(resource, "a nextRecordsUrl under this API version")
            page = self._object("GET", next_url)

    def _subresponse(
        self, subrequest: dict[str, Any], status: object, body: object
    ) -> httpx2.Response:
        """A failed subrequest as the stand-alone response it stands for, so that it is
        classified exactly like one (transient, needs an admin, ...)."""
        return httpx2.Response(
            status if isinstance(status, int) else 502,
            json=body,
            request=httpx2.Request(subrequest["method"], subrequest["url"]),
        )

    def _collection_record(self, sobject: str, record: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(record)
        raw_id = values.pop("Id", None) or values.pop("id", None)
        if not isinstance(raw_id, str):
            raise InvalidInput("Every record to update needs its Id")
        values.pop("attributes", None)
        return {
            "attributes": {"type": sobject},
            "id": normalize_id(raw_id, sobject=sobject),
            **values,
        }

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = self._body(self._send(method, path, **kwargs))
        if not isinstance(body, dict):
            raise _unexpected(f"{method} {path}", "an object")
        return body

    def _send(
        self, method: str, path: str, *, not_found: str | None = None, **kwargs: Any
    ) -> httpx2.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.TransportError as exc:
            raise error_from_transport(exc) from None
        usage = parse_api_usage(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.api_usage = usage
        if response.is_error:
            if response.status_code == 404 and not_found is not None:
                raise NotFound(
                    f"{not_found} does not exist or the integration user cannot see it",
                    hint="Check the id, and the integration user's sharing access to the record.",
                )
            raise error_from_response(response)
        return response

    @staticmethod
    def _body(response: httpx2.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise _unexpected(
                f"{response.request.method} {response.request.url.path}", "JSON"
            ) from None


def _sobject(name: str) -> str:
    if not isinstance(name, str) or not _SOBJECT_NAME.match(name):
        raise InvalidInput(f"{name!r} is not a Salesforce object name")
    return urllib.parse.quote(name, safe="")


def _unexpected(where: str, expected: str) -> ExternalServiceError:
    return ExternalServiceError(
        f"Salesforce answered {where} with an unexpected body (expected {expected})",
        service=SERVICE,
    )
