"""Downloads from the embedded local store, through URLs the service signed."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from sqr_reports.dependencies import ClockDep, StoreDep
from sqr_reports.errors import Forbidden, NotFound
from sqr_reports.http_errors import error_responses
from sqr_reports.storage.local import DOWNLOAD_PATH, SIGNED_PARAMETERS, LocalBlobStore

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
    request: Request,
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
    if not _canonical(request, key):
        raise Forbidden("This download URL is invalid or has expired")
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


def _canonical(request: Request, key: str) -> bool:
    """Only the URL as it was signed: the key encoded as `presign_get` encodes it, and each
    parameter exactly once with nothing else (a repeat could mean one thing to us and another to
    a proxy or a log reader)."""
    raw_path = request.scope.get("raw_path", b"").decode("latin-1")
    if raw_path != DOWNLOAD_PATH + quote(key):
        return False
    names = [name for name, _ in request.query_params.multi_items()]
    return sorted(names) == sorted(SIGNED_PARAMETERS)
