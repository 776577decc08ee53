"""The scopes of the report API (SQR writes scopes as `verb:noun`)."""

WRITE_REPORTS = "write:reports"
READ_REPORTS = "read:reports"
DOWNLOAD_REPORTS = "download:reports"

ALL = (WRITE_REPORTS, READ_REPORTS, DOWNLOAD_REPORTS)
