"""What every sync operation shares: the connection, its clients, metadata, rules and guards.

A :class:`SyncContext` lives for one push, pull, sync or create. It opens the connection's clients
lazily (a push that writes nothing never signs in to Salesforce), reads metadata through the
container's :mod:`~forcebridge.sync.metadata` cache, and turns mapping rows into detached
:class:`~forcebridge.sync.mapping_engine.FieldRule` values so no database transaction is held open
while Jira or Salesforce answers.

Per-rule helpers (:func:`push_value`, :func:`pull_value` and the two echo functions) run the pure
mapping engine on one rule at a time, so each value can be compared with its own fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.connections.clients import ConnectionClients, clients_for
from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.errors import Conflict, Forbidden, NotFound
from forcebridge.jira.client import JiraClient
from forcebridge.mappings.service import binding_for_project, entity_mapping_for
from forcebridge.models import Association, Connection, EntityMapping
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sync import conversion
from forcebridge.sync.mapping_engine import (
    FieldProblem,
    FieldRule,
    map_pull,
    map_push,
    value_fingerprint,
)
from forcebridge.sync.metadata import metadata_cache

_NUMERIC_ID_MAX = 18


@dataclass(frozen=True)
class AssociationRef:
    """A detached, read-only copy of an association row."""

    id: str
    connection_id: str
    jira_issue_id: str
    jira_issue_key: str
    jira_project_id: str
    salesforce_object: str
    salesforce_id: str
    view_only: bool
    # Flagged as deleted in Salesforce (polling.deletions): no automatic write goes to it.
    salesforce_deleted: bool = False

    @classmethod
    def from_model(cls, row: Association) -> AssociationRef:
        return cls(
            id=row.id,
            connection_id=row.connection_id,
            jira_issue_id=row.jira_issue_id,
            jira_issue_key=row.jira_issue_key,
            jira_project_id=row.jira_project_id,
            salesforce_object=row.salesforce_object,
            salesforce_id=row.salesforce_id,
            view_only=bool(row.view_only),
            salesforce_deleted=row.salesforce_deleted_at is not None,
        )


# -- guards -------------------------------------------------------------------------------------


def ensure_modification_allowed(connection: Connection) -> None:
    """The connection's "Allow modification" setting overrides every other: off means no writes."""
    if not connection.allow_modification:
        raise Forbidden(
            f"Connection {connection.name!r} has the setting 'Allow modification' "
            "(allow_modification) turned off, so ForceBridge writes nothing to Jira or Salesforce.",
            hint="Turn 'Allow modification' on in the connection settings to sync.",
        )


def view_only_conflict(association: AssociationRef) -> Conflict:
    return Conflict(
        f"The association of {association.jira_issue_key} with {association.salesforce_object} "
        f"{association.salesforce_id} is view-only (viewOnly=true): it is never synced.",
        hint="Set viewOnly to false on the association (PUT /external/api/association/{id}) "
        "to sync it.",
    )


# -- finding associations -----------------------------------------------------------------------


def is_numeric_issue_id(jira_issue: str) -> bool:
    return jira_issue.isdigit() and len(jira_issue) <= _NUMERIC_ID_MAX


def associations_for_issue(
    session: Session, connection_id: str, jira_issue: str
) -> list[AssociationRef]:
    """The issue's associations, by numeric id or by (current or stored) key; oldest first."""
    column = (
        Association.jira_issue_id if is_numeric_issue_id(jira_issue) else Association.jira_issue_key
    )
    value = jira_issue if is_numeric_issue_id(jira_issue) else jira_issue.upper()
    rows = session.scalars(
        select(Association)
        .where(Association.connection_id == connection_id, column == value)
        .order_by(Association.created_at, Association.id)
    ).all()
    return [AssociationRef.from_model(row) for row in rows]


def find_associations(context: SyncContext, jira_issue: str) -> list[AssociationRef]:
    """The issue's associations; a key not stored with any (the issue moved since it was linked)
    is resolved to the numeric id through Jira — one read, only on that path."""
    with context.container.session() as session:
        found = associations_for_issue(session, context.connection_id, jira_issue)
    if found or is_numeric_issue_id(jira_issue):
        return found
    try:
        issue_id = str(context.jira.get_issue(jira_issue, fields=[]).get("id") or "")
    except NotFound:
        return []
    if not is_numeric_issue_id(issue_id):
        return []
    with context.container.session() as session:
        return associations_for_issue(session, context.connection_id, issue_id)


def canonical_record_id(salesforce_object: str, salesforce_id: str) -> str:
    """The 18-character id (``ValidationFailed`` for malformed ids or another object's prefix)."""
    return normalize_id(salesforce_id, sobject=salesforce_object)


