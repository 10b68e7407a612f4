"""Create on either side: a Jira issue from a Salesforce record, or a record from an issue.

Neither vendor offers an idempotency key for these creates, and a create whose response is lost
(a dropped connection, a timeout) may or may not have happened. So every create is guarded by a
:class:`~forcebridge.sync.models.PendingCreate` row, committed *before* the vendor call:

- **Jira**: the row holds a random marker, and the issue is created with the label
  ``forcebridge-<marker>``. A retry of the same create (same record, project and issue type)
  finds the pending row and first searches ``labels = "forcebridge-<marker>"``: if the issue
  exists, it is adopted instead of created again. The label stays on the issue (it is the proof
  of where the issue came from, and removing it would cost a call and the proof).
- **Salesforce**: a record cannot carry a marker without a custom field, so a retry looks the
  record up instead: a record of the object created since the pending row was written whose
  filterable mapped text fields all equal the values being created. If the object has no such
  field the retry refuses (409) rather than risk a duplicate.

Once the create is known, the row is marked created and the association is stored with the
field state of the values just written, so the next push or pull writes nothing.

Many Jira issues at once (:func:`create_jira_issues`, used by bulk jobs) keep the same rows and
markers, batched (DESIGN §6): the pending rows of the whole batch are committed first, the
records are read with one ``WHERE Id IN (...)`` query, and the issues are created with Jira's
bulk create (``POST /issue/bulk``, 50 a call). Only when some of the batch's creates were
attempted before is there a search, one for all their markers (``labels in (...)``), before any
create. A single create and a bulk create of the same record share their pending row, so either
adopts what the other created.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.errors import (
    Conflict,
    ForceBridgeError,
    NotFound,
    TransientExternalError,
    ValidationFailed,
)
from forcebridge.jira.client import MAX_BULK_CREATE
from forcebridge.jira.jql import format_jql
from forcebridge.mappings.service import binding_for_project, entity_mapping_for
from forcebridge.models import Association, Connection
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.audit import record_attempt
from forcebridge.sync.context import (
    AssociationRef,
    RuleValue,
    SyncContext,
    canonical_record_id,
    echo_after_pull,
    echo_after_push,
    ensure_modification_allowed,
    pull_value,
    push_value,
)
from forcebridge.sync.mapping_engine import FieldRule
from forcebridge.sync.models import PendingCreate
from forcebridge.sync.pull import read_record, read_records, record_not_found
from forcebridge.sync.push import issue_type_of
from forcebridge.sync.results import AssociationResult, FieldChange, preview
from forcebridge.sync.state import FieldStateUpdate, association_state, store_fingerprints

MARKER_LABEL_PREFIX = "forcebridge-"
JIRA_ISSUE = "jira_issue"
SALESFORCE_RECORD = "salesforce_record"
# Text types Salesforce can filter on with "=" (long text areas cannot be filtered).
_LOOKUP_TYPES = {"string", "picklist", "email", "phone", "url", "combobox"}


@dataclass(frozen=True)
class Flags:
    """Association flags for the created link; None takes the connection's default."""

    view_only: bool | None = None
    auto_push: bool | None = None
    auto_pull: bool | None = None


@dataclass
class CreateResult:
    """The association of the created (or, on a retry, found) item."""

    association: Association
    created: bool
    result: AssociationResult


@dataclass
class BulkCreateOutcome:
    """Per record id (as given): the create's result, or the error that stopped that record."""

    created: dict[str, CreateResult] = field(default_factory=dict)
    failed: dict[str, ForceBridgeError] = field(default_factory=dict)


@dataclass
class _PreparedIssue:
    """One record's issue, ready to create: its pending row, values and result."""

    given_id: str
    record_id: str
    pending: PendingCreate
    result: AssociationResult
    pulled: list[tuple[FieldRule, RuleValue]]
    values: dict[str, Any]

    @property
    def label(self) -> str:
        return MARKER_LABEL_PREFIX + self.pending.marker


# -- Jira issue from a Salesforce record ---------------------------------------------------------


