"""Pull: a Salesforce record's mapped fields into its associated Jira issue, then fan out.

Cost, asserted by tests through the sandbox's request log:
- one Salesforce read: ``SELECT Id, SystemModstamp, <mapped fields>, <comment/file subqueries>
  FROM <object> WHERE Id = ...``;
- at most one Jira ``PUT issue`` with only the fields whose Salesforce value changed since the
  last sync (a second one only when Jira refuses named fields: they are dropped and reported);
- ``GET``/``POST .../transitions`` only when the mapped status changed.

Fan-out (SFJC cannot do this): the values the pull wrote into the issue are pushed on to the
*other* records associated with the same issue — never back to the source record — computed
from the values just written, so no second Jira read is needed.

A single pull and a bulk pull share everything after the read: :func:`pull_prepared` plans,
writes, stores fingerprints, fans out, syncs comments and files and records the audit for one
association, given the issue type and a function that returns its record. A single pull reads
the record with ``WHERE Id = ...``; a bulk pull reads a whole chunk with :func:`read_records`
(``WHERE Id IN (...)``, one query per object and 200 ids) and hands each association its row.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from forcebridge.container import Container
from forcebridge.errors import ExternalServiceError, ForceBridgeError, NotFound
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync import extensions
from forcebridge.sync.context import (
    AssociationRef,
    RuleValue,
    SyncContext,
    canonical_record_id,
    echo_after_pull,
    ensure_modification_allowed,
    find_associations,
    jira_field_id,
    pick_association,
    pull_value,
    salesforce_fields_to_read,
    synthetic_issue,
    view_only_conflict,
)
from forcebridge.sync.mapping_engine import FieldProblem, FieldRule, choose_transition
from forcebridge.sync.push import (
    PlannedWrite,
    issue_type_of,
    plan_push,
    record_results,
    write_planned,
)
from forcebridge.sync.results import (
    AssociationResult,
    FieldChange,
    SyncReport,
    preview,
)
from forcebridge.sync.state import (
    FieldStateUpdate,
    StoredFingerprints,
    known_issue_type,
    load_fingerprints,
    store_fingerprints,
)

RECORD_BOOKKEEPING_FIELDS = ("Id", "SystemModstamp")
# Ids per ``WHERE Id IN (...)`` read: the size of a bulk chunk (~5,600 characters of ids once
# percent-encoded).
RECORDS_PER_READ = 200
# The query travels in the URL (GET /query?q=...): past this many characters once encoded, a
# batch is split, keeping the URL well under Salesforce's 16,384-byte URI limit.
MAX_READ_QUERY_CHARACTERS = 12_000

# Returns the association's record read with (at least) the fields the given rules need.
RecordSource = Callable[[Sequence[FieldRule]], dict[str, Any]]


@dataclass
class PullOutcome:
    """What one pull did, and what its fan-out wrote to the issue's other records.

    ``fanned_out`` (association id → Salesforce field → value written) lets a bulk pull keep the
    records it read before the fan-out current, instead of reading them again.
    """

    report: SyncReport
    fanned_out: dict[str, dict[str, Any]] = field(default_factory=dict)


def pull_record(
    container: Container,
    connection_id: str,
    jira_issue: str,
    salesforce_object: str,
    salesforce_id: str,
    *,
    project_id: str | None = None,
    trigger: str = "api",
) -> SyncReport:
    """Pull one associated record into the issue, then fan out to the issue's other records."""
    with SyncContext(container, connection_id) as context:
        associations = find_associations(context, jira_issue)
        association = pick_association(associations, jira_issue, salesforce_object, salesforce_id)
        _check_project(association, jira_issue, project_id)
        if association.view_only:
            raise view_only_conflict(association)
        ensure_modification_allowed(context.connection)
        return _pull(context, association, associations, trigger)


def pull_issue(
    container: Container,
    connection_id: str,
    jira_issue: str,
    *,
    project_id: str | None = None,
    trigger: str = "api",
) -> SyncReport:
    """Pull every record associated with the issue, one after the other (oldest link first).

    When two records changed the same field, the later pull wins in Jira and fans out to the
    others, so every record ends with the value Jira holds.
    """
    with SyncContext(container, connection_id) as context:
        associations = find_associations(context, jira_issue)
        if not associations:
            raise NotFound(
                f"Jira issue {jira_issue} is not associated with any Salesforce record.",
                hint="Associate it first: POST /external/api/association.",
            )
        _check_project(associations[0], jira_issue, project_id)
        ensure_modification_allowed(context.connection)
        report = SyncReport("pull")
        for association in associations:
            if association.view_only:
                skipped = AssociationResult.for_association(association, "pull")
                skipped.outcome = "skipped"
                skipped.note = "view-only association: never synced"
                report.results.append(skipped)
                continue
            report.results.extend(_pull(context, association, associations, trigger).results)
        return report


