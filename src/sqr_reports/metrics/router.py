"""`GET /metrics` for Prometheus: an operator's endpoint, never in the OpenAPI document.

Open unless `SQR_REPORTS_METRICS__BEARER_TOKEN` is set (ADR 0018 says why): what it shows is
volumes, latencies and error codes, never an id, a name or a secret.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from sqr_reports.dependencies import (
    MetricsSettingsDep,
    QueueClockDep,
    QueueTablesDep,
    ReadSessionDep,
)
from sqr_reports.metrics import service

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(
    request: Request,
    settings: MetricsSettingsDep,
    session: ReadSessionDep,
    clock: QueueClockDep,
    tables: QueueTablesDep,
) -> Response:
    """The metrics of this process's unit, and what each queue holds now."""
    service.authorize_scraper(settings.bearer_token, request.headers.get("Authorization"))
    body = await service.scrape(session, clock, tables)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
