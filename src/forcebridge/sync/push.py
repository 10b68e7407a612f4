"""Push: a Jira issue's mapped fields to every Salesforce record associated with it (or one).

Cost, asserted by tests through the sandbox's request log:
- one Jira read: ``GET issue`` with exactly the mapped fields (of every entity mapping of the
  objects involved, since the issue type is only known once the issue is read) plus
  ``updated``, ``issuetype`` and ``project`` — and ``comment``/``attachment`` when comment and
  attachment sync run;
- no Salesforce read: a manual push is an explicit direction ("Jira wins"), so what Salesforce
  holds is not consulted;
- Salesforce writes only for values whose fingerprint differs from the one stored after the last
  sync, batched per object in sObject Collections of 200 (``ceil(N/200)`` calls for N records).

A value Salesforce refuses for one field (a validation rule, a wrong type) is reported as a
problem on that field, and the record is written again without it, so the other fields land.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from forcebridge.container import Container
from forcebridge.errors import ExternalServiceError, ForceBridgeError, NotFound
from forcebridge.sync import extensions
from forcebridge.sync.audit import record_attempt
from forcebridge.sync.context import (
    AssociationRef,
    SyncContext,
    echo_after_push,
    ensure_modification_allowed,
    find_associations,
    jira_field_id,
    jira_fields_to_read,
    pick_association,
    push_value,
    view_only_conflict,
)
from forcebridge.sync.mapping_engine import FieldProblem, FieldRule
from forcebridge.sync.results import (
    AssociationResult,
    FieldChange,
    SyncReport,
    preview,
)
from forcebridge.sync.state import (
    FieldStateUpdate,
    StoredFingerprints,
    association_state,
    load_fingerprints,
    store_fingerprints,
)

ISSUE_BOOKKEEPING_FIELDS = ("updated", "issuetype", "project")


@dataclass
class PlannedWrite:
    """Values to write to one record, and the state to store once they are written."""

    association: AssociationRef
    result: AssociationResult
    values: dict[str, Any] = field(default_factory=dict)
    # salesforce field → state to store when that field was written
    pending_states: dict[str, FieldStateUpdate] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)


def push_issue(
    container: Container,
    connection_id: str,
    jira_issue: str,
    *,
    salesforce_object: str | None = None,
    salesforce_id: str | None = None,
    project_id: str | None = None,
    trigger: str = "api",
) -> SyncReport:
    """Push the issue to all its associations, or to the one record named.

    ``NotFound`` when the issue has no association (or not with that record, or is not in
    ``project_id``); ``Conflict`` when the one association named is view-only; ``Forbidden`` when
    the connection does not allow modification. View-only associations are skipped otherwise.
    """
    started = container.clock()
    clock_start = time.perf_counter()
    with SyncContext(container, connection_id) as context:
        associations = find_associations(context, jira_issue)
        associations = _select(associations, jira_issue, salesforce_object, salesforce_id)
        if project_id is not None and any(a.jira_project_id != project_id for a in associations):
            raise NotFound(
                f"Jira issue {jira_issue} is not in the project with id {project_id}.",
                hint="Use the numeric id of the issue's own project.",
            )
        if salesforce_object is not None and associations[0].view_only:
            raise view_only_conflict(associations[0])
        ensure_modification_allowed(context.connection)
        report = SyncReport("push")
        active = [a for a in associations if not a.view_only]
        for association in associations:
            if association.view_only:
                skipped = AssociationResult.for_association(association, "push")
                skipped.outcome = "skipped"
                skipped.note = "view-only association: never synced"
                report.results.append(skipped)
        issue_type_id = None
        if active:
            try:
                results, issue_type_id = _push_to(context, active)
            except ForceBridgeError as error:
                # The issue could not be read (or the state not stored): every association
                # records the failure, so sync-status shows it, and the caller gets the error.
                failed = [
                    AssociationResult.for_association(association, "push") for association in active
                ]
                for result in failed:
                    result.error = error
                record_results(context, [*report.results, *failed], trigger, started, clock_start)
                raise
            report.results.extend(results)
        record_results(context, report.results, trigger, started, clock_start, issue_type_id)
        return report


def _select(
    associations: list[AssociationRef],
    jira_issue: str,
    salesforce_object: str | None,
    salesforce_id: str | None,
) -> list[AssociationRef]:
    if salesforce_object is not None and salesforce_id is not None:
        return [pick_association(associations, jira_issue, salesforce_object, salesforce_id)]
    if not associations:
        raise NotFound(
            f"Jira issue {jira_issue} is not associated with any Salesforce record.",
            hint="Associate it first: POST /external/api/association.",
        )
    return associations


def _push_to(
    context: SyncContext, associations: Sequence[AssociationRef]
) -> tuple[list[AssociationResult], str | None]:
    issue = read_issue_for_push(context, associations)
    with context.container.session() as session:
        stored = load_fingerprints(session, (a.id for a in associations))
    plans = [plan_push(context, association, issue, stored) for association in associations]
    write_planned(context, plans)
    extensions.push_extras(context, plans, issue)
    return [plan.result for plan in plans], issue_type_of(issue)


def read_issue_for_push(
    context: SyncContext, associations: Sequence[AssociationRef]
) -> dict[str, Any]:
    """The one Jira read of a push: every mapped field of every candidate mapping."""
    first = associations[0]
    rules: list[FieldRule] = []
    for salesforce_object in {a.salesforce_object for a in associations}:
        rules.extend(context.candidate_rules(first.jira_project_id, salesforce_object))
    fields = [
        *jira_fields_to_read([r for r in rules if r.applies_to("push")], context.jira_fields()),
        *ISSUE_BOOKKEEPING_FIELDS,
        *extensions.issue_fields(context.connection),
    ]
    return context.jira.get_issue(first.jira_issue_id, fields=list(dict.fromkeys(fields)))


def issue_type_of(issue: dict[str, Any]) -> str | None:
    issue_type = (issue.get("fields") or {}).get("issuetype")
    if isinstance(issue_type, dict) and isinstance(issue_type.get("id"), str):
        return str(issue_type["id"])
    return None


def plan_push(
    context: SyncContext,
    association: AssociationRef,
    issue: dict[str, Any],
    stored: dict[tuple[str, str, str], StoredFingerprints],
    *,
    only_jira_fields: set[str] | None = None,
    direction: str = "push",
) -> PlannedWrite:
    """Compare the issue's mapped values with the stored fingerprints: what must be written.

    ``only_jira_fields`` (field ids) limits the plan to rules on those Jira fields: a pull's
    fan-out, whose synthetic issue holds only the fields the pull changed.
    """
    result = AssociationResult.for_association(association, direction)
    plan = PlannedWrite(association, result)
    rules = context.rules_for(
        association.jira_project_id, issue_type_of(issue), association.salesforce_object
    )
    if not rules:
        result.note = "no field mappings for this object and issue type"
        return plan
    describe = context.describe(association.salesforce_object)
    jira_fields = context.jira_fields()
    for rule in rules:
        if not rule.applies_to("push"):
            continue
        if (
            only_jira_fields is not None
            and jira_field_id(jira_fields, rule.jira_field) not in only_jira_fields
        ):
            continue
        current = push_value(rule, issue, jira_fields, describe)
        if current.problem is not None:
            result.problems.append(current.problem)
            continue
        key = (association.id, rule.jira_field, rule.salesforce_field)
        previous = stored.get(key)
        if previous is not None and previous.jira == current.fingerprint:
            continue  # Jira's value is what was last synced: nothing to write, no echo
        plan.values[current.target] = current.value
        plan.before[current.target] = previous.value_preview if previous else None
        plan.pending_states[current.target] = FieldStateUpdate.of_value(
            association.id,
            rule,
            current,
            jira_fingerprint=current.fingerprint,
            salesforce_fingerprint=echo_after_push(
                rule, current.target, current.value, describe, jira_fields
            ),
            direction="push",
        )
    return plan


def write_planned(context: SyncContext, plans: Sequence[PlannedWrite]) -> None:
    """Write every plan's values, batched per object; record what landed and what did not."""
    by_object: dict[str, list[PlannedWrite]] = defaultdict(list)
    for plan in plans:
        if plan.values:
            by_object[plan.association.salesforce_object].append(plan)
    for salesforce_object, object_plans in by_object.items():
        _write_object(context, salesforce_object, object_plans)
    updates = [
        state
        for plan in plans
        for target, state in plan.pending_states.items()
        if target in plan.result.fields_written
    ]
    with context.container.session() as session:
        store_fingerprints(session, updates, context.now())


