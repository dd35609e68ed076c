"""the relayed events' archive (outbox_sent): the outbox keeps only what is not yet relayed

Revision ID: 0003
Revises: 0002
"""
from crmkit.kit_migrations import create_outbox_sent, drop_outbox_sent

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_sent()


def downgrade() -> None:
    drop_outbox_sent()
