"""Bidirectional sync of one association, and the entry points edges call.

``sync_association`` reads both sides (one Jira read, one Salesforce read) and decides per field
who changed since the last sync, by comparing each side's current mapped value with the
fingerprint stored after the last sync:

- only Jira changed → the value is pushed; only Salesforce changed → it is pulled;
- both changed to values that mean the same → nothing is written, the state is refreshed;
- both changed differently → a conflict: the field's ``conflict_policy`` picks the winner
  (``newest`` compares the issue's ``updated`` with the record's ``SystemModstamp``; a tie goes to
  Jira), and the conflict is logged in the audit row and the result.

It is what automation (webhooks, polling) runs. The manual directions live in
:mod:`forcebridge.sync.push` (Jira wins) and :mod:`forcebridge.sync.pull` (Salesforce wins).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from forcebridge.associations.service import get_association
from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError
from forcebridge.sync import conversion, extensions
from forcebridge.sync.context import (
    AssociationRef,
    RuleValue,
    SyncContext,
    echo_after_push,
    ensure_modification_allowed,
    pull_value,
    push_value,
    view_only_conflict,
)
from forcebridge.sync.conversion import ConversionFailed
from forcebridge.sync.mapping_engine import FieldRule, resolve_conflict
from forcebridge.sync.pull import pull_issue as pull_issue
from forcebridge.sync.pull import pull_record as pull_record
from forcebridge.sync.pull import read_record, store_pulled, write_issue
from forcebridge.sync.push import (
    PlannedWrite,
    issue_type_of,
    read_issue_for_push,
    record_results,
    write_planned,
)
from forcebridge.sync.push import push_issue as push_issue
from forcebridge.sync.results import AssociationResult, Conflict, SyncReport, preview
from forcebridge.sync.state import FieldStateUpdate, load_fingerprints, store_fingerprints


def sync_association(
    container: Container, connection_id: str, association_id: str, *, trigger: str = "poll"
) -> SyncReport:
    """Bring one association's mapped fields in line in both directions (see module docs)."""
    with SyncContext(container, connection_id) as context:
        with container.session() as session:
            association = AssociationRef.from_model(
                get_association(session, connection_id, association_id)
            )
        if association.view_only:
            raise view_only_conflict(association)
        ensure_modification_allowed(context.connection)
        started = context.now()
        clock_start = time.perf_counter()
        result = AssociationResult.for_association(association, "sync")
        issue_type_id: str | None = None
        try:
            issue = read_issue_for_push(context, [association])
            issue_type_id = issue_type_of(issue)
            rules = context.rules_for(
                association.jira_project_id, issue_type_id, association.salesforce_object
            )
            record = read_record(context, association, rules)
            _reconcile(context, association, rules, issue, record, result)
            # Both reads already carry comments and files: copy the new ones each way. The
            # link tables keep what one direction wrote from coming back in the other.
            extensions.push_extras(
                context, [PlannedWrite(association=association, result=result)], issue
            )
            extensions.pull_extras(context, association.id, result, record)
        except ForceBridgeError as error:
            result.error = error
            record_results(context, [result], trigger, started, clock_start, issue_type_id)
            raise
        record_results(context, [result], trigger, started, clock_start, issue_type_id)
        return SyncReport("sync", [result])


def _reconcile(
    context: SyncContext,
    association: AssociationRef,
    rules: list[FieldRule],
    issue: dict[str, Any],
    record: dict[str, Any],
    result: AssociationResult,
) -> None:
    describe = context.describe(association.salesforce_object)
    jira_fields = context.jira_fields()
    with context.container.session() as session:
        stored = load_fingerprints(session, [association.id])
    jira_changed_at = _moment((issue.get("fields") or {}).get("updated"))
    salesforce_changed_at = _moment(record.get("SystemModstamp"))
    to_salesforce = PlannedWrite(association, result)
    to_jira: dict[str, tuple[FieldRule, RuleValue]] = {}
    in_sync: list[FieldStateUpdate] = []
    for rule in rules:
        previous = stored.get((association.id, rule.jira_field, rule.salesforce_field))
        jira_now = _usable(push_value(rule, issue, jira_fields, describe), rule, "push", result)
        salesforce_now = _usable(
            pull_value(rule, record, describe, jira_fields), rule, "pull", result
        )
        jira_changed = jira_now is not None and (
            previous is None or previous.jira != jira_now.fingerprint
        )
        salesforce_changed = salesforce_now is not None and (
            previous is None or previous.salesforce != salesforce_now.fingerprint
        )
        if jira_changed and salesforce_changed and jira_now and salesforce_now:
            echoed = echo_after_push(rule, jira_now.target, jira_now.value, describe, jira_fields)
            if echoed == salesforce_now.fingerprint:
                # Both sides hold the same value already: remember it, write nothing.
                in_sync.append(
                    FieldStateUpdate.of_value(
                        association.id,
                        rule,
                        jira_now,
                        jira_fingerprint=jira_now.fingerprint,
                        salesforce_fingerprint=echoed,
                        direction="sync",
                    )
                )
                continue
            winner = resolve_conflict(
                rule.conflict_policy,
                jira_changed_at=jira_changed_at,
                salesforce_changed_at=salesforce_changed_at,
            )
            result.conflicts.append(
                Conflict(
                    jira_field=rule.jira_field,
                    salesforce_field=rule.salesforce_field,
                    policy=rule.conflict_policy,
                    winner=winner,
                    jira_value=preview(rule.jira_field, jira_now.value),
                    salesforce_value=preview(rule.salesforce_field, salesforce_now.value),
                )
            )
            jira_changed, salesforce_changed = winner == "jira", winner == "salesforce"
        if jira_changed and jira_now is not None:
            to_salesforce.values[jira_now.target] = jira_now.value
            to_salesforce.before[jira_now.target] = previous.value_preview if previous else None
            to_salesforce.pending_states[jira_now.target] = FieldStateUpdate.of_value(
                association.id,
                rule,
                jira_now,
                jira_fingerprint=jira_now.fingerprint,
                salesforce_fingerprint=echo_after_push(
                    rule, jira_now.target, jira_now.value, describe, jira_fields
                ),
                direction="push",
            )
        elif salesforce_changed and salesforce_now is not None:
            to_jira[salesforce_now.target] = (rule, salesforce_now)
    write_planned(context, [to_salesforce])
    before = {
        target: (stored.get((association.id, rule.jira_field, rule.salesforce_field)))
        for target, (rule, _) in to_jira.items()
    }
    written = write_issue(
        context,
        association.jira_issue_id,
        to_jira,
        result,
        {target: state.value_preview if state else None for target, state in before.items()},
    )
    store_pulled(context, association, to_jira, written)
    if in_sync:
        with context.container.session() as session:
            store_fingerprints(session, in_sync, context.now())


def _usable(
    value: RuleValue, rule: FieldRule, direction: str, result: AssociationResult
) -> RuleValue | None:
    if not rule.applies_to("push" if direction == "push" else "pull"):
        return None
    if value.problem is not None:
        result.problems.append(value.problem)
        return None
    if value.absent:
        return None
    return value


def _moment(raw: Any) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        return conversion.as_datetime(raw)
    except ConversionFailed:
        return None
