"""Reading and writing the per-field and per-association sync state (echo suppression).

A field pair is identified within an association by ``(jira_field, salesforce_field)`` exactly as
the mapping names them. See :class:`forcebridge.sync.models.FieldSyncState` for what the two
fingerprints mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.sync.models import AssociationSyncState, FieldSyncState
from forcebridge.sync.results import preview_text

if TYPE_CHECKING:
    from forcebridge.sync.context import RuleValue
    from forcebridge.sync.mapping_engine import FieldRule

FieldKey = tuple[str, str, str]  # association id, jira field, salesforce field


@dataclass(frozen=True)
class StoredFingerprints:
    """A detached copy of one field's state."""

    jira: str | None
    salesforce: str | None
    value_preview: str | None


@dataclass(frozen=True)
class FieldStateUpdate:
    """What to store for one field after a sync wrote (or confirmed) it."""

    association_id: str
    jira_field: str
    salesforce_field: str
    jira_fingerprint: str | None
    salesforce_fingerprint: str | None
    value_preview: str | None
    direction: str

    @classmethod
    def of_value(
        cls,
        association_id: str,
        rule: FieldRule,
        value: RuleValue,
        *,
        jira_fingerprint: str | None,
        salesforce_fingerprint: str | None,
        direction: str,
    ) -> FieldStateUpdate:
        """The state of ``rule``'s field pair once ``value`` is written (or found in sync)."""
        return cls(
            association_id=association_id,
            jira_field=rule.jira_field,
            salesforce_field=rule.salesforce_field,
            jira_fingerprint=jira_fingerprint,
            salesforce_fingerprint=salesforce_fingerprint,
            value_preview=preview_text(value.target, value.value),
            direction=direction,
        )


def load_fingerprints(
    session: Session, association_ids: Iterable[str]
) -> dict[FieldKey, StoredFingerprints]:
    ids = list(dict.fromkeys(association_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(FieldSyncState).where(FieldSyncState.association_id.in_(ids))
    ).all()
    return {
        (row.association_id, row.jira_field, row.salesforce_field): StoredFingerprints(
            row.jira_fingerprint, row.salesforce_fingerprint, row.last_value_preview
        )
        for row in rows
    }


def store_fingerprints(
    session: Session, updates: Iterable[FieldStateUpdate], now: datetime
) -> None:
    pending = list(updates)
    if not pending:
        return
    existing = {
        (row.association_id, row.jira_field, row.salesforce_field): row
        for row in session.scalars(
            select(FieldSyncState).where(
                FieldSyncState.association_id.in_({u.association_id for u in pending})
            )
        )
    }
    for update in pending:
        key = (update.association_id, update.jira_field, update.salesforce_field)
        row = existing.get(key)
        if row is None:
            row = FieldSyncState(
                association_id=update.association_id,
                jira_field=update.jira_field,
                salesforce_field=update.salesforce_field,
            )
            session.add(row)
            existing[key] = row
        row.jira_fingerprint = update.jira_fingerprint
        row.salesforce_fingerprint = update.salesforce_fingerprint
        row.last_value_preview = update.value_preview
        row.last_direction = update.direction
        row.synced_at = now


def association_state(session: Session, association_id: str) -> AssociationSyncState:
    """The association's sync state row (created when missing)."""
    state = session.get(AssociationSyncState, association_id)
    if state is None:
        state = AssociationSyncState(association_id=association_id)
        session.add(state)
    return state


def known_issue_type(session: Session, association_id: str) -> str | None:
    state = session.get(AssociationSyncState, association_id)
    return state.jira_issue_type_id if state is not None else None
