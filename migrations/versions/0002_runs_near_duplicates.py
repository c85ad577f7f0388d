"""runs.near_duplicates: articles of the run labelled as near-duplicates (duplicate_of set)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:20:00

Runs recorded before this revision count 0: near-duplicate labels did not exist then. Like the
baseline, the column is added only when missing (a warehouse adopted from a pre-migration
`metadata.create_all` of a newer release already has it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "near_duplicates" in columns:
        return
    # batch mode: SQLite rebuilds the table where it cannot ALTER it; PostgreSQL alters in place.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("near_duplicates", sa.BigInteger(), nullable=False,
                                   server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("near_duplicates")
