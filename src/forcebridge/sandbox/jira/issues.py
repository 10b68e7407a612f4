"""Issues and everything hanging off them: create, edit (``fields`` and ``update`` verbs),
transitions, comments, attachments, moves between projects, deletion, the changelog, and the
JSON views of all of these for REST v2 and v3.

Issue documents live in the ``issues`` collection keyed by numeric id; ``issue_keys`` maps every
key an issue ever had (upper case) to its id, so a moved issue still resolves by its old key,
as Jira does. Every change that Jira would announce is handed to ``on_event`` for webhooks.
"""

from __future__ import annotations

import copy
import mimetypes
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from forcebridge.sandbox.jira import adf, seed
from forcebridge.sandbox.jira.catalog import Catalog, FieldDefinition
from forcebridge.sandbox.jira.fieldvalues import (
    FieldValueError,
    cannot_be_set,
    changelog_item,
    parse_label,
    parse_option,
    parse_rich_text,
    parse_value,
    render_rich_text,
    render_value,
)
from forcebridge.sandbox.jira.wire import ISSUE_NOT_FOUND, JiraError, field_errors, format_timestamp
from forcebridge.sandbox.storage import DocumentStore

ISSUES = "issues"
ISSUE_KEYS = "issue_keys"
ATTACHMENTS = "attachments"
MAX_COMMENTS_PER_ISSUE = 5000
# POST /issue/bulk creates "up to 50 issues" a request (Jira Cloud platform REST v3, createIssues).
MAX_BULK_CREATE = 50
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
# Where each system field lives in the issue document.
SYSTEM_FIELD_SLOTS = {
    "summary": "summary",
    "description": "description",
    "priority": "priority_id",
    "assignee": "assignee",
    "reporter": "reporter",
    "labels": "labels",
    "project": "project_id",
    "issuetype": "issuetype_id",
    "status": "status_id",
}
# The system fields a client may set on create and edit, in Jira's screen order.
EDITABLE_SYSTEM_FIELDS = ("summary", "description", "priority", "assignee", "reporter", "labels")
MULTI_VALUE_KINDS = frozenset({"labels", "multiselect"})


@dataclass(frozen=True)
class Context:
    """Who makes a change, and the base URL that links in responses and webhooks are built from."""

    account_id: str
    base_url: str


@dataclass
class IssueEvent:
    """A change Jira announces through webhooks (``webhookEvent`` plus what the payload needs)."""

    webhook_event: str
    issue_event_type_name: str | None
    issue: dict[str, Any]
    context: Context
    timestamp: int
    changelog: dict[str, Any] | None = None
    comment: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    def wants(self, webhook_event: str) -> bool: ...

    def publish(self, event: IssueEvent) -> None: ...


