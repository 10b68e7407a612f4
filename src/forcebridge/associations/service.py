"""Associations: the links between one Jira issue and Salesforce records, per connection.

Owns creating (one or in bulk), listing, re-flagging and removing associations, and the checks
SFJC makes before linking (sfjc-and-peers.md §0, §b):

- the issue exists (resolved through Jira: a numeric id or a key, stored as the numeric id because
  keys change when issues move, shown with its current key);
- its project is bound to the connection, and the Salesforce object is mapped for that project and
  the issue's type;
- the record exists: 15- or 18-character id, stored as 18, key prefix checked against describe;
- an issue holds at most :data:`MAX_ASSOCIATIONS_PER_ISSUE` associations (SFJC Cloud's cap).

Every query is filtered by the caller's connection id: another connection's associations are
invisible (``NotFound``, as if absent). Jira and Salesforce are called outside any database
transaction; the writes of one request happen in one transaction at the end.

Post-association actions (the connection's ``after_associate``: push, pull...) belong to the sync
engine and are not run here.
"""

from __future__ import annotations

import contextvars
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forcebridge.associations.lookups import (
    JiraIssueRef,
    existing_record_ids,
    key_prefix_of,
    resolve_issue,
)
from forcebridge.connections.clients import ConnectionClients, clients_for
from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, ValidationFailed
from forcebridge.models import Association, Connection, EntityMapping, ProjectBinding
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.ids import normalize_id, to_18

MAX_ASSOCIATIONS_PER_ISSUE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# How many missing ids an error message lists before it says "and N more".
MAX_IDS_IN_MESSAGE = 10


@dataclass(frozen=True)
class FlagChoice:
    """Requested flags; None means "the connection's default" on create, "unchanged" on update."""

    view_only: bool | None = None
    auto_push: bool | None = None
    auto_pull: bool | None = None

    def is_empty(self) -> bool:
        return self.view_only is None and self.auto_push is None and self.auto_pull is None


@dataclass(frozen=True)
class RecordReference:
    """A Salesforce record as a caller names it (any id form), with the flags wanted for it."""

    salesforce_object: str
    salesforce_id: str
    flags: FlagChoice = FlagChoice()


@dataclass(frozen=True)
class AssociateResult:
    association: Association
    created: bool


@dataclass(frozen=True)
class BulkAssociateResult:
    jira_issue_id: str
    jira_issue_key: str
    total: int
    created: int
    removed: int


@dataclass(frozen=True)
class AssociationPage:
    items: list[Association]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.items)
        return following if following < self.total and self.items else None


@dataclass(frozen=True)
class _ConnectionSetup:
    """A connection with what it binds and maps, read once per request."""

    connection: Connection
    # Bound Jira project id -> (issue type id or None for every type, Salesforce object) pairs.
    mappings_by_project: dict[str, list[tuple[str | None, str]]]


@dataclass(frozen=True)
class _CheckedRecord:
    salesforce_object: str
    salesforce_id: str
    flags: FlagChoice


# -- creating ---------------------------------------------------------------------------------


def associate(
    container: Container,
    connection_id: str,
    jira_issue: str,
    record: RecordReference,
    *,
    allow_upsert: bool = False,
) -> AssociateResult:
    """Link one issue to one record (SFJC ``POST /association``).

    An existing link raises ``Conflict``, unless ``allow_upsert``: then the flags given are applied
    and the others kept. Absent flags of a new link take the connection's defaults.
    """
    setup = _load_setup(container, connection_id)
    connection = setup.connection
    with clients_for(container, connection) as clients:
        issue = _resolve_issue_while_signing_in(clients, jira_issue)
        (checked,) = _check_records(setup, issue, [record], clients.salesforce, in_bulk=False)
        existing = _find_existing(container, connection.id, issue.id, checked)
        if existing is not None:
            if not allow_upsert:
                raise _already_associated(issue, checked)
            return AssociateResult(
                _apply_flags(container, connection.id, existing.id, checked.flags, issue.key),
                created=False,
            )
        if not existing_record_ids(
            clients.salesforce, checked.salesforce_object, [checked.salesforce_id]
        ):
            raise NotFound(
                f"Salesforce {checked.salesforce_object} {record.salesforce_id} does not exist "
                "or the connection's Salesforce user cannot see it",
                hint="Check the id, and the Salesforce user's access to the record.",
            )
    try:
        with container.session() as session:
            _refresh_issue_key(session, connection.id, issue)
            held = _count_for_issue(session, connection.id, issue.id)
            if held >= MAX_ASSOCIATIONS_PER_ISSUE:
                raise _over_cap(issue, held + 1)
            association = _new_association(connection, issue, checked)
            session.add(association)
            session.flush()
            return AssociateResult(association, created=True)
    except IntegrityError:
        # Another request linked the same pair between our check and our insert.
        if not allow_upsert:
            raise _already_associated(issue, checked) from None
    existing = _find_existing(container, connection.id, issue.id, checked)
    if existing is None:  # pragma: no cover - removed again in the same instant
        raise _already_associated(issue, checked)
    return AssociateResult(
        _apply_flags(container, connection.id, existing.id, checked.flags, issue.key),
        created=False,
    )


