"""The published `errorCode` table of FAILED jobs (README: "Error codes")."""

from enum import StrEnum


class JobErrorCode(StrEnum):
    USER_NOT_FOUND = "USER_NOT_FOUND"
    USER_NOT_CONNECTED = "USER_NOT_CONNECTED"
    RENDER_FAILED = "RENDER_FAILED"
    RENDER_TIMEOUT = "RENDER_TIMEOUT"
    STORAGE_FAILED = "STORAGE_FAILED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    #: Deleted (by its org, or with its user's erasure) before its report was generated.
    REPORT_DELETED = "REPORT_DELETED"
