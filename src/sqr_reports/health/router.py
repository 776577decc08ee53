"""`/healthz` (the process is alive) and `/readyz` (database and storage reachable)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sqr_reports.apidocs.document import NO_STORE, answer
from sqr_reports.dependencies import ReaderEngineDep, StoreDep
from sqr_reports.health.service import check_database, check_storage, readiness

router = APIRouter(tags=["Operations"])


class Readiness(BaseModel):
    """What `/readyz` answers (documentation only: the route writes the JSON itself)."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(
        description='Each check ("database", "storage"): "ok", or what is wrong'
    )


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Alive: the process answers. Checks nothing else, so a database outage restarts nothing."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Readiness,
    responses={
        200: answer("Ready", {"Cache-Control": NO_STORE}),
        503: {
            "description": "Not ready",
            "model": Readiness,
            "headers": {"Cache-Control": NO_STORE},
        },
    },
)
async def readyz(engine: ReaderEngineDep, store: StoreDep) -> JSONResponse:
    """Ready: the database answers at the newest schema and the report store is reachable."""
    checks = await readiness(
        {
            "database": lambda: check_database(engine),
            "storage": lambda: check_storage(store),
        }
    )
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"} | ({} if ready else {"Retry-After": "5"}),
    )
