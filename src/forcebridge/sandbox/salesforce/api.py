"""The versioned REST API (``/services/data/vXX.X/...``) as plain handlers over a route table.

Each route is ``(methods, path template, handler)``. The FastAPI app registers every route with
and without a trailing slash, and ``/composite`` dispatches its subrequests through the same table,
so a subrequest behaves exactly like the stand-alone call. Handlers take a ``Call`` and return a
``Reply``; a ``SalesforceError`` anywhere becomes Salesforce's error array.

Authentication (``Authorization: Bearer`` or the legacy ``OAuth`` scheme), the daily API quota
and the ``Sforce-Limit-Info`` header are applied around the handlers, once per HTTP request.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from forcebridge.sandbox.salesforce.auth import TokenService
from forcebridge.sandbox.salesforce.ids import canonical_id
from forcebridge.sandbox.salesforce.records import (
    DELETED_AT,
    RecordStore,
    SalesforceError,
    Transaction,
    bad_request,
    format_datetime,
    not_found,
    parse_datetime,
)
from forcebridge.sandbox.salesforce.schema import ObjectDefinition
from forcebridge.sandbox.salesforce.soql import Evaluator
from forcebridge.sandbox.storage import DocumentStore

FIRST_VERSION = 31
LATEST_VERSION = 66
SUPPORTED_VERSIONS = tuple(f"{number}.0" for number in range(FIRST_VERSION, LATEST_VERSION + 1))
DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
COLLECTION_LIMIT = 200
COLLECTION_RETRIEVE_LIMIT = 2000
COMPOSITE_LIMIT = 25
COMPOSITE_QUERY_LIMIT = 5  # of the 25: sObject Collections, query and queryAll subrequests
MAX_OPEN_CURSORS = 500
UPDATED_WINDOW_DAYS = 30
DELETED_WINDOW_DAYS = 15
_USAGE = ("org", "api-usage")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": (
        "Record rolled back because not all records were valid and the request was "
        "using AllOrNone header"
    ),
    "fields": [],
}


def release_label(version: str) -> str:
    """The release name of an API version: v31.0 is Summer '14, then three releases a year."""
    steps = int(float(version)) - FIRST_VERSION
    season = ("Summer", "Winter", "Spring")[steps % 3]
    return f"{season} '{14 + (steps + 2) // 3:02d}"


