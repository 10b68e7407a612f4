"""Handlers loaded by a real ``forcebridge worker`` subprocess in the crash tests
(``--handlers jobs.crash_handlers:register``).

Effects go to a small SQLite file named by ``FORCEBRIDGE_TEST_EFFECTS_PATH``: ``effects`` is
keyed by job id (the idempotent effect a real handler would have), ``runs`` logs every execution,
so a test can tell "ran twice" (allowed after a kill) from "took effect twice" (never allowed).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from forcebridge.jobs.handlers import HandlerRegistry, JobContext

EFFECTS_ENV = "FORCEBRIDGE_TEST_EFFECTS_PATH"
EFFECT = "test.effect"
SLOW = "test.slow"


def create_effects_store(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS effects (job_id TEXT PRIMARY KEY)")
        connection.execute("CREATE TABLE IF NOT EXISTS runs (job_id TEXT, finished INTEGER)")
    connection.close()


def count(path: Path, sql: str) -> int:
    connection = sqlite3.connect(path, timeout=30)
    try:
        return int(connection.execute(sql).fetchone()[0])
    finally:
        connection.close()


def _record(job_id: str, *, finished: bool) -> None:
    connection = sqlite3.connect(os.environ[EFFECTS_ENV], timeout=30)
    try:
        with connection:
            connection.execute("INSERT OR IGNORE INTO effects (job_id) VALUES (?)", (job_id,))
            connection.execute(
                "INSERT INTO runs (job_id, finished) VALUES (?, ?)", (job_id, int(finished))
            )
    finally:
        connection.close()


def apply_effect(context: JobContext) -> None:
    _record(context.job_id, finished=True)
    time.sleep(0.02)  # the window in which a kill lands between effect and completion


def slow_effect(context: JobContext) -> None:
    _record(context.job_id, finished=False)
    time.sleep(1.5)
    _record(context.job_id, finished=True)


def register(registry: HandlerRegistry) -> None:
    registry.register(EFFECT, apply_effect)
    registry.register(SLOW, slow_effect)
