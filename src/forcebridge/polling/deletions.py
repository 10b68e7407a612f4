"""What a record deleted in Salesforce does to its associations, and what its restore undoes.

A deleted record is found two ways: polling reads it back through ``queryAll`` with
``IsDeleted = true`` (it is in the Recycle Bin), or a ``sync.push``/``sync.pull`` job is told the
record is gone (``ENTITY_IS_DELETED``, or no row at all once it is hard-deleted or purged) and a
``queryAll`` read confirms it. Either way every association of the record on that connection is
handled as the connection's ``on_salesforce_delete`` setting says:

- ``flag`` (the default): the association stays, ``salesforce_deleted_at`` is set, and automatic
  push and pull skip it without a call. Polling keeps reading the record (the same call), so a
  record restored from the Recycle Bin clears the flag and is pulled again.
- ``unlink``: the association is removed (its per-field sync state goes with it).

Each association handled writes one audit row (direction ``delete``, outcome ``flagged`` or
``unlinked``; a restore: direction ``undelete``, outcome ``restored``), so the activity page and
sync-status show what happened and why automatic sync stopped.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.models import Association, Connection
from forcebridge.sync.audit import record_attempt
from forcebridge.sync.context import AssociationRef
from forcebridge.sync.results import AssociationResult

log = structlog.get_logger("forcebridge.polling.deletions")

ON_DELETE_FLAG = "flag"
ON_DELETE_UNLINK = "unlink"
ON_DELETE_CHOICES = (ON_DELETE_FLAG, ON_DELETE_UNLINK)

# Audit vocabulary (SyncAudit.direction / outcome, both at most 12 characters).
AUDIT_DELETE = "delete"
AUDIT_UNDELETE = "undelete"
OUTCOME_FLAGGED = "flagged"
OUTCOME_UNLINKED = "unlinked"
OUTCOME_RESTORED = "restored"


def associations_of_record(
    session: Session, connection_id: str, salesforce_object: str, salesforce_id: str
) -> list[Association]:
    """Every association of the record on the connection, oldest first."""
    return list(
        session.scalars(
            select(Association)
            .where(
                Association.connection_id == connection_id,
                Association.salesforce_object == salesforce_object,
                Association.salesforce_id == salesforce_id,
            )
            .order_by(Association.created_at, Association.id)
        )
    )


def handle_deleted_record(
    session: Session,
    connection: Connection,
    salesforce_object: str,
    salesforce_id: str,
    *,
    trigger: str,
    now: datetime,
    in_recycle_bin: bool,
) -> list[str]:
    """Flag or unlink the record's associations (not those already flagged); their ids.

    ``in_recycle_bin``: the record came back with ``IsDeleted = true`` (restorable), rather than
    not at all (hard-deleted, purged, or no longer visible to the integration user).
    """
    action = (
        ON_DELETE_UNLINK if connection.on_salesforce_delete == ON_DELETE_UNLINK else ON_DELETE_FLAG
    )
    handled: list[str] = []
    for association in associations_of_record(
        session, connection.id, salesforce_object, salesforce_id
    ):
        if action == ON_DELETE_FLAG and association.salesforce_deleted_at is not None:
            continue
        result = _result(association, AUDIT_DELETE)
        where = (
            "was deleted in Salesforce (it is in the Recycle Bin)"
            if in_recycle_bin
            else "no longer exists in Salesforce (deleted for good) or the connection's "
            "Salesforce user cannot see it any more"
        )
        if action == ON_DELETE_UNLINK:
            result.outcome = OUTCOME_UNLINKED
            result.note = (
                f"{salesforce_object} {salesforce_id} {where}: the association with "
                f"{association.jira_issue_key} was removed (connection setting "
                "on_salesforce_delete = unlink)."
            )
            session.delete(association)
        else:
            result.outcome = OUTCOME_FLAGGED
            result.note = (
                f"{salesforce_object} {salesforce_id} {where}: automatic sync with "
                f"{association.jira_issue_key} stopped. Restore the record in Salesforce to "
                "resume, or unlink the association."
            )
            association.salesforce_deleted_at = now
        session.flush()
        record_attempt(
            session,
            connection_id=connection.id,
            result=result,
            trigger=trigger,
            started_at=now,
            finished_at=now,
            association_exists=action == ON_DELETE_FLAG,
        )
        handled.append(association.id)
    if handled:
        log.info(
            "salesforce.record_deleted",
            connection_id=connection.id,
            salesforce_object=salesforce_object,
            salesforce_id=salesforce_id,
            action=action,
            associations=len(handled),
        )
    return handled


def handle_restored_record(
    session: Session,
    connection_id: str,
    salesforce_object: str,
    salesforce_id: str,
    *,
    trigger: str,
    now: datetime,
) -> list[Association]:
    """Clear the flag of the record's flagged associations; those associations."""
    restored: list[Association] = []
    for association in associations_of_record(
        session, connection_id, salesforce_object, salesforce_id
    ):
        if association.salesforce_deleted_at is None:
            continue
        association.salesforce_deleted_at = None
        result = _result(association, AUDIT_UNDELETE)
        result.outcome = OUTCOME_RESTORED
        result.note = (
            f"{salesforce_object} {salesforce_id} is back in Salesforce: automatic sync with "
            f"{association.jira_issue_key} resumes."
        )
        record_attempt(
            session,
            connection_id=connection_id,
            result=result,
            trigger=trigger,
            started_at=now,
            finished_at=now,
        )
        restored.append(association)
    if restored:
        log.info(
            "salesforce.record_restored",
            connection_id=connection_id,
            salesforce_object=salesforce_object,
            salesforce_id=salesforce_id,
            associations=len(restored),
        )
    return restored


def _result(association: Association, direction: str) -> AssociationResult:
    return AssociationResult.for_association(AssociationRef.from_model(association), direction)