@dataclass
class Call:
    method: str
    version: str
    params: dict[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    user_id: str = ""
    tx: Transaction | None = None
    query_lists: dict[str, list[str]] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body.strip():
            raise bad_request("JSON_PARSER_ERROR", "No content to map due to end-of-input")
        try:
            return json.loads(self.body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:
            raise bad_request(
                "JSON_PARSER_ERROR", f"Unexpected character in JSON body: {error}"
            ) from error


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


@dataclass
class Reply:
    status: int
    body: Any = None
    raw: bytes | None = None
    media_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    template: str  # relative to /services/data/vXX.X
    handler: str
    summary: str
    query_params: tuple[str, ...] = ()

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        return re.compile(f"^{regex}/?$")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.template)


ROUTES: tuple[Route, ...] = (
    Route(("GET",), "", "resources", "Resources available in this API version."),
    Route(("GET",), "/sobjects", "describe_global", "Every object of the org (describeGlobal)."),
    Route(("GET",), "/sobjects/{sobject}", "object_info", "Basic information about an object."),
    Route(("POST",), "/sobjects/{sobject}", "create", "Create a record."),
    Route(("GET",), "/sobjects/{sobject}/describe", "describe", "Full describe of an object."),
    Route(
        ("GET",),
        "/sobjects/{sobject}/updated",
        "updated",
        "Ids updated in a window.",
        ("start", "end"),
    ),
    Route(
        ("GET",),
        "/sobjects/{sobject}/deleted",
        "deleted",
        "Ids deleted in a window.",
        ("start", "end"),
    ),
    Route(
        ("GET", "PATCH", "DELETE"),
        "/sobjects/{sobject}/{record_id}",
        "record",
        "Read, update or delete a record.",
        ("fields",),
    ),
    Route(
        ("GET", "PATCH", "DELETE"),
        "/sobjects/{sobject}/{field_name}/{value}",
        "by_external_id",
        "Blob download, or read / upsert / delete by external id.",
        ("updateOnly",),
    ),
    Route(("GET",), "/query", "query", "Run a SOQL query.", ("q",)),
    Route(("GET",), "/query/{locator}", "query_more", "Next batch of a query."),
    Route(("GET",), "/queryAll", "query_all", "Run a SOQL query including deleted rows.", ("q",)),
    Route(("GET",), "/queryAll/{locator}", "query_more", "Next batch of a queryAll."),
    Route(("GET",), "/limits", "limits", "Org limits and their usage."),
    Route(
        ("GET", "POST", "PATCH", "DELETE"),
        "/composite/sobjects",
        "collection",
        "sObject Collections: create, update, delete (and GET with ids).",
        ("ids", "fields", "allOrNone"),
    ),
    Route(
        ("GET", "POST"),
        "/composite/sobjects/{sobject}",
        "collection_retrieve",
        "sObject Collections: retrieve records of one object.",
        ("ids", "fields"),
    ),
    Route(
        ("PATCH",),
        "/composite/sobjects/{sobject}/{field_name}",
        "collection_upsert",
        "sObject Collections: upsert by external id.",
    ),
    Route(("POST",), "/composite", "composite", "Up to 25 subrequests with references."),
)


class LimitCounter:
    """The org's rolling daily API request count (kept in the store)."""

    def __init__(self, store: DocumentStore, daily_limit: int) -> None:
        self.store = store
        self.default_limit = daily_limit
        if store.get(*_USAGE) is None:
            self.reset()

    def reset(self) -> None:
        self.store.put(*_USAGE, {"used": 0, "max": self.default_limit})

    @property
    def usage(self) -> tuple[int, int]:
        document = self.store.get(*_USAGE) or {"used": 0, "max": self.default_limit}
        return int(document["used"]), int(document["max"])

    def set(self, used: int | None = None, maximum: int | None = None) -> tuple[int, int]:
        current_used, current_max = self.usage
        updated = {
            "used": current_used if used is None else used,
            "max": current_max if maximum is None else maximum,
        }
        self.store.put(*_USAGE, updated)
        return updated["used"], updated["max"]

    def consume(self) -> bool:
        """Counts one call; False (and nothing counted) when the quota is already spent."""
        with self.store.lock:
            used, maximum = self.usage
            if used >= maximum:
                return False
            self.store.put(*_USAGE, {"used": used + 1, "max": maximum})
            return True

    def header(self) -> str:
        used, maximum = self.usage
        return f"api-usage={used}/{maximum}"


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    batch_size: int
    path: str  # "query" or "queryAll"


class DataApi:
    """The handlers of the versioned API."""

    def __init__(
        self,
        records: RecordStore,
        tokens: TokenService,
        limits: LimitCounter,
        on_base_url: Callable[[str], None],
    ) -> None:
        self.records = records
        self.schema = records.schema
        self.tokens = tokens
        self.quota = limits
        self._on_base_url = on_base_url
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._routes = [(route, route.pattern) for route in ROUTES]

    def clear_cursors(self) -> None:
        self._cursors.clear()

    # -- the HTTP entry point -------------------------------------------------------------------
    def handle_http(self, route: Route, call: Call) -> Reply:
        """Version check, authentication, quota, then the handler; always a Salesforce-shaped
        reply.
        """
        if call.version not in SUPPORTED_VERSIONS:
            return error_reply(not_found())
        token = bearer_token(call.headers)
        user_id = self.tokens.user_for_access_token(token) if token else None
        if user_id is None:
            return Reply(
                401,
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                headers={"WWW-Authenticate": "Token"},
            )
        if not self.quota.consume():
            return self._with_usage(
                Reply(
                    403,
                    [
                        {
                            "message": "TotalRequests Limit exceeded.",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED",
                        }
                    ],
                )
            )
        call.user_id = user_id
        self._on_base_url(call.base_url)
        return self._with_usage(self.dispatch(route, call))

    def _with_usage(self, reply: Reply) -> Reply:
        reply.headers["Sforce-Limit-Info"] = self.quota.header()
        return reply

    def dispatch(self, route: Route, call: Call) -> Reply:
        try:
            handler: Callable[[Call], Reply] = getattr(self, route.handler)
            return handler(call)
        except SalesforceError as error:
            return error_reply(error)

    def route_for(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self._routes:
            match = pattern.match(path)
            if match is not None and method in route.methods:
                return route, match.groupdict()
        return None

    # -- helpers --------------------------------------------------------------------------------
    def _object(self, call: Call, key: str = "sobject") -> ObjectDefinition:
        return self.records.object_definition(call.params[key])

    def _write(self, call: Call, action: Callable[[Transaction], Any]) -> Any:
        if call.tx is not None:
            mark = call.tx.savepoint()
            try:
                return action(call.tx)
            except SalesforceError:
                call.tx.rollback(mark)
                raise
        with self.records.transaction() as tx:
            return action(tx)

    def _url(self, call: Call, suffix: str) -> str:
        return f"/services/data/v{call.version}{suffix}"

    # -- resources and metadata -----------------------------------------------------------------
    def resources(self, call: Call) -> Reply:
        names = [
            "sobjects",
            "query",
            "queryAll",
            "composite",
            "limits",
        ]
        return Reply(200, {name: self._url(call, f"/{name}") for name in names})

    def describe_global(self, call: Call) -> Reply:
        return Reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": COLLECTION_LIMIT,
                "sobjects": [
                    definition.basic_info(call.version)
                    for definition in self.schema.objects.values()
                ],
            },
        )

    def object_info(self, call: Call) -> Reply:
        definition = self._object(call)
        recent = sorted(
            self.records.all(definition.name), key=lambda row: row["LastModifiedDate"], reverse=True
        )
        name_field = next((f.name for f in definition.fields if f.name_field), None)
        recent_items = []
        for row in recent[:5]:
            item = {
                "attributes": {
                    "type": definition.name,
                    "url": self.records.record_url(definition.name, row["Id"], call.version),
                },
                "Id": row["Id"],
            }
            if name_field:
                item[name_field] = row.get(name_field)
            recent_items.append(item)
        return Reply(
            200,
            {"objectDescribe": definition.basic_info(call.version), "recentItems": recent_items},
        )

    def describe(self, call: Call) -> Reply:
        definition = self._object(call)
        return Reply(200, self.schema.describe(definition.name, call.version))

    # -- single records -------------------------------------------------------------------------
    def create(self, call: Call) -> Reply:
        definition = self._object(call)
        values = call.json()
        record_id = self._write(
            call, lambda tx: self.records.create(tx, definition.name, values, call.user_id)
        )
        return Reply(
            201,
            {"id": record_id, "success": True, "errors": []},
            headers={"Location": self.records.record_url(definition.name, record_id, call.version)},
        )

    def record(self, call: Call) -> Reply:
        definition = self._object(call)
        raw_id = call.params["record_id"]
        if call.method == "GET":
            document = self.records.get(
                definition.name, self.records.resolve_id(definition, raw_id)
            )
            if document is None or document.get("IsDeleted"):
                raise not_found()
            return Reply(
                200,
                self.records.to_json(
                    definition, document, call.version, _field_list(call.query.get("fields"))
                ),
            )
        if call.method == "PATCH":
            values = call.json()
            self._write(
                call,
                lambda tx: self.records.update(tx, definition.name, raw_id, values, call.user_id),
            )
            return Reply(204)
        self._write(call, lambda tx: self.records.delete(tx, definition.name, raw_id, call.user_id))
        return Reply(204)

    def by_external_id(self, call: Call) -> Reply:
        definition = self._object(call)
        field_name, value = call.params["field_name"], call.params["value"]
        blob = definition.field(value)
        if (
            call.method == "GET"
            and canonical_id(field_name) is not None
            and blob is not None
            and blob.type == "base64"
        ):
            document = self.records.require_live(definition, field_name)
            data = document.get(blob.name)
            if data is None:
                raise not_found()
            return Reply(200, raw=base64.b64decode(data), media_type="application/octet-stream")
        external = definition.field(field_name)
        if external is None or not (
            external.external_id or external.type == "id" or external.auto_number
        ):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        matches = self._match_external(definition, external.name, value)
        if call.method == "GET":
            return self._single_match_reply(call, definition, matches) or Reply(
                200, self.records.to_json(definition, matches[0], call.version)
            )
        if call.method == "DELETE":
            early = self._single_match_reply(call, definition, matches)
            if early is not None:
                return early
            self._write(
                call,
                lambda tx: self.records.delete(tx, definition.name, matches[0]["Id"], call.user_id),
            )
            return Reply(204)
        if len(matches) > 1:
            # Several records share the value: 300 with their URLs, and nothing is written.
            return self._single_match_reply(call, definition, matches) or Reply(300)
        values = call.json()
        if not isinstance(values, dict):
            raise bad_request(
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of sObject from a non-object value",
            )
        result = self._upsert_one(
            call,
            definition,
            external.name,
            value,
            values,
            update_only=call.query.get("updateOnly") == "true",
        )
        if result["created"]:
            return Reply(201, result)
        if float(call.version) < 46:
            return Reply(204)  # before API 46.0 an upsert that updated answered 204 without a body
        return Reply(200, result)

    def _match_external(
        self, definition: ObjectDefinition, field_name: str, value: str
    ) -> list[dict[str, Any]]:
        if field_name == "Id":
            canonical = canonical_id(value)
            document = self.records.get_live(definition.name, canonical) if canonical else None
            return [document] if document is not None else []
        return self.records.find_by_field(definition.name, field_name, value)

    def _single_match_reply(
        self, call: Call, definition: ObjectDefinition, matches: list[dict[str, Any]]
    ) -> Reply | None:
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return Reply(
                300,
                [
                    self.records.record_url(definition.name, row["Id"], call.version)
                    for row in matches
                ],
            )
        return None

    def _upsert_one(
        self,
        call: Call,
        definition: ObjectDefinition,
        field_name: str,
        value: Any,
        values: dict[str, Any],
        update_only: bool = False,
    ) -> dict[str, Any]:
        body = {key: item for key, item in values.items() if key.lower() != field_name.lower()}
        matches = (
            self._match_external(definition, field_name, str(value))
            if value not in (None, "")
            else []
        )
        if len(matches) > 1:
            raise SalesforceError(
                300,
                "DUPLICATE_EXTERNAL_ID",
                f"{field_name}: more than one record found for external id field: {value}",
            )
        if matches:
            record_id = self._write(
                call,
                lambda tx: self.records.update(
                    tx, definition.name, matches[0]["Id"], body, call.user_id
                ),
            )
            return {"id": record_id, "success": True, "errors": [], "created": False}
        if update_only:
            raise not_found()
        if field_name != "Id":
            body[field_name] = value
        record_id = self._write(
            call, lambda tx: self.records.create(tx, definition.name, body, call.user_id)
        )
        return {"id": record_id, "success": True, "errors": [], "created": True}

    # -- change windows -------------------------------------------------------------------------
    def _window(self, call: Call, days: int) -> tuple[datetime, datetime]:
        bounds = []
        for name in ("start", "end"):
            raw = call.query.get(name)
            if not raw:
                raise bad_request("MISSING_ARGUMENT", f"Missing required parameter '{name}'")
            parsed = parse_datetime(raw)
            if parsed is None:
                raise bad_request("INVALID_REPLICATION_DATE", f"Unable to parse {name} date: {raw}")
            bounds.append(parsed)
        start, end = bounds
        # Not the bare wall clock: after a burst of writes SystemModstamp may run a little ahead.
        now = self.records.clock.latest
        if start > end:
            raise bad_request("INVALID_REPLICATION_DATE", "start date must be before end date")
        if start < now - timedelta(days=days):
            raise bad_request(
                "INVALID_REPLICATION_DATE", f"start date cannot be more than {days} days ago"
            )
        return start, min(end, now)

    def updated(self, call: Call) -> Reply:
        definition = self._object(call)
        start, end = self._window(call, UPDATED_WINDOW_DAYS)
        ids = [
            row["Id"]
            for row in self.records.all(definition.name)
            if start <= (parse_datetime(row["SystemModstamp"]) or start) <= end
        ]
        return Reply(200, {"ids": ids, "latestDateCovered": format_datetime(end)})

    def deleted(self, call: Call) -> Reply:
        definition = self._object(call)
        start, end = self._window(call, DELETED_WINDOW_DAYS)
        deleted = []
        for row in self.records.all(definition.name, include_deleted=True):
            moment = parse_datetime(row.get(DELETED_AT) or "") if row.get("IsDeleted") else None
            if moment is not None and start <= moment <= end:
                deleted.append({"id": row["Id"], "deletedDate": row[DELETED_AT]})
        return Reply(
            200,
            {
                "deletedRecords": deleted,
                "earliestDateAvailable": format_datetime(start),
                "latestDateCovered": format_datetime(end),
            },
        )

    # -- queries --------------------------------------------------------------------------------
    def query(self, call: Call) -> Reply:
        return self._run_query(call, include_deleted=False)

    def query_all(self, call: Call) -> Reply:
        return self._run_query(call, include_deleted=True)

    def _run_query(self, call: Call, include_deleted: bool) -> Reply:
        text = call.query.get("q")
        if text is None:
            raise bad_request("MALFORMED_QUERY", "A query string has to be specified")
        result = Evaluator(self.records, call.version).run(text, include_deleted)
        if result.aggregate or not result.records:
            return Reply(
                200, {"totalSize": result.total_size, "done": True, "records": result.records}
            )
        batch_size = _batch_size(call.headers.get("sforce-query-options"))
        cursor = _Cursor(result.records, batch_size, "queryAll" if include_deleted else "query")
        return Reply(200, self._page(call, cursor, 0, locator=None))

    def _page(
        self, call: Call, cursor: _Cursor, offset: int, locator: str | None
    ) -> dict[str, Any]:
        batch = cursor.records[offset : offset + cursor.batch_size]
        next_offset = offset + len(batch)
        page: dict[str, Any] = {
            "totalSize": len(cursor.records),
            "done": next_offset >= len(cursor.records),
        }
        if not page["done"]:
            if locator is None:
                locator = "01g" + "".join(
                    secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(15)
                )
                self._cursors[locator] = cursor
                while len(self._cursors) > MAX_OPEN_CURSORS:
                    self._cursors.popitem(last=False)
            page["nextRecordsUrl"] = self._url(call, f"/{cursor.path}/{locator}-{next_offset}")
        elif locator is not None:
            self._cursors.pop(locator, None)  # the last batch closes the cursor, as in a real org
        page["records"] = batch
        return page

    def query_more(self, call: Call) -> Reply:
        match = _LOCATOR.match(call.params["locator"])
        cursor = self._cursors.get(match.group(1)) if match else None
        if match is None or cursor is None or int(match.group(2)) > len(cursor.records):
            raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursors.move_to_end(match.group(1))
        return Reply(200, self._page(call, cursor, int(match.group(2)), match.group(1)))

    def limits(self, call: Call) -> Reply:
        used, maximum = self.quota.usage

        def unused(limit: int) -> dict[str, int]:
            return {"Max": limit, "Remaining": limit}

        return Reply(
            200,
            {
                "ConcurrentAsyncGetReportInstances": unused(200),
                "ConcurrentSyncReportRuns": unused(20),
                "DailyApiRequests": {"Max": maximum, "Remaining": max(maximum - used, 0)},
                "DailyAsyncApexExecutions": unused(250000),
                "DailyBulkApiBatches": unused(15000),
                "DailyBulkV2QueryFileStorageMB": unused(976562),
                "DailyBulkV2QueryJobs": unused(10000),
                "DailyGenericStreamingApiEvents": unused(10000),
                "DailyStreamingApiEvents": unused(10000),
                "DailyWorkflowEmails": unused(2000),
                "DataStorageMB": unused(1024),
                "FileStorageMB": unused(2048),
                "HourlyODataCallout": unused(10000),
                "HourlyTimeBasedWorkflow": unused(1000),
                "SingleEmail": unused(5000),
            },
        )

    # -- sObject Collections --------------------------------------------------------------------
    def collection(self, call: Call) -> Reply:
        if call.method == "GET":
            raise bad_request(
                "INVALID_TYPE",
                "An sObject type is required to retrieve records: /composite/sobjects/{SObject}",
            )
        if call.method == "DELETE":
            raw_ids = [item for item in (call.query.get("ids") or "").split(",") if item]
            if not raw_ids:
                raise bad_request("MISSING_ARGUMENT", "ids parameter is required")
            if len(raw_ids) > COLLECTION_LIMIT:
                raise _too_many_records()
            all_or_none = (call.query.get("allOrNone") or "false").lower() == "true"
            return Reply(200, self._batch(call, raw_ids, all_or_none, self._delete_item))
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise bad_request(
                "JSON_PARSER_ERROR", "The request body must be an object with a 'records' array"
            )
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise _too_many_records()
        all_or_none = body.get("allOrNone") is True
        for record in records:
            self._collection_type(record)
        item_action = self._create_item if call.method == "POST" else self._update_item
        return Reply(200, self._batch(call, records, all_or_none, item_action))

    def _collection_type(self, record: Any) -> ObjectDefinition:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(type_name, str):
            raise bad_request("INVALID_TYPE", "Must send a concrete entity type.")
        definition = self.schema.object(type_name)
        if definition is None:
            raise bad_request("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        return definition

    def _create_item(self, call: Call, tx: Transaction, record: Any) -> dict[str, Any]:
        definition = self._collection_type(record)
        record_id = self.records.create(tx, definition.name, record, call.user_id)
        return {"id": record_id, "success": True, "errors": []}

    def _update_item(self, call: Call, tx: Transaction, record: Any) -> dict[str, Any]:
        definition = self._collection_type(record)
        raw_id = next((value for key, value in record.items() if key.lower() == "id"), None)
        if not isinstance(raw_id, str):
            raise bad_request("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        values = {key: value for key, value in record.items() if key.lower() != "id"}
        record_id = self.records.update(tx, definition.name, raw_id, values, call.user_id)
        return {"id": record_id, "success": True, "errors": []}

    def _delete_item(self, call: Call, tx: Transaction, raw_id: Any) -> dict[str, Any]:
        canonical = canonical_id(raw_id)
        definition = self.schema.object_for_prefix(canonical[:3]) if canonical else None
        if canonical is None or definition is None:
            raise bad_request("MALFORMED_ID", f"malformed id {raw_id}")
        document = self.records.get(definition.name, canonical)
        if document is None:
            raise bad_request("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if document.get("IsDeleted"):
            raise bad_request("ENTITY_IS_DELETED", "entity is deleted")
        record_id = self.records.delete(tx, definition.name, canonical, call.user_id)
        return {"id": record_id, "success": True, "errors": []}

    def _batch(
        self,
        call: Call,
        items: list[Any],
        all_or_none: bool,
        action: Callable[[Call, Transaction, Any], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Runs ``action`` per item; with ``all_or_none`` one failure rolls every item back."""
        results: list[dict[str, Any]] = []
        failed = False

        def run(tx: Transaction) -> None:
            nonlocal failed
            # Inside /composite the transaction already holds earlier subrequests: only this
            # batch's own writes are undone.
            start = tx.savepoint()
            for item in items:
                mark = tx.savepoint()
                try:
                    results.append(action(call, tx, item))
                except SalesforceError as error:
                    tx.rollback(mark)
                    failed = True
                    result: dict[str, Any] = {
                        "success": False,
                        "errors": [error.collection_error()],
                    }
                    item_id = _item_id(item)
                    if item_id is not None:
                        result = {"id": item_id, **result}
                    results.append(result)
            if failed and all_or_none:
                tx.rollback(start)

        if call.tx is not None:
            run(call.tx)
        else:
            with self.records.transaction() as tx:
                run(tx)
        if failed and all_or_none:
            results = [
                result
                if not result["success"]
                else {
                    # A rolled-back insert never got an id; updates and deletes keep theirs.
                    "id": None if call.method == "POST" or result.get("created") else result["id"],
                    "success": False,
                    "errors": [dict(_ROLLED_BACK)],
                }
                for result in results
            ]
        return results

    def collection_retrieve(self, call: Call) -> Reply:
        definition = self._object(call)
        if call.method == "POST":
            body = call.json()
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("ids"), list)
                or not isinstance(body.get("fields"), list)
            ):
                raise bad_request(
                    "JSON_PARSER_ERROR", "The request body must have 'ids' and 'fields' arrays"
                )
            raw_ids, field_names = body["ids"], body["fields"]
            if not all(isinstance(item, str) for item in [*raw_ids, *field_names]):
                raise bad_request("JSON_PARSER_ERROR", "'ids' and 'fields' must hold strings")
        else:
            raw_ids = [item for item in (call.query.get("ids") or "").split(",") if item]
            field_names = _field_list(call.query.get("fields")) or []
        if not raw_ids or not field_names:
            raise bad_request("MISSING_ARGUMENT", "ids and fields are required")
        if len(raw_ids) > COLLECTION_RETRIEVE_LIMIT:
            raise bad_request(
                "EXCEEDED_ID_LIMIT",
                f"Cannot retrieve more than {COLLECTION_RETRIEVE_LIMIT} records",
            )
        for name in field_names:
            if definition.field(name) is None:
                raise bad_request(
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{definition.name}'",
                    [name],
                )
        found: list[dict[str, Any] | None] = []
        for raw_id in raw_ids:
            canonical = canonical_id(raw_id)
            document = self.records.get_live(definition.name, canonical) if canonical else None
            found.append(
                self.records.to_json(definition, document, call.version, field_names)
                if document
                else None
            )
        return Reply(200, found)

    def collection_upsert(self, call: Call) -> Reply:
        definition = self._object(call)
        external = definition.field(call.params["field_name"])
        if external is None or not (external.external_id or external.type == "id"):
            raise not_found(
                "Provided external ID field does not exist or is not accessible: "
                f"{call.params['field_name']}"
            )
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise bad_request(
                "JSON_PARSER_ERROR", "The request body must be an object with a 'records' array"
            )
        if len(body["records"]) > COLLECTION_LIMIT:
            raise _too_many_records()
        for record in body["records"]:
            if self._collection_type(record).name != definition.name:
                raise bad_request("INVALID_TYPE", f"All records must be of type {definition.name}")

        def upsert(call: Call, tx: Transaction, record: dict[str, Any]) -> dict[str, Any]:
            value = next(
                (item for key, item in record.items() if key.lower() == external.name.lower()), None
            )
            if value in (None, ""):
                raise bad_request(
                    "MISSING_ARGUMENT", f"{external.name} not specified", [external.name]
                )
            nested = Call(
                call.method,
                call.version,
                call.params,
                call.query,
                call.headers,
                b"",
                call.base_url,
                call.user_id,
                tx,
            )
            return self._upsert_one(nested, definition, external.name, value, record)

        return Reply(200, self._batch(call, body["records"], body.get("allOrNone") is True, upsert))

    # -- composite ------------------------------------------------------------------------------
    def composite(self, call: Call) -> Reply:
        body = call.json()
        requests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise bad_request("JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
        if len(requests) > COMPOSITE_LIMIT:
            raise bad_request(
                "LIMIT_EXCEEDED",
                f"Composite Request Limit exceeded: You can only have {COMPOSITE_LIMIT} "
                "subrequests.",
            )
        seen: set[str] = set()
        for request in requests:
            if not isinstance(request, dict) or not all(
                isinstance(request.get(key), str) for key in ("method", "url", "referenceId")
            ):
                raise bad_request(
                    "JSON_PARSER_ERROR", "Each subrequest needs method, url and referenceId strings"
                )
            if (
                not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", request["referenceId"])
                or request["referenceId"] in seen
            ):
                raise bad_request(
                    "INVALID_INPUT", f"Invalid or duplicate referenceId: {request['referenceId']}"
                )
            seen.add(request["referenceId"])
        heavy = [request for request in requests if _is_query_or_collection(request["url"])]
        if len(heavy) > COMPOSITE_QUERY_LIMIT:
            # The message is modelled on the 25-subrequest one (the exact wording is UNVERIFIED).
            raise bad_request(
                "LIMIT_EXCEEDED",
                f"Composite Request Limit exceeded: You can only have {COMPOSITE_QUERY_LIMIT} "
                "sObject Collections or query subrequests.",
            )
        all_or_none = body.get("allOrNone") is True
        responses: list[dict[str, Any]] = []
        results: dict[str, Any] = {}
        with self.records.transaction() as tx:
            for request in requests:
                reply = self._subrequest(call, tx, request, results)
                entry = {
                    "body": reply.body,
                    "httpHeaders": {
                        key: value for key, value in reply.headers.items() if key == "Location"
                    },
                    "httpStatusCode": reply.status,
                    "referenceId": request["referenceId"],
                }
                responses.append(entry)
                if reply.status < 400:
                    results[request["referenceId"]] = reply.body
                elif all_or_none:
                    tx.rollback()
                    halted = [
                        {
                            "errorCode": "PROCESSING_HALTED",
                            "message": (
                                "The transaction was rolled back since another "
                                "operation in the same transaction failed."
                            ),
                        }
                    ]
                    for other in responses[:-1]:
                        other.update({"body": halted, "httpHeaders": {}, "httpStatusCode": 400})
                    for rest in requests[len(responses) :]:
                        responses.append(
                            {
                                "body": halted,
                                "httpHeaders": {},
                                "httpStatusCode": 400,
                                "referenceId": rest["referenceId"],
                            }
                        )
                    break
        return Reply(200, {"compositeResponse": responses})

    def _subrequest(
        self, call: Call, tx: Transaction, request: dict[str, Any], results: dict[str, Any]
    ) -> Reply:
        try:
            url = _substitute(request["url"], results)
            sub_body = _substitute(request.get("body"), results)
        except SalesforceError as error:
            return error_reply(error)
        parts = urlsplit(url)
        match = re.match(r"^/services/data/v(\d+\.\d)(/.*)?$", parts.path)
        if match is None or match.group(1) not in SUPPORTED_VERSIONS:
            return error_reply(not_found())
        method = request["method"].upper()
        found = self.route_for(method, (match.group(2) or "").rstrip("/") or "")
        if found is None or found[0].handler == "composite":
            return error_reply(not_found())
        route, params = found
        query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        sub_call = Call(
            method=method,
            version=match.group(1),
            params=params,
            query=dict(query_pairs),
            headers={
                key.lower(): str(value) for key, value in (request.get("httpHeaders") or {}).items()
            },
            body=json.dumps(sub_body).encode() if sub_body is not None else b"",
            base_url=call.base_url,
            user_id=call.user_id,
            tx=tx,
        )
        return self.dispatch(route, sub_call)


# -- module helpers -------------------------------------------------------------------------------
def error_reply(error: SalesforceError) -> Reply:
    return Reply(error.status, error.body())


def bearer_token(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    # `OAuth <token>` is the legacy scheme some clients still send; Salesforce accepts both.
    if scheme.lower() in {"bearer", "oauth"} and token.strip():
        return token.strip()
    return None


def _batch_size(options: str | None) -> int:
    match = _BATCH_SIZE.search(options or "")
    if match is None:
        return DEFAULT_BATCH_SIZE
    return max(MIN_BATCH_SIZE, min(DEFAULT_BATCH_SIZE, int(match.group(1))))


def _field_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    return names or None


def _too_many_records() -> SalesforceError:
    return bad_request(
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
    )


def _item_id(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        value = next(
            (value for key, value in item.items() if isinstance(key, str) and key.lower() == "id"),
            None,
        )
        return value if isinstance(value, str) else None
    return None


def _is_query_or_collection(url: str) -> bool:
    path = urlsplit(url).path
    match = re.match(r"^/services/data/v\d+\.\d(/[^/?]*)(/[^/?]*)?", path)
    if match is None:
        return False
    first, second = match.group(1), match.group(2) or ""
    return first in ("/query", "/queryAll") or (first == "/composite" and second == "/sobjects")


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    """Replaces ``@{referenceId.path}`` with values from earlier subresponses."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            reference, path = match.group(1), match.group(2)
            if reference not in results:
                raise bad_request(
                    "PROCESSING_HALTED",
                    f"Invalid reference specified. No value for {reference}.{path} found in "
                    f"{reference}. "
                    f"Provided referenceId ('{reference}') is unknown or its request failed.",
                )
            resolved = _walk(results[reference], path)
            if resolved is None:
                raise bad_request(
                    "PROCESSING_HALTED",
                    f"Invalid reference specified. No value for {reference}.{path} found in "
                    f"{reference}.",
                )
            return str(resolved)

        return _REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {key: _substitute(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, results) for item in value]
    return value


def _walk(value: Any, path: str) -> Any:
    for part in path.split("."):
        match = re.fullmatch(r"([A-Za-z0-9_]+)((?:\[\d+\])*)", part)
        if match is None:
            return None
        if not isinstance(value, dict):
            return None
        value = value.get(match.group(1))
        for index in re.findall(r"\[(\d+)\]", match.group(2)):
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
    return value