def _check_project(association: AssociationRef, jira_issue: str, project_id: str | None) -> None:
    if project_id is not None and association.jira_project_id != project_id:
        raise NotFound(
            f"Jira issue {jira_issue} is not in the project with id {project_id}.",
            hint="Use the numeric id of the issue's own project.",
        )


def _pull(
    context: SyncContext,
    association: AssociationRef,
    associations: Sequence[AssociationRef],
    trigger: str,
) -> SyncReport:
    issue_type_id = issue_type_for(context, association)
    return pull_prepared(
        context,
        association,
        associations,
        issue_type_id,
        lambda rules: read_record(context, association, rules),
        trigger,
    ).report


def pull_prepared(
    context: SyncContext,
    association: AssociationRef,
    associations: Sequence[AssociationRef],
    issue_type_id: str | None,
    read: RecordSource,
    trigger: str,
) -> PullOutcome:
    """Pull one association whose issue type is known, the record coming from ``read``.

    ``associations`` are all the issue's associations (the fan-out goes to the others). Every
    outcome, failure included, is recorded in the audit trail; a failure is then raised.
    """
    started = context.now()
    clock_start = time.perf_counter()
    outcome = PullOutcome(SyncReport("pull"))
    report = outcome.report
    result = AssociationResult.for_association(association, "pull")
    report.results.append(result)
    try:
        rules = context.rules_for(
            association.jira_project_id, issue_type_id, association.salesforce_object
        )
        if not rules:
            result.note = "no field mappings for this object and issue type"
        record = read(rules)
        with context.container.session() as session:
            stored = load_fingerprints(session, (a.id for a in associations))
        planned = plan_pull(context, association, rules, record, stored, result)
        before = {
            target: _stored_preview(stored, association, rule)
            for target, (rule, _) in planned.items()
        }
        written = write_issue(context, association.jira_issue_id, planned, result, before)
        store_pulled(context, association, planned, written)
        others = [
            a
            for a in associations
            if a.id != association.id and not a.view_only and not a.salesforce_deleted
        ]
        if written and others:
            plans = fan_out(context, association, others, planned, written, stored, issue_type_id)
            report.results.extend(plan.result for plan in plans)
            outcome.fanned_out = {
                plan.association.id: {
                    name: value
                    for name, value in plan.values.items()
                    if name in plan.result.fields_written
                }
                for plan in plans
                if plan.result.fields_written
            }
        extensions.pull_extras(context, association.id, result, record)
    except ForceBridgeError as error:
        result.error = error
        record_results(context, report.results, trigger, started, clock_start, issue_type_id)
        raise
    record_results(context, report.results, trigger, started, clock_start, issue_type_id)
    return outcome


def issue_type_for(context: SyncContext, association: AssociationRef) -> str | None:
    """The issue type that picks the rules: remembered from earlier syncs, read only if needed."""
    with context.container.session() as session:
        known = known_issue_type(session, association.id)
    if known is not None:
        return known
    if not context.needs_issue_type(association.jira_project_id, association.salesforce_object):
        return None  # only project-wide mappings: the type does not matter
    return issue_type_of(context.jira.get_issue(association.jira_issue_id, fields=["issuetype"]))


def read_record(
    context: SyncContext,
    association: AssociationRef,
    rules: Sequence[FieldRule],
    *,
    with_extras: bool = True,
) -> dict[str, Any]:
    """The one Salesforce read: mapped fields, SystemModstamp and comment/file subqueries."""
    soql = format_soql(
        _record_select(context, association.salesforce_object, rules, with_extras)
        + " WHERE Id = {}",
        association.salesforce_id,
    )
    for record in context.salesforce.query(soql):
        return record
    raise record_not_found(association.salesforce_object, association.salesforce_id)


