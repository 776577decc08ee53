"""The published `errorCode` table of FAILED jobs (README: "Error codes")."""

from enum import StrEnum


class JobErrorCode(StrEnum):
    USER_NOT_FOUND = "USER_NOT_FOUND"
    USER_NOT_CONNECTED = "USER_NOT_CONNECTED"
    RENDER_FAILED = "RENDER_FAILED"
    RENDER_TIMEOUT = "RENDER_TIMEOUT"
    STORAGE_FAILED = "STORAGE_FAILED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
