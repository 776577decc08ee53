"""Python client for SQR's PDF Report API: create identity-report jobs, wait for them, and
download the verified PDF; plus a verifier for the service's webhooks.

```python
from sqr_reports_client import Client

with Client.from_env() as client:
    job = client.create("US1A2B3C4D5E6F78")
    job = client.wait(job.job_id, raise_on_failure=True)
    client.download(job, "report.pdf")
```
"""

from __future__ import annotations

from sqr_reports_client._version import __version__
from sqr_reports_client.async_client import AsyncClient
from sqr_reports_client.client import Client
from sqr_reports_client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    Conflict,
    FieldError,
    Gone,
    IntegrityError,
    JobFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    SqrReportsError,
    TransportError,
    Unprocessable,
    ValidationError,
    WaitTimeout,
    WebhookVerificationError,
)
from sqr_reports_client.models import DownloadUrl, Job, JobErrorCode, JobStatus
from sqr_reports_client.webhooks import WebhookEvent, verify_webhook

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "Client",
    "ConfigurationError",
    "Conflict",
    "DownloadUrl",
    "FieldError",
    "Gone",
    "IntegrityError",
    "Job",
    "JobErrorCode",
    "JobFailed",
    "JobStatus",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "SqrReportsError",
    "TransportError",
    "Unprocessable",
    "ValidationError",
    "WaitTimeout",
    "WebhookEvent",
    "WebhookVerificationError",
    "__version__",
    "verify_webhook",
]
