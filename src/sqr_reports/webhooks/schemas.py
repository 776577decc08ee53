"""The webhook API's JSON shapes (camelCase, like the report API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from sqr_reports.clock import Timestamp, isoformat_ms
from sqr_reports.webhooks.models import (
    URL_LENGTH,
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

#: Documented as what they always are, so that generated clients type them so.
Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
EventTypeName = Annotated[
    str, WithJsonSchema({"type": "string", "enum": [kind.value for kind in EventType]})
]


class WebhookSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(min_length=1, max_length=URL_LENGTH, strict=True)] = (
        Field(description="An https:// URL whose host resolves to public addresses only.")
    )


class WebhookView(BaseModel):
    url: str
    enabled: bool
    disabledReason: str | None = Field(description="Why deliveries stopped, when disabled.")
    consecutiveFailures: int = Field(description="Deliveries in a row that ended FAILED.")
    previousSecretValidUntil: Timestamp | None = Field(
        description="Until when the secret before the last rotation also signs (null: none)."
    )
    createdAt: Timestamp
    updatedAt: Timestamp

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookView:
        until = endpoint.previous_valid_until
        return cls(
            url=endpoint.url,
            enabled=endpoint.enabled,
            disabledReason=endpoint.disabled_reason,
            consecutiveFailures=endpoint.consecutive_failures,
            previousSecretValidUntil=isoformat_ms(until) if until else None,
            createdAt=isoformat_ms(endpoint.created_at),
            updatedAt=isoformat_ms(endpoint.updated_at),
        )


class WebhookRegistered(WebhookView):
    secret: str = Field(
        description="The signing secret, shown only in this response: the HMAC-SHA256 key "
        "(its UTF-8 bytes) of x_signature. Store it now."
    )

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint, secret: str) -> WebhookRegistered:
        return cls(**WebhookView.of(endpoint).model_dump(), secret=secret)


class AttemptView(BaseModel):
    attempt: int
    startedAt: Timestamp
    statusCode: int | None
    latencyMs: int
    error: str | None
    responseExcerpt: str | None = Field(description="The first 1 KiB of the response body.")


class DeliveryView(BaseModel):
    deliveryId: Uuid
    eventId: Uuid
    eventType: EventTypeName
    status: DeliveryStatus
    createdAt: Timestamp
    deliveredAt: Timestamp | None
    nextAttemptAt: Timestamp | None = Field(description="When the next attempt is due, if PENDING.")
    lastError: str | None
    attempts: list[AttemptView]

    @classmethod
    def of(
        cls, delivery: WebhookDelivery, event_type: str, attempts: Sequence[WebhookAttempt]
    ) -> DeliveryView:
        pending = delivery.status == DeliveryStatus.PENDING
        return cls(
            deliveryId=delivery.id,
            eventId=delivery.event_id,
            eventType=event_type,
            status=DeliveryStatus(delivery.status),
            createdAt=isoformat_ms(delivery.created_at),
            deliveredAt=isoformat_ms(delivery.delivered_at) if delivery.delivered_at else None,
            nextAttemptAt=isoformat_ms(delivery.run_after) if pending else None,
            lastError=delivery.last_error,
            attempts=[
                AttemptView(
                    attempt=row.attempt,
                    startedAt=isoformat_ms(row.started_at),
                    statusCode=row.status_code,
                    latencyMs=row.latency_ms,
                    error=row.error,
                    responseExcerpt=row.response_excerpt,
                )
                for row in attempts
            ],
        )


class DeliveryList(BaseModel):
    items: list[DeliveryView]
