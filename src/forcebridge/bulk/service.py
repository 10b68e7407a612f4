"""Bulk jobs: push every association of the issues a JQL finds, or pull every association of the
records a SOQL query finds, as one resumable job resource.

Accepting a request (``start_bulk_push``) resolves the JQL to associations once, stores them as
the job's items and enqueues one ``bulk.push`` job, all in one transaction. The worker then
processes the items in chunks of :data:`CHUNK_SIZE` associations, each chunk costing:

- one Jira ``/search/jql`` read (``id in (...)`` with explicit fields, comments and files
  included) for the chunk's issues;
- one sObject Collections update per object (200 records a call) for what changed;
- one sObject Collections create per 200 new comments of the whole chunk, and one upload per new
  file (no batch exists) but one download per Jira attachment for the whole chunk, with the
  single push's rules and crash safety (copy intents).

After each chunk the cursor and the counts move in one transaction. A worker killed mid-chunk
leaves the cursor before that chunk; the next run repeats it, and the sync engine's stored
fingerprints make the repeat write only what did not land. Between chunks the quota guard is
consulted: when the org's quota runs low the job defers itself rather than spending the reserve.

A bulk pull resolves its SOQL to record ids with one query (plus one per 2,000 rows). Each chunk
then reads its records with one ``WHERE Id IN (...)`` query per object (the fields and
comment/file subqueries a single pull reads), plus one ``/search/jql`` only for issues whose
type picks the mapping and is not yet known; each association is then planned and written by
the engine's ``pull_prepared``, as a single pull (the issue's edit and transition are per issue:
Jira has no batch edit), recording a failure per association without stopping the others.

A bulk create of Jira issues skips records already linked in the project and hands the rest to
the engine's ``create_jira_issues``: one ``IN`` read per chunk, ``POST /issue/bulk`` per 50
issues, and one marker search only when the chunk is a retry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from forcebridge.associations.service import FlagChoice, RecordReference, associate
from forcebridge.bulk.models import BULK_DONE, BULK_RUNNING, BulkJob
from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError, InvalidInput, NotFound, TransientExternalError
from forcebridge.jira.jql import format_jql
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.service import enqueue
from forcebridge.models import Association, new_id
from forcebridge.quota.service import defer, quota_state
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sync import attachments, comments, extensions
from forcebridge.sync.context import (
    AssociationRef,
    SyncContext,
    ensure_modification_allowed,
    jira_fields_to_read,
)
from forcebridge.sync.create import create_jira_issues
from forcebridge.sync.pull import pull_prepared, read_records, record_not_found
from forcebridge.sync.push import (
    ISSUE_BOOKKEEPING_FIELDS,
    PlannedWrite,
    issue_type_of,
    plan_push,
    record_results,
    write_planned,
)
from forcebridge.sync.results import error_to_wire
from forcebridge.sync.state import known_issue_type, load_fingerprints

log = structlog.get_logger("forcebridge.bulk")

BULK_PUSH_JOB = "bulk.push"
BULK_PULL_JOB = "bulk.pull"
BULK_ASSOCIATE_JOB = "bulk.associate"
BULK_CREATE_JIRA_ISSUES_JOB = "bulk.create_jira_issues"
ASSOCIATE_ROW_FIELDS = ("jiraIssueId", "son", "soid", "viewOnly", "autoPush", "autoPull")
CHUNK_SIZE = 200  # sObject Collections take 200 records a call
MAX_ITEMS = 50_000
MAX_ERRORS_KEPT = 500
SEARCH_PAGE_SIZE = 100


def bulk_key(bulk_id: str) -> str:
    return f"bulk:{bulk_id}"


# -- accepting a request ----------------------------------------------------------------------


def start_bulk_push(container: Container, connection_id: str, jql: str) -> BulkJob:
    """Resolve ``jql`` to the connection's associations and queue their push."""
    jql = (jql or "").strip()
    if not jql or len(jql) > 10_000:
        raise InvalidInput("jql is required (at most 10,000 characters).")
    with SyncContext(container, connection_id) as context:
        ensure_modification_allowed(context.connection)
        issue_ids = [str(issue["id"]) for issue in context.jira.search(jql, fields=["id"])]
    with container.session() as session:
        association_ids = _associations_of_issues(session, connection_id, issue_ids)
    return _create(container, connection_id, "push", {"jql": jql}, association_ids, BULK_PUSH_JOB)


