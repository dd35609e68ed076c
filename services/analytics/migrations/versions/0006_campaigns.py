"""campaign ROI: campaign_states (市场活动) and the campaign of each lead

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import crmkit.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_states',
    sa.Column('campaign_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('budget', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_event_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id')
    )
    with op.batch_alter_table('campaign_states', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_states_channel', ['channel', 'starts_on'],
                              unique=False)

    with op.batch_alter_table('lead_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_lead_states_campaign', ['campaign_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lead_states', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_states_campaign')
        batch_op.drop_column('campaign_id')
    with op.batch_alter_table('campaign_states', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_states_channel')
    op.drop_table('campaign_states')