def associate_many(
    container: Container,
    connection_id: str,
    jira_issue: str,
    records: Sequence[RecordReference],
    *,
    replace: bool = False,
) -> BulkAssociateResult:
    """Link one issue to many records (SFJC ``POST /associations``), all in one transaction.

    ``replace`` removes the issue's earlier associations first; otherwise they are kept and records
    already linked are not linked twice. Duplicates inside ``records`` are refused, as are more than
    :data:`MAX_ASSOCIATIONS_PER_ISSUE` records, or a result above that cap.
    """
    if len(records) > MAX_ASSOCIATIONS_PER_ISSUE:
        raise PayloadTooLarge(
            f"At most {MAX_ASSOCIATIONS_PER_ISSUE} associations per request and per issue; "
            f"got {len(records)}.",
            hint="Split the records over several issues, or remove some.",
        )
    setup = _load_setup(container, connection_id)
    connection = setup.connection
    with clients_for(container, connection) as clients:
        issue = _resolve_issue_while_signing_in(clients, jira_issue)
        checked = _check_records(setup, issue, records, clients.salesforce, in_bulk=True)
        _refuse_duplicates(checked)
        already_linked = set() if replace else _linked_records(container, connection.id, issue.id)
        to_verify = [
            item
            for item in checked
            if (item.salesforce_object, item.salesforce_id) not in already_linked
        ]
        _require_records_exist(clients.salesforce, to_verify)
    with container.session() as session:
        _refresh_issue_key(session, connection.id, issue)
        removed = 0
        if replace:
            removed = _count_for_issue(session, connection.id, issue.id)
            session.execute(
                delete(Association).where(
                    Association.connection_id == connection.id,
                    Association.jira_issue_id == issue.id,
                )
            )
            linked: set[tuple[str, str]] = set()
        else:
            linked = _linked_pairs(session, connection.id, issue.id)
        new_items = [
            item for item in checked if (item.salesforce_object, item.salesforce_id) not in linked
        ]
        total = len(linked) + len(new_items)
        if total > MAX_ASSOCIATIONS_PER_ISSUE:
            raise _over_cap(issue, total)
        session.add_all(_new_association(connection, issue, item) for item in new_items)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(
                f"Jira issue {issue.key} was being associated by another request at the same time; "
                "nothing was changed.",
                hint="Send the request again.",
            ) from None
        return BulkAssociateResult(
            jira_issue_id=issue.id,
            jira_issue_key=issue.key,
            total=total,
            created=len(new_items),
            removed=removed,
        )


# -- reading ----------------------------------------------------------------------------------


