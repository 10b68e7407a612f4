"""A real ``forcebridge worker`` subprocess: killed with SIGKILL mid-batch, restarted, stopped
with SIGTERM. On SQLite + SqliteHuey, and on RedisHuey when Redis is there (PostgreSQL with
``FORCEBRIDGE_TEST_DATABASE=postgres``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forcebridge.container import Container
from forcebridge.jobs.models import DONE, RUNNING, Job
from forcebridge.jobs.queue import JobQueue, build_huey, install_job_queue
from forcebridge.settings import Settings
from jobs.backends import BACKENDS, settings_for_backend, unique_queue_name
from jobs.builders import add_job
from jobs.crash_handlers import EFFECT, EFFECTS_ENV, SLOW, count, create_effects_store

pytestmark = pytest.mark.slow

TESTS_DIR = Path(__file__).resolve().parents[1]
JOBS = 200


@pytest.fixture(params=BACKENDS)
def worker_env(
    request: pytest.FixtureRequest,
    settings: Settings,
    container: Container,
    secret_key: str,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    backend_settings = settings_for_backend(settings, request.param)
    queue_name = unique_queue_name()
    queue = JobQueue(build_huey(backend_settings, queue_name=queue_name))
    install_job_queue(container, queue)
    effects = tmp_path / "effects.db"
    create_effects_store(effects)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        "FORCEBRIDGE_DATA_DIR": str(settings.data_dir),
        "FORCEBRIDGE_DATABASE_URL": settings.resolved_database_url,
        "FORCEBRIDGE_SECRET_KEY": secret_key,
        "FORCEBRIDGE_INSTANCE_ID": "forcebridge-test",
        "FORCEBRIDGE_LOG_LEVEL": "WARNING",
        "FORCEBRIDGE_LOG_FORMAT": "console",
        "FORCEBRIDGE_QUEUE_NAME": queue_name,
        "FORCEBRIDGE_JOB_LEASE_SECONDS": "3",
        "FORCEBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
        "FORCEBRIDGE_JOB_REDISPATCH_AFTER_SECONDS": "2",
        EFFECTS_ENV: str(effects),
    }
    if backend_settings.redis_url:
        env["FORCEBRIDGE_REDIS_URL"] = backend_settings.redis_url
    else:
        env.pop("FORCEBRIDGE_REDIS_URL", None)
    yield env
    queue.flush()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from forcebridge.cli import main; main()", "worker"]
    command += ["--threads", "2", "--handlers", "jobs.crash_handlers:register"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def jobs_in_state(container: Container, state: str) -> int:
    with container.session() as session:
        return int(
            session.scalar(select(func.count()).select_from(Job).where(Job.state == state)) or 0
        )


def test_a_worker_killed_mid_batch_loses_nothing_and_applies_each_effect_once(
    container: Container, worker_env: dict[str, str]
) -> None:
    effects = Path(worker_env[EFFECTS_ENV])
    job_ids = {add_job(container, EFFECT, {"n": n}) for n in range(JOBS)}

    first = start_worker(worker_env)
    try:
        wait_for(
            lambda: count(effects, "SELECT count(*) FROM effects") >= JOBS // 5, 60, "progress"
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert jobs_in_state(container, DONE) < JOBS, "the kill must land mid-batch"

    second = start_worker(worker_env)
    try:
        wait_for(lambda: jobs_in_state(container, DONE) == JOBS, 90, "every job done")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0

    assert count(effects, "SELECT count(*) FROM effects") == JOBS
    assert count(effects, "SELECT count(DISTINCT job_id) FROM runs") == JOBS
    with container.session() as session:
        assert set(session.scalars(select(Job.id))) == job_ids
    assert jobs_in_state(container, RUNNING) == 0


def test_sigterm_lets_the_running_job_finish_before_the_worker_exits(
    container: Container, worker_env: dict[str, str]
) -> None:
    effects = Path(worker_env[EFFECTS_ENV])
    job_id = add_job(container, SLOW)
    worker = start_worker(worker_env)
    try:
        wait_for(lambda: count(effects, "SELECT count(*) FROM runs") >= 1, 60, "the job to start")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert count(effects, "SELECT count(*) FROM runs WHERE finished = 1") == 1
    with container.session() as session:
        assert session.scalar(select(Job.state).where(Job.id == job_id)) == DONE
