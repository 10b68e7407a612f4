"""Routes of background automation: Jira webhook intake, jobs and dead letters, webhook setup.

- ``POST /webhooks/jira/{connection_id}``: no API token or admin login; the HMAC signature of
  the body is the authentication (``webhooks.intake``). 200 only once the event is stored; 503
  with ``Retry-After`` when it cannot be, so Jira retries.
- ``/api/v1/jobs...``, ``/api/v1/dead-letters`` and ``/api/v1/connections/{id}/webhook``: admin
  HTTP Basic, like the rest of the admin API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from forcebridge.admin.auth import require_admin
from forcebridge.api.deps import ContainerDep
from forcebridge.api.envelope import Envelope, error_responses, success
from forcebridge.api.errors import error_body
from forcebridge.container import Container
from forcebridge.errors import PayloadTooLarge, ServiceUnavailable
from forcebridge.jobs import service as jobs
from forcebridge.jobs.metrics import automation_metrics
from forcebridge.jobs.models import JOB_STATES, STOPPED_STATES
from forcebridge.jobs.queue import job_queue
from forcebridge.jobs.settings import JobSettings
from forcebridge.webhooks.intake import (
    MAX_BODY_BYTES,
    UNAVAILABLE_RETRY_AFTER_SECONDS,
    AcceptedEvent,
    accept_jira_webhook,
)
from forcebridge.webhooks.registration import WebhookOutcome, register_jira_webhook
from forcebridge.webhooks.secrets import rotate_webhook_secret

ConnectionId = Annotated[str, Path(min_length=1, max_length=64, description="A connection id.")]
JobId = Annotated[str, Path(min_length=1, max_length=64, description="A job id.")]


# -- webhook intake -------------------------------------------------------------------------------

webhook_router = APIRouter(tags=["webhooks"])


@webhook_router.post(
    "/webhooks/jira/{connection_id}",
    summary="Receive a Jira webhook delivery (signed with the connection's secret).",
    description=(
        "Jira's admin webhook posts here. The body must be signed: `X-Hub-Signature: "
        "sha256=<hex HMAC-SHA256 of the raw body with the connection's webhook secret>`; "
        "`X-Atlassian-Webhook-Identifier` dedupes retries. 200 means the event is stored."
    ),
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(400, 401, 413, 503),
)
async def receive_jira_webhook(
    request: Request, container: ContainerDep, connection_id: ConnectionId
) -> JSONResponse:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        automation_metrics(container.metrics).webhook_events.labels(outcome="too_large").inc()
        raise PayloadTooLarge(f"Webhook bodies are limited to {MAX_BODY_BYTES} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            automation_metrics(container.metrics).webhook_events.labels(outcome="too_large").inc()
            raise PayloadTooLarge(f"Webhook bodies are limited to {MAX_BODY_BYTES} bytes.")
    try:
        accepted = await run_in_threadpool(
            _accept, container, connection_id, bytes(body), request.headers
        )
    except ServiceUnavailable as error:
        return JSONResponse(
            error_body(request, error.message, hint=error.hint),
            status_code=503,
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
    message = "Already received." if accepted.duplicate else "Event stored."
    return success({"eventId": accepted.event_id, "duplicate": accepted.duplicate}, message)


def _accept(container: Container, connection_id: str, body: bytes, headers: Any) -> AcceptedEvent:
    job_queue(container)  # committed jobs go to the queue at once (built on first use)
    return accept_jira_webhook(container, connection_id, body, headers)


# -- admin: jobs, dead letters, webhook setup -----------------------------------------------------

admin_router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Depends(require_admin)])


@admin_router.get(
    "/jobs",
    summary="List background jobs, newest first.",
    response_model=Envelope[list[dict[str, Any]]],
    responses=error_responses(401, 422),
)
def list_jobs(
    container: ContainerDep,
    state: Annotated[
        list[str] | None, Query(description=f"Filter by state: {', '.join(JOB_STATES)}.")
    ] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    connection_id: Annotated[str | None, Query(alias="connectionId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, description="Page back: jobs before this sequence.")
    ] = None,
) -> JSONResponse:
    with container.session() as session:
        found = jobs.list_jobs(
            session,
            states=state or (),
            kind=kind,
            connection_id=connection_id,
            limit=limit,
            before_sequence=before,
        )
        views = [jobs.job_view(job) | {"sequence": job.sequence} for job in found]
    return success(views, f"{len(views)} job(s).")


@admin_router.get(
    "/jobs/summary",
    summary="Number of jobs in each state (the queue depth).",
    response_model=Envelope[dict[str, int]],
    responses=error_responses(401),
)
def job_summary(container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        counts = jobs.count_by_state(session)
    return success(counts, "Jobs by state.")


@admin_router.get(
    "/dead-letters",
    summary="Jobs that stopped: dead letters and jobs needing an admin, newest first.",
    response_model=Envelope[list[dict[str, Any]]],
    responses=error_responses(401),
)
def list_dead_letters(
    container: ContainerDep,
    connection_id: Annotated[str | None, Query(alias="connectionId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    with container.session() as session:
        found = jobs.list_jobs(
            session, states=STOPPED_STATES, connection_id=connection_id, limit=limit
        )
        views = [jobs.job_view(job) for job in found]
    return success(views, f"{len(views)} stopped job(s).")


@admin_router.get(
    "/jobs/{job_id}",
    summary="One job, with its last error.",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(401, 404),
)
def show_job(container: ContainerDep, job_id: JobId) -> JSONResponse:
    with container.session() as session:
        view = jobs.job_view(jobs.get_job(session, job_id))
    return success(view, "Job found.")


@admin_router.post(
    "/jobs/{job_id}/replay",
    summary="Queue a dead or needs-admin job again (once, with a fresh attempt budget).",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(401, 404, 409),
)
def replay_job(container: ContainerDep, job_id: JobId) -> JSONResponse:
    job_queue(container)
    with container.session() as session:
        view = jobs.job_view(jobs.replay(session, job_id, now=container.clock()))
    return success(view, "Job queued again.")


@admin_router.post(
    "/connections/{connection_id}/webhook",
    summary="Register (or update) the connection's webhook on its Jira site.",
    description=(
        "Creates an admin webhook filtered on the bound projects, signed with the connection's "
        "secret (binding changes do this automatically; this is the retry and the secret "
        "rotation). With no project bound any more, the webhook is deleted (`removed`). When the "
        "Jira credentials cannot (OAuth, or not a Jira administrator), `status` is `manual` and "
        "`instructions` lists exactly what to enter in Jira."
    ),
    response_model=Envelope[WebhookOutcome],
    responses=error_responses(401, 404, 409, 502, 503),
)
def register_webhook(
    container: ContainerDep,
    connection_id: ConnectionId,
    rotate_secret: Annotated[
        bool, Query(alias="rotateSecret", description="Use a new secret (the old one stays valid).")
    ] = False,
) -> JSONResponse:
    if rotate_secret:
        with container.session() as session:
            rotate_webhook_secret(
                container,
                session,
                connection_id,
                previous_valid_hours=JobSettings().webhook_previous_secret_hours,
            )
    registration = register_jira_webhook(container, connection_id)
    messages = {
        "registered": "Webhook created in Jira.",
        "updated": "Webhook updated in Jira.",
        "removed": "Webhook deleted from Jira: no project is bound any more.",
        "manual": "Change the webhook in Jira by hand, as listed in instructions.",
    }
    return success(registration.as_dict(), messages[registration.status])
