"""org names are unique, ignoring case, so an operator can name an org instead of its id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# A unique index on lower(name), the same expression `org create` and `org show NAME` compare
# with, so the database and the CLI agree on what a duplicate is (lower() folds ASCII only on
# SQLite, and by the database's collation on PostgreSQL). Duplicates already stored are kept,
# not refused: the oldest org (by created_at, then id) keeps its name and each later one is
# renamed "<name> (2)", "<name> (3)", ... (skipping names already taken, shortening the name
# to stay within 200 characters). Org ids, clients and tokens are untouched; nothing but
# `org show NAME` reads a name. The previous release, still running during a rollout, only
# inserts orgs from its CLI: a duplicate name is now refused there by the database. The rename
# is not undone by the downgrade, which only drops the index.

_NAME_LIMIT = 200


def _renames(rows: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(id, new name) for each org whose name a previous org already holds, in order."""
    taken = {key for _, _, key in rows}
    seen: set[str] = set()
    renames = []
    for org_id, name, key in rows:
        if key not in seen:
            seen.add(key)
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            stem, stem_key = name[: _NAME_LIMIT - len(suffix)], key[: _NAME_LIMIT - len(suffix)]
            if stem_key + suffix not in taken:
                break
            number += 1
        taken.add(stem_key + suffix)
        renames.append((org_id, stem + suffix))
    return renames


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, name, lower(name) FROM orgs ORDER BY created_at, id")
    ).all()
    for org_id, name in _renames([(row[0], row[1], row[2]) for row in rows]):
        connection.execute(
            sa.text("UPDATE orgs SET name = :name WHERE id = :id"), {"name": name, "id": org_id}
        )
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.create_index("uq_orgs_name_lower", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.drop_index("uq_orgs_name_lower")
