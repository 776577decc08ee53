"""verdict policies, and the policy each job is judged under

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEGACY_POLICY = {
    "liveness_threshold": 80.0,
    "face_match_threshold": 80.0,
    "refer_floor": 50.0,
    "max_verification_age_days": 730,
    "minimum_age": 18,
    "minor_outcome": "REFER",
}


def upgrade() -> None:
    op.create_table(
        "verdict_policies",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("liveness_threshold", sa.Float(), nullable=False),
        sa.Column("face_match_threshold", sa.Float(), nullable=False),
        sa.Column("refer_floor", sa.Float(), nullable=False),
        sa.Column("max_verification_age_days", sa.Integer(), nullable=False),
        sa.Column("minimum_age", sa.Integer(), nullable=False),
        sa.Column("minor_outcome", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_verdict_policies_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("org_id", "version", name=op.f("pk_verdict_policies")),
    )
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("policy", sa.JSON(), nullable=True))
    # Jobs made before policies are judged under the values that were fixed in code then,
    # plus the new rules' defaults, as the deployment default (version 0).
    jobs = sa.table(
        "report_jobs", sa.column("policy_version", sa.Integer()), sa.column("policy", sa.JSON())
    )
    # The columns stay nullable (expand, then contract): replicas of the previous release,
    # still running during a rollout, insert jobs without them.
    op.execute(jobs.update().values(policy_version=0, policy=LEGACY_POLICY))


def downgrade() -> None:
    with op.batch_alter_table("report_jobs", schema=None) as batch_op:
        batch_op.drop_column("policy")
        batch_op.drop_column("policy_version")
    op.drop_table("verdict_policies")