def start_bulk_pull(container: Container, connection_id: str, soql: str) -> BulkJob:
    """Resolve ``soql`` (any query selecting ``Id``) to associations and queue their pull.

    The query is the caller's own, run as the connection's Salesforce user, so it sees only
    what that user may see; its rows' ``Id`` values name the records.
    """
    soql = (soql or "").strip()
    if not soql or len(soql) > 10_000 or not soql[:7].upper().startswith("SELECT "):
        raise InvalidInput(
            "soql is required: a SELECT query returning Id (at most 10,000 characters)."
        )
    with SyncContext(container, connection_id) as context:
        ensure_modification_allowed(context.connection)
        record_ids = []
        for row in context.salesforce.query(soql):
            raw_id = row.get("Id")
            if not isinstance(raw_id, str):
                raise InvalidInput("The SOQL query must select Id.", hint="SELECT Id FROM Case …")
            record_ids.append(normalize_id(raw_id))
    with container.session() as session:
        association_ids = _associations_of_records(session, connection_id, record_ids)
    return _create(container, connection_id, "pull", {"soql": soql}, association_ids, BULK_PULL_JOB)


def start_bulk_associate(
    container: Container, connection_id: str, rows: list[dict[str, Any]]
) -> BulkJob:
    """Queue one association per row ``{jiraIssueId, son, soid, viewOnly?, autoPush?,
    autoPull?}``; rows are checked for shape now and against Jira and Salesforce when run."""
    if not rows:
        raise InvalidInput("Send at least one row.")
    items = []
    for position, row in enumerate(rows, start=1):
        unknown = sorted(set(row) - set(ASSOCIATE_ROW_FIELDS))
        if unknown:
            raise InvalidInput(f"Row {position}: unknown field(s) {', '.join(unknown)}.")
        for required in ("jiraIssueId", "son", "soid"):
            if not isinstance(row.get(required), str) or not row[required].strip():
                raise InvalidInput(f"Row {position}: {required} is required.")
        for flag in ("viewOnly", "autoPush", "autoPull"):
            if row.get(flag) is not None and not isinstance(row[flag], bool):
                raise InvalidInput(f"Row {position}: {flag} is true or false.")
        items.append(json.dumps({key: row[key] for key in ASSOCIATE_ROW_FIELDS if key in row}))
    return _create(
        container, connection_id, "associate", {"rows": len(rows)}, items, BULK_ASSOCIATE_JOB
    )


def start_bulk_create_jira_issues(
    container: Container,
    connection_id: str,
    *,
    salesforce_object: str,
    project_id: str,
    issue_type_id: str,
    record_ids: list[str] | None = None,
    soql: str | None = None,
) -> BulkJob:
    """Queue a Jira issue per record (named by ids, or found by a SOQL returning Id)."""
    if (record_ids is None) == (soql is None):
        raise InvalidInput('Send either "soids" or "soql".')
    if soql is not None:
        if not soql.strip()[:7].upper().startswith("SELECT "):
            raise InvalidInput("soql must be a SELECT query returning Id.")
        with SyncContext(container, connection_id) as context:
            ensure_modification_allowed(context.connection)
            record_ids = [str(row.get("Id")) for row in context.salesforce.query(soql)]
    assert record_ids is not None
    canonical = list(
        dict.fromkeys(normalize_id(raw, sobject=salesforce_object) for raw in record_ids)
    )
    return _create(
        container,
        connection_id,
        "create_jira_issues",
        {
            "son": salesforce_object,
            "projectId": project_id,
            "issueTypeId": issue_type_id,
            **({"soql": soql} if soql is not None else {}),
        },
        canonical,
        BULK_CREATE_JIRA_ISSUES_JOB,
    )