def _write_object(context: SyncContext, salesforce_object: str, plans: list[PlannedWrite]) -> None:
    records = [{"Id": plan.association.salesforce_id, **plan.values} for plan in plans]
    try:
        save_results = context.salesforce.update_records(salesforce_object, records)
    except ForceBridgeError as error:
        for plan in plans:
            plan.result.error = error
        return
    retry: list[PlannedWrite] = []
    for plan, save_result in zip(plans, save_results, strict=True):
        if save_result.get("success"):
            _mark_written(plan, plan.values)
            continue
        refused = _refused_fields(plan, save_result)
        if refused and len(refused) < len(plan.values):
            for name in refused:
                plan.values.pop(name, None)
            retry.append(plan)
        elif not refused:
            plan.result.error = _record_error(salesforce_object, plan, save_result)
    if not retry:
        return
    # Second and last round: the same records without the fields Salesforce named.
    try:
        second = context.salesforce.update_records(
            salesforce_object, [{"Id": p.association.salesforce_id, **p.values} for p in retry]
        )
    except ForceBridgeError as error:
        for plan in retry:
            plan.result.error = error
        return
    for plan, save_result in zip(retry, second, strict=True):
        if save_result.get("success"):
            _mark_written(plan, plan.values)
        else:
            plan.result.error = _record_error(salesforce_object, plan, save_result)