def create_jira_issue(
    container: Container,
    connection_id: str,
    *,
    salesforce_object: str,
    salesforce_id: str,
    project_id: str,
    issue_type_id: str,
    flags: Flags = Flags(),
    trigger: str = "api",
) -> CreateResult:
    """Create an issue in ``project_id`` from the record's mapped fields, and associate them."""
    started = container.clock()
    clock_start = time.perf_counter()
    record_id = canonical_record_id(salesforce_object, salesforce_id)
    with SyncContext(container, connection_id) as context:
        ensure_modification_allowed(context.connection)
        rules = _rules(context, project_id, issue_type_id, salesforce_object)
        source_key = _jira_source_key(salesforce_object, record_id, project_id, issue_type_id)
        pending = _claim(container, connection_id, JIRA_ISSUE, source_key)
        if pending.state == "created":
            return _existing(container, connection_id, pending, salesforce_object, record_id)
        source = _pseudo_association(
            connection_id, salesforce_object, record_id, project_id, issue_id="", issue_key=""
        )
        record = read_record(context, source, rules, with_extras=False)
        item = _prepare_issue(context, rules, record, salesforce_id, source, pending)
        found = None
        if pending.attempts > 1:  # an earlier attempt may have created it: look first
            found = _find_marked_issues(context, [item.label]).get(item.label)
        if found is None:
            found = context.jira.create_issue(_issue_payload(item, project_id, issue_type_id))
        with container.session() as session:
            return _store_created_issue(
                session, context, item, found, project_id, issue_type_id, flags,
                trigger, started, clock_start,
            )  # fmt: skip


def create_jira_issues(
    container: Container,
    connection_id: str,
    *,
    salesforce_object: str,
    salesforce_ids: Sequence[str],
    project_id: str,
    issue_type_id: str,
    flags: Flags = Flags(),
    trigger: str = "bulk",
) -> BulkCreateOutcome:
    """Create an issue per record, batched: one pending row each (committed first), one
    ``WHERE Id IN (...)`` read, one marker search only if some creates ran before, and Jira's
    bulk create, :data:`~forcebridge.jira.client.MAX_BULK_CREATE` issues a call.

    A record that cannot be created (malformed id, gone, no summary, refused by Jira) is in
    ``failed`` and the others are created. A failure of the whole batch that is not transient
    (modification off, project not bound) is raised, as is a transient one of a shared call: the
    batch is then safe to run again, and the retry adopts what was created.
    """
    started = container.clock()
    clock_start = time.perf_counter()
    outcome = BulkCreateOutcome()
    record_ids: dict[str, str] = {}  # canonical → as given
    for given in salesforce_ids:
        try:
            record_ids.setdefault(canonical_record_id(salesforce_object, given), given)
        except ForceBridgeError as error:
            outcome.failed[given] = error
    if not record_ids:
        return outcome
    with SyncContext(container, connection_id) as context:
        ensure_modification_allowed(context.connection)
        rules = _rules(context, project_id, issue_type_id, salesforce_object)
        keys = {
            record_id: _jira_source_key(salesforce_object, record_id, project_id, issue_type_id)
            for record_id in record_ids
        }
        pendings = _claim_many(container, connection_id, JIRA_ISSUE, keys.values())
        to_create: list[str] = []
        for record_id, key in keys.items():
            if pendings[key].state != "created":
                to_create.append(record_id)
                continue
            try:
                outcome.created[record_ids[record_id]] = _existing(
                    container, connection_id, pendings[key], salesforce_object, record_id
                )
            except ForceBridgeError as error:
                outcome.failed[record_ids[record_id]] = error
        if not to_create:
            return outcome
        records = read_records(context, salesforce_object, to_create, rules, with_extras=False)
        prepared: list[_PreparedIssue] = []
        for record_id in to_create:
            given = record_ids[record_id]
            source = _pseudo_association(
                connection_id, salesforce_object, record_id, project_id, issue_id="", issue_key=""
            )
            try:
                record = records.get(record_id)
                if record is None:
                    raise record_not_found(salesforce_object, record_id)
                pending = pendings[keys[record_id]]
                prepared.append(_prepare_issue(context, rules, record, given, source, pending))
            except ForceBridgeError as error:
                outcome.failed[given] = error
        # Only creates attempted before can have left an issue behind: one search for them all.
        retried = [item.label for item in prepared if item.pending.attempts > 1]
        found = _find_marked_issues(context, retried) if retried else {}
        to_send: list[_PreparedIssue] = []
        with container.session() as session:
            for item in prepared:
                if item.label not in found:
                    to_send.append(item)
                    continue
                outcome.created[item.given_id] = _store_created_issue(
                    session, context, item, found[item.label], project_id, issue_type_id, flags,
                    trigger, started, clock_start,
                )  # fmt: skip
        for start in range(0, len(to_send), MAX_BULK_CREATE):
            batch = to_send[start : start + MAX_BULK_CREATE]
            try:
                answers = context.jira.create_issues(
                    [_issue_payload(item, project_id, issue_type_id) for item in batch]
                )
            except TransientExternalError:
                raise
            except ForceBridgeError as error:
                for item in batch:
                    outcome.failed[item.given_id] = error
                continue
            # Stored right after each call, so a crash loses at most one call's answers (and
            # the retry's marker search finds those issues).
            with container.session() as session:
                for item, answer in zip(batch, answers, strict=True):
                    refused = answer.get("error")
                    if isinstance(refused, ForceBridgeError):
                        outcome.failed[item.given_id] = refused
                        continue
                    outcome.created[item.given_id] = _store_created_issue(
                        session, context, item, answer, project_id, issue_type_id, flags,
                        trigger, started, clock_start,
                    )  # fmt: skip
    return outcome


