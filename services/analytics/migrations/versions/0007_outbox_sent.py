"""the relayed events' archive (outbox_sent): the outbox keeps only what is not yet relayed

Revision ID: 0007
Revises: 0006
"""
from crmkit.kit_migrations import create_outbox_sent, drop_outbox_sent

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_sent()


def downgrade() -> None:
    drop_outbox_sent()