def list_for_issue(
    container: Container,
    connection_id: str,
    jira_issue: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> AssociationPage:
    """The issue's associations, oldest first. An unknown issue simply has none."""
    issue_id = _issue_id_for_lookup(container, connection_id, jira_issue)
    if issue_id is None:
        return AssociationPage([], 0, _clamp(limit), offset)
    return _page(
        container,
        (Association.connection_id == connection_id, Association.jira_issue_id == issue_id),
        limit,
        offset,
    )


def list_for_record(
    container: Container,
    connection_id: str,
    salesforce_object: str,
    salesforce_id: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> AssociationPage:
    """The associations of one Salesforce record: which issues link to it."""
    record_id = _canonical_id(salesforce_id)
    return _page(
        container,
        (
            Association.connection_id == connection_id,
            Association.salesforce_id == record_id,
            func.lower(Association.salesforce_object) == salesforce_object.lower(),
        ),
        limit,
        offset,
    )


def get_association(session: Session, connection_id: str, association_id: str) -> Association:
    """One association of this connection; ``NotFound`` for unknown ids and other connections'."""
    association = session.scalars(
        select(Association).where(
            Association.id == association_id, Association.connection_id == connection_id
        )
    ).one_or_none()
    if association is None:
        raise NotFound(f"Association {association_id} not found.")
    return association


# -- changing and removing --------------------------------------------------------------------


def update_flags(
    container: Container, connection_id: str, association_id: str, flags: FlagChoice
) -> Association:
    """Change the flags given; the others stay as they are."""
    if flags.is_empty():
        raise ValidationFailed(
            "Give at least one of viewOnly, autoPush, autoPull.",
            details=[{"field": None, "message": "no flag to change"}],
        )
    return _apply_flags(container, connection_id, association_id, flags, None)


def unlink(
    container: Container,
    connection_id: str,
    jira_issue: str,
    salesforce_object: str,
    salesforce_id: str,
) -> Association:
    """Remove the link between an issue and a record; ``NotFound`` when there is none."""
    record_id = _canonical_id(salesforce_id)
    issue_id = _issue_id_for_lookup(container, connection_id, jira_issue)
    with container.session() as session:
        association = None
        if issue_id is not None:
            association = session.scalars(
                select(Association).where(
                    Association.connection_id == connection_id,
                    Association.jira_issue_id == issue_id,
                    Association.salesforce_id == record_id,
                    func.lower(Association.salesforce_object) == salesforce_object.lower(),
                )
            ).one_or_none()
        if association is None:
            raise NotFound(
                f"Jira issue {jira_issue} is not associated with "
                f"{salesforce_object} {salesforce_id}."
            )
        session.delete(association)
        return association


def delete_association(
    container: Container, connection_id: str, association_id: str
) -> Association:
    """Remove one association by its id."""
    with container.session() as session:
        association = get_association(session, connection_id, association_id)
        session.delete(association)
        return association


# -- helpers ----------------------------------------------------------------------------------


def _connection(container: Container, connection_id: str) -> Connection:
    with container.session() as session:
        return get_connection(session, connection_id)


def _resolve_issue_while_signing_in(clients: ConnectionClients, jira_issue: str) -> JiraIssueRef:
    """Look the issue up in Jira while the Salesforce session is being obtained.

    The two are independent, and each is a network round trip (the OAuth token request takes
    100-300 ms against a real org), so doing them at the same time takes the latency of the
    slower one instead of their sum. A sign-in failure surfaces here; if Jira fails first, its
    error wins and the sign-in is waited for before the clients are closed.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesforce-sign-in") as pool:
        # copy_context: the sign-in's log lines keep the request id.
        signing_in = pool.submit(contextvars.copy_context().run, lambda: clients.salesforce)
        issue = resolve_issue(clients.jira, jira_issue)
        signing_in.result()
    return issue


def _load_setup(container: Container, connection_id: str) -> _ConnectionSetup:
    with container.session() as session:
        connection = get_connection(session, connection_id)
        rows = session.execute(
            select(
                ProjectBinding.jira_project_id,
                EntityMapping.jira_issue_type_id,
                EntityMapping.salesforce_object,
            )
            .outerjoin(EntityMapping, EntityMapping.binding_id == ProjectBinding.id)
            .where(ProjectBinding.connection_id == connection_id)
        )
        mappings: dict[str, list[tuple[str | None, str]]] = {}
        for project_id, issue_type_id, salesforce_object in rows:
            project_mappings = mappings.setdefault(project_id, [])
            if salesforce_object is not None:
                project_mappings.append((issue_type_id, salesforce_object))
    return _ConnectionSetup(connection, mappings)


def _check_records(
    setup: _ConnectionSetup,
    issue: JiraIssueRef,
    records: Iterable[RecordReference],
    salesforce: SalesforceClient,
    *,
    in_bulk: bool,
) -> list[_CheckedRecord]:
    """Binding, mapping and id checks; no record is looked up in Salesforce here."""
    mapped = _mapped_objects_for(setup, issue)
    checked: list[_CheckedRecord] = []
    for position, record in enumerate(records):
        canonical_object = mapped.get(record.salesforce_object.lower())
        if canonical_object is None:
            names = ", ".join(sorted(mapped.values())) or "none"
            raise ValidationFailed(
                f"Salesforce object {record.salesforce_object} is not mapped for project "
                f"{issue.project_key or issue.project_id} and this issue's type; mapped objects: "
                f"{names}.",
                hint="Add an entity mapping for the object in the connection's binding.",
                details=[
                    {"field": _field(position, "son", in_bulk), "message": "object not mapped"}
                ],
            )
        key_prefix = key_prefix_of(salesforce, setup.connection.id, canonical_object)
        try:
            record_id = normalize_id(
                record.salesforce_id, sobject=canonical_object, key_prefix=key_prefix
            )
        except InvalidInput as error:
            raise ValidationFailed(
                error.message,
                hint=error.hint,
                details=[{"field": _field(position, "soid", in_bulk), "message": error.message}],
            ) from None
        checked.append(_CheckedRecord(canonical_object, record_id, record.flags))
    return checked


def _mapped_objects_for(setup: _ConnectionSetup, issue: JiraIssueRef) -> dict[str, str]:
    """``lower-case name -> API name`` of the objects mapped for the issue's project and type."""
    project_mappings = setup.mappings_by_project.get(issue.project_id)
    if project_mappings is None:
        raise ValidationFailed(
            f"Jira project {issue.project_key or issue.project_id} (id {issue.project_id}) "
            "is not bound to this connection.",
            hint="Bind the project to the connection first.",
            details=[{"field": "jiraIssueId", "message": "project not bound"}],
        )
    # A mapping without an issue type applies to every type of the project.
    return {
        salesforce_object.lower(): salesforce_object
        for issue_type_id, salesforce_object in project_mappings
        if issue_type_id in (None, issue.issue_type_id)
    }


def _refuse_duplicates(records: Sequence[_CheckedRecord]) -> None:
    seen: set[tuple[str, str]] = set()
    for position, record in enumerate(records):
        pair = (record.salesforce_object, record.salesforce_id)
        if pair in seen:
            raise ValidationFailed(
                f"{record.salesforce_object} {record.salesforce_id} appears more than once.",
                details=[{"field": _field(position, "soid", True), "message": "duplicate record"}],
            )
        seen.add(pair)


def _require_records_exist(salesforce: SalesforceClient, records: Sequence[_CheckedRecord]) -> None:
    ids_by_object: dict[str, list[str]] = defaultdict(list)
    for record in records:
        ids_by_object[record.salesforce_object].append(record.salesforce_id)
    missing: list[str] = []
    for salesforce_object, record_ids in ids_by_object.items():
        found = existing_record_ids(salesforce, salesforce_object, record_ids)
        missing.extend(f"{salesforce_object} {rid}" for rid in record_ids if rid not in found)
    if missing:
        listed = ", ".join(missing[:MAX_IDS_IN_MESSAGE])
        more = len(missing) - MAX_IDS_IN_MESSAGE
        suffix = f" and {more} more" if more > 0 else ""
        raise NotFound(
            f"{len(missing)} Salesforce record(s) do not exist or cannot be seen: "
            f"{listed}{suffix}. Nothing was associated.",
            hint="Check the ids, and the Salesforce user's access to the records.",
        )


def _find_existing(
    container: Container, connection_id: str, issue_id: str, record: _CheckedRecord
) -> Association | None:
    with container.session() as session:
        return session.scalars(
            select(Association).where(
                Association.connection_id == connection_id,
                Association.jira_issue_id == issue_id,
                Association.salesforce_object == record.salesforce_object,
                Association.salesforce_id == record.salesforce_id,
            )
        ).one_or_none()


def _linked_records(
    container: Container, connection_id: str, issue_id: str
) -> set[tuple[str, str]]:
    with container.session() as session:
        return _linked_pairs(session, connection_id, issue_id)


def _linked_pairs(session: Session, connection_id: str, issue_id: str) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Association.salesforce_object, Association.salesforce_id).where(
            Association.connection_id == connection_id, Association.jira_issue_id == issue_id
        )
    )
    return {(salesforce_object, record_id) for salesforce_object, record_id in rows}


