"""Every model imported once, so the metadata the migrations compare against is complete."""

from sqr_reports.audit.models import AuditChainHead, AuditRecord
from sqr_reports.auth.models import ApiClient
from sqr_reports.db.base import Base
from sqr_reports.lifecycle.models import ReportPurge
from sqr_reports.orgs.models import Org
from sqr_reports.policies.models import OrgVerdictPolicy
from sqr_reports.reports.models import IdempotencyKey, ReportJob
from sqr_reports.users.models import AppUser, Connection, MonitoringEvent
from sqr_reports.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "AppUser",
    "AuditChainHead",
    "AuditRecord",
    "Connection",
    "IdempotencyKey",
    "MonitoringEvent",
    "Org",
    "OrgVerdictPolicy",
    "ReportJob",
    "ReportPurge",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "metadata",
]
