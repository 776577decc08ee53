"""The ASGI application (a composition root: builds everything once, at start-up)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.types import ASGIApp

from sqr_reports import __version__, http_errors
from sqr_reports.apidocs.router import router as apidocs_router
from sqr_reports.apidocs.router import serve_complete_document
from sqr_reports.auth.router import router as auth_router
from sqr_reports.config import Settings
from sqr_reports.container import Container, build_container
from sqr_reports.db.migrate import upgrade
from sqr_reports.health.router import router as health_router
from sqr_reports.http_limits import MAX_HEADER_BYTES, BodyLimit, HeaderLimit
from sqr_reports.http_telemetry import RequestTelemetry
from sqr_reports.lifecycle.router import router as lifecycle_router
from sqr_reports.metrics.router import router as metrics_router
from sqr_reports.reports.router import router as reports_router
from sqr_reports.storage.local import DOWNLOAD_PATH
from sqr_reports.storage.router import router as downloads_router
from sqr_reports.webhooks.router import router as webhooks_router

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

DESCRIPTION = """
Asynchronously generate and download identity-verification PDF reports for SQR users
connected to your organisation:

1. **Create** a report job: `POST /v1/document/api`
2. **Poll** for job completion: `GET /v1/document/api/{id}`
3. **Retrieve** the signed download URL: `GET /v1/document/api/{id}/url`

All endpoints require a Bearer token from the OAuth Token API (`POST /oauth2/token`).
"""


class _App(FastAPI):
    """FastAPI with request ids and HTTP metrics outermost, around Starlette's error handling
    too, so that even a 500 carries its X-Request-ID and is counted (`http_telemetry`)."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestTelemetry(super().build_middleware_stack())


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    embedded: bool = True,
) -> FastAPI:
    """The app.

    `embedded` is the one-process mode of `sqr-reports serve`: it migrates the schema on start and
    runs the worker (unless `worker.embedded` is off). `sqr-reports api` passes False: HTTP only,
    and the schema is left to `sqr-reports migrate`. Pass a `container` to share one with the
    caller (tests, benchmarks).
    """
    settings = settings or (container.settings if container else Settings())
    owned = container is None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = container or build_container(settings)
        app.state.container = active
        worker_task = None
        if embedded:
            await upgrade(active.engine)
            if settings.worker.embedded:
                await active.renderer.start()
                worker = active.new_worker()
                worker_task = asyncio.create_task(worker.run(), name="sqr-reports-worker")
        # Held requests (`Prefer: wait`) hear of jobs other processes settle.
        settlement_listener = active.new_settlement_listener()
        listening = (
            asyncio.create_task(settlement_listener.run(), name="sqr-reports-settlements")
            if settlement_listener is not None
            else None
        )
        try:
            yield
        finally:
            if worker_task is not None:
                for worker in active.workers:
                    worker.stop()
                await worker_task
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            if owned:
                await active.close()

    app = _App(
        title="SQR PDF Report API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs and /redoc are apidocs/router.py: the same pages, with their assets served here.
        docs_url=None,
        redoc_url=None,
    )
    if container is not None:
        app.state.container = container  # usable without the lifespan (in-process test clients)
    http_errors.install(app, secret_path_prefixes=(DOWNLOAD_PATH,))
    # Every request body here is a few hundred bytes; nobody gets to make us buffer more.
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(HeaderLimit, max_bytes=MAX_HEADER_BYTES)
    app.include_router(auth_router)
    app.include_router(reports_router)
    app.include_router(lifecycle_router)
    app.include_router(webhooks_router)
    app.include_router(downloads_router)
    app.include_router(health_router)
    app.include_router(apidocs_router)
    if settings.metrics.enabled:
        app.include_router(metrics_router)
    serve_complete_document(app, server_url=settings.public_url or "/")
    return app


def create_api_app() -> FastAPI:
    """Factory for `sqr-reports api` (uvicorn imports it in each of its worker processes)."""
    return create_app(Settings(), embedded=False)