def pick_association(
    associations: Sequence[AssociationRef],
    jira_issue: str,
    salesforce_object: str,
    salesforce_id: str,
) -> AssociationRef:
    record_id = canonical_record_id(salesforce_object, salesforce_id)
    for association in associations:
        if (
            association.salesforce_object.lower() == salesforce_object.lower()
            and association.salesforce_id == record_id
        ):
            return association
    raise NotFound(
        f"Jira issue {jira_issue} is not associated with {salesforce_object} {salesforce_id}.",
        hint="Associate them first: POST /external/api/association.",
    )


# -- the per-operation context --------------------------------------------------------------------


class SyncContext:
    """Connection, lazily opened clients, cached metadata and rules for one sync operation."""

    def __init__(self, container: Container, connection_id: str) -> None:
        self.container = container
        with container.session() as session:
            self.connection = get_connection(session, connection_id)
        self.connection_id = connection_id
        self._clients: ConnectionClients | None = None
        self.metadata = metadata_cache(container)
        self._rules: dict[tuple[str, str | None, str], list[FieldRule]] = {}

    def __enter__(self) -> SyncContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._clients is not None:
            self._clients.close()

    @property
    def clients(self) -> ConnectionClients:
        if self._clients is None:
            self._clients = clients_for(self.container, self.connection)
        return self._clients

    @property
    def jira(self) -> JiraClient:
        return self.clients.jira

    @property
    def salesforce(self) -> SalesforceClient:
        return self.clients.salesforce

    def jira_fields(self) -> list[dict[str, Any]]:
        return self.metadata.jira_fields(self.connection_id, lambda: self.jira.fields())

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.metadata.describe(
            self.connection_id, sobject, lambda name: self.salesforce.describe(name)
        )

    def now(self) -> Any:
        return self.container.clock()

    # -- rules ----------------------------------------------------------------------------

    def rules_for(
        self, project_id: str, issue_type_id: str | None, salesforce_object: str
    ) -> list[FieldRule]:
        """The field rules of the entity mapping for this issue type (or the project-wide one)."""
        key = (project_id, issue_type_id, salesforce_object.lower())
        if key not in self._rules:
            with self.container.session() as session:
                mapping = entity_mapping_for(
                    session, self.connection_id, project_id, issue_type_id, salesforce_object
                )
                self._rules[key] = _rules_of(mapping)
        return self._rules[key]

    def candidate_rules(self, project_id: str, salesforce_object: str) -> list[FieldRule]:
        """Rules of every entity mapping of the object in the project (any issue type).

        Used to decide which fields to read before the issue type is known.
        """
        with self.container.session() as session:
            binding = binding_for_project(session, self.connection_id, project_id)
            if binding is None:
                return []
            mappings = session.scalars(
                select(EntityMapping).where(EntityMapping.binding_id == binding.id)
            ).all()
            rules: list[FieldRule] = []
            for mapping in mappings:
                if mapping.salesforce_object.lower() == salesforce_object.lower():
                    rules.extend(_rules_of(mapping))
            return rules

    def needs_issue_type(self, project_id: str, salesforce_object: str) -> bool:
        """Whether the object has issue-type-specific mappings (so the type changes the rules)."""
        with self.container.session() as session:
            binding = binding_for_project(session, self.connection_id, project_id)
            if binding is None:
                return False
            return any(
                mapping.jira_issue_type_id is not None
                and mapping.salesforce_object.lower() == salesforce_object.lower()
                for mapping in session.scalars(
                    select(EntityMapping).where(EntityMapping.binding_id == binding.id)
                )
            )


def _rules_of(mapping: EntityMapping | None) -> list[FieldRule]:
    if mapping is None:
        return []
    return [FieldRule.from_model(row) for row in mapping.field_mappings]


# -- Jira field ids ------------------------------------------------------------------------------


def jira_field_id(jira_fields: Sequence[dict[str, Any]], reference: str) -> str | None:
    """The field id a rule's ``jira_field`` names (an id or a display name), None if unknown."""
    if reference in conversion.JIRA_ISSUE_ATTRIBUTES:
        return reference
    for entry in jira_fields:
        if str(entry.get("id")) == reference:
            return reference
    for entry in jira_fields:
        if str(entry.get("name", "")).casefold() == reference.casefold():
            return str(entry.get("id"))
    return None


def jira_fields_to_read(
    rules: Iterable[FieldRule], jira_fields: Sequence[dict[str, Any]]
) -> list[str]:
    """Field ids for ``GET issue?fields=``: every mapped field that exists (key/id come anyway)."""
    wanted: list[str] = []
    for rule in rules:
        field_id = jira_field_id(jira_fields, rule.jira_field)
        if field_id and field_id not in conversion.JIRA_ISSUE_ATTRIBUTES:
            wanted.append(field_id)
    return list(dict.fromkeys(wanted))