def _apply_flags(
    container: Container,
    connection_id: str,
    association_id: str,
    flags: FlagChoice,
    current_key: str | None,
) -> Association:
    with container.session() as session:
        association = get_association(session, connection_id, association_id)
        if flags.view_only is not None:
            association.view_only = flags.view_only
        if flags.auto_push is not None:
            association.auto_push = flags.auto_push
        if flags.auto_pull is not None:
            association.auto_pull = flags.auto_pull
        if current_key is not None:
            association.jira_issue_key = current_key
        session.flush()
        return association


def _new_association(
    connection: Connection, issue: JiraIssueRef, record: _CheckedRecord
) -> Association:
    flags = record.flags
    return Association(
        connection_id=connection.id,
        jira_issue_id=issue.id,
        jira_issue_key=issue.key,
        jira_project_id=issue.project_id,
        salesforce_object=record.salesforce_object,
        salesforce_id=record.salesforce_id,
        view_only=connection.default_view_only if flags.view_only is None else flags.view_only,
        auto_push=connection.default_auto_push if flags.auto_push is None else flags.auto_push,
        auto_pull=connection.default_auto_pull if flags.auto_pull is None else flags.auto_pull,
    )


def _refresh_issue_key(session: Session, connection_id: str, issue: JiraIssueRef) -> None:
    """Keep the shown key current: an issue moved to another project gets a new key."""
    session.execute(
        update(Association)
        .where(
            Association.connection_id == connection_id,
            Association.jira_issue_id == issue.id,
            or_(
                Association.jira_issue_key != issue.key,
                Association.jira_project_id != issue.project_id,
            ),
        )
        .values(jira_issue_key=issue.key, jira_project_id=issue.project_id)
        .execution_options(synchronize_session=False)
    )


