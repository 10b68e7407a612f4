"""``forcebridge worker``: a huey consumer running jobs, plus the sweeper.

The consumer runs in the main thread of its own process (huey installs signal handlers there).
SIGTERM is huey's *graceful* signal here: running jobs finish (up to ``shutdown_timeout``), then
any lease still held is released so another worker starts the job at once; SIGINT stops faster
(leases released too). A ``kill -9`` loses nothing either: leases expire and the sweeper of any
worker dispatches those jobs again.

The sweeper runs at start and then every ``sweep_interval_seconds``: jobs with an expired lease,
and due jobs not started ``job_redispatch_after_seconds`` after their last dispatch (their message
was lost: taken by a killed worker, or a Redis restarted without persistence), are dispatched
again, and periodic hooks (Salesforce poll scheduling) run. Messages still in the queue are not
duplicated at start: the queue is durable, so only the few a killed worker held are missing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from forcebridge.container import Container
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry, handlers
from forcebridge.jobs.queue import job_queue
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings

log = structlog.get_logger("forcebridge.jobs.worker")

SHUTDOWN_TIMEOUT_SECONDS = 25.0


class Sweeper:
    """Calls ``runner.sweep()`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, runner: JobRunner, interval: float) -> None:
        self._runner = runner
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._runner.sweep()
            except Exception:
                log.error("jobs.sweep_failed", exc_info=True)


def run_worker(
    container: Container,
    *,
    threads: int | None = None,
    handler_specs: tuple[str, ...] = (),
    registry: HandlerRegistry = handlers,
    settings: JobSettings | None = None,
) -> None:
    """Run until SIGTERM/SIGINT: load handlers, sweep once, then consume the queue."""
    settings = settings or JobSettings()
    registry.load(BUILTIN_HANDLER_MODULES + tuple(handler_specs))
    queue = job_queue(container, settings)
    runner = JobRunner(container, registry=registry, settings=settings, queue=queue)
    queue.set_runner(runner.run)
    consumer = queue.huey.create_consumer(
        workers=threads or settings.worker_threads,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=0.5,  # SqliteHuey is polled: keep the idle pickup latency under a second
        graceful_signal="TERM",
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    log.info(
        "worker.start",
        worker_id=runner.worker_id,
        handlers=registry.kinds(),
        queue="redis" if container.settings.redis_url else "sqlite",
    )
    dispatched = runner.sweep()
    log.info("worker.initial_sweep", dispatched=dispatched)
    sweeper = Sweeper(runner, settings.sweep_interval_seconds)
    sweeper.start()
    try:
        consumer.run()
    finally:
        runner.stopping.set()
        sweeper.stop()
        released = runner.release_all()
        runner.close()
        log.info("worker.stopped", worker_id=runner.worker_id, released=released)


@contextmanager
def worker_alongside(data_dir: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``forcebridge worker`` as a child for the duration of the block (``serve
    --with-worker``), and stop it gracefully however the block ends.

    uvicorn restores the previous SIGTERM handler after its shutdown and raises the signal again;
    with the default handler the process would die there, before stopping its child, and leave an
    orphan worker. A handler that exits normally lets this block's cleanup run.
    """
    process = spawn_worker_process(data_dir)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield process
    finally:
        stop_worker_process(process)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def spawn_worker_process(data_dir: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``forcebridge worker`` as a child process (``serve --with-worker``, the demo).

    A separate process, not a thread: huey's consumer needs the main thread for its signal
    handlers, and it would replace uvicorn's.
    """
    command = [sys.executable, "-c", "from forcebridge.cli import main; main()", "worker"]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.Popen(command)


def stop_worker_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (running jobs finish, leases are released), then SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)
