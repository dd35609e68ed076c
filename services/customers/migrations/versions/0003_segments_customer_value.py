"""segments (客户分群), customer value columns from analytics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 08:30:00
"""
from alembic import op
import sqlalchemy as sa
import crmkit.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('value_tier', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('rfm', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('churn_risk', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('churn_reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('value_as_of', crmkit.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index('ix_customers_value_tier', ['value_tier'], unique=False)

    op.create_table('segments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('team_id', sa.String(length=32), nullable=True),
    sa.Column('shared', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('created_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner_id', 'name', name='uq_segments_owner_name')
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index('ix_segments_shared', ['shared', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index('ix_segments_shared')
    op.drop_table('segments')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_value_tier')
        batch_op.drop_column('value_as_of')
        batch_op.drop_column('churn_reason')
        batch_op.drop_column('churn_risk')
        batch_op.drop_column('rfm')
        batch_op.drop_column('value_tier')