def _create(
    container: Container,
    connection_id: str,
    kind: str,
    request: dict[str, Any],
    association_ids: list[str],
    job_kind: str,
) -> BulkJob:
    now = container.clock()
    with container.session() as session:
        if len(association_ids) > MAX_ITEMS:
            raise InvalidInput(
                f"The JQL matches {len(association_ids)} associations; at most {MAX_ITEMS}.",
                hint="Narrow the JQL (e.g. by project or updated date) and send several jobs.",
            )
        bulk = BulkJob(
            id=new_id(),
            connection_id=connection_id,
            kind=kind,
            state=BULK_RUNNING if association_ids else BULK_DONE,
            request=request,
            items=association_ids,
            cursor=0,
            done=0,
            failed=0,
            errors=[],
            created_at=now,
            updated_at=now,
            finished_at=None if association_ids else now,
        )
        session.add(bulk)
        if association_ids:
            enqueue(
                session,
                job_kind,
                {"bulk_id": bulk.id},
                connection_id=connection_id,
                coalesce_key=bulk_key(bulk.id),
            )
        session.flush()
        session.expunge(bulk)
        return bulk


def _associations_of_records(
    session: Session, connection_id: str, record_ids: list[str]
) -> list[str]:
    return _associations_matching(session, connection_id, Association.salesforce_id, record_ids)


def _associations_of_issues(
    session: Session, connection_id: str, issue_ids: list[str]
) -> list[str]:
    # A record deleted in Salesforce has nothing to receive the push.
    return _associations_matching(
        session,
        connection_id,
        Association.jira_issue_id,
        issue_ids,
        Association.salesforce_deleted_at.is_(None),
    )


def _associations_matching(
    session: Session,
    connection_id: str,
    column: InstrumentedAttribute[str],
    values: list[str],
    *conditions: ColumnElement[bool],
) -> list[str]:
    """Ids of the connection's associations that are not view-only and whose ``column`` is one
    of ``values``, ordered by that column."""
    found: list[str] = []
    # SQLite caps bound parameters; 500 ids a query stays far below every engine's limit.
    for start in range(0, len(values), 500):
        found.extend(
            session.scalars(
                select(Association.id)
                .where(
                    Association.connection_id == connection_id,
                    column.in_(values[start : start + 500]),
                    Association.view_only.is_(False),
                    *conditions,
                )
                .order_by(column, Association.id)
            )
        )
    return found


# -- reading it back --------------------------------------------------------------------------


def get_bulk_job(session: Session, connection_id: str, bulk_id: str) -> BulkJob:
    """The job, only for its own connection (another connection's id is simply not found)."""
    bulk = session.get(BulkJob, bulk_id)
    if bulk is None or bulk.connection_id != connection_id:
        raise NotFound(f"No bulk job with id {bulk_id}.")
    return bulk


def bulk_view(session: Session, bulk: BulkJob, now: datetime) -> dict[str, Any]:
    quota = quota_state(session, bulk.connection_id, now=now)
    return {
        "id": bulk.id,
        "kind": bulk.kind,
        "state": bulk.state,
        "request": bulk.request,
        "total": len(bulk.items),
        "done": bulk.done,
        "failed": bulk.failed,
        "remaining": len(bulk.items) - bulk.cursor,
        "errors": bulk.errors,
        "quota": {"paused": quota.paused, "resumesAt": quota.as_dict()["resumesAt"]},
        "createdAt": bulk.created_at.isoformat(),
        "finishedAt": bulk.finished_at.isoformat() if bulk.finished_at else None,
    }


# -- the worker's side ------------------------------------------------------------------------


