"""Downloads from the embedded local store, through URLs the service signed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from sqr_reports.dependencies import ClockDep, StoreDep
from sqr_reports.errors import Forbidden, NotFound
from sqr_reports.http_errors import error_responses
from sqr_reports.storage.local import DOWNLOAD_PATH, LocalBlobStore

router = APIRouter(tags=["Downloads"])


@router.get(
    DOWNLOAD_PATH + "{key:path}",
    summary="Download a report via a signed URL",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The report, as an attachment"},
        **error_responses(
            {403: "The URL was altered or has expired", 404: "No such download (S3 backend)"}
        ),
    },
)
async def download(
    key: str,
    store: StoreDep,
    clock: ClockDep,
    expires: Annotated[str, Query()] = "",
    filename: Annotated[str, Query()] = "",
    signature: Annotated[str, Query()] = "",
) -> FileResponse:
    """The PDF behind a signed URL; refused (403) once expired or if any part was altered."""
    if not isinstance(store, LocalBlobStore):
        raise NotFound("Not found")  # with S3, downloads go to S3 itself
    path = store.open_signed(
        key, expires=expires, filename=filename, signature=signature, now=clock.now()
    )
    if path is None:
        raise Forbidden("This download URL is invalid or has expired")
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=filename,
        content_disposition_type="attachment",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
