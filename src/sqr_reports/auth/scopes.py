"""The scopes of the report API (SQR writes scopes as `verb:noun`)."""

WRITE_REPORTS = "write:reports"
READ_REPORTS = "read:reports"
DOWNLOAD_REPORTS = "download:reports"
#: Register, replace or delete the org's webhook endpoint; redeliver its events.
WRITE_WEBHOOKS = "write:webhooks"
#: Read the org's webhook endpoint (never its secret) and its deliveries.
READ_WEBHOOKS = "read:webhooks"

#: Every scope a client may hold, in the order grants list them.
ALL = (WRITE_REPORTS, READ_REPORTS, DOWNLOAD_REPORTS, WRITE_WEBHOOKS, READ_WEBHOOKS)
#: What a client gets when its creator names no scopes: the report API only. Where an org's
#: events are sent is an administrator's decision, so the webhook scopes are asked for by name.
DEFAULT = (WRITE_REPORTS, READ_REPORTS, DOWNLOAD_REPORTS)
