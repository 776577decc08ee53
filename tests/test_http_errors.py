"""How errors that no feature expects reach the caller: an outage is 503, anything else 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import InternalError

from sqr_reports import http_errors
from tests.support import assert_envelope


class DriverConfused(Exception):
    """Stands in for asyncpg's `InternalClientError`, which SQLAlchemy wraps as `InternalError`."""


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    http_errors.install(app)

    @app.get("/v1/document/api/{job_id}")
    async def fail(job_id: str) -> None:
        raise error

    return app


async def call(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/v1/document/api/42")


@pytest.mark.parametrize(
    ("invalidated", "status", "word"),
    [(True, 503, "SERVICE_UNAVAILABLE"), (False, 500, "INTERNAL_SERVER_ERROR")],
)
async def test_a_driver_error_is_an_outage_only_if_it_cost_the_connection(
    invalidated: bool, status: int, word: str
) -> None:
    error = InternalError("SELECT 1", None, DriverConfused(), connection_invalidated=invalidated)

    response = await call(app_raising(error))

    body = assert_envelope(response, status, word)
    assert ("Retry-After" in response.headers) is invalidated
    assert "SELECT" not in str(body)