def _jira_source_key(
    salesforce_object: str, record_id: str, project_id: str, issue_type_id: str
) -> str:
    return f"{salesforce_object.lower()}:{record_id}>{project_id}/{issue_type_id}"


def _prepare_issue(
    context: SyncContext,
    rules: Sequence[FieldRule],
    record: dict[str, Any],
    given_id: str,
    source: AssociationRef,
    pending: PendingCreate,
) -> _PreparedIssue:
    """The issue's values from the record's pulled fields (``ValidationFailed`` without a
    summary: Jira requires one)."""
    describe = context.describe(source.salesforce_object)
    jira_fields = context.jira_fields()
    result = AssociationResult.for_association(source, "create")
    # (rule, value) pairs: rules hold dicts (value maps), so they cannot be dict keys.
    pulled = [
        (rule, pull_value(rule, record, describe, jira_fields))
        for rule in rules
        if rule.applies_to("pull")
    ]
    values: dict[str, Any] = {}
    for _, value in pulled:
        if value.problem is not None:
            result.problems.append(value.problem)
        elif not value.absent and not value.is_status:
            values[value.target] = value.value
    if not values.get("summary"):
        raise ValidationFailed(
            f"A Jira issue needs a summary, and no mapped field of {source.salesforce_object} "
            f"{source.salesforce_id} gives one.",
            hint=f"Map a text field of {source.salesforce_object} (e.g. Subject or Name) to"
            " summary with direction pull or both.",
        )
    return _PreparedIssue(given_id, source.salesforce_id, pending, result, pulled, values)


def _issue_payload(item: _PreparedIssue, project_id: str, issue_type_id: str) -> dict[str, Any]:
    return {
        **item.values,
        "labels": [*(item.values.get("labels") or []), item.label],
        "project": {"id": project_id},
        "issuetype": {"id": issue_type_id},
    }