def _count_for_issue(session: Session, connection_id: str, issue_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Association)
            .where(
                Association.connection_id == connection_id, Association.jira_issue_id == issue_id
            )
        )
        or 0
    )


def _issue_id_for_lookup(container: Container, connection_id: str, jira_issue: str) -> str | None:
    """The numeric issue id to read by, calling Jira only when the stored keys cannot tell.

    A numeric id is used as is. A key is first matched against the keys stored with this
    connection's associations (keys of moved issues keep resolving there); only an unknown or
    ambiguous key is resolved through Jira. None when Jira knows no such issue.
    """
    if jira_issue.isascii() and jira_issue.isdigit():
        return jira_issue
    with container.session() as session:
        issue_ids = set(
            session.scalars(
                select(Association.jira_issue_id)
                .where(
                    Association.connection_id == connection_id,
                    func.upper(Association.jira_issue_key) == jira_issue.upper(),
                )
                .distinct()
                .limit(2)
            )
        )
    if len(issue_ids) == 1:
        return issue_ids.pop()
    connection = _connection(container, connection_id)
    with clients_for(container, connection) as clients:
        try:
            return resolve_issue(clients.jira, jira_issue).id
        except NotFound:
            return None


def _page(
    container: Container, conditions: tuple[object, ...], limit: int, offset: int
) -> AssociationPage:
    limit = _clamp(limit)
    with container.session() as session:
        total = session.scalar(
            select(func.count()).select_from(Association).where(*conditions)  # type: ignore[arg-type]
        )
        items = list(
            session.scalars(
                select(Association)
                .where(*conditions)  # type: ignore[arg-type]
                .order_by(Association.created_at, Association.id)
                .limit(limit)
                .offset(offset)
            )
        )
    return AssociationPage(items, total or 0, limit, offset)


def _canonical_id(salesforce_id: str) -> str:
    try:
        return to_18(salesforce_id)
    except InvalidInput as error:
        raise ValidationFailed(
            error.message, details=[{"field": "soid", "message": error.message}]
        ) from None


def _clamp(limit: int) -> int:
    """Oversized pages are reduced, not refused (OWASP API4: bounded work per request)."""
    return max(1, min(limit, MAX_PAGE_SIZE))


def _field(position: int, name: str, in_bulk: bool) -> str:
    return f"associations.{position}.{name}" if in_bulk else name


def _already_associated(issue: JiraIssueRef, record: _CheckedRecord) -> Conflict:
    return Conflict(
        f"Jira issue {issue.key} is already associated with {record.salesforce_object} "
        f"{record.salesforce_id}.",
        hint="Send allowUpsert=true to update its flags instead.",
    )


def _over_cap(issue: JiraIssueRef, total: int) -> ValidationFailed:
    return ValidationFailed(
        f"Jira issue {issue.key} would hold {total} associations; at most "
        f"{MAX_ASSOCIATIONS_PER_ISSUE} are allowed per issue.",
        hint="Remove associations first, or use replace=true.",
    )
