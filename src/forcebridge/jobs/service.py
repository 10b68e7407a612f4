"""The job service: enqueue in the caller's transaction, claim by lease, complete, retry, stop,
replay, and find work the queue lost.

Every state change is a compare-and-set ``UPDATE`` (it names the state it expects and, for a
running job, the worker holding the lease), so two workers, a sweeper and an admin's replay can
race without either double-running a job or losing one; the same SQL works on SQLite and
PostgreSQL. Ordering: jobs sharing a ``coalesce_key`` (e.g. one association) run one at a time,
in ``sequence`` order; a job is claimable only when no earlier job of its key is still queued or
running. A burst for the same key coalesces: enqueueing while a job of the same kind and key is
still queued (not yet started) updates that job's payload instead of adding another.

After the caller's transaction commits, the new job ids are handed to the queue (see
:func:`set_dispatcher`); if that hand-off is lost, :func:`due_job_ids` finds them again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Engine, Table, and_, event, exists, func, literal, or_, select, update
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.orm import Session

from forcebridge.errors import Conflict, NotFound, ValidationFailed
from forcebridge.jobs.models import (
    ACTIVE_STATES,
    DONE,
    JOB_STATES,
    QUEUED,
    RUNNING,
    STOPPED_STATES,
    Job,
)
from forcebridge.models import new_id

log = structlog.get_logger("forcebridge.jobs")

MAX_ERROR_LENGTH = 4000
_PENDING_DISPATCH = "forcebridge.jobs.pending_dispatch"
_jobs = cast(Table, Job.__table__)

# (job id, eta or None) pairs handed to the queue after commit.
Dispatcher = Callable[[Sequence[tuple[str, datetime | None]]], None]
_dispatchers: dict[int, Dispatcher] = {}
_dispatchers_lock = threading.Lock()


def set_dispatcher(engine: Engine, dispatcher: Dispatcher | None) -> None:
    """Route jobs committed through ``engine`` to ``dispatcher`` (the queue); None to stop."""
    with _dispatchers_lock:
        if dispatcher is None:
            _dispatchers.pop(id(engine), None)
        else:
            _dispatchers[id(engine)] = dispatcher


@dataclass(frozen=True)
class EnqueuedJob:
    id: str
    coalesced: bool


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    kind: str
    payload: dict[str, Any]
    connection_id: str | None
    attempts: int
    max_attempts: int
    coalesce_key: str | None


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    connection_id: str | None,
    coalesce_key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int = 8,
    coalesce: bool = True,
    now: datetime | None = None,
) -> EnqueuedJob:
    """Add a job in ``session``'s transaction (it exists only if that transaction commits).

    ``payload`` holds ids only (never secrets: it is shown to admins and kept in dead letters).
    With a ``coalesce_key``, a job of the same kind and key that has not started yet absorbs this
    one (its payload becomes ``payload``), so a burst of events costs one run; with
    ``coalesce=False`` the key only orders jobs (each runs, one at a time).
    """
    if not kind or len(kind) > 64:
        raise ValidationFailed("A job kind is 1 to 64 characters")
    now = now or _now()
    due = run_after or now
    if coalesce_key is not None and coalesce:
        waiting_id = session.scalar(
            select(Job.id)
            .where(Job.kind == kind, Job.coalesce_key == coalesce_key, Job.state == QUEUED)
            .order_by(Job.sequence.desc())
            .limit(1)
        )
        if waiting_id is not None:
            merged = session.execute(
                update(_jobs)
                .where(_jobs.c.id == waiting_id, _jobs.c.state == QUEUED)
                .values(
                    payload=payload,
                    coalesced_count=_jobs.c.coalesced_count + 1,
                    run_after=func.min(_jobs.c.run_after, due)
                    if session.get_bind().dialect.name == "sqlite"
                    else func.least(_jobs.c.run_after, due),
                    updated_at=now,
                )
            )
            if merged.rowcount == 1:  # type: ignore[attr-defined]
                return EnqueuedJob(id=waiting_id, coalesced=True)
    job = Job(
        id=new_id(),
        kind=kind,
        connection_id=connection_id,
        payload=payload,
        state=QUEUED,
        coalesce_key=coalesce_key,
        coalesced_count=0,
        run_after=due,
        attempts=0,
        max_attempts=max_attempts,
        # Without a queue wired to this engine (a process that never built one), nothing will
        # be dispatched at commit: leave it undispatched so the next sweep sends it at once.
        dispatched_at=due if _dispatcher_for(session) is not None else None,
        replay_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    _dispatch_after_commit(session, job.id, due if due > now else None)
    return EnqueuedJob(id=job.id, coalesced=False)


def _dispatch_after_commit(session: Session, job_id: str, eta: datetime | None) -> None:
    pending: list[tuple[str, datetime | None]] | None = session.info.get(_PENDING_DISPATCH)
    if pending is None:
        pending = []
        session.info[_PENDING_DISPATCH] = pending
        event.listen(session, "after_commit", _hand_to_queue, once=True)
        event.listen(session, "after_rollback", _forget_pending, once=True)
    pending.append((job_id, eta))


def _dispatcher_for(session: Session) -> Dispatcher | None:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, DbConnection) else bind
    return _dispatchers.get(id(engine))


def _hand_to_queue(session: Session) -> None:
    pending = session.info.pop(_PENDING_DISPATCH, None) or []
    dispatcher = _dispatcher_for(session)
    if dispatcher is None or not pending:
        return  # the sweeper dispatches them
    try:
        dispatcher(pending)
    except Exception:  # the rows are committed: the sweeper re-dispatches them
        log.warning("jobs.dispatch_failed", jobs=len(pending), exc_info=True)


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_DISPATCH, None)


def dispatch(session: Session, jobs: Iterable[tuple[str, datetime | None]]) -> None:
    """Hand existing job ids to the queue once ``session`` commits (sweeper, replay)."""
    for job_id, eta in jobs:
        _dispatch_after_commit(session, job_id, eta)


# -- leases -----------------------------------------------------------------------------------


def claim(
    session: Session, job_id: str, *, worker_id: str, lease_seconds: float, now: datetime
) -> ClaimedJob | None:
    """Take the lease of a due job, or None (not due, taken, finished, or its key is busy).

    A running job whose lease expired (its worker died) is claimable again.
    """
    # A read first: duplicate queue messages are common (sweeps, retries) and an UPDATE that
    # matches nothing still takes SQLite's write lock.
    looks_claimable = session.execute(
        select(_jobs.c.state, _jobs.c.run_after, _jobs.c.lease_expires_at).where(
            _jobs.c.id == job_id
        )
    ).first()
    if looks_claimable is None or not (
        (looks_claimable.state == QUEUED and looks_claimable.run_after <= now)
        or (
            looks_claimable.state == RUNNING
            and looks_claimable.lease_expires_at is not None
            and looks_claimable.lease_expires_at <= now
        )
    ):
        return None
    other = _jobs.alias("earlier_or_running")
    key_is_busy = exists(
        select(literal(1))
        .select_from(other)
        .where(
            other.c.coalesce_key == _jobs.c.coalesce_key,
            other.c.sequence != _jobs.c.sequence,
            or_(
                and_(other.c.state == RUNNING, other.c.lease_expires_at > now),
                and_(other.c.state.in_(ACTIVE_STATES), other.c.sequence < _jobs.c.sequence),
            ),
        )
    )
    claimed = session.execute(
        update(_jobs)
        .where(
            _jobs.c.id == job_id,
            or_(
                and_(_jobs.c.state == QUEUED, _jobs.c.run_after <= now),
                and_(_jobs.c.state == RUNNING, _jobs.c.lease_expires_at <= now),
            ),
            or_(_jobs.c.coalesce_key.is_(None), ~key_is_busy),
        )
        .values(
            state=RUNNING,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=_jobs.c.attempts + 1,
            updated_at=now,
        )
        # SQLite >= 3.35 and PostgreSQL both return the claimed row with the update.
        .returning(
            _jobs.c.id,
            _jobs.c.kind,
            _jobs.c.payload,
            _jobs.c.connection_id,
            _jobs.c.attempts,
            _jobs.c.max_attempts,
            _jobs.c.coalesce_key,
        )
    ).first()
    if claimed is None:
        return None
    return ClaimedJob(
        id=claimed.id,
        kind=claimed.kind,
        payload=dict(claimed.payload or {}),
        connection_id=claimed.connection_id,
        attempts=claimed.attempts,
        max_attempts=claimed.max_attempts,
        coalesce_key=claimed.coalesce_key,
    )


def extend_lease(
    session: Session, job_id: str, *, worker_id: str, lease_seconds: float, now: datetime
) -> bool:
    """Heartbeat: push the lease forward while the worker still holds it."""
    result = session.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.state == RUNNING, _jobs.c.lease_owner == worker_id)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def complete(session: Session, job_id: str, *, worker_id: str, now: datetime) -> bool:
    """Mark done; False when the lease was lost meanwhile (another worker took the job)."""
    return _finish(session, job_id, worker_id, now, state=DONE, finished=True)


def retry_later(
    session: Session,
    job_id: str,
    *,
    worker_id: str,
    now: datetime,
    run_after: datetime,
    error: str,
    error_kind: str,
    spend_attempt: bool = True,
) -> bool:
    """Back to the queue until ``run_after``, keeping the error for the admin views.

    ``spend_attempt=False`` gives back the attempt the claim counted (a vendor's throttle: the
    job waited, it did not fail).
    """
    refund: dict[str, Any] = {} if spend_attempt else {"attempts": _jobs.c.attempts - 1}
    return _finish(
        session,
        job_id,
        worker_id,
        now,
        state=QUEUED,
        run_after=run_after,
        dispatched_at=run_after,
        last_error=_clip(error),
        last_error_kind=error_kind,
        **refund,
    )


def stop(
    session: Session,
    job_id: str,
    *,
    worker_id: str,
    now: datetime,
    state: str,
    error: str,
    error_kind: str,
    hint: str | None = None,
) -> bool:
    """Dead letter (``dead``) or ``needs_admin``: kept with the last error until replayed."""
    if state not in STOPPED_STATES:
        raise ValueError(f"stop() takes {STOPPED_STATES}, not {state!r}")
    return _finish(
        session,
        job_id,
        worker_id,
        now,
        state=state,
        finished=True,
        last_error=_clip(error),
        last_error_kind=error_kind,
        hint=hint,
    )


def release(session: Session, job_id: str, *, worker_id: str, now: datetime) -> bool:
    """Give the lease back without counting the attempt (graceful shutdown): runnable at once."""
    return _finish(
        session,
        job_id,
        worker_id,
        now,
        state=QUEUED,
        run_after=now,
        dispatched_at=None,
        attempts=_jobs.c.attempts - 1,
    )


def release_all(session: Session, *, worker_id: str, now: datetime) -> int:
    """Release every lease ``worker_id`` still holds (its process is stopping)."""
    result = session.execute(
        update(_jobs)
        .where(_jobs.c.state == RUNNING, _jobs.c.lease_owner == worker_id)
        .values(
            state=QUEUED,
            run_after=now,
            dispatched_at=None,
            lease_owner=None,
            lease_expires_at=None,
            attempts=_jobs.c.attempts - 1,
            updated_at=now,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _finish(
    session: Session,
    job_id: str,
    worker_id: str,
    now: datetime,
    *,
    state: str,
    finished: bool = False,
    **values: Any,
) -> bool:
    changes: dict[str, Any] = {
        "state": state,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
        **values,
    }
    if finished:
        changes["finished_at"] = now
    result = session.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.state == RUNNING, _jobs.c.lease_owner == worker_id)
        .values(**changes)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# -- replay and the admin views ---------------------------------------------------------------


def replay(session: Session, job_id: str, *, now: datetime | None = None) -> Job:
    """Queue a dead or needs-admin job again, with a fresh attempt budget (runs once more)."""
    now = now or _now()
    job = get_job(session, job_id)
    result = session.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.state.in_(STOPPED_STATES))
        .values(
            state=QUEUED,
            attempts=0,
            run_after=now,
            dispatched_at=now,
            finished_at=None,
            replay_count=_jobs.c.replay_count + 1,
            updated_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"Job {job_id} is {job.state}: only dead or needs_admin jobs can be replayed.",
            hint="A queued or running job will run on its own; a done job needs no replay.",
        )
    session.refresh(job)
    dispatch(session, [(job_id, None)])
    return job


def get_job(session: Session, job_id: str) -> Job:
    job = session.scalar(select(Job).where(Job.id == job_id))
    if job is None:
        raise NotFound(f"No job with id {job_id}.")
    return job


def list_jobs(
    session: Session,
    *,
    states: Sequence[str] = (),
    kind: str | None = None,
    connection_id: str | None = None,
    limit: int = 100,
    before_sequence: int | None = None,
) -> list[Job]:
    """Newest first; ``before_sequence`` pages further back."""
    unknown = [state for state in states if state not in JOB_STATES]
    if unknown:
        raise ValidationFailed(
            f"Unknown job state(s) {', '.join(unknown)}; use {', '.join(JOB_STATES)}."
        )
    query = select(Job).order_by(Job.sequence.desc()).limit(max(1, min(limit, 1000)))
    if states:
        query = query.where(Job.state.in_(states))
    if kind:
        query = query.where(Job.kind == kind)
    if connection_id:
        query = query.where(Job.connection_id == connection_id)
    if before_sequence is not None:
        query = query.where(Job.sequence < before_sequence)
    return list(session.scalars(query))


def count_by_state(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(JOB_STATES, 0)
    for state, count in session.execute(select(Job.state, func.count()).group_by(Job.state)):
        counts[state] = int(count)
    return counts


def job_view(job: Job) -> dict[str, Any]:
    """The JSON shape of a job in the admin API and ``forcebridge jobs``."""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "connectionId": job.connection_id,
        "payload": job.payload,
        "coalesceKey": job.coalesce_key,
        "coalescedCount": job.coalesced_count,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "runAfter": _iso(job.run_after),
        "leaseOwner": job.lease_owner,
        "leaseExpiresAt": _iso(job.lease_expires_at),
        "lastError": job.last_error,
        "lastErrorKind": job.last_error_kind,
        "hint": job.hint,
        "replayCount": job.replay_count,
        "createdAt": _iso(job.created_at),
        "updatedAt": _iso(job.updated_at),
        "finishedAt": _iso(job.finished_at),
    }


# -- finding work the queue lost --------------------------------------------------------------


def due_job_ids(
    session: Session,
    *,
    now: datetime,
    redispatch_after_seconds: float,
    everything: bool = False,
    kinds: Sequence[str] = (),
    limit: int = 500,
) -> list[str]:
    """Due jobs whose queue message may be lost, and running jobs whose lease expired.

    Marks them dispatched now, so the next sweep leaves them alone for a while. ``everything``
    (worker start) ignores when they were last dispatched: the previous worker may have taken
    their messages with it.
    """
    stale_before = now - timedelta(seconds=redispatch_after_seconds)
    queued_due = and_(_jobs.c.state == QUEUED, _jobs.c.run_after <= now)
    expired = and_(_jobs.c.state == RUNNING, _jobs.c.lease_expires_at <= now)
    condition = or_(queued_due, expired)
    if not everything:
        condition = and_(
            condition,
            or_(_jobs.c.dispatched_at.is_(None), _jobs.c.dispatched_at <= stale_before),
        )
    if kinds:
        condition = and_(condition, _jobs.c.kind.in_(kinds))
    ids = list(
        session.scalars(select(_jobs.c.id).where(condition).order_by(_jobs.c.sequence).limit(limit))
    )
    if ids:
        session.execute(update(_jobs).where(_jobs.c.id.in_(ids)).values(dispatched_at=now))
    return ids


def next_job_of_key(session: Session, coalesce_key: str) -> tuple[str, datetime] | None:
    """The earliest queued job sharing ``coalesce_key`` (to start it when its predecessor ends)."""
    row = session.execute(
        select(Job.id, Job.run_after)
        .where(Job.coalesce_key == coalesce_key, Job.state == QUEUED)
        .order_by(Job.sequence)
        .limit(1)
    ).first()
    return (row.id, row.run_after) if row else None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _now() -> datetime:
    from forcebridge.db import utcnow

    return utcnow()
