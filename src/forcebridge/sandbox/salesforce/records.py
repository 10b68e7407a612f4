"""Records of the emulated org: validation, writes inside transactions, and their JSON form.

Owns the rules a real org applies on insert/update/delete (field types, lengths, restricted
picklists, required and read-only fields, references, unique values, derived fields such as
``CaseNumber`` or ``Contact.Name``), the system fields (``SystemModstamp`` moves on every write),
soft deletion (``IsDeleted``, visible to ``queryAll`` and ``/deleted/``) and restore from the
Recycle Bin (``undelete``, with the children the delete cascaded to), and the Files trio
(ContentVersion → ContentDocument + ContentDocumentLink).

Every write goes through a ``Transaction`` so that ``allOrNone`` requests can roll back, and the
change events it collects are published only after commit (outbound messages never announce a
rolled-back change).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from forcebridge.sandbox.salesforce.ids import canonical_id, make_id
from forcebridge.sandbox.salesforce.schema import FieldDefinition, ObjectDefinition, Schema
from forcebridge.sandbox.storage import DocumentStore

DELETED_AT = "__deletedAt"  # internal key of a soft-deleted record; never serialized
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_FILE_TYPES = {
    "pdf": "PDF",
    "png": "PNG",
    "jpg": "JPG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "txt": "TEXT",
    "csv": "CSV",
    "zip": "ZIP",
    "docx": "WORD_X",
    "doc": "WORD",
    "xlsx": "EXCEL_X",
    "xls": "EXCEL",
    "pptx": "POWER_POINT_X",
    "json": "JSON",
    "xml": "XML",
    "html": "HTML",
}


class SalesforceError(Exception):
    """A failure answered in Salesforce's error shape: ``[{"message","errorCode","fields"}]``."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]

    def collection_error(self) -> dict[str, Any]:
        """The per-item form used by sObject Collections (``statusCode`` instead of
        ``errorCode``).
        """
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}


def bad_request(error_code: str, message: str, fields: list[str] | None = None) -> SalesforceError:
    return SalesforceError(400, error_code, message, fields)


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", message)