def read_records(
    context: SyncContext,
    salesforce_object: str,
    record_ids: Iterable[str],
    rules: Sequence[FieldRule],
    *,
    with_extras: bool = True,
) -> dict[str, dict[str, Any]]:
    """Many records of one object, by 18-character id: one ``WHERE Id IN (...)`` query per
    :data:`RECORDS_PER_READ` ids, with the same fields and subqueries as :func:`read_record`
    (``rules`` may be the rules of several issue types: reading a field more costs nothing).

    A record that does not exist or is not visible is simply absent from the answer.
    """
    unique_ids = list(dict.fromkeys(record_ids))
    select = _record_select(context, salesforce_object, rules, with_extras)
    batches = [
        unique_ids[start : start + RECORDS_PER_READ]
        for start in range(0, len(unique_ids), RECORDS_PER_READ)
    ]
    found: dict[str, dict[str, Any]] = {}
    while batches:
        batch = batches.pop(0)
        soql = format_soql(select + " WHERE Id IN {}", batch)
        if len(batch) > 1 and len(urllib.parse.quote_plus(soql)) > MAX_READ_QUERY_CHARACTERS:
            # Very many or very long field names: halve the batch rather than be refused.
            middle = len(batch) // 2
            batches[:0] = [batch[:middle], batch[middle:]]
            continue
        for record in context.salesforce.query(soql):
            raw_id = record.get("Id")
            if isinstance(raw_id, str):
                found[canonical_record_id(salesforce_object, raw_id)] = record
    return found


def record_not_found(salesforce_object: str, salesforce_id: str) -> NotFound:
    return NotFound(
        f"Salesforce {salesforce_object} {salesforce_id} does not exist any more, or the "
        "connection's Salesforce user cannot see it (record deleted or not visible).",
        hint="Check the record in Salesforce; unlink the association if it was deleted.",
    )


def _record_select(
    context: SyncContext,
    salesforce_object: str,
    rules: Sequence[FieldRule],
    with_extras: bool,
) -> str:
    """``SELECT <fields>, <subqueries> FROM <object>``, escaped to take a WHERE template."""
    describe = context.describe(salesforce_object)
    fields = [*RECORD_BOOKKEEPING_FIELDS, *salesforce_fields_to_read(rules, describe)]
    subqueries = (
        extensions.record_subqueries(context.connection, salesforce_object) if with_extras else []
    )
    # Subqueries are constant SOQL from our own modules; the fields and the object are checked
    # identifiers. Braces are doubled so the result can take the caller's WHERE placeholders.
    escaped_subqueries = "".join(
        ", " + sub.replace("{", "{{").replace("}", "}}") for sub in subqueries
    )
    select = format_soql(
        "SELECT {:identifier}" + escaped_subqueries + " FROM {:identifier}",  # noqa: S608
        list(dict.fromkeys(fields)),
        salesforce_object,
    )
    return select.replace("{", "{{").replace("}", "}}")


def plan_pull(
    context: SyncContext,
    association: AssociationRef,
    rules: Sequence[FieldRule],
    record: dict[str, Any],
    stored: dict[tuple[str, str, str], StoredFingerprints],
    result: AssociationResult,
) -> dict[str, tuple[FieldRule, RuleValue]]:
    """Jira target → (rule, value) for every pulled value that changed since the last sync."""
    describe = context.describe(association.salesforce_object)
    jira_fields = context.jira_fields()
    planned: dict[str, tuple[FieldRule, RuleValue]] = {}
    for rule in rules:
        if not rule.applies_to("pull"):
            continue
        current = pull_value(rule, record, describe, jira_fields)
        if current.problem is not None:
            result.problems.append(current.problem)
            continue
        if current.absent:
            continue
        previous = stored.get((association.id, rule.jira_field, rule.salesforce_field))
        if previous is not None and previous.salesforce == current.fingerprint:
            continue  # Salesforce's value is what was last synced (or our own echo)
        planned[current.target] = (rule, current)
    return planned


def write_issue(
    context: SyncContext,
    jira_issue_id: str,
    planned: dict[str, tuple[FieldRule, RuleValue]],
    result: AssociationResult,
    before: dict[str, Any] | None = None,
) -> set[str]:
    """At most one edit (two if Jira names refused fields) and a transition: the targets written."""
    values = {target: value.value for target, (_, value) in planned.items() if not value.is_status}
    written: set[str] = set()
    if values:
        written |= _edit(context, jira_issue_id, values, result)
    status = next((value for _, value in planned.values() if value.is_status), None)
    if status is not None and _transition(context, jira_issue_id, str(status.value), result):
        written.add(status.target)
    for target in planned:
        if target in written:
            shown_before = (before or {}).get(target)
            result.changes.append(
                FieldChange(target, shown_before, preview(target, planned[target][1].value))
            )
    return written


