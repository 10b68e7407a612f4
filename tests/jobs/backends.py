"""Queue backends under test: SqliteHuey always, RedisHuey when Redis answers on 127.0.0.1:6379.

Outside CI a missing Redis skips its variant with the reason; under ``CI=true`` it fails the run.
"""

from __future__ import annotations

import os
import uuid

import pytest

from forcebridge.settings import Settings

REDIS_URL = os.environ.get("FORCEBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "redis"]


def redis_reachable() -> str | None:
    """None when Redis answers, else why not."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as error:  # any failure means "absent" for the purpose of skipping
        return f"Redis not reachable at {REDIS_URL}: {error}"
    return None


def settings_for_backend(settings: Settings, backend: str) -> Settings:
    if backend == "sqlite":
        # Even when the whole suite runs on Redis (FORCEBRIDGE_TEST_QUEUE=redis).
        return settings.model_copy(update={"redis_url": None})
    reason = redis_reachable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"required backend missing under CI: {reason}")
        pytest.skip(reason)
    return settings.model_copy(update={"redis_url": REDIS_URL})


def unique_queue_name() -> str:
    # Tests share one Redis: each gets its own queue (huey prefixes every key with the name).
    return f"forcebridge-test-{uuid.uuid4().hex[:12]}"