def salesforce_fields_to_read(rules: Iterable[FieldRule], describe: dict[str, Any]) -> list[str]:
    """Canonical API names of the mapped fields that exist on the object (others are problems)."""
    by_lower = {
        str(entry.get("name", "")).lower(): str(entry.get("name"))
        for entry in describe.get("fields") or []
        if isinstance(entry, dict) and entry.get("name")
    }
    return list(
        dict.fromkeys(
            by_lower[rule.salesforce_field.lower()]
            for rule in rules
            if rule.salesforce_field.lower() in by_lower
        )
    )


# -- one rule at a time --------------------------------------------------------------------------

STATUS_TARGET = "status"


@dataclass(frozen=True)
class RuleValue:
    """The value one rule produces for its target, or the problem that prevents it.

    ``target``: the Salesforce field (push) or Jira field id (pull) the value is written to.
    ``is_status``: a pull onto Jira's status, which is reached by a transition, not an edit.
    """

    target: str
    value: Any = None
    problem: FieldProblem | None = None
    is_status: bool = False
    absent: bool = False  # the rule produced nothing to write (e.g. an empty status)

    @property
    def fingerprint(self) -> str:
        return value_fingerprint({"status": self.value} if self.is_status else self.value)


def push_value(
    rule: FieldRule,
    issue: dict[str, Any],
    jira_fields: Sequence[dict[str, Any]],
    describe: dict[str, Any],
    email_for_account: Callable[[str], str | None] | None = None,
) -> RuleValue:
    """What a push writes to Salesforce for one rule."""
    options = {"email_for_account": email_for_account} if email_for_account else {}
    mapped = map_push([rule], issue, jira_fields, describe, **options)
    if mapped.problems:
        return RuleValue(mapped.problems[0].field, problem=mapped.problems[0])
    if not mapped.values:  # a pull-only rule (e.g. status) writes nothing to Salesforce
        return RuleValue(rule.salesforce_field, absent=True)
    ((target, value),) = mapped.values.items()
    return RuleValue(target, value)


def pull_value(
    rule: FieldRule,
    record: dict[str, Any],
    describe: dict[str, Any],
    jira_fields: Sequence[dict[str, Any]],
    account_for_email: Callable[[str], str | None] | None = None,
) -> RuleValue:
    """What a pull writes to Jira for one rule (an edit value, or a status to transition to)."""
    options = {"account_for_email": account_for_email} if account_for_email else {}
    mapped = map_pull([rule], record, describe, jira_fields, **options)
    if mapped.problems:
        return RuleValue(mapped.problems[0].field, problem=mapped.problems[0])
    if mapped.values:
        ((target, value),) = mapped.values.items()
        return RuleValue(target, value)
    if mapped.transition_to_status is not None:
        return RuleValue(STATUS_TARGET, mapped.transition_to_status, is_status=True)
    return RuleValue(STATUS_TARGET, None, is_status=True, absent=True)


def echo_after_push(
    rule: FieldRule,
    salesforce_field: str,
    written: Any,
    describe: dict[str, Any],
    jira_fields: Sequence[dict[str, Any]],
) -> str | None:
    """The Salesforce-side fingerprint once ``written`` is stored: what a pull would then read.

    None when the rule is push-only or the pull form cannot be computed (the next pull then
    writes once more and converges).
    """
    if not rule.applies_to("pull"):
        return None
    echoed = pull_value(rule, {salesforce_field: written}, describe, jira_fields)
    if echoed.problem is not None or echoed.absent:
        return None
    return echoed.fingerprint


def echo_after_pull(
    rule: FieldRule,
    pulled: RuleValue,
    jira_fields: Sequence[dict[str, Any]],
    describe: dict[str, Any],
) -> str | None:
    """The Jira-side fingerprint once ``pulled`` is in the issue: what a push would then write."""
    if not rule.applies_to("push"):
        return None
    issue_fields = {pulled.target: {"name": pulled.value} if pulled.is_status else pulled.value}
    echoed = push_value(rule, {"fields": issue_fields}, jira_fields, describe)
    if echoed.problem is not None:
        return None
    return echoed.fingerprint


def synthetic_issue(
    jira_values: dict[str, Any], status: str | None, issue_type_id: str | None
) -> dict[str, Any]:
    """An issue as Jira would return it after an edit with ``jira_values`` (and a transition).

    Lets a pull fan its changes out to the issue's other records without reading the issue again.
    """
    fields = dict(jira_values)
    if status is not None:
        fields[STATUS_TARGET] = {"name": status}
    if issue_type_id is not None:
        fields["issuetype"] = {"id": issue_type_id}
    return {"fields": fields}
