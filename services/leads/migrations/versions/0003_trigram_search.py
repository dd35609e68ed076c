"""trigram indexes for contains-search over name, company, phone, email (PostgreSQL only)

``ILIKE '%星辰科技%'`` cannot use a b-tree; pg_trgm's GIN indexes serve it (Chinese
included: pg_trgm splits any non-space characters into trigrams). A pattern of fewer than 3
characters has no trigram, so short queries (张伟) are prefix searches on lower(name) /
lower(company), served by text_pattern_ops b-trees. SQLite keeps plain LIKE scans.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COLUMNS = ("name", "company", "phone_norm", "email_norm")
PREFIX = ("name", "company")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_leads_trgm_{column} "
                   f"ON leads USING gin ({column} gin_trgm_ops)")
    for column in PREFIX:
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_leads_prefix_{column} "
                   f"ON leads (lower({column}) text_pattern_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_leads_trgm_{column}")
    for column in PREFIX:
        op.execute(f"DROP INDEX IF EXISTS ix_leads_prefix_{column}")
