"""Running one job: claim its lease, call its handler, record the outcome.

Outcomes (reliability-security.md §5a/§5b):
- the handler returns → ``done``;
- ``VendorThrottled`` (a vendor's 429, or a request held back unsent while the vendor throttles
  it) → ``throttled``: queued again for the end of the throttle (``retry_after``, never sooner,
  plus a little jitter so held jobs do not all return at once) **without spending an attempt**,
  so an hour-long quota pause never makes a dead letter;
- any other ``TransientExternalError`` → queued again after exponential backoff with full jitter,
  never sooner than its ``retry_after``; after ``max_attempts`` attempts → ``dead`` with the last
  error;
- ``NeedsAdminAction`` → ``needs_admin`` with its hint, not retried (an admin replays it);
- any other ``ForceBridgeError`` → retried a few times (``job_bug_max_attempts``), then ``dead``;
- any other exception is a bug: logged with its traceback, retried a few times, then ``dead``.

While a handler runs, a heartbeat pushes the lease forward, so only a dead worker's jobs expire.
When a job of a coalesce key ends, the next queued job of that key is dispatched at once.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.errors import (
    ForceBridgeError,
    NeedsAdminAction,
    TransientExternalError,
    VendorThrottled,
)
from forcebridge.jobs import service
from forcebridge.jobs.backoff import retry_delay
from forcebridge.jobs.handlers import HandlerRegistry, JobContext, PeriodicHook, handlers
from forcebridge.jobs.metrics import automation_metrics
from forcebridge.jobs.models import DEAD, NEEDS_ADMIN
from forcebridge.jobs.queue import JobQueue
from forcebridge.jobs.settings import JobSettings

log = structlog.get_logger("forcebridge.jobs.runner")

# A throttled job waits at least this long, even for "Retry-After: 0" (no fast 429 loops) ...
MIN_THROTTLE_WAIT_SECONDS = 1.0
# ... plus up to this share of its wait (at most THROTTLE_JITTER_CAP_SECONDS), so the jobs held by
# one throttle do not all hit the vendor again in the same second it ends.
THROTTLE_JITTER_SHARE = 0.1
THROTTLE_JITTER_CAP_SECONDS = 30.0


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    """Runs jobs of one process; thread-safe (huey's worker threads share it)."""

    def __init__(
        self,
        container: Container,
        *,
        registry: HandlerRegistry = handlers,
        settings: JobSettings | None = None,
        queue: JobQueue | None = None,
        worker_id: str | None = None,
        periodic_hooks: list[PeriodicHook] | None = None,
    ) -> None:
        self.container = container
        self.registry = registry
        self.settings = settings or JobSettings()
        self.queue = queue
        self.worker_id = worker_id or new_worker_id()
        self.periodic_hooks = (
            registry.periodic_hooks() if periodic_hooks is None else list(periodic_hooks)
        )
        self.stopping = threading.Event()
        # Set when the runner is discarded: stops the lease heartbeat thread.
        self.closed = threading.Event()
        self._heartbeat = _Heartbeat(self)
        self._metrics = automation_metrics(container.metrics)

    def close(self) -> None:
        self.closed.set()

    def now(self) -> datetime:
        return self.container.clock()

    # -- one job ---------------------------------------------------------------------------

    def run(self, job_id: str) -> str:
        """Run ``job_id`` if it can be claimed; returns the outcome (``skipped`` if not)."""
        if self.stopping.is_set():
            return "skipped"  # left queued: the next worker's start-up sweep dispatches it
        with self.container.session() as session:
            job = service.claim(
                session,
                job_id,
                worker_id=self.worker_id,
                lease_seconds=self.settings.job_lease_seconds,
                now=self.now(),
            )
        if job is None:
            return "skipped"
        outcome = self._execute(job)
        self._metrics.job_outcomes.labels(kind=job.kind, outcome=outcome).inc()
        if job.coalesce_key is not None and outcome != "done":
            with self.container.session() as session:
                self._start_next_of_key(session, job.coalesce_key)
        return outcome

    def _execute(self, job: service.ClaimedJob) -> str:
        if job.attempts > job.max_attempts:
            # Only reachable through expired leases: its workers keep dying while running it.
            return self._stop(
                job,
                DEAD,
                f"The job's worker stopped {job.attempts - 1} times while running it.",
                "lost",
            )
        handler = self.registry.get(job.kind)
        if handler is None:
            return self._stop(
                job,
                NEEDS_ADMIN,
                f"No handler is registered for jobs of kind {job.kind!r} in this worker.",
                "config",
                hint="Start the worker with the package that handles this kind "
                "(forcebridge worker --handlers module:function), then replay the job.",
            )
        context = JobContext(
            container=self.container,
            job_id=job.id,
            kind=job.kind,
            payload=job.payload,
            connection_id=job.connection_id,
            attempt=job.attempts,
            worker_id=self.worker_id,
            settings=self.settings,
        )
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        with self._heartbeat.holding(job.id):
            try:
                handler(context)
            except VendorThrottled as error:
                bound.info("jobs.throttled", error=error.message, retry_after=error.retry_after)
                return self._wait_for_throttle(job, error)
            except TransientExternalError as error:
                bound.info(
                    "jobs.transient_failure", error=error.message, retry_after=error.retry_after
                )
                return self._retry_or_dead(
                    job, error.message, "transient", job.max_attempts, error.retry_after
                )
            except NeedsAdminAction as error:
                bound.warning("jobs.needs_admin", error=error.message)
                return self._stop(job, NEEDS_ADMIN, error.message, "admin", hint=error.hint)
            except ForceBridgeError as error:
                bound.warning("jobs.failed", error=error.message)
                limit = min(job.max_attempts, self.settings.job_bug_max_attempts)
                return self._retry_or_dead(job, error.message, "error", limit, None)
            except Exception as error:
                bound.error("jobs.bug", exc_info=error)
                summary = "".join(traceback.format_exception_only(type(error), error)).strip()
                limit = min(job.max_attempts, self.settings.job_bug_max_attempts)
                return self._retry_or_dead(job, summary, "bug", limit, None)
        with self.container.session() as session:
            finished = service.complete(session, job.id, worker_id=self.worker_id, now=self.now())
            if finished and job.coalesce_key is not None:
                self._start_next_of_key(session, job.coalesce_key)
        if not finished:
            bound.warning("jobs.lease_lost_before_completion")
            return "lease_lost"
        return "done"

    def _retry_or_dead(
        self,
        job: service.ClaimedJob,
        error: str,
        error_kind: str,
        attempt_limit: int,
        retry_after: float | None,
    ) -> str:
        if job.attempts >= attempt_limit:
            return self._stop(job, DEAD, error, error_kind)
        delay = retry_delay(
            job.attempts,
            retry_after=retry_after,
            base_seconds=self.settings.job_backoff_base_seconds,
            cap_seconds=self.settings.job_backoff_cap_seconds,
        )
        moved = self._queue_again(job, delay, error, error_kind, spend_attempt=True)
        return "retry" if moved else "lease_lost"

    def _wait_for_throttle(self, job: service.ClaimedJob, error: VendorThrottled) -> str:
        wait = max(error.retry_after or 0.0, MIN_THROTTLE_WAIT_SECONDS)
        jitter = random.random() * min(wait * THROTTLE_JITTER_SHARE, THROTTLE_JITTER_CAP_SECONDS)
        moved = self._queue_again(
            job, wait + jitter, error.message, "throttled", spend_attempt=False
        )
        return "throttled" if moved else "lease_lost"

    def _queue_again(
        self,
        job: service.ClaimedJob,
        delay_seconds: float,
        error: str,
        error_kind: str,
        *,
        spend_attempt: bool,
    ) -> bool:
        """Release the job for ``delay_seconds`` from now; False if its lease was lost."""
        now = self.now()
        run_after = now + timedelta(seconds=delay_seconds)
        with self.container.session() as session:
            moved = service.retry_later(
                session,
                job.id,
                worker_id=self.worker_id,
                now=now,
                run_after=run_after,
                error=error,
                error_kind=error_kind,
                spend_attempt=spend_attempt,
            )
            if moved:
                service.dispatch(session, [(job.id, run_after)])
        return moved

    def _stop(
        self,
        job: service.ClaimedJob,
        state: str,
        error: str,
        error_kind: str,
        *,
        hint: str | None = None,
    ) -> str:
        with self.container.session() as session:
            stopped = service.stop(
                session,
                job.id,
                worker_id=self.worker_id,
                now=self.now(),
                state=state,
                error=error,
                error_kind=error_kind,
                hint=hint,
            )
        if stopped:
            log.warning("jobs.stopped", job_id=job.id, kind=job.kind, state=state, error=error)
        return state if stopped else "lease_lost"

    def _start_next_of_key(self, session: Session, coalesce_key: str) -> None:
        following = service.next_job_of_key(session, coalesce_key)
        if following is not None:
            job_id, run_after = following
            service.dispatch(session, [(job_id, run_after if run_after > self.now() else None)])

    # -- many jobs -------------------------------------------------------------------------

    def run_due(self, *, max_jobs: int = 10_000, kinds: Sequence[str] = ()) -> int:
        """Run due jobs (of ``kinds``, or all) in order, in this thread, until none is claimable.

        For tests and one-off maintenance; workers get their jobs from the queue instead.
        """
        ran = 0
        while ran < max_jobs and not self.stopping.is_set():
            with self.container.session() as session:
                candidates = service.due_job_ids(
                    session,
                    now=self.now(),
                    redispatch_after_seconds=0,
                    everything=True,
                    kinds=kinds,
                    limit=200,
                )
            progressed = False
            for job_id in candidates:
                if self.run(job_id) != "skipped":
                    ran += 1
                    progressed = True
            if not progressed:
                return ran
        return ran

    def sweep(self, *, everything: bool = False) -> int:
        """Re-dispatch lost or due jobs and run the periodic hooks; returns jobs dispatched."""
        now = self.now()
        for hook in self.periodic_hooks:
            try:
                hook(self.container, self.settings, now)
            except Exception:
                log.error(
                    "jobs.periodic_hook_failed", hook=getattr(hook, "__name__", hook), exc_info=True
                )
        with self.container.session() as session:
            job_ids = service.due_job_ids(
                session,
                now=now,
                redispatch_after_seconds=self.settings.job_redispatch_after_seconds,
                everything=everything,
            )
            service.dispatch(session, [(job_id, None) for job_id in job_ids])
        return len(job_ids)

    def release_all(self) -> int:
        """Give back every lease this worker holds (shutdown): another worker starts them now."""
        with self.container.session() as session:
            released = service.release_all(session, worker_id=self.worker_id, now=self.now())
        if released:
            log.info("jobs.released", count=released, worker_id=self.worker_id)
        return released


class _Heartbeat:
    """One thread per runner extending the leases of every job it is running, every third of the
    lease length (a thread per job would cost more than most jobs)."""

    def __init__(self, runner: JobRunner) -> None:
        self._runner = runner
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, job_id: str) -> Iterator[None]:
        with self._lock:
            self._running.add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="job-leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(job_id)

    def _beat(self) -> None:
        interval = self._runner.settings.job_lease_seconds / 3
        while not self._runner.closed.wait(interval):
            with self._lock:
                job_ids = sorted(self._running)
            if not job_ids:
                continue
            try:
                with self._runner.container.session() as session:
                    for job_id in job_ids:
                        held = service.extend_lease(
                            session,
                            job_id,
                            worker_id=self._runner.worker_id,
                            lease_seconds=self._runner.settings.job_lease_seconds,
                            now=self._runner.now(),
                        )
                        if not held:
                            log.warning("jobs.lease_lost", job_id=job_id)
            except Exception:
                log.warning("jobs.heartbeat_failed", jobs=len(job_ids), exc_info=True)