def _store_created_issue(
    session: Any,
    context: SyncContext,
    item: _PreparedIssue,
    issue: dict[str, Any],
    project_id: str,
    issue_type_id: str,
    flags: Flags,
    trigger: str,
    started: datetime,
    clock_start: float,
) -> CreateResult:
    """Associate the created (or adopted) issue, with the field state of the values it got."""
    issue_id, issue_key = str(issue["id"]), str(issue["key"])
    salesforce_object = item.result.salesforce_object
    describe = context.describe(salesforce_object)
    jira_fields = context.jira_fields()
    for target, value in item.values.items():
        item.result.changes.append(FieldChange(target, None, preview(target, value)))
    association = _store_association(
        session, context.connection, item.pending.id, issue_id, issue_key, project_id,
        salesforce_object, item.record_id, flags,
    )  # fmt: skip
    states = [
        FieldStateUpdate.of_value(
            association.id,
            rule,
            value,
            jira_fingerprint=echo_after_pull(rule, value, jira_fields, describe),
            salesforce_fingerprint=value.fingerprint,
            direction="pull",
        )
        for rule, value in item.pulled
        if value.problem is None and not value.absent and not value.is_status
    ]
    session.flush()
    store_fingerprints(session, states, context.container.clock())
    association_state(session, association.id).jira_issue_type_id = issue_type_id
    _audit(session, context, association, item.result, trigger, started, clock_start)
    return CreateResult(association, created=True, result=item.result)


