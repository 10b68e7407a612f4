"""The queue between the job table and the workers: huey, carrying job ids only.

``SqliteHuey`` in ``<data_dir>/queue.db`` by default (kept apart from the application database so
queue writes never wait on its lock); ``RedisHuey`` when ``FORCEBRIDGE_REDIS_URL`` is set. Losing
a message is harmless: the job row is the truth and the sweeper dispatches due jobs again; a
duplicate message is harmless too: claiming is a compare-and-set.

huey gotcha (stack-and-style.md §7): its consumer installs signal handlers, so it runs only in
the main thread of its own process (``forcebridge worker``), never inside the web server.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from huey import Huey, RedisHuey, SqliteHuey

from forcebridge.container import Container
from forcebridge.jobs.metrics import automation_metrics
from forcebridge.jobs.service import set_dispatcher
from forcebridge.jobs.settings import JobSettings
from forcebridge.settings import Settings

log = structlog.get_logger("forcebridge.jobs.queue")

RUN_JOB_TASK = "forcebridge.run_job"


def build_huey(settings: Settings, *, queue_name: str = "forcebridge") -> Huey:
    """RedisHuey when ``settings.redis_url`` is set, else SqliteHuey beside the data."""
    if settings.redis_url:
        return RedisHuey(queue_name, url=settings.redis_url, results=False, utc=True)
    settings.huey_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(queue_name, filename=str(settings.huey_sqlite_path), results=False, utc=True)


class JobQueue:
    """Sends job ids to huey; in a worker, huey calls back :meth:`set_runner`'s function."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._runner: Callable[[str], object] | None = None
        self._run_job_task = huey.task(name=RUN_JOB_TASK, retries=0)(self._run_job)

    def set_runner(self, runner: Callable[[str], object] | None) -> None:
        self._runner = runner

    def _run_job(self, job_id: str) -> None:
        if self._runner is None:  # pragma: no cover - only a worker consumes the queue
            log.warning("jobs.no_runner", job_id=job_id)
            return
        self._runner(job_id)

    def dispatch(self, jobs: Sequence[tuple[str, datetime | None]]) -> None:
        """Queue each job id now, or at its ``eta`` (huey's scheduler holds it until then)."""
        for job_id, eta in jobs:
            if eta is None:
                self._run_job_task(job_id)
            else:
                self._run_job_task.schedule(args=(job_id,), eta=_huey_eta(eta))

    def pending_count(self) -> int:
        return int(self.huey.pending_count())

    def flush(self) -> None:
        """Drop every queued message (tests; the job rows keep the work)."""
        self.huey.flush()


def _huey_eta(eta: datetime) -> datetime:
    """Naive UTC (huey with ``utc=True``), rounded **up** to the second: huey keeps whole
    seconds, and a message arriving before the job's ``run_after`` would find it not yet due."""
    naive = eta.astimezone(UTC).replace(tzinfo=None)
    if naive.microsecond:
        naive = naive.replace(microsecond=0) + timedelta(seconds=1)
    return naive


_queues: dict[int, JobQueue] = {}
_queues_lock = threading.Lock()


def job_queue(container: Container, settings: JobSettings | None = None) -> JobQueue:
    """The queue of ``container`` (built once), wired so committed jobs are dispatched to it."""
    with _queues_lock:
        queue = _queues.get(id(container))
        if queue is None:
            job_settings = settings or JobSettings()
            queue = JobQueue(build_huey(container.settings, queue_name=job_settings.queue_name))
            install_job_queue(container, queue)
        return queue


def install_job_queue(container: Container, queue: JobQueue) -> None:
    """Use ``queue`` for ``container`` (``job_queue`` does this; tests may pass their own)."""
    _queues[id(container)] = queue
    set_dispatcher(container.engine, queue.dispatch)
    automation_metrics(container.metrics).watch_queue_depth(container.engine)
    container_id, engine = id(container), container.engine
    weakref.finalize(container, _forget, container_id, engine)


def _forget(container_id: int, engine: object) -> None:
    queue = _queues.pop(container_id, None)
    if queue is not None:
        set_dispatcher(engine, None)  # type: ignore[arg-type]