def _edit(
    context: SyncContext, jira_issue_id: str, values: dict[str, Any], result: AssociationResult
) -> set[str]:
    try:
        context.jira.edit_issue(jira_issue_id, values)
        return set(values)
    except ExternalServiceError as error:
        refused = _refused_jira_fields(error, values)
        if not refused:
            result.error = error
            return set()
        for name, message in refused.items():
            result.problems.append(
                FieldProblem(
                    field=name,
                    value=values.get(name),
                    message=f"{name}: Jira refused the value: {message}",
                    hint="Check that the field is on the issue's edit screen and that the value"
                    " fits its type, or fix the mapping's value map.",
                )
            )
        remaining = {name: value for name, value in values.items() if name not in refused}
        if not remaining:
            return set()
    try:
        context.jira.edit_issue(jira_issue_id, remaining)
    except ForceBridgeError as error:
        result.error = error
        return set()
    return set(remaining)


def _refused_jira_fields(error: ExternalServiceError, values: dict[str, Any]) -> dict[str, str]:
    details = error.details if isinstance(error.details, dict) else {}
    field_errors = details.get("errors")
    if not isinstance(field_errors, dict):
        return {}
    return {str(name): str(message) for name, message in field_errors.items() if name in values}


def _transition(
    context: SyncContext, jira_issue_id: str, status: str, result: AssociationResult
) -> bool:
    try:
        transition = choose_transition(context.jira.transitions(jira_issue_id), status)
        if transition is None:
            # Jira lists no transition into the status the issue already has; only on this rare
            # path is the issue read, to tell "already there" from "unreachable".
            issue = context.jira.get_issue(jira_issue_id, fields=["status"])
            current = ((issue.get("fields") or {}).get("status") or {}).get("name")
            if isinstance(current, str) and current.casefold() == status.casefold():
                return True
            result.problems.append(
                FieldProblem(
                    field="status",
                    value=status,
                    message=f"status: Jira cannot move the issue from {current!r} to {status!r}"
                    " in one transition",
                    hint=f"Add a transition into {status!r} to the issue's workflow, or map the"
                    " Salesforce value to a status reachable from the current one.",
                )
            )
            return False
        context.jira.transition(jira_issue_id, str(transition["id"]))
        return True
    except ForceBridgeError as error:
        result.error = error
        return False


def _stored_preview(
    stored: dict[tuple[str, str, str], StoredFingerprints],
    association: AssociationRef,
    rule: FieldRule,
) -> str | None:
    previous = stored.get((association.id, rule.jira_field, rule.salesforce_field))
    return previous.value_preview if previous is not None else None


def store_pulled(
    context: SyncContext,
    association: AssociationRef,
    planned: dict[str, tuple[FieldRule, RuleValue]],
    written: set[str],
) -> None:
    describe = context.describe(association.salesforce_object)
    jira_fields = context.jira_fields()
    updates = [
        FieldStateUpdate.of_value(
            association.id,
            rule,
            value,
            jira_fingerprint=echo_after_pull(rule, value, jira_fields, describe),
            salesforce_fingerprint=value.fingerprint,
            direction="pull",
        )
        for target, (rule, value) in planned.items()
        if target in written
    ]
    with context.container.session() as session:
        store_fingerprints(session, updates, context.now())


def fan_out(
    context: SyncContext,
    source: AssociationRef,
    others: Sequence[AssociationRef],
    planned: dict[str, tuple[FieldRule, RuleValue]],
    written: set[str],
    stored: dict[tuple[str, str, str], StoredFingerprints],
    issue_type_id: str | None,
) -> list[PlannedWrite]:
    """Push what the pull wrote into Jira on to the issue's other records (the plans, written)."""
    values = {
        target: value.value
        for target, (_, value) in planned.items()
        if target in written and not value.is_status
    }
    status = next(
        (str(v.value) for t, (_, v) in planned.items() if t in written and v.is_status), None
    )
    issue = synthetic_issue(values, status, issue_type_id)
    jira_fields = context.jira_fields()
    changed_ids = {jira_field_id(jira_fields, target) or target for target in written}
    plans = [
        plan_push(context, other, issue, stored, only_jira_fields=changed_ids) for other in others
    ]
    write_planned(context, plans)
    for plan in plans:
        plan.result.note = (
            f"fan-out of a pull from {source.salesforce_object} {source.salesforce_id}"
        )
    return plans
