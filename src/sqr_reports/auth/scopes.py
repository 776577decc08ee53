"""The scopes of the report API (SQR writes scopes as `verb:noun`)."""

WRITE_REPORTS = "write:reports"
READ_REPORTS = "read:reports"
DOWNLOAD_REPORTS = "download:reports"
#: Delete a report (its PDF and personal fields) before its retention period ends.
DELETE_REPORTS = "delete:reports"
#: Register, replace or delete the org's webhook endpoint; redeliver its events.
WRITE_WEBHOOKS = "write:webhooks"
#: Read the org's webhook endpoint (never its secret) and its deliveries.
READ_WEBHOOKS = "read:webhooks"

#: Every scope a client may hold, in the order grants list them.
ALL = (
    WRITE_REPORTS, READ_REPORTS, DOWNLOAD_REPORTS, DELETE_REPORTS, WRITE_WEBHOOKS, READ_WEBHOOKS,
)  # fmt: skip
#: What a client gets when its creator names no scopes: the report API only. Where an org's
#: events are sent is an administrator's decision, so the webhook scopes are asked for by name;
#: so is deleting reports, which cannot be undone.
DEFAULT = (WRITE_REPORTS, READ_REPORTS, DOWNLOAD_REPORTS)

#: What each scope lets a client do, as the OpenAPI document's OAuth2 flow lists it.
DESCRIPTIONS = {
    WRITE_REPORTS: "Create report jobs",
    READ_REPORTS: "Read report jobs: status and listing",
    DOWNLOAD_REPORTS: "Get signed download URLs of COMPLETE reports",
    DELETE_REPORTS: "Delete a report: its PDF and the job's personal fields",
    WRITE_WEBHOOKS: "Register, replace or delete the org's webhook endpoint; redeliver events",
    READ_WEBHOOKS: "Read the org's webhook endpoint (never its secret) and its deliveries",
}
