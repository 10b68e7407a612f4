"""Fixtures of the job tests: a recorder of handler calls and a runner wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forcebridge.container import Container
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from jobs.builders import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def job_settings() -> JobSettings:
    return JobSettings(job_lease_seconds=30, job_bug_max_attempts=3, job_backoff_cap_seconds=300)


@pytest.fixture
def runner(
    container: Container, recorder: Recorder, job_settings: JobSettings
) -> Iterator[JobRunner]:
    job_runner = JobRunner(
        container,
        registry=recorder.registry(),
        settings=job_settings,
        worker_id="worker-a",
        periodic_hooks=[],
    )
    yield job_runner
    job_runner.close()
