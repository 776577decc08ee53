"""The audit trail: an append-only, hash-chained record of every access to personal data."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime

#: The `prev_hash` of the very first record: nothing came before it.
GENESIS_HASH = "0" * 64
#: The one row of `audit_chain_head`.
HEAD_ID = 1


class AuditEvent(StrEnum):
    """What happened. Other features and admin commands may record words of their own."""

    TOKEN_ISSUED = "token.issued"  # noqa: S105 (an event's name, not a secret)
    #: A client authentication that was checked and failed, or asked for scopes not held;
    #: not a malformed or throttled request (ADR 0021: what a guesser can make us write).
    TOKEN_REFUSED = "token.refused"  # noqa: S105 (an event's name, not a secret)
    JOB_CREATED = "job.created"
    REPORT_URL_MINTED = "report.url_minted"
    REPORT_DOWNLOADED = "report.downloaded"
    REPORT_DELETED = "report.deleted"
    REPORT_EXPIRED = "report.expired"
    USER_ERASED = "user.erased"
    ORG_RETENTION_CHANGED = "org.retention_changed"
    # What operators do with the admin commands (`cli`), each as `admin:<operator>`.
    ORG_CREATED = "org.created"
    ORG_SUSPENDED = "org.suspended"
    ORG_RESUMED = "org.resumed"
    CLIENT_CREATED = "client.created"
    CLIENT_SECRET_ROTATED = "client.secret_rotated"  # noqa: S105 (an event's name, not a secret)
    CLIENT_REVOKED = "client.revoked"
    KEY_ROTATED = "key.rotated"
    KEY_RETIRED = "key.retired"
    JOB_RETRIED = "job.retried"
    USERS_IMPORTED = "user.imported"
    WEBHOOK_SET = "webhook.set"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_ENABLED = "webhook.enabled"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"  # noqa: S105 (an event's name, not a secret)
    WEBHOOK_REDELIVERED = "webhook.redelivered"
    POLICY_SET = "policy.set"
    AUDIT_PRUNED = "audit.pruned"


class AuditRecord(Base):
    """One event. Never updated; deleted only by pruning, oldest first, under the chain's lock.

    `hash` is SHA-256 of the record's content and `prev_hash` (`audit.chain`), so changing,
    removing or reordering a record breaks the chain from that record on. Ids only: never a
    name, an address of a person, a token or a URL.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        # Export by period, and by org and period.
        Index("ix_audit_records_occurred", "occurred_at", "seq"),
        Index("ix_audit_records_org_occurred", "org_id", "occurred_at", "seq"),
    )

    #: Position in the chain: 1, 2, 3, ... with no gap (given under the chain's lock).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(40))
    #: Who: `client:<client id>`, `admin:<operator>`, `signed-url` (whoever holds one),
    #: `anonymous` (a refused token request) or `system` (the workers: retention).
    actor: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[str | None] = mapped_column(String(36))
    job_id: Mapped[str | None] = mapped_column(String(36))
    #: The SQR user id an erasure was about (no other event names a person).
    user_id: Mapped[str | None] = mapped_column(String(16))
    #: From where: the client's address (behind trusted proxies, the one they forwarded).
    source: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    #: Small facts of the event (counts, periods, reasons): strings and integers only.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The chain's one lock row and its two ends.

    Every append locks it (`SELECT ... FOR UPDATE`; SQLite's writer holds the database lock
    anyway), so appends are serialised and each sees the last record's hash. It also names the
    newest record, so deleting records at the end is detected, and the anchor: the last pruned
    record, whose hash the oldest kept record must chain to.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    anchor_seq: Mapped[int] = mapped_column(BigInteger)
    anchor_hash: Mapped[str] = mapped_column(String(64))
