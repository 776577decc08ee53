"""Downloads from the embedded local store, through URLs the service signed."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from sqr_reports.apidocs.document import cache_control, header
from sqr_reports.dependencies import ClockDep, OriginDep, QueueClockDep, StoreDep, WriteSessionDep
from sqr_reports.errors import Forbidden, NotFound
from sqr_reports.http_errors import error_responses
from sqr_reports.reports.downloads import record_download
from sqr_reports.storage.local import DOWNLOAD_PATH, SIGNED_PARAMETERS, LocalBlobStore

router = APIRouter(tags=["Downloads"])


@router.get(
    DOWNLOAD_PATH + "{key:path}",
    summary="Download a report via a signed URL",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "description": "The report, as an attachment",
            "headers": {
                "Content-Disposition": header('`attachment; filename="<name>.pdf"`'),
                "Cache-Control": cache_control("private, no-store"),
            },
        },
        **error_responses(
            {
                403: "The URL was altered or has expired",
                404: "No such download (S3 backend)",
                410: "The report was deleted since the URL was minted: `error` is "
                "REPORT_DELETED, or REPORT_EXPIRED at the end of its retention period",
                503: "The database is unavailable (each download is recorded); see Retry-After",
            }
        ),
    },
)
async def download(
    request: Request,
    key: str,
    store: StoreDep,
    clock: ClockDep,
    session: WriteSessionDep,
    queue_clock: QueueClockDep,
    origin: OriginDep,
    expires: Annotated[str, Query()] = "",
    filename: Annotated[str, Query()] = "",
    signature: Annotated[str, Query()] = "",
) -> FileResponse:
    """The PDF behind a signed URL; refused (403) once expired or if any part was altered.
    Each download is recorded in the audit trail before it is served."""
    if not isinstance(store, LocalBlobStore):
        raise NotFound("Not found")  # with S3, downloads go to S3 itself
    if not _canonical(request, key):
        raise Forbidden("This download URL is invalid or has expired")
    path = store.open_signed(
        key, expires=expires, filename=filename, signature=signature, now=clock.now()
    )
    if path is None:
        raise Forbidden("This download URL is invalid or has expired")
    await record_download(session, key, clock=queue_clock, origin=origin)
    await session.commit()
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=filename,
        content_disposition_type="attachment",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


def _canonical(request: Request, key: str) -> bool:
    """Only the URL as it was signed: the key encoded as `presign_get` encodes it, and each
    parameter exactly once with nothing else (a repeat could mean one thing to us and another to
    a proxy or a log reader)."""
    raw_path = request.scope.get("raw_path", b"").decode("latin-1")
    if raw_path != DOWNLOAD_PATH + quote(key):
        return False
    names = [name for name, _ in request.query_params.multi_items()]
    return sorted(names) == sorted(SIGNED_PARAMETERS)