class IssueStore:
    """The issue domain over a :class:`DocumentStore`; callers get Jira errors, never KeyErrors."""

    def __init__(
        self,
        store: DocumentStore,
        catalog: Catalog,
        attachments_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.attachments_dir = attachments_dir
        self.clock = clock
        self.sinks: list[EventSink] = []

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- lookup ------------------------------------------------------------------------------
    def find(self, id_or_key: str) -> dict[str, Any] | None:
        if id_or_key.isdigit():
            return self.store.get(ISSUES, id_or_key)
        alias = self.store.get(ISSUE_KEYS, id_or_key.upper())
        return self.store.get(ISSUES, alias["issue_id"]) if alias else None

    def require(self, id_or_key: str) -> dict[str, Any]:
        issue = self.find(id_or_key)
        if issue is None:
            raise JiraError(404, ISSUE_NOT_FOUND)
        return issue

    def all(self) -> list[dict[str, Any]]:
        return list(self.store.values(ISSUES))

    # -- seed --------------------------------------------------------------------------------
    def load_seed(self) -> None:
        project_id = seed.PROJECTS[0]["id"]
        for index, entry in enumerate(seed.SEED_ISSUES):
            moment = seed.SEED_EPOCH_MS + index * 3_600_000
            issue = self._new_issue_document(
                project_id, entry["issuetype"], seed.ADMIN_ACCOUNT_ID, moment
            )
            issue.update(
                summary=entry["summary"],
                description=adf.text_to_document(entry["description"])
                if entry["description"]
                else None,
                priority_id=entry["priority"],
                labels=list(entry["labels"]),
                status_id=entry["status"],
                assignee=entry["assignee"],
            )
            for field_id, raw in entry["custom"].items():
                definition = self.catalog.fields[field_id]
                if definition.kind == "datetime":
                    issue["custom"][field_id] = parse_value(self.catalog, definition, raw, "2")
                elif definition.kind == "textarea":
                    issue["custom"][field_id] = adf.text_to_document(raw)
                else:
                    issue["custom"][field_id] = raw
            self._save_new(issue)

    def _new_issue_document(
        self, project_id: str, issuetype_id: str, reporter: str, moment: int
    ) -> dict[str, Any]:
        issue_id = str(self.store.next_sequence("issue_id", start=10001))
        number = self.store.next_sequence(f"issue_number:{project_id}")
        return {
            "id": issue_id,
            "key": f"{self.catalog.projects[project_id]['key']}-{number}",
            "project_id": project_id,
            "issuetype_id": issuetype_id,
            "status_id": self.catalog.initial_status_id,
            "summary": "",
            "description": None,
            "priority_id": seed.DEFAULT_PRIORITY_ID,
            "labels": [],
            "assignee": None,
            "reporter": reporter,
            "creator": reporter,
            "created": moment,
            "updated": moment,
            "status_changed": moment,
            "custom": {},
            "comments": [],
            "histories": [],
            "attachment_ids": [],
        }

    def _save_new(self, issue: dict[str, Any]) -> None:
        self.store.put(ISSUES, issue["id"], issue)
        self.store.put(ISSUE_KEYS, issue["key"], {"issue_id": issue["id"]})

    # -- field access ------------------------------------------------------------------------
    @staticmethod
    def stored_value(issue: dict[str, Any], field_id: str) -> Any:
        slot = SYSTEM_FIELD_SLOTS.get(field_id)
        if slot is not None:
            return issue.get(slot)
        return issue["custom"].get(field_id)

    @staticmethod
    def _store_value(issue: dict[str, Any], field_id: str, value: Any) -> None:
        slot = SYSTEM_FIELD_SLOTS.get(field_id)
        if slot is not None:
            issue[slot] = value
        elif value is None or value == []:
            issue["custom"].pop(field_id, None)
        else:
            issue["custom"][field_id] = value

    def _definition(self, field_id: str) -> FieldDefinition | None:
        return self.catalog.fields.get(field_id)

    def _resolve_changes(
        self,
        issue: dict[str, Any],
        fields: Any,
        update: Any,
        version: str,
        *,
        creating: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """New stored values per field id, and comments to add (from ``update.comment``)."""
        if fields is None:
            fields = {}
        if update is None:
            update = {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise JiraError(400, "The 'fields' and 'update' members must be JSON objects.")
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        comments: list[dict[str, Any]] = []
        settable = {*EDITABLE_SYSTEM_FIELDS, *(("project", "issuetype") if creating else ())}
        for field_id, raw in fields.items():
            if field_id in update:
                errors[field_id] = (
                    f"Field '{field_id}' cannot be set in both 'fields' and 'update'."
                )
                continue
            definition = self._definition(field_id)
            if definition is None or (not definition.custom and field_id not in settable):
                errors[field_id] = cannot_be_set(field_id)
                continue
            if field_id in ("project", "issuetype"):
                continue  # resolved by create_issue
            try:
                changes[field_id] = parse_value(self.catalog, definition, raw, version)
            except FieldValueError as error:
                errors[field_id] = str(error)
        for field_id, operations in update.items():
            if field_id == "comment" and not creating:
                try:
                    comments.extend(self._comment_operations(operations, version))
                except FieldValueError as error:
                    errors["comment"] = str(error)
                continue
            definition = self._definition(field_id)
            if definition is None or (not definition.custom and field_id not in settable):
                errors[field_id] = cannot_be_set(field_id)
                continue
            try:
                current = changes.get(field_id, self.stored_value(issue, field_id))
                changes[field_id] = self._apply_operations(definition, current, operations, version)
            except FieldValueError as error:
                errors[field_id] = str(error)
        if errors:
            raise field_errors(errors)
        return changes, comments

    def _apply_operations(
        self, definition: FieldDefinition, current: Any, operations: Any, version: str
    ) -> Any:
        if not isinstance(operations, list):
            raise FieldValueError("The update operations must be a list.")
        value = copy.copy(current)
        for operation in operations:
            if not isinstance(operation, dict) or len(operation) != 1:
                raise FieldValueError("Each update operation must have exactly one verb.")
            verb, raw = next(iter(operation.items()))
            if verb == "set":
                value = parse_value(self.catalog, definition, raw, version)
            elif verb in ("add", "remove") and definition.kind in MULTI_VALUE_KINDS:
                element = (
                    parse_label(raw)
                    if definition.kind == "labels"
                    else parse_option(definition, raw)
                )
                items = list(value or [])
                if verb == "add" and element not in items:
                    items.append(element)
                elif verb == "remove" and element in items:
                    items.remove(element)
                value = items
            elif verb in ("add", "remove", "edit", "set", "copy"):
                raise FieldValueError(
                    f"Field '{definition.id}' does not support the operation '{verb}'."
                )
            else:
                raise FieldValueError(f"Unknown update operation '{verb}'.")
        return value

    def _comment_operations(self, operations: Any, version: str) -> list[dict[str, Any]]:
        if not isinstance(operations, list):
            raise FieldValueError("The update operations must be a list.")
        comments = []
        for operation in operations:
            if not isinstance(operation, dict) or set(operation) != {"add"}:
                raise FieldValueError("Only the 'add' operation is supported for comments.")
            payload = operation["add"]
            if not isinstance(payload, dict):
                raise FieldValueError("Comment body can not be empty!")
            comments.append(payload)
        return comments

    # -- create / edit / delete / move -------------------------------------------------------
    def create(self, context: Context, body: Any, version: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        fields = body.get("fields")
        update = body.get("update")
        fields = {} if fields is None else fields
        update = {} if update is None else update
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise JiraError(400, "The 'fields' and 'update' members must be JSON objects.")
        errors: dict[str, str] = {}
        project_reference = fields.get("project")
        project = None
        if isinstance(project_reference, dict):
            reference = project_reference.get("id", project_reference.get("key"))
            project = self.catalog.project(reference) if isinstance(reference, str | int) else None
        elif isinstance(project_reference, str):
            project = self.catalog.project(project_reference)
        if project is None:
            errors["project"] = "Specify a valid project ID or key"
        type_reference = fields.get("issuetype")
        issue_type = None
        if isinstance(type_reference, dict):
            reference = type_reference.get("id", type_reference.get("name"))
            issue_type = (
                self.catalog.issue_type(reference) if isinstance(reference, str | int) else None
            )
        if issue_type is None:
            errors["issuetype"] = "Specify an issue type"
        if "summary" not in fields and "summary" not in update:
            errors["summary"] = "You must specify a summary of the issue."
        placeholder = self._placeholder_issue(context)
        try:
            changes, _ = self._resolve_changes(placeholder, fields, update, version, creating=True)
        except JiraError as error:
            if error.messages:
                raise
            errors = {**error.errors, **errors}
            changes = {}
        if errors:
            raise field_errors(errors)
        assert project is not None and issue_type is not None
        with self.store.lock:
            issue = self._new_issue_document(
                project["id"], issue_type["id"], context.account_id, self.now_ms()
            )
            for field_id, value in changes.items():
                self._store_value(issue, field_id, value)
            self._save_new(issue)
        self._publish("jira:issue_created", "issue_created", issue, context)
        return issue

    def create_many(
        self, context: Context, body: Any, version: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``POST /issue/bulk``: each entry of ``issueUpdates`` is created as ``POST /issue``
        would, independently. Returns the created issues (in request order) and one
        ``BulkOperationErrorResult`` per refused entry (``failedElementNumber`` is its index).
        """
        if not isinstance(body, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        updates = body.get("issueUpdates")
        if not isinstance(updates, list) or not updates:
            raise JiraError(400, "Specify at least one issue to create in 'issueUpdates'.")
        if len(updates) > MAX_BULK_CREATE:
            raise JiraError(
                400, f"You can create at most {MAX_BULK_CREATE} issues in one bulk request."
            )
        created: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for position, update in enumerate(updates):
            try:
                created.append(self.create(context, update, version))
            except JiraError as error:
                errors.append(
                    {
                        "status": error.status,
                        "elementErrors": {"errorMessages": error.messages, "errors": error.errors},
                        "failedElementNumber": position,
                    }
                )
        return created, errors

    def _placeholder_issue(self, context: Context) -> dict[str, Any]:
        return {"labels": [], "custom": {}, "reporter": context.account_id}

    def edit(self, context: Context, issue: dict[str, Any], body: Any, version: str) -> None:
        if not isinstance(body, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        changes, comments = self._resolve_changes(
            issue, body.get("fields"), body.get("update"), version, creating=False
        )
        # Validate comments before anything is written: the whole edit fails or succeeds.
        parsed_comments = [self._parse_comment_payload(payload, version) for payload in comments]
        self._apply_and_announce(context, issue, changes, parsed_comments)

    def _apply_and_announce(
        self,
        context: Context,
        issue: dict[str, Any],
        changes: dict[str, Any],
        comments: list[tuple[dict[str, Any], dict[str, Any] | None]],
        *,
        extra_items: list[dict[str, Any]] | None = None,
        event_type: str | None = None,
    ) -> None:
        with self.store.lock:
            items = list(extra_items or [])
            for field_id, value in changes.items():
                before = self.stored_value(issue, field_id)
                if before == value:
                    continue
                items.append(
                    changelog_item(self.catalog, self.catalog.fields[field_id], before, value)
                )
                self._store_value(issue, field_id, value)
            history = self._record_history(context, issue, items) if items else None
            new_comments = [
                self._append_comment(context, issue, body, visibility)
                for body, visibility in comments
            ]
            if history is not None or new_comments:
                issue["updated"] = self.now_ms()
                self.store.put(ISSUES, issue["id"], issue)
        if history is not None:
            if event_type is None:
                only_assignee = all(item["fieldId"] == "assignee" for item in items)
                event_type = "issue_assigned" if only_assignee else "issue_updated"
            self._publish(
                "jira:issue_updated",
                event_type,
                issue,
                context,
                changelog={"id": history["id"], "items": history["items"]},
                comment=new_comments[0] if new_comments else None,
            )
            for comment in new_comments:
                self._publish("comment_created", None, issue, context, comment=comment)
        else:
            for comment in new_comments:
                self._publish_comment("comment_created", "issue_commented", issue, comment, context)

    def _record_history(
        self, context: Context, issue: dict[str, Any], items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        history = {
            "id": str(self.store.next_sequence("changelog_id", start=10000)),
            "author": context.account_id,
            "created": self.now_ms(),
            "items": items,
        }
        issue["histories"].append(history)
        return history

    def transitions_for(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        current = issue["status_id"]
        return [t for t in self.catalog.transitions_from(current) if t["to"] != current]

    def transition(self, context: Context, issue: dict[str, Any], body: Any, version: str) -> None:
        if not isinstance(body, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        reference = body.get("transition")
        transition_id = reference.get("id") if isinstance(reference, dict) else None
        if isinstance(transition_id, bool) or not isinstance(transition_id, str | int):
            raise JiraError(400, "Missing 'transition' identifier")
        # pycontribs/jira and atlassian-python-api send the id as an int; the web UI as a string.
        transition_id = str(transition_id)
        transition = next(
            (t for t in self.transitions_for(issue) if t["id"] == transition_id), None
        )
        if transition is None:
            raise JiraError(400, f"Transition id '{transition_id}' is not valid for this issue.")
        changes, comments = self._resolve_changes(
            issue, body.get("fields"), body.get("update"), version, creating=False
        )
        parsed_comments = [self._parse_comment_payload(payload, version) for payload in comments]
        status_definition = self.catalog.fields["status"]
        status_item = changelog_item(
            self.catalog, status_definition, issue["status_id"], transition["to"]
        )
        with self.store.lock:
            issue["status_id"] = transition["to"]
            issue["status_changed"] = self.now_ms()
        self._apply_and_announce(
            context,
            issue,
            changes,
            parsed_comments,
            extra_items=[status_item],
            event_type="issue_generic",
        )

    def delete(self, context: Context, issue: dict[str, Any]) -> None:
        with self.store.lock:
            self.store.delete(ISSUES, issue["id"])
            for key in [issue["key"], *issue.get("previous_keys", [])]:
                self.store.delete(ISSUE_KEYS, key)
            for attachment_id in issue["attachment_ids"]:
                self.store.delete(ATTACHMENTS, attachment_id)
                (self.attachments_dir / attachment_id).unlink(missing_ok=True)
        self._publish("jira:issue_deleted", "issue_deleted", issue, context)

    def move(self, context: Context, issue: dict[str, Any], project_reference: str) -> None:
        project = self.catalog.project(project_reference)
        if project is None:
            raise JiraError(404, f"No project could be found with key '{project_reference}'.")
        if project["id"] == issue["project_id"]:
            return
        with self.store.lock:
            old_key = issue["key"]
            number = self.store.next_sequence(f"issue_number:{project['id']}")
            new_key = f"{project['key']}-{number}"
            items = [
                changelog_item(
                    self.catalog, self.catalog.fields["project"], issue["project_id"], project["id"]
                ),
                {
                    "field": "Key",
                    "fieldtype": "jira",
                    "fieldId": "issuekey",
                    "from": None,
                    "fromString": old_key,
                    "to": None,
                    "toString": new_key,
                },
            ]
            issue["project_id"] = project["id"]
            issue["key"] = new_key
            issue.setdefault("previous_keys", []).append(old_key)
            history = self._record_history(context, issue, items)
            issue["updated"] = self.now_ms()
            self.store.put(ISSUES, issue["id"], issue)
            # The old key keeps pointing at the issue: Jira resolves moved issues by any old key.
            self.store.put(ISSUE_KEYS, new_key, {"issue_id": issue["id"]})
        self._publish(
            "jira:issue_updated",
            "issue_moved",
            issue,
            context,
            changelog={"id": history["id"], "items": items},
        )

    # -- comments ----------------------------------------------------------------------------
    def _parse_comment_payload(
        self, payload: Any, version: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if not isinstance(payload, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        raw_body = payload.get("body")
        try:
            body = parse_rich_text(raw_body, version)
        except FieldValueError as error:
            raise field_errors({"comment": str(error)}) from None
        if body is None or (not adf.document_to_text(body).strip() and version == "2"):
            raise field_errors({"comment": "Comment body can not be empty!"})
        return body, self._parse_visibility(payload.get("visibility"))

    @staticmethod
    def _parse_visibility(raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise field_errors({"commentLevel": "The visibility must be a JSON object."})
        kind = raw.get("type")
        value = raw.get("value", raw.get("identifier"))
        if kind not in ("role", "group"):
            raise field_errors({"commentLevel": "The visibility type must be 'role' or 'group'."})
        if not isinstance(value, str) or not value:
            raise field_errors({"commentLevel": "The visibility needs a 'value'."})
        known = seed.ROLES if kind == "role" else seed.GROUPS
        if value not in known:
            noun = "role" if kind == "role" else "group"
            raise field_errors({"commentLevel": f"The {noun} '{value}' does not exist."})
        return {"type": kind, "value": value}

    def _append_comment(
        self,
        context: Context,
        issue: dict[str, Any],
        body: dict[str, Any],
        visibility: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if len(issue["comments"]) >= MAX_COMMENTS_PER_ISSUE:
            raise JiraError(413, "The issue has reached the limit of 5000 comments.")
        moment = self.now_ms()
        comment = {
            "id": str(self.store.next_sequence("comment_id", start=10000)),
            "author": context.account_id,
            "update_author": context.account_id,
            "body": body,
            "created": moment,
            "updated": moment,
            "visibility": visibility,
        }
        issue["comments"].append(comment)
        return comment

    def add_comment(
        self, context: Context, issue: dict[str, Any], payload: Any, version: str
    ) -> dict[str, Any]:
        body, visibility = self._parse_comment_payload(payload, version)
        with self.store.lock:
            comment = self._append_comment(context, issue, body, visibility)
            issue["updated"] = comment["created"]
            self.store.put(ISSUES, issue["id"], issue)
        self._publish_comment("comment_created", "issue_commented", issue, comment, context)
        return comment

    @staticmethod
    def require_comment(issue: dict[str, Any], comment_id: str) -> dict[str, Any]:
        for comment in issue["comments"]:
            if comment["id"] == comment_id:
                return comment
        raise JiraError(404, f"Can not find a comment for the id: {comment_id}.")

    def update_comment(
        self, context: Context, issue: dict[str, Any], comment_id: str, payload: Any, version: str
    ) -> dict[str, Any]:
        comment = self.require_comment(issue, comment_id)
        body, visibility = self._parse_comment_payload(payload, version)
        with self.store.lock:
            comment.update(
                body=body,
                visibility=visibility if "visibility" in payload else comment["visibility"],
                update_author=context.account_id,
                updated=self.now_ms(),
            )
            issue["updated"] = comment["updated"]
            self.store.put(ISSUES, issue["id"], issue)
        self._publish_comment("comment_updated", "issue_comment_edited", issue, comment, context)
        return comment

    def delete_comment(self, context: Context, issue: dict[str, Any], comment_id: str) -> None:
        comment = self.require_comment(issue, comment_id)
        with self.store.lock:
            issue["comments"].remove(comment)
            issue["updated"] = self.now_ms()
            self.store.put(ISSUES, issue["id"], issue)
        self._publish_comment("comment_deleted", "issue_comment_deleted", issue, comment, context)

    # -- attachments -------------------------------------------------------------------------
    def add_attachment(
        self,
        context: Context,
        issue: dict[str, Any],
        filename: str,
        content_type: str | None,
        source: IO[bytes],
    ) -> dict[str, Any]:
        """Copy ``source`` to disk in chunks (no whole-file buffering) and record it."""
        attachment_id = str(self.store.next_sequence("attachment_id", start=10000))
        self.attachments_dir.mkdir(parents=True, exist_ok=True)
        target = self.attachments_dir / attachment_id
        with target.open("wb") as sink:
            shutil.copyfileobj(source, sink, length=1024 * 1024)
        size = target.stat().st_size
        mime_type = content_type or ""
        if not mime_type or mime_type == "application/octet-stream":
            # Jira detects the type from the name when clients send the generic type (the jira
            # package always does).
            mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        metadata = {
            "id": attachment_id,
            "issue_id": issue["id"],
            "filename": filename,
            "size": size,
            "mimeType": mime_type,
            "author": context.account_id,
            "created": self.now_ms(),
        }
        item = {
            "field": "Attachment",
            "fieldtype": "jira",
            "fieldId": "attachment",
            "from": None,
            "fromString": None,
            "to": attachment_id,
            "toString": filename,
        }
        with self.store.lock:
            self.store.put(ATTACHMENTS, attachment_id, metadata)
            issue["attachment_ids"].append(attachment_id)
        self._apply_and_announce(context, issue, {}, [], extra_items=[item])
        return metadata

    def attachment(self, attachment_id: str) -> dict[str, Any]:
        metadata = self.store.get(ATTACHMENTS, attachment_id) if attachment_id.isdigit() else None
        if metadata is None:
            raise JiraError(404, f"The attachment with id '{attachment_id}' does not exist.")
        return metadata

    def attachment_path(self, attachment_id: str) -> Path:
        return self.attachments_dir / attachment_id

    def delete_attachment(self, context: Context, attachment_id: str) -> None:
        metadata = self.attachment(attachment_id)
        issue = self.store.get(ISSUES, metadata["issue_id"])
        with self.store.lock:
            self.store.delete(ATTACHMENTS, attachment_id)
            self.attachment_path(attachment_id).unlink(missing_ok=True)
        if issue is None:
            return
        issue["attachment_ids"].remove(attachment_id)
        item = {
            "field": "Attachment",
            "fieldtype": "jira",
            "fieldId": "attachment",
            "from": attachment_id,
            "fromString": metadata["filename"],
            "to": None,
            "toString": None,
        }
        self._apply_and_announce(context, issue, {}, [], extra_items=[item])

    # -- events ------------------------------------------------------------------------------
    def _publish(
        self,
        webhook_event: str,
        event_type: str | None,
        issue: dict[str, Any],
        context: Context,
        *,
        changelog: dict[str, Any] | None = None,
        comment: dict[str, Any] | None = None,
    ) -> None:
        interested = [sink for sink in self.sinks if sink.wants(webhook_event)]
        if not interested:
            return
        snapshot = {key: value for key, value in issue.items() if key != "histories"}
        event = IssueEvent(
            webhook_event=webhook_event,
            issue_event_type_name=event_type,
            issue=copy.deepcopy(snapshot),
            context=context,
            timestamp=self.now_ms(),
            changelog=copy.deepcopy(changelog),
            comment=copy.deepcopy(comment),
        )
        for sink in interested:
            sink.publish(event)

    def _publish_comment(
        self,
        webhook_event: str,
        issue_event_type: str | None,
        issue: dict[str, Any],
        comment: dict[str, Any],
        context: Context,
    ) -> None:
        self._publish(webhook_event, None, issue, context, comment=comment)
        if issue_event_type is not None:
            # Jira also announces comment changes as an issue update (``issue_commented`` etc.).
            self._publish("jira:issue_updated", issue_event_type, issue, context, comment=comment)


# -- views ---------------------------------------------------------------------------------------
class IssueView:
    """The JSON representations of issues, comments, attachments and changelogs for one request."""

    def __init__(self, catalog: Catalog, store: DocumentStore, base_url: str, version: str) -> None:
        self.catalog = catalog
        self.store = store
        self.base_url = base_url
        self.version = version

    def issue_url(self, issue_id: str) -> str:
        return f"{self.base_url}/rest/api/{self.version}/issue/{issue_id}"

    def select_fields(self, requested: list[str], default: str) -> set[str]:
        """The field ids named by ``fields`` parameters (csv, repeatable, ``*all``, ``-x``)."""
        tokens = [
            token.strip() for value in requested for token in value.split(",") if token.strip()
        ]
        if not tokens:
            tokens = [default]
        included: set[str] = set()
        excluded: set[str] = set()
        for token in tokens:
            if token == "*all":
                included |= set(self.catalog.fields)
            elif token == "*navigable":
                included |= {f.id for f in self.catalog.fields.values() if f.navigable}
            elif token.startswith("-"):
                excluded.add(token[1:])
            elif token in self.catalog.fields:
                included.add(token)
        return included - excluded

    def field_value(self, issue: dict[str, Any], field_id: str) -> Any:
        catalog, base, version = self.catalog, self.base_url, self.version
        if field_id == "summary":
            return issue["summary"]
        if field_id == "description":
            return render_rich_text(issue["description"], version)
        if field_id == "status":
            return catalog.status_bean(issue["status_id"], base, version)
        if field_id == "issuetype":
            return catalog.issue_type_bean(issue["issuetype_id"], base, version)
        if field_id == "project":
            return catalog.project_summary_bean(issue["project_id"], base, version)
        if field_id == "priority":
            return catalog.priority_bean(issue["priority_id"], base, version)
        if field_id in ("assignee", "reporter", "creator"):
            return catalog.user_bean(issue.get(field_id), base)
        if field_id == "labels":
            return list(issue["labels"])
        if field_id in ("created", "updated"):
            return format_timestamp(issue[field_id])
        if field_id == "statuscategorychangedate":
            return format_timestamp(issue["status_changed"])
        if field_id == "attachment":
            attachments = [self.store.get(ATTACHMENTS, a) for a in issue["attachment_ids"]]
            return [self.attachment(a) for a in attachments if a is not None]
        if field_id == "comment":
            return self.comment_page(issue, issue["comments"], 0, len(issue["comments"]))
        if field_id in ("resolution", "resolutiondate"):
            return None
        definition = catalog.fields[field_id]
        return render_value(catalog, definition, issue["custom"].get(field_id), base, version)

    def issue(
        self, issue: dict[str, Any], field_ids: set[str], expand: set[str] | None = None
    ) -> dict[str, Any]:
        expand = expand or set()
        bean: dict[str, Any] = {
            "expand": ISSUE_EXPAND,
            "id": issue["id"],
            "self": self.issue_url(issue["id"]),
            "key": issue["key"],
        }
        ordered = [field_id for field_id in self.catalog.fields if field_id in field_ids]
        bean["fields"] = {field_id: self.field_value(issue, field_id) for field_id in ordered}
        if "renderedFields" in expand:
            bean["renderedFields"] = {
                field_id: self._rendered(issue, field_id) for field_id in ordered
            }
        if "names" in expand:
            bean["names"] = {field_id: self.catalog.fields[field_id].name for field_id in ordered}
        if "schema" in expand:
            bean["schema"] = {
                field_id: self.catalog.fields[field_id].schema for field_id in ordered
            }
        if "transitions" in expand:
            bean["transitions"] = [
                self.catalog.transition_bean(t, self.base_url, self.version)
                for t in self.catalog.transitions_from(issue["status_id"])
                if t["to"] != issue["status_id"]
            ]
        if "changelog" in expand:
            histories = [self.history(history) for history in issue["histories"]]
            bean["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            }
        return bean

    def _rendered(self, issue: dict[str, Any], field_id: str) -> Any:
        definition = self.catalog.fields[field_id]
        if definition.kind == "textarea":
            document = (
                issue["description"] if field_id == "description" else issue["custom"].get(field_id)
            )
            return adf.document_to_html(document) if document else None
        if field_id in ("created", "updated"):
            return format_timestamp(issue[field_id])
        if field_id == "comment":
            page = self.comment_page(issue, issue["comments"], 0, len(issue["comments"]))
            for bean, comment in zip(page["comments"], issue["comments"], strict=True):
                bean["body"] = adf.document_to_html(comment["body"])
            return page
        return None

    def history(self, history: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": history["id"],
            "author": self.catalog.user_bean(history["author"], self.base_url),
            "created": format_timestamp(history["created"]),
            "items": history["items"],
        }

    def comment(
        self, issue: dict[str, Any], comment: dict[str, Any], *, rendered_body: bool = False
    ) -> dict[str, Any]:
        bean: dict[str, Any] = {
            "self": f"{self.issue_url(issue['id'])}/comment/{comment['id']}",
            "id": comment["id"],
            "author": self.catalog.user_bean(comment["author"], self.base_url),
            "body": render_rich_text(comment["body"], self.version),
            "updateAuthor": self.catalog.user_bean(comment["update_author"], self.base_url),
            "created": format_timestamp(comment["created"]),
            "updated": format_timestamp(comment["updated"]),
            "jsdPublic": True,
        }
        if rendered_body:
            bean["renderedBody"] = adf.document_to_html(comment["body"])
        if comment.get("visibility"):
            visibility = comment["visibility"]
            bean["visibility"] = {
                "type": visibility["type"],
                "value": visibility["value"],
                "identifier": visibility["value"],
            }
        return bean

    def comment_page(
        self,
        issue: dict[str, Any],
        comments: list[dict[str, Any]],
        start_at: int,
        max_results: int,
        *,
        rendered_body: bool = False,
    ) -> dict[str, Any]:
        page = comments[start_at : start_at + max_results]
        return {
            "comments": [self.comment(issue, c, rendered_body=rendered_body) for c in page],
            "self": f"{self.issue_url(issue['id'])}/comment",
            "maxResults": max_results,
            "total": len(comments),
            "startAt": start_at,
        }

    def attachment(self, metadata: dict[str, Any], *, numeric_id: bool = False) -> dict[str, Any]:
        attachment_id = metadata["id"]
        base = f"{self.base_url}/rest/api/{self.version}/attachment"
        author = self.catalog.user_bean(metadata["author"], self.base_url)
        return {
            "self": f"{base}/{attachment_id}",
            # GET /attachment/{id} answers with a numeric id (AttachmentMetadata); everything
            # else with a string (Attachment).
            "id": int(attachment_id) if numeric_id else attachment_id,
            "filename": metadata["filename"],
            "author": author,
            "created": format_timestamp(metadata["created"]),
            "size": metadata["size"],
            "mimeType": metadata["mimeType"],
            "content": f"{base}/content/{attachment_id}",
        }
