"""Retries, dead letters, needs-admin and replay, with a frozen clock (time-machine)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from forcebridge.container import Container
from forcebridge.errors import Conflict
from forcebridge.jobs import service
from forcebridge.jobs.backoff import retry_delay
from forcebridge.jobs.models import DEAD, DONE, NEEDS_ADMIN, QUEUED
from forcebridge.jobs.runner import JobRunner
from jobs.builders import CRASH, NEEDS_ADMIN_KIND, TRANSIENT, Recorder, add_job, job_row

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    ceilings = [retry_delay(attempt, random_fraction=lambda: 1.0) for attempt in range(1, 12)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert retry_delay(3, random_fraction=lambda: 0.0) == 0.0
    first_retries = [retry_delay(1, base_seconds=10) for _ in range(2000)]
    assert all(0 <= delay <= 10 for delay in first_retries)
    spread = statistics.pstdev(first_retries) / statistics.mean(first_retries)
    assert spread >= 0.3  # jitter present: retries of jobs that failed together spread out


def test_retry_after_is_a_floor_never_a_ceiling() -> None:
    assert retry_delay(1, retry_after=7, random_fraction=lambda: 0.0) == 7
    assert retry_delay(9, retry_after=7, random_fraction=lambda: 1.0) == 256
    assert retry_delay(10, retry_after=900, random_fraction=lambda: 1.0) == 900


def test_a_transient_failure_is_retried_no_sooner_than_retry_after(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    recorder.retry_after = 120
    with time_machine.travel(START, tick=False) as clock:
        job_id = add_job(container, TRANSIENT)
        assert runner.run_due() == 1
        job = job_row(container, job_id)
        assert job.state == QUEUED
        assert job.run_after >= START + timedelta(seconds=120)
        assert job.last_error_kind == "transient"

        clock.move_to(START + timedelta(seconds=119))
        assert runner.run_due() == 0
        assert len(recorder.calls) == 1
        clock.move_to(START + timedelta(seconds=120))
        assert runner.run_due() == 1
    assert len(recorder.calls) == 2


def test_transient_failures_become_a_dead_letter_with_the_last_error_after_max_attempts(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    recorder.retry_after = None
    with time_machine.travel(START, tick=False) as clock:
        job_id = add_job(container, TRANSIENT, max_attempts=4)
        for _ in range(10):
            runner.run_due()
            clock.shift(timedelta(minutes=10))
    job = job_row(container, job_id)
    assert (job.state, job.attempts) == (DEAD, 4)
    assert job.last_error == "Salesforce answered 503"
    assert len(recorder.calls) == 4


def test_needs_admin_action_stops_the_job_with_its_hint_and_is_not_retried(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        job_id = add_job(container, NEEDS_ADMIN_KIND)
        runner.run_due()
        clock.shift(timedelta(hours=1))
        runner.run_due()
    job = job_row(container, job_id)
    assert job.state == NEEDS_ADMIN
    assert job.hint == "Give the integration user edit access to Case.Status."
    assert len(recorder.calls) == 1


def test_a_crashing_handler_is_retried_a_few_times_then_dead(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        job_id = add_job(container, CRASH)
        for _ in range(6):
            runner.run_due()
            clock.shift(timedelta(minutes=10))
    job = job_row(container, job_id)
    assert (job.state, job.last_error_kind) == (DEAD, "bug")
    assert "a bug in a handler" in (job.last_error or "")
    assert len(recorder.calls) == 3  # job_bug_max_attempts


def test_a_replayed_dead_letter_runs_exactly_once_more(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    job_id = add_job(container, CRASH, max_attempts=1)
    runner.run_due()
    assert job_row(container, job_id).state == DEAD
    # The bug is fixed: the same kind now succeeds.
    runner.registry.register(CRASH, recorder.record)
    with container.session() as session:
        service.replay(session, job_id)
    with container.session() as session, pytest.raises(Conflict):
        service.replay(session, job_id)  # already queued: a second replay is refused
    assert runner.run_due() == 1
    assert runner.run_due() == 0
    job = job_row(container, job_id)
    assert (job.state, job.replay_count) == (DONE, 1)
    assert len(recorder.calls) == 2


def test_a_job_of_an_unknown_kind_waits_for_an_admin(
    container: Container, runner: JobRunner
) -> None:
    job_id = add_job(container, "nobody.handles.this")
    runner.run_due()
    job = job_row(container, job_id)
    assert job.state == NEEDS_ADMIN
    assert "--handlers" in (job.hint or "")


def test_a_dead_letter_does_not_block_other_keys(
    container: Container, runner: JobRunner, recorder: Recorder
) -> None:
    poison = add_job(container, CRASH, coalesce_key="association:poison", max_attempts=1)
    healthy = [
        add_job(container, "test.record", {"n": n}, coalesce_key=f"association:{n}")
        for n in range(5)
    ]
    runner.run_due()
    assert job_row(container, poison).state == DEAD
    assert {job_row(container, job_id).state for job_id in healthy} == {DONE}
