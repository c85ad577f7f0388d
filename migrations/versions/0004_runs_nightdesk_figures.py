"""runs: the Nightdesk view's and source health's figures per source and night

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 11:20:00

crawl_rejects (rejects at discovery/fetch/parse/window), quarantined (records refused by
validation), not_article, rejects_by_reason (JSON object reason -> count), with_authors and
with_page_date (loaded articles with a byline, with a publication date read from the page rather
than from a feed or sitemap), body_words_median, crawl_seconds and load_seconds (crawl end to
warehouse commit), and health (the check task's verdict). Every column is nullable: runs recorded
before this revision have no such figures, and the health check skips what is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("crawl_rejects", sa.BigInteger),
    ("quarantined", sa.BigInteger),
    ("not_article", sa.BigInteger),
    ("rejects_by_reason", sa.Text),
    ("with_authors", sa.BigInteger),
    ("with_page_date", sa.BigInteger),
    ("body_words_median", sa.Float),
    ("crawl_seconds", sa.Float),
    ("load_seconds", sa.Float),
    ("health", sa.Text),
)


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    missing = [(name, kind) for name, kind in _COLUMNS if name not in present]
    if not missing:  # adopted from a newer release's create_all
        return
    with op.batch_alter_table("runs") as batch:
        for name, kind in missing:
            batch.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