def _find_marked_issues(context: SyncContext, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The issues carrying any of the marker ``labels``, by label: one search (a page per 100)."""
    wanted = set(labels)
    jql = format_jql("labels in {}", list(labels))
    found: dict[str, dict[str, Any]] = {}
    for issue in context.jira.search(jql, fields=["labels"], page_size=100):
        for label in (issue.get("fields") or {}).get("labels") or []:
            if label in wanted:
                found.setdefault(label, issue)
    return found


# -- Salesforce record from a Jira issue ---------------------------------------------------------


def create_salesforce_record(
    container: Container,
    connection_id: str,
    *,
    jira_issue: str,
    salesforce_object: str,
    flags: Flags = Flags(),
    trigger: str = "api",
) -> CreateResult:
    """Create a record of ``salesforce_object`` from the issue's mapped fields, and associate."""
    started = container.clock()
    clock_start = time.perf_counter()
    with SyncContext(container, connection_id) as context:
        ensure_modification_allowed(context.connection)
        # One read with every field: the project and issue type, which pick the rules, are only
        # known from the issue itself.
        issue = context.jira.get_issue(jira_issue)
        fields = issue.get("fields") or {}
        issue_id, issue_key = str(issue.get("id")), str(issue.get("key"))
        project_id = str((fields.get("project") or {}).get("id") or "")
        issue_type_id = issue_type_of(issue)
        rules = _rules(context, project_id, issue_type_id, salesforce_object)
        describe = context.describe(salesforce_object)
        salesforce_object = str(describe.get("name") or salesforce_object)
        jira_fields = context.jira_fields()
        source_key = f"{issue_id}>{salesforce_object.lower()}"
        pending = _claim(container, connection_id, SALESFORCE_RECORD, source_key)
        if pending.state == "created" and pending.created_id:
            return _existing(container, connection_id, pending, salesforce_object, None)
        pseudo = _pseudo_association(
            connection_id, salesforce_object, "", project_id, issue_id=issue_id, issue_key=issue_key
        )
        result = AssociationResult.for_association(pseudo, "create")
        pushed = [
            (rule, push_value(rule, issue, jira_fields, describe))
            for rule in rules
            if rule.applies_to("push")
        ]
        values: dict[str, Any] = {}
        for _, value in pushed:
            if value.problem is not None:
                result.problems.append(value.problem)
            else:
                values[value.target] = value.value
        record_id = None
        if pending.attempts > 1:
            record_id = _find_created_record(context, salesforce_object, describe, values, pending)
        if record_id is None:
            record_id = context.salesforce.create_record(salesforce_object, values)
        record_id = canonical_record_id(salesforce_object, record_id)
        for target, value in values.items():
            result.changes.append(FieldChange(target, None, preview(target, value)))
        with container.session() as session:
            association = _store_association(
                session, context.connection, pending.id, issue_id, issue_key, project_id,
                salesforce_object, record_id, flags,
            )  # fmt: skip
            states = [
                FieldStateUpdate.of_value(
                    association.id,
                    rule,
                    value,
                    jira_fingerprint=value.fingerprint,
                    salesforce_fingerprint=echo_after_push(
                        rule, value.target, value.value, describe, jira_fields
                    ),
                    direction="push",
                )
                for rule, value in pushed
                if value.problem is None
            ]
            session.flush()
            store_fingerprints(session, states, container.clock())
            association_state(session, association.id).jira_issue_type_id = issue_type_id
            _audit(session, context, association, result, trigger, started, clock_start)
        return CreateResult(association, created=True, result=result)


def _find_created_record(
    context: SyncContext,
    salesforce_object: str,
    describe: dict[str, Any],
    values: dict[str, Any],
    pending: PendingCreate,
) -> str | None:
    """A record created by an earlier attempt of this create, looked up by its values."""
    types = {
        str(entry.get("name")): entry
        for entry in describe.get("fields") or []
        if isinstance(entry, dict)
    }
    matches = {
        name: value
        for name, value in values.items()
        if isinstance(value, str)
        and value
        and len(value) <= 255
        and types.get(name, {}).get("filterable")
        and types.get(name, {}).get("type") in _LOOKUP_TYPES
    }
    if not matches:
        raise Conflict(
            f"An earlier attempt to create this {salesforce_object} may have succeeded, and "
            f"{salesforce_object} has no mapped text field to look it up by.",
            hint=f"Check Salesforce for a new {salesforce_object} and associate it by hand.",
        )
    # Whole seconds, a second early: SOQL datetimes have no fractions.
    since = (pending.started_at - timedelta(seconds=1)).replace(microsecond=0)
    template = "SELECT Id FROM {:identifier} WHERE CreatedDate >= {}"
    arguments: list[Any] = [salesforce_object, since]
    for name, value in matches.items():
        template += " AND {:identifier} = {}"
        arguments.extend([name, value])
    template += " ORDER BY CreatedDate LIMIT 1"
    for row in context.salesforce.query(format_soql(template, *arguments)):
        return str(row["Id"])
    return None


# -- shared --------------------------------------------------------------------------------------


def _rules(
    context: SyncContext, project_id: str, issue_type_id: str | None, salesforce_object: str
) -> list[FieldRule]:
    with context.container.session() as session:
        if binding_for_project(session, context.connection_id, project_id) is None:
            raise NotFound(
                f"Jira project {project_id} is not bound to this connection.",
                hint="Bind the project in the connection's settings first.",
            )
        if (
            entity_mapping_for(
                session, context.connection_id, project_id, issue_type_id, salesforce_object
            )
            is None
        ):
            raise ValidationFailed(
                f"{salesforce_object} is not mapped for this issue type in project {project_id}.",
                hint="Add an entity mapping for the object to the project's binding.",
            )
    return context.rules_for(project_id, issue_type_id, salesforce_object)


def _claim(container: Container, connection_id: str, kind: str, source_key: str) -> PendingCreate:
    """The pending row for this create, written and committed before any vendor call.

    A second caller of the same create gets the same row with ``attempts`` > 1, which tells it to
    look for an earlier attempt's result before creating.
    """
    return _claim_many(container, connection_id, kind, [source_key])[source_key]


def _claim_many(
    container: Container, connection_id: str, kind: str, source_keys: Iterable[str]
) -> dict[str, PendingCreate]:
    """:func:`_claim` for many creates of one kind, in one transaction."""
    keys = list(dict.fromkeys(source_keys))
    for _ in range(2):
        try:
            with container.session() as session:
                rows: dict[str, PendingCreate] = {}
                # SQLite caps bound parameters; 500 keys a query stays far below every limit.
                for start in range(0, len(keys), 500):
                    rows.update(
                        (row.source_key, row)
                        for row in session.scalars(
                            select(PendingCreate).where(
                                PendingCreate.connection_id == connection_id,
                                PendingCreate.kind == kind,
                                PendingCreate.source_key.in_(keys[start : start + 500]),
                            )
                        )
                    )
                for key in keys:
                    row = rows.get(key)
                    if row is None:
                        row = PendingCreate(
                            connection_id=connection_id,
                            kind=kind,
                            source_key=key,
                            marker=uuid.uuid4().hex[:20],
                            started_at=container.clock(),
                        )
                        session.add(row)
                        rows[key] = row
                    if row.state != "created":
                        row.attempts = (row.attempts or 0) + 1
                session.flush()
                return rows
        except IntegrityError:
            continue  # another request claimed the same create in the same instant
    raise Conflict("The same create is running in another request.", hint="Retry in a few seconds.")


def _existing(
    container: Container,
    connection_id: str,
    pending: PendingCreate,
    salesforce_object: str,
    record_id: str | None,
) -> CreateResult:
    with container.session() as session:
        query = select(Association).where(Association.connection_id == connection_id)
        if pending.kind == JIRA_ISSUE:
            query = query.where(
                Association.jira_issue_id == pending.created_id,
                Association.salesforce_id == record_id,
            )
        else:
            query = query.where(Association.salesforce_id == pending.created_id)
        association = session.scalars(query).first()
    if association is None:
        raise Conflict(
            "This item was already created, but its association has since been removed.",
            hint="Associate the created item again with POST /external/api/association.",
        )
    result = AssociationResult.for_association(AssociationRef.from_model(association), "create")
    result.outcome = "no_change"
    result.note = "already created by an earlier request"
    del salesforce_object
    return CreateResult(association, created=False, result=result)


def _store_association(
    session: Any,
    connection: Connection,
    pending_id: str,
    issue_id: str,
    issue_key: str,
    project_id: str,
    salesforce_object: str,
    record_id: str,
    flags: Flags,
) -> Association:
    fresh = get_connection(session, connection.id)
    association = session.scalars(
        select(Association).where(
            Association.connection_id == connection.id,
            Association.jira_issue_id == issue_id,
            Association.salesforce_object == salesforce_object,
            Association.salesforce_id == record_id,
        )
    ).one_or_none()
    if association is None:
        association = Association(
            connection_id=connection.id,
            jira_issue_id=issue_id,
            jira_issue_key=issue_key,
            jira_project_id=project_id,
            salesforce_object=salesforce_object,
            salesforce_id=record_id,
            view_only=_flag(flags.view_only, fresh.default_view_only),
            auto_push=_flag(flags.auto_push, fresh.default_auto_push),
            auto_pull=_flag(flags.auto_pull, fresh.default_auto_pull),
        )
        session.add(association)
    pending = session.get(PendingCreate, pending_id)
    pending.state = "created"
    pending.created_id = issue_id if pending.kind == JIRA_ISSUE else record_id
    pending.created_key = issue_key if pending.kind == JIRA_ISSUE else None
    session.flush()
    return association


def _flag(chosen: bool | None, default: bool) -> bool:
    return bool(default) if chosen is None else chosen


def _pseudo_association(
    connection_id: str,
    salesforce_object: str,
    record_id: str,
    project_id: str,
    *,
    issue_id: str,
    issue_key: str,
) -> AssociationRef:
    return AssociationRef(
        id="",
        connection_id=connection_id,
        jira_issue_id=issue_id,
        jira_issue_key=issue_key,
        jira_project_id=project_id,
        salesforce_object=salesforce_object,
        salesforce_id=record_id,
        view_only=False,
    )


def _audit(
    session: Any,
    context: SyncContext,
    association: Association,
    result: AssociationResult,
    trigger: str,
    started: Any,
    clock_start: float,
) -> None:
    result.association_id = association.id
    result.jira_issue_id = association.jira_issue_id
    result.jira_issue_key = association.jira_issue_key
    result.salesforce_id = association.salesforce_id
    result.settle()
    record_attempt(
        session,
        connection_id=context.connection_id,
        result=result,
        trigger=trigger,
        started_at=started,
        finished_at=started + timedelta(seconds=time.perf_counter() - clock_start),
    )
