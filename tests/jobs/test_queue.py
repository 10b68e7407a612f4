"""The queue carries job ids from commit to worker, on every backend (SqliteHuey, RedisHuey)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from forcebridge.container import Container
from forcebridge.jobs.models import DONE
from forcebridge.jobs.queue import JobQueue, build_huey, install_job_queue
from forcebridge.jobs.runner import JobRunner
from forcebridge.settings import Settings
from jobs.backends import BACKENDS, settings_for_backend, unique_queue_name
from jobs.builders import TRANSIENT, Recorder, add_job, job_row


@pytest.fixture(params=BACKENDS)
def queue(
    request: pytest.FixtureRequest, settings: Settings, container: Container
) -> Iterator[JobQueue]:
    backend_settings = settings_for_backend(settings, request.param)
    job_queue = JobQueue(build_huey(backend_settings, queue_name=unique_queue_name()))
    install_job_queue(container, job_queue)
    yield job_queue
    job_queue.flush()


def test_a_committed_job_reaches_the_worker_through_the_queue(
    container: Container, queue: JobQueue, runner: JobRunner, recorder: Recorder
) -> None:
    job_id = add_job(container, payload={"association_id": "a1"})
    assert queue.pending_count() == 1
    queue.set_runner(runner.run)
    message = queue.huey.dequeue()
    assert message is not None
    queue.huey.execute(message)
    assert job_row(container, job_id).state == DONE
    assert recorder.calls == [("test.record", job_id, {"association_id": "a1"})]


def test_a_rolled_back_job_never_reaches_the_queue(container: Container, queue: JobQueue) -> None:
    from forcebridge.jobs import service

    with pytest.raises(RuntimeError), container.session() as session:
        service.enqueue(session, "test.record", {}, connection_id=None)
        raise RuntimeError("rolled back")
    assert queue.pending_count() == 0


def test_a_retry_is_scheduled_in_the_queue_for_its_run_after(
    container: Container, queue: JobQueue, runner: JobRunner, recorder: Recorder
) -> None:
    recorder.retry_after = 600
    job_id = add_job(container, TRANSIENT)
    queue.huey.flush()
    runner.run(job_id)
    run_after = job_row(container, job_id).run_after
    assert run_after >= datetime.now(UTC) + timedelta(seconds=599)
    # huey carries the eta with the message; its consumer holds it in the schedule until then.
    message = queue.huey.dequeue()
    assert message is not None and message.args == (job_id,)
    assert message.eta >= run_after.replace(tzinfo=None)
    assert message.eta - run_after.replace(tzinfo=None) < timedelta(seconds=1)


def test_a_lost_message_is_dispatched_again_by_the_sweeper(
    container: Container, queue: JobQueue, runner: JobRunner
) -> None:
    add_job(container, now=datetime.now(UTC) - timedelta(minutes=5))
    queue.flush()  # the message is lost (queue wiped, Redis restarted without persistence...)
    runner.queue = queue
    assert runner.sweep() == 1
    assert queue.pending_count() == 1


def test_the_suite_runs_on_the_queue_backend_it_was_asked_for(
    container: Container, job_queue_backend: str
) -> None:
    """``make test`` runs the PostgreSQL pass with ``FORCEBRIDGE_TEST_QUEUE=redis``: every
    container of that pass must dispatch through RedisHuey, not silently through SQLite."""
    from huey import RedisHuey, SqliteHuey

    from forcebridge.jobs.queue import job_queue

    expected = RedisHuey if job_queue_backend == "redis" else SqliteHuey
    assert isinstance(job_queue(container).huey, expected)
