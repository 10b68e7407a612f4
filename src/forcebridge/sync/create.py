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
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.errors import Conflict, NotFound, ValidationFailed
from forcebridge.jira.jql import format_jql
from forcebridge.mappings.service import binding_for_project, entity_mapping_for
from forcebridge.models import Association, Connection
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.audit import record_attempt
from forcebridge.sync.context import (
    AssociationRef,
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
from forcebridge.sync.pull import read_record
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
        source_key = f"{salesforce_object.lower()}:{record_id}>{project_id}/{issue_type_id}"
        pending = _claim(container, connection_id, JIRA_ISSUE, source_key)
        if pending.state == "created":
            return _existing(container, connection_id, pending, salesforce_object, record_id)
        source = _pseudo_association(
            connection_id, salesforce_object, record_id, project_id, issue_id="", issue_key=""
        )
        record = read_record(context, source, rules, with_extras=False)
        describe = context.describe(salesforce_object)
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
                f"A Jira issue needs a summary, and no mapped field of {salesforce_object} "
                f"{record_id} gives one.",
                hint=f"Map a text field of {salesforce_object} (e.g. Subject or Name) to summary"
                " with direction pull or both.",
            )
        label = MARKER_LABEL_PREFIX + pending.marker
        found = _find_marked_issue(context, label) if pending.attempts > 1 else None
        if found is None:
            labels = [*(values.get("labels") or []), label]
            payload = {
                **values,
                "labels": labels,
                "project": {"id": project_id},
                "issuetype": {"id": issue_type_id},
            }
            found = context.jira.create_issue(payload)
        issue_id, issue_key = str(found["id"]), str(found["key"])
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
                    jira_fingerprint=echo_after_pull(rule, value, jira_fields, describe),
                    salesforce_fingerprint=value.fingerprint,
                    direction="pull",
                )
                for rule, value in pulled
                if value.problem is None and not value.absent and not value.is_status
            ]
            session.flush()
            store_fingerprints(session, states, container.clock())
            association_state(session, association.id).jira_issue_type_id = issue_type_id
            _audit(session, context, association, result, trigger, started, clock_start)
        return CreateResult(association, created=True, result=result)


def _find_marked_issue(context: SyncContext, label: str) -> dict[str, Any] | None:
    jql = format_jql("labels = {}", label)
    for issue in context.jira.search(jql, fields=["summary"], page_size=2):
        return issue
    return None


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
    for _ in range(2):
        try:
            with container.session() as session:
                row = session.scalars(
                    select(PendingCreate).where(
                        PendingCreate.connection_id == connection_id,
                        PendingCreate.kind == kind,
                        PendingCreate.source_key == source_key,
                    )
                ).one_or_none()
                if row is None:
                    row = PendingCreate(
                        connection_id=connection_id,
                        kind=kind,
                        source_key=source_key,
                        marker=uuid.uuid4().hex[:20],
                        started_at=container.clock(),
                    )
                    session.add(row)
                if row.state != "created":
                    row.attempts = (row.attempts or 0) + 1
                session.flush()
                return row
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