def register_handlers(registry: HandlerRegistry) -> None:
    registry.register(BULK_PUSH_JOB, run_bulk_push)
    registry.register(BULK_PULL_JOB, run_bulk_pull)
    registry.register(BULK_ASSOCIATE_JOB, run_bulk_associate)
    registry.register(BULK_CREATE_JIRA_ISSUES_JOB, run_bulk_create_jira_issues)


def run_bulk_push(job: JobContext) -> None:
    _run_chunks(job, push_chunk)


def run_bulk_pull(job: JobContext) -> None:
    _run_chunks(job, pull_chunk)


def run_bulk_associate(job: JobContext) -> None:
    _run_chunks(job, associate_chunk)


def run_bulk_create_jira_issues(job: JobContext) -> None:
    with job.container.session() as session:
        bulk = session.get(BulkJob, str(job.payload.get("bulk_id", "")))
        request = dict(bulk.request) if bulk is not None else {}

    def create_chunk(
        container: Container, connection_id: str, record_ids: list[str]
    ) -> tuple[int, list[dict[str, Any]]]:
        return create_jira_issues_chunk(container, connection_id, record_ids, request)

    _run_chunks(job, create_chunk)


def create_jira_issues_chunk(
    container: Container, connection_id: str, record_ids: list[str], request: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    """Create an issue per record of one chunk with the engine's batched create: one ``IN``
    read of the records, Jira's bulk create (50 a call) and, before any retry, one marker
    search. A record already linked to an issue of the project is skipped (counted done): with
    the engine's pending-create markers, that is what makes a chunk run twice create nothing
    twice. Per-record failures are listed; a failure of the whole chunk that is not transient
    fails each of its records, and a transient one is raised, so the job runs the chunk again."""
    salesforce_object = str(request.get("son", ""))
    project_id = str(request.get("projectId", ""))
    with container.session() as session:
        already = set(
            session.scalars(
                select(Association.salesforce_id).where(
                    Association.connection_id == connection_id,
                    Association.salesforce_id.in_(record_ids),
                    Association.jira_project_id == project_id,
                )
            )
        )
    to_create = [record_id for record_id in record_ids if record_id not in already]
    if not to_create:
        return len(record_ids), []
    try:
        outcome = create_jira_issues(
            container,
            connection_id,
            salesforce_object=salesforce_object,
            salesforce_ids=to_create,
            project_id=project_id,
            issue_type_id=str(request.get("issueTypeId", "")),
            trigger="bulk",
        )
    except TransientExternalError:
        raise
    except ForceBridgeError as error:
        failures = [{"soid": record_id, "error": error.message} for record_id in to_create]
        return len(record_ids) - len(failures), failures
    failures = [
        {"soid": record_id, "error": outcome.failed[record_id].message}
        for record_id in to_create
        if record_id in outcome.failed
    ]
    return len(record_ids) - len(failures), failures


def associate_chunk(
    container: Container, connection_id: str, rows: list[str]
) -> tuple[int, list[dict[str, Any]]]:
    """Associate each row; ``allowUpsert`` semantics, so a chunk run again changes nothing."""
    failures: list[dict[str, Any]] = []
    for encoded in rows:
        row = json.loads(encoded)
        flags = FlagChoice(
            view_only=row.get("viewOnly"),
            auto_push=row.get("autoPush"),
            auto_pull=row.get("autoPull"),
        )
        try:
            associate(
                container,
                connection_id,
                row["jiraIssueId"],
                RecordReference(row["son"], row["soid"], flags),
                allow_upsert=True,
            )
        except ForceBridgeError as error:
            failures.append({"item": row, "error": error.message})
    return len(rows) - len(failures), failures


def _run_chunks(
    job: JobContext,
    process: Callable[[Container, str, list[str]], tuple[int, list[dict[str, Any]]]],
) -> None:
    container = job.container
    bulk_id = str(job.payload.get("bulk_id", ""))
    while True:
        with container.session() as session:
            bulk = session.get(BulkJob, bulk_id)
            if bulk is None or bulk.state != BULK_RUNNING:
                return
            cursor = bulk.cursor
            chunk = list(bulk.items[cursor : cursor + CHUNK_SIZE])
            connection_id = bulk.connection_id
            if cursor > 0:
                quota = quota_state(session, connection_id, now=container.clock())
                if quota.paused and quota.resumes_at is not None:
                    defer(session, job, quota.resumes_at)
                    log.info("bulk.deferred_for_quota", bulk_id=bulk_id, cursor=cursor)
                    return
        if not chunk:
            _finish(container, bulk_id)
            return
        done, failures = process(container, connection_id, chunk)
        _advance(container, bulk_id, cursor, len(chunk), done, failures)


def push_chunk(
    container: Container, connection_id: str, association_ids: list[str]
) -> tuple[int, list[dict[str, Any]]]:
    """Push one chunk: one issue search (with comments and files), one Collections update per
    object for fields, one Collections create per 200 new comments, one upload per new file.
    Returns the number of associations that synced and the failures (association id, error);
    a comment or file that fails is reported on the association's sync result, as in a single
    push, and does not fail the association."""
    started = container.clock()
    clock_start = time.perf_counter()
    with SyncContext(container, connection_id) as context:
        ensure_modification_allowed(context.connection)
        with container.session() as session:
            rows = session.scalars(select(Association).where(Association.id.in_(association_ids)))
            associations = [AssociationRef.from_model(row) for row in rows]
            stored = load_fingerprints(session, (a.id for a in associations))
        issues = _read_issues(context, associations)
        failures: list[dict[str, Any]] = []
        plans = []
        for association in associations:
            issue = issues.get(association.jira_issue_id)
            if issue is None:
                failures.append(_failure(association.id, "The Jira issue is gone or not visible."))
                continue
            plans.append(plan_push(context, association, issue, stored))
        write_planned(context, plans)
        _push_chunk_extras(context, plans, issues)
        results = [plan.result for plan in plans]
        record_results(context, results, "bulk", started, clock_start)
    for result in results:
        if result.outcome == "failed":
            message = result.error.message if result.error else "No mapped field could be written."
            failures.append(_failure(result.association_id, message))
    missing = set(association_ids) - {a.id for a in associations}
    failures.extend(_failure(gone, "The association was deleted.") for gone in sorted(missing))
    return len(association_ids) - len(failures), failures


def pull_chunk(
    container: Container, connection_id: str, association_ids: list[str]
) -> tuple[int, list[dict[str, Any]]]:
    """Pull one chunk: one record read per object (``WHERE Id IN (...)``), one issue-type search
    only for issues whose type is needed and not yet known, then each association planned and
    written exactly as a single pull does (Jira has no batch edit). A failure is recorded per
    association and the others go on. A failure of what the chunk shares (modification off, the
    issue-type search) fails each association, as it would fail each single pull; a transient
    one is raised instead, so the job runs the chunk again later."""
    with SyncContext(container, connection_id) as context:
        chunk, siblings, known_types = _load_pull_chunk(container, connection_id, association_ids)
        try:
            ensure_modification_allowed(context.connection)
            issue_types, gone_issues = _pull_issue_types(context, chunk, known_types)
            records, unreadable = _read_pull_records(context, chunk, issue_types)
        except TransientExternalError:
            raise
        except ForceBridgeError as error:
            failures = [_failure(association.id, error.message) for association in chunk]
        else:
            failures = []
            for association in chunk:
                blocker = _pull_blocker(association, gone_issues, unreadable)
                failure = _pull_one(context, association, siblings, issue_types, records, blocker)
                if failure is not None:
                    failures.append(failure)
    missing = set(association_ids) - {association.id for association in chunk}
    failures.extend(_failure(gone, "The association was deleted.") for gone in sorted(missing))
    return len(association_ids) - len(failures), failures


def _pull_one(
    context: SyncContext,
    association: AssociationRef,
    siblings: dict[str, list[AssociationRef]],
    issue_types: dict[str, str | None],
    records: dict[str, dict[str, Any]],
    blocker: str | None,
) -> dict[str, Any] | None:
    """Pull one association of the chunk as a single pull would; its failure, if any."""
    if blocker is not None:
        return _failure(association.id, blocker)
    try:
        outcome = pull_prepared(
            context,
            association,
            siblings[association.jira_issue_id],
            issue_types.get(association.id),
            partial(_chunk_record, records, association),
            "bulk",
        )
    except ForceBridgeError as error:
        return _failure(association.id, error.message)
    _apply_fan_out(records, siblings[association.jira_issue_id], outcome.fanned_out)
    own = outcome.report.results[0]
    if own.outcome == "failed":
        return _failure(association.id, own.error.message if own.error else "Nothing written.")
    return None


def _load_pull_chunk(
    container: Container, connection_id: str, association_ids: list[str]
) -> tuple[list[AssociationRef], dict[str, list[AssociationRef]], dict[str, str | None]]:
    """The chunk's associations (in item order), every association of their issues (the fan-out
    targets, oldest first, as a single pull finds them) and the issue types already known."""
    with container.session() as session:
        rows = session.scalars(select(Association).where(Association.id.in_(association_ids)))
        position = {association_id: index for index, association_id in enumerate(association_ids)}
        chunk = sorted(
            (AssociationRef.from_model(row) for row in rows), key=lambda a: position[a.id]
        )
        issue_ids = sorted({association.jira_issue_id for association in chunk})
        siblings: dict[str, list[AssociationRef]] = {issue_id: [] for issue_id in issue_ids}
        for start in range(0, len(issue_ids), 500):
            for row in session.scalars(
                select(Association)
                .where(
                    Association.connection_id == connection_id,
                    Association.jira_issue_id.in_(issue_ids[start : start + 500]),
                )
                .order_by(Association.created_at, Association.id)
            ):
                siblings[row.jira_issue_id].append(AssociationRef.from_model(row))
        known_types = {
            association.id: known_issue_type(session, association.id) for association in chunk
        }
    return chunk, siblings, known_types


def _pull_issue_types(
    context: SyncContext, chunk: list[AssociationRef], known_types: dict[str, str | None]
) -> tuple[dict[str, str | None], set[str]]:
    """Each association's issue type (as :func:`~forcebridge.sync.pull.issue_type_for` decides
    it), reading the types still unknown with one ``/search/jql``; and the issues it did not
    find (deleted, or no longer visible)."""
    issue_types: dict[str, str | None] = {}
    to_read: dict[str, list[AssociationRef]] = {}
    for association in chunk:
        known = known_types.get(association.id)
        if known is not None or not context.needs_issue_type(
            association.jira_project_id, association.salesforce_object
        ):
            issue_types[association.id] = known
        else:
            to_read.setdefault(association.jira_issue_id, []).append(association)
    if not to_read:
        return issue_types, set()
    jql = format_jql("id in {} ORDER BY id", sorted(to_read, key=int))
    found = {
        str(issue["id"]): issue_type_of(issue)
        for issue in context.jira.search(jql, fields=["issuetype"], page_size=SEARCH_PAGE_SIZE)
    }
    for issue_id, associations in to_read.items():
        for association in associations:
            issue_types[association.id] = found.get(issue_id)
    return issue_types, set(to_read) - set(found)


def _read_pull_records(
    context: SyncContext, chunk: list[AssociationRef], issue_types: dict[str, str | None]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The chunk's records, one ``IN`` query per object (with every field any of the chunk's
    rules needs), and, per object that could not be read for a lasting reason, that reason."""
    by_object: dict[str, list[AssociationRef]] = {}
    for association in chunk:
        by_object.setdefault(association.salesforce_object, []).append(association)
    records: dict[str, dict[str, Any]] = {}
    unreadable: dict[str, str] = {}
    for salesforce_object, associations in by_object.items():
        rules = [
            rule
            for association in associations
            for rule in context.rules_for(
                association.jira_project_id, issue_types.get(association.id), salesforce_object
            )
        ]
        try:
            records.update(
                read_records(
                    context, salesforce_object, (a.salesforce_id for a in associations), rules
                )
            )
        except TransientExternalError:
            raise
        except ForceBridgeError as error:
            unreadable[salesforce_object] = error.message
    return records, unreadable


def _pull_blocker(
    association: AssociationRef, gone_issues: set[str], unreadable: dict[str, str]
) -> str | None:
    if association.view_only:
        return "The association became view-only: it is never synced."
    if association.jira_issue_id in gone_issues:
        return "The Jira issue is gone or not visible."
    return unreadable.get(association.salesforce_object)


def _chunk_record(
    records: dict[str, dict[str, Any]], association: AssociationRef, rules: object
) -> dict[str, Any]:
    del rules  # read for the whole chunk already
    record = records.get(association.salesforce_id)
    if record is None:
        raise record_not_found(association.salesforce_object, association.salesforce_id)
    return record


def _apply_fan_out(
    records: dict[str, dict[str, Any]],
    siblings: list[AssociationRef],
    fanned_out: dict[str, dict[str, Any]],
) -> None:
    """Keep the chunk's records current with what a pull's fan-out wrote to them, so a later pull
    of the same chunk plans on what Salesforce now holds (as a fresh read would) and does not
    pull the old value back into Jira."""
    by_id = {association.id: association for association in siblings}
    for association_id, values in fanned_out.items():
        target = by_id.get(association_id)
        if target is not None and target.salesforce_id in records:
            records[target.salesforce_id].update(values)


def _read_issues(
    context: SyncContext, associations: list[AssociationRef]
) -> dict[str, dict[str, Any]]:
    if not associations:
        return {}
    fields: list[str] = []
    for project_id, salesforce_object in {
        (a.jira_project_id, a.salesforce_object) for a in associations
    }:
        rules = [r for r in context.candidate_rules(project_id, salesforce_object)]
        fields.extend(
            jira_fields_to_read([r for r in rules if r.applies_to("push")], context.jira_fields())
        )
    fields.extend(ISSUE_BOOKKEEPING_FIELDS)
    fields.extend(extensions.issue_fields(context.connection))  # comments (and files)
    issue_ids = sorted({a.jira_issue_id for a in associations}, key=int)
    jql = format_jql("id in {} ORDER BY id", issue_ids)
    return {
        str(issue["id"]): issue
        for issue in context.jira.search(
            jql, fields=list(dict.fromkeys(fields)), page_size=SEARCH_PAGE_SIZE
        )
    }


def _push_chunk_extras(
    context: SyncContext, plans: list[PlannedWrite], issues: dict[str, dict[str, Any]]
) -> None:
    """Comments and files of each association's issue, with the single push's rules.

    Comments of the whole chunk are planned together and created in sObject Collections of 200
    (crash-safe through intents: see ``comments.write_comment_pushes``). Files have no batch
    upload: each association runs ``push_attachments`` in its own transaction (one upload per new
    file). The chunk shares one download per Jira attachment (an issue associated with N records
    costs 1 download and N uploads per file), one ContentVersion query when a killed run left
    upload intents, one query of its records' Files for the same-content check, and one query
    for the new ContentDocument ids.
    """
    connection = context.connection
    with_extras = [
        plan
        for plan in plans
        if extensions.issue_has_extras(issues[plan.association.jira_issue_id], connection)
    ]
    if not with_extras:
        return
    account_id = context.metadata.jira_account_id(
        context.connection_id, lambda: str(context.jira.myself().get("accountId", ""))
    )
    ids = [plan.association.id for plan in with_extras]
    try:
        with context.container.session() as session:
            rows = {
                row.id: row
                for row in session.scalars(select(Association).where(Association.id.in_(ids)))
            }
            comment_plans = [
                (
                    plan,
                    comments.plan_comment_push(
                        session,
                        connection=connection,
                        association=rows[plan.association.id],
                        issue=issues[plan.association.jira_issue_id],
                        jira_account_id=account_id,
                        jira=context.jira,
                    ),
                )
                for plan in with_extras
                if plan.association.id in rows
            ]
            comments.write_comment_pushes(
                session, context.salesforce, [comment_plan for _, comment_plan in comment_plans]
            )
        for plan, comment_plan in comment_plans:
            plan.result.extras["comments"] = extensions.extras_wire(comment_plan.result)
    except ForceBridgeError as error:
        for plan in with_extras:
            plan.result.extras["comments"] = {"error": error_to_wire(error)}
    if not connection.sync_attachments:
        return
    with_files = [
        plan
        for plan in with_extras
        if (issues[plan.association.jira_issue_id].get("fields") or {}).get("attachment")
    ]
    adopted: dict[str, list[str]] = {}
    try:
        with context.container.session() as session:
            rows_with_files = list(
                session.scalars(
                    select(Association).where(
                        Association.id.in_([plan.association.id for plan in with_files])
                    )
                )
            )
            adopted = attachments.adopt_salesforce_uploads(
                session, context.salesforce, rows_with_files
            )
    except ForceBridgeError as error:
        for plan in with_files:
            plan.result.extras["attachments"] = {"error": error_to_wire(error)}
        return
    # One query of the chunk's records' Files (same-content check), when a file needs it.
    record_files = attachments.RecordFiles(
        context.salesforce, [plan.association.salesforce_id for plan in with_files]
    )
    # Each attachment is downloaded once for the chunk, then uploaded to every record needing it.
    with attachments.SharedDownloads(
        context.jira, [issues[plan.association.jira_issue_id] for plan in with_files]
    ) as downloads:
        for plan in with_files:
            issue = issues[plan.association.jira_issue_id]
            try:
                with context.container.session() as session:
                    association = session.get(Association, plan.association.id)
                    if association is None:
                        continue
                    outcome = attachments.push_attachments(
                        session,
                        connection=connection,
                        association=association,
                        issue=issue,
                        jira=context.jira,
                        salesforce=context.salesforce,
                        record_files=record_files,
                        resolve_document_ids=False,
                        downloads=downloads,
                    )
            except ForceBridgeError as error:
                plan.result.extras["attachments"] = {"error": error_to_wire(error)}
                continue
            finally:
                downloads.finished(issue)  # this record no longer needs the issue's files
            outcome.created[:0] = adopted.get(plan.association.id, [])
            plan.result.extras["attachments"] = extensions.extras_wire(outcome)
    with context.container.session() as session:
        # One query for the new ContentDocument ids of every upload of the chunk.
        attachments.resolve_document_ids_of(
            session, context.salesforce, [plan.association.id for plan in with_files]
        )


def _failure(association_id: str, message: str) -> dict[str, Any]:
    return {"associationId": association_id, "error": message}


def _advance(
    container: Container,
    bulk_id: str,
    cursor: int,
    size: int,
    done: int,
    failures: list[dict[str, Any]],
) -> None:
    now = container.clock()
    with container.session() as session:
        bulk = session.get(BulkJob, bulk_id)
        if bulk is None or bulk.cursor != cursor:
            return  # another run already recorded this chunk
        bulk.cursor = cursor + size
        bulk.done += done
        bulk.failed += len(failures)
        bulk.errors = (list(bulk.errors) + failures)[:MAX_ERRORS_KEPT]
        bulk.updated_at = now
        if bulk.cursor >= len(bulk.items):
            bulk.state, bulk.finished_at = BULK_DONE, now


def _finish(container: Container, bulk_id: str) -> None:
    with container.session() as session:
        bulk = session.get(BulkJob, bulk_id)
        if bulk is not None and bulk.state == BULK_RUNNING:
            bulk.state, bulk.finished_at = BULK_DONE, container.clock()