def _mark_written(plan: PlannedWrite, values: dict[str, Any]) -> None:
    for name, value in values.items():
        plan.result.changes.append(FieldChange(name, plan.before.get(name), preview(name, value)))


def _refused_fields(plan: PlannedWrite, save_result: dict[str, Any]) -> list[str]:
    """Fields Salesforce named in its errors; each becomes a problem of the result."""
    refused: list[str] = []
    by_lower = {name.lower(): name for name in plan.values}
    for error in save_result.get("errors") or []:
        for name in error.get("fields") or []:
            own = by_lower.get(str(name).lower())
            if own is None or own in refused:
                continue
            refused.append(own)
            plan.result.problems.append(
                FieldProblem(
                    field=own,
                    value=plan.values.get(own),
                    message=f"{own}: Salesforce refused the value: {error.get('message')}"
                    f" ({error.get('statusCode')})",
                    hint="Check the field's type, validation rules and field-level security in"
                    " Salesforce, or the mapping's value map.",
                )
            )
    return refused


def _record_error(
    salesforce_object: str, plan: PlannedWrite, save_result: dict[str, Any]
) -> ExternalServiceError:
    errors = save_result.get("errors") or [{}]
    first = errors[0]
    code = str(first.get("statusCode") or "UNKNOWN")
    return ExternalServiceError(
        f"Salesforce refused the update of {salesforce_object} "
        f"{plan.association.salesforce_id}: {first.get('message')} ({code})",
        service="salesforce",
        code=code,
        hint="Check the record's validation rules and the integration user's access to it.",
    )


def record_results(
    context: SyncContext,
    results: Sequence[AssociationResult],
    trigger: str,
    started: datetime,
    clock_start: float,
    issue_type_id: str | None = None,
) -> None:
    finished = started + timedelta(seconds=time.perf_counter() - clock_start)
    with context.container.session() as session:
        for result in results:
            result.settle()
            record_attempt(
                session,
                connection_id=context.connection_id,
                result=result,
                trigger=trigger,
                started_at=started,
                finished_at=finished,
            )
            if issue_type_id is not None:
                association_state(session, result.association_id).jira_issue_type_id = issue_type_id