# -- time -----------------------------------------------------------------------------------------
def format_datetime(moment: datetime) -> str:
    """Salesforce's record datetime format: ``2026-01-17T12:34:56.000+0000`` (always UTC)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> datetime | None:
    """Parses the ISO 8601 forms Salesforce accepts; a bare date means midnight UTC."""
    match = _DATETIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def parse_date(value: str) -> date | None:
    if not isinstance(value, str) or _DATE.match(value) is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class Clock:
    """Millisecond timestamps that strictly increase, so ``SystemModstamp`` orders every write.

    Polling clients read changes with ``SystemModstamp > last_seen``; two writes in the same
    millisecond would make that ambiguous, which a real org's commit ordering never exposes.
    """

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    @property
    def latest(self) -> datetime:
        """The wall time, or the last stamp handed out if a burst of writes ran ahead of it."""
        with self._lock:
            return max(self._now().astimezone(UTC), self._last)

    def now(self) -> datetime:
        with self._lock:
            current = self._now().astimezone(UTC)
            current = current.replace(microsecond=current.microsecond // 1000 * 1000)
            if current <= self._last:
                current = self._last + timedelta(milliseconds=1)
            self._last = current
            return current


# -- transactions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChangeEvent:
    kind: str  # "created" | "updated" | "deleted" | "undeleted"
    sobject: str
    record_id: str
    record: dict[str, Any]


@dataclass
class Transaction:
    """Undo log plus pending events of one request (or one ``allOrNone`` batch).

    Every write appends the document it replaced, so rolling back to a savepoint restores exactly
    what happened after it, even when one record was written several times.
    """

    store: DocumentStore
    _undo: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)

    def put(self, collection: str, key: str, document: dict[str, Any]) -> None:
        self._undo.append((collection, key, self.store.get(collection, key)))
        self.store.put(collection, key, document)

    def savepoint(self) -> tuple[int, int]:
        return len(self._undo), len(self.events)

    def rollback(self, to: tuple[int, int] = (0, 0)) -> None:
        """Restores every document written since the savepoint ``to`` and drops its events."""
        undo_length, event_count = to
        while len(self._undo) > undo_length:
            collection, key, previous = self._undo.pop()
            if previous is None:
                self.store.delete(collection, key)
            else:
                self.store.put(collection, key, previous)
        del self.events[event_count:]


# -- the record store -----------------------------------------------------------------------------
def collection_of(sobject: str) -> str:
    return f"sobject:{sobject}"


class RecordStore:
    """Reads and validated writes of the org's records."""

    def __init__(
        self,
        store: DocumentStore,
        schema: Schema,
        clock: Clock,
        id_generation: Callable[[], int],
        publish: Callable[[list[ChangeEvent]], None],
    ) -> None:
        self.store = store
        self.schema = schema
        self.clock = clock
        self._id_generation = id_generation
        self._publish = publish

    # -- transactions --------------------------------------------------------------------------
    def transaction(self) -> _TransactionScope:
        return _TransactionScope(self)

    def publish(self, events: list[ChangeEvent]) -> None:
        if events:
            self._publish(events)

    # -- reads ---------------------------------------------------------------------------------
    def object_definition(self, name: str) -> ObjectDefinition:
        definition = self.schema.object(name)
        if definition is None:
            raise not_found()
        return definition

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        return self.store.get(collection_of(sobject), record_id)

    def get_live(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        document = self.get(sobject, record_id)
        return None if document is None or document.get("IsDeleted") else document

    def find_any(self, record_id: str) -> tuple[ObjectDefinition, dict[str, Any]] | None:
        """The object and live record behind any id (key prefix tells the object)."""
        canonical = canonical_id(record_id)
        if canonical is None:
            return None
        definition = self.schema.object_for_prefix(canonical[:3])
        if definition is None:
            return None
        document = self.get_live(definition.name, canonical)
        return (definition, document) if document is not None else None

    def all(self, sobject: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        for document in self.store.values(collection_of(sobject)):
            if include_deleted or not document.get("IsDeleted"):
                yield document

    def find_by_field(self, sobject: str, field_name: str, value: Any) -> list[dict[str, Any]]:
        wanted = value.lower() if isinstance(value, str) else value
        found = []
        for document in self.all(sobject):
            stored = document.get(field_name)
            if (
                stored.lower() if isinstance(stored, str) else stored
            ) == wanted and stored is not None:
                found.append(document)
        return found

    def resolve_id(self, definition: ObjectDefinition, raw_id: str) -> str:
        """The stored id for a path segment, or the error a real org gives for it."""
        canonical = canonical_id(raw_id)
        if canonical is None:
            # A segment that is not an id is read as an external-id field name by the real API.
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {raw_id}"
            )
        if canonical[:3] != definition.key_prefix:
            raise bad_request(
                "MALFORMED_ID",
                f"{definition.label} ID: id value of incorrect type: {raw_id}",
                ["Id"],
            )
        return canonical

    def require_live(self, definition: ObjectDefinition, raw_id: str) -> dict[str, Any]:
        record_id = self.resolve_id(definition, raw_id)
        document = self.get(definition.name, record_id)
        if document is None:
            raise not_found()
        if document.get("IsDeleted"):
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return document

    # -- writes --------------------------------------------------------------------------------
    def create(
        self, tx: Transaction, sobject: str, values: Any, user_id: str, allow_id: bool = False
    ) -> str:
        definition = self.object_definition(sobject)
        if not definition.createable:
            raise bad_request(
                "INVALID_TYPE_FOR_OPERATION",
                f"entity type {definition.name} does not support insert",
            )
        if not isinstance(values, dict):
            raise bad_request(
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of sObject from a non-object value",
            )
        if not allow_id and _has_key(values, "Id"):
            raise bad_request(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Record ID: cannot specify Id in an insert call",
                ["Id"],
            )
        clean = self._validate(tx, definition, values, creating=True)
        now = format_datetime(self.clock.now())
        record_id = make_id(
            definition.key_prefix,
            self.store.next_sequence(f"id:{definition.key_prefix}:{self._id_generation()}"),
        )
        document: dict[str, Any] = {}
        for definition_field in definition.fields:
            if definition_field.name in clean:
                document[definition_field.name] = clean[definition_field.name]
            elif definition_field.type == "boolean":
                document[definition_field.name] = bool(definition_field.default_value)
            else:
                default = next(
                    (entry.value for entry in definition_field.picklist if entry.default), None
                )
                document[definition_field.name] = default
        document.update(
            {
                "Id": record_id,
                "IsDeleted": False,
                "CreatedDate": now,
                "CreatedById": user_id,
                "LastModifiedDate": now,
                "LastModifiedById": user_id,
                "SystemModstamp": now,
            }
        )
        if definition.field("OwnerId") is not None and not document.get("OwnerId"):
            document["OwnerId"] = user_id
        self._derive(tx, definition, document, creating=True)
        missing = [
            definition_field.name
            for definition_field in definition.fields
            if definition_field.required_on_create
            and document.get(definition_field.name) in (None, "")
        ]
        if missing:
            raise bad_request(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        self._check_unique(definition, document)
        tx.put(collection_of(definition.name), record_id, document)
        document = self._after_create(tx, definition, document, user_id)
        tx.events.append(ChangeEvent("created", definition.name, record_id, dict(document)))
        return record_id

    def create_bootstrap_user(self, tx: Transaction, values: dict[str, Any]) -> str:
        """Creates the org's first user, who is its own creator (nobody else exists yet)."""
        record_id = self.create(tx, "User", values, user_id="")
        document = dict(self.store.get(collection_of("User"), record_id) or {})
        document.update({"CreatedById": record_id, "LastModifiedById": record_id})
        tx.put(collection_of("User"), record_id, document)
        return record_id

    def update(self, tx: Transaction, sobject: str, raw_id: str, values: Any, user_id: str) -> str:
        definition = self.object_definition(sobject)
        if not isinstance(values, dict):
            raise bad_request(
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of sObject from a non-object value",
            )
        current = self.require_live(definition, raw_id)
        if _has_key(values, "Id"):
            given = next(value for key, value in values.items() if key.lower() == "id")
            if canonical_id(str(given)) != current["Id"]:
                raise bad_request(
                    "INVALID_ID_FIELD", "The Id field should not be specified in the sobject data."
                )
            values = {key: value for key, value in values.items() if key.lower() != "id"}
        clean = self._validate(tx, definition, values, creating=False)
        document = dict(current)
        document.update(clean)
        now = format_datetime(self.clock.now())
        document.update(
            {"LastModifiedDate": now, "LastModifiedById": user_id, "SystemModstamp": now}
        )
        self._derive(tx, definition, document, creating=False)
        self._check_unique(definition, document)
        tx.put(collection_of(definition.name), document["Id"], document)
        tx.events.append(ChangeEvent("updated", definition.name, document["Id"], dict(document)))
        return str(document["Id"])

    def delete(self, tx: Transaction, sobject: str, raw_id: str, user_id: str) -> str:
        definition = self.object_definition(sobject)
        if not definition.deletable:
            raise bad_request(
                "INVALID_TYPE_FOR_OPERATION",
                f"entity type {definition.name} does not support delete",
            )
        current = self.require_live(definition, raw_id)
        self._soft_delete(tx, definition, current, user_id)
        return str(current["Id"])

    def _soft_delete(
        self, tx: Transaction, definition: ObjectDefinition, current: dict[str, Any], user_id: str
    ) -> None:
        now = format_datetime(self.clock.now())
        document = dict(current)
        document.update(
            {"IsDeleted": True, "SystemModstamp": now, "LastModifiedById": user_id, DELETED_AT: now}
        )
        tx.put(collection_of(definition.name), document["Id"], document)
        tx.events.append(ChangeEvent("deleted", definition.name, document["Id"], dict(document)))
        # Children whose lookup cascades (comments, feed, file links) go to the recycle bin too.
        for _name, child, reference in self.schema.child_relationships(definition.name):
            if not reference.cascade_delete:
                continue
            for child_document in self.all(child.name):
                if child_document.get(reference.name) == document["Id"]:
                    self._soft_delete(tx, child, child_document, user_id)

    def undelete(self, tx: Transaction, sobject: str, raw_id: str, user_id: str) -> str:
        """Restore a record from the Recycle Bin (Salesforce's ``undelete``: SOAP, Apex or the
        UI; REST has no resource for it), with the children its delete cascaded to."""
        definition = self.object_definition(sobject)
        record_id = self.resolve_id(definition, raw_id)
        document = self.get(definition.name, record_id)
        if document is None:
            raise not_found()
        if not document.get("IsDeleted"):
            raise bad_request("UNDELETE_FAILED", "Entity is not in the recycle bin")
        self._restore(tx, definition, document, user_id)
        return record_id

    def _restore(
        self, tx: Transaction, definition: ObjectDefinition, current: dict[str, Any], user_id: str
    ) -> None:
        deleted_at = current.get(DELETED_AT)
        document = {key: value for key, value in current.items() if key != DELETED_AT}
        # Restoring is a change: SystemModstamp moves, so pollers see the record again.
        document.update(
            {
                "IsDeleted": False,
                "SystemModstamp": format_datetime(self.clock.now()),
                "LastModifiedById": user_id,
            }
        )
        tx.put(collection_of(definition.name), document["Id"], document)
        tx.events.append(ChangeEvent("undeleted", definition.name, document["Id"], dict(document)))
        # Only the children deleted together with the record come back, not those deleted
        # before it: a cascade stamps each child just after its parent (the clock only grows).
        deleted_moment = parse_datetime(str(deleted_at or ""))
        for _name, child, reference in self.schema.child_relationships(definition.name):
            if not reference.cascade_delete:
                continue
            for child_document in list(self.all(child.name, include_deleted=True)):
                child_moment = parse_datetime(str(child_document.get(DELETED_AT) or ""))
                if (
                    child_document.get(reference.name) == document["Id"]
                    and child_document.get("IsDeleted")
                    and child_moment is not None
                    and deleted_moment is not None
                    and child_moment >= deleted_moment
                ):
                    self._restore(tx, child, child_document, user_id)

    # -- validation ----------------------------------------------------------------------------
    def _validate(
        self, tx: Transaction, definition: ObjectDefinition, values: dict[str, Any], creating: bool
    ) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if key == "attributes":
                continue
            if not isinstance(key, str):
                raise bad_request("JSON_PARSER_ERROR", "field names must be strings")
            definition_field = definition.field(key)
            if definition_field is None:
                raise bad_request(
                    "INVALID_FIELD",
                    f"No such column '{key}' on sobject of type {definition.name}",
                    [key],
                )
            allowed = definition_field.createable if creating else definition_field.updateable
            if not allowed:
                raise bad_request(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {definition_field.name}. Please check "
                    "the security "
                    "settings of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [definition_field.name],
                )
            clean[definition_field.name] = self._coerce(definition, definition_field, value)
            if clean[definition_field.name] is None and not definition_field.nillable:
                if definition_field.type == "boolean":
                    clean[definition_field.name] = False  # a checkbox set to null is unchecked
                elif not (creating and definition_field.defaulted_on_create):
                    raise bad_request(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{definition_field.name}]",
                        [definition_field.name],
                    )
                else:
                    del clean[definition_field.name]
        return clean

    def _coerce(self, definition: ObjectDefinition, target: FieldDefinition, value: Any) -> Any:
        name = target.name

        def parser_error(kind: str) -> SalesforceError:
            shown = value if isinstance(value, str | int | float | bool) else type(value).__name__
            return bad_request(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind} from VALUE_STRING value {shown} or "
                "request may "
                "be missing a required field",
                [name],
            )

        if value is None:
            return None
        field_type = target.type
        if field_type in {
            "string",
            "textarea",
            "email",
            "phone",
            "url",
            "picklist",
            "combobox",
            "multipicklist",
        }:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise parser_error("string")
            text = value if isinstance(value, str) else _number_text(value)
            if text == "":
                return None  # Salesforce stores an empty string as null
            if field_type == "multipicklist":
                chosen = list(
                    dict.fromkeys(part.strip() for part in text.split(";") if part.strip())
                )
                if target.restricted_picklist:
                    for choice in chosen:
                        if choice not in target.picklist_values:
                            raise _bad_picklist(name, choice)
                text = ";".join(chosen)
                if not text:
                    return None
            if target.length and len(text) > target.length:
                raise bad_request(
                    "STRING_TOO_LONG",
                    f"{target.label}: data value too large: {text[:40]} (max "
                    f"length={target.length})",
                    [name],
                )
            if field_type == "email" and _EMAIL.match(text) is None:
                raise bad_request(
                    "INVALID_EMAIL_ADDRESS",
                    f"{target.label}: invalid email address: {text}",
                    [name],
                )
            if (
                field_type == "picklist"
                and target.restricted_picklist
                and text not in target.picklist_values
            ):
                raise _bad_picklist(name, text)
            return text
        if field_type == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "false"}:
                return value.lower() == "true"
            raise parser_error("boolean")
        if field_type in {"int", "double", "currency", "percent"}:
            number = _to_number(value)
            if number is None:
                raise parser_error("double" if field_type != "int" else "int")
            if field_type == "int":
                if number != int(number):
                    raise parser_error("int")
                number = int(number)
                if abs(number) >= 2**31:
                    raise bad_request(
                        "NUMBER_OUTSIDE_VALID_RANGE",
                        f"{target.label}: value outside of valid range on numeric field: {value}",
                        [name],
                    )
                return number
            integer_digits = target.precision - target.scale
            if target.precision and abs(number) >= 10**integer_digits:
                raise bad_request(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{target.label}: value outside of valid range on numeric field: {value}",
                    [name],
                )
            return float(round(number, target.scale)) if target.precision else float(number)
        if field_type == "date":
            parsed_date = parse_date(value) if isinstance(value, str) else None
            if parsed_date is None:
                # Salesforce also takes a datetime string for a date field and keeps its date.
                parsed = parse_datetime(value) if isinstance(value, str) else None
                if parsed is None:
                    raise parser_error("date")
                return parsed.date().isoformat()
            return parsed_date.isoformat()
        if field_type == "datetime":
            parsed = parse_datetime(value) if isinstance(value, str) else None
            if parsed is None:
                raise parser_error("datetime")
            return format_datetime(parsed)
        if field_type == "reference":
            return self._coerce_reference(target, value)
        if field_type == "base64":
            if not isinstance(value, str):
                raise parser_error("base64")
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as error:
                raise parser_error("base64") from error
            return base64.b64encode(raw).decode("ascii")
        raise bad_request(
            "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}.", [name]
        )

    def _coerce_reference(self, target: FieldDefinition, value: Any) -> str:
        canonical = canonical_id(value) if isinstance(value, str) else None
        if canonical is None:
            raise bad_request(
                "MALFORMED_ID",
                f"{target.label}: id value of incorrect type: {value}",
                [target.name],
            )
        referenced = self.schema.object_for_prefix(canonical[:3])
        if referenced is None or referenced.name not in target.reference_to:
            raise bad_request(
                "FIELD_INTEGRITY_EXCEPTION",
                f"field integrity exception: unknown ({target.label}: id value of incorrect "
                f"type: {value})",
                [target.name],
            )
        if self.get_live(referenced.name, canonical) is None:
            raise bad_request(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [target.name]
            )
        return canonical

    def _check_unique(self, definition: ObjectDefinition, document: dict[str, Any]) -> None:
        for definition_field in definition.fields:
            if not definition_field.unique or document.get(definition_field.name) is None:
                continue
            for other in self.find_by_field(
                definition.name, definition_field.name, document[definition_field.name]
            ):
                if other["Id"] != document["Id"]:
                    raise bad_request(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {definition_field.name} duplicates value on "
                        "record "
                        f"with id: {other['Id']}",
                        [definition_field.name],
                    )

    # -- derived fields and side effects -------------------------------------------------------
    def _derive(
        self,
        tx: Transaction,
        definition: ObjectDefinition,
        document: dict[str, Any],
        creating: bool,
    ) -> None:
        name_field = definition.field("Name")
        if name_field is not None and name_field.calculated:
            document["Name"] = (
                " ".join(
                    part for part in (document.get("FirstName"), document.get("LastName")) if part
                )
                or None
            )
        if definition.name == "Case":
            if creating:
                number = self.store.next_sequence(
                    f"case-number:{self._id_generation()}", start=1001
                )
                document["CaseNumber"] = f"{number:08d}"
            closed = document.get("Status") == "Closed"
            if closed and not document.get("IsClosed"):
                document["ClosedDate"] = document["LastModifiedDate"]
            elif not closed:
                document["ClosedDate"] = None
            document["IsClosed"] = closed
        elif definition.name == "Opportunity":
            stage = document.get("StageName") or ""
            document["IsClosed"] = stage.startswith("Closed")
            document["IsWon"] = stage == "Closed Won"
        elif definition.name == "ContentVersion" and creating:
            path = document.get("PathOnClient") or ""
            extension = path.rsplit(".", 1)[1].lower() if "." in path else ""
            document["FileExtension"] = extension or None
            document["FileType"] = _FILE_TYPES.get(extension, "UNKNOWN")
            content = base64.b64decode(document.get("VersionData") or "")
            document["ContentSize"] = len(content)
            document["Checksum"] = hashlib.md5(content, usedforsecurity=False).hexdigest()
            if not document.get("Title"):
                document["Title"] = path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or None
        if definition.field("OwnerId") is not None and document.get("OwnerId"):
            owner = self.get_live("User", document["OwnerId"])
            if owner is None or not owner.get("IsActive"):
                raise bad_request(
                    "INACTIVE_OWNER_OR_USER", "owner or user is inactive", ["OwnerId"]
                )

    def _after_create(
        self, tx: Transaction, definition: ObjectDefinition, document: dict[str, Any], user_id: str
    ) -> dict[str, Any]:
        """Files: a new ContentVersion creates or extends its ContentDocument and links it."""
        if definition.name != "ContentVersion":
            return document
        collection = collection_of("ContentVersion")
        document_id = document.get("ContentDocumentId")
        now = format_datetime(self.clock.now())
        if document_id is None:
            content_document = self._new_system_record(
                tx,
                "ContentDocument",
                user_id,
                now,
                {"Title": document["Title"], "OwnerId": document["OwnerId"]},
            )
            document_id = content_document["Id"]
            version_number = 1
            links = [(document["OwnerId"], "I")]
            if document.get("FirstPublishLocationId"):
                links.append((document["FirstPublishLocationId"], "V"))
            for linked_entity, share_type in links:
                self._new_system_record(
                    tx,
                    "ContentDocumentLink",
                    user_id,
                    now,
                    {
                        "ContentDocumentId": document_id,
                        "LinkedEntityId": linked_entity,
                        "ShareType": share_type,
                        "Visibility": "AllUsers",
                    },
                )
        else:
            previous = [
                v for v in self.all("ContentVersion") if v.get("ContentDocumentId") == document_id
            ]
            for old in previous:
                if old["Id"] != document["Id"] and old.get("IsLatest"):
                    tx.put(collection, old["Id"], {**old, "IsLatest": False})
            version_number = len(previous)
        stored = {
            **document,
            "ContentDocumentId": document_id,
            "VersionNumber": str(version_number),
            "IsLatest": True,
        }
        tx.put(collection, document["Id"], stored)
        parent = self.get("ContentDocument", document_id)
        assert parent is not None
        tx.put(
            collection_of("ContentDocument"),
            document_id,
            {
                **parent,
                "Title": stored["Title"],
                "FileExtension": stored["FileExtension"],
                "FileType": stored["FileType"],
                "ContentSize": stored["ContentSize"],
                "LatestPublishedVersionId": stored["Id"],
                "LastModifiedDate": now,
                "SystemModstamp": now,
            },
        )
        return stored

    def _new_system_record(
        self, tx: Transaction, sobject: str, user_id: str, now: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        definition = self.schema.objects[sobject]
        record_id = make_id(
            definition.key_prefix,
            self.store.next_sequence(f"id:{definition.key_prefix}:{self._id_generation()}"),
        )
        document: dict[str, Any] = {
            definition_field.name: None for definition_field in definition.fields
        }
        document.update(values)
        document.update(
            {
                "Id": record_id,
                "IsDeleted": False,
                "CreatedDate": now,
                "CreatedById": user_id,
                "LastModifiedDate": now,
                "LastModifiedById": user_id,
                "SystemModstamp": now,
            }
        )
        tx.put(collection_of(sobject), record_id, document)
        tx.events.append(ChangeEvent("created", sobject, record_id, dict(document)))
        return document

    # -- JSON form -----------------------------------------------------------------------------
    def record_url(self, sobject: str, record_id: str, version: str) -> str:
        return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"

    def to_json(
        self,
        definition: ObjectDefinition,
        document: dict[str, Any],
        version: str,
        field_names: list[str] | None = None,
    ) -> dict[str, Any]:
        """A record as the REST API shows it (``attributes`` first; blobs as download URLs)."""
        selected = (
            definition.fields
            if field_names is None
            else [self._field_or_error(definition, name) for name in field_names]
        )
        body: dict[str, Any] = {
            "attributes": {
                "type": definition.name,
                "url": self.record_url(definition.name, document["Id"], version),
            }
        }
        for definition_field in selected:
            body[definition_field.name] = self.field_json(
                definition, definition_field, document, version
            )
        return body

    def field_json(
        self,
        definition: ObjectDefinition,
        definition_field: FieldDefinition,
        document: dict[str, Any],
        version: str,
    ) -> Any:
        value = document.get(definition_field.name)
        if definition_field.type == "base64" and value is not None:
            # Blob fields are never inlined: the record carries the URL to stream them from.
            record_url = self.record_url(definition.name, document["Id"], version)
            return f"{record_url}/{definition_field.name}"
        return value

    def _field_or_error(self, definition: ObjectDefinition, name: str) -> FieldDefinition:
        definition_field = definition.field(name.strip())
        if definition_field is None:
            raise bad_request(
                "INVALID_FIELD",
                f"No such column '{name.strip()}' on entity '{definition.name}'",
                [name.strip()],
            )
        return definition_field


class _TransactionScope:
    """``with records.transaction() as tx``: holds the store lock, commits or rolls back."""

    def __init__(self, records: RecordStore) -> None:
        self.records = records
        self.tx = Transaction(records.store)

    def __enter__(self) -> Transaction:
        self.records.store.lock.acquire()
        return self.tx

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            if exc_type is not None:
                self.tx.rollback()
        finally:
            self.records.store.lock.release()
        if exc_type is None:
            self.records.publish(self.tx.events)


def _has_key(values: dict[str, Any], name: str) -> bool:
    return any(isinstance(key, str) and key.lower() == name.lower() for key in values)


def _bad_picklist(name: str, value: str) -> SalesforceError:
    return bad_request(
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        f"{name}: bad value for restricted picklist field: {value}",
        [name],
    )


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _to_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


__all__ = [
    "ChangeEvent",
    "Clock",
    "RecordStore",
    "SalesforceError",
    "Transaction",
    "bad_request",
    "format_datetime",
    "not_found",
    "parse_date",
    "parse_datetime",
]
