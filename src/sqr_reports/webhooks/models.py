"""Webhook endpoints, the event outbox, deliveries (a queue table) and their attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime
from sqr_reports.queue.table import Queued, QueueState

#: Longest URL an endpoint may have (also the column's length).
URL_LENGTH = 2048
#: The longest `last_error` / attempt `error` kept.
ERROR_LENGTH = 500
#: How much of a receiver's response an attempt keeps.
EXCERPT_LENGTH = 1024


class EventType(StrEnum):
    REPORT_COMPLETED = "REPORT_COMPLETED"
    REPORT_FAILED = "REPORT_FAILED"


class DeliveryStatus(StrEnum):
    """The queue's two states, spelled as `QueueState` spells them, and a delivery's two ends."""

    PENDING = QueueState.PENDING.value
    PROCESSING = QueueState.PROCESSING.value
    #: A 2xx answered one of its attempts.
    DELIVERED = "DELIVERED"
    #: Every attempt failed, or the endpoint was gone or disabled when its turn came.
    FAILED = "FAILED"


class WebhookEndpoint(Base):
    """An org's one endpoint. The secrets are stored as issued, not hashed: signing needs them
    (ADR 0012 says why they are not encrypted either)."""

    __tablename__ = "webhook_endpoints"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    secret: Mapped[str] = mapped_column(String(100))
    #: The secret before the last rotation: it signs too until `previous_valid_until`.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))
    #: Deliveries in a row that ended FAILED; any 2xx resets it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """The outbox: written in the transaction that makes a job terminal, and changed after
    only to forget the user id in it when the job's report is deleted (ADR 0021)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_org_occurred", "org_id", "occurred_at"),
        # A job's events, found when its report is deleted.
        Index("ix_webhook_events_job", "job_id"),
    )

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Not a foreign key: deleting or expiring a job must not wait for its events.
    job_id: Mapped[str] = mapped_column(String(36))


class WebhookDelivery(Queued, Base):
    """One attempt series of one event to the org's endpoint; the row is the queue entry.

    A redelivery is a new row for the same event (same `event_id`, so receivers dedupe).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_queue", "status", "run_after"),
        Index("ix_webhook_deliveries_lease", "status", "lease_expires_at"),
        Index("ix_webhook_deliveries_org_created", "org_id", "created_at"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.event_id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))


class WebhookAttempt(Base):
    """What one POST of a delivery got: written whatever the outcome."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Where it went: the endpoint's URL at the time (it may have changed since).
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))
    response_excerpt: Mapped[str | None] = mapped_column(String(EXCERPT_LENGTH))
