"""campaigns (市场活动) and the campaign a lead came from

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import crmkit.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('budget', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', name='uq_campaigns_name')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index('ix_campaigns_channel', ['channel', 'id'], unique=False)
        batch_op.create_index('ix_campaigns_owner', ['owner_id', 'id'], unique=False)
        batch_op.create_index('ix_campaigns_period', ['starts_on', 'ends_on'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_leads_campaign', ['campaign_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_campaign')
        batch_op.drop_column('campaign_id')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_period')
        batch_op.drop_index('ix_campaigns_owner')
        batch_op.drop_index('ix_campaigns_channel')
    op.drop_table('campaigns')
