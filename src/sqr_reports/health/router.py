"""`/healthz` (the process is alive) and `/readyz` (database and storage reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sqr_reports.dependencies import ReaderEngineDep, StoreDep
from sqr_reports.health.service import check_database, check_storage, readiness

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Alive: the process answers. Checks nothing else, so a database outage restarts nothing."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "Not ready"}})
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
