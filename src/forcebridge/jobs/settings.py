"""Settings of the job system, the worker and Salesforce polling.

Read from the environment (prefix ``FORCEBRIDGE_``) like ``forcebridge.settings.Settings``, but
kept in this package so the automation knobs live beside the code that uses them:
``FORCEBRIDGE_POLL_INTERVAL_SECONDS``, ``FORCEBRIDGE_JOB_MAX_ATTEMPTS``, ...
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORCEBRIDGE_", extra="ignore")

    queue_name: str = Field(
        default="forcebridge", description="huey queue name (Redis key prefix, SQLite queue)."
    )
    job_bug_max_attempts: int = Field(
        default=3, ge=1, le=100, description="Attempts before an unexpected error is a dead letter."
    )
    job_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed job stays reserved without heartbeat."
    )
    job_backoff_base_seconds: float = Field(default=1.0, gt=0)
    job_backoff_cap_seconds: float = Field(default=300.0, gt=0)
    job_redispatch_after_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A due job not started this long after its dispatch is dispatched again.",
    )
    worker_threads: int = Field(default=2, ge=1, le=64)
    sweep_interval_seconds: float = Field(default=2.0, gt=0)
    poll_interval_seconds: float = Field(
        default=30.0, gt=0, description="Salesforce polling interval per connection and object."
    )
    poll_overlap_seconds: float = Field(
        default=60.0, ge=0, description="How far before the watermark each poll reads again."
    )
    history_retention_days: float = Field(
        default=7.0, gt=1, description="Days done jobs and processed webhook events are kept."
    )
    webhook_previous_secret_hours: float = Field(
        default=24.0, ge=0, description="How long a rotated-out webhook secret stays valid."
    )
