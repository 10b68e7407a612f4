"""Leases, per-key ordering and coalescing of the job table (service level, real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from forcebridge.container import Container
from forcebridge.jobs import service
from forcebridge.jobs.models import DONE, QUEUED, RUNNING, Job
from forcebridge.jobs.queue import job_queue
from forcebridge.jobs.runner import JobRunner
from jobs.builders import RECORD, Recorder, add_job, job_row

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def claim(container: Container, job_id: str, worker: str, at: datetime, lease: float = 30):
    with container.session() as session:
        return service.claim(session, job_id, worker_id=worker, lease_seconds=lease, now=at)


def test_a_job_exists_only_if_the_transaction_that_enqueued_it_commits(
    container: Container,
) -> None:
    with pytest.raises(RuntimeError), container.session() as session:
        service.enqueue(session, RECORD, {"association_id": "a1"}, connection_id=None)
        raise RuntimeError("the cause of the job failed")
    with container.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_claimed_job_is_not_claimed_by_another_worker_while_its_lease_runs(
    container: Container,
) -> None:
    job_id = add_job(container, now=NOW)
    assert claim(container, job_id, "worker-a", NOW) is not None
    assert claim(container, job_id, "worker-b", NOW + timedelta(seconds=29)) is None


def test_a_job_whose_worker_died_is_claimed_again_once_its_lease_expired(
    container: Container,
) -> None:
    job_id = add_job(container, now=NOW)
    assert claim(container, job_id, "worker-a", NOW) is not None
    # worker-a is killed: no heartbeat, no completion.
    taken_over = claim(container, job_id, "worker-b", NOW + timedelta(seconds=31))
    assert taken_over is not None
    assert taken_over.attempts == 2
    with container.session() as session:
        # The dead worker's late completion must not overwrite the new owner's lease.
        assert not service.complete(
            session, job_id, worker_id="worker-a", now=NOW + timedelta(seconds=32)
        )
        assert service.complete(
            session, job_id, worker_id="worker-b", now=NOW + timedelta(seconds=32)
        )
    assert job_row(container, job_id).state == DONE


def test_jobs_of_one_key_run_one_at_a_time_in_enqueue_order(container: Container) -> None:
    first = add_job(container, "test.pull", coalesce_key="association:1", now=NOW)
    second = add_job(container, RECORD, coalesce_key="association:1", now=NOW)
    other_key = add_job(container, RECORD, coalesce_key="association:2", now=NOW)

    assert claim(container, second, "worker-b", NOW) is None  # an earlier job of its key waits
    assert claim(container, other_key, "worker-b", NOW) is not None  # other keys are not blocked
    assert claim(container, first, "worker-a", NOW) is not None
    assert claim(container, second, "worker-b", NOW) is None  # its key is running
    with container.session() as session:
        service.complete(session, first, worker_id="worker-a", now=NOW)
    assert claim(container, second, "worker-b", NOW) is not None


def test_a_burst_for_the_same_key_coalesces_into_one_queued_job_with_the_newest_payload(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    ids = {
        add_job(container, RECORD, {"event_timestamp": stamp}, coalesce_key="association:1")
        for stamp in range(1, 6)
    }
    assert len(ids) == 1
    job = job_row(container, ids.pop())
    assert job.coalesced_count == 4
    assert runner.run_due() == 1
    assert [payload for _, _, payload in recorder.calls] == [{"event_timestamp": 5}]


def test_an_event_during_a_run_queues_one_follow_up_job_instead_of_joining_the_running_one(
    container: Container,
) -> None:
    running = add_job(container, RECORD, {"n": 1}, coalesce_key="association:1", now=NOW)
    claim(container, running, "worker-a", NOW)
    follow_ups = {
        add_job(container, RECORD, {"n": n}, coalesce_key="association:1", now=NOW) for n in (2, 3)
    }
    assert len(follow_ups) == 1 and running not in follow_ups
    assert job_row(container, running).payload == {"n": 1}
    assert job_row(container, follow_ups.pop()).payload == {"n": 3}


def test_released_leases_make_jobs_runnable_at_once_without_counting_an_attempt(
    container: Container,
) -> None:
    job_id = add_job(container, now=NOW)
    claim(container, job_id, "worker-a", NOW)
    with container.session() as session:
        assert service.release_all(session, worker_id="worker-a", now=NOW) == 1
    job = job_row(container, job_id)
    assert (job.state, job.attempts, job.lease_owner) == (QUEUED, 0, None)
    assert claim(container, job_id, "worker-b", NOW) is not None


def test_jobs_enqueued_where_no_queue_is_wired_are_swept_at_once(container: Container) -> None:
    job_id = add_job(container, now=NOW)
    with container.session() as session:
        assert service.due_job_ids(session, now=NOW, redispatch_after_seconds=30) == [job_id]


def test_the_sweeper_finds_due_jobs_whose_message_was_lost_and_expired_leases(
    container: Container,
) -> None:
    job_queue(container)  # messages are sent at commit: a recent job's message is not lost
    recent = add_job(container, now=NOW)
    lost = add_job(container, now=NOW - timedelta(minutes=5))
    abandoned = add_job(container, now=NOW - timedelta(minutes=5))
    claim(container, abandoned, "worker-a", NOW - timedelta(minutes=5))
    with container.session() as session:
        found = service.due_job_ids(session, now=NOW, redispatch_after_seconds=30)
    assert set(found) == {lost, abandoned}
    with container.session() as session:
        # Dispatched again just now: the next sweep leaves them alone.
        assert service.due_job_ids(session, now=NOW, redispatch_after_seconds=30) == []
        everything = service.due_job_ids(
            session, now=NOW, redispatch_after_seconds=30, everything=True
        )
    assert set(everything) == {recent, lost, abandoned}
    assert job_row(container, abandoned).state == RUNNING


def test_history_older_than_the_retention_is_pruned_but_dead_letters_are_kept(
    container: Container, runner: JobRunner
) -> None:
    from forcebridge.jobs.retention import prune_history
    from jobs.builders import CRASH

    month_ago = datetime.now(UTC) - timedelta(days=30)
    old_done = add_job(container, now=month_ago)
    dead = add_job(container, CRASH, max_attempts=1, now=month_ago)
    with container.session() as session:
        service.claim(session, old_done, worker_id="w", lease_seconds=30, now=month_ago)
        service.complete(session, old_done, worker_id="w", now=month_ago)
    runner.run_due()
    fresh_done = add_job(container)
    runner.run_due()
    with container.session() as session:
        pruned = prune_history(session, now=datetime.now(UTC), keep=timedelta(days=7))
    assert pruned == (1, 0)
    with container.session() as session:
        remaining = set(session.scalars(select(Job.id)))
    assert remaining == {dead, fresh_done}
