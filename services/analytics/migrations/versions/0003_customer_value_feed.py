"""customer value feed (customer.value_changed: what was announced per customer)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 08:40:00
"""
from alembic import op
import sqlalchemy as sa
import crmkit.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_value_feed',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=True),
    sa.Column('r', sa.Integer(), nullable=False),
    sa.Column('f', sa.Integer(), nullable=False),
    sa.Column('m', sa.Integer(), nullable=False),
    sa.Column('churn_risk', sa.Boolean(), nullable=False),
    sa.Column('churn_reason', sa.String(length=40), nullable=True),
    sa.Column('emitted_at', crmkit.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('emitted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )


def downgrade() -> None:
    op.drop_table('customer_value_feed')
