"""personal data's lifetime: report expiry and tombstones, org retention, purges, audit trail

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Nullable columns, indexes and new tables only: the previous release, still running during a
# rollout, neither reads nor writes any of them. A job it ends gets no `expires_at`; the new
# workers' retention sweep gives it one (from `completed_at`), as it does every job ended before
# this migration, so no backfill is needed here. A tombstone's user id is '' (the column stays
# not null, so the previous release still reads a string). The chain's head row is created here
# (the start of the chain), so the first append has a row to lock.

_GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("deletion", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_report_jobs_expiry", ["deleted_at", "expires_at"], unique=False)
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_events_job", ["job_id"], unique=False)
    _create_purges()
    _create_audit()


def _create_purges() -> None:
    op.create_table(
        "report_purges",
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_purges")),
    )
    with op.batch_alter_table("report_purges", schema=None) as batch_op:
        batch_op.create_index("ix_report_purges_queue", ["status", "run_after"], unique=False)
        batch_op.create_index(
            "ix_report_purges_lease", ["status", "lease_expires_at"], unique=False
        )


def _create_audit() -> None:
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_records")),
    )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.create_index("ix_audit_records_occurred", ["occurred_at", "seq"], unique=False)
        batch_op.create_index(
            "ix_audit_records_org_occurred", ["org_id", "occurred_at", "seq"], unique=False
        )
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(
        head,
        [{"id": 1, "last_seq": 0, "last_hash": _GENESIS, "anchor_seq": 0, "anchor_hash": _GENESIS}],
    )


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_org_occurred")
        batch_op.drop_index("ix_audit_records_occurred")
    op.drop_table("audit_records")
    with op.batch_alter_table("report_purges", schema=None) as batch_op:
        batch_op.drop_index("ix_report_purges_lease")
        batch_op.drop_index("ix_report_purges_queue")
    op.drop_table("report_purges")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_job")
    # Not in batch mode: on SQLite that copies the table, which would lose 0006's index on
    # lower(name) (SQLite cannot reflect it); SQLite 3.35 and PostgreSQL drop a column in place.
    op.execute("ALTER TABLE orgs DROP COLUMN retention_days")
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_report_jobs_expiry")
        batch_op.drop_column("deletion")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("expires_at")
